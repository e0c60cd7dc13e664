"""API shapes of cases, their moves, edits, requests, comments, flow log and tasks."""

from __future__ import annotations

import marshmallow as ma

from app.cases.models import SOURCES, STATES, URGENCIES
from app.cases.workflow import Action, RequestKind
from app.categories.models import EDITIONS, KINDS
from app.categories.schemas import JsonNumber
from app.core.schemas import PointSchema, Schema
from app.photos.models import PhotoKind

_grid_code = ma.validate.Regexp(r"^[0-9]{15}$", error="15 digits")


class PhotoRefSchema(Schema):
    """A photo the phone took: registered (idempotently by its UUID) and attached."""

    photo_id = ma.fields.UUID(required=True)
    sha256 = ma.fields.String(required=True, validate=ma.validate.Regexp(r"^[0-9a-fA-F]{64}$"))
    kind = ma.fields.String(
        validate=ma.validate.OneOf([k.value for k in PhotoKind]),
        metadata={
            "description": "required unless the context gives it: a report's photos are "
            "`problem`, a self-handling request's `closure`, a move's the kind its action "
            "takes; elsewhere a photo without a kind is a 422"
        },
    )
    taken_at = ma.fields.AwareDateTime(allow_none=True)
    lat = ma.fields.Float(allow_none=True, validate=ma.validate.Range(-90, 90))
    lon = ma.fields.Float(allow_none=True, validate=ma.validate.Range(-180, 180))


class KindedPhotoRefSchema(PhotoRefSchema):
    """A photo added on its own to a case: nothing says its kind but the phone."""

    kind = ma.fields.String(required=True, validate=ma.validate.OneOf([k.value for k in PhotoKind]))


class CategoryRefSchema(Schema):
    kind = ma.fields.String(validate=ma.validate.OneOf(KINDS))
    edition = ma.fields.String(validate=ma.validate.OneOf(EDITIONS))
    code = ma.fields.String(required=True, validate=ma.validate.Regexp(r"^\d{4,5}$"))


class OriginSchema(Schema):
    """What a dispatcher's case from source ``leader`` or ``referral`` needs."""

    leader_name = ma.fields.String(
        validate=ma.validate.Length(1, 64), metadata={"description": "leader: who instructed"}
    )
    instruction = ma.fields.String(
        validate=ma.validate.Length(1, 4000), metadata={"description": "leader: 批示 text"}
    )
    referring_department_id = ma.fields.Integer(
        strict=True, metadata={"description": "referral: the department that referred it"}
    )
    reference = ma.fields.String(
        validate=ma.validate.Length(1, 64), metadata={"description": "their document number"}
    )


class CaseCreateSchema(Schema):
    id = ma.fields.UUID(required=True, metadata={"description": "the phone-made case UUID"})
    category_id = ma.fields.Integer(strict=True)
    category = ma.fields.Nested(CategoryRefSchema, metadata={"description": "or by code"})
    description = ma.fields.String(required=True, validate=ma.validate.Length(1, 4000))
    address = ma.fields.String(load_default="", validate=ma.validate.Length(max=256))
    location = ma.fields.Nested(PointSchema, required=True)
    urgency = ma.fields.String(load_default="normal", validate=ma.validate.OneOf(URGENCIES))
    photos = ma.fields.List(ma.fields.Nested(PhotoRefSchema), load_default=list)
    source = ma.fields.String(validate=ma.validate.OneOf(SOURCES))
    origin = ma.fields.Nested(
        OriginSchema, metadata={"description": "required for sources leader and referral"}
    )
    client_ts = ma.fields.AwareDateTime(allow_none=True)

    @ma.validates_schema
    def _one_category(self, data, **_kwargs):
        if ("category_id" in data) == ("category" in data):
            raise ma.ValidationError("give category_id or category", "category_id")


class CaseFieldsSchema(Schema):
    """New values of the fields a dispatcher may correct; at least one."""

    description = ma.fields.String(validate=ma.validate.Length(1, 4000))
    address = ma.fields.String(validate=ma.validate.Length(max=256))
    location = ma.fields.Nested(PointSchema)
    category_code = ma.fields.String(
        validate=ma.validate.Regexp(r"^\d{4,5}$"),
        metadata={"description": "re-resolved as intake does; an ambiguous old code is a 422"},
    )

    @ma.validates_schema
    def _at_least_one(self, data, **_kwargs):
        if not data:
            raise ma.ValidationError("give at least one field")


