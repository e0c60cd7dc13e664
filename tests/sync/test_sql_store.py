"""One contract, every store: the engine's guarantees with ``MemoryStore`` and with
``SqlSyncStore`` on SQLite and PostgreSQL (as Kinto's ``storage/testing.py``).

The domain double writes its effect the way the app's services do — through the session,
committing "its own" transaction — so the SQL runs prove that such a commit stays inside
the mutation's savepoint: rolled back with a refusal or a crash, committed only with the
recorded outcome and the advanced ``last_mid``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.extensions import db
from app.sync_api.models import SyncConflict, SyncMutation
from app.sync_api.store import SqlSyncStore, begin_push
from sync.conflicts import Refused
from sync.engine import Limits, PushInterrupted, push
from sync.memory import MemoryStore
from sync.outcomes import Outcome, Status
from tests.sync.fieldwork import body, ident, mutation, report_args

# The store runs on connections of its own, some in threads of their own: real commits.
pytestmark = pytest.mark.usefixtures("committing")

effects = sa.Table(
    "test_sync_effects",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("device_id", sa.String(128)),
    sa.Column("mid", sa.Integer),
    sa.Column("entity_id", sa.String(36)),
)


def work(mid: int, entity: int, do: str = "ok", reason: str = "") -> dict:
    """A report.create whose ``description`` tells the double what to do."""
    return mutation(mid, "report.create", ident(entity), report_args(f"{do}:{reason}"))


class Effects:
    """What the domain double does for one mutation: an effect row, then maybe a refusal
    or a transient failure (after the effect, so a rollback must undo it)."""

    crashing = True

    def __call__(self, m, write) -> Outcome:
        do, _, reason = m.args["description"].partition(":")
        write(m)
        if do == "refuse":
            raise Refused(reason, "refused by the double", {"why": reason})
        if do == "crash" and self.crashing:
            raise ConnectionError("the database went away")
        return Outcome(Status.APPLIED, "case", m.entity_id, version=1)


class MemoryHarness:
    def __init__(self) -> None:
        self.store = MemoryStore()
        self.double = Effects()

    def push(self, user, device_id: str, sent: dict, limits: Limits = Limits()):
        def write(m):
            self.store.data.setdefault("effects", []).append((device_id, m.mid, str(m.entity_id)))

        with self.store.transaction():
            try:
                return push(
                    self.store,
                    user,
                    device_id,
                    sent,
                    lambda m: self.double(m, write),
                    limits=limits,
                )
            except PushInterrupted as interrupted:
                return interrupted

    def effects(self) -> list[tuple]:
        return sorted(self.store.data.get("effects", []))

    def conflicts(self) -> int:
        return len(self.store.conflicts)


class SqlHarness:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.double = Effects()

    @contextmanager
    def _transaction(self) -> Iterator[SqlSyncStore]:
        with self.engine.connect() as connection, connection.begin():
            begin_push(connection)
            session = Session(
                bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
            )
            store = SqlSyncStore(session)
            try:
                yield store
                store.settle()
            finally:
                session.close()

    def push(self, user, device_id: str, sent: dict, limits: Limits = Limits()):
        with self._transaction() as store:

            def write(m):
                store.session.execute(
                    effects.insert().values(
                        device_id=device_id, mid=m.mid, entity_id=str(m.entity_id)
                    )
                )
                store.session.commit()  # as a service's own transaction() does

            try:
                return push(
                    store, user, device_id, sent, lambda m: self.double(m, write), limits=limits
                )
            except PushInterrupted as interrupted:
                return interrupted

    def effects(self) -> list[tuple]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(effects.c.device_id, effects.c.mid, effects.c.entity_id)
            )
            return sorted(tuple(row) for row in rows)

    def conflicts(self) -> int:
        with self.engine.connect() as connection:
            return connection.scalar(sa.select(sa.func.count()).select_from(SyncConflict.__table__))


@pytest.fixture(params=["memory", "sql"])
def harness(request, database_url, clean_db):
    """Each SQL backend, and the memory store once (with the first backend)."""
    if request.param == "memory":
        if not database_url.startswith("sqlite"):
            pytest.skip("the memory store runs once, beside SQLite")
        yield MemoryHarness()
        return
    engine = db.engine
    effects.create(engine, checkfirst=True)
    yield SqlHarness(engine)
    with engine.begin() as connection:
        connection.execute(effects.delete())


@pytest.fixture
def user(world):
    return world.users["inspector"]


def statuses(result) -> list[str]:
    return [r.status.value for r in result.results]


def test_a_batch_applies_in_order_and_again_is_duplicates(harness, user):
    sent = body("phone-1", work(1, 1), work(2, 2))
    first = harness.push(user, "phone-1", sent)
    again = harness.push(user, "phone-1", sent)
    assert statuses(first) == ["applied", "applied"]
    assert statuses(again) == ["duplicate", "duplicate"]
    assert [r.original_status for r in again.results] == [Status.APPLIED] * 2
    assert again.last_mid == 2
    assert harness.effects() == [("phone-1", 1, ident(1)), ("phone-1", 2, ident(2))]


def test_a_refusal_undoes_the_effect_and_is_recorded(harness, user):
    sent = body(
        "phone-1",
        work(1, 1, "refuse", "validation"),
        work(2, 2, "refuse", "task_reassigned"),
        work(3, 3),
    )
    result = harness.push(user, "phone-1", sent)
    assert [(r.status.value, r.reason) for r in result.results] == [
        ("rejected", "validation"),
        ("conflict", "task_reassigned"),
        ("applied", None),
    ]
    assert result.results[1].conflict_id
    assert harness.conflicts() == 1
    assert harness.effects() == [("phone-1", 3, ident(3))]
    again = harness.push(user, "phone-1", sent)
    assert [r.conflict_id for r in again.results] == [r.conflict_id for r in result.results]


def test_a_transient_failure_keeps_the_prefix_and_the_resend_applies_the_rest(harness, user):
    sent = body("phone-1", work(1, 1), work(2, 2, "crash"), work(3, 3))
    interrupted = harness.push(user, "phone-1", sent)
    assert isinstance(interrupted, PushInterrupted)
    assert interrupted.mid == 2
    assert statuses(interrupted.result) == ["applied"]
    assert harness.effects() == [("phone-1", 1, ident(1))]
    harness.double.crashing = False
    result = harness.push(user, "phone-1", sent)
    assert statuses(result) == ["duplicate", "applied", "applied"]
    assert [e[1] for e in harness.effects()] == [1, 2, 3]


def test_a_mutation_that_always_fails_is_rejected_after_max_attempts(harness, user):
    sent = body("phone-1", work(1, 1, "crash"), work(2, 2))
    limits = Limits(max_attempts=3)
    for _ in range(2):
        assert isinstance(harness.push(user, "phone-1", sent, limits), PushInterrupted)
    result = harness.push(user, "phone-1", sent, limits)
    assert [(r.status.value, r.reason) for r in result.results] == [
        ("rejected", "apply_failed"),
        ("applied", None),
    ]
    assert [e[1] for e in harness.effects()] == [2]


def test_a_gap_and_a_reused_mid_apply_nothing(harness, user):
    harness.push(user, "phone-1", body("phone-1", work(1, 1)))
    gap = harness.push(user, "phone-1", body("phone-1", work(3, 3), work(4, 4)))
    assert [(r.status.value, r.expected_mid) for r in gap.results] == [("gap", 2), ("gap", 2)]
    reused = harness.push(user, "phone-1", body("phone-1", work(1, 9)))
    assert [(r.status.value, r.reason) for r in reused.results] == [("rejected", "mid_reused")]
    assert harness.effects() == [("phone-1", 1, ident(1))]


def test_devices_keep_their_own_counters(harness, user):
    harness.push(user, "phone-1", body("phone-1", work(1, 1)))
    other = harness.push(user, "phone-2", body("phone-2", work(1, 2)))
    assert statuses(other) == ["applied"]
    assert other.last_mid == 1


def test_two_users_of_one_phone_each_have_their_own_queue(harness, world):
    inspector, chief = world.users["inspector"], world.users["street_chief"]
    harness.push(inspector, "phone-1", body("phone-1", work(1, 1), work(2, 2)))
    chiefs = harness.push(chief, "phone-1", body("phone-1", work(1, 3)))
    assert (statuses(chiefs), chiefs.last_mid) == (["applied"], 1)
    again = harness.push(inspector, "phone-1", body("phone-1", work(2, 2), work(3, 4)))
    assert (statuses(again), again.last_mid) == (["duplicate", "applied"], 3)
    assert statuses(harness.push(chief, "phone-1", body("phone-1", work(1, 3)))) == ["duplicate"]
    assert [mid for _, mid, _ in harness.effects()] == [1, 1, 2, 3]


def test_an_error_of_the_store_rolls_the_whole_push_back(world):
    """A second record for one mid is refused by the unique constraint, not by a check."""
    inspector = world.users["inspector"]
    with db.engine.connect() as connection, connection.begin():
        begin_push(connection)
        store = SqlSyncStore(Session(bind=connection, join_transaction_mode="create_savepoint"))
        store.lock_device("phone-1", inspector)
        item = _parsed(work(1, 1))
        outcome = Outcome(Status.APPLIED, "case", item.entity_id, version=1)
        store.record("phone-1", item, outcome, "f" * 64)
        with pytest.raises(sa.exc.IntegrityError), store.savepoint():
            store.record("phone-1", item, outcome, "f" * 64)
        assert store.get_outcome("phone-1", 1).outcome == outcome
        connection.rollback()
    with db.engine.connect() as connection:
        assert (
            connection.scalar(sa.select(sa.func.count()).select_from(SyncMutation.__table__)) == 0
        )


def _parsed(raw: dict):
    from sync.envelope import parse_push

    return parse_push(body("phone-1", raw)).items[0]


def test_the_conflict_keeps_the_payload(world):
    inspector = world.users["inspector"]
    harness = SqlHarness(db.engine)
    effects.create(db.engine, checkfirst=True)
    try:
        result = harness.push(
            inspector, "phone-1", body("phone-1", work(1, 5, "refuse", "task_cancelled"))
        )
    finally:
        with db.engine.begin() as connection:
            connection.execute(effects.delete())
    with Session(db.engine) as session:
        conflict = session.get(SyncConflict, result.results[0].conflict_id)
        assert (conflict.reason, conflict.errors) == ("task_cancelled", {"why": "task_cancelled"})
        assert conflict.payload["entity_id"] == ident(5)
        assert conflict.entity_id == uuid.UUID(ident(5))


def test_concurrent_pushes_of_one_device_apply_each_mid_once(world):
    """Two pushes of the same batch at once: the device lock serialises them, the second
    answers duplicates, every effect exists once."""
    inspector = world.users["inspector"]
    effects.create(db.engine, checkfirst=True)
    sent = body("phone-1", *(work(mid, mid) for mid in range(1, 6)))
    start = threading.Barrier(2)
    answers = []

    def pushing() -> None:
        harness = SqlHarness(db.engine)
        start.wait()
        answers.append(harness.push(inspector, "phone-1", sent))

    try:
        threads = [threading.Thread(target=pushing) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(statuses(a) for a in answers) == [["applied"] * 5, ["duplicate"] * 5]
        assert [e[1] for e in SqlHarness(db.engine).effects()] == [1, 2, 3, 4, 5]
    finally:
        with db.engine.begin() as connection:
            connection.execute(effects.delete())
