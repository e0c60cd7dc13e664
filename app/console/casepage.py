"""What the case page shows: the case (``reading.case_detail``), its photos by kind with
their EXIF facts and evidence flags, the flow log named for people, the choices of its
action forms, and the map's layers (unit grid, case point, photo points, nearby cases,
the grids a routing confirmation may choose)."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import Role, User
from app.cases import reading, workflow
from app.cases.models import Case
from app.cases.queries import OPEN, is_open, visible_to
from app.cases.tasks import ASSIGNEE_ROLES
from app.console import services
from app.evidence.services import flags_query
from app.grids.models import UnitGrid
from app.photos.models import Photo
from app.photos.services import describe_photo
from app.pressing.services import may_press, pressings_of

PHOTO_COLUMNS = (("problem", "问题照片"), ("closure", "处置照片"), ("check", "核查照片"))
FLAG_NAMES = {
    "same_as_problem": "与问题照片相同",
    "same_as_other_case": "与其他案件照片相同",
    "far_from_case": "拍摄地点远离案件",
    "taken_before_report": "拍摄时间早于上报",
}
OTHER_STEPS = {
    "report": "上报",
    "confirm_routing": "确认定位",
    "attach_photos": "补充照片",
    "merge": "合并",
    "merge_in": "并入案件",
    "reassign_task": "改派任务",
    "cancel_task": "撤回任务",
    "edit": "修改案件",
    "request_return": "回退申请",
    "request_extension": "延期申请",
    "request_suspension": "挂账申请",
    "request_cancellation": "作废申请",
    "request_self_handle": "自处理申请",
    "refuse_request": "驳回申请",
    "conflict_resolved": "处理同步冲突",
}
NEAR_M = 500.0  # nearby open cases on the case map
GRID_CHOICE_M = 300.0  # grids offered around a case for the routing confirmation
MAX_NEARBY = 50


def step_name(action: str) -> str:
    try:
        return workflow.MOVES[workflow.Action(action)].label
    except ValueError:
        return OTHER_STEPS.get(action, action)


def case_view(session: Session, user: User, case_id: uuid.UUID, now: dt.datetime) -> dict:
    """Everything the case page shows; 404 for a case the user may not see."""
    view = reading.case_detail(session, user, case_id, now)
    case = session.get(Case, case_id)
    view.update(services.described(session, [case], now)[0])
    people = _display_names(session, _people_ids(view))
    view["photo_columns"] = _photo_columns(session, case_id, view["photos"])
    view["timeline"] = [
        {
            "entry": entry,
            "name": step_name(entry.action),
            "actor": people.get(entry.actor_id, "系统"),
            "from": services.STATE_NAMES.get(entry.from_state or "", ""),
            "to": services.STATE_NAMES.get(entry.to_state, entry.to_state),
        }
        for entry in view["flow"]
    ]
    view["requests"] = [
        {
            "request": r,
            "name": services.REQUEST_NAMES.get(r.kind, r.kind),
            "by": people.get(r.requested_by, ""),
        }
        for r in view["pending_requests"]
    ]
    view["tasks"] = [
        {
            "task": task,
            "assignee": people.get(task.assignee_id, "（部门）"),
            "candidates": _candidates(session, task),
        }
        for task in view["open_tasks"]
    ]
    view["reporter_name"] = people.get(case.reporter_id, "")
    view["may_press"] = case.state in OPEN and may_press(user, case)
    view["pressings"] = pressings_of(session, user, case_id) if view["may_press"] else []
    return view


def _people_ids(view: dict) -> set[int]:
    ids = {entry.actor_id for entry in view["flow"]} | {view["reporter_id"]}
    ids |= {task.assignee_id for task in view["open_tasks"]}
    ids |= {r.requested_by for r in view["pending_requests"]}
    return {i for i in ids if i is not None}


def _display_names(session: Session, ids: Iterable[int]) -> dict[int, str]:
    wanted = set(ids)
    if not wanted:
        return {}
    stmt = sa.select(User.id, User.display_name).where(User.id.in_(wanted))
    return dict(session.execute(stmt).all())


def _candidates(session: Session, task) -> list[User]:
    """Whom an open task may be given to: the roles its kind takes (a handle task: its
    department's handlers)."""
    people: list[User] = []
    for role in sorted(ASSIGNEE_ROLES.get(task.kind, ())):
        unit = task.department_id if task.kind == "handle" else None
        people += services.people(session, role, unit)
    return [person for person in people if person.id != task.assignee_id]


def _photo_columns(session: Session, case_id: uuid.UUID, by_kind: dict) -> list[dict]:
    flags: dict = {}
    for flag in session.scalars(flags_query(case_id=case_id)):
        flags.setdefault(flag.photo_id, []).append(
            {"name": FLAG_NAMES.get(flag.kind, flag.kind), "reviewed": flag.reviewed_at is not None}
        )
    columns = []
    for kind, label in PHOTO_COLUMNS:
        shown = []
        for attached in by_kind.get(kind, []):
            photo = session.get(Photo, attached.photo_id)
            described = describe_photo(session, photo)
            described["flags"] = flags.get(photo.id, [])
            shown.append(described)
        columns.append({"kind": kind, "label": label, "photos": shown})
    return columns


# -- the case map -----------------------------------------------------------------------


def _box(lat: float, lon: float, metres: float) -> tuple[float, float, float, float]:
    d_lat = metres / 111_320.0
    d_lon = metres / (111_320.0 * max(math.cos(math.radians(lat)), 0.01))
    return (lon - d_lon, lat - d_lat, lon + d_lon, lat + d_lat)


def _point(lat: float | None, lon: float | None, **properties) -> dict | None:
    if lat is None or lon is None:
        return None
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": properties,
    }


