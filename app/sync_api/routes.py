"""Offline sync: a phone pushes the mutations it queued while offline."""

from __future__ import annotations

from flask import current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint

from app.accounts.permissions import current_device, current_user, require_login
from app.cases.services import CasePolicy
from app.extensions import db
from app.photos.backends import media
from app.sync_api import services
from app.sync_api.schemas import PushResultSchema, PushSchema
from sync.engine import Limits

blp = Blueprint("sync", __name__, url_prefix="/api/v1/sync", description="Offline sync")


def _limits() -> Limits:
    config = current_app.config
    return Limits(
        max_batch=config.get("SYNC_MAX_BATCH", Limits.max_batch),
        max_attempts=config.get("SYNC_MAX_ATTEMPTS", Limits.max_attempts),
    )


@blp.route("/push")
class PushView(MethodView):
    @require_login
    @blp.doc(requestBody={"content": {"application/json": {"schema": PushSchema}}})
    @blp.response(200, PushResultSchema)
    @blp.alt_response(400, description="Malformed envelope (errors.reason says how)")
    @blp.alt_response(403, description="Not this token's device, or another user's")
    @blp.alt_response(413, description="More mutations than one batch may hold")
    @blp.alt_response(503, description="Interrupted: the decided prefix is kept; send again")
    def post(self):
        """Apply a device's queued mutations in mid order, each once; one result each."""
        result = services.push(
            db.session,
            media(),
            current_user(),
            current_device().device_id,
            request.get_json(silent=True),
            policy=CasePolicy.from_config(current_app.config),
            limits=_limits(),
        )
        return result.as_json()
