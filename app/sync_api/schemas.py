"""Shapes of the sync API, for the OpenAPI document. The push body itself is checked by
``sync.envelope.parse_push``, whose reasons are stable codes the phones act on."""

from __future__ import annotations

import marshmallow as ma

from app.core.schemas import Schema


class MutationSchema(Schema):
    mid = ma.fields.Integer(required=True, metadata={"description": "the device's counter"})
    type = ma.fields.String(required=True, metadata={"example": "report.create"})
    entity_id = ma.fields.UUID(required=True)
    base_version = ma.fields.Integer(allow_none=True)
    args = ma.fields.Dict(required=True)
    client_ts = ma.fields.String(required=True, metadata={"description": "ISO 8601, audit only"})


class PushSchema(Schema):
    device_id = ma.fields.String(required=True)
    mutations = ma.fields.List(ma.fields.Nested(MutationSchema), required=True)


class PushItemResultSchema(Schema):
    mid = ma.fields.Integer()
    status = ma.fields.String(
        metadata={"enum": ["applied", "duplicate", "merged", "conflict", "rejected", "gap"]}
    )
    entity_type = ma.fields.String(allow_none=True)
    entity_id = ma.fields.String(allow_none=True)
    version = ma.fields.Integer(allow_none=True)
    conflict_id = ma.fields.String(allow_none=True)
    reason = ma.fields.String(allow_none=True)
    original_status = ma.fields.String(metadata={"description": "on a duplicate"})
    expected_mid = ma.fields.Integer(metadata={"description": "on a gap"})


class PushResultSchema(Schema):
    last_mid = ma.fields.Integer()
    results = ma.fields.List(ma.fields.Nested(PushItemResultSchema))
