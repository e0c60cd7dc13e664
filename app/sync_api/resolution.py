"""A dispatcher resolves a conflict (``app.sync_api.conflicts`` shows its two sides):

- ``keep_server``: the conflict is closed; nothing else changes, the field evidence
  (photos on the case, the payload here) stays.
- ``accept_field``: the field action is made now, through the same services as a push,
  where that is legal now (``ACCEPT_FIELD`` below says what that means per type); when it
  is not, a 409 ``not_applicable_now`` and the conflict stays open.
- ``merge``: a ``case.edit`` field conflict only: per clashing field, the phone's value
  (``field``) or the server's (``server``).

A resolution, its effects and a ``conflict_resolved`` entry in the case's flow log are
committed together or not at all (the services run in a session joined to one
transaction, as a push does). The conflict row is changed through the ORM, so the change
feed sends it to the phone's user.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app.accounts.models import Role, User
from app.cases import services as cases
from app.cases.edits import FieldEdits, edit_case_fields
from app.cases.models import Case, Task
from app.cases.moves import move_on_task
from app.cases.queries import OPEN_TASK_STATES, open_tasks
from app.cases.requests import NewRequest, create_request
from app.cases.task_progress import completion_steps
from app.cases.tasks import ASSIGNEE_ROLES
from app.core import events
from app.core.clock import utcnow
from app.core.errors import Conflict, DomainError, ValidationFailed
from app.photos.backends import Media
from app.sync_api.apply import Applier, photo_refs, refused
from app.sync_api.conflicts import case_of, case_values, conflict_args, get_conflict
from app.sync_api.models import CONFLICT_OPEN, CONFLICT_RESOLVED, SyncConflict, SyncDevice
from app.sync_api.store import begin_push
from sync.conflicts import Edit, Refused
from sync.envelope import Mutation, parse_mutation
from sync.outcomes import Status

DECISIONS = ("accept_field", "keep_server", "merge")
SIDES = ("field", "server")
# What ``accept_field`` does, per mutation type (docs/sync-protocol.md has the table).
ACCEPT_FIELD = {
    "task.update": "complete: the field user's completion is made now on the case's open "
    "task of that kind (the replacement of a reassigned task); request_*: the request is "
    "made now; accept: never (taking a task is no field work to keep)",
    "case.self_handle": "the self-handling request is made now",
    "case.edit": "the phone's value of every clashing field is written, as the dispatcher",
    "report.create": "applied again as the phone sent it",
    "photo.attach": "applied again as the phone sent it",
    "comment.add": "applied again as the phone sent it",
    "selfcheck.create": "applied again as the phone sent it",
}


class NotApplicableNow(Conflict):
    """``accept_field`` on field work the server cannot take now; nothing changed."""

    def __init__(self, message: str, cause: str | None = None):
        errors: dict[str, Any] = {"reason": "not_applicable_now"}
        if cause:
            errors["cause"] = cause
        super().__init__(message, errors)


@dataclasses.dataclass(frozen=True)
class Resolution:
    """A dispatcher's decision on a conflict: one of ``DECISIONS``; for a merge, the side
    kept per clashing field; and the dispatcher's opinion for the case's flow log."""

    decision: str
    fields: Mapping[str, str] | None = None
    opinion: str | None = None


def resolve_conflict(
    session: Session,
    media: Media,
    user: User,
    device_id: str | None,
    conflict_id: str,
    resolution: Resolution,
    *,
    policy: cases.CasePolicy = cases.CasePolicy(),
) -> SyncConflict:
    """A dispatcher decides an open conflict (see the module docstring for the decisions).

    Refusals change nothing: an unknown conflict 404; one resolved already 409
    ``already_resolved``; a decision, or merge ``fields``, that does not fit the conflict
    422; field work the server cannot take now 409 ``not_applicable_now`` (with the
    service's reason as ``cause``); a conflict or case changed meanwhile 409
    ``concurrent_change``.
    """
    decision = resolution.decision
    if decision not in DECISIONS:
        raise ValidationFailed(f"decision is one of {', '.join(DECISIONS)}", {"decision": []})
    conflict = get_conflict(session, conflict_id)
    _still_open(conflict)
    picks = _merge_picks(conflict, decision, resolution.fields)
    opinion = (resolution.opinion or "").strip() or None
    try:
        with _one_transaction(session) as work:
            conflict = work.get(SyncConflict, conflict_id, with_for_update=True)
            _still_open(conflict)  # a concurrent resolution may have won the lock first
            dispatcher = work.get(User, user.id)
            queue = work.get(SyncDevice, conflict.device_pk)
            applied: dict[str, Any] = {}
            if decision == "accept_field":
                applied = _accept_field(work, media, dispatcher, device_id, queue, conflict, policy)
            elif decision == "merge":
                applied = _merge(work, dispatcher, device_id, conflict, picks, policy)
            now = utcnow()
            conflict.status = CONFLICT_RESOLVED
            conflict.resolution = decision
            conflict.resolved_fields = picks
            conflict.resolved_by = dispatcher.id
            conflict.resolved_at = now
            conflict.opinion = opinion
            case = case_of(work, conflict)
            if case is not None:
                case.updated_at = now
                cases.append_flow(
                    work,
                    case,
                    cases.Stamp(dispatcher, device_id, now),
                    "conflict_resolved",
                    case.state,
                    opinion=opinion,
                    data={
                        "conflict_id": conflict.id,
                        "decision": decision,
                        "fields": picks,
                        "type": conflict.type,
                        "reason": conflict.reason,
                        "mid": conflict.mid,
                        "device_id": queue.device_id,
                        "field_user_id": queue.user_id,
                        "applied": applied,
                    },
                )
            work.flush()
    except (StaleDataError, sa.exc.IntegrityError) as error:
        raise Conflict(
            "the conflict or its case changed while it was resolved; reload it",
            {"reason": "concurrent_change"},
        ) from error
    # Read again: the request's session still holds the row as it was before.
    return session.get(SyncConflict, conflict_id, populate_existing=True)


def _still_open(conflict: SyncConflict) -> None:
    if conflict.status != CONFLICT_OPEN:
        raise Conflict(
            f"conflict {conflict.id} was already resolved ({conflict.resolution})",
            {"reason": "already_resolved"},
        )


@contextlib.contextmanager
def _one_transaction(session: Session) -> Iterator[Session]:
    """A session whose services' commits are savepoints of one transaction, committed at
    the end (as a push's): a move applied for the field and the resolution that made it
    land together, or not at all. Signals wait for that commit."""
    connection = session.connection()
    begin_push(connection)  # on SQLite: the real BEGIN (and the write lock) first
    work = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    with events.deferred() as announcements:
        try:
            yield work
            work.commit()
            work.close()
        except BaseException:
            work.close()  # first: its savepoint lives inside the transaction rolled back next
            session.rollback()
            raise
        session.commit()
    events.release(announcements)


def _merge_picks(
    conflict: SyncConflict, decision: str, fields: Mapping[str, str] | None
) -> dict[str, str] | None:
    """The side kept per clashing field of a merge; None for the other decisions."""
    if decision != "merge":
        if fields:
            raise ValidationFailed(
                "fields are picked only in a merge", {"fields": ["only with decision merge"]}
            )
        return None
    if conflict.type != "case.edit" or conflict.reason != "field_conflict":
        raise ValidationFailed(
            "only a field-edit conflict is merged; accept the field action or keep the server's",
            {"reason": "merge_not_applicable", "decision": ["merge needs a field_conflict"]},
        )
    clashing = sorted(_clashing_fields(conflict))
    fields = dict(fields or {})
    problems: dict[str, list[str]] = {}
    for name in clashing:
        if name not in fields:
            problems[name] = ["required: field or server"]
    for name, side in fields.items():
        if name not in clashing:
            problems[name] = [f"not a clashing field of this conflict ({', '.join(clashing)})"]
        elif side not in SIDES:
            problems[name] = ["field or server"]
    if problems:
        raise ValidationFailed("pick field or server for each clashing field", {"fields": problems})
    return {name: fields[name] for name in clashing}


def _clashing_fields(conflict: SyncConflict) -> set[str]:
    """The fields both sides changed: those the edit service listed with both values, or
    (for a record without them) every field the phone edited."""
    listed = (conflict.errors or {}).get("fields")
    if isinstance(listed, dict) and listed:
        return set(listed)
    edited = conflict_args(conflict).get("fields")
    return set(edited) if isinstance(edited, dict) else set()


# -- accept_field and merge ----------------------------------------------------------------


def _accept_field(
    work: Session,
    media: Media,
    dispatcher: User,
    device_id: str | None,
    queue: SyncDevice,
    conflict: SyncConflict,
    policy: cases.CasePolicy,
) -> dict[str, Any]:
    """Make the field action now; ``NotApplicableNow`` when the server cannot take it."""
    if conflict.type == "case.edit":
        if conflict.reason != "field_conflict":
            raise NotApplicableNow(
                f"the edit was refused for {conflict.reason}; there is nothing to write now",
                conflict.reason,
            )
        picks = {name: "field" for name in _clashing_fields(conflict)}
        return _merge(work, dispatcher, device_id, conflict, picks, policy)
    field_user = work.get(User, queue.user_id)
    mutation = _mutation(conflict)
    try:
        if conflict.type == "task.update":
            return _accept_task_update(work, media, field_user, queue, mutation, policy)
        outcome = Applier(work, media, field_user, queue.device_id, policy)(mutation)
    except Refused as refusal:
        raise NotApplicableNow(
            f"the field action cannot be made now: {refusal.message}", refusal.reason
        ) from refusal
    if outcome.status not in (Status.APPLIED, Status.MERGED):
        raise NotApplicableNow(
            f"the field action cannot be made now ({outcome.reason})", outcome.reason
        )
    return {"entity_type": outcome.entity_type, "entity_id": str(outcome.entity_id)}


def _mutation(conflict: SyncConflict) -> Mutation:
    """The mutation as the phone sent it, read again with the push's own parser."""
    item = parse_mutation(conflict.payload)
    if not isinstance(item, Mutation):
        raise NotApplicableNow(f"the stored mutation no longer reads: {item.reason}", item.reason)
    return item


def _accept_task_update(
    work: Session,
    media: Media,
    field_user: User,
    queue: SyncDevice,
    mutation: Mutation,
    policy: cases.CasePolicy,
) -> dict[str, Any]:
    """A task's progress made now, for the field user, on the task of that kind the case
    has open now (the replacement of a reassigned task, or the task itself)."""
    args = mutation.args
    action = args["action"]
    task = work.get(Task, mutation.entity_id)
    if task is None:
        raise NotApplicableNow(f"task {mutation.entity_id} does not exist", "not_found")
    case = work.get(Case, task.case_id)
    photos = photo_refs(args.get("photos"))
    try:
        if action.startswith("request_"):
            kind = action.removeprefix("request_")
            amount = args.get("extension_amount")
            if kind == "extension" and amount is None:
                amount = cases.default_extension(work, case)
            request = create_request(
                work,
                media,
                field_user,
                queue.device_id,
                case.id,
                NewRequest(kind, reason=args.get("note"), extension_amount=amount, photos=photos),
            )
            return {"request_id": str(request.id), "kind": kind}
        if action != "complete":
            raise NotApplicableNow(
                f"{action} carries no field work to keep: the task is someone else's now",
                "nothing_to_apply",
            )
        current = _open_task_for(work, case, task, field_user)
        steps = completion_steps(case, current, args.get("result"))
        move_on_task(
            work,
            media,
            field_user,
            queue.device_id,
            current,
            steps,
            cases.MoveArgs(opinion=args.get("note"), result=args.get("result"), photos=photos),
            policy=policy,
        )
    except NotApplicableNow:
        raise
    except DomainError as error:
        refusal = refused(error)
        raise NotApplicableNow(
            f"the field action cannot be made now: {refusal.message}", refusal.reason
        ) from error
    return {"task_id": str(current.id), "steps": [str(step) for step in steps]}


def _open_task_for(work: Session, case: Case, task: Task, field_user: User) -> Task:
    """The open task of ``task``'s kind that the field user's work can complete now."""
    if task.state in OPEN_TASK_STATES:
        current = task
    else:
        current = next((t for t in work.scalars(open_tasks(case.id)) if t.kind == task.kind), None)
    if current is None:
        raise NotApplicableNow(
            f"case {case.number} has no open {task.kind} task now", "no_open_task"
        )
    eligible = {
        "handle": field_user.role == Role.HANDLER
        and current.department_id == field_user.org_unit_id,
        "rectify": current.assignee_id == field_user.id,
    }.get(current.kind, field_user.role in ASSIGNEE_ROLES.get(current.kind, ()))
    if not eligible:
        raise NotApplicableNow(
            f"user {field_user.username} cannot do the {current.kind} task of case {case.number}",
            "not_eligible",
        )
    return current


def _merge(
    work: Session,
    dispatcher: User,
    device_id: str | None,
    conflict: SyncConflict,
    picks: Mapping[str, str] | None,
    policy: cases.CasePolicy,
) -> dict[str, Any]:
    """Write the phone's value of each field picked ``field``, as the dispatcher's own edit
    of the case (the server's value now as ``base``, so exactly those fields change)."""
    chosen = sorted(name for name, side in (picks or {}).items() if side == "field")
    if not chosen:
        return {"written": []}
    edited = conflict_args(conflict).get("fields") or {}
    case = work.get(Case, conflict.entity_id)
    if case is None:
        raise NotApplicableNow(f"case {conflict.entity_id} does not exist", "not_found")
    now_values = case_values(work, case)
    edits = {name: Edit(now_values.get(name), edited[name]["new"]) for name in chosen}
    try:
        done = edit_case_fields(
            work, dispatcher, device_id, case.id, FieldEdits(edits), policy=policy
        )
    except DomainError as error:
        refusal = refused(error)
        raise NotApplicableNow(
            f"the phone's values cannot be written now: {refusal.message}", refusal.reason
        ) from error
    return {"written": sorted(done.changed)}
