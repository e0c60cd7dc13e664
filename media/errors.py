"""Errors the photo pipeline raises for bad input or a bad request.

Every error carries a stable ``reason`` code (for API error bodies and logs) and the HTTP
status it suggests, so the web layer maps the whole family with one handler and no
``isinstance`` ladder. ``media`` never imports the web framework; the status is only a
number here.

Anything that is *not* a :class:`MediaError` (disk full, S3 unreachable, a bug) is a
server fault and should stay a 5xx.
"""

from __future__ import annotations


class MediaError(Exception):
    """Base class: the client sent something the pipeline refuses."""

    reason: str = "media_error"
    http_status: int = 400

    def __init__(self, message: str = "", *, reason: str | None = None) -> None:
        super().__init__(message or self.__class__.__doc__ or self.reason)
        if reason is not None:
            self.reason = reason

    @property
    def message(self) -> str:
        return str(self.args[0])


class InvalidName(MediaError, ValueError):
    """A blob name or upload id is not in its canonical form (path traversal, wrong length)."""

    reason = "invalid_name"
    http_status = 400


class EmptyBody(MediaError):
    """The request carried no bytes."""

    reason = "empty_body"
    http_status = 400


class TooLarge(MediaError):
    """The body is larger than the configured limit."""

    reason = "too_large"
    http_status = 413


class HashMismatch(MediaError):
    """The bytes do not hash to the sha256 they were sent under; nothing was kept."""

    reason = "hash_mismatch"
    http_status = 422


class ChecksumMismatch(HashMismatch):
    """A tus PATCH's ``Upload-Checksum`` does not match its bytes; they were discarded.

    460 is the status the tus checksum extension defines for this case.
    """

    reason = "checksum_mismatch"
    http_status = 460


class UnsupportedChecksumAlgorithm(MediaError):
    """The tus ``Upload-Checksum`` names an algorithm the server does not offer."""

    reason = "checksum_algorithm_unsupported"
    http_status = 400


class BlobNotFound(MediaError):
    """No blob is stored under this sha256."""

    reason = "blob_not_found"
    http_status = 404


class UnsupportedMediaType(MediaError):
    """The bytes are not a JPEG, PNG, HEIC/HEIF or WebP image (judged by content, not name)."""

    reason = "unsupported_media_type"
    http_status = 415


class ImageRejected(MediaError):
    """The image is of an accepted type but cannot be trusted to decode.

    ``reason`` tells which: ``decompression_bomb`` (too many pixels), ``truncated`` or
    ``corrupt``.
    """

    reason = "image_rejected"
    http_status = 422


class OffsetMismatch(MediaError):
    """A tus PATCH's ``Upload-Offset`` is not the upload's current offset."""

    reason = "offset_mismatch"
    http_status = 409

    def __init__(self, expected: int, got: int) -> None:
        super().__init__(f"upload is at offset {expected}, request says {got}")
        self.expected = expected
        self.got = got


class UploadNotFound(MediaError):
    """No resumable upload has this id (never created, terminated or purged)."""

    reason = "upload_not_found"
    http_status = 404


class UploadExpired(MediaError):
    """The resumable upload passed its expiry time; the client must start again."""

    reason = "upload_expired"
    http_status = 410


class UploadLocked(MediaError):
    """Another request is writing to this upload right now; retry after it ends.

    The lock is a kernel file lock, so it dies with the writer: a dropped connection or a
    crashed worker never leaves it behind.
    """

    reason = "upload_locked"
    http_status = 423


class UploadIncomplete(MediaError):
    """The upload was asked to finish before all its bytes arrived."""

    reason = "upload_incomplete"
    http_status = 409
