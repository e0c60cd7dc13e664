"""Conflicts in front of a dispatcher: each with both sides.

A conflict is field work that could not be applied as meant (``sync.conflicts``). A
dispatcher sees both sides — what the phone sent, with its photos, and the thing as the
server has it now — and resolves it (``app.sync_api.resolution``).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.cases.models import Case, Task
from app.cases.queries import open_tasks
from app.categories.models import Category
from app.core.errors import NotFound
from app.photos.models import Blob, Photo, PhotoStatus
from app.sync_api.models import CONFLICT_RESOLVED, SyncConflict, SyncDevice
from app.sync_api.queues import queues_by_pk, user_view, users_by_id


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
    queues = queues_by_pk(session, {c.device_pk for c in conflicts})
    users = users_by_id(
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
                "user": user_view(users.get(queue.user_id)),
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


def conflict_args(conflict: SyncConflict) -> dict:
    """The mutation's args as the phone sent them ({} when they are not an object)."""
    args = (conflict.payload or {}).get("args")
    return args if isinstance(args, dict) else {}


def _photo_ids(conflict: SyncConflict) -> list[uuid.UUID]:
    found = []
    for ref in _field_photo_refs(conflict):
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            found.append(uuid.UUID(str(ref.get("photo_id"))))
    return found


def _field_photo_refs(conflict: SyncConflict) -> list[dict]:
    args = conflict_args(conflict)
    if conflict.type == "photo.attach":
        return [{"photo_id": str(conflict.entity_id), **args}]
    photos = args.get("photos")
    return [p for p in photos if isinstance(p, dict)] if isinstance(photos, list) else []


def _field_side(conflict: SyncConflict, photos: Mapping[uuid.UUID, dict]) -> dict:
    args = conflict_args(conflict)
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
    case = case_of(session, conflict, task)
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
            edited = conflict_args(conflict).get("fields")
            values = case_values(session, case)
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


def case_values(session: Session, case: Case) -> dict[str, Any]:
    """The editable fields of a case as a ``case.edit`` names them."""
    category = session.get(Category, case.category_id)
    return {
        "description": case.description,
        "address": case.address,
        "location": {"lat": case.lat, "lon": case.lon},
        "category_code": category.code if category else None,
    }


def case_of(session: Session, conflict: SyncConflict, task: Task | None = None) -> Case | None:
    """The case the field work is about: the case itself, a task's, or the case a photo
    or comment was sent to; None for a self-check."""
    if conflict.entity_type == "case":
        return session.get(Case, conflict.entity_id)
    if conflict.entity_type == "task":
        task = task or session.get(Task, conflict.entity_id)
        return session.get(Case, task.case_id) if task else None
    args = conflict_args(conflict)
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        if args.get("case_id"):
            return session.get(Case, uuid.UUID(str(args["case_id"])))
        if args.get("task_id"):
            task = session.get(Task, uuid.UUID(str(args["task_id"])))
            return session.get(Case, task.case_id) if task else None
    return None


def _resolution_view(conflict: SyncConflict, users: Mapping[int, User]) -> dict | None:
    if conflict.status != CONFLICT_RESOLVED:
        return None
    return {
        "decision": conflict.resolution,
        "fields": conflict.resolved_fields,
        "by": user_view(users.get(conflict.resolved_by)),
        "at": conflict.resolved_at,
        "opinion": conflict.opinion,
    }
