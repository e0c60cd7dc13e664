"""What the sync pages show: the conflict queue and one conflict's two sides with its field
evidence (``app.sync_api.conflicts``), rejected mutations (``app.sync_api.rejects``) and
each phone queue's health (``app.sync_api.devices``), named for people in Chinese."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.cases.models import CasePhoto
from app.console.casepage import PHOTO_COLUMNS
from app.console.services import STATE_NAMES
from app.core.errors import DomainError
from app.photos.models import Photo
from app.photos.services import describe_photo
from app.sync_api import conflicts, devices, rejects
from app.sync_api.models import SyncDevice

PAGE_SIZE = 20

TYPE_NAMES = {
    "report.create": "上报案件",
    "case.edit": "修改案件",
    "case.self_handle": "自行处置",
    "task.update": "任务进度",
    "photo.attach": "补充照片",
    "comment.add": "添加备注",
    "selfcheck.create": "自查记录",
}
REASON_NAMES = {
    "field_conflict": "字段冲突（双方都改了同一字段）",
    "wrong_state": "案件状态已变化",
    "task_reassigned": "任务已改派他人",
    "task_cancelled": "任务已撤回",
    "task_completed": "任务已完成",
    "target_closed": "案件已结案",
    "left_scope": "已不在本人负责范围",
    "edit_after_delete": "修改的对象已删除",
    "pending_request": "已有待审批的申请",
    "validation": "数据格式不合法",
    "wrong_role": "角色无权进行此操作",
    "forbidden": "无权操作",
    "not_in_scope": "不在本人负责范围",
    "not_found": "对象不存在",
    "unknown_category": "未知的类别",
    "unknown_action": "未知的动作",
    "unknown_type": "未知的操作类型",
    "id_reused": "编号被重复使用（内容不同）",
    "mid_reused": "序号被重复使用（内容不同）",
    "apply_failed": "多次执行失败",
}
DECISION_NAMES = {
    "accept_field": "采用现场操作",
    "keep_server": "保留服务器",
    "merge": "逐字段合并",
}
STATUS_NAMES = {"open": "待处理", "resolved": "已处理"}
FIELD_NAMES = {
    "description": "描述",
    "address": "地址",
    "location": "位置",
    "category_code": "类别编码",
}
TASK_KIND_NAMES = {"verify": "核实", "handle": "处置", "check": "核查", "rectify": "整改"}
TASK_STATE_NAMES = {
    "open": "待接收",
    "accepted": "进行中",
    "completed": "已完成",
    "reassigned": "已改派",
    "cancelled": "已撤回",
}
MUTATION_STATUS_NAMES = {
    "applied": "已执行",
    "merged": "已合并执行",
    "conflict": "冲突",
    "rejected": "被拒绝",
    "expired": "已清理",
}
# What a refusal of a resolution says, per errors.reason.
REFUSALS = {
    "already_resolved": "该冲突已由他人处理，未做任何更改。",
    "not_applicable_now": "现场操作现在无法执行，冲突仍待处理，未做任何更改。",
    "concurrent_change": "冲突或案件刚被他人修改，请刷新页面后重试；未做任何更改。",
    "merge_not_applicable": "只有字段冲突可以逐字段合并，请选择采用现场操作或保留服务器。",
    "already_reviewed": "该记录已被复核过，未做任何更改。",
}


def reason_name(reason: str | None) -> str:
    if not reason:
        return ""
    if reason.startswith("missing_"):
        return f"缺少证据（{reason.removeprefix('missing_')}）"
    return REASON_NAMES.get(reason, reason)


def refusal_message(error: DomainError) -> str:
    """A refused resolution or review, in Chinese (the service's cause and words after)."""
    errors = error.errors if isinstance(error.errors, dict) else {}
    reason = errors.get("reason")
    text = REFUSALS.get(reason)
    if text is None:
        text = {
            404: "找不到该记录。",
            403: "您的角色无权进行此操作。",
            422: "请为每个冲突字段选择采用现场值或服务器值。",
        }.get(error.status_code, "操作未完成。")
    cause = errors.get("cause")
    if cause:
        text += f"原因：{reason_name(cause)}。"
    return f"操作未完成：{text}（{error.message}）"


@dataclasses.dataclass
class Paged:
    rows: list[dict]
    total: int
    page: int
    pages: int


def _paged(session: Session, stmt: sa.Select, page: int, size: int = PAGE_SIZE):
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery()))
    pages = max(1, math.ceil((total or 0) / size))
    page = min(page, pages)
    rows = list(session.scalars(stmt.limit(size).offset((page - 1) * size)))
    return rows, total or 0, page, pages


