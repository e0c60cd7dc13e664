"""Shapes of the sync API, for the OpenAPI document: the push, and the people's side of
sync (conflicts, rejected mutations, phone health). The push body itself is checked by
``sync.envelope.parse_push``, whose reasons are stable codes the phones act on."""

from __future__ import annotations

import marshmallow as ma

from app.core.schemas import Schema
from app.sync_api.models import CONFLICT_OPEN, CONFLICT_RESOLVED
from app.sync_api.resolution import DECISIONS, SIDES


class MutationSchema(Schema):
    mid = ma.fields.Integer(required=True, metadata={"description": "the device's counter"})
    type = ma.fields.String(required=True, metadata={"example": "report.create"})
    entity_id = ma.fields.UUID(required=True)
    base_version = ma.fields.Integer(allow_none=True)
    args = ma.fields.Dict(required=True)
    client_ts = ma.fields.String(required=True, metadata={"description": "ISO 8601, audit only"})


class PushSchema(Schema):
    device_id = ma.fields.String(
        required=True,
        validate=[ma.validate.Length(min=1), ma.validate.Regexp(r"\S")],
        metadata={"description": "the phone's device id, not blank (else 400 missing_device_id)"},
    )
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
    complete = ma.fields.Boolean(
        metadata={
            "description": "false when the push's time budget ran out: the results answer a"
            " prefix of the mutations sent and the rest are undecided; send them again"
        }
    )


class SyncUserSchema(Schema):
    id = ma.fields.Integer()
    username = ma.fields.String()
    display_name = ma.fields.String()
    role = ma.fields.String()


class SyncQueueSchema(Schema):
    id = ma.fields.Integer(metadata={"description": "the queue's id (device_pk)"})
    device_id = ma.fields.String()


class ConflictQuerySchema(Schema):
    status = ma.fields.String(validate=ma.validate.OneOf([CONFLICT_OPEN, CONFLICT_RESOLVED]))
    entity_id = ma.fields.UUID()
    device = ma.fields.String(metadata={"description": "a phone's device_id"})


class FieldPhotoSchema(Schema):
    photo_id = ma.fields.UUID()
    sha256 = ma.fields.String(allow_none=True)
    kind = ma.fields.String(allow_none=True)
    status = ma.fields.String(
        allow_none=True, metadata={"description": "pending | available; null: never registered"}
    )
    thumbnail_url = ma.fields.String(allow_none=True)


class FieldSideSchema(Schema):
    base_version = ma.fields.Integer(allow_none=True)
    args = ma.fields.Dict(metadata={"description": "the mutation's args as the phone sent them"})
    note = ma.fields.String(allow_none=True)
    photos = ma.fields.List(ma.fields.Nested(FieldPhotoSchema))
    edits = ma.fields.Dict(metadata={"description": "case.edit: {field: {base, new}}"})


class ServerSideSchema(Schema):
    task = ma.fields.Dict(allow_none=True, metadata={"description": "the task as it is now"})
    case = ma.fields.Dict(
        allow_none=True,
        metadata={"description": "the case as it is now: state, version, open tasks, …"},
    )
    fields = ma.fields.Dict(metadata={"description": "case.edit: the edited fields' values now"})


class ResolutionSchema(Schema):
    decision = ma.fields.String()
    fields = ma.fields.Dict(allow_none=True)
    by = ma.fields.Nested(SyncUserSchema, allow_none=True)
    at = ma.fields.AwareDateTime()
    opinion = ma.fields.String(allow_none=True)


class ConflictSchema(Schema):
    id = ma.fields.String()
    status = ma.fields.String()
    reason = ma.fields.String()
    type = ma.fields.String()
    entity_type = ma.fields.String()
    entity_id = ma.fields.UUID()
    user = ma.fields.Nested(SyncUserSchema, allow_none=True)
    device = ma.fields.Nested(SyncQueueSchema)
    mid = ma.fields.Integer()
    client_ts = ma.fields.String(allow_none=True, metadata={"description": "the phone's clock"})
    created_at = ma.fields.AwareDateTime()
    errors = ma.fields.Dict(metadata={"description": "the refusal; a field conflict's values"})
    field = ma.fields.Nested(FieldSideSchema)
    server = ma.fields.Nested(ServerSideSchema)
    resolution = ma.fields.Nested(ResolutionSchema, allow_none=True)
    version = ma.fields.Integer()


