"""考评: a month's rates, scores and ranks at a level (JSON or XLSX), the weights of the
composite scores, and publishing a month (每月通报). docs/assessment.md defines them."""

from __future__ import annotations

from flask import Response
from flask.views import MethodView

from app.accounts.models import Role
from app.assessment import services, xlsx
from app.assessment.formulas import LEVEL_SUBJECTS
from app.assessment.schemas import (
    AssessmentQuerySchema,
    AssessmentSchema,
    PublicationSchema,
    PublishSchema,
    WeightsSchema,
)
from app.core.auth import current_user, require_roles
from app.core.inbound import Blueprint
from app.extensions import db

blp = Blueprint(
    "assessment",
    __name__,
    url_prefix="/api/v1",
    description="考评: rates, composite scores and rankings by month (docs/assessment.md)",
)

READERS = tuple(services.READERS)
# The 200 answers JSON, or with ``format=xlsx`` the workbook.
BOTH_CONTENTS = {
    "200": {
        "description": "The month's rows (JSON), or the workbook with format=xlsx",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Assessment"}},
            xlsx.MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


@blp.route("/assessment")
class AssessmentView(MethodView):
    @require_roles(*READERS)
    @blp.arguments(AssessmentQuerySchema, location="query")
    @blp.response(200, AssessmentSchema)
    @blp.doc(responses=BOTH_CONTENTS)
    @blp.alt_response(403, description="The caller's role may not read this level")
    @blp.alt_response(422, description="A malformed or future period, an unknown level or format")
    def get(self, query):
        """A month's figures at a level: each formula's numerator, denominator and rate,
        the composite score, rank and change from the previous month; as published if the
        month was published (``recompute``: the current figures and their difference).
        ``format=xlsx`` answers the same as a workbook."""
        answer = services.assessment(
            db.session, current_user(), query["period"], query["level"], query["recompute"]
        )
        if query["format"] == "xlsx":
            body = xlsx.write(AssessmentSchema().dump(answer), LEVEL_SUBJECTS[query["level"]])
            response = Response(body, mimetype=xlsx.MEDIA_TYPE)
            response.headers["Content-Disposition"] = (
                f'attachment; filename="{xlsx.filename(answer)}"'
            )
            return response
        return answer


@blp.route("/assessment/weights")
class WeightsView(MethodView):
    @require_roles(*READERS)
    @blp.response(200, WeightsSchema)
    def get(self):
        """The weight of each formula in each subject's composite score."""
        return {"weights": services.current_weights(db.session)}

    @require_roles(Role.ADMIN)
    @blp.arguments(WeightsSchema)
    @blp.response(200, WeightsSchema)
    @blp.alt_response(422, description="Unknown subjects or formulas, or weights out of range")
    def put(self, body):
        """Set some formulas' weights (the others keep theirs); a subject's weights must
        add up to more than 0."""
        return {"weights": services.set_weights(db.session, current_user(), body["weights"])}


@blp.route("/assessment/publish")
class PublishView(MethodView):
    @require_roles(Role.ADMIN)
    @blp.arguments(PublishSchema)
    @blp.response(201, PublicationSchema)
    @blp.alt_response(409, description="The month is already published")
    @blp.alt_response(422, description="A malformed period, or a month not over")
    def post(self, body):
        """Publish a month that is over (每月通报): every level's rows, ranks and the
        weights used are frozen."""
        return services.publish(db.session, current_user(), body["period"])
