"""Sync in front of people: conflicts a dispatcher decides, rejected mutations kept with
their reason and payload, each phone queue's health for an admin, and the retention of
the mutation log.

A conflict is field work that could not be applied as meant (``sync.conflicts``). A
dispatcher sees both sides — what the phone sent, with its photos, and the thing as the
server has it now — and resolves it:

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
import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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
from app.cases.tasks import ASSIGNEE_ROLES, HANDLING_TASKS
from app.cases.workflow import Action
from app.categories.models import Category
from app.core import events
from app.core.clock import utcnow
from app.core.db import transaction
from app.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from app.photos.backends import Media
from app.photos.models import Blob, Photo, PhotoStatus
from app.sync_api.apply import Applier, photo_refs, refused
from app.sync_api.models import SyncConflict, SyncDevice, SyncFailure, SyncMutation
from app.sync_api.store import begin_push
from sync.conflicts import Edit, Refused
from sync.envelope import Mutation, parse_mutation
from sync.outcomes import Status

DECISIONS = ("accept_field", "keep_server", "merge")
SIDES = ("field", "server")
OPEN, RESOLVED = "open", "resolved"
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
# Outcomes of applied work; rejected and conflict outcomes are what people must see.
PRUNABLE = ("applied", "duplicate", "merged")
RECENT_MUTATIONS = 20


class NotApplicableNow(Conflict):
    """``accept_field`` on field work the server cannot take now; nothing changed."""

    def __init__(self, message: str, cause: str | None = None):
        errors: dict[str, Any] = {"reason": "not_applicable_now"}
        if cause:
            errors["cause"] = cause
        super().__init__(message, errors)


# ---------------------------------------------------------------------------------------------
# Conflicts


def conflicts_query(
    status: str | None = None, entity_id: uuid.UUID | None = None, device: str | None = None
) -> sa.Select:
    """Conflicts, newest first; by status, by the thing they are about, by phone."""
    stmt = sa.select(SyncConflict)
    if status:
        stmt = stmt.where(SyncConflict.status == status)
    if entity_id:
        stmt = stmt.where(SyncConflict.entity_id == entity_id)
    if device:
        queues = sa.select(SyncDevice.id).where(SyncDevice.device_id == device)
        stmt = stmt.where(SyncConflict.device_pk.in_(queues))
    return stmt.order_by(SyncConflict.created_at.desc(), SyncConflict.id)


def get_conflict(session: Session, conflict_id: str) -> SyncConflict:
    """One conflict, open or resolved; 404 when there is none of that id."""
    conflict = session.get(SyncConflict, conflict_id)
    if conflict is None:
        raise NotFound(f"conflict {conflict_id} does not exist")
    return conflict


def conflict_views(session: Session, conflicts: Sequence[SyncConflict]) -> list[dict]:
    """Each conflict with both sides: the field's (what the phone sent, its photos as they
    are now) and the server's (the case or task it targets, as it is now)."""
    queues = _queues(session, {c.device_pk for c in conflicts})
    users = _users(
        session,
        {queue.user_id for queue in queues.values()} | {c.resolved_by for c in conflicts},
    )
    photos = _photos(session, [ref for c in conflicts for ref in _photo_ids(c)])
    views = []
    for conflict in conflicts:
        queue = queues[conflict.device_pk]
        views.append(
            {
                "id": conflict.id,
                "status": conflict.status,
                "reason": conflict.reason,
                "type": conflict.type,
                "entity_type": conflict.entity_type,
                "entity_id": conflict.entity_id,
                "user": _user_view(users.get(queue.user_id)),
                "device": {"id": queue.id, "device_id": queue.device_id},
                "mid": conflict.mid,
                "client_ts": (conflict.payload or {}).get("client_ts"),
                "created_at": conflict.created_at,
                "errors": conflict.errors or {},
                "field": _field_side(conflict, photos),
                "server": _server_side(session, conflict),
                "resolution": _resolution_view(conflict, users),
                "version": conflict.version,
            }
        )
    return views


def conflict_view(session: Session, conflict: SyncConflict) -> dict:
    """One conflict with both sides (see ``conflict_views``)."""
    return conflict_views(session, [conflict])[0]


def _args(conflict: SyncConflict | SyncMutation) -> dict:
    args = (conflict.payload or {}).get("args")
    return args if isinstance(args, dict) else {}


def _photo_ids(conflict: SyncConflict) -> list[uuid.UUID]:
    found = []
    for ref in _field_photo_refs(conflict):
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            found.append(uuid.UUID(str(ref.get("photo_id"))))
    return found


