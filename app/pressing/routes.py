"""Pressing a case by hand (督办) and reading a case's pressings."""

from __future__ import annotations

import uuid

from flask.views import MethodView

from app.accounts.models import Role
from app.core.auth import current_user, require_roles
from app.core.inbound import Blueprint
from app.extensions import db
from app.pressing import services
from app.pressing.schemas import PressingSchema, PressSchema

blp = Blueprint(
    "pressing",
    __name__,
    url_prefix="/api/v1",
    description="Pressing (三级督办): automatic escalation of overdue cases, and by hand",
)

PRESSERS = (Role.DISPATCHER, Role.STREET_CHIEF, Role.ROAD_CHIEF)


@blp.route("/cases/<uuid:case_id>/press")
class PressView(MethodView):
    @require_roles(*PRESSERS)
    @blp.arguments(PressSchema)
    @blp.response(201, PressingSchema)
    @blp.alt_response(403, description="Not a chief of the case's street or road")
    @blp.alt_response(409, description="The case is not open")
    def post(self, body, case_id: uuid.UUID):
        """Press an open case: a dispatcher, or a chief of its street or road."""
        return services.press_case(db.session, current_user(), case_id, body["note"])


@blp.route("/cases/<uuid:case_id>/pressings")
class PressingsView(MethodView):
    @require_roles(*PRESSERS)
    @blp.response(200, PressingSchema(many=True))
    def get(self, case_id: uuid.UUID):
        """A case's pressings, automatic and by hand, oldest first."""
        return services.pressings_of(db.session, current_user(), case_id)
