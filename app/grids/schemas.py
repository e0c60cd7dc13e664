"""API shapes of grids, roads, responsibility grids and point lookup."""

from __future__ import annotations

import marshmallow as ma

from app.core.schemas import Schema

_street_code = ma.validate.Regexp(r"^[0-9]{9}$", error="9 digits")
_community_code = ma.validate.Regexp(r"^[0-9]{12}$", error="12 digits")
_grid_code = ma.validate.Regexp(r"^[0-9]{15}$", error="15 digits")


class OrgUnitBriefSchema(Schema):
    id = ma.fields.Integer()
    code = ma.fields.String()
    name = ma.fields.String()


class UserBriefSchema(Schema):
    id = ma.fields.Integer()
    username = ma.fields.String()
    display_name = ma.fields.String()


class GridBriefSchema(Schema):
    id = ma.fields.Integer()
    code = ma.fields.String()
    name = ma.fields.String(allow_none=True)


class UnitGridSchema(Schema):
    id = ma.fields.Integer(dump_only=True)
    code = ma.fields.String(dump_only=True)
    name = ma.fields.String(dump_only=True, allow_none=True)
    district_code = ma.fields.String(dump_only=True)
    street_code = ma.fields.String(dump_only=True)
    community_code = ma.fields.String(dump_only=True)
    community_id = ma.fields.Integer(dump_only=True)
    area_m2 = ma.fields.Float(dump_only=True)
    bbox = ma.fields.List(ma.fields.Float(), dump_only=True)
    responsibility_grid = ma.fields.Nested(GridBriefSchema, dump_only=True, allow_none=True)


class UnitGridDetailSchema(UnitGridSchema):
    geometry = ma.fields.Dict(attribute="geojson", dump_only=True)


class UnitGridQuerySchema(Schema):
    street_code = ma.fields.String(validate=_street_code)
    community_code = ma.fields.String(validate=_community_code)
    responsibility_grid_id = ma.fields.Integer()


class FeatureCollectionSchema(Schema):
    """A GeoJSON FeatureCollection; its features are checked one by one by the import."""

    class Meta(Schema.Meta):
        # GIS exports add members such as "name", "crs" and "bbox".
        unknown = ma.EXCLUDE

    type = ma.fields.String(required=True, validate=ma.validate.Equal("FeatureCollection"))
    features = ma.fields.List(ma.fields.Raw(), required=True)


class ImportReportSchema(Schema):
    features_read = ma.fields.Integer()
    created = ma.fields.Integer()
    org_units_created = ma.fields.List(ma.fields.String())


class RoadSchema(Schema):
    id = ma.fields.Integer(dump_only=True)
    code = ma.fields.String(dump_only=True)
    name = ma.fields.String(dump_only=True)
    street_id = ma.fields.Integer(dump_only=True, allow_none=True)
    buffer_m = ma.fields.Float(dump_only=True)
    bbox = ma.fields.List(ma.fields.Float(), dump_only=True)
    geometry = ma.fields.Dict(attribute="geojson", dump_only=True)


class RoadQuerySchema(Schema):
    street_code = ma.fields.String(validate=_street_code)


class ResponsibilityGridSchema(Schema):
    id = ma.fields.Integer(dump_only=True)
    code = ma.fields.String(required=True, validate=ma.validate.Length(1, 32))
    name = ma.fields.String(required=True, validate=ma.validate.Length(1, 128))
    inspector_id = ma.fields.Integer(allow_none=True, strict=True, load_default=None)
    unit_grid_codes = ma.fields.List(
        ma.fields.String(validate=_grid_code),
        required=True,
        validate=ma.validate.Length(min=1),
    )
    created_at = ma.fields.AwareDateTime(dump_only=True)
    updated_at = ma.fields.AwareDateTime(dump_only=True)


class ResponsibilityGridUpdateSchema(Schema):
    name = ma.fields.String(validate=ma.validate.Length(1, 128))
    inspector_id = ma.fields.Integer(allow_none=True, strict=True)
    unit_grid_codes = ma.fields.List(
        ma.fields.String(validate=_grid_code), validate=ma.validate.Length(min=1)
    )


class ResponsibilityGridQuerySchema(Schema):
    inspector_id = ma.fields.Integer()


class MemberGridSchema(GridBriefSchema):
    geometry = ma.fields.Dict(attribute="geojson")


class MyResponsibilityGridSchema(ResponsibilityGridSchema):
    """An inspector's own responsibility grid, with its unit grids' outlines for the map."""

    unit_grids = ma.fields.List(ma.fields.Nested(MemberGridSchema), dump_only=True)


class PointOutSchema(Schema):
    lat = ma.fields.Float()
    lon = ma.fields.Float()
    crs = ma.fields.String()


class RoadMatchSchema(Schema):
    id = ma.fields.Integer(attribute="road.id")
    code = ma.fields.String(attribute="road.code")
    name = ma.fields.String(attribute="road.name")
    distance_m = ma.fields.Float()
    chiefs = ma.fields.List(ma.fields.Nested(UserBriefSchema))


class GridCandidateSchema(Schema):
    id = ma.fields.Integer(attribute="grid.id")
    code = ma.fields.String(attribute="grid.code")
    name = ma.fields.String(attribute="grid.name", allow_none=True)
    distance_m = ma.fields.Float(metadata={"description": "metres to the grid's boundary"})
    contains = ma.fields.Boolean()


class LocateResultSchema(Schema):
    status = ma.fields.String(
        metadata={"description": "inside | near_boundary | outside (管理真空 / 盲区)"}
    )
    point = ma.fields.Nested(PointOutSchema, metadata={"description": "the WGS-84 point used"})
    input = ma.fields.Nested(PointOutSchema)
    boundary_buffer_m = ma.fields.Float()
    boundary_distance_m = ma.fields.Float(allow_none=True)
    grid = ma.fields.Nested(GridBriefSchema, allow_none=True)
    community = ma.fields.Nested(OrgUnitBriefSchema, allow_none=True)
    street = ma.fields.Nested(OrgUnitBriefSchema, allow_none=True)
    district = ma.fields.Nested(OrgUnitBriefSchema, allow_none=True)
    responsibility_grid = ma.fields.Nested(GridBriefSchema, allow_none=True)
    inspector = ma.fields.Nested(UserBriefSchema, allow_none=True)
    street_chiefs = ma.fields.List(ma.fields.Nested(UserBriefSchema))
    roads = ma.fields.List(ma.fields.Nested(RoadMatchSchema))
    candidates = ma.fields.List(ma.fields.Nested(GridCandidateSchema))
