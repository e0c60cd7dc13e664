"""Shapes of the pull API, for the OpenAPI document."""

from __future__ import annotations

import marshmallow as ma

from app.core.schemas import Schema
from app.feed.services import DEFAULT_LIMIT, MAX_LIMIT


class PullArgsSchema(Schema):
    cursor = ma.fields.String(
        load_default="", metadata={"description": "opaque; empty pulls everything in scope"}
    )
    limit = ma.fields.Integer(
        load_default=DEFAULT_LIMIT, validate=ma.validate.Range(min=1, max=MAX_LIMIT)
    )


class ChangeSchema(Schema):
    seq = ma.fields.Integer()
    entity_type = ma.fields.String(
        metadata={
            "enum": [
                "case",
                "task",
                "photo",
                "comment",
                "selfcheck",
                "conflict",
                "category",
                "grid",
                "calendar",
            ]
        }
    )
    entity_id = ma.fields.String()
    op = ma.fields.String(metadata={"enum": ["upsert", "delete", "revoke"]})
    version = ma.fields.Integer(allow_none=True)
    data = ma.fields.Dict(allow_none=True, metadata={"description": "the thing now (upsert)"})


class PageSchema(Schema):
    changes = ma.fields.List(ma.fields.Nested(ChangeSchema))
    cursor = ma.fields.String()
    has_more = ma.fields.Boolean()
    last_mid = ma.fields.Integer()
    reset = ma.fields.Boolean()
