"""The reference sync client: what a phone does, in Python, without a framework.

``SyncClient`` keeps the device's queue in a local SQLite file (``fieldclient.local``) and
talks to the server through a ``fieldclient.transport.Transport``:

* ``enqueue`` checks a mutation with the server's own shape rules (``sync.envelope``) and
  stores it under the next ``mid``, durably, before returning;
* ``add_photo`` hashes a photo as a stream and records it;
* ``upload_photos`` skips the bytes the server has (``HEAD /blobs/{sha256}``) and sends the
  others over tus 1.0.0, resuming from the server's offset after a dropped link
  (``fieldclient.uploads``);
* ``push`` sends the undecided mutations in mid order, in batches, and records each answer;
* ``pull`` follows the change feed to its end, page by page, each page and its cursor in
  one local transaction;
* ``sync`` does the three in that order: photos first, so the cases a push creates find
  their photos already there.

Failures, as API.md has them, are ``fieldclient.retry``'s: a 5xx or a dropped connection is
waited out and sent again; a request-level 4xx raises ``RequestRefused``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fieldclient.errors import InvalidMutationError, MidReused, ProtocolError
from fieldclient.local import LocalPhoto, LocalState, QueuedMutation
from fieldclient.retry import Caller, RetryPolicy
from fieldclient.transport import Transport
from fieldclient.uploads import DEFAULT_CHUNK, PhotoUploads, UploadReport, hash_file
from sync.envelope import InvalidMutation, parse_mutation

# The statuses a push may answer a mutation with, once decided (``gap`` is handled apart).
DECIDED = ("applied", "duplicate", "merged", "conflict", "rejected")
MAX_RESETS = 3

Progress = Callable[[str, int, "int | None"], None]


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


class SyncClient:
    """One device's queue, photos and pulled data, synchronised with one server.

    ``retry`` says how long a request is tried over a failing link (tests inject its
    ``sleep`` and ``rand``); ``on_progress(stage, done, total)`` is called with stage
    ``upload`` (photos),
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
        on_progress: Progress | None = None,
        chunk_size: int = DEFAULT_CHUNK,
        clock: Callable[[], dt.datetime] | None = None,
    ):
        self.local = LocalState(db_path, device_id)
        self.device_id = device_id
        self.caller = Caller(transport, token, retry)
        self.uploads = PhotoUploads(self.caller, self.local, chunk_size)
        self.on_progress = on_progress
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
    ) -> str:
        """Log in on ``device_id`` (``POST /api/v1/auth/login``) and return the bearer token,
        which is valid for that device only."""
        caller = Caller(transport, None, retry)
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
            self.uploads.upload(photo, report)
            self._progress("upload", done, len(todo))
        return report

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
