"""What the feed carries, and to whom: each kind of thing phones keep, its audience keys,
who may see it now, its data on the wire and what a snapshot of a user's scope holds.

Audience keys are coarse and generous: ``u:<user>``, ``g:<unit grid>``, ``s:<street>``,
``r:<road>``, ``h:<shop>``, ``d:<department>`` and ``*`` (everyone: reference data). A
change is filed under the keys its thing has now *and* had before the change, so whoever
saw it before hears of it (and gets a ``revoke`` if they may not see it any more). What a
user finally gets is decided at pull by the same visibility rules as the REST API
(``app.cases.queries.visible_to`` and friends): keys only narrow the search.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterable

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, attributes

from app.accounts.models import Role, User
from app.cases import queries, tasks
from app.cases.models import Case, CaseComment, CasePhoto, CaseReporter, Task
from app.categories.models import Category
from app.feed.capture import audience, followers, mention, old_values, watch
from app.grids.models import ResponsibilityGrid, ResponsibilityGridMember, UnitGrid
from app.merchants import selfchecks
from app.merchants.models import SelfCheck, Shop
from app.orgunits.models import OrgUnit
from app.photos.models import Photo
from app.sync_api.models import SyncConflict, SyncDevice
from app.workcalendar.models import CalendarDay, CalendarSettings

EVERYONE = "*"
# Closed cases stay in a snapshot this long, so a phone that starts afresh still shows
# what was finished lately; older ones are on the REST lists.
SNAPSHOT_CLOSED_DAYS = 30
HIDDEN_TASK_STATES = ("cancelled", "reassigned")


def _key(prefix: str, value: object) -> str | None:
    return f"{prefix}:{value}" if value is not None else None


def _keys(*pairs: tuple[str, object]) -> set[str]:
    return {key for key in (_key(p, v) for p, v in pairs) if key}


# ---- who holds which keys -------------------------------------------------------------


def sees_everything(user: User) -> bool:
    return user.role in queries.SEE_ALL


def user_keys(session: Session, user: User) -> set[str]:
    """The audience keys of ``user``'s scope (the command centre reads the whole feed)."""
    keys = {f"u:{user.id}", EVERYONE}
    if user.role == Role.INSPECTOR:
        grids = session.scalars(
            sa.select(ResponsibilityGridMember.unit_grid_id)
            .join(ResponsibilityGrid)
            .where(ResponsibilityGrid.inspector_id == user.id)
        )
        keys |= {f"g:{grid}" for grid in grids}
    elif user.role == Role.STREET_CHIEF and user.org_unit_id is not None:
        keys.add(f"s:{user.org_unit_id}")
    elif user.role == Role.ROAD_CHIEF and user.road_id is not None:
        keys.add(f"r:{user.road_id}")
    elif user.role == Role.HANDLER and user.org_unit_id is not None:
        keys.add(f"d:{user.org_unit_id}")
    elif user.role == Role.MERCHANT:
        shops = session.scalars(sa.select(Shop.id).where(Shop.merchant_id == user.id))
        keys |= {f"h:{shop}" for shop in shops}
    return keys


# ---- the kinds of things in the feed --------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FeedType:
    """One kind of thing in the feed. ``visible`` and ``load`` take ids as strings."""

    name: str
    parse_id: Callable[[str], object]
    visible: Callable[[Session, User, list], set]
    load: Callable[[Session, list], dict]
    snapshot: Callable[[Session, User, object, int, dt.datetime], list]
    # ``visible`` and ``load`` in one go where that saves a query: ``(loaded, shown)``,
    # ``loaded`` holding the things shown and only a placeholder for the others that exist.
    load_visible: Callable[[Session, User, list], tuple[dict, set]] | None = None


FEED_TYPES: dict[str, FeedType] = {}


def feed_type(feed: FeedType) -> FeedType:
    FEED_TYPES[feed.name] = feed
    return feed


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _uuid(text: str) -> uuid.UUID:
    return uuid.UUID(text)


def _all(session: Session, user: User, ids: list) -> set:
    return set(ids)


def _ids_after(session: Session, stmt: sa.Select, id_column, after, limit: int) -> list:
    """The next ``limit`` ids of ``stmt`` after ``after``, in id order. Any order ``stmt``
    had is dropped first: the snapshot's pages resume at ``id > after``, which only holds in
    id order (tasks_query orders by created_at, and tasks were skipped)."""
    if after is not None:
        stmt = stmt.where(id_column > after)
    return list(session.scalars(stmt.order_by(None).order_by(id_column).limit(limit)))


