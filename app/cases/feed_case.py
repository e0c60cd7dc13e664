"""The case in the change feed: the keys it is filed under, who may see it, its data on the
wire, and which cases a snapshot holds (see ``app.cases.feed``)."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import Role, User
from app.cases import queries
from app.cases.models import Case, CasePhoto, CaseReporter, Task
from app.categories.models import Category
from app.feed.capture import mention, old_and_new
from app.feed.queries import among, ids_after, iso, kept_since
from app.feed.registry import keys


def sees_every_case(user: User) -> bool:
    """The command centre (dispatchers, admins) sees every case, so reads the whole feed."""
    return user.role in queries.SEE_ALL


def area_keys(session: Session, user: User) -> set[str]:
    """The keys of the street, road or department a chief or a handler answers for."""
    if user.role == Role.STREET_CHIEF:
        return keys(("s", user.org_unit_id))
    if user.role == Role.ROAD_CHIEF:
        return keys(("r", user.road_id))
    if user.role == Role.HANDLER:
        return keys(("d", user.org_unit_id))
    return set()


# ---- what changed -----------------------------------------------------------------------

# A case's columns that file it under a key, and the key's prefix.
_KEYED = (
    ("grid_id", "g"),
    ("street_id", "s"),
    ("road_id", "r"),
    ("shop_id", "h"),
    ("department_id", "d"),
    ("reporter_id", "u"),
)
_PREFIXES = tuple(prefix for _, prefix in _KEYED)


def case_changed(case: Case, deleted: bool) -> list:
    """The case, with the keys it had before and the keys it gains: its photos follow it out
    of an audience and into one (``followers`` acts on a case mentioned with keys)."""
    moved = {
        f"{prefix}:{value}"
        for name, prefix in _KEYED
        for value in ([getattr(case, name)] if deleted else old_and_new(case, name))
        if value is not None
    }
    return mention("case", case.id, *moved)


def reporter_changed(link: CaseReporter, deleted: bool) -> list:
    return mention("case", link.case_id, f"u:{link.user_id}")


# ---- who may care -----------------------------------------------------------------------


def case_audience(connection: sa.Connection, ids: list[str]) -> dict[str, set[str]]:
    """The keys each case is filed under now: its places, reporters and tasks' people."""
    uuids = [uuid.UUID(i) for i in ids]
    cases = Case.__table__
    found: dict[str, set[str]] = {}
    columns = [cases.c[name] for name, _ in _KEYED]
    for case_id, *values in connection.execute(
        sa.select(cases.c.id, *columns).where(cases.c.id.in_(uuids))
    ):
        found[str(case_id)] = keys(*zip(_PREFIXES, values, strict=True))
    reporters = CaseReporter.__table__
    for case_id, user_id in connection.execute(
        sa.select(reporters.c.case_id, reporters.c.user_id).where(reporters.c.case_id.in_(uuids))
    ):
        found.setdefault(str(case_id), set()).add(f"u:{user_id}")
    tasks = Task.__table__
    for case_id, assignee_id, department_id in connection.execute(
        sa.select(tasks.c.case_id, tasks.c.assignee_id, tasks.c.department_id).where(
            tasks.c.case_id.in_(uuids), queries.counts_for_its_people(tasks.c)
        )
    ):
        found.setdefault(str(case_id), set()).update(keys(("u", assignee_id), ("d", department_id)))
    return found


def photos_of(connection: sa.Connection, ids: list[str]) -> dict[str, list[tuple[str, str]]]:
    """The photos of each case: seen through it, they follow it into and out of audiences."""
    links = CasePhoto.__table__
    found: dict[str, list[tuple[str, str]]] = {}
    for case_id, photo_id in connection.execute(
        sa.select(links.c.case_id, links.c.photo_id).where(
            links.c.case_id.in_([uuid.UUID(i) for i in ids])
        )
    ):
        found.setdefault(str(case_id), []).append(("photo", str(photo_id)))
    return found


# ---- what a user gets -------------------------------------------------------------------


