"""API shapes of the 12345 bridge."""

import marshmallow as ma

from app.cases.models import URGENCIES
from app.core.schemas import Schema


class OrderInSchema(Schema):
    order_number = ma.fields.String(
        required=True,
        validate=[ma.validate.Length(min=1, max=64), ma.validate.Regexp(r"^[A-Za-z0-9_.:-]+$")],
        metadata={"description": "the 12345 work order number (idempotency key)"},
    )
    caller_name = ma.fields.String(load_default=None, validate=ma.validate.Length(max=64))
    caller_phone = ma.fields.String(
        load_default=None, validate=ma.validate.Regexp(r"^\+?[0-9 -]{3,31}$")
    )
    content = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=4000))
    location_text = ma.fields.String(load_default="", validate=ma.validate.Length(max=256))
    lat = ma.fields.Float(load_default=None, allow_none=True, allow_nan=False)
    lon = ma.fields.Float(load_default=None, allow_none=True, allow_nan=False)
    crs = ma.fields.String(
        load_default="wgs84", validate=ma.validate.OneOf(["wgs84", "gcj02", "bd09"])
    )
    category_hint = ma.fields.String(load_default=None, validate=ma.validate.Length(max=64))
    urgency = ma.fields.String(load_default="normal", validate=ma.validate.OneOf(URGENCIES))

    @ma.validates_schema
    def _point_whole(self, data, **_kwargs):
        if (data.get("lat") is None) != (data.get("lon") is None):
            raise ma.ValidationError("give both lat and lon, or neither", "lat")


class OrderSchema(Schema):
    order_number = ma.fields.String()
    case_id = ma.fields.UUID()
    case_number = ma.fields.String(allow_none=True)
    case_state = ma.fields.String(allow_none=True)
    caller_name = ma.fields.String(
        allow_none=True, metadata={"description": "masked (张**) except on the detail"}
    )
    caller_phone = ma.fields.String(
        allow_none=True, metadata={"description": "masked (138****5678) except on the detail"}
    )
    content = ma.fields.String()
    location_text = ma.fields.String()
    category_hint = ma.fields.String(allow_none=True)
    urgency = ma.fields.String()
    has_point = ma.fields.Boolean()
    received_at = ma.fields.AwareDateTime()
    anonymised = ma.fields.Boolean()
