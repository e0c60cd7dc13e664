"""Unit grids, roads and responsibility grids; which grid a point is in."""

from __future__ import annotations

import functools

from flask import current_app, request
from flask.views import MethodView

from app.accounts.models import Role
from app.core.auth import current_user, require_login, require_roles
from app.core.inbound import Blueprint
from app.core.pagination import paginate_select
from app.core.schemas import PointSchema
from app.extensions import db
from app.grids import importing, responsibility, services
from app.grids.schemas import (
    FeatureCollectionSchema,
    ImportReportSchema,
    LocateResultSchema,
    MyResponsibilityGridSchema,
    ResponsibilityGridQuerySchema,
    ResponsibilityGridSchema,
    ResponsibilityGridUpdateSchema,
    RoadQuerySchema,
    RoadSchema,
    UnitGridDetailSchema,
    UnitGridQuerySchema,
    UnitGridSchema,
)

blp = Blueprint(
    "grids",
    __name__,
    url_prefix="/api/v1",
    description="Unit grids (单元网格), responsibility grids (责任网格), roads, point lookup",
)

# A district's grid file is larger than the JSON limit of ordinary requests.
DEFAULT_IMPORT_MAX_BYTES = 32 * 1024 * 1024


def accepts_large_body(view):
    """Raise this request's body limit to ``GRID_IMPORT_MAX_BYTES`` before it is parsed."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        request.max_content_length = current_app.config.get(
            "GRID_IMPORT_MAX_BYTES", DEFAULT_IMPORT_MAX_BYTES
        )
        return view(*args, **kwargs)

    return wrapper


@blp.route("/grids")
class UnitGridsView(MethodView):
    @require_login
    @blp.arguments(UnitGridQuerySchema, location="query")
    @blp.response(200, UnitGridSchema(many=True))
    @blp.paginate()
    def get(self, query, pagination_parameters):
        """List unit grids, by street, community or responsibility grid."""
        return paginate_select(
            db.session, services.unit_grids_query(**query), pagination_parameters
        )


@blp.route("/grids/locate")
class LocateView(MethodView):
    @require_login
    @blp.arguments(PointSchema, location="query")
    @blp.response(200, LocateResultSchema)
    def get(self, point):
        """Which unit grid, community, street and people a point (WGS-84, GCJ-02, BD-09) is in."""
        return services.locate(
            db.session,
            point["lat"],
            point["lon"],
            point["crs"],
            boundary_buffer_m=current_app.config["GRID_BOUNDARY_BUFFER_M"],
        )


@blp.route("/grids/<code>")
class UnitGridView(MethodView):
    @require_login
    @blp.response(200, UnitGridDetailSchema)
    def get(self, code):
        """One unit grid with its GeoJSON outline."""
        return services.get_unit_grid(db.session, code)


@blp.route("/admin/grids/import")
class UnitGridImportView(MethodView):
    @require_roles(Role.ADMIN)
    @accepts_large_body
    @blp.arguments(FeatureCollectionSchema)
    @blp.response(201, ImportReportSchema)
    @blp.alt_response(422, description="Per-feature problems; nothing was imported")
    def post(self, feature_collection):
        """Import unit grids from a GeoJSON FeatureCollection, all or nothing."""
        return importing.import_unit_grids(db.session, feature_collection)


@blp.route("/admin/roads/import")
class RoadImportView(MethodView):
    @require_roles(Role.ADMIN)
    @accepts_large_body
    @blp.arguments(FeatureCollectionSchema)
    @blp.response(201, ImportReportSchema)
    @blp.alt_response(422, description="Per-feature problems; nothing was imported")
    def post(self, feature_collection):
        """Import roads (LineStrings) from a GeoJSON FeatureCollection, all or nothing."""
        return importing.import_roads(
            db.session,
            feature_collection,
            default_buffer_m=current_app.config["ROAD_DEFAULT_BUFFER_M"],
        )


@blp.route("/roads")
class RoadsView(MethodView):
    @require_login
    @blp.arguments(RoadQuerySchema, location="query")
    @blp.response(200, RoadSchema(many=True))
    @blp.paginate()
    def get(self, query, pagination_parameters):
        """List roads, by street."""
        return paginate_select(
            db.session, services.roads_query(db.session, **query), pagination_parameters
        )


@blp.route("/admin/responsibility-grids")
class ResponsibilityGridsView(MethodView):
    @require_roles(Role.ADMIN)
    @blp.arguments(ResponsibilityGridQuerySchema, location="query")
    @blp.response(200, ResponsibilityGridSchema(many=True))
    @blp.paginate()
    def get(self, query, pagination_parameters):
        """List responsibility grids, by inspector."""
        return paginate_select(
            db.session, responsibility.responsibility_grids_query(**query), pagination_parameters
        )

    @require_roles(Role.ADMIN)
    @blp.arguments(ResponsibilityGridSchema)
    @blp.response(201, ResponsibilityGridSchema)
    def post(self, body):
        """Group unit grids into a responsibility grid and give it to an inspector."""
        return responsibility.create_responsibility_grid(db.session, **body)


@blp.route("/admin/responsibility-grids/<int:responsibility_grid_id>")
class ResponsibilityGridView(MethodView):
    @require_roles(Role.ADMIN)
    @blp.response(200, ResponsibilityGridSchema)
    def get(self, responsibility_grid_id):
        """One responsibility grid."""
        return responsibility.get_responsibility_grid(db.session, responsibility_grid_id)

    @require_roles(Role.ADMIN)
    @blp.arguments(ResponsibilityGridUpdateSchema)
    @blp.response(200, ResponsibilityGridSchema)
    def patch(self, body, responsibility_grid_id):
        """Rename, reassign the inspector, or replace the unit grids."""
        return responsibility.update_responsibility_grid(db.session, responsibility_grid_id, body)


@blp.route("/responsibility-grids/mine")
class MyResponsibilityGridsView(MethodView):
    @require_roles(Role.INSPECTOR)
    @blp.response(200, MyResponsibilityGridSchema(many=True))
    def get(self):
        """The calling inspector's responsibility grids, with their unit grids' outlines."""
        return responsibility.responsibility_grids_of(db.session, current_user().id)