# -- conflicts ----------------------------------------------------------------------------


def conflict_page(session: Session, status: str | None, page: int) -> Paged:
    """One page of conflicts (by status), newest first, each with its case and people."""
    rows, total, page, pages = _paged(session, conflicts.conflicts_query(status=status), page)
    return Paged([_named(v) for v in conflicts.conflict_views(session, rows)], total, page, pages)


def _named(view: dict) -> dict:
    view["type_name"] = TYPE_NAMES.get(view["type"], view["type"])
    view["reason_name"] = reason_name(view["reason"])
    view["status_name"] = STATUS_NAMES.get(view["status"], view["status"])
    view["case"] = view["server"]["case"]
    view["client_time"] = _instant(view["client_ts"])
    if view["resolution"]:
        decision = view["resolution"]["decision"]
        view["resolution"]["decision_name"] = DECISION_NAMES.get(decision, decision)
    return view


def _instant(value: Any) -> dt.datetime | None:
    """The phone's clock as it sent it (ISO 8601 with an offset), or None."""
    try:
        parsed = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return parsed if parsed is not None and parsed.tzinfo is not None else None


def conflict_detail(session: Session, conflict_id: str) -> dict:
    """One conflict's two sides side by side, the merge choices and the field evidence."""
    view = _named(conflicts.conflict_view(session, conflicts.get_conflict(session, conflict_id)))
    view["compare"] = _compare(view)
    view["clashing"] = sorted(_clashing(view))
    view["field_photos"] = _described(session, [p["photo_id"] for p in view["field"]["photos"]])
    view["case_photos"] = _case_photos(session, view["case"]["id"]) if view["case"] else []
    view["payload_text"] = pretty(
        {k: v for k, v in (view["field"] or {}).items() if k in ("base_version", "args")}
    )
    view["server_task"] = _task_named(view["server"]["task"])
    if view["case"]:
        view["case"]["state_name"] = STATE_NAMES.get(view["case"]["state"], view["case"]["state"])
        view["case"]["open_task_names"] = [_task_named(task) for task in view["case"]["open_tasks"]]
    return view


def _clashing(view: dict) -> set[str]:
    if view["type"] != "case.edit" or view["reason"] != "field_conflict":
        return set()
    listed = (view["errors"] or {}).get("fields")
    if isinstance(listed, dict) and listed:
        return set(listed)
    return set(view["field"].get("edits") or {})


def _compare(view: dict) -> list[dict]:
    """Per field the phone edited: the value it started from, its new value, the server's."""
    edits = view["field"].get("edits") or {}
    server = view["server"].get("fields") or {}
    clashing = _clashing(view)
    return [
        {
            "name": name,
            "label": FIELD_NAMES.get(name, name),
            "base": show_value(edit.get("base")),
            "field": show_value(edit.get("new")),
            "server": show_value(server.get(name)),
            "clash": name in clashing,
        }
        for name, edit in sorted(edits.items())
    ]


def show_value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, dict) and set(value) == {"lat", "lon"}:
        return f"{value['lat']}, {value['lon']}"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _task_named(task: dict | None) -> dict | None:
    if task is None:
        return None
    return {
        **task,
        "kind_name": TASK_KIND_NAMES.get(task["kind"], task["kind"]),
        "state_name": TASK_STATE_NAMES.get(task["state"], task["state"]),
    }


