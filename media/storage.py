"""Content-addressed blob storage: photos are stored and named by their sha256.

One interface, :class:`BlobStore`, two backends: :class:`DiskBlobStore` (the default; a
directory tree on a local filesystem) and :class:`S3BlobStore` (any S3-compatible object
store: AWS S3, MinIO, Ceph, Aliyun OSS in S3 mode). Both pass the same contract suite in
``tests/media/test_storage_contract.py``.

Rules every backend keeps:

* Bodies are streamed in bounded chunks and hashed on the way; no body is ever held whole
  in memory.
* A blob becomes visible under its name only once all its bytes are stored, durable and
  verified. A rejected body (wrong hash, empty, too large, the client hung up) leaves
  nothing behind.
* Blobs are immutable: storing bytes that are already there changes nothing.
* Names are 64 lowercase hex digits and nothing else: never a path or key outside.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from media.errors import BlobNotFound, EmptyBody, HashMismatch, InvalidName, TooLarge

if TYPE_CHECKING:
    from types import TracebackType

#: Read size for streaming. Large enough that per-call overhead vanishes next to hashing,
#: small enough that a dozen concurrent uploads stay a few MB of RAM.
CHUNK_SIZE = 256 * 1024

_SHA256 = re.compile(r"[0-9a-f]{64}")


class Readable(Protocol):
    """Anything with ``read(n)``: a file, ``io.BytesIO``, a WSGI input stream."""

    def read(self, size: int = -1, /) -> bytes: ...


@runtime_checkable
class BlobReader(Protocol):
    """A stored blob opened for a streaming read; close it (or use ``with``)."""

    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...

    def __enter__(self) -> Any: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any: ...


@dataclass(frozen=True)
class StoredBlob:
    """The outcome of a put: the blob's name, its size, and whether this put created it."""

    sha256: str
    size: int
    created: bool


def validate_sha256(name: str) -> str:
    """Return ``name`` if it is 64 lowercase hex digits, else raise :class:`InvalidName`.

    Uppercase is refused rather than folded so that one blob has exactly one name; the web
    layer may lower-case a client's name before calling in if it wants to be lenient.
    """
    if not isinstance(name, str) or not _SHA256.fullmatch(name):
        raise InvalidName(f"not a sha256 hex digest: {name!r:.80}")
    return name


class BlobStore(Protocol):
    """Content-addressed, immutable blob storage.

    Duplicate puts (same bytes twice, or concurrently from two requests) are safe: at most
    one of them creates the blob, the others report ``created=False`` (S3 cannot tell a
    perfectly simultaneous twin apart, so there both may say ``True``; the stored bytes are
    the same either way).
    """

    def exists(self, sha256: str) -> bool:
        """Whether a blob is stored under ``sha256``."""
        ...

    def size(self, sha256: str) -> int:
        """The blob's size in bytes; :class:`BlobNotFound` if absent."""
        ...

    def open(self, sha256: str) -> BlobReader:
        """Open the blob for a streaming read; :class:`BlobNotFound` if absent."""
        ...

    def put_stream(
        self, stream: Readable, expected_sha256: str | None, max_bytes: int
    ) -> StoredBlob:
        """Store everything ``stream`` yields, named by its sha256.

        Raises :class:`EmptyBody`, :class:`TooLarge` (as soon as more than ``max_bytes``
        arrive, without reading the rest) or :class:`HashMismatch` (when
        ``expected_sha256`` is given and the bytes differ); in every failure, including an
        exception from ``stream.read``, nothing is left in the store.

        When ``expected_sha256`` is already stored the stream is still read and hashed,
        but not written: the call costs one hash pass, and a wrong body is still refused
        with :class:`HashMismatch`, so a success always means "these bytes are that blob".
        Callers wanting to skip the transfer entirely ask :meth:`exists` first (the
        ``HEAD`` route).
        """
        ...

    def put_file(self, path: str | os.PathLike[str], sha256: str) -> StoredBlob:
        """Store a local file whose sha256 the caller has already computed.

        Used when a resumable upload completes. The file is neither moved nor changed; the
        caller removes it afterwards. The hash is trusted, not re-checked.
        """
        ...

    def adopt_file(self, path: str | os.PathLike[str], sha256: str) -> StoredBlob:
        """:meth:`put_file` of a file the caller will neither change nor keep: the disk
        backend hard-links it (no copy). The caller removes its own name afterwards."""
        ...

    def delete(self, sha256: str) -> bool:
        """Remove the blob; return whether it existed."""
        ...


