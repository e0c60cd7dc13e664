"""The 12345 bridge: the hotline system hands over work orders (signed, not logged in);
dispatchers read them."""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import current_app, request
from flask.views import MethodView
from werkzeug.exceptions import RequestEntityTooLarge

from app.accounts.models import Role
from app.core.auth import require_roles
from app.core.inbound import Blueprint
from app.core.pagination import paginate_select
from app.extensions import db
from app.hotline import services, signing
from app.hotline.schemas import OrderInSchema, OrderSchema
from app.photos.backends import media

blp = Blueprint(
    "hotline",
    __name__,
    url_prefix="/api/v1/hotline",
    description="The 12345 hotline bridge: signed work orders in, callbacks out",
)

SIGNED = {
    "security": [],
    # No bearer token: the hotline system signs each request (HMAC) instead.
    "x-roles": ["public"],
    "parameters": [
        {"in": "header", "name": signing.TIMESTAMP_HEADER, "required": True,
         "schema": {"type": "integer"}, "description": "Unix seconds of signing"},
        {"in": "header", "name": signing.SIGNATURE_HEADER, "required": True,
         "schema": {"type": "string"},
         "description": "hex HMAC-SHA256 of `timestamp.body` with the shared secret"},
    ],
}  # fmt: skip


def _signed(view: Callable) -> Callable:
    """Check the body's size and signature before anything reads it."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        limit = current_app.config["HOTLINE_MAX_BODY_BYTES"]
        if (request.content_length or 0) > limit:
            raise RequestEntityTooLarge(f"the body is over {limit} bytes")
        body = request.get_data(cache=True)
        if len(body) > limit:
            raise RequestEntityTooLarge(f"the body is over {limit} bytes")
        services.accept_request(
            db.session,
            services.BridgeSettings.from_config(current_app.config),
            request.headers.get(signing.TIMESTAMP_HEADER),
            request.headers.get(signing.SIGNATURE_HEADER),
            body,
        )
        return view(*args, **kwargs)

    return wrapper


@blp.route("/orders")
class OrdersView(MethodView):
    @_signed
    @blp.doc(**SIGNED)
    @blp.arguments(OrderInSchema)
    @blp.response(201, OrderSchema)
    @blp.alt_response(200, schema=OrderSchema, description="The same order again: its case")
    @blp.alt_response(401, description="Unsigned, wrongly signed, stale or replayed")
    @blp.alt_response(409, description="The order number was received with other content")
    @blp.alt_response(413, description="The body is too large")
    def post(self, order):
        """Hand over a 12345 work order: it becomes a case (source hotline), once."""
        settings = services.BridgeSettings.from_config(current_app.config)
        filed = services.file_order(db.session, media(), settings, order)
        view = services.order_view(filed.order, filed.case, full=False)
        return view, 201 if filed.created else 200

    @require_roles(Role.DISPATCHER, Role.ADMIN)
    @blp.response(200, OrderSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters):
        """The work orders received, newest first, the callers masked."""
        page = paginate_select(db.session, services.orders_query(), pagination_parameters)
        return services.order_views(db.session, page, full=False)


@blp.route("/orders/<ref>")
class OrderView(MethodView):
    @require_roles(Role.DISPATCHER)
    @blp.response(200, OrderSchema)
    @blp.alt_response(404, description="No such order")
    def get(self, ref: str):
        """One work order by its case id or order number, the caller in full (dispatchers)."""
        order = services.find_order(db.session, ref)
        return services.order_views(db.session, [order], full=True)[0]
