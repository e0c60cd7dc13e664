"""The admin pages' forms and query strings (users, devices, grid imports, the work
calendar), each with Chinese messages; the services check the rest, as for the API."""

from __future__ import annotations

import datetime as dt

import marshmallow as ma

from app.accounts.models import DUTY_VALUES, ROLE_VALUES
from app.console.schemas import FormSchema

REQUIRED = {"required": "必填"}
NUMBER = {"invalid": "须为数字", **REQUIRED}


def _text(low: int, high: int, **kwargs) -> ma.fields.String:
    return ma.fields.String(
        validate=ma.validate.Length(low, high, error=f"长度须在 {low}–{high} 个字符之间"),
        error_messages=REQUIRED,
        **kwargs,
    )


def _choice(values, **kwargs) -> ma.fields.String:
    return ma.fields.String(
        validate=ma.validate.OneOf(values, error="请从列表中选择"),
        error_messages=REQUIRED,
        **kwargs,
    )


def _id(**kwargs) -> ma.fields.Integer:
    return ma.fields.Integer(error_messages=NUMBER, **kwargs)


class UserQuerySchema(FormSchema):
    q = _text(1, 64)
    role = _choice(ROLE_VALUES)
    org_unit_id = _id()
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(1, 100_000))


class UserFieldsSchema(FormSchema):
    """What an admin sets on a user: name, role and what it is tied to."""

    display_name = _text(1, 128)
    role = _choice(ROLE_VALUES, required=True)
    duty = _choice(DUTY_VALUES)
    org_unit_id = _id()
    road_id = _id()
    phone = _text(1, 32)


class UserCreateSchema(UserFieldsSchema):
    # The API's rule for user names (app.accounts.schemas).
    username = ma.fields.String(
        required=True,
        validate=ma.validate.Regexp(r"^[A-Za-z0-9_.-]{3,64}$", error="3–64 个字母、数字或 _ . -"),
        error_messages=REQUIRED,
    )
    password = _text(1, 1024, required=True)
    grid_ids = ma.fields.List(_id(), load_default=list)


class UserUpdateSchema(UserFieldsSchema):
    is_active = ma.fields.Boolean(required=True, error_messages={"invalid": "请选择", **REQUIRED})


class PasswordSchema(FormSchema):
    password = _text(1, 1024, required=True)


class ResponsibilityGridsSchema(FormSchema):
    grid_ids = ma.fields.List(_id(), load_default=list)


class DeviceQuerySchema(FormSchema):
    q = _text(1, 64)
    active = ma.fields.Boolean()
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(1, 100_000))


IMPORT_KINDS = ("grids", "roads")


class ImportSchema(FormSchema):
    kind = _choice(IMPORT_KINDS, load_default="grids")


class GridQuerySchema(FormSchema):
    street_code = ma.fields.String(validate=ma.validate.Regexp(r"^[0-9]{9}$", error="9 位数字"))
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(1, 100_000))


class CalendarQuerySchema(FormSchema):
    year = ma.fields.Integer(validate=ma.validate.Range(1970, 2099))


class DayOverrideSchema(FormSchema):
    day = ma.fields.Date(
        required=True,
        validate=ma.validate.Range(dt.date(1970, 1, 1), dt.date(2099, 12, 31), error="超出范围"),
        error_messages={"invalid": "日期格式应为 YYYY-MM-DD", **REQUIRED},
    )
    is_workday = ma.fields.Boolean(required=True, error_messages={"invalid": "请选择", **REQUIRED})
    note = _text(1, 200)


class DaySchema(FormSchema):
    day = ma.fields.Date(
        required=True, error_messages={"invalid": "日期格式应为 YYYY-MM-DD", **REQUIRED}
    )
