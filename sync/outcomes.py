"""What a push answers for each mutation, and what the server keeps of it."""

from __future__ import annotations

import dataclasses
import enum
import uuid
from typing import Any


class Status(enum.StrEnum):
    APPLIED = "applied"  # done
    DUPLICATE = "duplicate"  # this mid was decided before: the stored result again
    MERGED = "merged"  # applied, together with changes the phone had not seen
    CONFLICT = "conflict"  # kept as evidence with a conflict record for a dispatcher
    REJECTED = "rejected"  # invalid; the payload is kept, the phone may drop it
    GAP = "gap"  # an earlier mid is missing; nothing from here on was applied


# The statuses a mutation can be decided with once; the others only describe a re-send.
DECIDED = frozenset({Status.APPLIED, Status.MERGED, Status.CONFLICT, Status.REJECTED})


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How one mutation was decided: what ``apply`` returns and what the store records."""

    status: Status
    entity_type: str | None = None
    entity_id: uuid.UUID | None = None
    version: int | None = None
    conflict_id: str | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.status not in DECIDED:
            raise ValueError(f"an outcome is decided, not {self.status.value}")
        if (self.status is Status.CONFLICT) != (self.conflict_id is not None):
            raise ValueError("a conflict, and only a conflict, has a conflict_id")
        if self.status in (Status.CONFLICT, Status.REJECTED) and not self.reason:
            raise ValueError(f"a {self.status.value} outcome needs a reason")


@dataclasses.dataclass(frozen=True)
class StoredOutcome:
    """An outcome as recorded for ``(device, mid)``, with the content it was decided for.

    ``outcome`` is None once retention has forgotten it: the mid and its fingerprint are
    kept for good, so a used mid re-sent with other content is still told apart."""

    mid: int
    fingerprint: str
    outcome: Outcome | None


@dataclasses.dataclass(frozen=True)
class Result:
    """One entry of the push response, in the shape of API.md.

    ``original_status`` (on a ``duplicate``) says how the mid was first decided, so a
    phone whose first answer was lost still learns it; ``expected_mid`` (on a ``gap``)
    is the mid the server waits for, also spelled in ``reason``.
    """

    mid: int
    status: Status
    entity_type: str | None = None
    entity_id: uuid.UUID | None = None
    version: int | None = None
    conflict_id: str | None = None
    reason: str | None = None
    original_status: Status | None = None
    expected_mid: int | None = None

    @classmethod
    def decided(cls, mid: int, outcome: Outcome) -> Result:
        return cls(
            mid,
            outcome.status,
            outcome.entity_type,
            outcome.entity_id,
            outcome.version,
            outcome.conflict_id,
            outcome.reason,
        )

    @classmethod
    def duplicate(cls, stored: StoredOutcome) -> Result:
        first = cls.decided(stored.mid, stored.outcome)
        return dataclasses.replace(
            first, status=Status.DUPLICATE, original_status=stored.outcome.status
        )

    @classmethod
    def gap(cls, mid: int, expected_mid: int) -> Result:
        return cls(mid, Status.GAP, reason=gap_reason(expected_mid), expected_mid=expected_mid)

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "mid": self.mid,
            "status": self.status.value,
            "entity_type": self.entity_type,
            "entity_id": str(self.entity_id) if self.entity_id else None,
            "version": self.version,
            "conflict_id": self.conflict_id,
            "reason": self.reason,
        }
        if self.original_status is not None:
            body["original_status"] = self.original_status.value
        if self.expected_mid is not None:
            body["expected_mid"] = self.expected_mid
        return body


def gap_reason(expected_mid: int) -> str:
    return f"expected_mid:{expected_mid}"


@dataclasses.dataclass(frozen=True)
class PushResult:
    """``complete`` is false when the push's time budget ran out: ``results`` answer a
    prefix of the mutations sent, and the rest are undecided (send them again)."""

    last_mid: int
    results: tuple[Result, ...]
    complete: bool = True

    def as_json(self) -> dict[str, Any]:
        return {
            "last_mid": self.last_mid,
            "results": [r.as_json() for r in self.results],
            "complete": self.complete,
        }
