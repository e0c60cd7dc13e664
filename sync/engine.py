"""Push: apply a device's mutations in mid order, each once, each isolated.

The caller (the HTTP layer) opens one transaction per push and commits it when ``push``
returns — or when it raises ``PushInterrupted``, whose prefix is sound and must be kept.
Any other exception means: roll back the whole push.

Per mutation, in mid order:

1. ``sync.ordering.decide`` against the device's ``last_mid`` and stored outcomes:
   ``duplicate`` answers the stored result; ``mid_reused`` is rejected (the payload kept as
   a stray, the counter untouched); ``gap`` ends the batch — every later mutation is
   answered ``gap`` with the expected mid;
2. ``apply``: an ``InvalidMutation`` is recorded ``rejected`` without calling ``apply``;
   a valid one is applied by the injected ``apply`` inside a savepoint, together with the
   record of its outcome and the advance of ``last_mid`` — all or nothing.
3. ``apply`` raising ``sync.conflicts.Refused``: the savepoint rolls back and the refusal
   is classified ``conflict`` (a conflict record keeps the field work) or ``rejected``;
   either way it is recorded and the counter advances, so a permanent refusal never
   stalls the queue behind it (rocicorp/replicache 336).
4. ``apply`` raising anything else is transient (a lost connection, a deadlock, a bug):
   the savepoint rolls back, the attempt is counted, and ``PushInterrupted`` ends the
   batch without advancing — the phone re-sends from there. After ``max_attempts`` failed
   pushes of one mid it is recorded ``rejected`` (``apply_failed``, payload kept) and the
   queue moves on: treating every error as temporary would stall the device for ever.
   This holds for a failure anywhere in deciding the next mid, its fingerprint and the
   record of a refusal included, not only inside ``apply``; and a payload the store
   cannot hold as it came (PostgreSQL refuses NUL) is kept with those characters spelled
   out. Only a failure of the store itself (locking the queue, counting an attempt) ends
   the push as a whole.

A run of consecutive new mutations that a ``BatchApply`` accepts (a walk's reports) may
be applied together instead (``apply_many``): one savepoint, one record of the outcomes,
one advance of ``last_mid``. ``apply_many`` applies the longest prefix it can take as
plain ``applied`` mutations and returns their outcomes; the mutation it stopped before
goes the one-by-one way, which decides it as above. If the batch raises, its savepoint
rolls back and the whole run goes one by one: the batch is only ever a faster way to the
outcomes the one-by-one path would reach, never a different one.

**A time budget** (``Limits.budget``, seconds) bounds a push well under the web worker's
timeout. Before each new mutation (or run of them) the engine looks at the clock; once the
budget is spent, and at least one new mutation has been decided in this push, it stops and
answers the decided prefix: ``PushResult.complete`` is false and the mutations after it
have no result. They are undecided, not refused: the phone sends them again (the reference
client's push loop already does, as it sends whatever has no answer yet). Answers that
need no work (a ``duplicate``, a ``gap``) are not held back by the budget.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from sync.checks import escape_unsafe
from sync.conflicts import Refused, Verdict, classify_refusal
from sync.envelope import (
    DEFAULT_MAX_BATCH,
    EnvelopeError,
    InvalidMutation,
    Item,
    Mutation,
    parse_push,
)
from sync.ordering import Step, decide, fingerprint
from sync.outcomes import Outcome, PushResult, Result, Status
from sync.store import Actor, SyncStore

Apply = Callable[[Any], Outcome]  # a ``Mutation`` in, its ``Outcome`` out


class BatchApply(Protocol):
    def accepts(self, mutation: Mutation) -> bool:
        """Whether ``mutation``'s type can go in a batch at all."""
        ...

    def __call__(self, mutations: Sequence[Mutation]) -> list[Outcome]:
        """Apply the longest prefix of ``mutations`` that can be applied together, in
        order, each ``applied``; their outcomes (empty: go one by one)."""
        ...


DEFAULT_MAX_ATTEMPTS = 5

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Limits:
    max_batch: int = DEFAULT_MAX_BATCH
    max_attempts: int = DEFAULT_MAX_ATTEMPTS  # failed pushes of one mid before apply_failed
    budget: float | None = None  # seconds of deciding new mutations per push; None: no limit


