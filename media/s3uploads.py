"""Partial tus uploads in an S3-compatible bucket, so that any app server can continue an
upload another one started (issue 15). Nothing here knows HTTP or the database: the caller
keeps the upload's offset and the list of pieces (``[[key, size], ...]``) in its own row,
advances them under that row's lock, and hands the list back to :meth:`S3UploadParts.open`
at completion.

Why one object per piece of a PATCH and not S3 multipart parts: a multipart part must be
at least 5 MiB (except the last), and tus clients send 1–2 MiB PATCHes, so multipart would
need tusd's "incomplete part" object, downloaded and re-uploaded by every PATCH until 5 MiB
are pending, plus a ``ListParts`` or stored ETags to resume. For the 3–6 MB photos the
service takes, that moves as many bytes as concatenating pieces once at completion, with
more states to get wrong (an open multipart upload is invisible in ``ListObjects`` and is
billed until aborted). Pieces are plain objects: a PATCH is one or more ``PutObject``
(each at most ``piece_size``, so memory per request is bounded), an aborted or losing
PATCH deletes its own, and purge deletes a prefix. At completion the pieces are streamed
in order into ``S3BlobStore.put_stream``, which hashes as it goes and writes the blob
(multipart above its part size): the photo is never whole in memory. An S3 server-side
copy cannot replace that read, because the sha256 must be computed anyway.

Piece keys carry the offset they start at and a random token: two PATCHes racing on one
offset (two hosts) write different keys, and the one that loses the row-lock race deletes
its own without touching the winner's.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from media.errors import ChecksumMismatch, TooLarge, UploadNotFound
from media.storage import Readable
from media.upload_state import UPLOAD_ID, checksum_hasher

#: At most this much of a PATCH body is held in memory before it is written as a piece.
PIECE_SIZE = 8 * 1024 * 1024
_READ_SIZE = 1024 * 1024


@dataclass
class Written:
    """What one PATCH wrote: its pieces in order, their total size, and the error that cut
    the body short (a client hang-up), to raise once the kept bytes are recorded."""

    pieces: list[list[Any]] = field(default_factory=list)
    size: int = 0
    error: BaseException | None = None


class S3UploadParts:
    """Pieces of partial uploads as objects ``<prefix><upload id>/<offset>-<token>``.

    ``client`` is the same ``boto3`` S3 client the blob store uses. Give the bucket a
    lifecycle rule expiring ``<prefix>`` objects after a few days beyond the upload expiry:
    the backstop for a piece written by a process killed before it could delete it.
    """

    def __init__(
        self, bucket: str, client: Any, *, prefix: str = "uploads/", piece_size: int = PIECE_SIZE
    ) -> None:
        if piece_size <= 0:
            raise ValueError("piece_size must be positive")
        self.bucket = bucket
        self.client = client
        self.prefix = prefix
        self.piece_size = piece_size

    def folder(self, upload_id: str) -> str:
        if not isinstance(upload_id, str) or not UPLOAD_ID.fullmatch(upload_id):
            raise UploadNotFound(f"malformed upload id {upload_id!r:.80}")
        return f"{self.prefix}{upload_id}/"

    def write(
        self,
        upload_id: str,
        offset: int,
        stream: Readable,
        limit: int,
        checksum: tuple[str, bytes] | None = None,
    ) -> Written:
        """Store one PATCH body starting at ``offset`` as pieces; at most ``limit`` bytes.

        More than ``limit`` bytes raises :class:`TooLarge`, a wrong ``Upload-Checksum``
        :class:`ChecksumMismatch`; either way this body's pieces are deleted. If reading
        the body fails (the client hung up), the bytes received so far are kept (unless a
        checksum was given: they cannot be verified) and the error is returned in
        :attr:`Written.error` for the caller to raise after recording them.
        """
        hasher = checksum_hasher(checksum)
        written = Written()
        folder = self.folder(upload_id)
        buffer = bytearray()
        body = _Body(stream, limit)
        try:
            for chunk in body.chunks():
                if hasher is not None:
                    hasher.update(chunk)
                buffer += chunk
                while len(buffer) >= self.piece_size:
                    self._put(folder, offset, written, buffer[: self.piece_size])
                    del buffer[: self.piece_size]
            if body.error is not None and checksum is not None:
                raise body.error  # partial bytes cannot be verified: keep none
            if hasher is not None and checksum is not None and hasher.digest() != checksum[1]:
                raise ChecksumMismatch(f"{checksum[0]} of the PATCH body does not match")
            if buffer:
                self._put(folder, offset, written, buffer)
                buffer.clear()
        except BaseException:
            self.delete_pieces(written.pieces)
            raise
        written.error = body.error
        return written

    def open(self, pieces: Iterable[list[Any]]) -> PiecesReader:
        """A reader of the pieces' bytes in order, fetched one object at a time."""
        return PiecesReader(self, [str(key) for key, _size in pieces])

    def delete_pieces(self, pieces: Iterable[list[Any]]) -> None:
        keys = [{"Key": str(key)} for key, _size in pieces]
        for start in range(0, len(keys), 1000):
            self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": keys[start : start + 1000], "Quiet": True}
            )

    def delete_upload(self, upload_id: str) -> int:
        """Delete every object under the upload's prefix (pieces recorded or orphaned)."""
        found = [
            [item["Key"], item["Size"]]
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.folder(upload_id)
            )
            for item in page.get("Contents", [])
        ]
        self.delete_pieces(found)
        return len(found)

    def _put(self, folder: str, offset: int, written: Written, piece: bytearray) -> None:
        key = f"{folder}{offset + written.size:012d}-{secrets.token_hex(4)}"
        self.client.put_object(Bucket=self.bucket, Key=key, Body=bytes(piece))
        written.pieces.append([key, len(piece)])
        written.size += len(piece)


class _Body:
    """A PATCH body read in pieces up to ``limit`` bytes; a failed read (the client hung
    up) ends it and is kept in :attr:`error`, to tell from a failure to store."""

    def __init__(self, stream: Readable, limit: int) -> None:
        self.stream = stream
        self.limit = limit
        self.error: BaseException | None = None

    def chunks(self) -> Iterator[bytes]:
        received = 0
        while True:
            try:
                chunk = self.stream.read(min(_READ_SIZE, self.limit - received + 1))
            except Exception as error:
                self.error = error
                return
            if not chunk:
                return
            received += len(chunk)
            if received > self.limit:
                raise TooLarge(f"PATCH carries more than the {self.limit} bytes allowed")
            yield chunk


class PiecesReader:
    """``read(n)`` over several objects in turn: what ``S3BlobStore.put_stream`` takes."""

    def __init__(self, parts: S3UploadParts, keys: list[str]) -> None:
        self._parts = parts
        self._keys = keys
        self._body: Any = None

    def read(self, size: int = -1, /) -> bytes:
        while True:
            if self._body is None:
                if not self._keys:
                    return b""
                key = self._keys.pop(0)
                response = self._parts.client.get_object(Bucket=self._parts.bucket, Key=key)
                self._body = response["Body"]
            data = self._body.read(size if size > 0 else _READ_SIZE)
            if data:
                return bytes(data)
            self._body.close()
            self._body = None

    def __enter__(self) -> PiecesReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None
        self._keys = []
