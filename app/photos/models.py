"""Blobs (the bytes, by SHA-256, with what the pipeline learnt of them) and photos (the
phone's record of a picture: its UUID, kind and owner, pointing at a blob by hash)."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.clock import utcnow
from app.core.db import Base, UTCDateTime


class PhotoKind(enum.StrEnum):
    PROBLEM = "problem"  # 问题图片, before
    CLOSURE = "closure"  # 销号图片, after
    CHECK = "check"  # 核查, the inspector's re-photo
    SELFCHECK = "selfcheck"  # 自查, a merchant's daily photo


class PhotoStatus(enum.StrEnum):
    PENDING = "pending"  # the record arrived; its bytes have not (yet)
    AVAILABLE = "available"  # bytes stored and their hash verified


class Processing(enum.StrEnum):
    QUEUED = "queued"
    DONE = "done"
    FAILED = "failed"


class Blob(Base):
    """Bytes that arrived and were verified. Never modified; thumbnails are blobs too."""

    __tablename__ = "blobs"
    __table_args__ = (
        sa.CheckConstraint("processing IN ('queued', 'done', 'failed')", name="processing"),
        # The blobs still to process, oldest first: the metrics' photo processing lag reads
        # its first entry at every scrape (a handful of rows, whatever the table's size).
        sa.Index(
            "ix_blobs_queued_received_at",
            "received_at",
            sqlite_where=sa.text("processing = 'queued'"),
            postgresql_where=sa.text("processing = 'queued'"),
        ),
    )

    sha256: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    size: Mapped[int] = mapped_column(sa.BigInteger)
    media_type: Mapped[str] = mapped_column(sa.String(32))
    width: Mapped[int] = mapped_column(sa.Integer)
    height: Mapped[int] = mapped_column(sa.Integer)
    # EXIF facts, read when the bytes arrive (cheap: no pixels are decoded for them).
    exif_taken_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    exif_taken_at_local: Mapped[str | None] = mapped_column(sa.String(32))
    exif_lat: Mapped[float | None] = mapped_column(sa.Float)
    exif_lon: Mapped[float | None] = mapped_column(sa.Float)
    camera_make: Mapped[str | None] = mapped_column(sa.String(64))
    camera_model: Mapped[str | None] = mapped_column(sa.String(64))
    orientation: Mapped[int | None] = mapped_column(sa.SmallInteger)
    exif_warnings: Mapped[list] = mapped_column(sa.JSON, default=list)
    # Made off the request path by a job.
    processing: Mapped[str] = mapped_column(sa.String(16), default=Processing.QUEUED)
    processing_error: Mapped[str | None] = mapped_column(sa.Text)
    processing_attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    phash: Mapped[str | None] = mapped_column(sa.String(16), index=True)
    # The 64-bit pHash cut in four 16-bit bands: two hashes within Hamming distance 3 share
    # at least one band exactly, so near-duplicates are found by index, not by a scan.
    phash_b0: Mapped[int | None] = mapped_column(sa.Integer, index=True)
    phash_b1: Mapped[int | None] = mapped_column(sa.Integer, index=True)
    phash_b2: Mapped[int | None] = mapped_column(sa.Integer, index=True)
    phash_b3: Mapped[int | None] = mapped_column(sa.Integer, index=True)
    thumbnails: Mapped[dict] = mapped_column(sa.JSON, default=dict)  # "320" -> sha256
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    processed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class BlobHolder(Base):
    """Who has sent these bytes. Knowing a hash is not possession: a photo naming a hash
    becomes available to its owner only once the owner's own upload of the bytes is here
    (they are checked and not stored twice)."""

    __tablename__ = "blob_holders"

    sha256: Mapped[str] = mapped_column(
        sa.ForeignKey("blobs.sha256", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), primary_key=True, index=True)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Photo(Base):
    """A photo as the phone made it. Keyed by the phone's UUID: sending it twice stores it
    once. ``sha256`` may name bytes that have not arrived yet (``pending``)."""

    __tablename__ = "photos"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('problem', 'closure', 'check', 'selfcheck')", name="kind"),
        sa.CheckConstraint("status IN ('pending', 'available')", name="status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    owner_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(sa.String(16), default=PhotoStatus.PENDING)
    # What the phone says; recorded, never trusted over EXIF or the server clock.
    client_taken_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    client_lat: Mapped[float | None] = mapped_column(sa.Float)
    client_lon: Mapped[float | None] = mapped_column(sa.Float)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    available_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


def phash_bands(phash: str) -> tuple[int, int, int, int]:
    """The four 16-bit bands of a 64-bit pHash written as 16 hex digits."""
    return tuple(int(phash[i : i + 4], 16) for i in range(0, 16, 4))  # type: ignore[return-value]


class TusUpload(Base):
    """A resumable (tus) upload as every app server sees it (issue 15): who started it,
    how long it is, and — on the S3 backend — how far it got and where its pieces are.

    With ``backend = 'disk'`` the bytes, the live offset and the owner stay in the shared
    ``UPLOADS_ROOT`` (:mod:`media.resumable`'s fast path); this row is the finished
    upload's record, written by the completion in the blob's transaction (issue 16), so
    neither the creation nor a PATCH costs a database write. With ``backend = 's3'`` the row
    *is* the upload's state: ``upload_offset`` advances under the row's lock, and ``state``
    lists the objects (``{"pieces": [[key, size], ...]}``) that hold the bytes in order.
    """

    __tablename__ = "tus_uploads"
    __table_args__ = (sa.CheckConstraint("backend IN ('disk', 's3')", name="backend"),)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    owner_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    device_id: Mapped[str | None] = mapped_column(sa.String(128))
    backend: Mapped[str] = mapped_column(sa.String(8))
    length: Mapped[int] = mapped_column(sa.BigInteger)
    upload_offset: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    upload_metadata: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    state: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Pushed forward by each append (S3; the disk store keeps its own, see purge_uploads).
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    expires_in_seconds: Mapped[int] = mapped_column(sa.Integer)
    completed_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