def _field_photo_refs(conflict: SyncConflict) -> list[dict]:
    args = _args(conflict)
    if conflict.type == "photo.attach":
        return [{"photo_id": str(conflict.entity_id), **args}]
    photos = args.get("photos")
    return [p for p in photos if isinstance(p, dict)] if isinstance(photos, list) else []


def _field_side(conflict: SyncConflict, photos: Mapping[uuid.UUID, dict]) -> dict:
    args = _args(conflict)
    side: dict[str, Any] = {
        "base_version": (conflict.payload or {}).get("base_version"),
        "args": args,
        "note": args.get("note") if isinstance(args.get("note"), str) else None,
        "photos": [],
    }
    for ref in _field_photo_refs(conflict):
        try:
            photo_id = uuid.UUID(str(ref.get("photo_id")))
        except ValueError:
            continue
        known = photos.get(photo_id, {})
        side["photos"].append(
            {
                "photo_id": photo_id,
                "sha256": ref.get("sha256"),
                "kind": ref.get("kind"),
                "status": known.get("status"),
                "thumbnail_url": known.get("thumbnail_url"),
            }
        )
    fields = args.get("fields")
    if conflict.type == "case.edit" and isinstance(fields, dict):
        side["edits"] = {
            name: {"base": edit.get("base"), "new": edit.get("new")}
            for name, edit in fields.items()
            if isinstance(edit, dict)
        }
    return side


def _photos(session: Session, photo_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, dict]:
    """Each photo's status now and, once its thumbnails are made, the smallest one's URL."""
    ids = list(set(photo_ids))
    if not ids:
        return {}
    rows = session.execute(
        sa.select(Photo.id, Photo.status, Blob.thumbnails)
        .outerjoin(Blob, Blob.sha256 == Photo.sha256)
        .where(Photo.id.in_(ids))
    ).all()
    found = {}
    for photo_id, status, thumbnails in rows:
        sizes = sorted(int(size) for size in (thumbnails or {}))
        url = None
        if status == PhotoStatus.AVAILABLE and sizes:
            url = f"/api/v1/photos/{photo_id}/thumbnail?size={sizes[0]}"
        found[photo_id] = {"status": status, "thumbnail_url": url}
    return found


def _server_side(session: Session, conflict: SyncConflict) -> dict:
    """The thing the field work targets, as the server has it now."""
    side: dict[str, Any] = {"task": None, "case": None}
    task = None
    if conflict.entity_type == "task":
        task = session.get(Task, conflict.entity_id)
        side["task"] = _task_view(task) if task else None
    case = _case_of(session, conflict, task)
    if case is not None:
        side["case"] = {
            "id": case.id,
            "number": case.number,
            "state": case.state,
            "version": case.version,
            "department_id": case.department_id,
            "merged_into_id": case.merged_into_id,
            "open_tasks": [_task_view(t) for t in session.scalars(open_tasks(case.id))],
        }
        if conflict.type == "case.edit":
            edited = _args(conflict).get("fields")
            values = _case_values(session, case)
            side["fields"] = {name: values[name] for name in (edited or {}) if name in values}
    return side


def _task_view(task: Task) -> dict:
    return {
        "id": task.id,
        "kind": task.kind,
        "state": task.state,
        "version": task.version,
        "assignee_id": task.assignee_id,
        "department_id": task.department_id,
        "replaced_by_id": task.replaced_by_id,
        "result": task.result,
    }


def _case_values(session: Session, case: Case) -> dict[str, Any]:
    """The editable fields of a case as a ``case.edit`` names them."""
    category = session.get(Category, case.category_id)
    return {
        "description": case.description,
        "address": case.address,
        "location": {"lat": case.lat, "lon": case.lon},
        "category_code": category.code if category else None,
    }


def _case_of(session: Session, conflict: SyncConflict, task: Task | None = None) -> Case | None:
    """The case the field work is about: the case itself, a task's, or the case a photo
    or comment was sent to; None for a self-check."""
    if conflict.entity_type == "case":
        return session.get(Case, conflict.entity_id)
    if conflict.entity_type == "task":
        task = task or session.get(Task, conflict.entity_id)
        return session.get(Case, task.case_id) if task else None
    args = _args(conflict)
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        if args.get("case_id"):
            return session.get(Case, uuid.UUID(str(args["case_id"])))
        if args.get("task_id"):
            task = session.get(Task, uuid.UUID(str(args["task_id"])))
            return session.get(Case, task.case_id) if task else None
    return None


