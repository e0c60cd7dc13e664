"""media.s3uploads against moto's S3 server: a PATCH body cut into pieces of bounded size,
read back in order, and nothing left behind by a body that is refused."""

from __future__ import annotations

import hashlib
import io
import os
import uuid

import pytest

from media.errors import ChecksumMismatch, TooLarge, UploadNotFound
from media.s3uploads import S3UploadParts
from media.storage import S3BlobStore

UPLOAD = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def parts(s3_client) -> S3UploadParts:
    bucket = f"parts-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=bucket)
    return S3UploadParts(bucket, s3_client, piece_size=300_000)


def _keys(parts: S3UploadParts) -> list[str]:
    listing = parts.client.list_objects_v2(Bucket=parts.bucket)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def test_a_body_longer_than_a_piece_is_several_pieces_read_back_in_order(parts):
    data = os.urandom(1_000_000)
    first = parts.write(UPLOAD, 0, io.BytesIO(data[:700_000]), limit=len(data))
    second = parts.write(UPLOAD, 700_000, io.BytesIO(data[700_000:]), limit=300_000)
    assert [size for _key, size in first.pieces] == [300_000, 300_000, 100_000]
    assert (first.size, second.size, first.error) == (700_000, 300_000, None)
    assert all(key.startswith(f"uploads/{UPLOAD}/") for key in _keys(parts))

    with parts.open(first.pieces + second.pieces) as reader:
        assert b"".join(iter(lambda: reader.read(65_536), b"")) == data
    # Streamed into the blob store, hashed on the way.
    store = S3BlobStore(parts.bucket, parts.client, part_size=5 * 1024 * 1024)
    sha = hashlib.sha256(data).hexdigest()
    with parts.open(first.pieces + second.pieces) as reader:
        assert store.put_stream(reader, sha, len(data)).created

    assert parts.delete_upload(UPLOAD) == 4
    assert _keys(parts) == [f"blobs/{sha}"]


def test_a_refused_body_leaves_no_piece(parts):
    data = os.urandom(700_000)
    with pytest.raises(TooLarge):
        parts.write(UPLOAD, 0, io.BytesIO(data), limit=len(data) - 1)
    wrong = ("sha1", hashlib.sha1(b"not this").digest())
    with pytest.raises(ChecksumMismatch):
        parts.write(UPLOAD, 0, io.BytesIO(data), limit=len(data), checksum=wrong)
    assert _keys(parts) == []


class _HangsUp(io.BytesIO):
    def read(self, size: int = -1) -> bytes:
        if self.tell() >= 400_000:
            raise ConnectionResetError("the client went away")
        return super().read(min(size, 100_000))


def test_a_hang_up_keeps_what_arrived_unless_a_checksum_was_sent(parts):
    data = os.urandom(700_000)
    kept = parts.write(UPLOAD, 0, _HangsUp(data), limit=len(data))
    assert kept.size == 400_000 and isinstance(kept.error, ConnectionResetError)
    assert len(_keys(parts)) == 2
    parts.delete_pieces(kept.pieces)
    checksum = ("sha1", hashlib.sha1(data).digest())
    with pytest.raises(ConnectionResetError):
        parts.write(UPLOAD, 0, _HangsUp(data), limit=len(data), checksum=checksum)
    assert _keys(parts) == []


def test_an_id_that_is_not_ours_names_no_upload(parts):
    with pytest.raises(UploadNotFound):
        parts.write("../blobs/x", 0, io.BytesIO(b"x"), limit=1)