# cases ---------------------------------------------------------------------------------


def _case_keys(connection: sa.Connection, ids: list[str]) -> dict[str, set[str]]:
    uuids = [uuid.UUID(i) for i in ids]
    cases = Case.__table__
    keys: dict[str, set[str]] = {}
    for row in connection.execute(
        sa.select(
            cases.c.id,
            cases.c.grid_id,
            cases.c.street_id,
            cases.c.road_id,
            cases.c.shop_id,
            cases.c.department_id,
            cases.c.reporter_id,
        ).where(cases.c.id.in_(uuids))
    ):
        keys[str(row.id)] = _keys(
            ("g", row.grid_id),
            ("s", row.street_id),
            ("r", row.road_id),
            ("h", row.shop_id),
            ("d", row.department_id),
            ("u", row.reporter_id),
        )
    reporters = CaseReporter.__table__
    for case_id, user_id in connection.execute(
        sa.select(reporters.c.case_id, reporters.c.user_id).where(reporters.c.case_id.in_(uuids))
    ):
        keys.setdefault(str(case_id), set()).add(f"u:{user_id}")
    task_table = Task.__table__
    for case_id, assignee_id, department_id in connection.execute(
        sa.select(task_table.c.case_id, task_table.c.assignee_id, task_table.c.department_id).where(
            task_table.c.case_id.in_(uuids)
        )
    ):
        keys.setdefault(str(case_id), set()).update(_keys(("u", assignee_id), ("d", department_id)))
    return keys


def _case_changed(case: Case, deleted: bool) -> list:
    names = ("grid_id", "street_id", "road_id", "shop_id", "department_id", "reporter_id")
    prefixes = ("g", "s", "r", "h", "d", "u")
    # The keys it had before and the keys it gains: its photos follow it out of an audience
    # and into one (``followers`` acts on a case mentioned with keys).
    moved = {
        f"{prefix}:{value}"
        for prefix, name in zip(prefixes, names, strict=True)
        for value in ([getattr(case, name)] if deleted else _old_and_new(case, name))
        if value is not None
    }
    return mention("case", case.id, *moved)


def _old_and_new(obj: object, name: str) -> list:
    """The values ``name`` had before this flush's change and has after it (empty when
    unchanged): an audience a thing gains matters to its followers as much as one it loses.
    A row inserted with Core (``capture.inserted``) has no history: its values are all new."""
    if not hasattr(obj, "_sa_instance_state"):
        value = getattr(obj, name, None)  # a column left to its default: None here
        return [] if value is None else [value]
    history = attributes.get_history(obj, name)
    return [value for value in (*history.deleted, *history.added) if value is not None]


def _among(session: Session, column: sa.ColumnElement, ids: list) -> sa.ColumnElement[bool]:
    """``column IN ids``, on PostgreSQL as ``= ANY(:array)``: a page's 500 ids as 500
    parameters cost more to render, send and parse than the query itself (bench/)."""
    if session.get_bind().dialect.name == "postgresql":
        return column == sa.any_(sa.bindparam(None, list(ids), type_=ARRAY(column.type)))
    return column.in_(ids)


def _case_visible(session: Session, user: User, ids: list) -> set:
    return set(
        session.scalars(
            sa.select(Case.id).where(_among(session, Case.id, ids), queries.visible_to(user))
        )
    )


# What a case's data carries as stored; the rest is converted below. Rows are read as
# tuples: a Row's attribute access costs more than the SQL of a page (bench/feed_bench.py).
_CASE_PLAIN = (
    "number", "state", "source", "description", "address", "urgency", "routing", "grid_id",
    "street_id", "road_id", "shop_id", "department_id", "reporter_id", "press_level",
    "rework_count", "version",
)  # fmt: skip


def _case_load_visible(session: Session, user: User, ids: list) -> tuple[dict, set]:
    """A page's cases the user may see, loaded by one query with the REST API's rule in it
    (instead of a visibility query, then a load); those it leaves out are looked up only to
    tell a revoke (it exists) from a delete."""
    data = _case_load(session, ids, queries.visible_to(user))
    missing = [case_id for case_id in ids if case_id not in data]
    shown = set(data)
    if missing:
        existing = session.scalars(sa.select(Case.id).where(_among(session, Case.id, missing)))
        for case_id in existing:
            data[case_id] = (None, None)  # out of the user's sight: a revoke
    return data, shown