def grid_feature(grid: UnitGrid, **properties) -> dict:
    return {
        "type": "Feature",
        "geometry": grid.geojson,
        "properties": {"id": grid.id, "code": grid.code, "name": grid.name or "", **properties},
    }


def case_map(session: Session, user: User, case_id: uuid.UUID, now: dt.datetime) -> dict:
    """The case map's layers as GeoJSON: the case's grid, the grids around it (for the
    routing confirmation), the case, its photos' GPS points, nearby open cases."""
    view = reading.case_detail(session, user, case_id, now)
    lat, lon = view["location"]["lat"], view["location"]["lon"]
    grids = session.scalars(
        sa.select(UnitGrid).where(UnitGrid.box_overlaps(_box(lat, lon, GRID_CHOICE_M))).limit(60)
    )
    photos = []
    for kind, attached in view["photos"].items():
        for item in attached:
            described = describe_photo(session, session.get(Photo, item.photo_id))
            exif = described["exif"]
            point = _point(
                exif.exif_lat if exif is not None else described["client_lat"],
                exif.exif_lon if exif is not None else described["client_lon"],
                kind=kind,
                id=str(item.photo_id),
            )
            if point:
                photos.append(point)
    near = session.scalars(
        sa.select(Case)
        .where(
            visible_to(user),
            is_open(),
            Case.id != case_id,
            *_within(_box(lat, lon, NEAR_M)),
        )
        .limit(MAX_NEARBY)
    )
    nearby = [
        _point(row["location"]["lat"], row["location"]["lon"], **_case_properties(row))
        for row in reading.summaries(session, list(near), now)
    ]
    return {
        "case": _point(lat, lon, **_case_properties(view)),
        "grids": {
            "type": "FeatureCollection",
            "features": [grid_feature(g, current=g.id == view["grid_id"]) for g in grids],
        },
        "photos": {"type": "FeatureCollection", "features": photos},
        "nearby": {"type": "FeatureCollection", "features": nearby},
    }


def _within(box: tuple[float, float, float, float]) -> list[sa.ColumnElement[bool]]:
    min_lon, min_lat, max_lon, max_lat = box
    return [Case.lon >= min_lon, Case.lon <= max_lon, Case.lat >= min_lat, Case.lat <= max_lat]


def _case_properties(row: dict) -> dict:
    return {
        "id": str(row["id"]),
        "number": row["number"],
        "state": services.STATE_NAMES.get(row["state"], row["state"]),
        "light": row["traffic_light"] or "none",
        "category": row["category"].name,
    }


def grid_by_id(session: Session, grid_id: int) -> UnitGrid | None:
    return session.get(UnitGrid, grid_id)


def is_dispatcher(user: User) -> bool:
    return user.role == Role.DISPATCHER
