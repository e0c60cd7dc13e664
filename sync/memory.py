"""An in-memory ``SyncStore``: the engine's test double, and the reference client's.

Transactions and savepoints are snapshots of the whole store, so a rollback undoes every
write made since — the engine's records and whatever a test double of the domain keeps in
``data``. A queue is one user's on one device, keyed ``(user id, device_id)``; its lock
(``threading.Lock``) is held until the transaction ends, as a row lock would be; but
snapshots make transactions of one store unsafe to run in parallel, so concurrent tests use
one thread per store or one device per lock test.
"""

from __future__ import annotations

import copy
import dataclasses
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sync.conflicts import Refused
from sync.envelope import Item, Mutation
from sync.outcomes import Outcome, StoredOutcome
from sync.store import Actor, DeviceState


class DuplicateRecord(Exception):
    """A second outcome for one ``(device, mid)``: the unique constraint of the real store."""


@dataclasses.dataclass(frozen=True)
class Recorded:
    device_id: str
    item: Item
    outcome: Outcome
    fingerprint: str


@dataclasses.dataclass(frozen=True)
class ConflictRecord:
    conflict_id: str
    device_id: str
    mutation: Mutation
    reason: str
    errors: dict[str, Any]


Queue = tuple[Any, str]  # (user id, device_id)


@dataclasses.dataclass
class _State:
    devices: dict[Queue, DeviceState] = dataclasses.field(default_factory=dict)
    recorded: dict[tuple[Queue, int], Recorded] = dataclasses.field(default_factory=dict)
    conflicts: dict[str, ConflictRecord] = dataclasses.field(default_factory=dict)
    strays: list[tuple[str, Item, str]] = dataclasses.field(default_factory=list)
    failures: dict[tuple[Queue, int], int] = dataclasses.field(default_factory=dict)
    # Everything committed, in commit order: ("record", device_id, mid) from the engine and
    # whatever a domain double adds with ``log``. A commit-ordered feed, as pull needs.
    history: list[tuple] = dataclasses.field(default_factory=list)
    data: dict[str, Any] = dataclasses.field(default_factory=dict)


class MemoryStore:
    def __init__(self) -> None:
        self._state = _State()
        self._guard = threading.Lock()
        self._device_locks: dict[Queue, threading.Lock] = {}
        self._held = threading.local()

    # -- transactions, as the caller of ``sync.engine.push`` sees them ----------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Commit on normal exit; on an exception roll everything back and re-raise."""
        if getattr(self._held, "locks", None) is not None:
            raise RuntimeError("a transaction is already open in this thread")
        self._held.locks = []
        self._held.queues = {}  # device_id → the queue lock_device opened in this transaction
        try:
            with self.savepoint():
                yield
        finally:
            for lock in reversed(self._held.locks):
                lock.release()
            self._held.locks = None
            self._held.queues = None

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        snapshot = copy.deepcopy(self._state)
        try:
            yield
        except BaseException:
            self._state = snapshot
            raise

    # -- SyncStore -------------------------------------------------------------------------

    def lock_device(self, device_id: str, user: Actor) -> DeviceState:
        held = getattr(self._held, "locks", None)
        if held is None:
            raise RuntimeError("lock_device outside a transaction")
        queue = (user.id, device_id)
        with self._guard:
            lock = self._device_locks.setdefault(queue, threading.Lock())
        if lock not in held:
            lock.acquire()
            held.append(lock)
        self._held.queues[device_id] = queue
        state = self._state.devices.get(queue)
        if state is None:
            state = DeviceState(device_id, user.id, 0)
            self._state.devices[queue] = state
        return state

    def get_device_state(self, device_id: str, user: Actor) -> DeviceState | None:
        return self._state.devices.get((user.id, device_id))

    def get_outcome(self, device_id: str, mid: int) -> StoredOutcome | None:
        kept = self._state.recorded.get((self._queue(device_id), mid))
        return StoredOutcome(mid, kept.fingerprint, kept.outcome) if kept else None

    def record(self, device_id: str, item: Item, outcome: Outcome, fingerprint: str) -> None:
        key = (self._queue(device_id), item.mid)
        if key in self._state.recorded:
            raise DuplicateRecord(f"mid {item.mid} of {device_id} is already recorded")
        self._state.recorded[key] = Recorded(device_id, item, outcome, fingerprint)
        self._state.history.append(("record", device_id, item.mid))

    def set_last_mid(self, device_id: str, mid: int) -> None:
        queue = self._queue(device_id)
        state = self._state.devices[queue]
        if mid != state.last_mid + 1:
            raise ValueError(f"last_mid of {device_id} goes {state.last_mid} → {mid}")
        self._state.devices[queue] = dataclasses.replace(state, last_mid=mid)

    def record_many(self, device_id: str, decided) -> None:
        for item, outcome, fingerprint in decided:
            self.record(device_id, item, outcome, fingerprint)

    def advance(self, device_id: str, from_mid: int, to_mid: int) -> None:
        queue = self._queue(device_id)
        state = self._state.devices[queue]
        if state.last_mid != from_mid or to_mid < from_mid:
            raise ValueError(f"last_mid of {device_id} is {state.last_mid}, not {from_mid}")
        self._state.devices[queue] = dataclasses.replace(state, last_mid=to_mid)

    def open_conflict(self, device_id: str, mutation: Mutation, refusal: Refused) -> str:
        conflict_id = f"conflict-{len(self._state.conflicts) + 1}"
        self._state.conflicts[conflict_id] = ConflictRecord(
            conflict_id, device_id, mutation, refusal.reason, dict(refusal.errors)
        )
        return conflict_id

    def keep_stray(self, device_id: str, item: Item, reason: str) -> None:
        self._state.strays.append((device_id, item, reason))

    def note_failure(self, device_id: str, mid: int, error: BaseException) -> int:
        key = (self._queue(device_id), mid)
        self._state.failures[key] = self._state.failures.get(key, 0) + 1
        return self._state.failures[key]

    # -- for tests and domain doubles ------------------------------------------------------

    @property
    def data(self) -> dict[str, Any]:
        """Room for a domain double's state, rolled back with everything else."""
        return self._state.data

    def log(self, event: tuple) -> None:
        """Append a domain event to ``history`` (e.g. a dispatcher's action)."""
        self._state.history.append(event)

    @property
    def history(self) -> list[tuple]:
        return list(self._state.history)

    def recorded(self, device_id: str, user: Actor | None = None) -> list[Recorded]:
        """The device's decided mutations (of ``user``'s queue, or of every queue on the
        device) in mid order."""
        found = [
            (owner, r)
            for ((owner, device), _), r in self._state.recorded.items()
            if device == device_id and (user is None or owner == user.id)
        ]
        return [r for _, r in sorted(found, key=lambda pair: (pair[1].item.mid, str(pair[0])))]

    @property
    def conflicts(self) -> dict[str, ConflictRecord]:
        return dict(self._state.conflicts)

    @property
    def strays(self) -> list[tuple[str, Item, str]]:
        return list(self._state.strays)

    def forget_outcomes(self, device_id: str, up_to_mid: int) -> None:
        """Prune outcomes of every queue on the device as retention would (the counters
        stay)."""
        for key in [k for k in self._state.recorded if k[0][1] == device_id and k[1] <= up_to_mid]:
            del self._state.recorded[key]

    def _queue(self, device_id: str) -> Queue:
        queues = getattr(self._held, "queues", None)
        if not queues or device_id not in queues:
            raise RuntimeError(f"no queue of {device_id} is locked in this transaction")
        return queues[device_id]
