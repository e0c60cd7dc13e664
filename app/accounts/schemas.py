"""API shapes of accounts."""

from __future__ import annotations

import marshmallow as ma

from app.accounts.models import DUTY_VALUES, ROLE_VALUES
from app.core.schemas import Schema

_username = ma.validate.Regexp(r"^[A-Za-z0-9_.-]{3,64}$", error="3–64 letters, digits, _ . -")


def _duty() -> ma.fields.String:
    return ma.fields.String(
        allow_none=True,
        validate=ma.validate.OneOf(DUTY_VALUES),
        metadata={
            "description": "a dispatcher's desk duty (intake_clerk 受理员, dispatcher 派遣员, "
            "shift_leader 值班长, centre_leader 指挥中心领导); null: all three desk duties"
        },
    )


class LoginSchema(Schema):
    username = ma.fields.String(required=True, validate=ma.validate.Length(1, 64))
    password = ma.fields.String(required=True, validate=ma.validate.Length(1, 1024), load_only=True)
    device_id = ma.fields.String(
        required=True,
        validate=[ma.validate.Length(1, 128), ma.validate.Regexp(r"\S", error="not blank")],
        metadata={"description": "the phone's own id, not blank"},
    )
    device_name = ma.fields.String(
        load_default="unnamed device", validate=ma.validate.Length(1, 128)
    )


class UserSchema(Schema):
    id = ma.fields.Integer(dump_only=True)
    username = ma.fields.String(dump_only=True)
    display_name = ma.fields.String(dump_only=True)
    role = ma.fields.String(dump_only=True)
    org_unit_id = ma.fields.Integer(dump_only=True, allow_none=True)
    road_id = ma.fields.Integer(dump_only=True, allow_none=True)
    duty = ma.fields.String(dump_only=True, allow_none=True)
    phone = ma.fields.String(dump_only=True, allow_none=True)
    is_active = ma.fields.Boolean(dump_only=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)


class LoginResultSchema(Schema):
    access_token = ma.fields.String()
    token_type = ma.fields.String()
    expires_at = ma.fields.AwareDateTime()
    user = ma.fields.Nested(UserSchema)


class UserCreateSchema(Schema):
    username = ma.fields.String(required=True, validate=_username)
    password = ma.fields.String(required=True, load_only=True, validate=ma.validate.Length(1, 1024))
    role = ma.fields.String(required=True, validate=ma.validate.OneOf(ROLE_VALUES))
    display_name = ma.fields.String(validate=ma.validate.Length(1, 128))
    org_unit_id = ma.fields.Integer(allow_none=True, strict=True)
    road_id = ma.fields.Integer(allow_none=True, strict=True)
    duty = _duty()
    phone = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=32))


class UserUpdateSchema(Schema):
    password = ma.fields.String(load_only=True, validate=ma.validate.Length(1, 1024))
    role = ma.fields.String(validate=ma.validate.OneOf(ROLE_VALUES))
    display_name = ma.fields.String(validate=ma.validate.Length(1, 128))
    org_unit_id = ma.fields.Integer(allow_none=True, strict=True)
    road_id = ma.fields.Integer(allow_none=True, strict=True)
    duty = _duty()
    phone = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=32))
    is_active = ma.fields.Boolean()


class UserQuerySchema(Schema):
    role = ma.fields.String(validate=ma.validate.OneOf(ROLE_VALUES))
    org_unit_id = ma.fields.Integer()
    q = ma.fields.String(validate=ma.validate.Length(1, 64))


class DeviceSchema(Schema):
    id = ma.fields.Integer(dump_only=True)
    user_id = ma.fields.Integer(dump_only=True)
    device_id = ma.fields.String(dump_only=True)
    name = ma.fields.String(dump_only=True)
    active = ma.fields.Boolean(dump_only=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)
    last_login_at = ma.fields.AwareDateTime(dump_only=True)
    last_seen_at = ma.fields.AwareDateTime(dump_only=True, allow_none=True)
    expires_at = ma.fields.AwareDateTime(dump_only=True, allow_none=True)
    revoked_at = ma.fields.AwareDateTime(dump_only=True, allow_none=True)


class DeviceQuerySchema(Schema):
    user_id = ma.fields.Integer()
    active = ma.fields.Boolean()
