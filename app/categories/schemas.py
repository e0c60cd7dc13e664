"""API shapes of categories."""

import marshmallow as ma

from app.categories.models import EDITIONS, KINDS
from app.core.schemas import Schema
from app.workcalendar.worktime import LIMIT_TYPES

_time_limit = ma.validate.Range(min=0, min_inclusive=False, max=10_000)


class JsonNumber(ma.fields.Float):
    """A JSON number; a numeric string such as "4" is a wrong type, not a number."""

    def _validated(self, value):
        if isinstance(value, str):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class CategorySchema(Schema):
    id = ma.fields.Integer(dump_only=True)
    kind = ma.fields.String(dump_only=True)
    edition = ma.fields.String(dump_only=True)
    code = ma.fields.String(dump_only=True)
    major_code = ma.fields.String(dump_only=True)
    major_name = ma.fields.String(dump_only=True)
    name = ma.fields.String(dump_only=True)
    is_local = ma.fields.Boolean(dump_only=True)
    time_limit = ma.fields.Float(dump_only=True)
    limit_type = ma.fields.String(dump_only=True)
    stage_name = ma.fields.String(dump_only=True, allow_none=True)
    stage_limit = ma.fields.Float(dump_only=True, allow_none=True)
    stage_limit_type = ma.fields.String(dump_only=True, allow_none=True)
    active = ma.fields.Boolean(dump_only=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)


class StageFieldsSchema(Schema):
    """A first stage (arrive / make safe / stop work, then fix): all three or none."""

    stage_name = ma.fields.String(
        allow_none=True,
        validate=ma.validate.Length(1, 32),
        metadata={"description": "the first stage of a two-stage limit (到场, 停工 …)"},
    )
    stage_limit = JsonNumber(allow_none=True, validate=_time_limit)
    stage_limit_type = ma.fields.String(allow_none=True, validate=ma.validate.OneOf(LIMIT_TYPES))


class CategoryCreateSchema(StageFieldsSchema):
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(KINDS))
    edition = ma.fields.String(required=True, validate=ma.validate.OneOf(EDITIONS))
    code = ma.fields.String(
        required=True,
        validate=ma.validate.Regexp(r"^\d{4,5}$", error="4 digits (cjt214) or 5 (gbt47678)"),
    )
    name = ma.fields.String(required=True, validate=ma.validate.Length(1, 128))
    major_name = ma.fields.String(validate=ma.validate.Length(1, 64))
    time_limit = JsonNumber(required=True, validate=_time_limit)
    limit_type = ma.fields.String(required=True, validate=ma.validate.OneOf(LIMIT_TYPES))


class CategoryUpdateSchema(StageFieldsSchema):
    """At least one field: a change that changes nothing is a mistake, not a success."""

    OPENAPI_EXTRA = {"minProperties": 1}

    name = ma.fields.String(validate=ma.validate.Length(1, 128))
    time_limit = JsonNumber(validate=_time_limit)
    limit_type = ma.fields.String(validate=ma.validate.OneOf(LIMIT_TYPES))
    active = ma.fields.Boolean()

    @ma.validates_schema
    def _something(self, data: dict, **_kwargs) -> None:
        if not data:
            raise ma.ValidationError("give at least one field to change", "_schema")


class CategoryQuerySchema(Schema):
    kind = ma.fields.String(validate=ma.validate.OneOf(KINDS))
    edition = ma.fields.String(validate=ma.validate.OneOf(EDITIONS))
    major_code = ma.fields.String(validate=ma.validate.Regexp(r"^\d{2}$"))
    is_local = ma.fields.Boolean()
    active = ma.fields.Boolean()
    q = ma.fields.String(validate=ma.validate.Length(1, 64))
