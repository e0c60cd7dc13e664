"""The outbox for admins: the deliveries (the failed ones above all) and a retry."""

from __future__ import annotations

from flask.views import MethodView

from app.accounts.models import Role
from app.core.auth import require_roles
from app.core.inbound import Blueprint
from app.core.pagination import paginate_select
from app.extensions import db
from app.notifications import services
from app.notifications.schemas import DeliveryQuerySchema, DeliverySchema

blp = Blueprint(
    "notifications",
    __name__,
    url_prefix="/api/v1/admin/notifications",
    description="The notifications outbox: deliveries, their failures, retries",
)


@blp.route("/deliveries")
class DeliveriesView(MethodView):
    @require_roles(Role.ADMIN)
    @blp.arguments(DeliveryQuerySchema, location="query")
    @blp.response(200, DeliverySchema(many=True))
    @blp.paginate()
    def get(self, query, pagination_parameters):
        """The deliveries, newest first, by status (``failed``: the failed list) and kind."""
        stmt = services.deliveries_query(query.get("status"), query.get("kind"))
        return paginate_select(db.session, stmt, pagination_parameters)


@blp.route("/deliveries/<int:delivery_id>/retry")
class RetryView(MethodView):
    @require_roles(Role.ADMIN)
    @blp.response(200, DeliverySchema)
    @blp.alt_response(404, description="No such delivery")
    @blp.alt_response(409, description="The delivery has not failed")
    def post(self, delivery_id: int):
        """Send a failed delivery again at the next pass, its attempts counted afresh."""
        return services.retry(db.session, delivery_id)