class ResolveSchema(Schema):
    decision = ma.fields.String(required=True, validate=ma.validate.OneOf(DECISIONS))
    fields = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.String(validate=ma.validate.OneOf(SIDES)),
        metadata={"description": "merge only: per clashing field, field or server"},
    )
    opinion = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=4000))


class RejectedQuerySchema(Schema):
    device = ma.fields.String(metadata={"description": "a phone's device_id"})
    user = ma.fields.Integer(metadata={"description": "a user's id"})
    reason = ma.fields.String()
    reviewed = ma.fields.Boolean(
        metadata={"description": "false: only those no dispatcher has reviewed yet"}
    )


class RejectReviewSchema(Schema):
    note = ma.fields.String(
        allow_none=True,
        validate=ma.validate.Length(max=4000),
        metadata={"description": "what was done about it"},
    )


class RejectReviewViewSchema(Schema):
    by = ma.fields.Nested(SyncUserSchema, allow_none=True)
    at = ma.fields.AwareDateTime()
    note = ma.fields.String(allow_none=True)


class MutationRecordSchema(Schema):
    id = ma.fields.Integer()
    mid = ma.fields.Integer(allow_none=True)
    stray_of = ma.fields.Integer(
        allow_none=True, metadata={"description": "a mid_reused re-send: the mid it re-used"}
    )
    type = ma.fields.String(allow_none=True)
    entity_type = ma.fields.String(allow_none=True)
    entity_id = ma.fields.UUID(allow_none=True)
    status = ma.fields.String()
    reason = ma.fields.String(allow_none=True)
    conflict_id = ma.fields.String(allow_none=True)
    payload = ma.fields.Raw(metadata={"description": "the mutation as the phone sent it"})
    device = ma.fields.Nested(SyncQueueSchema)
    user = ma.fields.Nested(SyncUserSchema, allow_none=True)
    created_at = ma.fields.AwareDateTime()
    review = ma.fields.Nested(
        RejectReviewViewSchema,
        allow_none=True,
        metadata={"description": "a reject a dispatcher has looked at: who, when, what was done"},
    )


class DeviceQuerySchema(Schema):
    device = ma.fields.String(metadata={"description": "a phone's device_id"})
    user = ma.fields.Integer(metadata={"description": "a user's id"})


class DeviceHealthSchema(Schema):
    id = ma.fields.Integer(metadata={"description": "device_pk: one user's queue on one phone"})
    device_id = ma.fields.String()
    user = ma.fields.Nested(SyncUserSchema, allow_none=True)
    last_mid = ma.fields.Integer()
    last_push_at = ma.fields.AwareDateTime(allow_none=True)
    last_pull_at = ma.fields.AwareDateTime(allow_none=True)
    open_conflicts = ma.fields.Integer()
    rejected = ma.fields.Integer()
    pending_photos = ma.fields.Integer(
        metadata={"description": "the user's photos whose bytes have not arrived"}
    )
    created_at = ma.fields.AwareDateTime()


class SyncFailureSchema(Schema):
    mid = ma.fields.Integer()
    attempts = ma.fields.Integer()
    last_error = ma.fields.String()
    last_failed_at = ma.fields.AwareDateTime()


class DeviceDetailSchema(DeviceHealthSchema):
    recent_mutations = ma.fields.List(ma.fields.Nested(MutationRecordSchema))
    failures = ma.fields.List(
        ma.fields.Nested(SyncFailureSchema), metadata={"description": "mids not yet decided"}
    )
    open_conflict_ids = ma.fields.List(ma.fields.String())