class PushInterrupted(Exception):
    """``apply`` failed transiently at ``mid``. ``result`` holds the decided prefix, which
    the caller commits before answering 503 (the phone re-sends; the prefix comes back as
    ``duplicate``)."""

    def __init__(self, mid: int, result: PushResult):
        super().__init__(f"mutation {mid} failed; {len(result.results)} decided before it")
        self.mid = mid
        self.result = result


def push(
    store: SyncStore,
    user: Actor,
    device_id: str,
    body: Any,
    apply: Apply,
    *,
    limits: Limits = Limits(),
    apply_many: BatchApply | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> PushResult:
    """Decide every mutation of one push body from the device ``device_id`` of ``user``.

    ``device_id`` is the device the caller authenticated (the token's); the body must name
    the same one. The queue is ``user``'s on that device: two users of one shared phone
    each have their own mids. Raises ``EnvelopeError`` (request level, nothing changed) or
    ``PushInterrupted`` (see the module docstring).
    """
    batch = parse_push(body, max_batch=limits.max_batch)
    if batch.device_id != device_id:
        raise EnvelopeError(
            "device_mismatch",
            "device_id is not the device this token was issued to",
            {"device_id": ["not this token's device"]},
            status=403,
        )
    state = store.lock_device(device_id, user)
    if state.owner_id != user.id:
        # The store's contract, not the phone's mistake: mixing two users' mids would
        # decide one user's mutation against another's counter.
        raise RuntimeError(f"the store handed out user {state.owner_id}'s queue to {user.id}")
    last_mid = state.last_mid
    first_new = last_mid + 1
    spent = _budget_watch(limits.budget, clock)
    results: list[Result] = []
    items = batch.items
    one_by_one_until = 0  # items before this position skip the batch path
    position = 0
    while position < len(items):
        item = items[position]
        if item.mid > last_mid + 1:
            # Nothing from here on is applied; every later mid waits for the same one.
            results.extend(Result.gap(later.mid, last_mid + 1) for later in items[position:])
            break
        if item.mid <= last_mid:
            results.append(_decided_before(store, device_id, item, last_mid))
            position += 1
            continue
        if last_mid >= first_new and spent():
            # Out of time, with something new decided: the rest waits for the next push.
            return PushResult(last_mid, tuple(results), complete=False)
        if apply_many is not None and position >= one_by_one_until:
            run = _run(items, position, apply_many)
            done = _apply_run(store, device_id, run, apply_many) if run else []
            if done is None:  # the batch failed: the whole run goes one by one
                one_by_one_until = position + len(run)
            elif done:
                results.extend(Result.decided(m.mid, o) for m, o in zip(run, done, strict=False))
                last_mid = run[len(done) - 1].mid
                position += len(done)
                # The mutation the batch stopped before goes one by one.
                one_by_one_until = position + 1
                continue
        try:
            outcome = _decide_one(store, device_id, item, apply, limits)
        except _Transient as failure:
            prefix = PushResult(last_mid, tuple(results))
            raise PushInterrupted(item.mid, prefix) from failure.error
        last_mid = item.mid
        results.append(Result.decided(item.mid, outcome))
        position += 1
    return PushResult(last_mid, tuple(results))


def _budget_watch(budget: float | None, clock: Callable[[], float]) -> Callable[[], bool]:
    """A check of whether ``budget`` seconds have passed since now, by ``clock``."""
    if budget is None:
        return lambda: False
    deadline = clock() + budget
    return lambda: clock() >= deadline


def _run(items: Sequence[Item], start: int, apply_many: BatchApply) -> list[Mutation]:
    """The new mutations from ``start`` on, in consecutive mids, that ``apply_many``
    accepts (``items[start]`` is known to be the next mid)."""
    run: list[Mutation] = []
    for item in items[start:]:
        if not isinstance(item, Mutation) or not apply_many.accepts(item):
            break
        if run and item.mid != run[-1].mid + 1:
            break
        run.append(item)
    return run


def _apply_run(
    store: SyncStore, device_id: str, run: list[Mutation], apply_many: BatchApply
) -> list[Outcome] | None:
    """Apply a prefix of ``run`` together, record it and advance ``last_mid`` past it, as
    one unit; its outcomes (empty: it stopped before the first), or None if it raised and
    was rolled back."""
    try:
        with store.savepoint():
            outcomes = apply_many(run)
            if not outcomes:
                return []
            if len(outcomes) > len(run) or any(
                not isinstance(o, Outcome) or o.status is not Status.APPLIED for o in outcomes
            ):
                raise TypeError(f"apply_many returned {outcomes!r}")
            done = run[: len(outcomes)]
            store.record_many(
                device_id,
                [(m, o, fingerprint(m)) for m, o in zip(done, outcomes, strict=True)],
            )
            store.advance(device_id, done[0].mid - 1, done[-1].mid)
        return outcomes
    except Exception:
        log.warning(
            "sync: a batch of %d from %s goes one by one", len(run), device_id, exc_info=True
        )
        return None


class _Transient(Exception):
    def __init__(self, error: Exception):
        super().__init__(str(error))
        self.error = error


def _decided_before(store: SyncStore, device_id: str, item: Item, last_mid: int) -> Result:
    """The answer for a mid this device's queue has passed: its stored result again, or
    ``mid_reused`` (the new content kept as a stray). It changes no counter, so whatever
    fails here is the store's failure, not this mutation's: it ends the push."""
    stored = store.get_outcome(device_id, item.mid)
    try:
        digest = fingerprint(item)
    except Exception:
        # Content that cannot be fingerprinted (it was decided apply_failed for that):
        # answered as what was decided, never applied again.
        log.warning("sync: no fingerprint for mid %s", item.mid, exc_info=True)
        digest = stored.fingerprint if stored is not None else ""
    decision = decide(item.mid, digest, last_mid, stored)
    if decision.step is Step.DUPLICATE:
        return Result.duplicate(decision.stored)  # type: ignore[arg-type]
    if decision.step is Step.EXPIRED:
        return Result(item.mid, Status.DUPLICATE, reason="outcome_expired")
    _keep(store, lambda kept: store.keep_stray(device_id, kept, "mid_reused"), item)
    return Result.decided(item.mid, _rejected(item, "mid_reused"))


def _decide_one(
    store: SyncStore, device_id: str, item: Item, apply: Apply, limits: Limits
) -> Outcome:
    """Decide, record and advance the next mid ``item`` as one unit; the outcome it was
    decided with. Any failure on the way — computing its fingerprint, recording a refusal,
    applying it — counts against this mid's attempts: the queue always moves on."""
    digest = ""
    try:
        digest = fingerprint(item)
        if isinstance(item, InvalidMutation):
            return _record(store, device_id, item, _rejected(item, item.reason), digest)
        return _apply_one(store, device_id, item, digest, apply)
    except Exception as error:
        attempts = store.note_failure(device_id, item.mid, error)
        if attempts < limits.max_attempts:
            raise _Transient(error) from error
        return _record(store, device_id, item, _rejected(item, "apply_failed"), digest)


def _apply_one(store: SyncStore, device_id: str, item: Mutation, digest: str, apply: Apply):
    try:
        with store.savepoint():
            outcome = apply(item)
            if not isinstance(outcome, Outcome):
                raise TypeError(f"apply returned {outcome!r}, not an Outcome")
            store.record(device_id, item, outcome, digest)
            store.set_last_mid(device_id, item.mid)
        return outcome
    except Refused as refusal:
        if classify_refusal(refusal.reason) is Verdict.REJECTED:
            return _record(store, device_id, item, _rejected(item, refusal.reason), digest)
        with store.savepoint():
            conflict_id = store.open_conflict(device_id, item, refusal)
            outcome = Outcome(
                Status.CONFLICT,
                item.entity_type,
                item.entity_id,
                conflict_id=conflict_id,
                reason=refusal.reason,
            )
            store.record(device_id, item, outcome, digest)
            store.set_last_mid(device_id, item.mid)
        return outcome


def _record(store: SyncStore, device_id: str, item: Item, outcome: Outcome, digest: str):
    def write(kept: Item) -> None:
        store.record(device_id, kept, outcome, digest)
        store.set_last_mid(device_id, kept.mid)

    _keep(store, write, item)
    return outcome


def _keep(store: SyncStore, write: Callable[[Item], None], item: Item) -> None:
    """``write`` the item in a savepoint; if the store cannot hold its payload as it came,
    write it again with the offending characters spelled out (nothing is lost)."""
    try:
        with store.savepoint():
            write(item)
    except Exception:
        safe = dataclasses.replace(item, payload=escape_unsafe(item.payload))
        if safe == item:
            raise
        log.warning("sync: mid %s kept with its payload escaped", item.mid, exc_info=True)
        with store.savepoint():
            write(safe)


def _rejected(item: Item, reason: str) -> Outcome:
    return Outcome(Status.REJECTED, item.entity_type, item.entity_id, reason=reason)
