"""The conflict rules of API.md ("How conflicts are decided") as pure functions.

1. A workflow move legal now is applied, however old its ``base_version``: the engine
   consults ``classify_refusal`` only when the state machine has said no.
2. A move no longer legal is a conflict, its field work kept: ``classify_refusal``.
3. Field edits are three-way: ``merge_fields`` and ``edit_status``.
4. Photos, comments and self-checks are append-only by UUID: ``Family.APPEND`` in
   ``sync.mutation_types``; the services store a UUID once.
5. An edit to something deleted is a conflict: ``check_target`` → ``edit_after_delete``.
6. Device clocks never decide: no function here or in ``sync.ordering`` takes
   ``client_ts``.

``apply`` (the services, behind the engine) raises ``Refused`` when the domain says no; the
engine rolls the mutation back and asks ``classify_refusal`` whether it is a ``conflict``
(the move was right when the phone made it; the world moved on — keep the field work) or
``rejected`` (it was never valid).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any

from sync.outcomes import Status


class Refused(Exception):
    """A domain refusal of one mutation, with a stable ``reason`` code.

    Raised by the ``apply`` function handed to the engine; anything else ``apply`` raises
    is taken for a transient failure.
    """

    def __init__(self, reason: str, message: str = "", errors: Mapping[str, Any] | None = None):
        super().__init__(message or reason)
        self.reason = reason
        self.message = message or reason
        self.errors = dict(errors or {})


# The move was legal when the phone made it and is not now: the field work is evidence.
CONFLICT_REASONS = frozenset(
    {
        "wrong_state",  # the case moved on (e.g. closing a case already closed)
        "task_reassigned",  # the task went to someone else while the phone was offline
        "task_cancelled",
        "task_completed",  # completed by someone else; the same move twice is not this
        "target_closed",
        "already_decided",
        "pending_request",
        "concurrent_change",
        "left_scope",  # the thing left the user's scope while the phone was offline
        "edit_after_delete",
        "field_conflict",  # case.edit: two different values for one field
    }
)

# Never valid: a reason the phone (or its user) can act on; the payload is still kept.
REJECTED_REASONS = frozenset(
    {
        "validation",
        "wrong_role",
        "forbidden",
        "not_in_scope",  # never was the user's to touch (left_scope is the conflict)
        "not_found",  # never existed (a deleted thing is edit_after_delete)
        "unknown_category",
        "ambiguous_category",  # an old code of a component and an event, sent without kind
        "shop_required",  # a self-check of a merchant with several shops names none
        "unknown_action",
        "unknown_request",
        "unknown_type",
        "invalid_entity_id",
        "invalid_base_version",
        "invalid_client_ts",
        "invalid_args",
        "id_reused",  # a phone's UUID already names something with other content
        "mid_reused",
        "apply_failed",  # failed on every attempt; see sync.engine
    }
)
REJECTED_PREFIXES = ("missing_",)  # the workflow's missing_<evidence>


class Verdict(enum.StrEnum):
    CONFLICT = Status.CONFLICT.value
    REJECTED = Status.REJECTED.value


def classify_refusal(reason: str) -> Verdict:
    """Whether a refused mutation is a ``conflict`` or ``rejected`` (rules 1, 2, 5).

    A reason in neither table is a ``conflict``: when unsure, a dispatcher looks at the
    field work rather than the phone being told it may drop it.
    """
    if reason in REJECTED_REASONS or reason.startswith(REJECTED_PREFIXES):
        return Verdict.REJECTED
    return Verdict.CONFLICT


def check_target(*, exists: bool, deleted: bool) -> None:
    """Rule 5 for a mutation on an existing thing: refuse when it is gone.

    ``deleted`` (a tombstone is kept) is ``edit_after_delete``, a conflict; a thing the
    server never had is ``not_found``, rejected.
    """
    if deleted:
        raise Refused("edit_after_delete", "the target was deleted while the phone was offline")
    if not exists:
        raise Refused("not_found", "no such target")


@dataclasses.dataclass(frozen=True)
class FieldConflict:
    server: Any
    base: Any
    new: Any


@dataclasses.dataclass(frozen=True)
class MergeResult:
    applied: dict[str, Any]  # field → new value to write
    conflicts: dict[str, FieldConflict]  # the server value stays until a dispatcher picks
    unchanged: frozenset[str]  # the server already holds the phone's new value

    @property
    def has_conflicts(self) -> bool:
        return bool(self.conflicts)


@dataclasses.dataclass(frozen=True)
class Edit:
    base: Any
    new: Any


def merge_fields(server_values: Mapping[str, Any], edits: Mapping[str, Edit]) -> MergeResult:
    """Rule 3, per field: the three-way merge of a ``case.edit``.

    - server value equals ``new``: nothing to do (both sides made the same change);
    - server value equals ``base``: the field takes ``new``;
    - otherwise: a conflict, with server, base and new all kept.

    ``server_values`` must hold every edited field (a missing one is a programming error).
    """
    applied: dict[str, Any] = {}
    conflicts: dict[str, FieldConflict] = {}
    unchanged: set[str] = set()
    for field, edit in edits.items():
        server = server_values[field]
        if server == edit.new:
            unchanged.add(field)
        elif server == edit.base:
            applied[field] = edit.new
        else:
            conflicts[field] = FieldConflict(server, edit.base, edit.new)
    return MergeResult(applied, conflicts, frozenset(unchanged))


def edits_from_args(args: Mapping[str, Any]) -> dict[str, Edit]:
    """The ``{"fields": {name: {"base", "new"}}}`` of a validated ``case.edit``."""
    return {name: Edit(e["base"], e["new"]) for name, e in args["fields"].items()}


def edit_status(
    merge: MergeResult, *, base_version: int | None, server_version: int | None
) -> Status:
    """The status of a ``case.edit`` after ``merge_fields``.

    ``conflict`` when any field conflicts (the fields that merged are still written);
    ``merged`` when it applied over changes the phone had not seen (the server's version
    moved past ``base_version``, or another side already made one of the changes);
    ``applied`` otherwise. Versions are the server's counters, never clocks.
    """
    if merge.has_conflicts:
        return Status.CONFLICT
    moved_on = base_version is not None and server_version != base_version
    if moved_on or (merge.unchanged and merge.applied):
        return Status.MERGED
    return Status.APPLIED
