"""Shapes of the ledger API: the query, a page of rows, an export."""

from __future__ import annotations

import marshmallow as ma

from app.core.schemas import Schema
from app.ledger.services import FILE_FORMATS

_ID = ma.validate.Range(min=1, max=2**31 - 1)
_GRID_CODE = ma.validate.Regexp(r"^[0-9]{15}$", error="15 digits")


class LedgerFilterSchema(Schema):
    """A period of local dates and at most one scope filter."""

    first = ma.fields.Date(
        required=True, data_key="from", metadata={"description": "first day (local), YYYY-MM-DD"}
    )
    last = ma.fields.Date(
        required=True, data_key="to", metadata={"description": "last day (local), included"}
    )
    street = ma.fields.Integer(validate=_ID, metadata={"description": "a street's org-unit id"})
    road = ma.fields.Integer(validate=_ID, metadata={"description": "a road's id"})
    community = ma.fields.Integer(
        validate=_ID, metadata={"description": "a community's org-unit id"}
    )
    grid = ma.fields.String(validate=_GRID_CODE, metadata={"description": "a unit grid's code"})
    department = ma.fields.Integer(
        validate=_ID, metadata={"description": "a handling department's org-unit id"}
    )
    chief = ma.fields.Integer(
        validate=_ID, metadata={"description": "a street or road chief's user id: their area"}
    )


class LedgerQuerySchema(LedgerFilterSchema):
    format = ma.fields.String(
        load_default="json",
        validate=ma.validate.OneOf(["json", *FILE_FORMATS]),
        metadata={"description": "json (a page of rows), or xlsx / pdf (a download)"},
    )


class ExportCreateSchema(LedgerFilterSchema):
    format = ma.fields.String(required=True, validate=ma.validate.OneOf(FILE_FORMATS))


class LedgerScopeSchema(Schema):
    kind = ma.fields.String()
    id = ma.fields.Integer(allow_none=True)
    code = ma.fields.String(allow_none=True)
    name = ma.fields.String()


class LedgerPeriodSchema(Schema):
    first = ma.fields.Date(data_key="from")
    last = ma.fields.Date(data_key="to")
    label = ma.fields.String()


class LedgerPhotoSchema(Schema):
    id = ma.fields.UUID()
    thumbnail_url = ma.fields.String(
        allow_none=True, metadata={"description": "None until the thumbnail is made"}
    )


class LedgerRowSchema(Schema):
    case_id = ma.fields.UUID()
    number = ma.fields.String()
    category_code = ma.fields.String()
    category_name = ma.fields.String()
    category_edition = ma.fields.String()
    address = ma.fields.String()
    grid_code = ma.fields.String(allow_none=True)
    street_name = ma.fields.String(allow_none=True)
    community_name = ma.fields.String(allow_none=True)
    source = ma.fields.String()
    reporter_name = ma.fields.String(allow_none=True)
    department_name = ma.fields.String(allow_none=True)
    reported_at = ma.fields.AwareDateTime()
    dispatched_at = ma.fields.AwareDateTime(allow_none=True)
    closed_at = ma.fields.AwareDateTime()
    time_used = ma.fields.Float(
        allow_none=True, metadata={"description": "seconds, in the limit's measure"}
    )
    time_used_text = ma.fields.String(metadata={"description": "e.g. 3.5 工作时; — if unknown"})
    limit_type = ma.fields.String()
    closed_on_time = ma.fields.Boolean(allow_none=True)
    rework_count = ma.fields.Integer()
    problem_photos = ma.fields.List(ma.fields.Nested(LedgerPhotoSchema))
    closure_photos = ma.fields.List(ma.fields.Nested(LedgerPhotoSchema))


class LedgerPageSchema(Schema):
    scope = ma.fields.Nested(LedgerScopeSchema)
    period = ma.fields.Nested(LedgerPeriodSchema)
    items = ma.fields.List(ma.fields.Nested(LedgerRowSchema))


class ExportSchema(Schema):
    id = ma.fields.UUID()
    status = ma.fields.String(metadata={"description": "queued, running, done or failed"})
    format = ma.fields.String()
    params = ma.fields.Dict(metadata={"description": "the checked query: period and scope"})
    rows_done = ma.fields.Integer()
    rows_total = ma.fields.Integer()
    filename = ma.fields.String(allow_none=True)
    size = ma.fields.Integer(allow_none=True)
    error = ma.fields.String(allow_none=True)
    created_at = ma.fields.AwareDateTime()
    finished_at = ma.fields.AwareDateTime(allow_none=True)
    file_url = ma.fields.String(allow_none=True, metadata={"description": "once done"})
