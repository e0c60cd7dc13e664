"""Org units: read by every signed-in user, created by an admin."""

from flask.views import MethodView

from app.core.auth import require_login, require_roles
from app.core.inbound import Blueprint
from app.core.pagination import paginate_select
from app.extensions import db
from app.orgunits import services
from app.orgunits.schemas import OrgUnitQuerySchema, OrgUnitSchema

blp = Blueprint(
    "orgunits",
    __name__,
    url_prefix="/api/v1",
    description="District, streets, communities, departments",
)


@blp.route("/org-units")
class OrgUnitsView(MethodView):
    @require_login
    @blp.arguments(OrgUnitQuerySchema, location="query")
    @blp.response(200, OrgUnitSchema(many=True))
    @blp.paginate()
    def get(self, query, pagination_parameters):
        """List org units, by kind or parent."""
        return paginate_select(
            db.session, services.list_org_units_query(**query), pagination_parameters
        )

    # Org units sit below accounts, so the role is named by its value, not by accounts' Role.
    @require_roles("admin")
    @blp.arguments(OrgUnitSchema)
    @blp.response(201, OrgUnitSchema)
    @blp.alt_response(404, description="The parent named does not exist")
    def post(self, body):
        """Create a district, street, community or department."""
        return services.create_org_unit(db.session, **body)


@blp.route("/org-units/<int:org_unit_id>")
class OrgUnitView(MethodView):
    @require_login
    @blp.response(200, OrgUnitSchema)
    def get(self, org_unit_id):
        """One org unit."""
        return services.get_org_unit(db.session, org_unit_id)
