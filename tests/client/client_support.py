"""Transports for the reference client's tests.

* ``FlaskTransport``: the real app through Flask's test client.
* ``FakeServer``: the sync engine behind the memory store and the field-work double
  (``tests.sync.fieldwork``), a scripted change feed and an in-memory tus server — the
  protocol without Flask or a database, for the client's unit tests.
* ``Flaky``: wraps either and breaks the link where a test says: a request that never
  arrives, an answer that never comes back, a body cut off half-way, a canned answer.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import itertools
import json as jsonlib
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from fieldclient.transport import ConnectionLost, Response, encode_body
from sync.engine import Limits
from sync.envelope import EnvelopeError
from tests.sync.fieldwork import Server, User


class FlaskTransport:
    """The app's routes, called through ``app.test_client()``."""

    def __init__(self, test_client):
        self.client = test_client

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str],
        json: Any = None,
        body: bytes | None = None,
    ) -> Response:
        sent_headers, data = encode_body(headers, json, body)
        answer = self.client.open(path, method=method, headers=sent_headers, data=data)
        return Response.of(answer.status_code, dict(answer.headers), answer.get_data())


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response.of(
        status,
        {"Content-Type": "application/json", **(headers or {})},
        jsonlib.dumps(body).encode(),
    )


def error(status: int, reason: str | None = None, **headers: str) -> Response:
    errors = {"reason": reason} if reason else {}
    return json_response(
        status, {"code": status, "status": "refused", "errors": errors}, headers=headers
    )


@dataclasses.dataclass
class Upload:
    length: int
    sha256: str
    data: bytearray = dataclasses.field(default_factory=bytearray)


class FakeServer:
    """API.md's sync, photo and login endpoints over in-memory state.

    ``feed`` is the change log pull serves, in seq order; the cursor is the seq last served
    (as text). A cursor in ``stale_cursors`` is answered ``reset``.
    """

    TOKEN = "token-of-user-7"

    def __init__(self, device_id: str = "phone-1") -> None:
        self.user = User(7)
        self.device_id = device_id
        self.engine = Server()
        self.blobs: dict[str, bytes] = {}
        self.uploads: dict[str, Upload] = {}
        self.feed: list[dict[str, Any]] = []
        self.stale_cursors: set[str] = set()
        self.pushes: list[list[int]] = []  # the mids of each push received
        self._ids = itertools.count(1)

    def add_change(self, entity_type: str, entity_id: str, op: str = "upsert", **data: Any):
        seq = len(self.feed) + 1
        version = data.pop("version", seq)
        self.feed.append(
            {
                "seq": seq,
                "entity_type": entity_type,
                "entity_id": entity_id,
                "op": op,
                "version": version,
                "data": data if op == "upsert" else None,
            }
        )

    def restore_backup(self) -> None:
        """The server loses what it knew of its devices (restored from an older backup)."""
        self.engine = Server()

    # -- the transport ----------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str],
        json: Any = None,
        body: bytes | None = None,
    ) -> Response:
        url = urllib.parse.urlsplit(path)
        route = url.path
        if route == "/api/v1/auth/login":
            return json_response(200, {"access_token": self.TOKEN, "token_type": "Bearer"})
        if headers.get("Authorization") != f"Bearer {self.TOKEN}":
            return error(401)
        if route == "/api/v1/sync/push":
            return self._push(json)
        if route == "/api/v1/sync/pull":
            return self._pull(dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True)))
        return self._photos(method, route, headers, body)

    def _photos(
        self, method: str, route: str, headers: Mapping[str, str], body: bytes | None
    ) -> Response:
        """``HEAD /blobs/{sha256}`` and tus: creation, offset, chunks."""
        if route.startswith("/api/v1/blobs/") and method == "HEAD":
            return Response.of(200 if route.rsplit("/", 1)[1] in self.blobs else 404)
        if route == "/api/v1/uploads" and method == "POST":
            return self._create_upload(headers)
        if route.startswith("/api/v1/uploads/"):
            upload_id = route.rsplit("/", 1)[1]
            if upload_id not in self.uploads:
                return error(404)
            if method == "HEAD":
                upload = self.uploads[upload_id]
                return Response.of(
                    200, {"Upload-Offset": str(len(upload.data)), "Tus-Resumable": "1.0.0"}
                )
            if method == "PATCH":
                return self._patch(upload_id, headers, body or b"")
        return error(404)

    def _push(self, body: Any) -> Response:
        self.pushes.append([m["mid"] for m in body["mutations"]])
        try:
            result = self.engine.push(
                self.user, body["device_id"], *body["mutations"], limits=Limits()
            )
        except EnvelopeError as refused:
            return error(refused.status, refused.code)
        return json_response(200, result.as_json())

    def _pull(self, query: dict[str, str]) -> Response:
        cursor = query.get("cursor", "")
        state = self.engine.store.get_device_state(self.device_id, self.user)
        last = state.last_mid if state else 0
        if cursor in self.stale_cursors:
            return json_response(
                200,
                {"changes": [], "cursor": "", "has_more": False, "last_mid": last, "reset": True},
            )
        after = int(cursor or 0)
        limit = int(query.get("limit", 500))
        page = [c for c in self.feed if c["seq"] > after][:limit]
        next_cursor = str(page[-1]["seq"]) if page else str(after)
        has_more = bool(page) and page[-1]["seq"] < len(self.feed)
        return json_response(
            200,
            {
                "changes": page,
                "cursor": next_cursor,
                "has_more": has_more,
                "last_mid": last,
                "reset": False,
            },
        )

    def _create_upload(self, headers: Mapping[str, str]) -> Response:
        metadata = dict(pair.split(" ") for pair in headers["Upload-Metadata"].split(","))
        sha256 = base64.b64decode(metadata["sha256"]).decode()
        upload_id = f"u{next(self._ids)}"
        self.uploads[upload_id] = Upload(int(headers["Upload-Length"]), sha256)
        location = f"http://fake.invalid/api/v1/uploads/{upload_id}"
        return Response.of(201, {"Location": location, "Tus-Resumable": "1.0.0"})

    def _patch(self, upload_id: str, headers: Mapping[str, str], body: bytes) -> Response:
        upload = self.uploads[upload_id]
        if int(headers["Upload-Offset"]) != len(upload.data):
            return error(409)
        algorithm, digest = headers["Upload-Checksum"].split(" ")
        if algorithm != "sha256" or base64.b64decode(digest) != hashlib.sha256(body).digest():
            return error(460)
        upload.data.extend(body)
        if len(upload.data) >= upload.length:
            del self.uploads[upload_id]
            if hashlib.sha256(upload.data).hexdigest() != upload.sha256:
                return error(422, "hash_mismatch")
            self.blobs[upload.sha256] = bytes(upload.data)
        return Response.of(204, {"Upload-Offset": str(len(upload.data))})


