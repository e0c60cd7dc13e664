"""The BlobStore contract: every backend (local disk, S3 over the wire) passes this suite.

Each failure case also lists everything the backend holds afterwards: a rejected body must
leave no object, temp file or unfinished multipart upload behind.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from media.errors import BlobNotFound, EmptyBody, HashMismatch, InvalidName, TooLarge
from media.storage import StoredBlob

SMALL = b"photo bytes " * 1000
# Bigger than the S3 part size used in the tests, so the multipart path runs.
LARGE = os.urandom(5 * 1024 * 1024 + 12345)
LIMIT = 64 * 1024 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class TrickleStream:
    """Returns at most ``step`` bytes per read, like a slow socket, and counts what it gave."""

    def __init__(self, data: bytes, step: int = 7919, fail_after: int | None = None) -> None:
        self._data = io.BytesIO(data)
        self._step = step
        self._fail_after = fail_after
        self.given = 0

    def read(self, size: int = -1) -> bytes:
        if self._fail_after is not None and self.given >= self._fail_after:
            raise ConnectionResetError("client went away")
        chunk = self._data.read(min(self._step, size if size >= 0 else self._step))
        self.given += len(chunk)
        return chunk


@pytest.mark.parametrize("data", [SMALL, LARGE], ids=["small", "multipart"])
def test_round_trip_returns_the_same_bytes(backend, data):
    result = backend.store.put_stream(TrickleStream(data, step=100_000), sha(data), LIMIT)

    assert result == StoredBlob(sha(data), len(data), created=True)
    assert backend.store.exists(sha(data))
    assert backend.store.size(sha(data)) == len(data)
    with backend.store.open(sha(data)) as blob:
        assert blob.read() == data
    assert backend.everything() == {backend.blob_entry(sha(data))}


def test_put_without_expected_hash_names_the_blob_by_its_content(backend):
    result = backend.store.put_stream(io.BytesIO(SMALL), None, LIMIT)

    assert result.sha256 == sha(SMALL)
    assert backend.store.exists(sha(SMALL))


def test_open_streams_in_pieces(backend):
    backend.store.put_stream(io.BytesIO(LARGE), sha(LARGE), LIMIT)

    with backend.store.open(sha(LARGE)) as blob:
        pieces = iter(lambda: blob.read(1024 * 1024), b"")
        digest = hashlib.sha256()
        for piece in pieces:
            assert len(piece) <= 1024 * 1024
            digest.update(piece)
    assert digest.hexdigest() == sha(LARGE)


@pytest.mark.parametrize("expected", [None, "given"])
def test_second_put_of_the_same_bytes_is_a_no_op(backend, expected):
    name = sha(SMALL) if expected else None
    backend.store.put_stream(io.BytesIO(SMALL), name, LIMIT)

    again = backend.store.put_stream(io.BytesIO(SMALL), name, LIMIT)

    assert again == StoredBlob(sha(SMALL), len(SMALL), created=False)
    assert backend.everything() == {backend.blob_entry(sha(SMALL))}


def test_wrong_bytes_under_an_existing_name_are_refused_and_the_blob_kept(backend):
    backend.store.put_stream(io.BytesIO(SMALL), sha(SMALL), LIMIT)

    with pytest.raises(HashMismatch):
        backend.store.put_stream(io.BytesIO(b"forged"), sha(SMALL), LIMIT)

    with backend.store.open(sha(SMALL)) as blob:
        assert blob.read() == SMALL


@pytest.mark.parametrize("data", [SMALL, LARGE], ids=["small", "multipart"])
def test_hash_mismatch_leaves_nothing(backend, data):
    wrong = sha(b"something else")

    with pytest.raises(HashMismatch) as caught:
        backend.store.put_stream(io.BytesIO(data), wrong, LIMIT)

    assert caught.value.reason == "hash_mismatch"
    assert not backend.store.exists(wrong)
    assert not backend.store.exists(sha(data))
    assert backend.everything() == set()


def test_empty_body_is_refused_and_leaves_nothing(backend):
    with pytest.raises(EmptyBody):
        backend.store.put_stream(io.BytesIO(b""), None, LIMIT)
    with pytest.raises(EmptyBody):
        backend.store.put_stream(io.BytesIO(b""), sha(b""), LIMIT)

    assert backend.everything() == set()


@pytest.mark.parametrize("data", [SMALL, LARGE], ids=["small", "multipart"])
def test_body_over_the_limit_is_refused_early_and_leaves_nothing(backend, data):
    # For the large body the limit falls after the first S3 part has been sent.
    limit = len(data) - 1000
    stream = TrickleStream(data + b"x" * (10 * 1024 * 1024), step=64 * 1024)

    with pytest.raises(TooLarge) as caught:
        backend.store.put_stream(stream, None, limit)

    assert caught.value.http_status == 413
    assert stream.given <= limit + 64 * 1024
    assert backend.everything() == set()


def test_body_of_exactly_the_limit_is_accepted(backend):
    result = backend.store.put_stream(io.BytesIO(SMALL), sha(SMALL), len(SMALL))

    assert result.size == len(SMALL)


@pytest.mark.parametrize("data", [SMALL, LARGE], ids=["small", "multipart"])
def test_client_hanging_up_mid_body_leaves_nothing(backend, data):
    stream = TrickleStream(data, step=256 * 1024, fail_after=len(data) - 1000)

    with pytest.raises(ConnectionResetError):
        backend.store.put_stream(stream, sha(data), LIMIT)

    assert backend.everything() == set()


HOSTILE = [
    "../../../etc/passwd",
    "../" + "a" * 61,
    "A" * 64,
    "a" * 63,
    "a" * 65,
    "a" * 64 + "\n",
    "g" * 64,
    "",
    "/" + "a" * 63,
]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_are_refused_by_every_method(backend, tmp_path, name):
    source = tmp_path / "file"
    source.write_bytes(SMALL)
    calls = [
        lambda: backend.store.exists(name),
        lambda: backend.store.size(name),
        lambda: backend.store.open(name),
        lambda: backend.store.delete(name),
        lambda: backend.store.put_file(source, name),
        lambda: backend.store.put_stream(io.BytesIO(SMALL), name, LIMIT),
    ]
    for call in calls:
        with pytest.raises(InvalidName) as caught:
            call()
        assert isinstance(caught.value, ValueError)

    assert backend.everything() == set()


def test_missing_blob_is_reported_as_not_found(backend):
    name = sha(b"never stored")

    assert not backend.store.exists(name)
    with pytest.raises(BlobNotFound):
        backend.store.size(name)
    with pytest.raises(BlobNotFound):
        backend.store.open(name)
    assert backend.store.delete(name) is False


def test_delete_removes_the_blob(backend):
    backend.store.put_stream(io.BytesIO(SMALL), sha(SMALL), LIMIT)

    assert backend.store.delete(sha(SMALL)) is True

    assert not backend.store.exists(sha(SMALL))
    assert backend.everything() == set()


def test_put_file_stores_a_completed_upload_and_leaves_the_source_alone(backend, tmp_path):
    source = tmp_path / "upload.data"
    source.write_bytes(LARGE)

    first = backend.store.put_file(source, sha(LARGE))
    second = backend.store.put_file(source, sha(LARGE))

    assert first == StoredBlob(sha(LARGE), len(LARGE), created=True)
    assert second.created is False
    assert source.read_bytes() == LARGE
    with backend.store.open(sha(LARGE)) as blob:
        assert blob.read() == LARGE
    assert backend.everything() == {backend.blob_entry(sha(LARGE))}


def test_adopt_file_stores_a_finished_upload_once(backend, tmp_path):
    source = tmp_path / "upload.data"
    source.write_bytes(LARGE)
    twin = tmp_path / "twin.data"
    twin.write_bytes(LARGE)

    first = backend.store.adopt_file(source, sha(LARGE))
    second = backend.store.adopt_file(twin, sha(LARGE))

    assert first == StoredBlob(sha(LARGE), len(LARGE), created=True)
    assert second.created is False
    with backend.store.open(sha(LARGE)) as blob:
        assert blob.read() == LARGE
    assert backend.everything() == {backend.blob_entry(sha(LARGE))}


def test_adopt_file_on_disk_links_instead_of_copying(tmp_path):
    from media.storage import DiskBlobStore

    store = DiskBlobStore(tmp_path / "blobs")
    source = tmp_path / "upload.data"
    source.write_bytes(SMALL)

    store.adopt_file(source, sha(SMALL))

    assert os.stat(store.path_of(sha(SMALL))).st_ino == source.stat().st_ino
    source.unlink()  # what retiring the upload does
    assert store.path_of(sha(SMALL)).stat().st_nlink == 1
    assert store.path_of(sha(SMALL)).read_bytes() == SMALL
    assert not list((tmp_path / "blobs" / "tmp").iterdir())


def test_concurrent_puts_of_the_same_bytes_store_one_blob(backend):
    threads = 8
    barrier = threading.Barrier(threads)

    def put(_):
        barrier.wait()
        return backend.store.put_stream(TrickleStream(SMALL, step=4096), sha(SMALL), LIMIT)

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(put, range(threads)))

    assert {r.sha256 for r in results} == {sha(SMALL)}
    assert any(r.created for r in results)
    with backend.store.open(sha(SMALL)) as blob:
        assert blob.read() == SMALL
    assert backend.everything() == {backend.blob_entry(sha(SMALL))}


def test_concurrent_puts_on_disk_report_exactly_one_creation(tmp_path):
    from media.storage import DiskBlobStore

    store = DiskBlobStore(tmp_path)
    barrier = threading.Barrier(8)

    def put(_):
        barrier.wait()
        return store.put_stream(io.BytesIO(SMALL), None, LIMIT)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(put, range(8)))

    assert sum(r.created for r in results) == 1


def test_disk_blobs_are_read_only_files_in_a_fanned_out_tree(tmp_path):
    from media.storage import DiskBlobStore

    store = DiskBlobStore(tmp_path)
    store.put_stream(io.BytesIO(SMALL), None, LIMIT)

    path = tmp_path / sha(SMALL)[:2] / sha(SMALL)[2:4] / sha(SMALL)
    assert store.path_of(sha(SMALL)) == path
    assert path.read_bytes() == SMALL
    assert path.stat().st_mode & 0o222 == 0


def test_disk_sweep_removes_only_old_temp_files(tmp_path):
    from media.storage import DiskBlobStore

    store = DiskBlobStore(tmp_path)
    old = tmp_path / "tmp" / "put-crashed"
    fresh = tmp_path / "tmp" / "put-running"
    old.write_bytes(b"x")
    fresh.write_bytes(b"y")
    os.utime(old, (1_000, 1_000))
    os.utime(fresh, (5_000, 5_000))

    assert store.sweep_temporary(older_than_seconds=3_600, now=5_100) == 1
    assert not old.exists()
    assert fresh.exists()
