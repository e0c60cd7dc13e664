"""API shapes of camera systems, cameras, category settings and AI events."""

import marshmallow as ma
from flask_smorest.fields import Upload

from app.cameras.models import EVENT_STATUSES, MODES
from app.core.schemas import Schema


class SystemCreateSchema(Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(1, 128))


class SystemSchema(Schema):
    id = ma.fields.Integer(dump_only=True)
    name = ma.fields.String()
    key_prefix = ma.fields.String(metadata={"description": "The key's first characters"})
    created_at = ma.fields.DateTime()
    revoked_at = ma.fields.DateTime(allow_none=True)


class IssuedKeySchema(SystemSchema):
    api_key = ma.fields.String(metadata={"description": "Shown once; stored only hashed"})


class CameraSchema(Schema):
    id = ma.fields.Integer(dump_only=True)
    code = ma.fields.String(required=True, validate=ma.validate.Length(1, 64))
    name = ma.fields.String(required=True, validate=ma.validate.Length(1, 128))
    lat = ma.fields.Float(required=True, validate=ma.validate.Range(-90, 90))
    lon = ma.fields.Float(required=True, validate=ma.validate.Range(-180, 180))
    grid_id = ma.fields.Integer(allow_none=True, strict=True)
    active = ma.fields.Boolean(load_default=True)
    created_at = ma.fields.DateTime(dump_only=True)


class CameraEditSchema(Schema):
    name = ma.fields.String(validate=ma.validate.Length(1, 128))
    lat = ma.fields.Float(validate=ma.validate.Range(-90, 90))
    lon = ma.fields.Float(validate=ma.validate.Range(-180, 180))
    grid_id = ma.fields.Integer(allow_none=True, strict=True)
    active = ma.fields.Boolean()


class SettingSchema(Schema):
    category_id = ma.fields.Integer(dump_only=True)
    min_confidence = ma.fields.Float(required=True, validate=ma.validate.Range(0, 1))
    mode = ma.fields.String(required=True, validate=ma.validate.OneOf(MODES))
    window_minutes = ma.fields.Integer(
        required=True, strict=True, validate=ma.validate.Range(0, 7 * 24 * 60)
    )
    department_id = ma.fields.Integer(allow_none=True, strict=True, load_default=None)


class EventFormSchema(Schema):
    """The form fields of ``POST /camera-events`` (multipart/form-data, with ``snapshot``)."""

    event_id = ma.fields.String(required=True, validate=ma.validate.Length(1, 128))
    camera_id = ma.fields.String(
        required=True,
        validate=ma.validate.Length(1, 64),
        metadata={"description": "The camera's code as registered"},
    )
    category = ma.fields.String(
        required=True,
        validate=ma.validate.Regexp(r"^\d{4,5}$"),
        metadata={"description": "The detected category's code (0102, 01001)"},
    )
    category_kind = ma.fields.String(
        validate=ma.validate.OneOf(("event", "component")),
        metadata={"description": "needed for an old 4-digit code of both kinds"},
    )
    confidence = ma.fields.Float(required=True, validate=ma.validate.Range(0, 1))
    detected_at = ma.fields.AwareDateTime(required=True)


class SnapshotSchema(Schema):
    snapshot = Upload(required=True, metadata={"description": "JPEG, PNG or WebP"})


class EventUploadSchema(EventFormSchema):
    """The whole multipart body as the OpenAPI document shows it."""

    snapshot = Upload(required=True, metadata={"description": "JPEG, PNG or WebP"})


class EventSchema(Schema):
    id = ma.fields.Integer()
    event_id = ma.fields.String()
    system_id = ma.fields.Integer()
    camera_id = ma.fields.Integer()
    category_id = ma.fields.Integer()
    confidence = ma.fields.Float()
    detected_at = ma.fields.DateTime()
    received_at = ma.fields.DateTime()
    status = ma.fields.String(metadata={"enum": list(EVENT_STATUSES)})
    photo_id = ma.fields.UUID(allow_none=True)
    case_id = ma.fields.UUID(allow_none=True)


class EventQuerySchema(Schema):
    status = ma.fields.String(validate=ma.validate.OneOf(EVENT_STATUSES))
    camera_id = ma.fields.Integer()
    system_id = ma.fields.Integer()