def _case_load(session: Session, ids: list, visible: sa.ColumnElement[bool] | None = None) -> dict:
    cases = Case.__table__
    categories = Category.__table__
    stmt = (
        sa.select(
            cases.c.id,
            cases.c.category_id,
            categories.c.code,
            categories.c.kind,
            categories.c.edition,
            categories.c.name,
            cases.c.lat,
            cases.c.lon,
            cases.c.deadline,
            cases.c.merged_into_id,
            cases.c.reported_at,
            cases.c.closed_at,
            cases.c.updated_at,
            *(cases.c[name] for name in _CASE_PLAIN),
        )
        .join(categories, categories.c.id == cases.c.category_id)
        .where(_among(session, cases.c.id, ids))
    )
    if visible is not None:
        stmt = stmt.where(visible)
    rows = session.execute(stmt).tuples().all()
    photos: dict[uuid.UUID, list] = {}
    if rows:
        for case_id, photo_id, kind in session.execute(
            sa.select(CasePhoto.case_id, CasePhoto.photo_id, CasePhoto.kind)
            .where(_among(session, CasePhoto.case_id, [row[0] for row in rows]))
            .order_by(CasePhoto.added_at, CasePhoto.photo_id)
        ):
            photos.setdefault(case_id, []).append({"photo_id": str(photo_id), "kind": kind})
    data = {}
    for (
        case_id,
        category_id,
        code,
        kind,
        edition,
        name,
        lat,
        lon,
        deadline,
        merged_into_id,
        reported_at,
        closed_at,
        updated_at,
        *plain,
    ) in rows:
        case = dict(zip(_CASE_PLAIN, plain, strict=True))
        case.update(
            id=str(case_id),
            category={
                "id": category_id,
                "code": code,
                "kind": kind,
                "edition": edition,
                "name": name,
            },
            location={"lat": lat, "lon": lon, "crs": "wgs84"},
            deadline=_iso(deadline),
            merged_into_id=str(merged_into_id) if merged_into_id else None,
            reported_at=_iso(reported_at),
            closed_at=_iso(closed_at),
            updated_at=_iso(updated_at),
            photos=photos.get(case_id, []),
        )
        data[case_id] = (case["version"], case)
    return data


def _recent_case(now: dt.datetime) -> sa.ColumnElement[bool]:
    """Open, or ended within ``SNAPSHOT_CLOSED_DAYS``. A case rejected, merged or cancelled
    has no ``closed_at``: its last change says when it ended. (With ``closed_at`` alone a
    phone starting afresh missed the merged duplicates a phone following the feed holds.)"""
    ended = sa.func.coalesce(Case.closed_at, Case.updated_at)
    return sa.or_(
        Case.state.in_(queries.OPEN),
        ended >= now - dt.timedelta(days=SNAPSHOT_CLOSED_DAYS),
    )


def _case_snapshot(session: Session, user: User, after, limit: int, now: dt.datetime) -> list:
    recent = _recent_case(now)
    stmt = sa.select(Case.id).where(queries.visible_to(user), recent)
    return _ids_after(session, stmt, Case.id, after, limit)


# tasks ---------------------------------------------------------------------------------


def _task_keys(connection: sa.Connection, ids: list[str]) -> dict[str, set[str]]:
    table = Task.__table__
    rows = connection.execute(
        sa.select(table.c.id, table.c.assignee_id, table.c.department_id).where(
            table.c.id.in_([uuid.UUID(i) for i in ids])
        )
    )
    return {str(r.id): _keys(("u", r.assignee_id), ("d", r.department_id)) for r in rows}


def _task_changed(task: Task, deleted: bool) -> list:
    def before(name: str) -> list:
        return [getattr(task, name)] if deleted else old_values(task, name)

    old = [f"u:{v}" for v in before("assignee_id")] + [f"d:{v}" for v in before("department_id")]
    # The case's audience follows its tasks (visible_to counts them), so it changes too: a new
    # task or a new assignee brings the case, and its photos, to someone who did not see it.
    gained = [] if deleted else _old_and_new(task, "assignee_id")
    gained_departments = [] if deleted else _old_and_new(task, "department_id")
    moved = {*old, *(f"u:{v}" for v in gained), *(f"d:{v}" for v in gained_departments)}
    return mention("task", task.id, *old) + mention("case", task.case_id, *sorted(moved))


