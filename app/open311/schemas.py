"""API shapes of the admin's Open311 client routes."""

import marshmallow as ma

from app.core.schemas import Schema


class ClientSchema(Schema):
    id = ma.fields.Integer(dump_only=True)
    name = ma.fields.String(dump_only=True)
    key_prefix = ma.fields.String(dump_only=True)
    rate_limit_per_minute = ma.fields.Integer(dump_only=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)
    revoked_at = ma.fields.AwareDateTime(dump_only=True, allow_none=True)


class ClientCreatedSchema(ClientSchema):
    api_key = ma.fields.String(dump_only=True, metadata={"description": "shown only once"})


class ClientCreateSchema(Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=128))
    rate_limit_per_minute = ma.fields.Integer(
        load_default=60, validate=ma.validate.Range(min=1, max=100_000)
    )


class FiledRequestSchema(Schema):
    """The Open311 request behind a case, with the reporter's contact (personal data)."""

    case_id = ma.fields.UUID(dump_only=True)
    token = ma.fields.UUID(dump_only=True)
    client = ma.fields.String(dump_only=True)
    service_code = ma.fields.String(dump_only=True)
    attributes = ma.fields.Dict(dump_only=True)
    address_string = ma.fields.String(dump_only=True, allow_none=True)
    media_url = ma.fields.String(dump_only=True, allow_none=True)
    photo_id = ma.fields.UUID(dump_only=True, allow_none=True)
    email = ma.fields.String(dump_only=True, allow_none=True)
    phone = ma.fields.String(dump_only=True, allow_none=True)
    first_name = ma.fields.String(dump_only=True, allow_none=True)
    last_name = ma.fields.String(dump_only=True, allow_none=True)
    device_id = ma.fields.String(dump_only=True, allow_none=True)
    account_id = ma.fields.String(dump_only=True, allow_none=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)
