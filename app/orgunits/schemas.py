"""API shapes of org units."""

import marshmallow as ma

from app.core.schemas import Schema
from app.orgunits.models import OrgKind

KINDS = [kind.value for kind in OrgKind]


class OrgUnitSchema(Schema):
    id = ma.fields.Integer(dump_only=True)
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(KINDS))
    code = ma.fields.String(required=True, validate=ma.validate.Length(1, 32))
    name = ma.fields.String(required=True, validate=ma.validate.Length(1, 128))
    parent_id = ma.fields.Integer(dump_only=True, allow_none=True)
    parent_code = ma.fields.String(load_only=True, allow_none=True)


class OrgUnitQuerySchema(Schema):
    kind = ma.fields.String(validate=ma.validate.OneOf(KINDS))
    parent_id = ma.fields.Integer()