def _task_visible(session: Session, user: User, ids: list) -> set:
    stmt = tasks.tasks_query(user).where(Task.id.in_(ids), Task.state.not_in(HIDDEN_TASK_STATES))
    return set(session.scalars(stmt.with_only_columns(Task.id)))


def _task_load(session: Session, ids: list) -> dict:
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
                "deadline": _iso(row.deadline),
                "result": row.result,
                "note": row.note,
                "replaced_by_id": str(row.replaced_by_id) if row.replaced_by_id else None,
                "version": row.version,
                "created_at": _iso(row.created_at),
                "accepted_at": _iso(row.accepted_at),
                "completed_at": _iso(row.completed_at),
            },
        )
    return data


def _task_snapshot(session: Session, user: User, after, limit: int, now: dt.datetime) -> list:
    # Recently completed ones too, as with cases: a phone that starts afresh must hold what
    # a phone that followed the feed holds (it got their completion as an upsert).
    stmt = tasks.tasks_query(user).where(
        sa.or_(
            Task.state.in_(queries.OPEN_TASK_STATES),
            sa.and_(
                Task.state == "completed",
                Task.completed_at >= now - dt.timedelta(days=SNAPSHOT_CLOSED_DAYS),
            ),
        )
    )
    return _ids_after(session, stmt.with_only_columns(Task.id), Task.id, after, limit)


# photos --------------------------------------------------------------------------------


def _photo_keys(connection: sa.Connection, ids: list[str]) -> dict[str, set[str]]:
    uuids = [uuid.UUID(i) for i in ids]
    photos, links = Photo.__table__, CasePhoto.__table__
    keys = {
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
        for case_id, case_keys in _case_keys(connection, list(attached)).items():
            for photo_id in attached.get(case_id, ()):
                keys.setdefault(photo_id, set()).update(case_keys)
    return keys


def _case_photos(connection: sa.Connection, ids: list[str]) -> dict[str, list[tuple[str, str]]]:
    links = CasePhoto.__table__
    found: dict[str, list[tuple[str, str]]] = {}
    for case_id, photo_id in connection.execute(
        sa.select(links.c.case_id, links.c.photo_id).where(
            links.c.case_id.in_([uuid.UUID(i) for i in ids])
        )
    ):
        found.setdefault(str(case_id), []).append(("photo", str(photo_id)))
    return found


def _photo_changed(photo: Photo, deleted: bool) -> list:
    return mention("photo", photo.id, f"u:{photo.owner_id}" if deleted else "")


def _case_photo_changed(link: CasePhoto, deleted: bool) -> list:
    return mention("case", link.case_id) + mention("photo", link.photo_id)


def _photo_visible(session: Session, user: User, ids: list) -> set:
    if sees_everything(user):
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


def _photo_load(session: Session, ids: list) -> dict:
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
                "client_taken_at": _iso(row.client_taken_at),
                "available_at": _iso(row.available_at),
            },
        )
    return data


def _photo_snapshot(session: Session, user: User, after, limit: int, now: dt.datetime) -> list:
    """The photos of the cases in the snapshot, and the user's own still waiting for bytes."""
    recent = _recent_case(now)
    of_cases = (
        sa.select(CasePhoto.photo_id)
        .join(Case, Case.id == CasePhoto.case_id)
        .where(queries.visible_to(user), recent)
    )
    stmt = sa.select(Photo.id).where(
        sa.or_(
            Photo.id.in_(of_cases), sa.and_(Photo.owner_id == user.id, Photo.status == "pending")
        )
    )
    return _ids_after(session, stmt, Photo.id, after, limit)


# comments on cases and merchants' self-checks: append-only ----------------------------


def _comment_keys(connection: sa.Connection, ids: list[str]) -> dict[str, set[str]]:
    table = CaseComment.__table__
    of_case: dict[str, list[str]] = {}
    for comment_id, case_id in connection.execute(
        sa.select(table.c.id, table.c.case_id).where(table.c.id.in_([uuid.UUID(i) for i in ids]))
    ):
        of_case.setdefault(str(case_id), []).append(str(comment_id))
    keys: dict[str, set[str]] = {}
    for case_id, case_keys in _case_keys(connection, list(of_case)).items():
        for comment_id in of_case.get(case_id, ()):
            keys[comment_id] = case_keys
    return keys