Rule = Callable[[Any, str, str, dict], Response]


class Flaky:
    """Forwards to ``inner``, except the requests a rule was set for.

    ``log`` has one ``(method, path, outcome)`` per request: the status, or ``lost``.
    """

    def __init__(self, inner):
        self.inner = inner
        self.rules: list[tuple[str, str, int, Rule]] = []  # method, path part, skip, action
        self.log: list[tuple[str, str, Any]] = []

    def when(self, method: str, path_part: str, action: Rule, *, skip: int = 0) -> Flaky:
        """The next request of ``method`` whose path contains ``path_part`` (after
        ``skip`` such requests) meets ``action`` instead of the plain link. Rules are used
        once, in the order they were set."""
        self.rules.append((method, path_part, skip, action))
        return self

    def request(self, method: str, path: str, *, headers, json=None, body=None) -> Response:
        kwargs = {"headers": headers, "json": json, "body": body}
        for index, (rule_method, part, skip, action) in enumerate(self.rules):
            if rule_method == method and part in path:
                if skip:
                    self.rules[index] = (rule_method, part, skip - 1, action)
                    break
                del self.rules[index]
                try:
                    response = action(self.inner, method, path, kwargs)
                except ConnectionLost:
                    self.log.append((method, path, "lost"))
                    raise
                self.log.append((method, path, response.status))
                return response
        response = self.inner.request(method, path, **kwargs)
        self.log.append((method, path, response.status))
        return response

    def count(self, method: str, path_part: str = "") -> int:
        return sum(1 for m, p, _ in self.log if m == method and path_part in p)


def lose_request(inner, method, path, kwargs) -> Response:
    """The link is down: the request never reaches the server."""
    raise ConnectionLost("connection refused")


def lose_response(inner, method, path, kwargs) -> Response:
    """The server does the work, and its answer is lost on the way back."""
    inner.request(method, path, **kwargs)
    raise ConnectionLost("connection reset by peer")


def cut_body(fraction: float) -> Rule:
    """The link drops after ``fraction`` of the body was sent: the server keeps what came,
    the client hears nothing."""

    def action(inner, method, path, kwargs) -> Response:
        body = kwargs["body"] or b""
        part = body[: int(len(body) * fraction)]
        headers = dict(kwargs["headers"])
        # The server stores the bytes that came, as it does for an aborted PATCH.
        headers["Upload-Checksum"] = (
            "sha256 " + base64.b64encode(hashlib.sha256(part).digest()).decode()
        )
        inner.request(method, path, headers=headers, json=None, body=part)
        raise ConnectionLost("connection reset by peer")

    return action


def answer(response: Response) -> Rule:
    """A canned answer (a 5xx from a proxy, a 503 from a busy server, …)."""

    def action(inner, method, path, kwargs) -> Response:
        return response

    return action


def walk_photo(
    seed: int,
    *,
    at: tuple[float, float] | None = None,
    taken: str | None = None,
    size: tuple[int, int] = (160, 120),
) -> bytes:
    """A JPEG as a phone takes it: GPS (WGS-84) and the time taken in EXIF, when given."""
    from PIL import ExifTags

    from tests.media import photos as pictures

    gps = pictures.gps_ifd(*at) if at else None
    when = {ExifTags.Base.DateTimeOriginal: taken} if taken else None
    return pictures.encode(
        pictures.scene(*size, seed=seed), "JPEG", pictures.exif(gps=gps, taken=when), quality=90
    )
