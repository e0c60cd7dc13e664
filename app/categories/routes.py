"""Categories: read by every signed-in user; local ones added and limits changed by an admin."""

from flask.views import MethodView

from app.accounts.models import Role
from app.categories import services
from app.categories.schemas import (
    CategoryCreateSchema,
    CategoryQuerySchema,
    CategorySchema,
    CategoryUpdateSchema,
)
from app.core.auth import require_login, require_roles
from app.core.inbound import Blueprint
from app.core.pagination import paginate_select
from app.extensions import db

blp = Blueprint(
    "categories",
    __name__,
    url_prefix="/api/v1",
    description="Case categories: 部件 components and 事件 events, with their time limits",
)


@blp.route("/categories")
class CategoriesView(MethodView):
    @require_login
    @blp.arguments(CategoryQuerySchema, location="query")
    @blp.response(200, CategorySchema(many=True))
    @blp.paginate()
    def get(self, query, pagination_parameters):
        """List categories, by kind, edition, major class, local or national, in use."""
        return paginate_select(
            db.session, services.categories_query(**query), pagination_parameters
        )


@blp.route("/categories/<int:category_id>")
class CategoryView(MethodView):
    @require_login
    @blp.response(200, CategorySchema)
    def get(self, category_id):
        """One category."""
        return services.get_category(db.session, category_id)


@blp.route("/admin/categories")
class AdminCategoriesView(MethodView):
    @require_roles(Role.ADMIN)
    @blp.arguments(CategoryCreateSchema)
    @blp.response(201, CategorySchema)
    @blp.alt_response(409, description="The code exists for this kind and edition")
    def post(self, body):
        """Add a local category; its code follows the edition it extends."""
        return services.create_local_category(db.session, **body)


@blp.route("/admin/categories/<int:category_id>")
class AdminCategoryView(MethodView):
    @require_roles(Role.ADMIN)
    @blp.arguments(CategoryUpdateSchema)
    @blp.response(200, CategorySchema)
    def patch(self, body, category_id):
        """Change a category's name, time limit or limit type, or take it out of use."""
        return services.update_category(db.session, category_id, body)
