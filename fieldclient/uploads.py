"""Photos over tus 1.0.0: skip the bytes the server has, resume the rest from its offset.

Before sending a photo the client asks ``HEAD /blobs/{sha256}``; bytes the server already
holds are not sent again. Others go up in chunks, each with its ``Upload-Checksum``; after a
dropped link or a damaged chunk the server's offset (``HEAD`` on the upload) says where to go
on. Bytes the server refuses for good (too large, not an image it accepts, a hash that does
not match) are marked failed and not tried again.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

from fieldclient.errors import ProtocolError, RequestRefused
from fieldclient.local import LocalPhoto, LocalState
from fieldclient.retry import Attempts, Caller, refusal, retry_after_of
from fieldclient.transport import ConnectionLost, Response

TUS_VERSION = "1.0.0"
DEFAULT_CHUNK = 1024 * 1024
HASH_BLOCK = 256 * 1024
# What the server answers when it refuses a photo's bytes for good: too large, not an
# image it accepts, a hash that does not match. Sending them again cannot help.
REFUSED_BYTES = (413, 415, 422)


@dataclasses.dataclass
class UploadReport:
    uploaded: int = 0
    skipped: int = 0  # the server had the bytes already
    resumed: int = 0  # uploads that went on from an offset after an interruption
    failed: dict[str, str] = dataclasses.field(default_factory=dict)  # sha256 → why


class _BytesRefused(Exception):
    """The server will not take a photo's bytes (see ``REFUSED_BYTES``)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def hash_file(path: str | Path) -> tuple[str, int]:
    """sha256 (hex) and size of a file, read in blocks: a photo is never whole in memory."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as stream:
        while block := stream.read(HASH_BLOCK):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


class PhotoUploads:
    """The delivery of one device's recorded photos, where each upload stands kept in the
    device's local state so that the next run goes on from there."""

    def __init__(self, caller: Caller, local: LocalState, chunk_size: int = DEFAULT_CHUNK):
        self.caller = caller
        self.local = local
        self.chunk_size = chunk_size

    def upload(self, photo: LocalPhoto, report: UploadReport) -> None:
        """Deliver one photo's bytes unless the server has them; the outcome goes to
        ``report`` and the local state."""
        if self._server_has(photo.sha256):
            self.local.mark_uploaded(photo.sha256)
            report.skipped += 1
            return
        try:
            size = os.path.getsize(photo.path)
        except OSError:
            size = None
        if size != photo.size:
            self._failed(photo, "file_missing" if size is None else "file_changed", report)
            return
        attempts = self.caller.attempts(f"upload of {photo.path}")
        url, offset = None, 0
        if photo.upload_url is not None:
            url, offset = self._resume_point(photo.upload_url, report)
        try:
            with open(photo.path, "rb") as stream:
                while url is None or offset < size:
                    if url is None:
                        url, offset = self._tus_create(photo), 0
                    stream.seek(offset)
                    chunk = stream.read(self.chunk_size)
                    url, offset = self._send_chunk(photo, url, offset, chunk, attempts, report)
                    if url is None and self._server_has(photo.sha256):
                        # The upload is gone because it was complete: only its answer was lost.
                        break
        except _BytesRefused as refused:
            self._failed(photo, refused.reason, report)
            return
        self.local.mark_uploaded(photo.sha256)
        report.uploaded += 1

    def _send_chunk(
        self,
        photo: LocalPhoto,
        url: str,
        offset: int,
        chunk: bytes,
        attempts: Attempts,
        report: UploadReport,
    ) -> tuple[str | None, int]:
        """One PATCH; returns where the upload stands after it (no URL: start a new one)."""
        checksum = base64.b64encode(hashlib.sha256(chunk).digest()).decode()
        try:
            response = self.caller.send(
                "PATCH",
                url,
                headers={
                    "Tus-Resumable": TUS_VERSION,
                    "Upload-Offset": str(offset),
                    "Content-Type": "application/offset+octet-stream",
                    "Upload-Checksum": f"sha256 {checksum}",
                },
                body=chunk,
            )
        except ConnectionLost as lost:
            # Part of the chunk may have arrived: the server says where it stands.
            attempts.failed(str(lost))
            return self._resume_point(url, report)
        if response.status == 204:
            offset = int(response.header("Upload-Offset") or offset + len(chunk))
            self.local.set_upload(photo.sha256, url, offset)
            attempts.progressed()
            return url, offset
        if response.status >= 500 or response.status in (409, 423, 460):
            # 409: the offsets disagree; 423: the server is still finishing the PATCH whose
            # link dropped; 460: the chunk was damaged on the way.
            attempts.failed(f"status {response.status}", retry_after_of(response))
            return self._resume_point(url, report)
        if response.status in (404, 410):
            attempts.failed(f"upload gone ({response.status})")
            return None, 0
        if response.status in REFUSED_BYTES:
            raise _BytesRefused(_reason_of(response))
        raise refusal("PATCH", url, response)

    def _server_has(self, sha256: str) -> bool:
        return self.caller.call("HEAD", f"/api/v1/blobs/{sha256}", ok=(200, 404)).status == 200

    def _tus_create(self, photo: LocalPhoto) -> str:
        """A new upload (tus creation), its URL kept in the local state."""
        metadata = ",".join(
            f"{key} {base64.b64encode(value.encode()).decode()}"
            for key, value in (("sha256", photo.sha256), ("filename", Path(photo.path).name))
        )
        try:
            created = self.caller.call(
                "POST",
                "/api/v1/uploads",
                ok=(201,),
                headers={
                    "Tus-Resumable": TUS_VERSION,
                    "Upload-Length": str(photo.size),
                    "Upload-Metadata": metadata,
                },
            )
        except RequestRefused as refused:
            if refused.status in REFUSED_BYTES:
                raise _BytesRefused(refused.reason or refused.message or str(refused)) from None
            raise
        location = created.header("Location")
        if not location:
            raise ProtocolError("tus creation answered without a Location")
        self.local.set_upload(photo.sha256, location, 0)
        return location

    def _tus_offset(self, url: str) -> int | None:
        """How many bytes the server holds of an upload; None when it is gone or expired."""
        response = self.caller.call(
            "HEAD", url, ok=(200, 404, 410), headers={"Tus-Resumable": TUS_VERSION}
        )
        if response.status != 200:
            return None
        offset = response.header("Upload-Offset")
        if offset is None or not offset.isdigit():
            raise ProtocolError("tus HEAD answered without an Upload-Offset")
        return int(offset)

    def _resume_point(self, url: str, report: UploadReport) -> tuple[str | None, int]:
        """Where to go on with an upload: its URL and the server's offset, or no URL when
        the server no longer has it (expired, or finished)."""
        offset = self._tus_offset(url)
        if offset is None:
            return None, 0
        report.resumed += 1
        return url, offset

    def _failed(self, photo: LocalPhoto, reason: str, report: UploadReport) -> None:
        self.local.mark_failed(photo.sha256, reason)
        report.failed[photo.sha256] = reason


def _reason_of(response: Response) -> str:
    body = response.json()
    errors = body.get("errors") if isinstance(body, Mapping) else None
    if isinstance(errors, Mapping) and isinstance(errors.get("reason"), str):
        return errors["reason"]
    message = body.get("message") if isinstance(body, Mapping) else None
    return f"{response.status} {message or ''}".strip()
