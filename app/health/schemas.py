"""The shape of ``/healthz``."""

from __future__ import annotations

import marshmallow as ma

from app.core.schemas import Schema


class HealthSchema(Schema):
    status = ma.fields.String()
    database = ma.fields.Dict()


class CheckSchema(Schema):
    ok = ma.fields.Boolean(required=True)
    detail = ma.fields.String(required=True)


class ReadySchema(Schema):
    status = ma.fields.String(metadata={"enum": ["ready", "unready"]})
    failing = ma.fields.List(ma.fields.String(), metadata={"description": "checks not ok"})
    checks = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Nested(CheckSchema))