class _LimitedHashingReader:
    """Pulls chunks from a stream, hashing and counting, and enforces the size limit."""

    def __init__(self, stream: Readable, max_bytes: int, chunk_size: int = CHUNK_SIZE) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self._stream = stream
        self._max = max_bytes
        self._chunk = chunk_size
        self.hash = hashlib.sha256()
        self.size = 0

    def chunks(self) -> Iterator[bytes]:
        while True:
            # Ask for at most one byte past the limit so an oversized body is detected
            # after reading max_bytes + 1, never after reading all of it.
            want = min(self._chunk, self._max - self.size + 1)
            chunk = self._stream.read(want)
            if not chunk:
                break
            self.size += len(chunk)
            if self.size > self._max:
                raise TooLarge(f"body exceeds {self._max} bytes")
            self.hash.update(chunk)
            yield chunk
        if self.size == 0:
            raise EmptyBody()

    def verified_digest(self, expected: str | None) -> str:
        digest = self.hash.hexdigest()
        if expected is not None and digest != expected:
            raise HashMismatch(f"body hashes to {digest}, not {expected}")
        return digest


def fsync_directory(path: Path) -> None:
    """Make a directory's entries (a new, renamed or removed file) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DiskBlobStore:
    """Blobs as files in ``root/ab/cd/<sha256>`` (first two byte pairs fan the tree out).

    Incoming bytes go to ``root/tmp/``, are fsynced, and are hard-linked into place: the
    link is atomic and, unlike a rename, refuses to replace an existing blob, so stored
    evidence is never rewritten and exactly one of several concurrent puts reports
    ``created=True``. ``root`` must be on a POSIX filesystem with hard links (ext4, xfs,
    btrfs, zfs; not FAT or SMB).
    """

    def __init__(self, root: str | os.PathLike[str], *, chunk_size: int = CHUNK_SIZE) -> None:
        self.root = Path(root)
        self._tmp = self.root / "tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)
        self._chunk = chunk_size

    def path_of(self, sha256: str) -> Path:
        """Where the blob lives (or would live); for ``X-Sendfile``-style serving."""
        validate_sha256(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path_of(sha256).is_file()

    def size(self, sha256: str) -> int:
        try:
            return self.path_of(sha256).stat().st_size
        except FileNotFoundError:
            raise BlobNotFound(sha256) from None

    def open(self, sha256: str) -> BlobReader:
        try:
            return self.path_of(sha256).open("rb")
        except FileNotFoundError:
            raise BlobNotFound(sha256) from None

    def put_stream(
        self, stream: Readable, expected_sha256: str | None, max_bytes: int
    ) -> StoredBlob:
        if expected_sha256 is not None:
            validate_sha256(expected_sha256)
        reader = _LimitedHashingReader(stream, max_bytes, self._chunk)
        if expected_sha256 is not None and self.exists(expected_sha256):
            for _ in reader.chunks():
                pass
            reader.verified_digest(expected_sha256)
            return StoredBlob(expected_sha256, reader.size, created=False)

        fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix="put-")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in reader.chunks():
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            digest = reader.verified_digest(expected_sha256)
            created = self._link_into_place(tmp, digest)
        finally:
            tmp.unlink(missing_ok=True)
        return StoredBlob(digest, reader.size, created)

    def put_file(self, path: str | os.PathLike[str], sha256: str) -> StoredBlob:
        validate_sha256(sha256)
        source = Path(path)
        size = source.stat().st_size
        if size == 0:
            raise EmptyBody()
        if self.exists(sha256):
            return StoredBlob(sha256, size, created=False)
        # A copy: the caller may write to its file later (adopt_file links instead).
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix="file-")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                while chunk := src.read(self._chunk):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            created = self._link_into_place(tmp, sha256)
        finally:
            tmp.unlink(missing_ok=True)
        return StoredBlob(sha256, size, created)

    def adopt_file(self, path: str | os.PathLike[str], sha256: str) -> StoredBlob:
        """Hard-link a finished upload's (fsynced) file into place: no copy, no second
        fsync of its bytes. Copies as :meth:`put_file` across filesystems."""
        size = Path(path).stat().st_size
        if size == 0 or self.exists(validate_sha256(sha256)):
            return self.put_file(path, sha256)  # refuses the empty, answers "not created"
        try:
            return StoredBlob(sha256, size, self._link_into_place(Path(path), sha256))
        except OSError as error:
            if error.errno != errno.EXDEV:
                raise
            return self.put_file(path, sha256)

    def delete(self, sha256: str) -> bool:
        path = self.path_of(sha256)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        fsync_directory(path.parent)
        return True

    def sweep_temporary(self, older_than_seconds: float, now: float) -> int:
        """Remove temp files a crashed process left in ``root/tmp``; return how many.

        ``now`` is a Unix timestamp (``time.time()``); files modified within
        ``older_than_seconds`` of it may belong to a put in progress and are kept.
        """
        removed = 0
        for entry in self._tmp.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if now - entry.stat().st_mtime > older_than_seconds:
                    entry.unlink()
                    removed += 1
        return removed

    def _link_into_place(self, tmp: Path, sha256: str) -> bool:
        final = self.path_of(sha256)
        new_dirs = [d for d in (final.parent.parent, final.parent) if not d.exists()]
        final.parent.mkdir(parents=True, exist_ok=True)
        # Read-only as a reminder that evidence is never edited in place.
        os.chmod(tmp, 0o444)
        try:
            os.link(tmp, final)
        except FileExistsError:
            return False
        # Durable once the entry naming it is (new fan-out directories: their parents too).
        fsync_directory(final.parent)
        for directory in new_dirs:
            fsync_directory(directory.parent)
        return True


class S3BlobStore:
    """Blobs as objects ``<prefix><sha256>`` in one bucket of an S3-compatible store.

    A body whose hash is known to match before anything is written (it fits in one part)
    goes straight to its final key with a single ``PutObject``. A larger body is streamed
    as a multipart upload to ``<temp_prefix><random>`` while it is hashed; once complete
    and verified it is copied server-side to its final key and the temp object deleted.
    Any failure aborts the multipart upload or deletes the temp object. An object store
    never shows a partially written object, so there is no fsync step: S3 acknowledges a
    ``PutObject``/``CompleteMultipartUpload`` only once it is durable.

    For crashes between those steps, give the bucket a lifecycle rule that expires
    ``<temp_prefix>`` objects and aborts incomplete multipart uploads after a day.

    ``client`` is a ``boto3.client("s3", ...)``; its endpoint, credentials and region come
    from the caller, which is how MinIO or a cloud bucket is chosen.
    """

    #: S3's minimum part size (except the last part) is 5 MiB; 8 MiB keeps request count
    #: low and typical 3-6 MB photos in a single request while bounding memory per upload.
    DEFAULT_PART_SIZE = 8 * 1024 * 1024

    def __init__(
        self,
        bucket: str,
        client: Any,
        *,
        prefix: str = "blobs/",
        temp_prefix: str = "tmp/",
        part_size: int = DEFAULT_PART_SIZE,
    ) -> None:
        if part_size < 5 * 1024 * 1024:
            raise ValueError("S3 parts must be at least 5 MiB")
        self.bucket = bucket
        self.client = client
        self.prefix = prefix
        self.temp_prefix = temp_prefix
        self.part_size = part_size

    def key_of(self, sha256: str) -> str:
        """The object key a blob lives under."""
        return self.prefix + validate_sha256(sha256)

    def exists(self, sha256: str) -> bool:
        return self._head(self.key_of(sha256)) is not None

    def size(self, sha256: str) -> int:
        head = self._head(self.key_of(sha256))
        if head is None:
            raise BlobNotFound(sha256)
        return int(head["ContentLength"])

    def open(self, sha256: str) -> BlobReader:
        key = self.key_of(sha256)
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except self.client.exceptions.NoSuchKey:
            raise BlobNotFound(sha256) from None
        # botocore's StreamingBody is an io.IOBase: read(n), close(), usable in ``with``.
        body: BlobReader = response["Body"]
        return body

    def put_stream(
        self, stream: Readable, expected_sha256: str | None, max_bytes: int
    ) -> StoredBlob:
        if expected_sha256 is not None:
            validate_sha256(expected_sha256)
        reader = _LimitedHashingReader(stream, max_bytes)
        if expected_sha256 is not None and self.exists(expected_sha256):
            for _ in reader.chunks():
                pass
            reader.verified_digest(expected_sha256)
            return StoredBlob(expected_sha256, reader.size, created=False)

        chunks = reader.chunks()
        first = self._fill_part(chunks)
        if len(first) < self.part_size:
            # The whole body is in hand and hashed: verify, then write it once to its
            # final name. Nothing was written if verification fails.
            digest = reader.verified_digest(expected_sha256)
            if self.exists(digest):
                return StoredBlob(digest, reader.size, created=False)
            self.client.put_object(Bucket=self.bucket, Key=self.key_of(digest), Body=first)
            return StoredBlob(digest, reader.size, created=True)
        return self._put_multipart(first, chunks, reader, expected_sha256)

    def put_file(self, path: str | os.PathLike[str], sha256: str) -> StoredBlob:
        key = self.key_of(sha256)
        size = os.stat(path).st_size
        if size == 0:
            raise EmptyBody()
        if self._head(key) is not None:
            return StoredBlob(sha256, size, created=False)
        # upload_file switches to multipart for big files; the object appears only when
        # the upload completes, so writing to the final key directly is safe.
        self.client.upload_file(os.fspath(path), self.bucket, key)
        return StoredBlob(sha256, size, created=True)

    adopt_file = put_file  # an object store takes a copy either way

    def delete(self, sha256: str) -> bool:
        key = self.key_of(sha256)
        if self._head(key) is None:
            return False
        self.client.delete_object(Bucket=self.bucket, Key=key)
        return True

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            head: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=key)
        except self.client.exceptions.ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise
        return head

    def _fill_part(self, chunks: Iterator[bytes]) -> bytes:
        """Collect up to one part's worth of bytes from ``chunks``."""
        parts: list[bytes] = []
        filled = 0
        for chunk in chunks:
            parts.append(chunk)
            filled += len(chunk)
            if filled >= self.part_size:
                break
        return b"".join(parts)

    def _put_multipart(
        self,
        first: bytes,
        chunks: Iterator[bytes],
        reader: _LimitedHashingReader,
        expected_sha256: str | None,
    ) -> StoredBlob:
        temp_key = f"{self.temp_prefix}{secrets.token_hex(16)}"
        upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=temp_key)[
            "UploadId"
        ]
        completed = False
        try:
            etags = []
            buffer = first
            while buffer:
                # Parts may end up a chunk larger than part_size; S3 only bounds the minimum.
                response = self.client.upload_part(
                    Bucket=self.bucket,
                    Key=temp_key,
                    UploadId=upload_id,
                    PartNumber=len(etags) + 1,
                    Body=buffer,
                )
                etags.append({"ETag": response["ETag"], "PartNumber": len(etags) + 1})
                buffer = self._fill_part(chunks)
            digest = reader.verified_digest(expected_sha256)
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=temp_key,
                UploadId=upload_id,
                MultipartUpload={"Parts": etags},
            )
            completed = True
            final_key = self.key_of(digest)
            created = self._head(final_key) is None
            if created:
                self.client.copy({"Bucket": self.bucket, "Key": temp_key}, self.bucket, final_key)
            return StoredBlob(digest, reader.size, created)
        finally:
            if completed:
                self.client.delete_object(Bucket=self.bucket, Key=temp_key)
            else:
                self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=temp_key, UploadId=upload_id
                )
