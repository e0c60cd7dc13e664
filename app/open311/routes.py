"""Open311 GeoReport v2 at /open311/v2/ (JSON and XML as the specification writes them;
its contract is the specification, so these routes stay out of our OpenAPI document) and
the admin's client systems at /api/v1/admin/open311/clients."""

from __future__ import annotations

import uuid

from flask import Response, current_app, request, url_for
from flask.views import MethodView
from werkzeug.exceptions import HTTPException

from app.accounts.models import Role
from app.cases.services import CasePolicy
from app.core.auth import current_user, require_roles
from app.core.clock import utcnow
from app.core.errors import DomainError, NotFound, ValidationFailed
from app.core.inbound import Blueprint
from app.core.pagination import paginate_select
from app.extensions import db
from app.open311 import clients, filing, services
from app.open311.formats import (
    FORMATS,
    MEDIA_TYPES,
    parse_w3c,
    render_errors,
    to_json,
    to_xml,
    to_xml_object,
    unsafe_fields,
)
from app.open311.models import Open311Request
from app.open311.schemas import (
    ClientCreatedSchema,
    ClientCreateSchema,
    ClientSchema,
    FiledRequestSchema,
)
from app.photos import services as photos
from app.photos.backends import media
from app.photos.models import Photo
from app.workcalendar.services import get_calendar
from media.errors import MediaError

FMT = "<any(json, xml):fmt>"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"


class GeoReportBlueprint(Blueprint):
    """Served as the Open311 specification writes it, not documented in our OpenAPI."""

    def register_views_in_doc(self, *args, **kwargs) -> None:
        return None


georeport = GeoReportBlueprint(
    "open311", __name__, url_prefix="/open311/v2", description="Open311 GeoReport v2"
)
admin = Blueprint(
    "open311_admin",
    __name__,
    url_prefix="/api/v1",
    description="Open311 client systems: their api_key and rate limit",
)
blueprints = (georeport, admin)
blp = georeport  # create_app reads `blp` first


# ---------------------------------------------------------------------------------------------
# Answers


def _fmt() -> str:
    fmt = (request.view_args or {}).get("fmt")
    if fmt in FORMATS:
        return fmt
    return "xml" if request.path.endswith(".xml") else "json"


def _errors(status: int, description: str, headers: dict | None = None) -> Response:
    fmt = _fmt()
    response = Response(render_errors(fmt, status, description), status=status)
    response.content_type = MEDIA_TYPES[fmt]
    response.headers.update(headers or {})
    return response


@georeport.errorhandler(DomainError)
def _domain_error(error: DomainError):
    # The specification answers bad input with a 400 and an error array.
    status = 400 if error.status_code == 422 else error.status_code
    return _errors(status, error.message, error.headers)


@georeport.errorhandler(MediaError)
def _media_error(error: MediaError):
    # Not an image, or a broken one: the specification's 400; too large stays a 413.
    return _errors(413 if error.http_status == 413 else 400, error.message)


@georeport.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    return _errors(error.code or 400, error.description or "bad request")


def _answer(fmt: str, rows, root: str = "service_requests", item: str = "request", status=200):
    body = to_json(rows) if fmt == "json" else to_xml(root, item, rows)
    response = Response(body, status=status)
    response.content_type = MEDIA_TYPES[fmt]
    return response


def _object(fmt: str, root: str, row: dict) -> Response:
    body = to_json(row) if fmt == "json" else to_xml_object(root, row)
    response = Response(body)
    response.content_type = MEDIA_TYPES[fmt]
    return response


def _check_jurisdiction() -> None:
    expected = current_app.config.get("OPEN311_JURISDICTION_ID", "")
    given = request.values.get("jurisdiction_id")
    if given and given != expected:
        raise NotFound(f"jurisdiction_id {given} is not served here")


@georeport.before_request
def _jurisdiction():
    if request.method == "POST":
        # Before anything reads the form: a request carries its photo.
        config = current_app.config
        request.max_content_length = config.get("OPEN311_MAX_BODY_BYTES", media().max_bytes)
    pairs = list(request.args.items(multi=True))
    if request.method == "POST":
        pairs += list(request.form.items(multi=True))
    unsafe = unsafe_fields(pairs)
    if unsafe:
        raise ValidationFailed(f"{', '.join(unsafe)}: control characters are not accepted")
    _check_jurisdiction()


def _zone():
    return get_calendar(db.session).zone


def _photo_url(photo_id: uuid.UUID) -> str:
    return url_for("open311.media", photo_id=photo_id, _external=True)


def _rows(found) -> list[dict]:
    zone = _zone()
    return [services.request_row(db.session, f, c, zone, _photo_url) for f, c in found]


# ---------------------------------------------------------------------------------------------
# GeoReport v2


@georeport.route(f"/discovery.{FMT}")
def discovery(fmt):
    config = current_app.config
    endpoint = url_for("open311.discovery", fmt=fmt, _external=True).rsplit("/", 1)[0]
    return _object(
        fmt,
        "discovery",
        {
            "changeset": "2026-12-05T00:00:00+08:00",
            "contact": config.get("OPEN311_CONTACT", ""),
            "key_service": config.get("OPEN311_KEY_SERVICE", ""),
            "endpoints": [
                {
                    "specification": SPECIFICATION,
                    "url": endpoint,
                    "changeset": "2026-12-05T00:00:00+08:00",
                    "type": "production",
                    "formats": ["text/xml", "application/json"],
                }
            ],
        },
    )


