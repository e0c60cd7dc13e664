"""The 两图一表 ledger: a page of JSON rows or a download (GET /ledger), and exports made
in the background (POST /exports, GET /exports/{id}, GET /exports/{id}/file)."""

from __future__ import annotations

import dataclasses

from flask import Response, current_app, stream_with_context, url_for
from flask.views import MethodView

from app.core.auth import current_user, require_roles
from app.core.clock import utcnow
from app.core.errors import Conflict
from app.core.inbound import Blueprint
from app.core.replica import reader
from app.extensions import db
from app.ledger import queries, render, services
from app.ledger.schemas import (
    ExportCreateSchema,
    ExportSchema,
    LedgerPageSchema,
    LedgerQuerySchema,
)
from app.ledger.scopes import READERS
from app.photos.backends import media
from app.workcalendar.services import get_calendar

blp = Blueprint(
    "ledger", __name__, url_prefix="/api/v1", description="两图一表: the ledger of closed cases"
)

MEDIA_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}
FILE_RESPONSE = {
    "200": {
        "content": {
            media_type: {"schema": {"type": "string", "format": "binary"}}
            for media_type in MEDIA_TYPES.values()
        },
        "headers": {
            "Content-Disposition": {
                "description": "attachment; filename and RFC 5987 filename* (UTF-8)",
                "schema": {"type": "string"},
            }
        },
    }
}
# The ledger's 200 is a JSON page or a file: the document says both (a doc entry replaces
# the response decorator's whole "200", so the JSON part and the pagination are here too).
LEDGER_RESPONSE = {
    "200": {
        "description": "A page of rows (JSON), or with format=xlsx|pdf the file",
        "content": {
            "application/json": {"schema": LedgerPageSchema},
            **FILE_RESPONSE["200"]["content"],
        },
        "headers": {
            "X-Pagination": "PAGINATION",
            **FILE_RESPONSE["200"]["headers"],
        },
    }
}
TOO_MANY_ROWS = (
    "More rows than LEDGER_SYNC_MAX_ROWS for a file answered at once: POST the same query "
    "to /api/v1/exports and fetch the file when the export is done"
)


def _settings() -> services.LedgerSettings:
    return services.LedgerSettings.from_config(current_app.config)


def _thumbnail_url(photo: queries.LedgerPhoto, size: int) -> str | None:
    if photo.thumbnail_sha is None:
        return None
    return url_for("photos.PhotoThumbnailView", photo_id=photo.id, size=size)


def _row_view(row: queries.LedgerRow, size: int, workday_seconds: float) -> dict:
    view = dataclasses.asdict(row)
    for kind in ("problem_photos", "closure_photos"):
        view[kind] = [
            {"id": photo.id, "thumbnail_url": _thumbnail_url(photo, size)}
            for photo in getattr(row, kind)
        ]
    view["time_used_text"] = render.time_used(row.time_used, row.limit_type, workday_seconds)
    return view


def _download(source, query: services.LedgerQuery, fmt: str, rows: int) -> Response:
    settings = _settings()
    if rows > settings.sync_max_rows:
        raise Conflict(
            TOO_MANY_ROWS,
            {"rows": [f"{rows} rows, at most {settings.sync_max_rows} answered at once"]},
            headers={"Link": '</api/v1/exports>; rel="alternate"'},
        )
    written = services.written_file(source, media(), query, fmt, settings)
    response = Response(stream_with_context(written.chunks()), mimetype=MEDIA_TYPES[fmt])
    response.content_length = written.size
    response.headers["Content-Disposition"] = render.content_disposition(
        written.ascii_name, written.name
    )
    return response


@blp.route("/ledger")
class LedgerView(MethodView):
    @require_roles(*READERS)
    @blp.doc(responses=LEDGER_RESPONSE)
    @blp.arguments(LedgerQuerySchema, location="query")
    @blp.response(200, LedgerPageSchema, description="A page of rows, or the file")
    @blp.alt_response(409, description=TOO_MANY_ROWS)
    @blp.paginate()
    def get(self, query, pagination_parameters):
        """两图一表: every case closed (销号) in the period and scope, as JSON pages or, with
        ``format=xlsx|pdf``, a file (up to LEDGER_SYNC_MAX_ROWS rows; else 409: export)."""
        fmt = query.pop("format")
        source = reader(db.session, current_user().id)  # the read replica, if any
        ledger = services.ask(source, current_user(), query, utcnow())
        rows = queries.count_rows(source, ledger.period, ledger.scope)
        pagination_parameters.item_count = rows
        if fmt in MEDIA_TYPES:
            return _download(source, ledger, fmt, rows)
        size = _settings().thumbnail_size
        rows = queries.page_rows(
            source,
            ledger.period,
            ledger.scope,
            pagination_parameters.first_item,
            pagination_parameters.page_size,
            size,
        )
        workday = get_calendar(source).workday_seconds
        return {
            "scope": ledger.scope.echo(),
            "period": {
                "first": ledger.period.first,
                "last": ledger.period.last,
                "label": ledger.period.label,
            },
            "items": [_row_view(row, size, workday) for row in rows],
        }


def _export_view(export) -> dict:
    view = {
        field: getattr(export, field)
        for field in ExportSchema._declared_fields
        if field != "file_url"
    }
    view["file_url"] = (
        url_for("ledger.ExportFileView", export_id=export.id) if export.status == "done" else None
    )
    return view


@blp.route("/exports")
class ExportsView(MethodView):
    @require_roles(*READERS)
    @blp.arguments(ExportCreateSchema)
    @blp.response(202, ExportSchema, description="Accepted: follow Location for progress")
    def post(self, body):
        """Export the ledger as XLSX or PDF in the background; a small one is done at once."""
        fmt = body.pop("format")
        export = services.request_export(
            db.session, media(), current_user(), body, fmt, utcnow(), _settings()
        )
        location = url_for("ledger.ExportView", export_id=export.id)
        return _export_view(export), 202, {"Location": location}


@blp.route("/exports/<uuid:export_id>")
class ExportView(MethodView):
    @require_roles(*READERS)
    @blp.response(200, ExportSchema)
    def get(self, export_id):
        """An export's progress (rows done of rows total) and, once done, its file's link."""
        return _export_view(services.get_export(db.session, current_user(), export_id))


@blp.route("/exports/<uuid:export_id>/file")
class ExportFileView(MethodView):
    @require_roles(*READERS)
    @blp.doc(responses=FILE_RESPONSE)
    @blp.response(200, description="The file, as a download")
    @blp.alt_response(409, description="The export is not done (queued, running or failed)")
    def get(self, export_id):
        """The finished export's file, streamed from the blob store."""
        export = services.finished_file(db.session, current_user(), export_id)
        reader = media().store.open(export.sha256)

        def chunks():
            with reader:
                while data := reader.read(256 * 1024):
                    yield data

        response = Response(stream_with_context(chunks()), mimetype=MEDIA_TYPES[export.format])
        response.content_length = export.size
        response.headers["Content-Disposition"] = render.content_disposition(
            services.ascii_filename(export), export.filename
        )
        return response
