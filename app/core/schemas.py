"""Base schema and shared field shapes of the API."""

from __future__ import annotations

import datetime as dt
from typing import Any

import marshmallow as ma

from sync.checks import unsafe_values

# PostgreSQL ``integer``, the column of every id and count a body names; a field that
# needs more declares its own ``Range``.
INT_RANGE = ma.validate.Range(-(2**31), 2**31 - 1)


def _exists_in_utc(value: Any) -> None:
    """A timestamp every column can store: year 1 at +14:00 or year 9999 at -14:00 is
    past the calendar once in UTC."""
    if isinstance(value, dt.datetime) and value.utcoffset() is not None:
        try:
            value.astimezone(dt.UTC)
        except OverflowError as error:
            raise ma.ValidationError("not a representable instant in UTC") from error


class Schema(ma.Schema):
    """Unknown fields in a request are an error, not silently dropped.

    Every request body and query goes through here: the one place that refuses text no
    column can hold (NUL, unpaired surrogates), integers past a column, timestamps that
    do not exist in UTC and deep nesting.
    """

    class Meta:
        unknown = ma.RAISE
        ordered = True

    @ma.pre_load
    def _refuse_unsafe_values(self, data: Any, **_kwargs) -> Any:
        problems = unsafe_values(data)
        if problems is not None:
            raise ma.ValidationError(problems)
        return data

    def on_bind_field(self, field_name: str, field_obj: ma.fields.Field) -> None:
        if isinstance(field_obj, ma.fields.Integer) and not any(
            isinstance(v, ma.validate.Range) and v.max is not None for v in field_obj.validators
        ):
            field_obj.validators = [*field_obj.validators, INT_RANGE]
        if isinstance(field_obj, ma.fields.DateTime):
            field_obj.validators = [*field_obj.validators, _exists_in_utc]
        super().on_bind_field(field_name, field_obj)


class PointSchema(Schema):
    lat = ma.fields.Float(required=True, validate=ma.validate.Range(-90, 90))
    lon = ma.fields.Float(required=True, validate=ma.validate.Range(-180, 180))
    crs = ma.fields.String(
        load_default="wgs84", validate=ma.validate.OneOf(["wgs84", "gcj02", "bd09"])
    )
