"""The reference sync client: what a phone does, in Python, without a framework.

``SyncClient`` keeps the device's queue in a local SQLite file (``sync.local``) and talks to
the server through a ``sync.transport.Transport``:

* ``enqueue`` checks a mutation with the server's own shape rules (``sync.envelope``) and
  stores it under the next ``mid``, durably, before returning;
* ``add_photo`` hashes a photo as a stream and records it;
* ``upload_photos`` skips the bytes the server has (``HEAD /blobs/{sha256}``) and sends the
  others over tus 1.0.0, resuming from the server's offset after a dropped link;
* ``push`` sends the undecided mutations in mid order, in batches, and records each answer;
* ``pull`` follows the change feed to its end, page by page, each page and its cursor in
  one local transaction;
* ``sync`` does the three in that order: photos first, so the cases a push creates find
  their photos already there.

Failures, as API.md has them: a 5xx or a dropped connection tells the client nothing, so it
waits (exponential backoff with jitter, or the server's ``Retry-After``) and sends the same
thing again — ``duplicate`` results make that safe. A request-level 4xx is a bug or a
misconfiguration the client cannot fix by retrying: it raises ``RequestRefused`` with the
server's stable ``reason``.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import email.utils
import hashlib
import os
import random
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sync.envelope import InvalidMutation, parse_mutation
from sync.local import LocalPhoto, LocalState, QueuedMutation
from sync.transport import ConnectionLost, Response, Transport

TUS_VERSION = "1.0.0"
DEFAULT_CHUNK = 1024 * 1024
HASH_BLOCK = 256 * 1024
# The statuses a push may answer a mutation with, once decided (``gap`` is handled apart).
DECIDED = ("applied", "duplicate", "merged", "conflict", "rejected")
# What the server answers when it refuses a photo's bytes for good: too large, not an
# image it accepts, a hash that does not match. Sending them again cannot help.
REFUSED_BYTES = (413, 415, 422)
MAX_RESETS = 3

Progress = Callable[[str, int, "int | None"], None]


class SyncError(Exception):
    """Something the client cannot get past on its own."""


class RequestRefused(SyncError):
    """The server refused the request itself (a 4xx): sending it again cannot help."""

    def __init__(self, method: str, path: str, response: Response):
        body = response.json()
        body = body if isinstance(body, Mapping) else {}
        errors = body.get("errors")
        self.status = response.status
        self.errors: Mapping[str, Any] = errors if isinstance(errors, Mapping) else {}
        reason = self.errors.get("reason")
        self.reason: str | None = reason if isinstance(reason, str) else None
        self.message = str(body.get("message") or body.get("status") or "")
        detail = f" ({self.reason})" if self.reason else ""
        super().__init__(f"{method} {path} refused: {self.status}{detail} {self.message}".strip())


class AuthenticationFailed(RequestRefused):
    """401: wrong user name or password, or a token that expired or was revoked."""


class ServerUnavailable(SyncError):
    """Every attempt failed with a 5xx or a dropped connection; the queue is kept."""


class ProtocolError(SyncError):
    """The server answered something the protocol does not allow."""


class MidReused(SyncError):
    """The server already holds this device's mid with other content: this state file is
    not the device's own (restored from elsewhere, or the device id was reused)."""


class _BytesRefused(Exception):
    """The server will not take a photo's bytes (see ``REFUSED_BYTES``)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class InvalidMutationError(ValueError):
    """A mutation that the server would reject for its shape; nothing was queued."""

    def __init__(self, invalid: InvalidMutation):
        super().__init__(f"{invalid.reason}: {invalid.message}")
        self.reason = invalid.reason
        self.errors = invalid.errors


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying one request over a failing link or a failing server.

    The wait before attempt n+1 is ``min(max_delay, base_delay · 2ⁿ⁻¹)`` scaled by a random
    factor in [½, 1] (the jitter spreads out fifty phones that lost the same tower), unless
    the server said ``Retry-After``, which is honoured up to ``max_retry_after``.
    """

    max_attempts: int = 8
    base_delay: float = 0.5
    max_delay: float = 60.0
    max_retry_after: float = 600.0

    def backoff(self, failures: int, rand: Callable[[], float]) -> float:
        ceiling = min(self.max_delay, self.base_delay * 2 ** (failures - 1))
        return ceiling * (0.5 + rand() / 2)


@dataclasses.dataclass
class UploadReport:
    uploaded: int = 0
    skipped: int = 0  # the server had the bytes already
    resumed: int = 0  # uploads that went on from an offset after an interruption
    failed: dict[str, str] = dataclasses.field(default_factory=dict)  # sha256 → why


