"""系统管理, the city's set-up: importing unit grids and roads from GeoJSON (a preview that
writes nothing, then the import, all or nothing), the list of unit grids with their
people, and the work calendar's holidays and working days. The same services and role
as the API's /admin/grids/import, /admin/roads/import and /admin/calendar/days."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

from flask import current_app, flash, redirect, request, session, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from app.accounts.models import Role
from app.console import admin
from app.console.schemas import (
    CalendarQuerySchema,
    DayOverrideSchema,
    DaySchema,
    GridQuerySchema,
    ImportSchema,
    load_form,
)
from app.console.services import units_of_kind
from app.console.web import blp, city_zone, flash_error, page, render
from app.core.clock import utcnow
from app.core.errors import DomainError
from app.extensions import db
from app.grids import importing, services
from app.grids.preview import preview_import
from app.workcalendar import services as workcalendar

ADMINS = (Role.ADMIN,)
PAGE_SIZE = 50
IMPORT_KEY = "grid_import"  # the session's note of the file previewed, to import next
STASH_HOURS = 24
KIND_NAMES = {"grids": "单元网格", "roads": "道路"}
UPLOAD_ENDPOINT = "console.admin_grids_preview"


def _max_bytes() -> int:
    return current_app.config["GRID_IMPORT_MAX_BYTES"]


@blp.before_app_request
def _grid_files_may_be_large() -> None:
    """The upload's body limit is the API's grid-import limit, set before the form (and
    its CSRF token) is parsed; beyond it the request is refused (413) unread."""
    if request.endpoint == UPLOAD_ENDPOINT:
        request.max_content_length = _max_bytes()


@blp.errorhandler(RequestEntityTooLarge)
def _too_large(_error):
    message = f"上传的内容过大（上限 {_max_bytes() // (1024 * 1024)} MB）。"
    return render("error.html", status=413, message=message), 413


# -- grid imports -----------------------------------------------------------------------


def _stash_dir() -> Path:
    folder = Path(current_app.config["UPLOADS_ROOT"]) / "console-imports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _stashed(token: str) -> Path:
    return _stash_dir() / f"{token}.json"


def _forget_old_stashes() -> None:
    cutoff = time.time() - STASH_HOURS * 3600
    for path in _stash_dir().glob("*.json"):
        if path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)


def _run(kind: str, feature_collection: dict, *, preview: bool) -> importing.ImportReport:
    if kind == "roads":
        add, run = importing.add_roads, importing.import_roads
        options = {"default_buffer_m": current_app.config["ROAD_DEFAULT_BUFFER_M"]}
    else:
        add, run, options = importing.add_unit_grids, importing.import_unit_grids, {}
    if preview:
        return preview_import(db.session, add, feature_collection, **options)
    return run(db.session, feature_collection, **options)


def _read(path: Path) -> object:
    """The file's JSON (ValueError when it is not JSON)."""
    with path.open("rb") as file:
        return json.load(file)


def _grids_page(status: int = 200, **shown):
    query, errors = load_form(GridQuerySchema(), request.args)
    if errors:
        flash("筛选条件有误，已忽略。", "error")
        query, _ = load_form(GridQuerySchema(), {})
    stmt = services.unit_grids_query(street_code=query.get("street_code"))
    grids = admin.paged(db.session, stmt, query["page"], PAGE_SIZE)
    body = render(
        "admin_grids.html",
        grids=grids,
        rows=admin.grid_rows(db.session, grids.rows),
        streets=units_of_kind(db.session, "street"),
        query=query,
        kinds=KIND_NAMES,
        max_mb=_max_bytes() // (1024 * 1024),
        **shown,
    )
    return body, status


@blp.route("/admin/grids")
@page(*ADMINS)
def admin_grids():
    """Unit grids with their street, community and people, and the import form."""
    return _grids_page()


def _refused(kind: str, problems: list) -> tuple:
    return _grids_page(422, kind=kind, problems=problems)


