"""API shapes of photos and blobs."""

import marshmallow as ma

from app.core.schemas import Schema
from app.photos.models import PhotoKind


class BlobSchema(Schema):
    sha256 = ma.fields.String()
    size = ma.fields.Integer()
    media_type = ma.fields.String()
    width = ma.fields.Integer()
    height = ma.fields.Integer()
    created = ma.fields.Boolean()


class PhotoCreateSchema(Schema):
    id = ma.fields.UUID(required=True)
    sha256 = ma.fields.String(required=True, validate=ma.validate.Regexp(r"^[0-9a-fA-F]{64}$"))
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf([k.value for k in PhotoKind]))
    taken_at = ma.fields.AwareDateTime(allow_none=True)
    lat = ma.fields.Float(allow_none=True, validate=ma.validate.Range(-90, 90))
    lon = ma.fields.Float(allow_none=True, validate=ma.validate.Range(-180, 180))


class ExifSchema(Schema):
    taken_at = ma.fields.AwareDateTime(attribute="exif_taken_at", allow_none=True)
    taken_at_local = ma.fields.String(attribute="exif_taken_at_local", allow_none=True)
    lat = ma.fields.Float(attribute="exif_lat", allow_none=True)
    lon = ma.fields.Float(attribute="exif_lon", allow_none=True)
    camera_make = ma.fields.String(allow_none=True)
    camera_model = ma.fields.String(allow_none=True)
    orientation = ma.fields.Integer(allow_none=True)
    warnings = ma.fields.List(ma.fields.String(), attribute="exif_warnings")


class PhotoSchema(Schema):
    id = ma.fields.UUID()
    sha256 = ma.fields.String()
    kind = ma.fields.String()
    owner_id = ma.fields.Integer()
    status = ma.fields.String()
    taken_at = ma.fields.AwareDateTime(attribute="client_taken_at", allow_none=True)
    lat = ma.fields.Float(attribute="client_lat", allow_none=True)
    lon = ma.fields.Float(attribute="client_lon", allow_none=True)
    created_at = ma.fields.AwareDateTime()
    available_at = ma.fields.AwareDateTime(allow_none=True)
    media_type = ma.fields.String(allow_none=True)
    width = ma.fields.Integer(allow_none=True)
    height = ma.fields.Integer(allow_none=True)
    size = ma.fields.Integer(allow_none=True)
    exif = ma.fields.Nested(ExifSchema, allow_none=True)
    processing = ma.fields.String(allow_none=True)
    thumbnail_sizes = ma.fields.List(ma.fields.Integer())


class ThumbnailQuerySchema(Schema):
    size = ma.fields.Integer(
        load_default=320,
        metadata={
            "enum": [320, 1024],
            "description": "one of the configured sizes (THUMBNAIL_SIZES, 320 and 1024 unless "
            "set otherwise); any other is a 422",
        },
    )


class FailedJobSchema(Schema):
    id = ma.fields.String()
    name = ma.fields.String()
    payload = ma.fields.Dict()
    error = ma.fields.String()
    attempts = ma.fields.Integer()
