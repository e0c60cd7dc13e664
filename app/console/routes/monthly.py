"""The monthly outputs and the chiefs' board: the 两图一表 ledger (a page of rows with
before/after thumbnails, XLSX / PDF downloads, background exports) and a street or road
chief's board of open and overdue cases (the 考评 rankings are in ``rankings``).

Every view calls the same services as the API's routes (``app.ledger.services``) with the
same roles (``ledger.scopes.READERS``); the services check each scope.
"""

from __future__ import annotations

import uuid

import marshmallow as ma
from flask import (
    Response,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)

from app.accounts.models import Role
from app.console import monthly
from app.console import web as console_web
from app.console.schemas import FormSchema, load_form
from app.console.web import CASE_READERS, blp, page, render, signed_in_user
from app.core.clock import utcnow
from app.core.errors import DomainError, ValidationFailed
from app.extensions import db
from app.ledger import render as ledger_render
from app.ledger import services as ledger_services
from app.ledger.scopes import READERS as LEDGER_READERS
from app.photos.backends import media
from app.workcalendar.services import get_calendar

PAGE_SIZE = 20
FIELD_NAMES = {
    "month": "月份",
    "date_from": "开始日期",
    "date_to": "结束日期",
    "scope": "范围",
    "page": "页码",
    "format": "格式",
}
MEDIA_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}
PREVIEW_SIZE = 320
CHIEFS = (Role.STREET_CHIEF, Role.ROAD_CHIEF)
_MONTH = ma.validate.Regexp(r"^\d{4}-\d{2}$", error="月份格式应为 YYYY-MM")


class LedgerFormSchema(FormSchema):
    """The ledger's query string: a month or a from/to range, a scope ``kind:id``."""

    month = ma.fields.String(validate=_MONTH)
    date_from = ma.fields.Date()
    date_to = ma.fields.Date()
    scope = ma.fields.String(validate=ma.validate.Length(max=64))
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(1, 100_000))


class ExportFormSchema(LedgerFormSchema):
    format = ma.fields.String(
        required=True, validate=ma.validate.OneOf(ledger_services.FILE_FORMATS)
    )


def _settings() -> ledger_services.LedgerSettings:
    return ledger_services.LedgerSettings.from_config(current_app.config)


# -- the ledger -------------------------------------------------------------------------


def _form(source) -> tuple[dict, str | None]:
    """The form as typed (for re-showing it) and the period's error, if any."""
    query, errors = load_form(
        ExportFormSchema() if "format" in source else LedgerFormSchema(), source
    )
    if errors:
        fields = "、".join(FIELD_NAMES.get(field, field) for field in sorted(errors))
        return {"page": 1}, f"查询条件有误（{fields}），请重新选择。"
    if bool(query.get("date_from")) != bool(query.get("date_to")):
        return query, "按日期查询时请同时填写开始和结束日期。"
    if not query.get("date_from") and not query.get("month"):
        query["month"] = monthly.previous_month_label(db.session, utcnow())
    return query, None


def _ledger_args(query: dict) -> dict:
    """The ledger services' arguments (``first``, ``last``, a scope filter)."""
    if query.get("date_from"):
        first, last = query["date_from"], query["date_to"]
    else:
        first, last = monthly.month_days(query["month"])
    return {"first": first, "last": last, **monthly.scope_args(query.get("scope"))}


def _asked(query: dict) -> ledger_services.LedgerQuery:
    return ledger_services.ask(db.session, signed_in_user(), _ledger_args(query), utcnow())


def _link_args(query: dict) -> dict:
    """The query string that asks for the same ledger (downloads, pages, exports)."""
    keys = ("date_from", "date_to") if query.get("date_from") else ("month",)
    args = {key: str(query[key]) for key in keys if query.get(key)}
    if query.get("scope"):
        args["scope"] = query["scope"]
    return args


@blp.route("/ledger")
@page(*LEDGER_READERS)
def ledger():
    """两图一表: the rows of a period and scope with their before/after pictures, the
    downloads (at once, or an export for a large ledger) and the caller's exports."""
    user = signed_in_user()
    source = request.args.copy()
    if "scope" not in source:
        source["scope"] = monthly.own_scope_value(user)
    query, error = _form(source)
    shown = None
    if error is None:
        try:
            asked = _asked(query)
        except ValidationFailed as refused:
            error = monthly.chinese_error(refused)
        else:
            shown = monthly.ledger_page(
                db.session, asked, query.get("page", 1), PAGE_SIZE, PREVIEW_SIZE
            )
    return render(
        "ledger.html",
        query=query,
        error=error,
        shown=shown,
        link_args=_link_args(query),
        scope_choices=monthly.scope_choices(db.session, user),
        sync_max_rows=_settings().sync_max_rows,
        **_exports_context(user),
        preview_size=PREVIEW_SIZE,
        source_labels=ledger_render.SOURCE_LABELS,
        scope_labels=ledger_render.SCOPE_LABELS,
        time_used=_time_used,
        may_open_cases=user.role in CASE_READERS,
        page_size=PAGE_SIZE,
    )


