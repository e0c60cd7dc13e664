"""Photo bytes in (PUT /blobs, tus /uploads) and out (/photos/{id}/original, /thumbnail)."""

from __future__ import annotations

import datetime as dt

from flask import Response, current_app, request, stream_with_context
from flask.views import MethodView

from app.accounts.models import Role
from app.core.auth import current_device, current_user, require_login, require_roles
from app.core.errors import error_body
from app.core.inbound import Blueprint
from app.extensions import db
from app.photos import services, tus, uploads
from app.photos.backends import media
from app.photos.body import socket_body
from app.photos.schemas import (
    BlobSchema,
    FailedJobSchema,
    PhotoCreateSchema,
    PhotoSchema,
    ThumbnailQuerySchema,
)
from media.errors import MediaError

blp = Blueprint("photos", __name__, url_prefix="/api/v1", description="Photos: bytes and records")

UPLOADERS = tuple(Role)
CACHE_FOREVER = "private, max-age=31536000, immutable"


@blp.errorhandler(MediaError)
def _media_error(error: MediaError):
    response = current_app.json.response(error_body(error.http_status, error.message))
    response.status_code = error.http_status
    if request.path.startswith("/api/v1/uploads"):
        response.headers.update(tus.base_headers())
    return response


def _raise_body_limit() -> None:
    # JSON routes keep MAX_CONTENT_LENGTH; photo bytes may be larger.
    request.max_content_length = media().max_bytes


def _stream_file(reader, chunk: int = 256 * 1024):
    def chunks():
        with reader:
            while data := reader.read(chunk):
                yield data

    return stream_with_context(chunks())


def _blob_response(sha256: str, media_type: str, size: int) -> Response:
    response = Response(_stream_file(services.open_blob(media(), sha256)), mimetype=media_type)
    response.content_length = size
    response.set_etag(sha256)
    response.headers["Cache-Control"] = CACHE_FOREVER
    return response.make_conditional(request)


# The path's SHA-256, as the server checks it (anything else is a 400).
SHA256_PATH = {
    "parameters": [
        {
            "in": "path",
            "name": "sha256",
            "required": True,
            "schema": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
            "description": "the bytes' SHA-256, 64 hex digits",
        }
    ],
    "responses": {"400": "BAD_REQUEST"},
}


@blp.route("/blobs/<sha256>")
class BlobView(MethodView):
    @require_roles(*UPLOADERS)
    @blp.doc(**SHA256_PATH)
    @blp.response(200)
    @blp.alt_response(404, description="The server does not have these bytes: upload them")
    def head(self, sha256):
        """200 if the server already has these bytes (skip the upload), 404 if not."""
        blob = services.find_blob(db.session, media(), current_user(), sha256)
        if blob is None:
            # The headers a GET's error would carry; a HEAD answer has no body.
            return Response(status=404, mimetype="application/json")
        return Response(status=200, headers={"Content-Length": "0", "ETag": f'"{sha256}"'})

    @require_roles(*UPLOADERS)
    @blp.doc(**SHA256_PATH)
    @blp.doc(
        requestBody={"content": {"image/*": {"schema": {"type": "string", "format": "binary"}}}}
    )
    @blp.response(201, BlobSchema, description="Stored")
    @blp.alt_response(200, schema=BlobSchema, description="Already stored; nothing written")
    @blp.alt_response(413, description="Over the photo size limit")
    @blp.alt_response(415, description="Not an image type the server takes")
    @blp.alt_response(422, description="The bytes hash otherwise, or the image is refused")
    def put(self, sha256):
        """Upload a whole photo whose SHA-256 is ``sha256``; idempotent."""
        _raise_body_limit()
        received = services.receive_blob(
            db.session, media(), current_user(), request.stream, sha256.lower()
        )
        blob = received.blob
        body = {
            "sha256": blob.sha256,
            "size": blob.size,
            "media_type": blob.media_type,
            "width": blob.width,
            "height": blob.height,
            "created": received.created,
        }
        return body, 201 if received.created else 200


@blp.route("/uploads")
class UploadsView(MethodView):
    @blp.doc(security=[], **{"x-roles": ["public"]}, **tus.DISCOVERY_DOC)
    def options(self):
        """tus discovery: version, extensions, maximum size, checksum algorithms."""
        headers = {
            "Tus-Resumable": tus.VERSION,
            "Tus-Version": tus.VERSION,
            "Tus-Extension": tus.EXTENSIONS,
            "Tus-Max-Size": str(media().max_bytes),
            "Tus-Checksum-Algorithm": tus.CHECKSUM_ALGORITHMS,
        }
        return Response(status=204, headers=headers)

    @require_roles(*UPLOADERS)
    @blp.doc(**tus.CREATION_DOC)
    def post(self):
        """Start a resumable upload (tus creation): Upload-Length, Upload-Metadata with sha256."""
        tus.check_version(request.headers)
        if "Upload-Defer-Length" in request.headers:
            raise tus.BadRequest("Upload-Defer-Length is not supported; send Upload-Length")
        length = tus.parse_int_header(request.headers, "Upload-Length")
        if length > media().max_bytes:
            return _too_large(length)
        metadata = tus.parse_metadata(request.headers.get("Upload-Metadata"))
        expires_in = dt.timedelta(hours=current_app.config["UPLOAD_EXPIRES_HOURS"])
        device = current_device()
        upload = uploads.create_upload(
            db.session,
            media(),
            current_user(),
            length,
            metadata,
            expires_in,
            device_id=getattr(device, "device_id", None),
        )
        headers = {
            **tus.base_headers(),
            "Location": f"{request.url_root.rstrip('/')}/api/v1/uploads/{upload.id}",
            "Upload-Expires": tus.http_date(upload.expires_at),
        }
        return Response(status=201, headers=headers)