def _resolution_view(conflict: SyncConflict, users: Mapping[int, User]) -> dict | None:
    if conflict.status != RESOLVED:
        return None
    return {
        "decision": conflict.resolution,
        "fields": conflict.resolved_fields,
        "by": _user_view(users.get(conflict.resolved_by)),
        "at": conflict.resolved_at,
        "opinion": conflict.opinion,
    }


def resolve_conflict(
    session: Session,
    media: Media,
    user: User,
    device_id: str | None,
    conflict_id: str,
    *,
    decision: str,
    fields: Mapping[str, str] | None = None,
    opinion: str | None = None,
    policy: cases.CasePolicy = cases.CasePolicy(),
) -> SyncConflict:
    """A dispatcher decides an open conflict (see the module docstring for the decisions).

    Refusals change nothing: an unknown conflict 404; one resolved already 409
    ``already_resolved``; a decision, or merge ``fields``, that does not fit the conflict
    422; field work the server cannot take now 409 ``not_applicable_now`` (with the
    service's reason as ``cause``); a conflict or case changed meanwhile 409
    ``concurrent_change``.
    """
    if decision not in DECISIONS:
        raise ValidationFailed(f"decision is one of {', '.join(DECISIONS)}", {"decision": []})
    conflict = get_conflict(session, conflict_id)
    _still_open(conflict)
    picks = _merge_picks(conflict, decision, fields)
    opinion = (opinion or "").strip() or None
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
            conflict.status = RESOLVED
            conflict.resolution = decision
            conflict.resolved_fields = picks
            conflict.resolved_by = dispatcher.id
            conflict.resolved_at = now
            conflict.opinion = opinion
            case = _case_of(work, conflict)
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
    if conflict.status != OPEN:
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
    edited = _args(conflict).get("fields")
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
        steps = _completion_steps(case, current, args.get("result"))
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


def _completion_steps(case: Case, task: Task, result: str | None) -> list[str]:
    """The workflow moves completing ``task`` means (as ``tasks.update_task``)."""
    if task.kind in HANDLING_TASKS:
        steps = [Action.SUBMIT_CLOSURE]
        if case.state == "dispatched":
            steps.insert(0, Action.ACCEPT)
        return steps
    if result is None:
        raise ValidationFailed(f"completing a {task.kind} task needs its result", {"result": []})
    if task.kind == "verify":
        return [Action.RECORD_VERIFICATION]
    return [Action.CHECK_PASS if result == "pass" else Action.CHECK_FAIL]


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
    edited = _args(conflict).get("fields") or {}
    case = work.get(Case, conflict.entity_id)
    if case is None:
        raise NotApplicableNow(f"case {conflict.entity_id} does not exist", "not_found")
    now_values = _case_values(work, case)
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


# ---------------------------------------------------------------------------------------------
# Rejected mutations


def rejected_query(
    device: str | None = None,
    user: int | None = None,
    reason: str | None = None,
    reviewed: bool | None = None,
) -> sa.Select:
    """Rejected mutations (strays of a re-used mid among them), newest first; ``reviewed``
    False: those no dispatcher has looked at yet."""
    stmt = sa.select(SyncMutation).where(SyncMutation.status == Status.REJECTED.value)
    if reviewed is not None:
        column = SyncMutation.reviewed_at
        stmt = stmt.where(column.is_not(None) if reviewed else column.is_(None))
    if device or user is not None:
        queues = sa.select(SyncDevice.id)
        if device:
            queues = queues.where(SyncDevice.device_id == device)
        if user is not None:
            queues = queues.where(SyncDevice.user_id == user)
        stmt = stmt.where(SyncMutation.device_pk.in_(queues))
    if reason:
        stmt = stmt.where(SyncMutation.reason == reason)
    return stmt.order_by(SyncMutation.created_at.desc(), SyncMutation.id.desc())


def review_rejected(
    session: Session, user: User, mutation_id: int, note: str | None = None
) -> SyncMutation:
    """A dispatcher has looked at a rejected mutation (and says in ``note`` what was done
    about it: the phone's user called, the report filed by hand…). It leaves the list of
    rejects to review and is kept with who reviewed it and when. 404 for anything but a
    rejected mutation; 409 ``already_reviewed`` the second time."""
    with transaction(session):
        row = session.get(SyncMutation, mutation_id, with_for_update=True)
        if row is None or row.status != Status.REJECTED.value:
            raise NotFound(f"no rejected mutation {mutation_id}")
        if row.reviewed_at is not None:
            raise Conflict(
                f"rejected mutation {mutation_id} was reviewed already",
                {"reason": "already_reviewed"},
            )
        row.reviewed_at = utcnow()
        row.reviewed_by = user.id
        row.review_note = (note or "").strip() or None
    return row


