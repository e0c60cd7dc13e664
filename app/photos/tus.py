"""The HTTP side of tus 1.0.0: headers in, headers out. Storage lives in media.resumable."""

from __future__ import annotations

import base64
import binascii

from app.core.errors import DomainError

VERSION = "1.0.0"
EXTENSIONS = "creation,checksum,expiration,termination"
CHECKSUM_ALGORITHMS = "sha1,sha256,md5"


class TusError(DomainError):
    """A tus protocol violation; answered with the tus headers like every tus response."""


class PreconditionFailed(TusError):
    status_code = 412


class BadRequest(TusError):
    status_code = 400


class UnsupportedContentType(TusError):
    status_code = 415


def base_headers() -> dict[str, str]:
    return {"Tus-Resumable": VERSION, "Cache-Control": "no-store"}


def check_version(headers) -> None:
    if headers.get("Tus-Resumable") != VERSION:
        raise PreconditionFailed(f"send Tus-Resumable: {VERSION}", headers={"Tus-Version": VERSION})


def parse_int_header(headers, name: str) -> int:
    raw = headers.get(name)
    if raw is None or not raw.isdigit():
        raise BadRequest(f"{name} must be a non-negative integer", {name: ["missing or malformed"]})
    return int(raw)


def parse_metadata(raw: str | None) -> dict[str, str]:
    """``key base64value,key2 base64value2`` → dict; a key may stand without a value."""
    metadata: dict[str, str] = {}
    if not raw:
        return metadata
    for pair in raw.split(","):
        parts = pair.strip().split(" ")
        key = parts[0]
        if not key or len(parts) > 2 or key in metadata:
            raise BadRequest("malformed Upload-Metadata", {"Upload-Metadata": [pair[:80]]})
        try:
            value = base64.b64decode(parts[1], validate=True).decode() if len(parts) == 2 else ""
        except (binascii.Error, UnicodeDecodeError):
            raise BadRequest(
                "Upload-Metadata values are base64 of UTF-8 text", {"Upload-Metadata": [key]}
            ) from None
        metadata[key] = value
    return metadata


def encode_metadata(metadata: dict[str, str]) -> str:
    return ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}" if value else key
        for key, value in metadata.items()
    )


def parse_checksum(raw: str | None) -> tuple[str, bytes] | None:
    if raw is None:
        return None
    algorithm, _, digest = raw.strip().partition(" ")
    if algorithm not in CHECKSUM_ALGORITHMS.split(","):
        raise BadRequest(
            f"Upload-Checksum algorithm must be one of {CHECKSUM_ALGORITHMS}",
            {"Upload-Checksum": [algorithm[:20]]},
        )
    try:
        return algorithm, base64.b64decode(digest, validate=True)
    except binascii.Error:
        raise BadRequest(
            "Upload-Checksum digest is base64", {"Upload-Checksum": ["bad base64"]}
        ) from None


def http_date(moment) -> str:
    from email.utils import format_datetime

    return format_datetime(moment, usegmt=True)
