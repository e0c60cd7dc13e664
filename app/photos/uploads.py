"""Resumable (tus) uploads that any app server can continue (issue 15).

Every host must know every upload; where it learns of one depends on the media backend:

* **disk** — the bytes, the live offset, the expiry and the metadata (owner and device
  included) stay in the shared ``UPLOADS_ROOT`` as :mod:`media.resumable` keeps them (one
  fsync per PATCH, ``flock`` between requests; issue 16's fast path). Several hosts must
  share that directory (NFS v4 with working ``flock``, see docs/photos.md "Several
  hosts"), and it is what HEAD, PATCH and DELETE ask. Neither the creation nor a PATCH
  touches the database: the ``tus_uploads`` row is written by the completion, in the
  blob's own transaction (one commit for the whole completion; issue 16), and removed by
  termination and purge.
* **s3** — the bytes are pieces in the bucket (:mod:`media.s3uploads`) and the row,
  written at creation, is the upload's state. A PATCH checks the offset, writes its
  pieces *without* holding a lock, then advances the offset under the row's lock
  (``SELECT … FOR UPDATE``): of two PATCHes racing at one offset on two hosts, exactly
  one advances it, the other answers 409 and deletes its pieces. No lock or transaction
  is held while bytes travel.

Completion is the same on both: the bytes are hashed and checked against the sha256 the
client declared, stored as a blob, inspected and recorded exactly as ``PUT /blobs`` does
(``services._record_or_discard``); the upload then answers HEAD as complete for a day and
is purged by :func:`purge_uploads`, which any host may run at any time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import secrets

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.core.clock import utcnow
from app.core.db import transaction
from app.core.errors import ValidationFailed
from app.photos import services
from app.photos.backends import Media
from app.photos.models import TusUpload
from media.errors import MediaError, OffsetMismatch, TooLarge, UploadExpired, UploadNotFound
from media.storage import StoredBlob, validate_sha256
from media.upload_state import Upload, validate_metadata

log = logging.getLogger(__name__)
OWNER_METADATA_KEY = services.OWNER_METADATA_KEY
#: The creating device of a disk upload, kept in its metadata until the row is written.
DEVICE_METADATA_KEY = "owner_device"
#: Metadata the server adds; HEAD never shows them to the client.
SERVER_METADATA_KEYS = frozenset({OWNER_METADATA_KEY, DEVICE_METADATA_KEY})
# How long a completed upload still answers HEAD with its final offset (then purged).
COMPLETED_UPLOAD_KEPT = dt.timedelta(hours=24)


def _upload(row: TusUpload) -> Upload:
    return Upload(
        row.id,
        row.length,
        row.upload_offset,
        dict(row.upload_metadata),
        row.created_at,
        row.expires_at,
    )


def create_upload(
    session: Session,
    media: Media,
    user: User,
    length: int,
    metadata: dict[str, str],
    expires_in: dt.timedelta,
    device_id: str | None = None,
) -> Upload:
    """Start a resumable upload of a photo whose SHA-256 is in its metadata."""
    sha256 = metadata.get("sha256", "")
    try:
        validate_sha256(sha256)
    except MediaError:
        raise ValidationFailed(
            "Upload-Metadata needs sha256: the photo's SHA-256 as 64 lowercase hex digits",
            {"Upload-Metadata": ["sha256 missing or malformed"]},
        ) from None
    if length <= 0:
        raise ValidationFailed("Upload-Length must be positive", {"Upload-Length": ["> 0"]})
    metadata = {**metadata, OWNER_METADATA_KEY: str(user.id)}
    if media.parts is None:
        # No row yet: the shared directory is what every host asks until completion,
        # which writes the row in its own transaction (issue 16: one commit fewer).
        if device_id is not None:
            metadata[DEVICE_METADATA_KEY] = device_id
        return media.uploads.create(length, metadata, expires_in)
    upload = _new_s3_upload(media, length, metadata, expires_in)
    row = TusUpload(
        id=upload.id,
        owner_id=user.id,
        device_id=device_id,
        backend="s3",
        length=upload.length,
        upload_offset=0,
        upload_metadata=dict(upload.metadata),
        state={"pieces": []},
        created_at=upload.created_at,
        expires_at=upload.expires_at,
        expires_in_seconds=int(expires_in.total_seconds()),
    )
    with transaction(session):
        session.add(row)
    return upload


def _new_s3_upload(
    media: Media, length: int, metadata: dict[str, str], expires_in: dt.timedelta
) -> Upload:
    if length > media.max_bytes:
        raise TooLarge(f"Upload-Length exceeds {media.max_bytes} bytes")
    now = utcnow()
    return Upload(
        secrets.token_hex(16), length, 0, validate_metadata(metadata), now, now + expires_in
    )


def _row(session: Session, user: User, upload_id: str, lock: bool = False) -> TusUpload:
    """The user's upload row; another user's upload does not exist for them."""
    query = sa.select(TusUpload).where(TusUpload.id == str(upload_id)[:64])
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    row = session.scalars(query).one_or_none()
    if row is None or row.owner_id != user.id:
        raise UploadNotFound(upload_id)
    return row


def get_upload(session: Session, media: Media, user: User, upload_id: str) -> Upload:
    """Where the upload stands (tus HEAD)."""
    if media.parts is None:
        # The shared directory has the live offset and expiry; no database round trip.
        upload = media.uploads.get(upload_id)
        if upload.metadata.get(OWNER_METADATA_KEY) != str(user.id):
            raise UploadNotFound(upload_id)
        return upload
    row = _row(session, user, upload_id)
    if row.expires_at <= utcnow():
        raise UploadExpired(upload_id)
    return _upload(row)


def append_upload(
    session: Session,
    media: Media,
    user: User,
    upload_id: str,
    offset: int,
    stream,
    checksum: tuple[str, bytes] | None,
) -> Upload:
    """Append one PATCH's bytes; when the upload is complete, verify and keep the photo."""
    before = get_upload(session, media, user, upload_id)
    if before.complete and offset == before.offset:
        return before  # the repeat of a last PATCH whose answer was lost
    if media.parts is None:
        upload = media.uploads.append(upload_id, offset, stream, checksum)
    else:
        upload = _append_s3(session, media, user, before, offset, stream, checksum)
    if upload.complete:
        _complete_upload(session, media, user, upload)
    return upload


