"""Shops: a merchant sees their own; the command centre and chiefs see all; an admin registers.
Self-checks: a merchant records their frontage's daily check; who sees shops reads them."""

from flask.views import MethodView

from app.accounts.models import Role
from app.core.auth import current_device, current_user, require_roles
from app.core.clock import utcnow
from app.core.errors import Forbidden
from app.core.inbound import Blueprint
from app.core.pagination import paginate_select
from app.extensions import db
from app.merchants import selfcheck_record, selfchecks, services
from app.merchants.schemas import (
    SelfCheckCreateSchema,
    SelfCheckQuerySchema,
    SelfCheckRecordQuerySchema,
    SelfCheckRecordSchema,
    SelfCheckSchema,
    ShopQuerySchema,
    ShopSchema,
)
from app.photos.backends import media
from app.workcalendar.services import get_calendar

blp = Blueprint("merchants", __name__, url_prefix="/api/v1", description="Shops under 门前三包")

READERS = (
    Role.ADMIN,
    Role.DISPATCHER,
    Role.STREET_CHIEF,
    Role.ROAD_CHIEF,
    Role.INSPECTOR,
    Role.MERCHANT,
)


@blp.route("/shops")
class ShopsView(MethodView):
    @require_roles(*READERS)
    @blp.arguments(ShopQuerySchema, location="query")
    @blp.response(200, ShopSchema(many=True))
    @blp.paginate()
    def get(self, query, pagination_parameters):
        """List shops; a merchant sees only their own."""
        user = current_user()
        if user.role == Role.MERCHANT:
            query["merchant_id"] = user.id
        return paginate_select(db.session, services.shops_query(**query), pagination_parameters)


@blp.route("/shops/<int:shop_id>")
class ShopView(MethodView):
    @require_roles(*READERS)
    @blp.response(200, ShopSchema)
    def get(self, shop_id):
        """One shop."""
        shop = services.get_shop(db.session, shop_id)
        user = current_user()
        if user.role == Role.MERCHANT and shop.merchant_id != user.id:
            raise Forbidden("a merchant sees only their own shop")
        return shop


@blp.route("/admin/shops")
class AdminShopsView(MethodView):
    @require_roles(Role.ADMIN)
    @blp.arguments(ShopSchema)
    @blp.response(201, ShopSchema)
    @blp.alt_response(404, description="The community or merchant named does not exist")
    def post(self, body):
        """Register a shop, its frontage zone and its responsible merchant."""
        return services.create_shop(db.session, **body)


@blp.route("/selfchecks")
class SelfChecksView(MethodView):
    @require_roles(Role.MERCHANT)
    @blp.arguments(SelfCheckCreateSchema)
    @blp.response(201, SelfCheckSchema, description="Recorded")
    @blp.alt_response(200, schema=SelfCheckSchema, description="The same check again")
    @blp.alt_response(403, description="Not the caller's shop (reason not_in_scope)")
    @blp.alt_response(404, description="The shop named does not exist")
    @blp.alt_response(409, description="The id exists with other content")
    @blp.alt_response(422, description="Several shops and no shop_id (reason shop_required)")
    def post(self, body):
        """Record the daily frontage self-check (门前三包 自查); an issue creates no case."""
        checked = selfchecks.create_selfcheck(
            db.session,
            media(),
            current_user(),
            current_device().device_id,
            selfcheck_id=body.get("id"),
            shop_id=body.get("shop_id"),
            sanitation=body["sanitation"],
            order=body["order"],
            greenery=body["greenery"],
            note=body.get("note"),
            photos=body["photos"],
            client_ts=body.get("client_ts"),
        )
        return checked.selfcheck, 201 if checked.created else 200

    @require_roles(*READERS)
    @blp.arguments(SelfCheckQuerySchema, location="query")
    @blp.response(200, SelfCheckSchema(many=True))
    @blp.paginate()
    def get(self, query, pagination_parameters):
        """List the self-checks the caller may see, newest first."""
        stmt = selfchecks.selfchecks_query(current_user(), **query)
        return paginate_select(db.session, stmt, pagination_parameters)


@blp.route("/selfchecks/<uuid:selfcheck_id>")
class SelfCheckView(MethodView):
    @require_roles(*READERS)
    @blp.response(200, SelfCheckSchema)
    def get(self, selfcheck_id):
        """One self-check the caller may see."""
        return selfchecks.get_selfcheck(db.session, current_user(), selfcheck_id)


@blp.route("/merchants/selfcheck-record")
class SelfCheckRecordView(MethodView):
    @require_roles(Role.DISPATCHER, Role.ADMIN, Role.STREET_CHIEF)
    @blp.arguments(SelfCheckRecordQuerySchema, location="query")
    @blp.response(200, SelfCheckRecordSchema(many=True))
    @blp.alt_response(404, description="No such street")
    @blp.paginate()
    def get(self, query, pagination_parameters):
        """门前三包 daily self-check record of a street: who checked on the day, who has
        not for ``missing_days`` days; a street chief reads only their own street."""
        session = db.session
        street = selfcheck_record.check_street(session, current_user(), query["street_id"])
        day = query.get("date") or get_calendar(session).local_date(utcnow())
        window = selfcheck_record.record_window(session, day, query.get("missing_days"))
        stmt = selfcheck_record.record_query(street.id, window)
        shops = paginate_select(session, stmt, pagination_parameters)
        return selfcheck_record.record_rows(session, shops, window)