def _comment_visible(session: Session, user: User, ids: list) -> set:
    return set(
        session.scalars(
            sa.select(CaseComment.id)
            .join(Case, Case.id == CaseComment.case_id)
            .where(CaseComment.id.in_(ids), queries.visible_to(user))
        )
    )


def _comment_load(session: Session, ids: list) -> dict:
    table = CaseComment.__table__
    return {
        row.id: (
            None,
            {
                "id": str(row.id),
                "case_id": str(row.case_id),
                "author_id": row.author_id,
                "text": row.text,
                "created_at": _iso(row.created_at),
            },
        )
        for row in session.execute(sa.select(table).where(table.c.id.in_(ids)))
    }


def _comment_snapshot(session: Session, user: User, after, limit: int, now: dt.datetime) -> list:
    recent = _recent_case(now)
    stmt = (
        sa.select(CaseComment.id)
        .join(Case, Case.id == CaseComment.case_id)
        .where(queries.visible_to(user), recent)
    )
    return _ids_after(session, stmt, CaseComment.id, after, limit)


def _selfcheck_keys(connection: sa.Connection, ids: list[str]) -> dict[str, set[str]]:
    table = SelfCheck.__table__
    rows = connection.execute(
        sa.select(table.c.id, table.c.shop_id, table.c.merchant_id).where(
            table.c.id.in_([uuid.UUID(i) for i in ids])
        )
    )
    return {str(r.id): _keys(("h", r.shop_id), ("u", r.merchant_id)) for r in rows}


def _selfcheck_visible(session: Session, user: User, ids: list) -> set:
    stmt = sa.select(SelfCheck.id).where(SelfCheck.id.in_(ids), selfchecks.visible_to(user))
    return set(session.scalars(stmt))


def _selfcheck_load(session: Session, ids: list) -> dict:
    table = SelfCheck.__table__
    return {
        row.id: (
            None,
            {
                "id": str(row.id),
                "shop_id": row.shop_id,
                "merchant_id": row.merchant_id,
                "sanitation": row.sanitation,
                "order": row.order,
                "greenery": row.greenery,
                "note": row.note,
                "photo_ids": row.photo_ids,
                "created_at": _iso(row.created_at),
            },
        )
        for row in session.execute(sa.select(table).where(table.c.id.in_(ids)))
    }


def _selfcheck_snapshot(session: Session, user: User, after, limit: int, now) -> list:
    """A merchant's own checks of the last days; the area's chiefs read them on the REST list."""
    if user.role != Role.MERCHANT:
        return []
    stmt = sa.select(SelfCheck.id).where(
        selfchecks.visible_to(user),
        SelfCheck.created_at >= now - dt.timedelta(days=SNAPSHOT_CLOSED_DAYS),
    )
    return _ids_after(session, stmt, SelfCheck.id, after, limit)


# conflicts: the phone's user hears how the dispatcher decided ---------------------------


def _conflict_keys(connection: sa.Connection, ids: list[str]) -> dict[str, set[str]]:
    conflicts, devices = SyncConflict.__table__, SyncDevice.__table__
    rows = connection.execute(
        sa.select(conflicts.c.id, devices.c.user_id)
        .join(devices, devices.c.id == conflicts.c.device_pk)
        .where(conflicts.c.id.in_(ids))
    )
    return {row.id: {f"u:{row.user_id}"} for row in rows}


def _own_conflicts(user: User) -> sa.ColumnElement[bool]:
    if sees_everything(user):
        return sa.true()
    return SyncConflict.device_pk.in_(sa.select(SyncDevice.id).where(SyncDevice.user_id == user.id))


def _conflict_visible(session: Session, user: User, ids: list) -> set:
    return set(
        session.scalars(
            sa.select(SyncConflict.id).where(SyncConflict.id.in_(ids), _own_conflicts(user))
        )
    )