@georeport.route(f"/services.{FMT}")
def service_list(fmt):
    return _answer(fmt, services.services(db.session), "services", "service")


@georeport.route(f"/services/<code>.{FMT}")
def service_definition(code, fmt):
    return _object(fmt, "service_definition", services.definition(db.session, code))


def _listed(name: str) -> list[str]:
    return [v.strip() for raw in request.args.getlist(name) for v in raw.split(",") if v.strip()]


def _date(name: str):
    text = request.args.get(name)
    if not text:
        return None
    try:
        return parse_w3c(text)
    except ValueError:
        raise ValidationFailed(
            f"{name} is a w3c date-time, e.g. 2026-03-09T09:00:00+08:00"
        ) from None


@georeport.route(f"/requests.{FMT}", methods=["GET"])
def request_list(fmt):
    query = services.Query(
        ids=_listed("service_request_id"),
        service_codes=_listed("service_code"),
        statuses=_listed("status"),
        start=_date("start_date"),
        end=_date("end_date"),
    )
    limit = current_app.config.get("OPEN311_MAX_REQUESTS", 1000)
    return _answer(fmt, _rows(services.find_requests(db.session, query, utcnow(), limit)))


@georeport.route(f"/requests.{FMT}", methods=["POST"])
def request_create(fmt):
    config = current_app.config
    form = request.form  # reading it enforces the size limit (a 413)
    client = clients.authenticate(db.session, form.get("api_key") or request.args.get("api_key"))
    upload = request.files.get("media")
    photo = upload.read() if upload is not None else None
    if upload is not None and not photo:
        raise ValidationFailed("media is empty")
    filed = filing.file_request(
        db.session,
        media(),
        client,
        form,
        photo,
        policy=CasePolicy.from_config(config),
        fallback_point=tuple(config["OPEN311_DEFAULT_POINT"]),
    )
    row = {
        "service_request_id": filed.case.number,
        "token": str(filed.request.token),
        "service_notice": services.STATE_NOTES.get(filed.case.state, ""),
        "account_id": filed.request.account_id or "",
    }
    return _answer(fmt, [row])  # 200, as the servers clients were written against answer


@georeport.route(f"/requests/<number>.{FMT}")
def request_one(number, fmt):
    return _answer(fmt, _rows([services.get_request(db.session, number)]))


@georeport.route(f"/tokens/<token>.{FMT}")
def token(token, fmt):
    filed, case = services.by_token(db.session, token)
    return _answer(fmt, [{"service_request_id": case.number, "token": str(filed.token)}])


def media_file(photo_id):
    """A photo a client uploaded with its request (the ``media_url`` we answer with): the
    largest thumbnail once made (EXIF left out), the original bytes until then."""
    if db.session.query(Open311Request.id).filter_by(photo_id=photo_id).first() is None:
        raise NotFound(f"photo {photo_id} does not exist")
    photo = db.session.get(Photo, photo_id)
    blob = photos.photo_blob(db.session, photo)
    store = media()
    sha, media_type = blob.sha256, blob.media_type
    for size in sorted(store.thumbnail_sizes, reverse=True):
        made = (blob.thumbnails or {}).get(str(size))
        if made:
            sha, media_type = made, "image/jpeg"
            break
    return Response(photos.open_blob(store, sha), mimetype=media_type)


georeport.add_url_rule("/media/<uuid:photo_id>", "media", media_file)


@georeport.route("/<path:rest>", methods=["GET", "POST"])
def unknown(rest):
    raise NotFound(f"/open311/v2/{rest} is not a GeoReport v2 resource")


# ---------------------------------------------------------------------------------------------
# Admin: client systems


@admin.route("/admin/open311/clients")
class ClientsView(MethodView):
    @require_roles(Role.ADMIN)
    @admin.response(200, ClientSchema(many=True))
    @admin.paginate()
    def get(self, pagination_parameters):
        """The Open311 client systems, revoked ones included."""
        return paginate_select(db.session, clients.clients_query(), pagination_parameters)

    @require_roles(Role.ADMIN)
    @admin.arguments(ClientCreateSchema)
    @admin.response(201, ClientCreatedSchema)
    @admin.alt_response(409, description="A client of that name exists")
    def post(self, body):
        """Add a client system; its ``api_key`` is in this answer only (stored hashed)."""
        created = clients.create_client(
            db.session, current_user(), body["name"], body["rate_limit_per_minute"]
        )
        fields = ClientSchema().fields
        return {name: getattr(created.client, name) for name in fields} | {
            "api_key": created.api_key
        }


@admin.route("/admin/open311/clients/<int:client_id>/revoke")
class ClientRevokeView(MethodView):
    @require_roles(Role.ADMIN)
    @admin.response(200, ClientSchema)
    def post(self, client_id):
        """Revoke a client's key: its calls are refused from now on."""
        return clients.revoke_client(db.session, client_id)


@admin.route("/open311/requests/<uuid:case_id>")
class FiledRequestView(MethodView):
    @require_roles(Role.DISPATCHER)
    @admin.response(200, FiledRequestSchema)
    @admin.alt_response(404, description="The case did not come through Open311")
    def get(self, case_id):
        """The Open311 request behind a case, with the reporter's contact: for the command
        centre only (personal data; Open311 itself never shows it)."""
        return services.filed_for_case(db.session, case_id)
