"""Forms and query strings of the console's pages, read through the base Schema (the
same checks on text and numbers as the API), with unknown fields (the CSRF token, a
button's name) left out."""

from __future__ import annotations

import datetime as dt

import marshmallow as ma
from flask import request

from app.accounts.models import DUTY_VALUES, ROLE_VALUES
from app.cases.models import SOURCES, STATES
from app.console.queries import BY_KEY
from app.core.schemas import Schema


class FormSchema(Schema):
    class Meta:
        unknown = ma.EXCLUDE
        ordered = True


def load_form(schema: ma.Schema, source=None) -> tuple[dict, dict]:
    """(data, errors) of a form (or ``source``: request.args for a query string); empty
    fields count as absent."""
    raw = request.form if source is None else source
    data = {}
    for key in raw:
        values = [value for value in raw.getlist(key) if value != ""]
        if not values:
            continue
        field = schema.fields.get(key)
        data[key] = values if isinstance(field, ma.fields.List) else values[0]
    try:
        return schema.load(data), {}
    except ma.ValidationError as error:
        return {}, error.normalized_messages()


class SignInSchema(FormSchema):
    username = ma.fields.String(required=True, validate=ma.validate.Length(1, 64))
    password = ma.fields.String(required=True, validate=ma.validate.Length(1, 256))


class QueueQuerySchema(FormSchema):
    """The queues' query string: the tab, the page and the filters."""

    queue = ma.fields.String(load_default="to_accept")
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(1, 100_000))
    street_id = ma.fields.Integer()
    grid_code = ma.fields.String(validate=ma.validate.Regexp(r"^[0-9]{15}$", error="15 位数字"))
    category_id = ma.fields.Integer()
    department_id = ma.fields.Integer()
    source = ma.fields.String(validate=ma.validate.OneOf(SOURCES))
    state = ma.fields.String(validate=ma.validate.OneOf(STATES))
    date_from = ma.fields.Date()
    date_to = ma.fields.Date()
    number = ma.fields.String(validate=ma.validate.Length(1, 32))

    @ma.validates("queue")
    def _known_queue(self, value: str, **_kwargs) -> None:
        if value not in BY_KEY:
            raise ma.ValidationError("未知的队列")


# Moves the dispatcher makes from the case page; the approvals of requests go through the
# requests' decision form, merging through its own.
DIRECT_MOVES = (
    "send_verify",
    "register",
    "reject",
    "dispatch",
    "send_check",
    "close",
    "resume",
    "approve_cancellation",
)


class MoveFormSchema(FormSchema):
    action = ma.fields.String(required=True, validate=ma.validate.OneOf(DIRECT_MOVES))
    opinion = ma.fields.String(validate=ma.validate.Length(max=4000))
    department_id = ma.fields.Integer()
    category_id = ma.fields.Integer()
    inspector_id = ma.fields.Integer()


class RoutingFormSchema(FormSchema):
    grid_id = ma.fields.Integer(required=True)


class MergeFormSchema(FormSchema):
    into = ma.fields.UUID(required=True)
    opinion = ma.fields.String(validate=ma.validate.Length(max=4000))


class DecisionFormSchema(FormSchema):
    approve = ma.fields.Boolean(required=True)
    opinion = ma.fields.String(validate=ma.validate.Length(max=4000))


class ReassignFormSchema(FormSchema):
    assignee_id = ma.fields.Integer(required=True)


class PressFormSchema(FormSchema):
    note = ma.fields.String(validate=ma.validate.Length(max=2000))


class ThumbnailQuerySchema(FormSchema):
    size = ma.fields.Integer(load_default=320)


class MapQuerySchema(FormSchema):
    """The city map's data: the view's box ``west,south,east,north`` and a street."""

    bbox = ma.fields.String(validate=ma.validate.Length(max=200))
    street_id = ma.fields.Integer()

    @ma.post_load
    def _box(self, data: dict, **_kwargs) -> dict:
        if "bbox" in data:
            try:
                box = [float(value) for value in data["bbox"].split(",")]
            except ValueError:
                raise ma.ValidationError("four numbers", "bbox") from None
            if len(box) != 4 or not (box[0] <= box[2] and box[1] <= box[3]):
                raise ma.ValidationError("west,south,east,north", "bbox")
            if not all(-180 <= v <= 180 for v in box):
                raise ma.ValidationError("out of range", "bbox")
            data["bbox"] = box
        return data


# -- the admin pages (users, devices, grid imports, the work calendar), with Chinese
# messages; the services check the rest, as for the API ----------------------------------

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
