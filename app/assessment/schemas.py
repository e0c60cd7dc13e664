"""The shapes of 考评's queries and answers."""

from __future__ import annotations

import marshmallow as ma

from app.assessment.formulas import LEVELS
from app.core.schemas import Schema

MONTH = {"pattern": r"^\d{4}-\d{2}$", "example": "2026-11"}
FORMATS = ("json", "xlsx")


class AssessmentQuerySchema(Schema):
    period = ma.fields.String(
        required=True, metadata={**MONTH, "description": "a month YYYY-MM, local time"}
    )
    level = ma.fields.String(required=True, validate=ma.validate.OneOf(LEVELS))
    format = ma.fields.String(load_default="json", validate=ma.validate.OneOf(FORMATS))
    recompute = ma.fields.Boolean(
        load_default=False,
        metadata={"description": "a published month: the current figures and the difference"},
    )


class FigureSchema(Schema):
    numerator = ma.fields.Integer()
    denominator = ma.fields.Integer()
    rate = ma.fields.Float(allow_none=True, metadata={"description": "percent, 2 decimals"})
    change = ma.fields.Float(
        allow_none=True, metadata={"description": "from the previous month, in points"}
    )


class FigureDiffSchema(Schema):
    numerator = ma.fields.Integer()
    denominator = ma.fields.Integer()
    rate = ma.fields.Float(allow_none=True)


class PublishedDiffSchema(Schema):
    formulas = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Nested(FigureDiffSchema))
    score = ma.fields.Float(allow_none=True)
    rank = ma.fields.Integer(allow_none=True)


class RowSchema(Schema):
    subject = ma.fields.String()
    id = ma.fields.Integer()
    code = ma.fields.String()
    name = ma.fields.String()
    street_id = ma.fields.Integer(allow_none=True)
    formulas = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Nested(FigureSchema))
    score = ma.fields.Float(allow_none=True)
    rank = ma.fields.Integer(allow_none=True)
    score_change = ma.fields.Float(allow_none=True)
    rank_change = ma.fields.Integer(allow_none=True)
    published_diff = ma.fields.Nested(PublishedDiffSchema, allow_none=True)


WEIGHTS = ma.fields.Dict(
    keys=ma.fields.String(),
    values=ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Float(allow_nan=False)),
)


class AssessmentSchema(Schema):
    period = ma.fields.String()
    level = ma.fields.String()
    published = ma.fields.Boolean()
    published_at = ma.fields.AwareDateTime(allow_none=True)
    as_of = ma.fields.AwareDateTime()
    weights = WEIGHTS
    rows = ma.fields.List(ma.fields.Nested(RowSchema))


class WeightsSchema(Schema):
    weights = ma.fields.Dict(
        required=True,
        keys=ma.fields.String(),
        values=ma.fields.Dict(
            keys=ma.fields.String(),
            values=ma.fields.Float(required=True, allow_nan=False),
        ),
    )


class PublishSchema(Schema):
    period = ma.fields.String(required=True, metadata=MONTH)


class PublicationSchema(Schema):
    period = ma.fields.String()
    published_at = ma.fields.AwareDateTime()
    weights = WEIGHTS
    levels = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
