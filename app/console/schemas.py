"""Forms and query strings of the console's pages, read through the base Schema (the
same checks on text and numbers as the API), with unknown fields (the CSRF token, a
button's name) left out."""

from __future__ import annotations

import marshmallow as ma
from flask import request

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
