"""API shapes of the notifications outbox."""

import marshmallow as ma

from app.core.schemas import Schema
from app.notifications.models import STATUSES


class DeliverySchema(Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    channel = ma.fields.String()
    recipient_user_id = ma.fields.Integer(allow_none=True)
    endpoint = ma.fields.String(allow_none=True)
    payload = ma.fields.Dict()
    status = ma.fields.String(metadata={"description": "pending, sent or failed"})
    attempts = ma.fields.Integer()
    next_attempt_at = ma.fields.AwareDateTime()
    last_error = ma.fields.String(allow_none=True)
    created_at = ma.fields.AwareDateTime()
    sent_at = ma.fields.AwareDateTime(allow_none=True)


class DeliveryQuerySchema(Schema):
    status = ma.fields.String(validate=ma.validate.OneOf(STATUSES))
    kind = ma.fields.String(validate=ma.validate.Length(max=32))
