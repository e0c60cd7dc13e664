"""API shapes of shops and their self-checks."""

import json

import marshmallow as ma

from app.core.schemas import Schema
from app.merchants.models import SELFCHECK_MARKS


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


_MARK = ma.validate.OneOf(SELFCHECK_MARKS)


class SelfCheckPhotoSchema(Schema):
    """A photo of the check, by the phone's UUID and its sha256 (bytes before or after)."""

    photo_id = ma.fields.UUID(required=True)
    sha256 = ma.fields.String(required=True, validate=ma.validate.Regexp(r"^[0-9a-fA-F]{64}$"))
    kind = ma.fields.String(validate=ma.validate.OneOf(["selfcheck"]))
    taken_at = ma.fields.AwareDateTime(allow_none=True)
    lat = ma.fields.Float(allow_none=True, validate=ma.validate.Range(-90, 90))
    lon = ma.fields.Float(allow_none=True, validate=ma.validate.Range(-180, 180))


class SelfCheckCreateSchema(Schema):
    id = ma.fields.UUID(metadata={"description": "the phone-made UUID (made here if absent)"})
    shop_id = ma.fields.Integer(
        strict=True,
        allow_none=True,
        metadata={"description": "the shop checked; may be left out by a one-shop merchant"},
    )
    sanitation = ma.fields.String(required=True, validate=_MARK)
    order = ma.fields.String(required=True, validate=_MARK)
    greenery = ma.fields.String(required=True, validate=_MARK)
    note = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=2000))
    photos = ma.fields.List(ma.fields.Nested(SelfCheckPhotoSchema), load_default=list)
    client_ts = ma.fields.AwareDateTime(allow_none=True)


class SelfCheckSchema(Schema):
    id = ma.fields.UUID()
    shop_id = ma.fields.Integer()
    merchant_id = ma.fields.Integer()
    sanitation = ma.fields.String()
    order = ma.fields.String()
    greenery = ma.fields.String()
    has_issue = ma.fields.Boolean(metadata={"description": "any result is issue"})
    note = ma.fields.String(allow_none=True)
    photo_ids = ma.fields.List(ma.fields.String())
    device_id = ma.fields.String(allow_none=True)
    client_ts = ma.fields.AwareDateTime(allow_none=True)
    created_at = ma.fields.AwareDateTime()


class SelfCheckQuerySchema(Schema):
    shop_id = ma.fields.Integer()
    has_issue = ma.fields.Boolean()


class SelfCheckRecordQuerySchema(Schema):
    street_id = ma.fields.Integer(required=True, strict=False)
    date = ma.fields.Date(metadata={"description": "the local day; default today"})
    missing_days = ma.fields.Integer(
        validate=ma.validate.Range(1, 366),
        metadata={"description": "only shops not checked in the N days ending on date"},
    )


class SelfCheckRecordSchema(Schema):
    shop_id = ma.fields.Integer()
    shop_name = ma.fields.String()
    community_id = ma.fields.Integer()
    merchant_id = ma.fields.Integer(allow_none=True)
    merchant_name = ma.fields.String(allow_none=True)
    checked = ma.fields.Boolean(metadata={"description": "checked on the day"})
    checks = ma.fields.Integer(metadata={"description": "checks on the day"})
    has_issue = ma.fields.Boolean(metadata={"description": "a check of the day had an issue"})
    last_checked_on = ma.fields.Date(allow_none=True)
    days_without_check = ma.fields.Integer(allow_none=True)