def _described(session: Session, photo_ids: Iterable[uuid.UUID]) -> list[dict]:
    shown = []
    for photo_id in photo_ids:
        photo = session.get(Photo, photo_id)
        shown.append(
            describe_photo(session, photo) if photo else {"id": photo_id, "status": "missing"}
        )
    return shown


def _case_photos(session: Session, case_id: uuid.UUID) -> list[dict]:
    """The case's photos by kind (问题, 处置, 核查), as the case page shows them."""
    attached = session.scalars(
        sa.select(CasePhoto)
        .where(CasePhoto.case_id == case_id)
        .order_by(CasePhoto.added_at, CasePhoto.photo_id)
    ).all()
    return [
        {
            "kind": kind,
            "label": label,
            "photos": _described(session, [a.photo_id for a in attached if a.kind == kind]),
        }
        for kind, label in PHOTO_COLUMNS
    ]


def pretty(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str)


# -- rejected mutations ---------------------------------------------------------------------


def rejected_page(session: Session, reviewed: bool | None, page: int) -> Paged:
    """One page of rejected mutations, newest first, with their payload pretty-printed."""
    rows, total, page, pages = _paged(session, rejects.rejected_query(reviewed=reviewed), page)
    views = rejects.mutation_views(session, rows)
    for view in views:
        view["type_name"] = TYPE_NAMES.get(view["type"], view["type"] or "（无法识别）")
        view["reason_name"] = reason_name(view["reason"])
        view["payload_text"] = pretty(view["payload"])
    return Paged(views, total, page, pages)


# -- phone queues' health -------------------------------------------------------------------


def _quiet(cutoff: dt.datetime) -> sa.ColumnElement[bool]:
    """Neither a push nor a pull since ``cutoff`` (never counts as quiet)."""
    return sa.and_(
        sa.or_(SyncDevice.last_push_at.is_(None), SyncDevice.last_push_at < cutoff),
        sa.or_(SyncDevice.last_pull_at.is_(None), SyncDevice.last_pull_at < cutoff),
    )


def device_page(
    session: Session, hours: int, only_quiet: bool, page: int, now: dt.datetime
) -> tuple[Paged, int]:
    """One page of phone queues, most recently pushed first (only the quiet ones with
    ``only_quiet``), each marked quiet when silent for ``hours``; and how many are quiet."""
    cutoff = now - dt.timedelta(hours=hours)
    stmt = devices.devices_query()
    if only_quiet:
        stmt = stmt.where(_quiet(cutoff))
    rows, total, page, pages = _paged(session, stmt, page)
    views = devices.device_health(session, rows)
    for view in views:
        _mark_quiet(view, cutoff, now)
    quiet_count = session.scalar(
        sa.select(sa.func.count()).select_from(SyncDevice).where(_quiet(cutoff))
    )
    return Paged(views, total, page, pages), quiet_count or 0


def _mark_quiet(view: dict, cutoff: dt.datetime, now: dt.datetime) -> None:
    seen = [t for t in (view["last_push_at"], view["last_pull_at"]) if t is not None]
    last = max(seen) if seen else None
    view["last_seen"] = last
    view["quiet"] = last is None or last < cutoff
    view["quiet_hours"] = None if last is None else int((now - last).total_seconds() // 3600)


def device_view(session: Session, device_pk: int, hours: int, now: dt.datetime) -> dict:
    """One queue's health, recent mutations (named) and undecided failures."""
    view = devices.device_detail(session, device_pk)
    _mark_quiet(view, now - dt.timedelta(hours=hours), now)
    for row in view["recent_mutations"]:
        row["type_name"] = TYPE_NAMES.get(row["type"], row["type"] or "（无法识别）")
        row["reason_name"] = reason_name(row["reason"])
    return view