def _exports_context(user) -> dict:
    return {
        "exports": monthly.my_exports(db.session, user),
        "export_status": monthly.EXPORT_STATUS,
        "export_label": monthly.export_label,
    }


@blp.route("/ledger/exports/progress")
@page(*LEDGER_READERS)
def ledger_exports_progress():
    """The caller's exports list (progress, links), for the ledger page to refresh."""
    user = signed_in_user()
    context = _exports_context(user)
    html = render_template("console/_exports.html", **context)
    return jsonify(
        html=html,
        exports=[
            {"id": str(e.id), "status": e.status, "rows_done": e.rows_done}
            for e in context["exports"]
        ],
    )


def _time_used(row) -> str:
    workday = get_calendar(db.session).workday_seconds
    return ledger_render.time_used(row.time_used, row.limit_type, workday)


def _file_response(chunks, fmt: str, size: int, ascii_name: str, name: str) -> Response:
    response = Response(stream_with_context(chunks), mimetype=MEDIA_TYPES[fmt])
    response.content_length = size
    response.headers["Content-Disposition"] = ledger_render.content_disposition(ascii_name, name)
    return response


def _refused(message: str, query: dict | None = None):
    flash(message, "error")
    return redirect(url_for("console.ledger", **_link_args(query or {})), code=303)


@blp.route("/ledger/download")
@page(*LEDGER_READERS)
def ledger_download():
    """The ledger's XLSX or PDF at once (as ``GET /api/v1/ledger?format=``), when it has at
    most LEDGER_SYNC_MAX_ROWS rows; a larger one is an export (the page's button)."""
    query, error = _form(request.args)
    if error or "format" not in query:
        return _refused(error or "请选择下载格式。", query)
    fmt = query["format"]
    try:
        asked = _asked(query)
    except ValidationFailed as refused:
        return _refused(monthly.chinese_error(refused), query)
    settings = _settings()
    rows = monthly.ledger_page(db.session, asked, 1, 1, PREVIEW_SIZE).total
    if rows > settings.sync_max_rows:
        return _refused(
            f"共 {rows} 条，超过可直接下载的 {settings.sync_max_rows} 条，请点击“生成导出文件”。",
            query,
        )
    written = ledger_services.written_file(db.session, media(), asked, fmt, settings)
    return _file_response(written.chunks(), fmt, written.size, written.ascii_name, written.name)


@blp.route("/ledger/exports", methods=["POST"])
@page(*LEDGER_READERS)
def ledger_export():
    """Start an export of the ledger (as ``POST /api/v1/exports``): a small one is made at
    once, a larger one queued; the page lists its progress."""
    query, error = _form(request.form)
    if error or "format" not in query:
        return _refused(error or "请选择导出格式。", query)
    try:
        args = _ledger_args(query)
        export = ledger_services.request_export(
            db.session, media(), signed_in_user(), args, query["format"], utcnow(), _settings()
        )
    except ValidationFailed as refused:
        return _refused(monthly.chinese_error(refused), query)
    except DomainError as refused:
        console_web.flash_error(refused)
        return redirect(url_for("console.ledger", **_link_args(query)), code=303)
    status = monthly.EXPORT_STATUS.get(export.status, export.status)
    flash(f"已提交导出（{export.rows_total} 条）：{status}。", "success")
    return redirect(url_for("console.ledger", **_link_args(query)), code=303)


@blp.route("/ledger/exports/<uuid:export_id>/file")
@page(*LEDGER_READERS)
def ledger_export_file(export_id: uuid.UUID):
    """A finished export's file (as ``GET /api/v1/exports/{id}/file``): its requester's."""
    export = ledger_services.finished_file(db.session, signed_in_user(), export_id)
    reader = media().store.open(export.sha256)

    def chunks():
        with reader:
            while data := reader.read(256 * 1024):
                yield data

    return _file_response(
        chunks(),
        export.format,
        export.size,
        ledger_services.ascii_filename(export),
        export.filename,
    )


# -- a chief's board --------------------------------------------------------------------


@blp.route("/board")
@page(*CHIEFS)
def board():
    """A street or road chief's board: the open and overdue cases of their street or road
    with their traffic lights, and their own ledger (this month and last) to download."""
    user = signed_in_user()
    now = utcnow()
    area = monthly.chief_area(db.session, user)
    shown = monthly.board(db.session, user, area, now) if area is not None else None
    scope = monthly.own_scope_value(user)
    months = [
        ("本月", monthly.this_month_label(db.session, now)),
        ("上月", monthly.previous_month_label(db.session, now)),
    ]
    return render("board.html", area=area, shown=shown, scope=scope, months=months)
