"""Base schema and shared field shapes of the API."""

from __future__ import annotations

import marshmallow as ma


class Schema(ma.Schema):
    """Unknown fields in a request are an error, not silently dropped."""

    class Meta:
        unknown = ma.RAISE
        ordered = True


class PointSchema(Schema):
    lat = ma.fields.Float(required=True, validate=ma.validate.Range(-90, 90))
    lon = ma.fields.Float(required=True, validate=ma.validate.Range(-180, 180))
    crs = ma.fields.String(
        load_default="wgs84", validate=ma.validate.OneOf(["wgs84", "gcj02", "bd09"])
    )
