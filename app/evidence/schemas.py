"""API shapes of evidence flags."""

import marshmallow as ma

from app.core.schemas import Schema
from app.evidence.models import FLAG_KINDS


class EvidenceFlagSchema(Schema):
    id = ma.fields.Integer()
    case_id = ma.fields.UUID()
    photo_id = ma.fields.UUID()
    kind = ma.fields.String(metadata={"description": " | ".join(FLAG_KINDS)})
    detail = ma.fields.Dict(
        metadata={"description": "what was found: distances, coordinates, times, the match"}
    )
    created_at = ma.fields.AwareDateTime()
    reviewed_by = ma.fields.Integer(allow_none=True)
    reviewed_at = ma.fields.AwareDateTime(allow_none=True)
    review_note = ma.fields.String(allow_none=True)


class EvidenceFlagQuerySchema(Schema):
    case_id = ma.fields.UUID()
    is_open = ma.fields.Boolean(
        data_key="open", metadata={"description": "true: not reviewed yet; false: reviewed"}
    )
    kind = ma.fields.String(validate=ma.validate.OneOf(FLAG_KINDS))


class ReviewSchema(Schema):
    note = ma.fields.String(
        load_default=None, allow_none=True, validate=ma.validate.Length(max=2000)
    )
