"""Shops: a merchant sees their own; the command centre and chiefs see all; an admin registers."""

from flask.views import MethodView
from flask_smorest import Blueprint

from app.accounts.models import Role
from app.accounts.permissions import current_user, require_roles
from app.core.errors import Forbidden
from app.core.pagination import paginate_select
from app.extensions import db
from app.merchants import services
from app.merchants.schemas import ShopQuerySchema, ShopSchema

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
    def post(self, body):
        """Register a shop, its frontage zone and its responsible merchant."""
        return services.create_shop(db.session, **body)
