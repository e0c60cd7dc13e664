"""What a resumable upload is, whichever store keeps it (:mod:`media.resumable` on disk,
:mod:`media.s3uploads` in a bucket): its state as tus reports it, its id's form, the
checksums a PATCH may carry, its metadata's rules, and its state written down as JSON."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from media.errors import OffsetMismatch, TooLarge, UnsupportedChecksumAlgorithm
from media.storage import Readable

#: Algorithms for the tus checksum extension (``Tus-Checksum-Algorithm``); tus requires sha1.
CHECKSUM_ALGORITHMS: dict[str, Callable[[], Any]] = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "md5": hashlib.md5,
}

#: The id of an upload: 32 hex digits (also what keeps a path out of the upload tree).
UPLOAD_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class Upload:
    """A resumable upload's state as tus reports it (``Upload-Offset``, ``Upload-Length``,
    ``Upload-Metadata``, ``Upload-Expires``)."""

    id: str
    length: int
    offset: int
    metadata: Mapping[str, str]
    created_at: datetime
    expires_at: datetime

    @property
    def complete(self) -> bool:
        return self.offset == self.length

    def takes_at(self, offset: int, stream: Readable) -> bool:
        """Whether a PATCH at ``offset`` has bytes to write (False: complete, an empty body
        answered as it is); ``OffsetMismatch`` at another offset, ``TooLarge`` past the end."""
        if offset != self.offset:
            raise OffsetMismatch(self.offset, offset)
        if self.complete:
            if stream.read(1):
                raise TooLarge("the upload is complete; it takes no more bytes")
            return False
        return True


def checksum_hasher(checksum: tuple[str, bytes] | None) -> Any:
    if checksum is None:
        return None
    algorithm, digest = checksum
    factory = CHECKSUM_ALGORITHMS.get(algorithm.lower())
    if factory is None:
        raise UnsupportedChecksumAlgorithm(f"unsupported checksum algorithm {algorithm!r:.40}")
    if not isinstance(digest, bytes):
        raise TypeError("checksum digest must be the raw bytes, not base64 text")
    return factory()


def validate_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    clean = {}
    for key, value in metadata.items():
        # tus: keys are non-empty and contain neither spaces nor commas.
        if not isinstance(key, str) or not key or " " in key or "," in key:
            raise ValueError(f"bad Upload-Metadata key {key!r:.40}")
        if not isinstance(value, str):
            raise ValueError(f"Upload-Metadata value for {key!r} must be text")
        clean[key] = value
    return clean


def to_json(upload: Upload, expires_in: timedelta) -> dict[str, Any]:
    return {
        "id": upload.id,
        "length": upload.length,
        "offset": upload.offset,
        "metadata": dict(upload.metadata),
        "created_at": upload.created_at.isoformat(),
        "expires_at": upload.expires_at.isoformat(),
        "expires_in": expires_in.total_seconds(),
    }


def from_json(raw: dict[str, Any]) -> tuple[Upload, timedelta]:
    upload = Upload(
        id=raw["id"],
        length=int(raw["length"]),
        offset=int(raw["offset"]),
        metadata=dict(raw["metadata"]),
        created_at=datetime.fromisoformat(raw["created_at"]),
        expires_at=datetime.fromisoformat(raw["expires_at"]),
    )
    return upload, timedelta(seconds=float(raw["expires_in"]))
