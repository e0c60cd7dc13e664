"""Phones with queues push arbitrary slices, retries, gaps, crashes and skewed clocks.

The invariants, checked after every step and at the end:

- every mutation is decided exactly once, in mid order, with no gap in what is recorded;
- a re-sent mid is answered ``duplicate`` with the result it was first decided with;
- a gap names the mid the server waits for, and applies nothing;
- outcomes depend only on the order in which mutations were first decided among the
  dispatcher's changes: replaying that order once, on a fresh server, with every phone's
  clock right, gives the same outcomes, the same conflicts and the same domain state —
  whatever the retries, duplicates, interruptions, crashes and clock skews on the way.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from sync.engine import Limits, push
from sync.outcomes import DECIDED, Result, Status
from tests.sync.fieldwork import SHA, Server, User, body, ident, mutation, report_args

ALICE, BOB = User(1), User(2)
PHONES = {"phone-a": ALICE, "phone-b": ALICE, "phone-c": BOB}
CASES = [ident(100 + i) for i in range(3)]
TASKS = [ident(200 + i) for i in range(2)]
THINGS = [ident(300 + i) for i in range(3)]  # comment and photo ids, reused on purpose
TEXTS = ["路边暴露垃圾", "两袋垃圾", "一堆垃圾"]
REPORTED = {"description": TEXTS[0], "address": report_args()["address"]}
NEVER_GIVE_UP = Limits(max_attempts=10**9)  # transient failures here are always transient


@dataclasses.dataclass(frozen=True)
class _Target:
    """What one queued mutation acts on: the case, task and thing ``pick`` chooses."""

    pick: int
    text: str

    @property
    def case(self) -> str:
        return CASES[self.pick % len(CASES)]

    @property
    def task(self) -> str:
        return TASKS[self.pick % len(TASKS)]

    @property
    def thing(self) -> str:
        return THINGS[self.pick % len(THINGS)]


def _case_edit(t: _Target) -> tuple[str, str, dict, int | None]:
    field = ("description", "address")[t.pick % 2]
    # Half the time the phone saw the reported value, half a value of its own guessing.
    base = REPORTED[field] if t.pick < 3 else t.text
    new = TEXTS[(t.pick + 1) % len(TEXTS)]
    return "case.edit", t.case, {"fields": {field: {"base": base, "new": new}}}, 1


# kind → (type, entity id, args, base version) of the mutation a phone queues.
_MUTATIONS: dict[str, Callable[[_Target], tuple[str, str, dict, int | None]]] = {
    "report": lambda t: ("report.create", t.case, report_args(t.text), None),
    "comment": lambda t: ("comment.add", t.thing, {"case_id": t.case, "text": t.text}, None),
    "photo": lambda t: (
        "photo.attach",
        t.thing,
        {"case_id": t.case, "sha256": SHA, "kind": "problem"},
        None,
    ),
    "edit": _case_edit,
    "accept": lambda t: ("task.update", t.task, {"action": "accept"}, 1),
    "complete": lambda t: ("task.update", t.task, {"action": "complete"}, 1),
    "self_handle": lambda t: (
        "case.self_handle",
        t.case,
        {"photos": [{"photo_id": t.thing, "sha256": SHA, "kind": "closure"}]},
        1,
    ),
    "unknown_type": lambda t: ("case.delete", t.case, {}, None),
    "invalid_args": lambda t: ("comment.add", t.thing, {"case_id": t.case, "text": ""}, None),
}


def _entry(mid: int, kind: str, pick: int, text: str) -> dict:
    type_, entity_id, args, base = _MUTATIONS[kind](_Target(pick, text))
    return mutation(mid, type_, entity_id, args, base=base)


KINDS = list(_MUTATIONS)
SERVER_ACTIONS = [
    "assign_task",
    "reassign_task",
    "cancel_task",
    "edit_case",
    "delete_case",
    "close_case",
]


def _skewed(entry: dict, hours: float) -> dict:
    stamped = dt.datetime.fromisoformat(entry["client_ts"]) + dt.timedelta(hours=hours)
    return {**entry, "client_ts": stamped.isoformat()}


def _comparable(result: Result) -> tuple:
    return (result.entity_type, result.entity_id, result.version, result.conflict_id, result.reason)


class PhonesPushing(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.server = Server()
        self.queues: dict[str, list[dict]] = {phone: [] for phone in PHONES}
        self.first: dict[tuple[str, int], Result] = {}

    @initialize()
    def a_morning_of_work(self):
        """Each phone starts with a report of its own case; the tasks are handed out."""
        for i, phone in enumerate(sorted(PHONES)):
            self.queues[phone].append(_entry(1, "report", i, TEXTS[0]))
        self.server.server("assign_task", TASKS[0], to=ALICE.id)
        self.server.server("assign_task", TASKS[1], to=BOB.id)

    # -- the phones ------------------------------------------------------------------------

    @rule(
        phone=st.sampled_from(sorted(PHONES)),
        walk=st.lists(
            st.tuples(st.sampled_from(KINDS), st.integers(0, 5), st.sampled_from(TEXTS)),
            min_size=1,
            max_size=6,
        ),
    )
    def walk_offline(self, phone, walk):
        """The phone queues a few mutations while offline."""
        queue = self.queues[phone]
        for kind, pick, text in walk:
            queue.append(_entry(len(queue) + 1, kind, pick, text))

    @precondition(lambda self: any(self.queues.values()))
    @rule(
        data=st.data(),
        skew_hours=st.sampled_from([0, 0.5, -7, 24 * 3, -24 * 3, 24 * 365]),
        fail_at=st.none() | st.integers(0, 20),
        together=st.booleans(),
    )
    def push_a_slice(self, data, skew_hours, fail_at, together):
        phone = data.draw(st.sampled_from([p for p, q in self.queues.items() if q]))
        queue = self.queues[phone]
        # Mostly from what the server has (a phone re-sends from its last answer), at times
        # from anywhere (a phone that lost its state, a proxy replaying old requests).
        resume = min(self._last_mid(phone), len(queue) - 1)
        start = data.draw(st.integers(0, resume) | st.integers(0, len(queue) - 1))
        end = data.draw(st.integers(start + 1, len(queue)))
        batch = queue[start:end]
        if len(batch) > 2 and data.draw(st.booleans()):
            del batch[data.draw(st.integers(1, len(batch) - 2))]  # a hole: a gap
        batch = [_skewed(entry, skew_hours) for entry in batch]
        if fail_at is not None and fail_at < len(batch):
            self.server.work.fail_once.add((phone, batch[fail_at]["mid"]))
        before = self._last_mid(phone)
        result = self.server.push(
            PHONES[phone], phone, *batch, limits=NEVER_GIVE_UP, together=together
        )
        self.server.work.fail_once.clear()
        self._check(phone, batch, before, result)

    @precondition(lambda self: any(self.queues.values()))
    @rule(data=st.data())
    def crash_while_pushing(self, data):
        """The server dies before the commit: nothing of the push may remain."""
        phone = data.draw(st.sampled_from([p for p, q in self.queues.items() if q]))
        queue = self.queues[phone]
        start = data.draw(st.integers(0, len(queue) - 1))
        store = self.server.store
        history = store.history
        try:
            with store.transaction():
                push(
                    store,
                    PHONES[phone],
                    phone,
                    body(phone, *queue[start:]),
                    self.server.work.apply_for(PHONES[phone], phone),
                    limits=NEVER_GIVE_UP,
                )
                raise SystemExit("killed")
        except SystemExit:
            pass
        assert store.history == history

    # -- the dispatcher --------------------------------------------------------------------

    @rule(
        action=st.sampled_from(SERVER_ACTIONS),
        pick=st.integers(0, 5),
        who=st.sampled_from([ALICE.id, BOB.id]),
        text=st.sampled_from(TEXTS),
    )
    def dispatcher_acts(self, action, pick, who, text):
        if action.endswith("task"):
            entity, values = TASKS[pick % len(TASKS)], {"to": who}
            if action == "cancel_task":
                values = {}
        else:
            entity = CASES[pick % len(CASES)]
            field = ("description", "address")[pick % 2]
            values = {"field": field, "value": text} if action == "edit_case" else {}
        self.server.server(action, entity, **values)

    # -- checks ----------------------------------------------------------------------------

    def _last_mid(self, phone: str) -> int:
        state = self.server.store.get_device_state(phone, PHONES[phone])
        return state.last_mid if state else 0

    def _check(self, phone, batch, before, result):
        sent = [entry["mid"] for entry in batch]
        got = [r.mid for r in result.results]
        assert got == sent[: len(got)], "one result per mutation, in order"
        expected_next = before + 1
        for r in result.results:
            assert r.reason != "mid_reused", "a phone never changes a queued mutation"
            key = (phone, r.mid)
            if r.status is Status.GAP:
                assert r.mid > expected_next
                assert (r.expected_mid, r.reason) == (
                    expected_next,
                    f"expected_mid:{expected_next}",
                )
            elif r.status is Status.DUPLICATE:
                assert r.mid < expected_next
                first = self.first[key]
                assert r.original_status is first.status
                assert _comparable(r) == _comparable(first)
            else:
                assert r.status in DECIDED
                assert r.mid == expected_next, "decided in mid order, one after another"
                assert key not in self.first, "decided once"
                self.first[key] = r
                expected_next += 1
        assert result.last_mid == expected_next - 1 == self._last_mid(phone)

    @invariant()
    def every_device_decided_a_contiguous_prefix_exactly_once(self):
        store = self.server.store
        for phone in PHONES:
            mids = [r.item.mid for r in store.recorded(phone)]
            assert mids == list(range(1, self._last_mid(phone) + 1))
            applied = [mid for device, mid in self.server.work.applied if device == phone]
            assert applied == sorted(set(applied)), "applied once each, in mid order"
            assert set(applied) <= set(mids)

    def teardown(self):
        """Replay the committed order once, perfectly: the same outcomes and state."""
        replay = Server()
        for event in self.server.store.history:
            if event[0] == "record":
                _, phone, mid = event
                replay.push(PHONES[phone], phone, self.queues[phone][mid - 1])
            else:
                _, action, entity, values = event
                replay.server(action, entity, **dict(values))
        for phone in PHONES:
            ours = [dataclasses.astuple(r.outcome) for r in self.server.store.recorded(phone)]
            theirs = [dataclasses.astuple(r.outcome) for r in replay.store.recorded(phone)]
            assert ours == theirs, phone
        assert self.server.store.conflicts.keys() == replay.store.conflicts.keys()
        for name in ("cases", "tasks", "appended", "applied"):
            assert self.server.store.data[name] == replay.store.data[name], name


PhonesPushing.TestCase.settings = settings(
    max_examples=120,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_phones_pushing = PhonesPushing.TestCase


@settings(max_examples=150, deadline=None)
@given(
    walk=st.lists(
        st.tuples(
            st.sampled_from(KINDS),
            st.integers(0, 5),
            st.sampled_from(TEXTS),
            st.none() | st.sampled_from(SERVER_ACTIONS),
        ),
        min_size=1,
        max_size=12,
    ),
    skew_hours=st.floats(-24 * 30, 24 * 30, allow_nan=False).filter(lambda h: abs(h) > 1),
    offset_hours=st.sampled_from([-5, 0, 8, 14]),
)
def test_clock_skew_of_days_changes_no_outcome(walk, skew_hours, offset_hours):
    """The same walk, the same dispatcher actions between its pushes, phone clocks off by
    up to a month and in any zone: the same answers, the same state."""
    zone = dt.timezone(dt.timedelta(hours=offset_hours))

    def run(skew):
        server = Server()
        server.server("assign_task", TASKS[0], to=ALICE.id)
        entries = [_entry(1, "report", 0, TEXTS[0])]
        answers = [server.push(ALICE, "phone-a", *entries).as_json()]
        for kind, pick, text, action in walk:
            entry = _entry(len(entries) + 1, kind, pick, text)
            if skew:
                stamped = dt.datetime.fromisoformat(entry["client_ts"]) + dt.timedelta(hours=skew)
                entry["client_ts"] = stamped.astimezone(zone).isoformat()
            entries.append(entry)
            if action is not None:
                target = TASKS[pick % 2] if action.endswith("task") else CASES[pick % 3]
                values = {"to": BOB.id} if action in ("assign_task", "reassign_task") else {}
                if action == "edit_case":
                    values = {"field": "description", "value": text}
                server.server(action, target, **values)
            answers.append(server.push(ALICE, "phone-a", entry).as_json())
        return answers, server.store.data

    assert run(0) == run(skew_hours)
