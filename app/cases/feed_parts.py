"""What a phone keeps with a case in the change feed: its tasks, its photos (and the user's
own still waiting for bytes) and its comments (see ``app.cases.feed``)."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.cases import queries, tasks
from app.cases.feed_case import case_audience, recent_case, sees_every_case
from app.cases.models import Case, CaseComment, CasePhoto, Task
from app.feed.capture import mention, old_and_new, old_values
from app.feed.queries import ids_after, iso, kept_since
from app.feed.registry import keys
from app.photos.models import Photo

HIDDEN_TASK_STATES = ("cancelled", "reassigned")


# ---- tasks ------------------------------------------------------------------------------


def task_audience(connection: sa.Connection, ids: list[str]) -> dict[str, set[str]]:
    """A task's assignee and department."""
    table = Task.__table__
    rows = connection.execute(
        sa.select(table.c.id, table.c.assignee_id, table.c.department_id).where(
            table.c.id.in_([uuid.UUID(i) for i in ids])
        )
    )
    return {str(r.id): keys(("u", r.assignee_id), ("d", r.department_id)) for r in rows}


def task_changed(task: Task, deleted: bool) -> list:
    """The task, and its case: the case's audience follows its tasks (``visible_to`` counts
    them), so a new task or a new assignee brings the case, and its photos, to someone who
    did not see it."""

    def before(name: str) -> list:
        return [getattr(task, name)] if deleted else old_values(task, name)

    old = [f"u:{v}" for v in before("assignee_id")] + [f"d:{v}" for v in before("department_id")]
    gained = [] if deleted else old_and_new(task, "assignee_id")
    gained_departments = [] if deleted else old_and_new(task, "department_id")
    # Its people now too: a task reassigned away before they acted takes the case from them
    # (``queries.counts_for_its_people``), and they must hear of it to drop it.
    now = (
        []
        if deleted
        else [
            f"{prefix}:{value}"
            for prefix, value in (("u", task.assignee_id), ("d", task.department_id))
            if value is not None
        ]
    )
    moved = {*old, *now, *(f"u:{v}" for v in gained), *(f"d:{v}" for v in gained_departments)}
    return mention("task", task.id, *old) + mention("case", task.case_id, *sorted(moved))


def task_visible(session: Session, user: User, ids: list) -> set:
    """The tasks on ``user``'s phone, those cancelled or handed on aside."""
    stmt = tasks.tasks_query(user).where(Task.id.in_(ids), Task.state.not_in(HIDDEN_TASK_STATES))
    return set(session.scalars(stmt.with_only_columns(Task.id)))


def task_load(session: Session, ids: list) -> dict:
    """Each task's version and data on the wire."""
    table = Task.__table__
    data = {}
    for row in session.execute(sa.select(table).where(table.c.id.in_(ids))):
        data[row.id] = (
            row.version,
            {
                "id": str(row.id),
                "case_id": str(row.case_id),
                "kind": row.kind,
                "state": row.state,
                "assignee_id": row.assignee_id,
                "department_id": row.department_id,
                "deadline": iso(row.deadline),
                "result": row.result,
                "note": row.note,
                "replaced_by_id": str(row.replaced_by_id) if row.replaced_by_id else None,
                "version": row.version,
                "created_at": iso(row.created_at),
                "accepted_at": iso(row.accepted_at),
                "completed_at": iso(row.completed_at),
            },
        )
    return data


def task_snapshot(session: Session, user: User, after, limit: int, now: dt.datetime) -> list:
    """The user's open tasks, and those completed lately: as with cases, a phone that starts
    afresh must hold what a phone that followed the feed holds (it got their completion as
    an upsert)."""
    stmt = tasks.tasks_query(user).where(
        sa.or_(
            Task.state.in_(queries.OPEN_TASK_STATES),
            sa.and_(Task.state == "completed", Task.completed_at >= kept_since(now)),
        )
    )
    return ids_after(session, stmt.with_only_columns(Task.id), Task.id, after, limit)


# ---- photos -----------------------------------------------------------------------------


def photo_changed(photo: Photo, deleted: bool) -> list:
    return mention("photo", photo.id, f"u:{photo.owner_id}" if deleted else "")


def case_photo_changed(link: CasePhoto, deleted: bool) -> list:
    return mention("case", link.case_id) + mention("photo", link.photo_id)


