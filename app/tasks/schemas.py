"""API shapes of tasks."""

from __future__ import annotations

import marshmallow as ma

from app.cases.schemas import PhotoRefSchema
from app.core.schemas import Schema

KINDS = ("verify", "check", "handle", "rectify")
STATES = ("open", "accepted", "completed", "cancelled", "reassigned")


class TaskQuerySchema(Schema):
    state = ma.fields.String(validate=ma.validate.OneOf(STATES))
    kind = ma.fields.String(validate=ma.validate.OneOf(KINDS))


class TaskCaseSchema(Schema):
    id = ma.fields.UUID()
    number = ma.fields.String()
    state = ma.fields.String()
    category_id = ma.fields.Integer()
    description = ma.fields.String()
    address = ma.fields.String()
    lat = ma.fields.Float()
    lon = ma.fields.Float()
    urgency = ma.fields.String()
    deadline = ma.fields.AwareDateTime(allow_none=True)
    rework_count = ma.fields.Integer()


class TaskSchema(Schema):
    id = ma.fields.UUID()
    kind = ma.fields.String()
    state = ma.fields.String()
    case = ma.fields.Nested(TaskCaseSchema)
    assignee_id = ma.fields.Integer(allow_none=True)
    department_id = ma.fields.Integer(allow_none=True)
    assigned_by = ma.fields.Integer(allow_none=True)
    deadline = ma.fields.AwareDateTime(allow_none=True)
    traffic_light = ma.fields.String(
        allow_none=True, metadata={"description": "green | yellow | red while the task is open"}
    )
    result = ma.fields.String(allow_none=True)
    note = ma.fields.String(allow_none=True)
    replaced_by_id = ma.fields.UUID(allow_none=True)
    version = ma.fields.Integer()
    created_at = ma.fields.AwareDateTime()
    accepted_at = ma.fields.AwareDateTime(allow_none=True)
    completed_at = ma.fields.AwareDateTime(allow_none=True)


class TaskCompleteSchema(Schema):
    result = ma.fields.String(
        allow_none=True,
        validate=ma.validate.OneOf(["pass", "fail"]),
        metadata={"description": "required for verify and check tasks"},
    )
    note = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=4000))
    photos = ma.fields.List(
        ma.fields.Nested(PhotoRefSchema),
        load_default=list,
        metadata={"description": "a handle or rectify task needs a closure (after) photo"},
    )


class TaskReassignSchema(Schema):
    assignee_id = ma.fields.Integer(required=True, strict=True)
