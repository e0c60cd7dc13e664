"""Cases, photos and blobs as rows, for the evidence and pressing tests.

The case API is built elsewhere; these build the minimum a case needs straight from the
models, and blobs from real JPEGs (EXIF read and pHash made by ``media.images``, as the
photo pipeline does), so the checks see what production would.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import itertools
import uuid

from PIL import ExifTags, Image
from sqlalchemy.orm import Session

from app.cases.models import Case, CasePause, CasePhoto
from app.categories import services as categories
from app.categories.models import Category
from app.photos.models import Blob, Photo, PhotoStatus, Processing, phash_bands
from media import images
from tests.factories import World
from tests.media import photos as pictures

# A spot on 中山路, Xiamen (WGS-84).
CASE_LAT, CASE_LON = 24.4700, 118.0850
_serial = itertools.count(1)
WORLD = object()  # "the world's street / road" in make_case


def make_category(
    session: Session, time_limit: float = 4, limit_type: str = "working_hours"
) -> Category:
    category = categories.create_local_category(
        session,
        kind="event",
        edition="gbt47678",
        code=f"06{900 + next(_serial) % 100:03d}",
        name="暴露垃圾",
        time_limit=time_limit,
        limit_type=limit_type,
    )
    session.commit()
    return category


def make_case(
    session: Session,
    world: World,
    category: Category,
    *,
    reported_at: dt.datetime,
    state: str = "dispatched",
    lat: float = CASE_LAT,
    lon: float = CASE_LON,
    limit_started_at: dt.datetime | None = None,
    deadline: dt.datetime | None = None,
    rework_count: int = 0,
    urgency: str = "normal",
    street_id: int | object | None = WORLD,
    road_id: int | object | None = WORLD,
) -> Case:
    """A case on ``world``'s street and road unless other ids (or None) are given."""
    case = Case(
        id=uuid.uuid4(),
        number=f"350203-T-{next(_serial):06d}",
        source="inspector",
        category_id=category.id,
        description="路边暴露垃圾",
        lat=lat,
        lon=lon,
        locate_status="inside",
        state=state,
        street_id=world.street.id if street_id is WORLD else street_id,
        road_id=world.road.id if road_id is WORLD else road_id,
        community_id=world.community.id,
        reporter_id=world.users["inspector"].id,
        reported_at=reported_at,
        registered_at=limit_started_at,
        limit_started_at=limit_started_at,
        deadline=deadline,
        rework_count=rework_count,
        urgency=urgency,
    )
    session.add(case)
    session.commit()
    return case


def add_pause(
    session: Session, case: Case, started_at: dt.datetime, ended_at: dt.datetime | None
) -> CasePause:
    pause = CasePause(case_id=case.id, started_at=started_at, ended_at=ended_at)
    session.add(pause)
    session.commit()
    return pause


def jpeg(
    seed: int = 1,
    *,
    gps: tuple[float, float] | None = None,
    taken_at: dt.datetime | None = None,
    taken_local: str | None = None,
    size: tuple[int, int] = (640, 480),
    quality: int = 90,
    image: Image.Image | None = None,
) -> bytes:
    """A JPEG of scene ``seed`` with EXIF GPS and a camera time: ``taken_at`` (aware) is
    written with its offset; ``taken_local`` ("2026:11:20 09:00:00") without one."""
    taken = {}
    if taken_at is not None:
        offset = taken_at.utcoffset() or dt.timedelta(0)
        minutes = int(offset.total_seconds() // 60)
        hh_mm = f"{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
        taken = {
            ExifTags.Base.DateTimeOriginal: taken_at.strftime("%Y:%m:%d %H:%M:%S"),
            ExifTags.Base.OffsetTimeOriginal: ("+" if minutes >= 0 else "-") + hh_mm,
        }
    elif taken_local is not None:
        taken = {ExifTags.Base.DateTimeOriginal: taken_local}
    exif = None
    if gps or taken:
        exif = pictures.exif(gps=pictures.gps_ifd(*gps) if gps else None, taken=taken or None)
    picture = image if image is not None else pictures.scene(*size, seed=seed)
    return pictures.encode(picture, "JPEG", exif, quality=quality)


def make_blob(session: Session, data: bytes, *, processed: bool = True) -> Blob:
    """The blob row the photo pipeline would write for ``data`` (and, if ``processed``,
    its perceptual hash). Idempotent by hash."""
    sha256 = hashlib.sha256(data).hexdigest()
    blob = session.get(Blob, sha256)
    if blob is not None:
        return blob
    facts = images.inspect_image(io.BytesIO(data))
    taken_at = None
    if facts.taken_at is not None and facts.taken_at_has_offset:
        taken_at = facts.taken_at.astimezone(dt.UTC)
    blob = Blob(
        sha256=sha256,
        size=len(data),
        media_type=facts.mime_type,
        width=facts.width,
        height=facts.height,
        exif_taken_at=taken_at,
        exif_taken_at_local=facts.taken_at.replace(tzinfo=None).isoformat()
        if facts.taken_at
        else None,
        exif_lat=facts.gps.latitude if facts.gps else None,
        exif_lon=facts.gps.longitude if facts.gps else None,
        exif_warnings=list(facts.warnings),
        thumbnails={},
        processing=Processing.QUEUED,
    )
    if processed:
        set_phash(blob, images.make_derivatives(io.BytesIO(data), [64]).phash)
    session.add(blob)
    session.commit()
    return blob


def process(session: Session, data: bytes) -> Blob:
    """What the processing job adds to the blob of ``data``: its perceptual hash."""
    blob = make_blob(session, data, processed=False)
    set_phash(blob, images.make_derivatives(io.BytesIO(data), [64]).phash)
    session.commit()
    return blob


def set_phash(blob: Blob, phash: str) -> None:
    blob.phash = phash
    blob.phash_b0, blob.phash_b1, blob.phash_b2, blob.phash_b3 = phash_bands(phash)
    blob.processing = Processing.DONE


def crafted_blob(session: Session, phash: str) -> Blob:
    """A blob with a chosen perceptual hash and no EXIF (for distance edge cases)."""
    blob = Blob(
        sha256=hashlib.sha256(phash.encode() + uuid.uuid4().bytes).hexdigest(),
        size=1,
        media_type="image/jpeg",
        width=1,
        height=1,
        exif_warnings=[],
        thumbnails={},
    )
    set_phash(blob, phash)
    session.add(blob)
    session.commit()
    return blob


def attach(
    session: Session,
    case: Case,
    kind: str,
    owner_id: int,
    *,
    data: bytes | None = None,
    blob: Blob | None = None,
    available: bool = True,
    processed: bool = True,
) -> Photo:
    """A photo of ``kind`` on ``case``: from ``data`` (its blob made unless the bytes have
    not arrived) or from an existing ``blob``."""
    if blob is None:
        assert data is not None
        sha256 = hashlib.sha256(data).hexdigest()
        if available:
            make_blob(session, data, processed=processed)
    else:
        sha256 = blob.sha256
    photo = Photo(
        id=uuid.uuid4(),
        sha256=sha256,
        kind=kind,
        owner_id=owner_id,
        status=PhotoStatus.AVAILABLE if available else PhotoStatus.PENDING,
    )
    session.add(photo)
    session.flush()
    session.add(CasePhoto(case_id=case.id, photo_id=photo.id, kind=kind, added_by=owner_id))
    session.commit()
    return photo