@dataclasses.dataclass
class PushReport:
    results: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    last_mid: int | None = None

    @property
    def counts(self) -> Counter[str]:
        return Counter(result["status"] for result in self.results)


@dataclasses.dataclass
class PullReport:
    changes: int = 0
    pages: int = 0
    resets: int = 0


@dataclasses.dataclass
class SyncReport:
    uploads: UploadReport
    push: PushReport
    pull: PullReport


class _Attempts:
    """Failed attempts at one thing, and the waits between them."""

    def __init__(self, caller: _Caller, what: str):
        self.caller = caller
        self.what = what
        self.failures = 0

    def failed(self, why: str, retry_after: float | None = None) -> None:
        """Count a failure and wait before the next attempt; give up when none are left."""
        policy = self.caller.retry
        self.failures += 1
        if self.failures >= policy.max_attempts:
            raise ServerUnavailable(f"{self.what}: gave up after {self.failures} attempts: {why}")
        if retry_after is not None:
            wait = min(retry_after, policy.max_retry_after)
        else:
            wait = policy.backoff(self.failures, self.caller.rand)
        self.caller.sleep(wait)

    def progressed(self) -> None:
        self.failures = 0


class _Caller:
    """Requests with retries: shared by the client and its login."""

    def __init__(
        self,
        transport: Transport,
        token: str | None,
        retry: RetryPolicy,
        sleep: Callable[[float], None],
        rand: Callable[[], float],
    ):
        self.transport = transport
        self.token = token
        self.retry = retry
        self.sleep = sleep
        self.rand = rand

    def headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        headers.update(extra or {})
        return headers

    def send(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        body: bytes | None = None,
    ) -> Response:
        """One attempt; ``ConnectionLost`` when no response came."""
        return self.transport.request(
            method, path, headers=self.headers(headers), json=json, body=body
        )

    def call(
        self,
        method: str,
        path: str,
        *,
        ok: tuple[int, ...] = (200,),
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        body: bytes | None = None,
    ) -> Response:
        """Send until a status in ``ok`` comes back. A 5xx or a dropped connection is tried
        again after a wait; 401 raises ``AuthenticationFailed``, any other status
        ``RequestRefused``."""
        attempts = _Attempts(self, f"{method} {_short(path)}")
        while True:
            try:
                response = self.send(method, path, headers=headers, json=json, body=body)
            except ConnectionLost as lost:
                attempts.failed(str(lost))
                continue
            if response.status in ok:
                return response
            if response.status >= 500:
                attempts.failed(f"status {response.status}", retry_after_of(response))
                continue
            raise refusal(method, path, response)


def refusal(method: str, path: str, response: Response) -> RequestRefused:
    if response.status == 401:
        return AuthenticationFailed(method, _short(path), response)
    return RequestRefused(method, _short(path), response)


def retry_after_of(response: Response, now: dt.datetime | None = None) -> float | None:
    """``Retry-After`` in seconds: a number of seconds or an HTTP date (RFC 9110)."""
    raw = response.header("Retry-After")
    if raw is None:
        return None
    raw = raw.strip()
    if raw.isdigit():
        return float(raw)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())


def _short(path: str) -> str:
    """A tus URL is absolute; errors read better with its path only."""
    return urllib.parse.urlsplit(path).path or path


