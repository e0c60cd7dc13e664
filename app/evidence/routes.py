"""Evidence flags on closure and check photos, for the dispatcher to review."""

from __future__ import annotations

from flask.views import MethodView

from app.accounts.models import Role
from app.core.auth import current_user, require_roles
from app.core.inbound import Blueprint
from app.core.pagination import paginate_select
from app.evidence import services
from app.evidence.schemas import EvidenceFlagQuerySchema, EvidenceFlagSchema, ReviewSchema
from app.extensions import db

blp = Blueprint(
    "evidence",
    __name__,
    url_prefix="/api/v1",
    description="Evidence flags: photos that look faked (same picture, far away, too early)",
)


@blp.route("/evidence-flags")
class EvidenceFlagsView(MethodView):
    @require_roles(Role.DISPATCHER, Role.ADMIN)
    @blp.arguments(EvidenceFlagQuerySchema, location="query")
    @blp.response(200, EvidenceFlagSchema(many=True))
    @blp.paginate()
    def get(self, query, pagination_parameters):
        """List evidence flags, newest first, by case, kind and whether reviewed."""
        return paginate_select(db.session, services.flags_query(**query), pagination_parameters)


@blp.route("/evidence-flags/<int:flag_id>/review")
class EvidenceFlagReviewView(MethodView):
    @require_roles(Role.DISPATCHER)
    @blp.arguments(ReviewSchema)
    @blp.response(200, EvidenceFlagSchema)
    @blp.alt_response(409, description="Already reviewed")
    def post(self, body, flag_id):
        """Mark a flag reviewed, with the dispatcher's note."""
        return services.review_flag(db.session, current_user(), flag_id, body["note"])
