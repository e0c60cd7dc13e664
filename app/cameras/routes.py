"""Cameras and their AI events: an admin registers camera systems (their API keys),
cameras and per-category settings; a camera system posts events with its key; the admin
and the command centre list the events with what became of them."""

from __future__ import annotations

from flask import current_app, g, request
from flask.views import MethodView

from app.accounts.models import Role
from app.cameras import intake, services
from app.cameras.schemas import (
    CameraEditSchema,
    CameraSchema,
    EventFormSchema,
    EventQuerySchema,
    EventSchema,
    EventUploadSchema,
    IssuedKeySchema,
    SettingSchema,
    SnapshotSchema,
    SystemCreateSchema,
    SystemSchema,
)
from app.cases.services import CasePolicy
from app.core.auth import require_roles
from app.core.errors import error_body
from app.core.inbound import Blueprint
from app.core.pagination import paginate_select
from app.extensions import db
from app.photos.backends import media
from media.errors import MediaError

blp = Blueprint(
    "cameras",
    __name__,
    url_prefix="/api/v1",
    description="Cameras and AI events (视频智能识别): systems, cameras, settings, events",
)

EVENT_READERS = (Role.ADMIN, Role.DISPATCHER)
EVENTS_ENDPOINT = "cameras.CameraEventsView"


@blp.errorhandler(MediaError)
def _media_error(error: MediaError):
    response = current_app.json.response(error_body(error.http_status, error.message))
    response.status_code = error.http_status
    return response


@blp.before_request
def _camera_system():
    """An event is sent by a camera system with its key, checked before the body is read;
    its body may carry a snapshot: its own size limit, not the JSON bodies'."""
    if request.endpoint == EVENTS_ENDPOINT and request.method == "POST":
        g.camera_system = services.authenticate(db.session, request.headers.get("X-Api-Key"))
        request.max_content_length = current_app.config["CAMERA_MAX_BODY_BYTES"]


# -- camera systems -----------------------------------------------------------------------------


@blp.route("/admin/camera-systems")
class SystemsView(MethodView):
    @require_roles(Role.ADMIN)
    @blp.response(200, SystemSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters):
        """The camera systems allowed to send events, revoked ones too."""
        return paginate_select(db.session, services.systems_query(), pagination_parameters)

    @require_roles(Role.ADMIN)
    @blp.arguments(SystemCreateSchema)
    @blp.response(201, IssuedKeySchema)
    def post(self, body):
        """Register a camera system; its API key is in this answer only."""
        issued = services.create_system(db.session, body["name"])
        fields = ("id", "name", "key_prefix", "created_at", "revoked_at")
        return {
            **{name: getattr(issued.system, name) for name in fields},
            "api_key": issued.api_key,
        }


@blp.route("/admin/camera-systems/<int:system_id>/revoke")
class SystemRevokeView(MethodView):
    @require_roles(Role.ADMIN)
    @blp.response(200, SystemSchema)
    @blp.alt_response(404, description="Unknown id")
    def post(self, system_id):
        """Revoke a system's key: its events are refused (401) from now on."""
        return services.revoke_system(db.session, system_id)


# -- cameras ------------------------------------------------------------------------------------


@blp.route("/admin/cameras")
class CamerasView(MethodView):
    @require_roles(Role.ADMIN, Role.DISPATCHER)
    @blp.response(200, CameraSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters):
        """The registered cameras."""
        return paginate_select(db.session, services.cameras_query(), pagination_parameters)

    @require_roles(Role.ADMIN)
    @blp.arguments(CameraSchema)
    @blp.response(201, CameraSchema)
    @blp.alt_response(409, description="The code is taken")
    def post(self, body):
        """Register a camera (id/code, name, location, optional unit grid)."""
        return services.create_camera(db.session, **body)


@blp.route("/admin/cameras/<int:camera_id>")
class CameraView(MethodView):
    @require_roles(Role.ADMIN)
    @blp.arguments(CameraEditSchema)
    @blp.response(200, CameraSchema)
    @blp.alt_response(404, description="Unknown id")
    def patch(self, body, camera_id):
        """Move, rename, regrid, switch a camera on or off."""
        return services.update_camera(db.session, camera_id, **body)


# -- settings -----------------------------------------------------------------------------------


@blp.route("/admin/camera-settings")
class SettingsView(MethodView):
    @require_roles(Role.ADMIN, Role.DISPATCHER)
    @blp.response(200, SettingSchema(many=True))
    def get(self):
        """Each configured category's setting (others: the defaults, mode verify)."""
        return db.session.scalars(services.settings_query()).all()


@blp.route("/admin/camera-settings/<int:category_id>")
class SettingView(MethodView):
    @require_roles(Role.ADMIN)
    @blp.arguments(SettingSchema)
    @blp.response(200, SettingSchema)
    @blp.alt_response(404, description="Unknown id")
    def put(self, body, category_id):
        """Set a category's minimum confidence, mode (verify / dispatch and its department)
        and attaching window."""
        return services.put_setting(db.session, category_id, **body)


# -- events -------------------------------------------------------------------------------------


@blp.route("/camera-events")
class CameraEventsView(MethodView):
    @blp.doc(
        security=[],
        parameters=[
            {"in": "header", "name": "X-Api-Key", "required": True, "schema": {"type": "string"}}
        ],
        responses={"401": {"description": "Missing, unknown or revoked X-Api-Key"}},
        # The form fields and the file are parsed apart (below); the document shows them
        # as the one multipart body they are.
        requestBody={
            "required": True,
            "content": {"multipart/form-data": {"schema": EventUploadSchema}},
        },
        # No user role: a camera system's own key (X-Api-Key) is the check, answered
        # with 401, as the 12345 bridge's signature is (docs/cameras.md).
        **{"x-roles": ["public"]},
    )
    @blp.arguments(EventFormSchema, location="form")
    @blp.arguments(SnapshotSchema, location="files")
    @blp.response(201, EventSchema, description="Taken in")
    @blp.alt_response(200, schema=EventSchema, description="The same event id again")
    @blp.alt_response(413, description="The body is over CAMERA_MAX_BODY_BYTES")
    @blp.alt_response(422, description="A bad field, or a snapshot that is not a sound image")
    def post(self, form, files):
        """A camera system's AI event (X-Api-Key): a case, an attachment, or ignored."""
        system = g.camera_system
        config = current_app.config
        received = intake.receive_event(
            db.session,
            media(),
            system,
            intake.NewEvent(
                event_id=form["event_id"],
                camera_code=form["camera_id"],
                category=form["category"],
                category_kind=form.get("category_kind"),
                confidence=form["confidence"],
                detected_at=form["detected_at"],
                snapshot=files["snapshot"].read(),
            ),
            policy=CasePolicy.from_config(config),
            defaults=services.EventDefaults(
                min_confidence=config["CAMERA_MIN_CONFIDENCE"],
                window_minutes=config["CAMERA_WINDOW_MINUTES"],
            ),
        )
        return received.event, 201 if received.created else 200

    @require_roles(*EVENT_READERS)
    @blp.arguments(EventQuerySchema, location="query")
    @blp.response(200, EventSchema(many=True))
    @blp.paginate()
    def get(self, query, pagination_parameters):
        """Events received, newest first, with their status and case."""
        stmt = services.events_query(**query)
        return paginate_select(db.session, stmt, pagination_parameters)