def _append_s3(
    session: Session,
    media: Media,
    user: User,
    before: Upload,
    offset: int,
    stream,
    checksum: tuple[str, bytes] | None,
) -> Upload:
    if not before.takes_at(offset, stream):
        return before
    assert media.parts is not None
    session.commit()  # no transaction (nor pooled connection) held while the bytes travel
    written = media.parts.write(before.id, offset, stream, before.length - before.offset, checksum)
    try:
        with transaction(session):
            row = _row(session, user, before.id, lock=True)
            if row.upload_offset != offset:
                # Another PATCH (on this host or another) advanced it while ours streamed.
                raise OffsetMismatch(row.upload_offset, offset)
            row.upload_offset = offset + written.size
            row.state = {"pieces": [*row.state.get("pieces", []), *written.pieces]}
            if row.upload_offset == row.length:
                # This request now finishes it; a finish that dies is redone by purge.
                row.state = {**row.state, "finishing": utcnow().isoformat()}
            if written.size:
                row.expires_at = utcnow() + dt.timedelta(seconds=row.expires_in_seconds)
            upload = _upload(row)
    except BaseException:
        media.parts.delete_pieces(written.pieces)
        raise
    if written.error is not None:
        raise written.error  # the client hung up; what arrived is kept
    return upload


def _complete_upload(session: Session, media: Media, user: User, upload: Upload) -> None:
    sha256 = upload.metadata["sha256"]
    try:
        stored = _store_complete(session, media, user, upload, sha256)
        facts = services._inspect_or_discard(media, sha256, stored.created)
    except MediaError:
        # Bad bytes cannot become good by resuming: drop the upload, keep nothing.
        _terminate(session, media, upload.id)
        raise
    holder = int(upload.metadata[OWNER_METADATA_KEY])
    # Disk: the upload's row goes in with the blob's, in one transaction and one commit.
    record = None
    if media.parts is None:
        record = _disk_row_writer(upload, sha256, media.uploads.expires_in(upload.id))
    try:
        services._record_or_discard(session, media, sha256, stored, facts, holder, record)
    except Exception:
        # Left complete, the upload would tell a resuming client (HEAD) that it is done,
        # and the photo would wait for bytes never sent again: the client starts over.
        _terminate(session, media, upload.id)
        raise
    if media.parts is None:
        media.uploads.retire(upload.id, COMPLETED_UPLOAD_KEPT)
        return
    _finish_s3_row(session, media, upload, sha256)


