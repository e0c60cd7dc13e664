"""``SqlSyncStore``: the engine's ``SyncStore`` over SQLAlchemy, on SQLite and PostgreSQL.

The store writes with Core on the connection of the push's session, inside the one
transaction the caller opened for the push. Each ``savepoint()`` is a ``SAVEPOINT`` on that
connection; the session the services use is joined to the same connection with
``join_transaction_mode="create_savepoint"``, so a service's own ``commit()`` only releases
a savepoint inside the mutation's, and its effects, the recorded outcome and the advanced
``last_mid`` reach the database in one commit or not at all.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.core import events
from app.core.clock import utcnow
from app.feed import capture as feed
from app.sync_api.models import EXPIRED, SyncConflict, SyncDevice, SyncFailure, SyncMutation
from sync.conflicts import Refused
from sync.envelope import Item, Mutation
from sync.outcomes import Outcome, Status, StoredOutcome
from sync.store import Actor, DeviceState

devices = SyncDevice.__table__
mutations = SyncMutation.__table__
failures = SyncFailure.__table__
conflicts = SyncConflict.__table__

log = logging.getLogger(__name__)

#: Keeps a conflicting mutation's field work where people see it (photos on the case).
KeepEvidence = Callable[[Mutation], None]


def begin_push(connection: sa.Connection) -> None:
    """Open the push's transaction for real before its first savepoint.

    On SQLite the driver (pysqlite) emits ``BEGIN`` only before its first INSERT, UPDATE or
    DELETE; a ``SAVEPOINT`` before that would open the transaction itself, and its release
    would commit it. ``BEGIN IMMEDIATE`` also takes the database's one write lock at once —
    the device lock, as SQLite has no row locks — instead of upgrading a read later, which
    fails without waiting when another writer committed in between.
    """
    if connection.dialect.name != "sqlite":
        return
    if not connection.connection.dbapi_connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class SqlSyncStore:
    """The ``sync.store.SyncStore`` of the app. ``session`` is the push's session (joined to
    the push's connection in ``create_savepoint`` mode); nothing here commits."""

    def __init__(self, session: Session, keep_evidence: KeepEvidence | None = None) -> None:
        self.session = session
        self._keep_evidence = keep_evidence
        self._pks: dict[str, int] = {}

    @property
    def _connection(self) -> sa.Connection:
        # The bound connection itself: ``session.connection()`` would open a savepoint of
        # the session's, interleaved with ours.
        return self.session.get_bind()

    # -- transactions ----------------------------------------------------------------------

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A ``SAVEPOINT`` around one unit. The session's own savepoint (a service that read
        or wrote and did not commit) is settled first, so the two never interleave."""
        self.settle()
        nested = self._connection.begin_nested()
        mark = events.checkpoint()
        noted = feed.checkpoint(self._connection)
        try:
            yield
        except BaseException:
            self._settle(commit=False)
            if nested.is_active:
                nested.rollback()
            # The session's objects may hold what the services wrote and "committed" (their
            # own savepoints, released) inside this one: they are read again when next used.
            self.session.expire_all()
            events.discard_since(mark)  # what was rolled back is not announced
            feed.discard_since(self._connection, noted)  # nor fed to the phones
            raise
        self.settle()
        nested.commit()

    def settle(self) -> None:
        """Release the session's savepoint, if a service left one open (a read after its
        commit); the push's transaction stays open."""
        self._settle(commit=True)

    def _settle(self, *, commit: bool) -> None:
        if self.session.in_transaction():
            (self.session.commit if commit else self.session.rollback)()

    # -- SyncStore -------------------------------------------------------------------------

    def lock_device(self, device_id: str, user: Actor) -> DeviceState:
        """``user``'s queue on the device: INSERT if absent, then its row under a lock
        (``FOR UPDATE`` on PostgreSQL; on SQLite the INSERT has already taken the
        database's single write lock). Another user's queue on the same phone is another
        row, never waited for."""
        connection = self._connection
        values = {"device_id": device_id, "user_id": user.id, "last_mid": 0, "created_at": utcnow()}
        insert = _insert(connection)(devices).values(**values)
        connection.execute(insert.on_conflict_do_nothing(index_elements=["user_id", "device_id"]))
        query = sa.select(devices.c.id, devices.c.last_mid).where(
            devices.c.user_id == user.id, devices.c.device_id == device_id
        )
        if connection.dialect.name == "postgresql":
            query = query.with_for_update()
        row = connection.execute(query).one()
        connection.execute(
            devices.update().where(devices.c.id == row.id).values(last_push_at=utcnow())
        )
        self._pks[device_id] = row.id
        return DeviceState(device_id, user.id, row.last_mid)

    def get_device_state(self, device_id: str, user: Actor) -> DeviceState | None:
        row = self._connection.execute(
            sa.select(devices.c.last_mid).where(
                devices.c.user_id == user.id, devices.c.device_id == device_id
            )
        ).one_or_none()
        return DeviceState(device_id, user.id, row.last_mid) if row else None

    def get_outcome(self, device_id: str, mid: int) -> StoredOutcome | None:
        row = self._connection.execute(
            sa.select(mutations).where(
                mutations.c.device_pk == self._pk(device_id), mutations.c.mid == mid
            )
        ).one_or_none()
        if row is None:
            return None
        if row.status == EXPIRED:
            return StoredOutcome(mid, row.fingerprint, None)
        outcome = Outcome(
            Status(row.status),
            row.entity_type,
            row.entity_id,
            version=row.version,
            conflict_id=row.conflict_id,
            reason=row.reason,
        )
        return StoredOutcome(mid, row.fingerprint, outcome)

    def record(self, device_id: str, item: Item, outcome: Outcome, fingerprint: str) -> None:
        """One row per ``(device, mid)``: a second record breaks the unique constraint."""
        self.record_many(device_id, [(item, outcome, fingerprint)])

    def record_many(self, device_id: str, decided: Sequence[tuple[Item, Outcome, str]]) -> None:
        pk = self._pk(device_id)
        rows = [
            {
                "device_pk": pk,
                "mid": item.mid,
                "fingerprint": fingerprint,
                "status": outcome.status.value,
                "entity_type": outcome.entity_type,
                "entity_id": outcome.entity_id,
                "version": outcome.version,
                "conflict_id": outcome.conflict_id,
                "reason": outcome.reason,
                **_kept(item),
            }
            for item, outcome, fingerprint in decided
        ]
        self._connection.execute(mutations.insert(), rows)

    def advance(self, device_id: str, from_mid: int, to_mid: int) -> None:
        moved = self._connection.execute(
            devices.update()
            .where(devices.c.id == self._pk(device_id), devices.c.last_mid == from_mid)
            .values(last_mid=to_mid)
        )
        if moved.rowcount != 1 or to_mid < from_mid:
            raise RuntimeError(f"last_mid of {device_id} does not move {from_mid} → {to_mid}")

    def set_last_mid(self, device_id: str, mid: int) -> None:
        self.advance(device_id, mid - 1, mid)

    def open_conflict(self, device_id: str, mutation: Mutation, refusal: Refused) -> str:
        if self._keep_evidence is not None:
            self._keep_evidence(mutation)
            self.settle()
        conflict_id = str(uuid.uuid4())
        self._connection.execute(
            conflicts.insert().values(
                id=conflict_id,
                device_pk=self._pk(device_id),
                mid=mutation.mid,
                type=mutation.type.value,
                entity_type=mutation.entity_type,
                entity_id=mutation.entity_id,
                reason=refusal.reason,
                errors=_jsonable(refusal.errors),
                payload=dict(mutation.payload),
                status="open",
                created_at=utcnow(),
            )
        )
        # A Core insert: the phone's user hears of the conflict through the feed.
        feed.record(self._connection, feed.mention("conflict", conflict_id))
        return conflict_id

    def keep_stray(self, device_id: str, item: Item, reason: str) -> None:
        kept = _kept(item)
        self._connection.execute(
            mutations.insert().values(
                device_pk=self._pk(device_id),
                mid=None,
                stray_of=item.mid,
                status=Status.REJECTED.value,
                reason=reason,
                entity_type=item.entity_type,
                entity_id=item.entity_id,
                **kept,
            )
        )

    def note_failure(self, device_id: str, mid: int, error: BaseException) -> int:
        log.warning("sync: mutation %s of %s failed", mid, device_id, exc_info=error)
        connection = self._connection
        pk = self._pk(device_id)
        insert = _insert(connection)(failures).values(
            device_pk=pk, mid=mid, attempts=0, last_error="", last_failed_at=utcnow()
        )
        connection.execute(insert.on_conflict_do_nothing(index_elements=["device_pk", "mid"]))
        where = (failures.c.device_pk == pk) & (failures.c.mid == mid)
        connection.execute(
            failures.update()
            .where(where)
            .values(
                attempts=failures.c.attempts + 1,
                last_error=f"{type(error).__name__}: {error}"[:2000],
                last_failed_at=utcnow(),
            )
        )
        return connection.execute(sa.select(failures.c.attempts).where(where)).scalar_one()

    # -- helpers ---------------------------------------------------------------------------

    def _pk(self, device_id: str) -> int:
        """The queue ``lock_device`` opened for ``device_id`` (one user's, on a shared
        phone)."""
        try:
            return self._pks[device_id]
        except KeyError:
            raise RuntimeError(f"no queue of {device_id} is locked in this push") from None


def _insert(connection: sa.Connection):
    return postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert


def _kept(item: Item) -> dict:
    payload = dict(item.payload)
    kind = payload.get("type")
    return {"payload": _jsonable(payload), "type": kind[:64] if isinstance(kind, str) else None}


def _jsonable(value):
    """The payload as received is JSON already; errors may hold tuples or UUIDs."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