def visible(session: Session, user: User, ids: list) -> set:
    """The cases ``user`` may see, by the REST API's rule."""
    return set(
        session.scalars(
            sa.select(Case.id).where(among(session, Case.id, ids), queries.visible_to(user))
        )
    )


def load_visible(session: Session, user: User, ids: list) -> tuple[dict, set]:
    """A page's cases the user may see, loaded by one query with the REST API's rule in it
    (instead of a visibility query, then a load); those it leaves out are looked up only to
    tell a revoke (it exists) from a delete."""
    data = load(session, ids, queries.visible_to(user))
    missing = [case_id for case_id in ids if case_id not in data]
    shown = set(data)
    if missing:
        existing = session.scalars(sa.select(Case.id).where(among(session, Case.id, missing)))
        for case_id in existing:
            data[case_id] = (None, None)  # out of the user's sight: a revoke
    return data, shown


# What a case's data carries as stored; the rest is converted below. Rows are read as
# tuples: a Row's attribute access costs more than the SQL of a page (bench/feed_bench.py).
_PLAIN = (
    "number", "state", "source", "description", "address", "urgency", "routing", "grid_id",
    "street_id", "road_id", "shop_id", "department_id", "reporter_id", "press_level",
    "rework_count", "extension_count", "version",
)  # fmt: skip


def load(session: Session, ids: list, shown: sa.ColumnElement[bool] | None = None) -> dict:
    """Each case's version and data on the wire (of those ``shown`` holds for, if given)."""
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
            cases.c.stage_deadline,
            cases.c.stage_done_at,
            cases.c.merged_into_id,
            cases.c.reported_at,
            cases.c.closed_at,
            cases.c.updated_at,
            *(cases.c[name] for name in _PLAIN),
        )
        .join(categories, categories.c.id == cases.c.category_id)
        .where(among(session, cases.c.id, ids))
    )
    if shown is not None:
        stmt = stmt.where(shown)
    rows = session.execute(stmt).tuples().all()
    photos = _case_photos(session, [row[0] for row in rows]) if rows else {}
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
        stage_deadline,
        stage_done_at,
        merged_into_id,
        reported_at,
        closed_at,
        updated_at,
        *plain,
    ) in rows:
        case = dict(zip(_PLAIN, plain, strict=True))
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
            deadline=iso(deadline),
            # A two-stage case's first stage (到场, 停工): its deadline and when it was done.
            stage_deadline=iso(stage_deadline),
            stage_done_at=iso(stage_done_at),
            merged_into_id=str(merged_into_id) if merged_into_id else None,
            reported_at=iso(reported_at),
            closed_at=iso(closed_at),
            updated_at=iso(updated_at),
            photos=photos.get(case_id, []),
        )
        data[case_id] = (case["version"], case)
    return data


def _case_photos(session: Session, case_ids: list) -> dict[uuid.UUID, list]:
    photos: dict[uuid.UUID, list] = {}
    for case_id, photo_id, kind in session.execute(
        sa.select(CasePhoto.case_id, CasePhoto.photo_id, CasePhoto.kind)
        .where(among(session, CasePhoto.case_id, case_ids))
        .order_by(CasePhoto.added_at, CasePhoto.photo_id)
    ):
        photos.setdefault(case_id, []).append({"photo_id": str(photo_id), "kind": kind})
    return photos


def recent_case(now: dt.datetime) -> sa.ColumnElement[bool]:
    """Open, or ended within ``SNAPSHOT_CLOSED_DAYS`` (``app.feed.queries``). A case
    rejected, merged or cancelled has no ``closed_at``: its last change says when it ended.
    (With ``closed_at`` alone a phone starting afresh missed the merged duplicates a phone
    following the feed holds.)"""
    ended = sa.func.coalesce(Case.closed_at, Case.updated_at)
    return sa.or_(Case.state.in_(queries.OPEN), ended >= kept_since(now))


def snapshot(session: Session, user: User, after, limit: int, now: dt.datetime) -> list:
    """The user's cases that are open or ended lately."""
    stmt = sa.select(Case.id).where(queries.visible_to(user), recent_case(now))
    return ids_after(session, stmt, Case.id, after, limit)