def mutation_views(session: Session, rows: Sequence[SyncMutation]) -> list[dict]:
    """Recorded mutations with their phone, user, reason and payload (and, for a reject a
    dispatcher has looked at, the review)."""
    queues = _queues(session, {row.device_pk for row in rows})
    users = _users(
        session,
        {queue.user_id for queue in queues.values()}
        | {row.reviewed_by for row in rows if row.reviewed_by is not None},
    )
    views = []
    for row in rows:
        queue = queues[row.device_pk]
        views.append(
            {
                "id": row.id,
                "mid": row.mid,
                "stray_of": row.stray_of,
                "type": row.type,
                "entity_type": row.entity_type,
                "entity_id": row.entity_id,
                "status": row.status,
                "reason": row.reason,
                "conflict_id": row.conflict_id,
                "payload": row.payload,
                "device": {"id": queue.id, "device_id": queue.device_id},
                "user": _user_view(users.get(queue.user_id)),
                "created_at": row.created_at,
                "review": None
                if row.reviewed_at is None
                else {
                    "by": _user_view(users.get(row.reviewed_by)),
                    "at": row.reviewed_at,
                    "note": row.review_note,
                },
            }
        )
    return views


# ---------------------------------------------------------------------------------------------
# Device health


def devices_query(device: str | None = None, user: int | None = None) -> sa.Select:
    """Phone queues (one per user and phone), the most recently pushed first."""
    stmt = sa.select(SyncDevice)
    if device:
        stmt = stmt.where(SyncDevice.device_id == device)
    if user is not None:
        stmt = stmt.where(SyncDevice.user_id == user)
    return stmt.order_by(
        SyncDevice.last_push_at.desc().nulls_last(), SyncDevice.created_at.desc(), SyncDevice.id
    )


def device_health(session: Session, queues: Sequence[SyncDevice]) -> list[dict]:
    """Each queue's last push and pull, last mid, open conflicts, rejected mutations and
    pending photos. A photo records its owner, not the phone it came from, so pending
    photos are the queue's user's (the same on each phone of that user)."""
    pks = [queue.id for queue in queues]
    user_ids = {queue.user_id for queue in queues}
    users = _users(session, user_ids)
    open_conflicts = _counts(
        session,
        sa.select(SyncConflict.device_pk, sa.func.count())
        .where(SyncConflict.device_pk.in_(pks), SyncConflict.status == OPEN)
        .group_by(SyncConflict.device_pk),
    )
    rejected = _counts(
        session,
        sa.select(SyncMutation.device_pk, sa.func.count())
        .where(SyncMutation.device_pk.in_(pks), SyncMutation.status == Status.REJECTED.value)
        .group_by(SyncMutation.device_pk),
    )
    pending = _counts(
        session,
        sa.select(Photo.owner_id, sa.func.count())
        .where(Photo.owner_id.in_(user_ids), Photo.status == PhotoStatus.PENDING)
        .group_by(Photo.owner_id),
    )
    return [
        {
            "id": queue.id,
            "device_id": queue.device_id,
            "user": _user_view(users.get(queue.user_id)),
            "last_mid": queue.last_mid,
            "last_push_at": queue.last_push_at,
            "last_pull_at": queue.last_pull_at,
            "open_conflicts": open_conflicts.get(queue.id, 0),
            "rejected": rejected.get(queue.id, 0),
            "pending_photos": pending.get(queue.user_id, 0),
            "created_at": queue.created_at,
        }
        for queue in queues
    ]


def device_detail(session: Session, device_pk: int) -> dict:
    """One queue's health with its most recent mutations, the failed attempts of mids not
    yet decided, and its open conflicts."""
    queue = session.get(SyncDevice, device_pk)
    if queue is None:
        raise NotFound(f"sync device {device_pk} does not exist")
    view = device_health(session, [queue])[0]
    recent = session.scalars(
        sa.select(SyncMutation)
        .where(SyncMutation.device_pk == queue.id)
        .order_by(SyncMutation.id.desc())
        .limit(RECENT_MUTATIONS)
    ).all()
    view["recent_mutations"] = mutation_views(session, recent)
    view["failures"] = [
        {
            "mid": failure.mid,
            "attempts": failure.attempts,
            "last_error": failure.last_error,
            "last_failed_at": failure.last_failed_at,
        }
        for failure in session.scalars(
            sa.select(SyncFailure)
            .where(SyncFailure.device_pk == queue.id, SyncFailure.mid > queue.last_mid)
            .order_by(SyncFailure.mid)
        )
    ]
    view["open_conflict_ids"] = list(
        session.scalars(
            sa.select(SyncConflict.id)
            .where(SyncConflict.device_pk == queue.id, SyncConflict.status == OPEN)
            .order_by(SyncConflict.created_at)
        )
    )
    return view


