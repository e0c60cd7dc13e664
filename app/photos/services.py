"""Photo use cases: take in verified bytes, register photos, process blobs, read them back.

Bytes are accepted only when their SHA-256 matches the name the phone gave and they are
a well-formed image of an accepted type; anything else leaves no trace in storage.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import io
import uuid
from collections.abc import Callable, Iterable
from typing import BinaryIO

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import Role, User
from app.core import db
from app.core.clock import utcnow
from app.core.db import transaction
from app.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.photos.backends import Media, local_path
from app.photos.events import blob_processed, photos_available
from app.photos.models import (
    Blob,
    BlobHolder,
    Photo,
    PhotoKind,
    PhotoStatus,
    Processing,
    phash_bands,
)
from media import images
from media.errors import MediaError
from media.storage import validate_sha256

# Which roles take which kind of photo.
KIND_ROLES: dict[str, frozenset[str]] = {
    PhotoKind.PROBLEM: frozenset(
        {Role.INSPECTOR, Role.STREET_CHIEF, Role.ROAD_CHIEF, Role.MERCHANT, Role.DISPATCHER}
    ),
    # Merchants close the rectify tasks of their own frontage (门前三包).
    PhotoKind.CLOSURE: frozenset(
        {Role.HANDLER, Role.INSPECTOR, Role.STREET_CHIEF, Role.ROAD_CHIEF, Role.MERCHANT}
    ),
    PhotoKind.CHECK: frozenset({Role.INSPECTOR, Role.STREET_CHIEF, Role.ROAD_CHIEF}),
    PhotoKind.SELFCHECK: frozenset({Role.MERCHANT}),
}
# Who may see any photo until cases widen it to "anyone who may see the case".
READ_ALL_ROLES = frozenset({Role.DISPATCHER, Role.ADMIN})
OWNER_METADATA_KEY = "owner_id"

# Other domains widen who may see a photo without photos knowing them: the cases domain
# lets whoever may see a case see its photos.
VisibilityRule = Callable[[Session, User, Photo], bool]
_visibility_rules: list[VisibilityRule] = []


def add_visibility_rule(rule: VisibilityRule) -> VisibilityRule:
    if rule not in _visibility_rules:
        _visibility_rules.append(rule)
    return rule


@dataclasses.dataclass(frozen=True)
class Received:
    blob: Blob | None  # None from the tus path, which has no use for the row
    created: bool


def _facts_to_blob(sha256: str, size: int, facts: images.ImageFacts) -> Blob:
    taken_at = None
    taken_local = None
    if facts.taken_at is not None:
        if facts.taken_at_has_offset:
            taken_at = facts.taken_at.astimezone(dt.UTC)
        taken_local = facts.taken_at.replace(tzinfo=None).isoformat()
    return Blob(
        sha256=sha256,
        size=size,
        media_type=facts.mime_type,
        width=facts.width,
        height=facts.height,
        exif_taken_at=taken_at,
        exif_taken_at_local=taken_local,
        exif_lat=facts.gps.latitude if facts.gps else None,
        exif_lon=facts.gps.longitude if facts.gps else None,
        camera_make=(facts.make or None) and facts.make[:64],
        camera_model=(facts.model or None) and facts.model[:64],
        orientation=facts.orientation,
        exif_warnings=list(facts.warnings),
        processing=Processing.QUEUED,
        thumbnails={},
    )


def _limits(media: Media) -> dict[str, int]:
    return {"max_pixels": media.max_pixels, "max_lossless_pixels": media.max_lossless_pixels}


def _inspect_or_discard(media: Media, sha256: str, created: bool) -> images.ImageFacts:
    """Check the stored bytes are an accepted, sound image; if not, remove what this
    request stored and re-raise, so storage keeps nothing from bad input."""
    try:
        with local_path(media.store, sha256) as path:
            return images.inspect_image(path, **_limits(media))
    except MediaError:
        if created:
            media.store.delete(sha256)
        raise


def _record_blob(
    session: Session,
    media: Media,
    sha256: str,
    size: int,
    facts: images.ImageFacts,
    holder: int,
    also: Callable[[Session], None] | None = None,
) -> Received:
    """Insert the blob row once (a concurrent twin's insert does nothing), note that
    ``holder`` sent these bytes, make the holder's pending photos of them available and
    queue the blob's processing. Two ``INSERT … ON CONFLICT DO NOTHING``: no read first and
    no savepoint (issue 16: the savepoint dance was a tenth of an upload's time). ``also``
    writes the caller's own rows in the same transaction (the tus upload's record: one
    commit for the whole completion)."""
    row = _facts_to_blob(sha256, size, facts)
    values = {
        column.key: getattr(row, column.key)
        for column in Blob.__table__.columns
        if getattr(row, column.key) is not None
    }
    with transaction(session):
        created = _insert_ignoring_twin(session, Blob, values, ["sha256"]) == 1
        _insert_ignoring_twin(
            session,
            BlobHolder,
            {"sha256": sha256, "user_id": holder, "received_at": utcnow()},
            ["sha256", "user_id"],
        )
        now = utcnow()
        # Through the ORM, not a Core UPDATE: the change feed tells the phones (app.feed).
        # Only the sender's own photos: another user's photo naming the same hash waits
        # for that user's upload (knowing a hash is not possession).
        waiting = session.scalars(
            sa.select(Photo).where(
                Photo.sha256 == sha256,
                Photo.status == PhotoStatus.PENDING,
                Photo.owner_id == holder,
            )
        ).all()
        for photo in waiting:
            photo.status, photo.available_at = PhotoStatus.AVAILABLE, now
        arrived = [photo.id for photo in waiting]
        if also is not None:
            also(session)
    if created:
        media.queue.enqueue("process_blob", {"sha256": sha256, "app": media.app_token})
    if arrived:
        photos_available.send(None, photo_ids=arrived, sha256=sha256)
    return Received(None, created)


def _insert_ignoring_twin(session: Session, model, values: dict, keys: list[str]) -> int:
    """``INSERT … ON CONFLICT (keys) DO NOTHING`` (alike in SQLite and PostgreSQL): 0 or 1
    rows inserted. Columns left out get their Python default."""
    table = model.__table__
    for column in table.columns:
        if column.key not in values and (default := column.default) is not None:
            values[column.key] = default.arg(None) if default.is_callable else default.arg
    return session.execute(_upsert_text(table, tuple(sorted(values)), tuple(keys)), values).rowcount


@functools.cache
def _upsert_text(table: sa.Table, columns: tuple[str, ...], keys: tuple[str, ...]) -> sa.TextClause:
    # Text with typed parameters: cached by SQLAlchemy, where the dialects' Insert with
    # on_conflict is compiled anew on every execution (inherit_cache = False).
    statement = sa.text(
        f"INSERT INTO {table.name} ({', '.join(columns)}) "
        f"VALUES ({', '.join(':' + name for name in columns)}) "
        f"ON CONFLICT ({', '.join(keys)}) DO NOTHING"
    )
    return statement.bindparams(*(sa.bindparam(name, type_=table.c[name].type) for name in columns))


#: A ``db.joined`` unit's caches (``prepare_photos``): the photos looked up, by id (None: no
#: such photo), and whether a user holds a blob, by (sha256, user id).
KNOWN_PHOTOS = "photos"
HELD_BLOBS = "blob_holders"


def prepare_photos(session: Session, user_id: int, named: Iterable[tuple[uuid.UUID, str]]) -> None:
    """Inside a ``db.joined`` unit whose use cases register the photos ``named`` (id,
    sha256) for ``user_id``: look them up, and the blobs the user holds, once for all."""
    known = db.unit_cache(session, KNOWN_PHOTOS)
    held = db.unit_cache(session, HELD_BLOBS)
    named = list(named)
    if known is None or held is None or not named:
        return
    ids = {photo_id for photo_id, _ in named}
    hashes = {sha256.lower() for _, sha256 in named}
    found = {
        photo.id: photo for photo in session.scalars(sa.select(Photo).where(Photo.id.in_(ids)))
    }
    known.update({photo_id: found.get(photo_id) for photo_id in ids})
    have = set(
        session.scalars(
            sa.select(BlobHolder.sha256).where(
                BlobHolder.user_id == user_id, BlobHolder.sha256.in_(hashes)
            )
        )
    )
    held.update({(sha256, user_id): sha256 in have for sha256 in hashes})


def _photo(session: Session, photo_id: uuid.UUID) -> Photo | None:
    known = db.unit_cache(session, KNOWN_PHOTOS)
    if known is not None and photo_id in known:
        return known[photo_id]
    return session.get(Photo, photo_id)


def holds(session: Session, user_id: int, sha256: str) -> bool:
    """Whether ``user_id`` has sent these bytes."""
    held = db.unit_cache(session, HELD_BLOBS)
    if held is not None and (sha256, user_id) in held:
        return held[sha256, user_id]
    return session.get(BlobHolder, (sha256, user_id)) is not None


def receive_blob(
    session: Session, media: Media, user: User, stream: BinaryIO, sha256: str
) -> Received:
    """Store bytes that must hash to ``sha256`` (PUT /blobs/{sha256}), sent by ``user``."""
    sha256 = validate_sha256(sha256)
    stored = media.store.put_stream(stream, sha256, media.max_bytes)
    facts = _inspect_or_discard(media, sha256, stored.created)
    received = _record_or_discard(session, media, sha256, stored, facts, user.id)
    return Received(session.get(Blob, sha256), received.created or stored.created)


def _record_or_discard(
    session: Session,
    media: Media,
    sha256: str,
    stored,
    facts: images.ImageFacts,
    holder: int,
    also: Callable[[Session], None] | None = None,
) -> Received:
    """Record the blob (and run ``also`` in the same transaction); if that fails, remove
    the bytes this request stored: no file is ever kept without its row (a retry stores
    them again)."""
    try:
        return _record_blob(session, media, sha256, stored.size, facts, holder, also)
    except Exception:
        if stored.created and session.get(Blob, sha256) is None:
            media.store.delete(sha256)
        raise


def find_blob(session: Session, media: Media, user: User, sha256: str) -> Blob | None:
    """The blob if its bytes are here and ``user`` may know it (HEAD /blobs/{sha256}):
    they sent these bytes, or the bytes are a photo they may see."""
    sha256 = validate_sha256(sha256.lower())
    blob = session.get(Blob, sha256)
    if blob is None or not media.store.exists(sha256):
        return None
    if holds(session, user.id, sha256):
        return blob
    photos = session.scalars(sa.select(Photo).where(Photo.sha256 == sha256).limit(50))
    if any(_may_see(session, user, photo) for photo in photos):
        return blob
    return None


# -- photo records ----------------------------------------------------------------------


# One keyword per field of the phone's photo record (its UUID, hash, kind, when and where),
# as the route's body and the self-check's photos carry them.
def register_photo(  # noqa: PLR0913
    session: Session,
    media: Media,
    user: User,
    *,
    photo_id: uuid.UUID,
    sha256: str,
    kind: str,
    taken_at: dt.datetime | None = None,
    lat: float | None = None,
    lon: float | None = None,
) -> tuple[Photo, bool]:
    """Record a photo the phone took. Idempotent by the phone's UUID: the same photo sent
    again returns the stored one; the same UUID with other content is a conflict."""
    sha256 = sha256.lower()
    try:
        validate_sha256(sha256)
    except MediaError:
        raise ValidationFailed("sha256 is 64 hex digits", {"sha256": ["malformed"]}) from None
    if user.role not in KIND_ROLES[kind]:
        raise Forbidden(f"a {user.role} does not take {kind} photos")
    existing = _photo(session, photo_id)
    if existing is not None:
        if (existing.sha256, existing.kind, existing.owner_id) != (sha256, kind, user.id):
            raise Conflict(
                f"photo {photo_id} exists with other content",
                {"id": ["already used for another photo"]},
            )
        return existing, False
    available = holds(session, user.id, sha256) and media.store.exists(sha256)
    now = utcnow()
    photo = Photo(
        id=photo_id,
        sha256=sha256,
        kind=kind,
        owner_id=user.id,
        status=PhotoStatus.AVAILABLE if available else PhotoStatus.PENDING,
        client_taken_at=taken_at,
        client_lat=lat,
        client_lon=lon,
        created_at=now,
        available_at=now if available else None,
    )
    try:
        with transaction(session):
            session.add(photo)
        known = db.unit_cache(session, KNOWN_PHOTOS)
        if known is not None:
            known[photo_id] = photo
    except sa.exc.IntegrityError:
        # A concurrent twin of this request won; answer as the retry it is.
        return register_photo(
            session,
            media,
            user,
            photo_id=photo_id,
            sha256=sha256,
            kind=kind,
            taken_at=taken_at,
            lat=lat,
            lon=lon,
        )
    return photo, True


def _may_see(session: Session, user: User, photo: Photo) -> bool:
    if photo.owner_id == user.id or user.role in READ_ALL_ROLES:
        return True
    return any(rule(session, user, photo) for rule in _visibility_rules)


def get_photo(session: Session, user: User, photo_id: uuid.UUID) -> Photo:
    photo = session.get(Photo, photo_id)
    if photo is None:
        raise NotFound(f"photo {photo_id} does not exist")
    if _may_see(session, user, photo):
        return photo
    # The same answer as an unknown id: whether a photo exists is not for everyone to learn.
    raise NotFound(f"photo {photo_id} does not exist")


def photo_blob(session: Session, photo: Photo) -> Blob:
    blob = session.get(Blob, photo.sha256) if photo.status == PhotoStatus.AVAILABLE else None
    if blob is None:
        raise NotFound(f"the bytes of photo {photo.id} have not arrived yet")
    return blob


def thumbnail_sha(session: Session, photo: Photo, size: int) -> str:
    blob = photo_blob(session, photo)
    if blob.processing == Processing.FAILED:
        raise NotFound(f"thumbnails of photo {photo.id} could not be made: {blob.processing_error}")
    sha = (blob.thumbnails or {}).get(str(size))
    if sha is None:
        raise NotFound(f"the {size} px thumbnail of photo {photo.id} is not made yet")
    return sha


# -- processing (runs in a job, off the request path) -----------------------------------


def process_blob(session: Session, media: Media, sha256: str) -> Blob:
    """Decode once; store the thumbnails as blobs and the perceptual hash."""
    blob = session.get(Blob, sha256)
    if blob is None:
        raise NotFound(f"blob {sha256} is not recorded")
    if blob.processing == Processing.DONE:
        return blob
    try:
        with local_path(media.store, sha256) as path:
            made = images.make_derivatives(path, media.thumbnail_sizes, **_limits(media))
        thumbnails = {
            str(size): _store_bytes(media, data) for size, data in made.thumbnails.items()
        }
    except Exception as error:
        with transaction(session):
            blob.processing_attempts += 1
            blob.processing_error = f"{type(error).__name__}: {error}"[:2000]
            if isinstance(error, MediaError):
                # The bytes will not decode however often we try: stop retrying.
                blob.processing = Processing.FAILED
        if isinstance(error, MediaError):
            return blob
        raise
    with transaction(session):
        blob.thumbnails = thumbnails
        blob.phash = made.phash
        blob.phash_b0, blob.phash_b1, blob.phash_b2, blob.phash_b3 = phash_bands(made.phash)
        blob.processing = Processing.DONE
        blob.processing_error = None
        blob.processing_attempts += 1
        blob.processed_at = utcnow()
    blob_processed.send(None, sha256=sha256)
    return blob


def _store_bytes(media: Media, data: bytes) -> str:
    sha = hashlib.sha256(data).hexdigest()
    media.store.put_stream(io.BytesIO(data), sha, len(data))
    return sha


def requeue_unprocessed(session: Session, media: Media) -> int:
    """Queue again every blob still waiting for its thumbnails (after a worker outage)."""
    waiting = list(
        session.scalars(sa.select(Blob.sha256).where(Blob.processing == Processing.QUEUED))
    )
    for sha256 in waiting:
        media.queue.enqueue("process_blob", {"sha256": sha256, "app": media.app_token})
    return len(waiting)


def open_blob(media: Media, sha256: str) -> BinaryIO:
    return media.store.open(sha256)


def describe_photo(session: Session, photo: Photo) -> dict:
    """The photo record with what its bytes turned out to be, once they are here."""
    blob = session.get(Blob, photo.sha256) if photo.status == PhotoStatus.AVAILABLE else None
    view = {
        "id": photo.id,
        "sha256": photo.sha256,
        "kind": photo.kind,
        "owner_id": photo.owner_id,
        "status": photo.status,
        "client_taken_at": photo.client_taken_at,
        "client_lat": photo.client_lat,
        "client_lon": photo.client_lon,
        "created_at": photo.created_at,
        "available_at": photo.available_at,
        "thumbnail_sizes": [],
        "exif": None,
        "processing": None,
    }
    if blob is not None:
        view.update(
            media_type=blob.media_type,
            width=blob.width,
            height=blob.height,
            size=blob.size,
            exif=blob,
            processing=blob.processing,
            thumbnail_sizes=sorted(int(size) for size in blob.thumbnails or {}),
        )
    return view
