"""The shape of ``/healthz``."""

from __future__ import annotations

import marshmallow as ma

from app.core.schemas import Schema


class HealthSchema(Schema):
    status = ma.fields.String()
    database = ma.fields.Dict()