def _disk_row_writer(upload: Upload, sha256: str, expires_in: dt.timedelta):
    """What writes a finished disk upload's row inside the completion's transaction:
    an upsert, so a row written at creation by an older release is finished too."""
    now = utcnow()
    owner = int(upload.metadata[OWNER_METADATA_KEY])
    values = {
        "id": upload.id,
        "owner_id": owner,
        "device_id": upload.metadata.get(DEVICE_METADATA_KEY),
        "backend": "disk",
        "length": upload.length,
        "upload_offset": upload.length,
        "upload_metadata": {k: v for k, v in upload.metadata.items() if k != DEVICE_METADATA_KEY},
        "state": {},
        "created_at": upload.created_at,
        "expires_at": now + COMPLETED_UPLOAD_KEPT,
        "expires_in_seconds": int(expires_in.total_seconds()),
        "completed_sha256": sha256,
        "completed_at": now,
    }

    def write(session: Session) -> None:
        session.execute(_finished_row_upsert(), values)

    return write


@functools.cache
def _finished_row_upsert() -> sa.TextClause:
    # Cached text (as services._upsert_text): SQLite and PostgreSQL spell it alike.
    table = TusUpload.__table__
    columns = [column.key for column in table.columns]
    finished = ("upload_offset", "state", "expires_at", "completed_sha256", "completed_at")
    statement = sa.text(
        f"INSERT INTO {table.name} ({', '.join(columns)}) "
        f"VALUES ({', '.join(':' + name for name in columns)}) "
        f"ON CONFLICT (id) DO UPDATE SET "
        + ", ".join(f"{name} = excluded.{name}" for name in finished)
    )
    return statement.bindparams(*(sa.bindparam(name, type_=table.c[name].type) for name in columns))


