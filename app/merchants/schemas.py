"""API shapes of shops."""

import json

import marshmallow as ma

from app.core.schemas import Schema


class FrontageField(ma.fields.Field):
    """A GeoJSON Polygon, stored as text."""

    def _serialize(self, value, attr, obj, **kwargs):
        return json.loads(value) if value else None

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise ma.ValidationError("a GeoJSON Polygon object")
        return value


class ShopSchema(Schema):
    id = ma.fields.Integer(dump_only=True)
    name = ma.fields.String(required=True, validate=ma.validate.Length(1, 128))
    address = ma.fields.String(required=True, validate=ma.validate.Length(1, 256))
    community_id = ma.fields.Integer(required=True, strict=True)
    merchant_id = ma.fields.Integer(allow_none=True, strict=True)
    lat = ma.fields.Float(required=True, validate=ma.validate.Range(-90, 90))
    lon = ma.fields.Float(required=True, validate=ma.validate.Range(-180, 180))
    frontage = FrontageField(allow_none=True)
    pledge_signed_on = ma.fields.Date(allow_none=True)


class ShopQuerySchema(Schema):
    community_id = ma.fields.Integer()
    merchant_id = ma.fields.Integer()
