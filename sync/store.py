"""The storage the engine needs, as an interface the app implements with SQLAlchemy.

The engine runs inside one outer transaction that the caller opens and commits (the
HTTP layer: one per push). Every method acts within that transaction; none commits.

A queue is one user's on one device: ``lock_device(device_id, user)`` opens it, and every
later call of the same transaction that names ``device_id`` (``get_outcome``, ``record``,
``set_last_mid``, ``open_conflict``, ``keep_stray``, ``note_failure``) acts on that
user's queue. Two users signing in on one shared phone each have their own mids.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from sync.conflicts import Refused
from sync.envelope import Item, Mutation
from sync.outcomes import Outcome, StoredOutcome


class Actor(Protocol):
    """The authenticated user pushing; only its id matters to the engine."""

    @property
    def id(self) -> Any: ...


@dataclasses.dataclass(frozen=True)
class DeviceState:
    device_id: str
    owner_id: Any  # the user whose queue on the device this is
    last_mid: int  # 0 before the first mutation


class SyncStore(Protocol):
    def lock_device(self, device_id: str, user: Actor) -> DeviceState:
        """``user``'s queue on the device, locked until the transaction ends (created with
        ``last_mid`` 0 on first sight); the queue the rest of the transaction acts on.

        One queue at a time, never a global lock: on PostgreSQL ``SELECT … FOR UPDATE``
        of that one row (after an ``INSERT … ON CONFLICT DO NOTHING``); pushes from other
        devices, and of other users of the same device, proceed in parallel.
        """
        ...

    def get_device_state(self, device_id: str, user: Actor) -> DeviceState | None:
        """``user``'s queue on the device without locking (for pull's ``last_mid`` and
        health views); None before its first push."""
        ...

    def get_outcome(self, device_id: str, mid: int) -> StoredOutcome | None:
        """The recorded outcome of ``mid``, or None if never recorded or pruned."""
        ...

    def record(self, device_id: str, item: Item, outcome: Outcome, fingerprint: str) -> None:
        """Keep the decided outcome with the mutation's payload.

        Must rest on a unique constraint on ``(device_id, mid)``: a second record for one
        mid is an error, never a second row.
        """
        ...

    def set_last_mid(self, device_id: str, mid: int) -> None:
        """Advance the device's counter (always by one, to ``mid``)."""
        ...

    def record_many(self, device_id: str, decided: Sequence[tuple[Item, Outcome, str]]) -> None:
        """``record`` for each ``(item, outcome, fingerprint)``, in one go."""
        ...

    def advance(self, device_id: str, from_mid: int, to_mid: int) -> None:
        """Move the device's counter from ``from_mid`` to ``to_mid`` (the mids between
        were just recorded); an error if it is not at ``from_mid``."""
        ...

    def savepoint(self) -> AbstractContextManager[None]:
        """A nested transaction: released on normal exit, rolled back if the block raises
        (and the exception re-raised)."""
        ...

    def open_conflict(self, device_id: str, mutation: Mutation, refusal: Refused) -> str:
        """Keep a refused-but-valid mutation as field evidence (its note and photos on
        the case) and open a conflict record for a dispatcher; its id."""
        ...

    def keep_stray(self, device_id: str, item: Item, reason: str) -> None:
        """Keep the payload of a mutation that gets no outcome record of its own (a
        ``mid_reused`` re-send), so nothing a phone sent is lost unseen."""
        ...

    def note_failure(self, device_id: str, mid: int, error: BaseException) -> int:
        """Count one more failed attempt at ``mid`` (kept when the caller commits the
        prefix of the batch); the number of attempts so far."""
        ...
