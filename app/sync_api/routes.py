"""Offline sync: a phone pushes the mutations it queued while offline; dispatchers decide
its conflicts and see its rejects; admins watch each phone queue's health."""

from __future__ import annotations

from flask import current_app, request
from flask.views import MethodView

from app.accounts.models import Role
from app.cases.services import CasePolicy
from app.core.auth import current_device, current_user, require_login, require_roles
from app.core.inbound import Blueprint
from app.core.pagination import paginate_select
from app.extensions import db
from app.photos.backends import media
from app.sync_api import conflicts, devices, metrics, pull_routes, rejects, services
from app.sync_api.resolution import Resolution, resolve_conflict
from app.sync_api.schemas import (
    ConflictQuerySchema,
    ConflictSchema,
    DeviceDetailSchema,
    DeviceHealthSchema,
    DeviceQuerySchema,
    MutationRecordSchema,
    PushResultSchema,
    PushSchema,
    RejectedQuerySchema,
    RejectReviewSchema,
    ResolveSchema,
)
from sync.engine import Limits

blp = Blueprint("sync", __name__, url_prefix="/api/v1/sync", description="Offline sync")
admin_blp = Blueprint(
    "sync_admin", __name__, url_prefix="/api/v1/admin/sync", description="Offline sync: phones"
)
# Registered by the app factory; the admin views live under /admin as every admin route.
blueprints = (blp, pull_routes.blp, admin_blp)


def _limits() -> Limits:
    config = current_app.config
    return Limits(
        max_batch=config.get("SYNC_MAX_BATCH", Limits.max_batch),
        max_attempts=config.get("SYNC_MAX_ATTEMPTS", Limits.max_attempts),
        budget=config.get("SYNC_PUSH_BUDGET_SECONDS") or None,
    )


@blp.route("/push")
class PushView(MethodView):
    @require_login
    @blp.doc(requestBody={"content": {"application/json": {"schema": PushSchema}}})
    @blp.response(200, PushResultSchema)
    @blp.alt_response(400, description="Malformed envelope (errors.reason says how)")
    @blp.alt_response(403, description="The body names another device than the token's")
    @blp.alt_response(413, description="More mutations than one batch may hold")
    @blp.alt_response(503, description="Interrupted: the decided prefix is kept; send again")
    def post(self):
        """Apply a device's queued mutations in mid order, each once; one result each, or
        for a prefix of them when the time budget ran out (``complete`` false)."""
        result = services.push(
            db.session,
            media(),
            current_user(),
            current_device().device_id,
            request.get_json(silent=True),
            policy=CasePolicy.from_config(current_app.config),
            limits=_limits(),
            batch=current_app.config.get("SYNC_BATCH_APPLY", True),
        )
        metrics.count_push_outcomes(result.results)
        return result.as_json()


# -- conflicts and rejects in front of people ---------------------------------------------


@blp.route("/conflicts")
class ConflictsView(MethodView):
    @require_roles(Role.DISPATCHER, Role.ADMIN)
    @blp.arguments(ConflictQuerySchema, location="query")
    @blp.response(200, ConflictSchema(many=True))
    @blp.paginate()
    def get(self, query, pagination_parameters):
        """Conflicts with both sides and the field evidence, newest first."""
        page = paginate_select(
            db.session, conflicts.conflicts_query(**query), pagination_parameters
        )
        return conflicts.conflict_views(db.session, page)


@blp.route("/conflicts/<conflict_id>")
class ConflictView(MethodView):
    @require_roles(Role.DISPATCHER, Role.ADMIN)
    @blp.response(200, ConflictSchema)
    def get(self, conflict_id):
        """One conflict with both sides and the field evidence."""
        return conflicts.conflict_view(db.session, conflicts.get_conflict(db.session, conflict_id))


@blp.route("/conflicts/<conflict_id>/resolve")
class ConflictResolveView(MethodView):
    @require_roles(Role.DISPATCHER)
    @blp.arguments(ResolveSchema)
    @blp.response(200, ConflictSchema)
    @blp.alt_response(404, description="No such conflict")
    @blp.alt_response(409, description="already_resolved, not_applicable_now, concurrent_change")
    def post(self, body, conflict_id):
        """Decide a conflict: accept the field action, keep the server's, or merge fields."""
        conflict = resolve_conflict(
            db.session,
            media(),
            current_user(),
            current_device().device_id,
            conflict_id,
            Resolution(body["decision"], body.get("fields"), body.get("opinion")),
            policy=CasePolicy.from_config(current_app.config),
        )
        return conflicts.conflict_view(db.session, conflict)


@blp.route("/rejected")
class RejectedView(MethodView):
    @require_roles(Role.DISPATCHER, Role.ADMIN)
    @blp.arguments(RejectedQuerySchema, location="query")
    @blp.response(200, MutationRecordSchema(many=True))
    @blp.paginate()
    def get(self, query, pagination_parameters):
        """Rejected mutations (re-used mids among them) with reason and payload, newest first."""
        page = paginate_select(db.session, rejects.rejected_query(**query), pagination_parameters)
        return rejects.mutation_views(db.session, page)


@blp.route("/rejected/<int:mutation_id>/review")
class RejectedReviewView(MethodView):
    @require_roles(Role.DISPATCHER)
    @blp.arguments(RejectReviewSchema)
    @blp.response(200, MutationRecordSchema)
    @blp.alt_response(404, description="No rejected mutation of that id")
    @blp.alt_response(409, description="already_reviewed")
    def post(self, body, mutation_id):
        """Mark a rejected mutation as looked at, with what was done about it; it is kept."""
        row = rejects.review_rejected(db.session, current_user(), mutation_id, body.get("note"))
        [view] = rejects.mutation_views(db.session, [row])
        return view


# -- phone queues' health (admin: phones and their tokens are the admin's, as /admin/devices)


@admin_blp.route("/devices")
class SyncDevicesView(MethodView):
    @require_roles(Role.ADMIN)
    @admin_blp.arguments(DeviceQuerySchema, location="query")
    @admin_blp.response(200, DeviceHealthSchema(many=True))
    @admin_blp.paginate()
    def get(self, query, pagination_parameters):
        """Each user's queue on each phone: last push and pull, last mid, open conflicts,
        rejects, pending photos."""
        page = paginate_select(db.session, devices.devices_query(**query), pagination_parameters)
        return devices.device_health(db.session, page)


@admin_blp.route("/devices/<int:device_pk>")
class SyncDeviceView(MethodView):
    @require_roles(Role.ADMIN)
    @admin_blp.response(200, DeviceDetailSchema)
    def get(self, device_pk):
        """One phone queue's health with its recent mutations and failed attempts."""
        return devices.device_detail(db.session, device_pk)
