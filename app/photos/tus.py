"""The HTTP side of tus 1.0.0: headers in, headers out. Storage lives in media.resumable."""

from __future__ import annotations

import base64
import binascii
from http import HTTPStatus

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


# The OpenAPI document of the tus routes: the headers each request needs and each answer
# carries, and the errors of the protocol (460: checksum mismatch, tus's own code).
def _header(description: str, schema: dict | None = None, required: bool = False) -> dict:
    return {
        "description": description,
        "required": required,
        "schema": schema or {"type": "string"},
    }


_OFFSET = {"type": "string", "pattern": r"^[0-9]+$"}
_VERSION_HEADER = {
    "in": "header",
    "name": "Tus-Resumable",
    "required": True,
    "schema": {"type": "string", "enum": [VERSION]},
    "description": "The tus version the client speaks",
}
_TUS_RESUMABLE = _header(
    "The tus version of the server", {"type": "string", "enum": [VERSION]}, required=True
)
_EXPIRES = _header("When the server forgets an unfinished upload (an HTTP date)", required=True)
_CHECKSUM_MISMATCH = {
    "description": "Checksum Mismatch: Upload-Checksum does not match the chunk; resend it",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def _request_header(name: str, description: str, schema: dict, required: bool = True) -> dict:
    return {
        "in": "header",
        "name": name,
        "required": required,
        "schema": schema,
        "description": description,
    }


DISCOVERY_DOC = {
    "responses": {
        "204": {
            "description": "What this server speaks of tus",
            "headers": {
                "Tus-Resumable": _TUS_RESUMABLE,
                "Tus-Version": _header("Versions supported", required=True),
                "Tus-Extension": _header(f"Extensions: {EXTENSIONS}", required=True),
                "Tus-Max-Size": _header("Largest upload in bytes", _OFFSET, required=True),
                "Tus-Checksum-Algorithm": _header(
                    f"Upload-Checksum algorithms: {CHECKSUM_ALGORITHMS}", required=True
                ),
            },
        }
    }
}

CREATION_DOC = {
    "parameters": [
        _VERSION_HEADER,
        _request_header("Upload-Length", "The whole upload's size in bytes (> 0)", _OFFSET),
        _request_header(
            "Upload-Metadata",
            "`key base64(value)` pairs separated by commas; `sha256` names the bytes' "
            "SHA-256 (64 hex digits) and is required",
            {"type": "string"},
        ),
    ],
    "responses": {
        "201": {
            "description": "Created; Location names the upload",
            "headers": {
                "Location": _header("The upload's URL", required=True),
                "Tus-Resumable": _TUS_RESUMABLE,
                "Upload-Expires": _EXPIRES,
            },
        },
        "400": "BAD_REQUEST",
        "412": "PRECONDITION_FAILED",
        "413": HTTPStatus(413).name,
        "422": HTTPStatus(422).name,
    },
}

OFFSET_DOC = {
    "parameters": [_VERSION_HEADER],
    "responses": {
        "200": {
            "description": "Upload-Offset says how many bytes the server has",
            "headers": {
                "Tus-Resumable": _TUS_RESUMABLE,
                "Upload-Offset": _header("Bytes the server has", _OFFSET, required=True),
                "Upload-Length": _header("The whole upload's size", _OFFSET, required=True),
                "Upload-Expires": _EXPIRES,
                "Upload-Metadata": _header("The metadata the upload was created with"),
            },
        },
        "410": "GONE",
        "412": "PRECONDITION_FAILED",
    },
}

APPEND_DOC = {
    "parameters": [
        _VERSION_HEADER,
        _request_header("Upload-Offset", "Where these bytes start (the server's offset)", _OFFSET),
        _request_header(
            "Upload-Checksum",
            f"`algorithm base64(digest)` of this chunk; algorithms: {CHECKSUM_ALGORITHMS}",
            {"type": "string"},
            required=False,
        ),
    ],
    "requestBody": {
        "required": True,
        "content": {
            "application/offset+octet-stream": {"schema": {"type": "string", "format": "binary"}}
        },
    },
    "responses": {
        "204": {
            "description": "Appended; Upload-Offset is the new offset",
            "headers": {
                "Tus-Resumable": _TUS_RESUMABLE,
                "Upload-Offset": _header("Bytes the server now has", _OFFSET, required=True),
                "Upload-Expires": _EXPIRES,
            },
        },
        "400": "BAD_REQUEST",
        "409": "CONFLICT",
        "410": "GONE",
        "412": "PRECONDITION_FAILED",
        "413": HTTPStatus(413).name,
        "415": "UNSUPPORTED_MEDIA_TYPE",
        "422": HTTPStatus(422).name,
        "423": "LOCKED",
        "460": _CHECKSUM_MISMATCH,
    },
}

TERMINATION_DOC = {
    "parameters": [_VERSION_HEADER],
    "responses": {
        "204": {"description": "Abandoned", "headers": {"Tus-Resumable": _TUS_RESUMABLE}},
        "412": "PRECONDITION_FAILED",
    },
}