class CaseEditSchema(Schema):
    version = ma.fields.Integer(
        required=True, strict=True, metadata={"description": "the case's version edited"}
    )
    fields = ma.fields.Nested(CaseFieldsSchema, required=True)
    category_kind = ma.fields.String(
        validate=ma.validate.OneOf(KINDS),
        metadata={"description": "which category an ambiguous old category_code means"},
    )
    category_edition = ma.fields.String(validate=ma.validate.OneOf(EDITIONS))


class CommentCreateSchema(Schema):
    id = ma.fields.UUID(metadata={"description": "the phone-made UUID (made here if absent)"})
    text = ma.fields.String(required=True, validate=ma.validate.Length(1, 2000))
    client_ts = ma.fields.AwareDateTime(allow_none=True)


class CommentSchema(Schema):
    id = ma.fields.UUID()
    case_id = ma.fields.UUID()
    author_id = ma.fields.Integer()
    device_id = ma.fields.String(allow_none=True)
    text = ma.fields.String()
    client_ts = ma.fields.AwareDateTime(allow_none=True)
    created_at = ma.fields.AwareDateTime()


class ActionSchema(Schema):
    action = ma.fields.String(required=True, validate=ma.validate.OneOf([a.value for a in Action]))
    opinion = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=4000))
    department_id = ma.fields.Integer(
        strict=True,
        allow_none=True,
        metadata={"description": "dispatch: the handling department (or give shop_id)"},
    )
    shop_id = ma.fields.Integer(
        strict=True,
        allow_none=True,
        metadata={
            "description": "dispatch: the shop whose merchant rectifies its frontage "
            "(门前三包) on a rectify task, instead of a department"
        },
    )
    category_id = ma.fields.Integer(strict=True, allow_none=True)
    inspector_id = ma.fields.Integer(strict=True, allow_none=True)
    result = ma.fields.String(allow_none=True, validate=ma.validate.OneOf(["pass", "fail"]))
    photos = ma.fields.List(ma.fields.Nested(PhotoRefSchema), load_default=list)


class PhotosAttachSchema(Schema):
    photos = ma.fields.List(
        ma.fields.Nested(KindedPhotoRefSchema), required=True, validate=ma.validate.Length(min=1)
    )


class AttachedSchema(Schema):
    added = ma.fields.List(ma.fields.UUID())


class RoutingSchema(Schema):
    grid_code = ma.fields.String(required=True, validate=_grid_code)


class MergeSchema(Schema):
    into = ma.fields.UUID(required=True)
    opinion = ma.fields.String(allow_none=True)


class RequestCreateSchema(Schema):
    kind = ma.fields.String(
        required=True, validate=ma.validate.OneOf([k.value for k in RequestKind])
    )
    reason = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=4000))
    extension_amount = JsonNumber(
        allow_none=True,
        validate=ma.validate.Range(min=0, min_inclusive=False),
        metadata={"description": "in the limit's unit; at most the category's limit"},
    )
    photos = ma.fields.List(ma.fields.Nested(PhotoRefSchema), load_default=list)


class DecisionSchema(Schema):
    approve = ma.fields.Boolean(required=True)
    opinion = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=4000))


class RequestQuerySchema(Schema):
    status = ma.fields.String(validate=ma.validate.OneOf(["pending", "approved", "refused"]))
    kind = ma.fields.String(validate=ma.validate.OneOf([k.value for k in RequestKind]))


class RequestSchema(Schema):
    id = ma.fields.UUID()
    case_id = ma.fields.UUID()
    kind = ma.fields.String()
    status = ma.fields.String()
    requested_by = ma.fields.Integer()
    reason = ma.fields.String(allow_none=True)
    extension_amount = ma.fields.Float(allow_none=True)
    photo_ids = ma.fields.List(ma.fields.String())
    decided_by = ma.fields.Integer(allow_none=True)
    decision_opinion = ma.fields.String(allow_none=True)
    created_at = ma.fields.AwareDateTime()
    decided_at = ma.fields.AwareDateTime(allow_none=True)