def photo_audience(connection: sa.Connection, ids: list[str]) -> dict[str, set[str]]:
    """A photo's owner, and the audience of each case it belongs to."""
    uuids = [uuid.UUID(i) for i in ids]
    photos, links = Photo.__table__, CasePhoto.__table__
    found = {
        str(r.id): {f"u:{r.owner_id}"}
        for r in connection.execute(
            sa.select(photos.c.id, photos.c.owner_id).where(photos.c.id.in_(uuids))
        )
    }
    attached: dict[str, list[str]] = {}
    for photo_id, case_id in connection.execute(
        sa.select(links.c.photo_id, links.c.case_id).where(links.c.photo_id.in_(uuids))
    ):
        attached.setdefault(str(case_id), []).append(str(photo_id))
    if attached:
        for case_id, case_keys in case_audience(connection, list(attached)).items():
            for photo_id in attached.get(case_id, ()):
                found.setdefault(photo_id, set()).update(case_keys)
    return found


def photo_visible(session: Session, user: User, ids: list) -> set:
    """A photo is seen by its owner and by whoever may see a case it belongs to."""
    if sees_every_case(user):
        return set(ids)
    own = set(
        session.scalars(sa.select(Photo.id).where(Photo.id.in_(ids), Photo.owner_id == user.id))
    )
    via_cases = set(
        session.scalars(
            sa.select(CasePhoto.photo_id)
            .join(Case, Case.id == CasePhoto.case_id)
            .where(CasePhoto.photo_id.in_(ids), queries.visible_to(user))
        )
    )
    return own | via_cases


def photo_load(session: Session, ids: list) -> dict:
    """Each photo's data on the wire, with the cases it belongs to."""
    table = Photo.__table__
    cases: dict[uuid.UUID, list[str]] = {}
    for photo_id, case_id in session.execute(
        sa.select(CasePhoto.photo_id, CasePhoto.case_id).where(CasePhoto.photo_id.in_(ids))
    ):
        cases.setdefault(photo_id, []).append(str(case_id))
    data = {}
    for row in session.execute(sa.select(table).where(table.c.id.in_(ids))):
        data[row.id] = (
            None,
            {
                "id": str(row.id),
                "sha256": row.sha256,
                "kind": row.kind,
                "status": row.status,
                "owner_id": row.owner_id,
                "case_ids": sorted(cases.get(row.id, [])),
                "client_taken_at": iso(row.client_taken_at),
                "available_at": iso(row.available_at),
            },
        )
    return data


def photo_snapshot(session: Session, user: User, after, limit: int, now: dt.datetime) -> list:
    """The photos of the cases in the snapshot, and the user's own still waiting for bytes."""
    of_cases = (
        sa.select(CasePhoto.photo_id)
        .join(Case, Case.id == CasePhoto.case_id)
        .where(queries.visible_to(user), recent_case(now))
    )
    stmt = sa.select(Photo.id).where(
        sa.or_(
            Photo.id.in_(of_cases), sa.and_(Photo.owner_id == user.id, Photo.status == "pending")
        )
    )
    return ids_after(session, stmt, Photo.id, after, limit)


# ---- comments: append-only --------------------------------------------------------------


def comment_changed(comment: CaseComment, deleted: bool) -> list:
    return mention("comment", comment.id)


def comment_audience(connection: sa.Connection, ids: list[str]) -> dict[str, set[str]]:
    """The audience of the comment's case."""
    table = CaseComment.__table__
    of_case: dict[str, list[str]] = {}
    for comment_id, case_id in connection.execute(
        sa.select(table.c.id, table.c.case_id).where(table.c.id.in_([uuid.UUID(i) for i in ids]))
    ):
        of_case.setdefault(str(case_id), []).append(str(comment_id))
    found: dict[str, set[str]] = {}
    for case_id, case_keys in case_audience(connection, list(of_case)).items():
        for comment_id in of_case.get(case_id, ()):
            found[comment_id] = case_keys
    return found


def comment_visible(session: Session, user: User, ids: list) -> set:
    """A comment is seen by whoever may see its case."""
    return set(
        session.scalars(
            sa.select(CaseComment.id)
            .join(Case, Case.id == CaseComment.case_id)
            .where(CaseComment.id.in_(ids), queries.visible_to(user))
        )
    )


def comment_load(session: Session, ids: list) -> dict:
    """Each comment's data on the wire."""
    table = CaseComment.__table__
    return {
        row.id: (
            None,
            {
                "id": str(row.id),
                "case_id": str(row.case_id),
                "author_id": row.author_id,
                "text": row.text,
                "created_at": iso(row.created_at),
            },
        )
        for row in session.execute(sa.select(table).where(table.c.id.in_(ids)))
    }


def comment_snapshot(session: Session, user: User, after, limit: int, now: dt.datetime) -> list:
    """The comments of the cases in the snapshot."""
    stmt = (
        sa.select(CaseComment.id)
        .join(Case, Case.id == CaseComment.case_id)
        .where(queries.visible_to(user), recent_case(now))
    )
    return ids_after(session, stmt, CaseComment.id, after, limit)