def _conflict_load(session: Session, ids: list) -> dict:
    table, devices = SyncConflict.__table__, SyncDevice.__table__
    rows = session.execute(
        sa.select(table, devices.c.device_id)
        .join(devices, devices.c.id == table.c.device_pk)
        .where(table.c.id.in_(ids))
    )
    return {
        row.id: (
            row.version,
            {
                "id": row.id,
                "device_id": row.device_id,
                "mid": row.mid,
                "type": row.type,
                "entity_type": row.entity_type,
                "entity_id": str(row.entity_id),
                "reason": row.reason,
                "status": row.status,
                "resolution": row.resolution,
                "resolved_fields": row.resolved_fields,
                "resolved_at": _iso(row.resolved_at),
                "opinion": row.opinion,
                "version": row.version,
                "created_at": _iso(row.created_at),
            },
        )
        for row in rows
    }


def _conflict_snapshot(session: Session, user: User, after, limit: int, now: dt.datetime) -> list:
    recent = sa.or_(
        SyncConflict.status == "open",
        SyncConflict.resolved_at >= now - dt.timedelta(days=SNAPSHOT_CLOSED_DAYS),
    )
    stmt = sa.select(SyncConflict.id).where(_own_conflicts(user), recent)
    return _ids_after(session, stmt, SyncConflict.id, after, limit)


# reference data: categories, grids, the work calendar ------------------------------------


def _everyone(connection: sa.Connection, ids: list[str]) -> dict[str, set[str]]:
    return {i: {EVERYONE} for i in ids}


def _category_load(session: Session, ids: list) -> dict:
    table = Category.__table__
    return {
        row.id: (
            None,
            {
                "id": row.id,
                "kind": row.kind,
                "edition": row.edition,
                "code": row.code,
                "major_code": row.major_code,
                "major_name": row.major_name,
                "name": row.name,
                "time_limit": row.time_limit,
                "limit_type": row.limit_type,
                "active": row.active,
            },
        )
        for row in session.execute(sa.select(table).where(table.c.id.in_(ids)))
    }


def _category_snapshot(session: Session, user: User, after, limit: int, now) -> list:
    stmt = sa.select(Category.id).where(Category.active.is_(True))
    return _ids_after(session, stmt, Category.id, after, limit)


def _grid_keys(connection: sa.Connection, ids: list[str]) -> dict[str, set[str]]:
    grids, units = UnitGrid.__table__, OrgUnit.__table__
    rows = connection.execute(
        sa.select(grids.c.id, units.c.parent_id)
        .join(units, units.c.id == grids.c.community_id)
        .where(grids.c.id.in_([int(i) for i in ids]))
    )
    return {str(r.id): _keys(("g", r.id), ("s", r.parent_id)) for r in rows}


def _user_grids(session: Session, user: User) -> sa.ColumnElement[bool]:
    if sees_everything(user):
        return sa.true()
    if user.role == Role.INSPECTOR:
        return UnitGrid.id.in_(
            sa.select(ResponsibilityGridMember.unit_grid_id)
            .join(ResponsibilityGrid)
            .where(ResponsibilityGrid.inspector_id == user.id)
        )
    if user.role == Role.STREET_CHIEF and user.org_unit_id is not None:
        return UnitGrid.community_id.in_(
            sa.select(OrgUnit.id).where(OrgUnit.parent_id == user.org_unit_id)
        )
    return sa.false()


def _grid_visible(session: Session, user: User, ids: list) -> set:
    return set(
        session.scalars(
            sa.select(UnitGrid.id).where(UnitGrid.id.in_(ids), _user_grids(session, user))
        )
    )


def _grid_load(session: Session, ids: list) -> dict:
    table = UnitGrid.__table__
    return {
        row.id: (
            None,
            {
                "id": row.id,
                "code": row.code,
                "name": row.name,
                "community_id": row.community_id,
                "geometry": json.loads(row.geometry),
                "bbox": [row.min_lon, row.min_lat, row.max_lon, row.max_lat],
            },
        )
        for row in session.execute(sa.select(table).where(table.c.id.in_(ids)))
    }


def _grid_snapshot(session: Session, user: User, after, limit: int, now) -> list:
    stmt = sa.select(UnitGrid.id).where(_user_grids(session, user))
    return _ids_after(session, stmt, UnitGrid.id, after, limit)


def _grid_changed(grid: UnitGrid, deleted: bool) -> list:
    return mention("grid", grid.id, *([f"g:{grid.id}"] if deleted else []))