class CaseQuerySchema(Schema):
    state = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(STATES)))
    category_id = ma.fields.Integer()
    grid_code = ma.fields.String(validate=_grid_code)
    street_id = ma.fields.Integer()
    department_id = ma.fields.Integer()
    overdue = ma.fields.Boolean()
    reported_from = ma.fields.AwareDateTime()
    reported_to = ma.fields.AwareDateTime()
    source = ma.fields.String(validate=ma.validate.OneOf(SOURCES))
    routing = ma.fields.String(validate=ma.validate.OneOf(["routed", "needs_confirmation"]))
    number = ma.fields.String(
        validate=ma.validate.Length(1, 32),
        metadata={"description": "the case number, or its beginning"},
    )
    traffic_light = ma.fields.String(
        validate=ma.validate.OneOf(["green", "yellow", "red"]),
        metadata={
            "description": "red: overdue with the clock running; yellow: 80% or more of the "
            "limit used; green: less (422 when more than 20,000 cases would need lighting)"
        },
    )


class CategoryBriefSchema(Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    edition = ma.fields.String()
    code = ma.fields.String()
    name = ma.fields.String()
    time_limit = ma.fields.Float()
    limit_type = ma.fields.String()


class LocationSchema(Schema):
    lat = ma.fields.Float()
    lon = ma.fields.Float()
    crs = ma.fields.String()


class StageSchema(Schema):
    name = ma.fields.String()
    deadline = ma.fields.AwareDateTime(allow_none=True)
    done_at = ma.fields.AwareDateTime(allow_none=True)
    traffic_light = ma.fields.String(
        allow_none=True, metadata={"description": "green | yellow | red while the stage runs"}
    )


class CaseSchema(Schema):
    id = ma.fields.UUID()
    number = ma.fields.String()
    state = ma.fields.String()
    source = ma.fields.String()
    category = ma.fields.Nested(CategoryBriefSchema)
    description = ma.fields.String()
    address = ma.fields.String()
    location = ma.fields.Nested(LocationSchema)
    urgency = ma.fields.String()
    routing = ma.fields.String()
    locate_status = ma.fields.String()
    grid_id = ma.fields.Integer(allow_none=True)
    community_id = ma.fields.Integer(allow_none=True)
    street_id = ma.fields.Integer(allow_none=True)
    road_id = ma.fields.Integer(allow_none=True)
    shop_id = ma.fields.Integer(allow_none=True)
    frontage_flag = ma.fields.String(
        allow_none=True,
        metadata={"description": "far_from_own_shop: a merchant's report far from their shops"},
    )
    department_id = ma.fields.Integer(allow_none=True)
    reporter_id = ma.fields.Integer(allow_none=True)
    deadline = ma.fields.AwareDateTime(allow_none=True)
    limit_started_at = ma.fields.AwareDateTime(allow_none=True)
    traffic_light = ma.fields.String(
        allow_none=True, metadata={"description": "green | yellow | red; null without a clock"}
    )
    overdue = ma.fields.Boolean()
    rework_count = ma.fields.Integer()
    extension_count = ma.fields.Integer(metadata={"description": "approved extensions (≤ 2)"})
    stages = ma.fields.List(
        ma.fields.Nested(StageSchema),
        metadata={
            "description": "a two-stage category's first stage (到场 / 停工 …) and the "
            "handling; one-stage: the handling alone"
        },
    )
    valid = ma.fields.Boolean(
        allow_none=True, metadata={"description": "有效上报: filed or self-handled; null undecided"}
    )
    handled_on_time = ma.fields.Boolean(
        allow_none=True, metadata={"description": "handled by the deadline; null until handled"}
    )
    closed_on_time = ma.fields.Boolean(
        allow_none=True, metadata={"description": "closed by the deadline; null until closed"}
    )
    time_used = ma.fields.Float(
        allow_none=True,
        metadata={"description": "handling seconds at closing, in the limit's measure"},
    )
    missed_by_id = ma.fields.Integer(
        allow_none=True,
        metadata={"description": "漏报: the grid's inspector, for a confirmed public report"},
    )
    check_passed = ma.fields.Boolean()
    press_level = ma.fields.Integer()
    merged_into_id = ma.fields.UUID(allow_none=True)
    version = ma.fields.Integer()
    reported_at = ma.fields.AwareDateTime()
    registered_at = ma.fields.AwareDateTime(allow_none=True)
    dispatched_at = ma.fields.AwareDateTime(allow_none=True)
    handled_at = ma.fields.AwareDateTime(allow_none=True)
    closed_at = ma.fields.AwareDateTime(allow_none=True)


class CasePhotoSchema(Schema):
    photo_id = ma.fields.UUID()
    kind = ma.fields.String()
    added_by = ma.fields.Integer(allow_none=True)
    added_at = ma.fields.AwareDateTime()


class FlowEntrySchema(Schema):
    seq = ma.fields.Integer()
    action = ma.fields.String()
    from_state = ma.fields.String(allow_none=True)
    to_state = ma.fields.String()
    actor_id = ma.fields.Integer(allow_none=True)
    actor_role = ma.fields.String()
    device_id = ma.fields.String(allow_none=True)
    opinion = ma.fields.String(allow_none=True)
    photo_ids = ma.fields.List(ma.fields.String())
    data = ma.fields.Dict()
    duty = ma.fields.String(
        allow_none=True, metadata={"description": "the desk duty of a dispatcher's move"}
    )
    time_used = ma.fields.Float(
        allow_none=True,
        metadata={"description": "seconds the step used, in the case limit's measure"},
    )
    overdue = ma.fields.Boolean(
        allow_none=True, metadata={"description": "the step ended past its own deadline"}
    )
    at = ma.fields.AwareDateTime()


class TaskBriefSchema(Schema):
    id = ma.fields.UUID()
    kind = ma.fields.String()
    state = ma.fields.String()
    assignee_id = ma.fields.Integer(allow_none=True)
    department_id = ma.fields.Integer(allow_none=True)
    deadline = ma.fields.AwareDateTime(allow_none=True)
    created_at = ma.fields.AwareDateTime()


class CaseBriefSchema(Schema):
    id = ma.fields.UUID()
    number = ma.fields.String()
    state = ma.fields.String()
    description = ma.fields.String()
    address = ma.fields.String()
    reported_at = ma.fields.AwareDateTime()


class DuplicateSchema(Schema):
    case = ma.fields.Nested(CaseBriefSchema)
    distance_m = ma.fields.Float()
    found_at = ma.fields.AwareDateTime()
    status = ma.fields.String()


class PhotosByKindSchema(Schema):
    problem = ma.fields.List(ma.fields.Nested(CasePhotoSchema))
    closure = ma.fields.List(ma.fields.Nested(CasePhotoSchema))
    check = ma.fields.List(ma.fields.Nested(CasePhotoSchema))
    selfcheck = ma.fields.List(ma.fields.Nested(CasePhotoSchema))


class CaseDetailSchema(CaseSchema):
    grid_code = ma.fields.String(allow_none=True)
    origin = ma.fields.Nested(OriginSchema, allow_none=True)
    photos = ma.fields.Nested(PhotosByKindSchema)
    flow = ma.fields.List(ma.fields.Nested(FlowEntrySchema))
    open_tasks = ma.fields.List(ma.fields.Nested(TaskBriefSchema))
    pending_requests = ma.fields.List(ma.fields.Nested(RequestSchema))
    duplicates = ma.fields.List(ma.fields.Nested(DuplicateSchema))
    available_actions = ma.fields.List(ma.fields.String())


# ---------------------------------------------------------------------------------------------
# Tasks

TASK_KINDS = ("verify", "check", "handle", "rectify")
TASK_STATES = ("open", "accepted", "completed", "cancelled", "reassigned")


class TaskQuerySchema(Schema):
    state = ma.fields.String(validate=ma.validate.OneOf(TASK_STATES))
    kind = ma.fields.String(validate=ma.validate.OneOf(TASK_KINDS))


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


class TaskNoteSchema(Schema):
    note = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=4000))


class TaskReassignSchema(Schema):
    assignee_id = ma.fields.Integer(required=True, strict=True)
