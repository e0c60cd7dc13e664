"""API shapes of pressings (督办)."""

import marshmallow as ma

from app.core.schemas import Schema
from app.pressing.models import LEVELS


class PressingSchema(Schema):
    id = ma.fields.Integer()
    case_id = ma.fields.UUID()
    level = ma.fields.Integer(metadata={"description": "1 street, 2 district, 3 city"})
    level_name = ma.fields.Function(lambda pressing: LEVELS[pressing.level])
    round = ma.fields.Integer(metadata={"description": "the case's rework count at the time"})
    automatic = ma.fields.Function(lambda pressing: pressing.by_user_id is None)
    by_user_id = ma.fields.Integer(allow_none=True)
    note = ma.fields.String(allow_none=True)
    at = ma.fields.AwareDateTime()


class PressSchema(Schema):
    note = ma.fields.String(
        load_default=None, allow_none=True, validate=ma.validate.Length(max=2000)
    )