def _finish_s3_row(session: Session, media: Media, upload: Upload, sha256: str) -> None:
    """Mark an S3 upload complete under its row's lock, then delete its pieces."""
    assert media.parts is not None
    expires_at = utcnow() + COMPLETED_UPLOAD_KEPT
    pieces: list = []
    with transaction(session):
        row = session.scalars(
            sa.select(TusUpload)
            .where(TusUpload.id == upload.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one_or_none()
        if row is not None:
            pieces = row.state.get("pieces", [])
            row.upload_offset = row.length
            row.completed_sha256, row.completed_at = sha256, utcnow()
            row.expires_at, row.state = expires_at, {"pieces": []} if pieces else {}
    if pieces:
        media.parts.delete_pieces(pieces)


def _store_complete(
    session: Session, media: Media, user: User, upload: Upload, sha256: str
) -> StoredBlob:
    """The upload's bytes into the blob store, their sha256 checked on the way."""
    if media.parts is None:
        finished = media.uploads.finish(upload.id, expected_sha256=sha256)
        return media.store.adopt_file(finished.path, sha256)
    row = _row(session, user, upload.id)
    session.commit()  # no transaction stays open while the photo streams through
    with media.parts.open(row.state.get("pieces", [])) as reader:
        return media.store.put_stream(reader, sha256, media.max_bytes)


def terminate_upload(session: Session, media: Media, user: User, upload_id: str) -> None:
    """Abandon an upload (tus DELETE)."""
    if media.parts is None:
        get_upload(session, media, user, upload_id)
    else:
        _row(session, user, upload_id)
    _terminate(session, media, upload_id)


def _terminate(session: Session, media: Media, upload_id: str) -> None:
    if media.parts is None:
        with contextlib.suppress(UploadNotFound):
            media.uploads.terminate(upload_id)
    else:
        media.parts.delete_upload(upload_id)
    with transaction(session):
        session.execute(sa.delete(TusUpload).where(TusUpload.id == upload_id))


def purge_uploads(session: Session, media: Media, now: dt.datetime | None = None) -> int:
    """Remove expired uploads, their rows and their bytes; return how many (plus blob-store
    debris). For the whole city at once: run it from the scheduler on any host, or from
    several at the same moment — each expired row is taken with ``FOR UPDATE SKIP LOCKED``
    (PostgreSQL), so two purges never work on one upload, and deleting bytes already
    deleted is harmless anyway.

    On the disk backend the shared directory keeps the live expiry (each PATCH pushes it
    forward without touching the row): the directory is purged by its own rules, and a
    row past its time whose upload is still alive there is moved forward, not deleted.
    """
    purged = 0
    if media.parts is None:
        # First what a dead finish left (its bytes would expire with the upload).
        finish_stalled_uploads(session, media, now)
        purged += media.uploads.purge_expired(now)  # (None: by the store's own clock)
    now = now or utcnow()
    if media.parts is not None:
        finish_stalled_uploads(session, media, now)
    while True:
        with transaction(session):
            rows = session.scalars(
                sa.select(TusUpload)
                .where(TusUpload.expires_at <= now)
                .order_by(TusUpload.expires_at)
                .limit(100)
                .with_for_update(skip_locked=True)
            ).all()
            gone = [row.id for row in rows if _purge_row(media, row, now)]
            s3 = {row.id for row in rows if row.backend == "s3"}
            # Core, by id: a row another purge took first (SQLite has no SKIP LOCKED) is
            # simply not counted twice.
            deleted = session.execute(
                sa.delete(TusUpload)
                .where(TusUpload.id.in_(gone), TusUpload.expires_at <= now)
                .returning(TusUpload.id)
            ).scalars()
            purged += len(s3.intersection(deleted))
        if len(rows) < 100:
            break
    sweep = getattr(media.store, "sweep_temporary", None)
    if sweep is not None:
        # Debris of puts that died mid-stream (a killed worker); a day is far past any put.
        purged += sweep(older_than_seconds=24 * 3600, now=now.timestamp())
    return purged


def _purge_row(media: Media, row: TusUpload, now: dt.datetime) -> bool:
    """Delete the row's bytes and say so, or move a live disk upload's row forward."""
    if row.backend == "s3":
        if media.parts is not None:
            media.parts.delete_upload(row.id)
        return True
    if media.parts is not None:
        return True  # a disk upload left from before a switch to S3: its bytes are local
    try:
        alive = media.uploads.get(row.id)
    except (UploadNotFound, UploadExpired):
        return True
    row.expires_at = max(alive.expires_at, now + dt.timedelta(seconds=1))
    return False


#: A finish older than this is taken to have died with its host (a 30 MB photo's finish
#: takes seconds).
STALLED_FINISH = dt.timedelta(minutes=10)


def finish_stalled_uploads(session: Session, media: Media, now: dt.datetime | None = None) -> int:
    """Finish uploads whose bytes all arrived but whose completing request died (its
    host was killed, or the store failed it) more than :data:`STALLED_FINISH` ago. The
    client was told, or will learn from HEAD, that every byte is here, and will not send
    them again: the server owes it the blob. Called by :func:`purge_uploads`. On S3 each
    upload is claimed under its row lock (``SKIP LOCKED``), so two hosts never finish one
    twice; on disk the shared directory says which are stalled (see
    :func:`_finish_stalled_on_disk`). Returns how many became blobs."""
    if media.parts is None:
        return _finish_stalled_on_disk(session, media, now)
    now = now or utcnow()
    with transaction(session):
        candidates = session.scalars(
            sa.select(TusUpload.id).where(
                TusUpload.backend == "s3",
                TusUpload.upload_offset == TusUpload.length,
                TusUpload.completed_sha256.is_(None),
            )
        ).all()
    finished = 0
    for upload_id in candidates:
        with transaction(session):
            row = session.scalars(
                sa.select(TusUpload)
                .where(TusUpload.id == upload_id, TusUpload.completed_sha256.is_(None))
                .with_for_update(skip_locked=True)
                .execution_options(populate_existing=True)
            ).first()
            if row is None or not _stalled(row, now):
                continue
            row.state = {**row.state, "finishing": now.isoformat()}
            upload, owner_id = _upload(row), row.owner_id
        try:
            _complete_upload(session, media, session.get(User, owner_id), upload)
            finished += 1
        except Exception:  # bad bytes (the upload is dropped) or the store is down
            log.warning("finishing stalled upload %s failed", upload_id, exc_info=True)
    return finished


def _finish_stalled_on_disk(session: Session, media: Media, now: dt.datetime | None) -> int:
    """A disk upload whose ``data`` is complete but was never retired, its last byte
    written more than :data:`STALLED_FINISH` ago: the process finishing it was killed
    between the bytes' fsync and the blob's commit. Two hosts finishing one at once both
    make the same blob (its rows are inserted once, the bytes linked once), so no claim is
    needed."""
    finished = 0
    for upload_id in media.uploads.stalled(STALLED_FINISH, now):
        try:
            upload = media.uploads.get(upload_id)
            owner = session.get(User, int(upload.metadata[OWNER_METADATA_KEY]))
            if owner is None:
                raise UploadNotFound(upload_id)
            _complete_upload(session, media, owner, upload)
            finished += 1
        except Exception:  # bad bytes (the upload is dropped), gone meanwhile, store down
            log.warning("finishing stalled upload %s failed", upload_id, exc_info=True)
    return finished


def _stalled(row: TusUpload, now: dt.datetime) -> bool:
    since = row.state.get("finishing")
    return since is None or dt.datetime.fromisoformat(since) <= now - STALLED_FINISH