# ---------------------------------------------------------------------------------------------
# Retention


@dataclasses.dataclass(frozen=True)
class Pruned:
    """What ``prune_mutations`` deleted, and what it kept past the cut-off for people."""

    cutoff: dt.datetime
    mutations: int
    failures: int
    kept_rejected: int
    kept_open_conflicts: int


def prune_mutations(
    session: Session,
    now: dt.datetime,
    retention: dt.timedelta,
    *,
    batch_size: int = 1000,
    on_progress: Callable[[int], None] | None = None,
) -> Pruned:
    """Forget the outcomes of mutations decided more than ``retention`` before ``now``.

    Deleted: outcomes of applied work (``applied``, ``duplicate``, ``merged``) and of
    conflicts a dispatcher has resolved (the conflict record keeps the payload), and the
    failed-attempt counts of mids decided since. Kept, whatever their age: rejected
    mutations and strays (nobody marks them seen yet, and the phone may have dropped
    them: this is their only copy) and outcomes of conflicts still open. A mid re-sent
    after its outcome is gone is answered ``duplicate``, reason ``outcome_expired``: the
    queue's ``last_mid`` stays. Deletes in batches of ``batch_size``, one transaction each,
    so a long prune holds no lock for long; ``on_progress`` gets the running total.
    """
    cutoff = now - retention
    resolved = sa.select(SyncConflict.id).where(SyncConflict.status == RESOLVED)
    old = SyncMutation.created_at < cutoff
    prunable = sa.and_(
        old,
        SyncMutation.mid.is_not(None),
        sa.or_(
            SyncMutation.status.in_(PRUNABLE),
            sa.and_(
                SyncMutation.status == Status.CONFLICT.value,
                SyncMutation.conflict_id.in_(resolved),
            ),
        ),
    )
    deleted = 0
    while True:
        with transaction(session):
            ids = session.scalars(
                sa.select(SyncMutation.id)
                .where(prunable)
                .order_by(SyncMutation.id)
                .limit(batch_size)
            ).all()
            if ids:
                session.execute(
                    sa.delete(SyncMutation).where(SyncMutation.id.in_(ids)),
                    execution_options={"synchronize_session": False},
                )
        if not ids:
            break
        deleted += len(ids)
        if on_progress is not None:
            on_progress(deleted)
    decided = (
        sa.select(SyncDevice.last_mid)
        .where(SyncDevice.id == SyncFailure.device_pk)
        .scalar_subquery()
    )
    with transaction(session):
        failures = session.execute(
            sa.delete(SyncFailure).where(
                SyncFailure.last_failed_at < cutoff, SyncFailure.mid <= decided
            ),
            execution_options={"synchronize_session": False},
        ).rowcount
        kept_rejected = session.scalar(
            sa.select(sa.func.count())
            .select_from(SyncMutation)
            .where(old, SyncMutation.status == Status.REJECTED.value)
        )
        kept_open = session.scalar(
            sa.select(sa.func.count())
            .select_from(SyncMutation)
            .where(old, SyncMutation.status == Status.CONFLICT.value)
        )
    return Pruned(cutoff, deleted, failures, kept_rejected, kept_open)


# ---------------------------------------------------------------------------------------------
# Helpers


def _queues(session: Session, pks: Iterable[int]) -> dict[int, SyncDevice]:
    pks = list(set(pks))
    if not pks:
        return {}
    return {q.id: q for q in session.scalars(sa.select(SyncDevice).where(SyncDevice.id.in_(pks)))}


def _users(session: Session, ids: Iterable[int | None]) -> dict[int, User]:
    ids = [i for i in set(ids) if i is not None]
    if not ids:
        return {}
    return {u.id: u for u in session.scalars(sa.select(User).where(User.id.in_(ids)))}


def _user_view(user: User | None) -> dict | None:
    if user is None:
        return None
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
    }


def _counts(session: Session, stmt: sa.Select) -> dict[Any, int]:
    return {key: count for key, count in session.execute(stmt)}