def _grid_member_changed(member: ResponsibilityGridMember, deleted: bool) -> list:
    # The inspector's scope itself changes: their cursor gets a reset (scope fingerprint).
    return mention("grid", member.unit_grid_id)


CALENDAR_SETTINGS = "settings"


def _calendar_id(text: str) -> str:
    if text != CALENDAR_SETTINGS:
        dt.date.fromisoformat(text)
    return text


def _calendar_load(session: Session, ids: list) -> dict:
    data: dict = {}
    days = [dt.date.fromisoformat(i) for i in ids if i != CALENDAR_SETTINGS]
    if days:
        for day in session.scalars(sa.select(CalendarDay).where(CalendarDay.day.in_(days))):
            data[day.day.isoformat()] = (
                None,
                {"day": day.day.isoformat(), "is_workday": day.is_workday, "note": day.note},
            )
    if CALENDAR_SETTINGS in ids:
        settings = session.scalar(sa.select(CalendarSettings).order_by(CalendarSettings.id))
        if settings is not None:
            data[CALENDAR_SETTINGS] = (
                None,
                {"timezone": settings.timezone, "periods": settings.periods},
            )
    return data


def _calendar_snapshot(session: Session, user: User, after, limit: int, now: dt.datetime) -> list:
    # The settings sort after every ISO date ("s" > "2"), so one order serves both.
    ids = [CALENDAR_SETTINGS] if session.scalar(sa.select(CalendarSettings.id).limit(1)) else []
    since = dt.date(now.year - 1, 1, 1)
    ids += [
        d.isoformat()
        for d in session.scalars(sa.select(CalendarDay.day).where(CalendarDay.day >= since))
    ]
    ids = sorted(i for i in ids if after is None or i > after)
    return ids[:limit]


def _calendar_day_changed(day: CalendarDay, deleted: bool) -> list:
    return mention("calendar", day.day.isoformat())


def _calendar_settings_changed(settings: CalendarSettings, deleted: bool) -> list:
    return mention("calendar", CALENDAR_SETTINGS)


def _int_id(text: str) -> int:
    return int(text)


# Snapshot phases run in this order: reference data first, so a phone can show its cases.
for _feed in (
    FeedType("category", _int_id, _all, _category_load, _category_snapshot),
    FeedType("calendar", _calendar_id, _all, _calendar_load, _calendar_snapshot),
    FeedType("grid", _int_id, _grid_visible, _grid_load, _grid_snapshot),
    FeedType("case", _uuid, _case_visible, _case_load, _case_snapshot, _case_load_visible),
    FeedType("task", _uuid, _task_visible, _task_load, _task_snapshot),
    FeedType("photo", _uuid, _photo_visible, _photo_load, _photo_snapshot),
    FeedType("comment", _uuid, _comment_visible, _comment_load, _comment_snapshot),
    FeedType("selfcheck", _uuid, _selfcheck_visible, _selfcheck_load, _selfcheck_snapshot),
    FeedType("conflict", str, _conflict_visible, _conflict_load, _conflict_snapshot),
):
    feed_type(_feed)

audience("case", _case_keys)
followers("case", _case_photos)
audience("task", _task_keys)
audience("photo", _photo_keys)
audience("category", _everyone)
audience("calendar", _everyone)
audience("grid", _grid_keys)
audience("conflict", _conflict_keys)
audience("comment", _comment_keys)
audience("selfcheck", _selfcheck_keys)

watch(Case, _case_changed)
watch(Task, _task_changed)
watch(Photo, _photo_changed)
watch(CasePhoto, _case_photo_changed)
watch(CaseReporter, lambda link, deleted: mention("case", link.case_id, f"u:{link.user_id}"))
watch(Category, lambda category, deleted: mention("category", category.id))
watch(UnitGrid, _grid_changed)
watch(ResponsibilityGridMember, _grid_member_changed)
watch(CalendarDay, _calendar_day_changed)
watch(CalendarSettings, _calendar_settings_changed)
watch(CaseComment, lambda comment, deleted: mention("comment", comment.id))
watch(SelfCheck, lambda check, deleted: mention("selfcheck", check.id))
watch(SyncConflict, lambda conflict, deleted: mention("conflict", conflict.id))


def feed_types() -> Iterable[FeedType]:
    return FEED_TYPES.values()