@blp.route("/admin/grids/preview", methods=["POST"])
@page(*ADMINS)
def admin_grids_preview():
    """Check an uploaded GeoJSON file as the import would and show what it would do; the
    file is kept for the import that follows."""
    form, errors = load_form(ImportSchema())
    kind = form.get("kind", "grids")
    upload = request.files.get("file")
    if errors or upload is None or not upload.filename:
        return _refused(kind, [("文件", ["请选择要导入的 GeoJSON 文件和导入类型"])])
    _forget_old_stashes()
    token = secrets.token_hex(16)
    path = _stashed(token)
    upload.save(path)
    try:
        report = _run(kind, _read(path), preview=True)
    except (ValueError, UnicodeDecodeError):
        path.unlink(missing_ok=True)
        return _refused(kind, [("文件", ["不是有效的 JSON 文件"])])
    except DomainError as error:
        path.unlink(missing_ok=True)
        return _refused(kind, admin.import_problems(error))
    session[IMPORT_KEY] = {"token": token, "kind": kind, "name": upload.filename[:200]}
    return _grids_page(kind=kind, report=report, token=token, filename=upload.filename)


@blp.route("/admin/grids/import", methods=["POST"])
@page(*ADMINS)
def admin_grids_import():
    """Import the file just previewed, all or nothing."""
    stash = session.get(IMPORT_KEY) or {}
    token = request.form.get("token", "")
    path = _stashed(stash["token"]) if stash.get("token") == token and token else None
    if path is None or not path.exists():
        flash("没有待导入的文件（或已过期），请重新上传并预览。", "error")
        return redirect(url_for("console.admin_grids"), code=303)
    kind = stash["kind"]
    session.pop(IMPORT_KEY, None)
    try:
        report = _run(kind, _read(path), preview=False)
    except DomainError as error:
        return _refused(kind, admin.import_problems(error))
    finally:
        path.unlink(missing_ok=True)
    created = "、".join(report.org_units_created)
    flash(
        f"已导入 {report.created} 个{KIND_NAMES[kind]}"
        + (f"，新建街道/社区 {created}" if created else "")
        + "。",
        "success",
    )
    return redirect(url_for("console.admin_grids"), code=303)


# -- the work calendar ------------------------------------------------------------------


def _calendar_page(year: int | None = None, status: int = 200, **shown):
    if year is None:
        query, _ = load_form(CalendarQuerySchema(), request.args)
        year = query.get("year") or utcnow().astimezone(city_zone()).year
    body = render("admin_calendar.html", calendar=admin.calendar_year(db.session, year), **shown)
    return body, status


@blp.route("/admin/calendar")
@page(*ADMINS)
def admin_calendar():
    """A year's holidays and working days by month, and the city's own changes."""
    return _calendar_page()


@blp.route("/admin/calendar/days", methods=["POST"])
@page(*ADMINS)
def admin_calendar_day_set():
    """Make a day a workday or a day off for the city (``set_day_override``)."""
    form, errors = load_form(DayOverrideSchema())
    if errors:
        messages = {field: "；".join(texts) for field, texts in errors.items()}
        return _calendar_page(None, 422, errors=messages, form=request.form.to_dict())
    try:
        workcalendar.set_day_override(db.session, form["day"], form["is_workday"], form.get("note"))
    except DomainError as error:
        flash_error(error)
    else:
        what = "工作日" if form["is_workday"] else "休息日"
        flash(f"{form['day']:%Y年%m月%d日} 已设为本市{what}。", "success")
    return redirect(url_for("console.admin_calendar", year=form["day"].year), code=303)


@blp.route("/admin/calendar/days/remove", methods=["POST"])
@page(*ADMINS)
def admin_calendar_day_remove():
    """Drop the city's change of a day: the national calendar applies again."""
    form, errors = load_form(DaySchema())
    if errors:
        flash("日期有误。", "error")
        return redirect(url_for("console.admin_calendar"), code=303)
    try:
        workcalendar.remove_day_override(db.session, form["day"])
    except DomainError:
        flash(f"{form['day']:%Y年%m月%d日} 没有本市的调整。", "error")
    else:
        flash(f"已取消 {form['day']:%Y年%m月%d日} 的本市调整，按国家日历执行。", "success")
    return redirect(url_for("console.admin_calendar", year=form["day"].year), code=303)
