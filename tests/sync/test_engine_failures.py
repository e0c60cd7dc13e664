"""A failure at any stage of deciding one mutation never stalls the queue behind it
(issue 11, row 1): it counts against that mutation's attempts, and what the store cannot
hold as it came is kept with the offending characters spelled out."""

from __future__ import annotations

import json

import pytest

from sync import engine
from sync.engine import Limits
from sync.memory import MemoryStore
from sync.outcomes import Status
from tests.sync.fieldwork import Server, User, ident, mutation, report_args

ALICE = User(1)
PHONE = "phone-alice"
CASE = ident(100)
LIMITS = Limits(max_attempts=3)


def report(mid: int, text: str = "路边暴露垃圾", case: str = CASE) -> dict:
    return mutation(mid, "report.create", case, report_args(text))


def comment(mid: int, text: str = "好") -> dict:
    return mutation(mid, "comment.add", ident(1000 + mid), {"case_id": CASE, "text": text})


def failing_at(monkeypatch, owner, name: str, when, times: int | None = None) -> list:
    """Make ``owner.name`` raise whenever ``when(args)`` holds, ``times`` times at most."""
    real = getattr(owner, name)
    raised: list = []

    def wrapper(*args, **kwargs):
        if when(args) and (times is None or len(raised) < times):
            raised.append(name)
            raise ConnectionError(f"injected failure in {name}")
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)
    return raised


def about_mid(mid: int):
    def when(args) -> bool:
        return any(getattr(arg, "mid", None) == mid or arg == mid for arg in args)

    return when


def push_until_decided(server: Server, *mutations: dict, rounds: int = 10):
    """The phone re-sends its queue until every mid is decided (as after 503s)."""
    result = None
    for _ in range(rounds):
        try:
            result = server.push(ALICE, PHONE, *mutations, limits=LIMITS)
        except ConnectionError:
            continue  # the store failed the push as a whole: rolled back, a 503, re-sent
        if len(result.results) == len(mutations):
            return result
    raise AssertionError(f"the queue is stuck: {result}")


STAGES = [
    (MemoryStore, "record"),
    (MemoryStore, "set_last_mid"),
    (MemoryStore, "savepoint"),
    (MemoryStore, "get_outcome"),
    (MemoryStore, "lock_device"),
    (engine, "fingerprint"),
]


@pytest.mark.parametrize(("owner", "name"), STAGES, ids=[name for _, name in STAGES])
def test_a_passing_failure_at_any_stage_is_retried_and_the_queue_moves_on(
    server, monkeypatch, owner, name
):
    raised = failing_at(monkeypatch, owner, name, lambda args: True, times=2)
    first = push_until_decided(server, report(1))
    assert first.results[0].status is Status.APPLIED
    raised_before = len(raised)
    result = push_until_decided(server, report(1), comment(2), comment(3))
    assert raised_before or raised
    assert raised, f"the failure in {name} was never reached"
    assert [r.status for r in result.results] == [Status.APPLIED] * 3 or all(
        r.status in (Status.APPLIED, Status.DUPLICATE) for r in result.results
    )
    assert server.push(ALICE, PHONE, limits=LIMITS).last_mid == 3


@pytest.mark.parametrize(
    ("owner", "name"),
    [STAGES[0], STAGES[1], (engine, "fingerprint")],
    ids=["record", "set_last_mid", "fingerprint"],
)
def test_a_stage_that_fails_for_one_mutation_every_time_ends_in_apply_failed(
    server, monkeypatch, owner, name
):
    """Failing for the mutation's first attempts only is what a store can fail at: the
    apply_failed record itself must go through, else the database is down."""
    always = name == "fingerprint"  # before any savepoint: it may fail every time
    times = None if always else LIMITS.max_attempts
    raised = failing_at(monkeypatch, owner, name, about_mid(2), times=times)
    queue = (report(1), comment(2), comment(3))
    result = push_until_decided(server, *queue)
    assert len(raised) >= LIMITS.max_attempts
    decided = {r.mid: (r.status, r.reason) for r in result.results}
    assert decided[2] == (Status.REJECTED, "apply_failed")
    assert decided[3][0] in (Status.APPLIED, Status.DUPLICATE)
    # The whole queue sent again is answered from what was decided.
    again = server.push(ALICE, PHONE, *queue, limits=LIMITS)
    assert [r.status for r in again.results] == [Status.DUPLICATE] * 3


def test_a_failure_noting_a_failure_fails_the_push_whole_and_it_is_sent_again(server, monkeypatch):
    raised = failing_at(monkeypatch, MemoryStore, "note_failure", lambda args: True, times=1)
    failing_at(monkeypatch, MemoryStore, "record", about_mid(2), times=2)
    result = push_until_decided(server, report(1), comment(2), comment(3))
    assert raised == ["note_failure"]
    assert [r.status for r in result.results][1:] == [Status.APPLIED, Status.APPLIED]


def test_an_apply_that_always_fails_is_rejected_after_its_attempts(server, monkeypatch):
    raised: list = []
    real = server.work.apply_for

    def apply_for(user, device_id):
        apply = real(user, device_id)

        def breaking(item):
            if item.mid == 2:
                raised.append("apply")
                raise ConnectionError("the database went away")
            return apply(item)

        return breaking

    monkeypatch.setattr(server.work, "apply_for", apply_for)
    result = push_until_decided(server, report(1), comment(2), comment(3))
    assert len(raised) == LIMITS.max_attempts
    assert [(r.status, r.reason) for r in result.results][1:] == [
        (Status.REJECTED, "apply_failed"),
        (Status.APPLIED, None),
    ]


def unstorable(args) -> bool:
    """As PostgreSQL refuses a NUL or a lone surrogate in a JSON column."""
    payloads = [getattr(arg, "payload", None) for arg in args]
    text = json.dumps([p for p in payloads if p is not None], ensure_ascii=False)
    return "\x00" in text or any(0xD800 <= ord(c) <= 0xDFFF for c in text)


@pytest.mark.parametrize("bad", ["\x00", "\ud83d"], ids=["nul", "lone_surrogate"])
def test_a_payload_the_store_cannot_hold_is_kept_spelled_out(server, monkeypatch, bad):
    failing_at(monkeypatch, MemoryStore, "record", unstorable)
    failing_at(monkeypatch, MemoryStore, "keep_stray", unstorable)
    first = server.push(ALICE, PHONE, report(1), comment(2, f"看{bad}"), comment(3), limits=LIMITS)
    assert [(r.status, r.reason) for r in first.results] == [
        (Status.APPLIED, None),
        (Status.REJECTED, "validation"),
        (Status.APPLIED, None),
    ]
    kept = {r.item.mid: r.item for r in server.store.recorded(PHONE)}
    assert kept[2].payload["args"]["text"] == f"看\\u{ord(bad):04x}"
    # A used mid re-sent with other unstorable content: rejected and kept as a stray.
    again = server.push(ALICE, PHONE, report(1, text=f"别处{bad}"), limits=LIMITS)
    assert [(r.status, r.reason) for r in again.results] == [(Status.REJECTED, "mid_reused")]


def test_a_mid_past_64_bits_refuses_the_push_as_a_whole(server):
    too_far = {**report(1), "mid": 2**63}
    with pytest.raises(engine.EnvelopeError):
        server.push(ALICE, PHONE, too_far, limits=LIMITS)