def hash_file(path: str | Path) -> tuple[str, int]:
    """sha256 (hex) and size of a file, read in blocks: a photo is never whole in memory."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as stream:
        while block := stream.read(HASH_BLOCK):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


class SyncClient:
    """One device's queue, photos and pulled data, synchronised with one server.

    ``sleep`` and ``rand`` are injected so tests can watch the backoff without waiting;
    ``on_progress(stage, done, total)`` is called with stage ``upload`` (photos),
    ``push`` (mutations) or ``pull`` (changes; ``total`` None, the feed's length is unknown).
    """

    def __init__(
        self,
        transport: Transport,
        db_path: str | Path,
        device_id: str,
        token: str,
        *,
        retry: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        on_progress: Progress | None = None,
        chunk_size: int = DEFAULT_CHUNK,
        clock: Callable[[], dt.datetime] | None = None,
    ):
        self.local = LocalState(db_path, device_id)
        self.device_id = device_id
        self.caller = _Caller(transport, token, retry, sleep, rand)
        self.on_progress = on_progress
        self.chunk_size = chunk_size
        self.clock = clock or (lambda: dt.datetime.now().astimezone())

    @classmethod
    def login(
        cls,
        transport: Transport,
        username: str,
        password: str,
        device_id: str,
        *,
        device_name: str = "reference sync client",
        retry: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
    ) -> str:
        """Log in on ``device_id`` (``POST /api/v1/auth/login``) and return the bearer token,
        which is valid for that device only."""
        caller = _Caller(transport, None, retry, sleep, random.random)
        response = caller.call(
            "POST",
            "/api/v1/auth/login",
            json={
                "username": username,
                "password": password,
                "device_id": device_id,
                "device_name": device_name,
            },
        )
        body = response.json()
        if not isinstance(body, Mapping) or not isinstance(body.get("access_token"), str):
            raise ProtocolError("the login answer has no access_token")
        return body["access_token"]

    def close(self) -> None:
        self.local.close()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _progress(self, stage: str, done: int, total: int | None) -> None:
        if self.on_progress is not None:
            self.on_progress(stage, done, total)

    # -- queueing ---------------------------------------------------------------------------

    def enqueue(
        self,
        type_: str,
        entity_id: str | uuid.UUID,
        args: Mapping[str, Any],
        base_version: int | None = None,
        *,
        client_ts: dt.datetime | None = None,
    ) -> int:
        """Queue a mutation and return its ``mid``; it is on disk when this returns.

        The mutation is checked with the server's rules first: one it would reject for its
        shape raises ``InvalidMutationError`` and nothing is queued.
        """
        stamp = (client_ts or self.clock()).isoformat()
        entry = {
            "mid": 1,  # not yet assigned; parse_mutation needs one
            "type": type_,
            "entity_id": str(entity_id),
            "base_version": base_version,
            "args": dict(args),
            "client_ts": stamp,
        }
        checked = parse_mutation(entry)
        if isinstance(checked, InvalidMutation):
            raise InvalidMutationError(checked)
        return self.local.enqueue(type_, str(entity_id), args, base_version, stamp)

    def add_photo(
        self, path: str | Path, *, photo_id: str | uuid.UUID | None = None
    ) -> tuple[str, str]:
        """Record a photo file for upload; returns ``(photo_id, sha256)`` to refer to it in
        mutations. The same ``photo_id`` twice is recorded once."""
        sha256, size = hash_file(path)
        photo = LocalPhoto(str(photo_id or uuid.uuid4()), sha256, str(Path(path).resolve()), size)
        stored = self.local.add_photo(photo)
        if stored.sha256 != sha256:
            raise ValueError(f"photo {stored.photo_id} was recorded with other bytes")
        return stored.photo_id, stored.sha256

    # -- reading the local state ------------------------------------------------------------

    def mutations(self, entity_id: str | uuid.UUID | None = None) -> list[QueuedMutation]:
        return self.local.mutations(None if entity_id is None else str(entity_id))

    def photos(self) -> list[LocalPhoto]:
        return self.local.photos()

    def entities(self, entity_type: str | None = None):
        return self.local.entities(entity_type)

    def entity(self, entity_type: str, entity_id: str | uuid.UUID):
        return self.local.entity(entity_type, str(entity_id))

    # -- photos -----------------------------------------------------------------------------

    def upload_photos(self) -> UploadReport:
        """Deliver the bytes of every recorded photo the server does not have yet."""
        report = UploadReport()
        todo = self.local.photos_to_upload()
        self._progress("upload", 0, len(todo))
        for done, photo in enumerate(todo, start=1):
            self._upload(photo, report)
            self._progress("upload", done, len(todo))
        return report

    def _upload(self, photo: LocalPhoto, report: UploadReport) -> None:
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
        attempts = _Attempts(self.caller, f"upload of {photo.path}")
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
        attempts: _Attempts,
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

    # -- push -------------------------------------------------------------------------------

    def push(self, batch_size: int = 200) -> PushReport:
        """Send every undecided mutation in mid order, ``batch_size`` per request, and record
        the answers. A ``gap`` re-sends from the mid the server expects."""
        report = PushReport()
        total = self.local.pending_count()
        self._progress("push", 0, total)
        last_gap: int | None = None
        while batch := self.local.queued(batch_size):
            response = self.caller.call(
                "POST",
                "/api/v1/sync/push",
                json={"device_id": self.device_id, "mutations": [m.as_json() for m in batch]},
            )
            body = response.json()
            if not isinstance(body, Mapping) or not isinstance(body.get("results"), list):
                raise ProtocolError("the push answer has no results")
            decided, gap = self._read_results(batch, body["results"])
            last_mid = body.get("last_mid")
            if not isinstance(last_mid, int):
                raise ProtocolError("the push answer has no last_mid")
            self.local.record_results(decided, last_mid)
            report.results.extend(result for _, _, result in decided)
            report.last_mid = last_mid
            if gap is not None:
                if gap == last_gap or not 1 <= gap < batch[0].mid:
                    raise ProtocolError(f"the server expects mid {gap}, which was already sent")
                # The server is behind what this device was told (restored from a backup):
                # the mutations from there on are sent again; those it has come back
                # ``duplicate``.
                total += self.local.requeue_from(gap)
                last_gap = gap
            elif not decided:
                raise ProtocolError("the push answered none of the mutations sent")
            self._progress("push", min(len(report.results), total), total)
        return report

    def _read_results(
        self, batch: list[QueuedMutation], results: list[Any]
    ) -> tuple[list[tuple[int, str, Mapping]], int | None]:
        """The decided answers, and the mid the server expects if it answered ``gap``."""
        sent = {m.mid for m in batch}
        decided: list[tuple[int, str, Mapping]] = []
        for result in results:
            if not isinstance(result, Mapping) or result.get("mid") not in sent:
                raise ProtocolError(f"a push result for a mutation not sent: {result!r:.200}")
            status = result.get("status")
            if status == "gap":
                expected = result.get("expected_mid")
                if not isinstance(expected, int):
                    expected = _expected_from_reason(result.get("reason"))
                if expected is None:
                    raise ProtocolError(f"a gap that names no expected mid: {result!r:.200}")
                return decided, expected
            if status == "rejected" and result.get("reason") == "mid_reused":
                self.local.record_results(decided, self.local.last_mid)
                raise MidReused(
                    f"the server holds mid {result['mid']} of device {self.device_id!r} with"
                    " other content: this state file is not that device's; use a new device id"
                )
            if status not in DECIDED:
                raise ProtocolError(f"unknown push status {status!r}")
            decided.append((result["mid"], status, dict(result)))
        return decided, None

    # -- pull -------------------------------------------------------------------------------

    def pull(self, limit: int = 500) -> PullReport:
        """Follow the change feed from the stored cursor until ``has_more`` is false.

        On ``reset`` (the cursor is too old or the user's scope changed) the unsent
        mutations are pushed first, then everything pulled is forgotten and the feed is
        read again from empty, as API.md says.
        """
        report = PullReport()
        self._progress("pull", 0, None)
        while True:
            query = urllib.parse.urlencode({"cursor": self.local.cursor, "limit": limit})
            body = self.caller.call("GET", f"/api/v1/sync/pull?{query}").json()
            if not isinstance(body, Mapping) or not isinstance(body.get("changes"), list):
                raise ProtocolError("the pull answer has no changes")
            if body.get("reset"):
                if not self.local.cursor:
                    raise ProtocolError("the server asks for a reset of an empty cursor")
                if report.resets >= MAX_RESETS:
                    raise ProtocolError(f"the server asked for {MAX_RESETS} resets in one pull")
                report.resets += 1
                self.push()
                self.local.forget_pulled()
                continue
            changes = body["changes"]
            for change in changes:
                if not isinstance(change, Mapping) or change.get("op") not in (
                    "upsert",
                    "delete",
                    "revoke",
                ):
                    raise ProtocolError(f"a change the client cannot apply: {change!r:.200}")
            cursor, last_mid = body.get("cursor"), body.get("last_mid")
            if not isinstance(cursor, str) or not isinstance(last_mid, int):
                raise ProtocolError("the pull answer has no cursor or last_mid")
            self.local.apply_changes(changes, cursor, last_mid)
            report.changes += len(changes)
            report.pages += 1
            self._progress("pull", report.changes, None)
            if not body.get("has_more"):
                return report

    # -- all of it --------------------------------------------------------------------------

    def sync(self, batch_size: int = 200, limit: int = 500) -> SyncReport:
        """Photos, then mutations, then the feed."""
        uploads = self.upload_photos()
        pushed = self.push(batch_size)
        pulled = self.pull(limit)
        return SyncReport(uploads, pushed, pulled)


def _expected_from_reason(reason: Any) -> int | None:
    prefix = "expected_mid:"
    if isinstance(reason, str) and reason.startswith(prefix) and reason[len(prefix) :].isdigit():
        return int(reason[len(prefix) :])
    return None


def _reason_of(response: Response) -> str:
    body = response.json()
    errors = body.get("errors") if isinstance(body, Mapping) else None
    if isinstance(errors, Mapping) and isinstance(errors.get("reason"), str):
        return errors["reason"]
    message = body.get("message") if isinstance(body, Mapping) else None
    return f"{response.status} {message or ''}".strip()
