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
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

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

DEFAULT_MAX_ATTEMPTS = 5


@dataclasses.dataclass(frozen=True)
class Limits:
    max_batch: int = DEFAULT_MAX_BATCH
    max_attempts: int = DEFAULT_MAX_ATTEMPTS  # failed pushes of one mid before apply_failed


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
    results: list[Result] = []
    for position, item in enumerate(batch.items):
        digest = fingerprint(item)
        stored = store.get_outcome(device_id, item.mid) if item.mid <= last_mid else None
        decision = decide(item.mid, digest, last_mid, stored)
        if decision.step is Step.GAP:
            # Nothing from here on is applied; every later mid waits for the same one.
            rest = batch.items[position:]
            results.extend(Result.gap(later.mid, last_mid + 1) for later in rest)
            break
        if decision.step is Step.DUPLICATE:
            results.append(Result.duplicate(decision.stored))  # type: ignore[arg-type]
        elif decision.step is Step.EXPIRED:
            results.append(Result(item.mid, Status.DUPLICATE, reason="outcome_expired"))
        elif decision.step is Step.MID_REUSED:
            store.keep_stray(device_id, item, "mid_reused")
            results.append(Result.decided(item.mid, _rejected(item, "mid_reused")))
        else:
            try:
                outcome = _decide_one(store, device_id, item, digest, apply, limits)
            except _Transient as failure:
                prefix = PushResult(last_mid, tuple(results))
                raise PushInterrupted(item.mid, prefix) from failure.error
            last_mid = item.mid
            results.append(Result.decided(item.mid, outcome))
    return PushResult(last_mid, tuple(results))


class _Transient(Exception):
    def __init__(self, error: Exception):
        super().__init__(str(error))
        self.error = error


def _decide_one(
    store: SyncStore, device_id: str, item: Item, digest: str, apply: Apply, limits: Limits
) -> Outcome:
    """Decide, record and advance ``item`` as one unit; the outcome it was decided with."""
    if isinstance(item, InvalidMutation):
        return _record(store, device_id, item, _rejected(item, item.reason), digest)
    try:
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
    with store.savepoint():
        store.record(device_id, item, outcome, digest)
        store.set_last_mid(device_id, item.mid)
    return outcome


def _rejected(item: Item, reason: str) -> Outcome:
    return Outcome(Status.REJECTED, item.entity_type, item.entity_id, reason=reason)