def _too_large(length: int) -> Response:
    response = current_app.json.response(
        error_body(413, f"Upload-Length {length} is over the limit of {media().max_bytes} bytes")
    )
    response.status_code = 413
    response.headers.update(tus.base_headers())
    return response


@blp.route("/uploads/<upload_id>")
class UploadView(MethodView):
    @require_roles(*UPLOADERS)
    @blp.doc(**tus.OFFSET_DOC)
    def head(self, upload_id):
        """Where to resume: the upload's offset, length and expiry."""
        tus.check_version(request.headers)
        upload = uploads.get_upload(db.session, media(), current_user(), upload_id)
        metadata = {
            k: v for k, v in upload.metadata.items() if k not in uploads.SERVER_METADATA_KEYS
        }
        headers = {
            **tus.base_headers(),
            "Upload-Offset": str(upload.offset),
            "Upload-Length": str(upload.length),
            "Upload-Expires": tus.http_date(upload.expires_at),
            "Upload-Metadata": tus.encode_metadata(metadata),
        }
        return Response(status=200, headers=headers)

    @require_roles(*UPLOADERS)
    @blp.doc(**tus.APPEND_DOC)
    def patch(self, upload_id):
        """Append bytes at Upload-Offset (application/offset+octet-stream)."""
        tus.check_version(request.headers)
        if request.mimetype != "application/offset+octet-stream":
            raise tus.UnsupportedContentType(
                "Content-Type must be application/offset+octet-stream",
                headers=tus.base_headers(),
            )
        offset = tus.parse_int_header(request.headers, "Upload-Offset")
        checksum = tus.parse_checksum(request.headers.get("Upload-Checksum"))
        _raise_body_limit()
        body = socket_body(request.environ) or request.stream
        upload = uploads.append_upload(
            db.session, media(), current_user(), upload_id, offset, body, checksum
        )
        headers = {
            **tus.base_headers(),
            "Upload-Offset": str(upload.offset),
            "Upload-Expires": tus.http_date(upload.expires_at),
        }
        return Response(status=204, headers=headers)

    @require_roles(*UPLOADERS)
    @blp.doc(**tus.TERMINATION_DOC)
    def delete(self, upload_id):
        """Abandon an upload (tus termination)."""
        tus.check_version(request.headers)
        uploads.terminate_upload(db.session, media(), current_user(), upload_id)
        return Response(status=204, headers=tus.base_headers())


@blp.route("/photos")
class PhotosView(MethodView):
    @require_roles(*UPLOADERS)
    @blp.arguments(PhotoCreateSchema)
    @blp.response(201, PhotoSchema, description="Recorded")
    @blp.alt_response(200, schema=PhotoSchema, description="Already recorded (a retry)")
    @blp.alt_response(409, description="The photo id is already used with other content")
    def post(self, body):
        """Record a photo by the phone's UUID and its SHA-256; bytes may come before or after."""
        photo, created = services.register_photo(
            db.session,
            media(),
            current_user(),
            photo_id=body["id"],
            sha256=body["sha256"],
            kind=body["kind"],
            taken_at=body.get("taken_at"),
            lat=body.get("lat"),
            lon=body.get("lon"),
        )
        return services.describe_photo(db.session, photo), 201 if created else 200


@blp.route("/photos/<uuid:photo_id>")
class PhotoView(MethodView):
    @require_login
    @blp.response(200, PhotoSchema)
    def get(self, photo_id):
        """A photo: pending until its bytes arrive, then available with its EXIF facts."""
        photo = services.get_photo(db.session, current_user(), photo_id)
        return services.describe_photo(db.session, photo)


@blp.route("/photos/<uuid:photo_id>/original")
class PhotoOriginalView(MethodView):
    @require_login
    @blp.response(200, description="The original bytes, untouched")
    def get(self, photo_id):
        """The original bytes as uploaded (ETag is the SHA-256)."""
        photo = services.get_photo(db.session, current_user(), photo_id)
        blob = services.photo_blob(db.session, photo)
        return _blob_response(blob.sha256, blob.media_type, blob.size)


@blp.route("/photos/<uuid:photo_id>/thumbnail")
class PhotoThumbnailView(MethodView):
    @require_login
    @blp.arguments(ThumbnailQuerySchema, location="query")
    @blp.response(200, description="A JPEG thumbnail with EXIF orientation applied")
    def get(self, query, photo_id):
        """A thumbnail: ``size`` is one of the configured sizes (default 320 and 1024)."""
        sizes = media().thumbnail_sizes
        if query["size"] not in sizes:
            from app.core.errors import ValidationFailed

            raise ValidationFailed(f"size is one of {list(sizes)}", {"size": ["unknown size"]})
        photo = services.get_photo(db.session, current_user(), photo_id)
        sha = services.thumbnail_sha(db.session, photo, query["size"])
        size = media().store.size(sha)
        return _blob_response(sha, "image/jpeg", size)


@blp.route("/admin/media/failed-jobs")
class FailedJobsView(MethodView):
    @require_roles(Role.ADMIN)
    @blp.response(200, FailedJobSchema(many=True))
    def get(self):
        """Processing jobs that failed every retry, with their error."""
        return media().queue.failed()
