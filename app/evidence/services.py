"""Evidence checks: compare a case's closure and check photos with the case and flag what
looks faked. Flags are shown to the dispatcher; they never block a move.

Four checks, each on a closure (销号) or check (核查) photo whose bytes have arrived:

- ``far_from_case``: the photo's EXIF GPS is farther than ``max_distance_m`` from the case.
- ``taken_before_report``: its EXIF time is earlier than the case's ``reported_at``. Only a
  camera time with an offset (``OffsetTimeOriginal``) is an instant; a time without one is
  a local wall-clock reading in an unknown zone, so the photo pipeline leaves
  ``exif_taken_at`` empty and this check is skipped for it.
- ``same_as_problem``: its perceptual hash is within ``phash_distance`` of a problem photo
  of the same case, or its bytes are identical.
- ``same_as_other_case``: likewise against any photo of another case. Candidates come from
  the indexed 16-bit pHash bands (two hashes within distance 3 share a band exactly), then
  the exact distance decides. Above distance 3 a near copy is found only when it happens
  to share a band: recall is complete up to 3, partial from 4 to ``phash_distance``.

The GPS and time checks need only the EXIF read when the bytes arrive; the pHash checks
wait for the blob's processing. Each flag exists once per case, photo and kind (a unique
constraint); checks insert if absent, so running them again changes nothing.
"""

from __future__ import annotations

import dataclasses
import uuid

import sqlalchemy as sa
from shapely.geometry import Point
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.cases.models import Case, CasePhoto
from app.core.clock import utcnow
from app.core.db import transaction
from app.core.errors import Conflict, NotFound
from app.evidence.models import EvidenceCheck, EvidenceFlag
from app.grids import geo
from app.photos.models import Blob, Photo, PhotoKind, PhotoStatus, phash_bands
from media.images import phash_distance as hamming

CHECKED_KINDS = (PhotoKind.CLOSURE.value, PhotoKind.CHECK.value)
PHASH_KINDS = ("same_as_problem", "same_as_other_case")


@dataclasses.dataclass(frozen=True)
class Finding:
    photo_id: uuid.UUID
    kind: str
    detail: dict


@dataclasses.dataclass(frozen=True)
class _Match:
    photo_id: uuid.UUID
    case_id: uuid.UUID
    kind: str
    distance: int
    identical: bool


def check_case_photos(
    session: Session,
    case_id: uuid.UUID,
    photo_ids: list[uuid.UUID] | None,
    *,
    max_distance_m: float,
    phash_distance: int,
) -> list[EvidenceFlag]:
    """Run every check that the arrived data allows on the case's closure and check photos
    among ``photo_ids`` (all of them when None). Returns the flags this call created."""
    with transaction(session):
        case = session.get(Case, case_id)
        if case is None:
            raise NotFound(f"case {case_id} does not exist")
        stmt = (
            sa.select(CasePhoto.photo_id, Blob)
            .join(Photo, Photo.id == CasePhoto.photo_id)
            .join(Blob, Blob.sha256 == Photo.sha256)
            .where(
                CasePhoto.case_id == case_id,
                CasePhoto.kind.in_(CHECKED_KINDS),
                Photo.status == PhotoStatus.AVAILABLE,
            )
            .order_by(CasePhoto.added_at, CasePhoto.photo_id)
        )
        if photo_ids is not None:
            stmt = stmt.where(CasePhoto.photo_id.in_(list(photo_ids)))
        findings: list[Finding] = []
        for photo_id, blob in session.execute(stmt):
            findings += place_and_time_findings(case, photo_id, blob, max_distance_m)
            findings += _picture_findings(session, case, photo_id, blob, phash_distance)
            _mark_checked(session, case.id, photo_id, blob.phash is not None)
        created_ids = [
            flag_id
            for finding in findings
            if (flag_id := _insert_if_absent(session, case.id, finding)) is not None
        ]
        created = [session.get(EvidenceFlag, flag_id) for flag_id in created_ids]
    return created


def check_many_cases(
    session: Session,
    wanted: dict[uuid.UUID, set[uuid.UUID] | None],
    *,
    max_distance_m: float,
    phash_distance: int,
) -> None:
    """``check_case_photos`` for each case of ``wanted`` (its photo ids, or None for all), as
    a push's many photos ask for it: one read finds the cases that have a closure or check
    photo to check at all; the others, most of them, are done with that read."""
    if not wanted:
        return
    with transaction(session):
        found = set(session.scalars(sa.select(Case.id).where(Case.id.in_(list(wanted)))))
        missing = set(wanted) - found
        if missing:
            raise NotFound(f"case {sorted(map(str, missing))[0]} does not exist")
        checkable = set(
            session.scalars(
                sa.select(CasePhoto.case_id)
                .join(Photo, Photo.id == CasePhoto.photo_id)
                .where(
                    CasePhoto.case_id.in_(list(wanted)),
                    CasePhoto.kind.in_(CHECKED_KINDS),
                    Photo.status == PhotoStatus.AVAILABLE,
                )
                .distinct()
            )
        )
    for case_id in [case_id for case_id in wanted if case_id in checkable]:
        photo_ids = wanted[case_id]
        check_case_photos(
            session,
            case_id,
            None if photo_ids is None else sorted(photo_ids),
            max_distance_m=max_distance_m,
            phash_distance=phash_distance,
        )


def recheck_blob(
    session: Session, sha256: str, *, max_distance_m: float, phash_distance: int
) -> list[EvidenceFlag]:
    """Checks due now that the blob ``sha256`` has its perceptual hash.

    Its own closure and check photos are checked; and since a problem photo processed late
    can be what an earlier closure photo copied, so are the closure and check photos of
    every case that has a photo with these bytes or a pHash sharing one of its bands.
    """
    blob = session.get(Blob, sha256)
    if blob is None:
        return []
    related = sa.or_(Photo.sha256 == sha256, *_band_match(blob.phash))
    stmt = (
        sa.select(CasePhoto.case_id)
        .join(Photo, Photo.id == CasePhoto.photo_id)
        .join(Blob, Blob.sha256 == Photo.sha256)
        .where(related)
        .distinct()
    )
    case_ids = list(session.scalars(stmt))
    created: list[EvidenceFlag] = []
    for case_id in case_ids:
        created += check_case_photos(
            session,
            case_id,
            None,
            max_distance_m=max_distance_m,
            phash_distance=phash_distance,
        )
    return created


def cases_of_photos(
    session: Session, photo_ids: list[uuid.UUID]
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(case id, photo id) of each closure or check photo among ``photo_ids``."""
    rows = session.execute(
        sa.select(CasePhoto.case_id, CasePhoto.photo_id).where(
            CasePhoto.photo_id.in_(list(photo_ids)), CasePhoto.kind.in_(CHECKED_KINDS)
        )
    )
    return [(case_id, photo_id) for case_id, photo_id in rows]


def place_and_time_findings(
    case: Case, photo_id: uuid.UUID, blob: Blob, max_distance_m: float
) -> list[Finding]:
    """``far_from_case`` and ``taken_before_report`` from the blob's EXIF."""
    findings = []
    if blob.exif_lat is not None and blob.exif_lon is not None:
        distance = geo.distance_m(case.lat, case.lon, Point(blob.exif_lon, blob.exif_lat))
        if distance > max_distance_m:
            detail = {
                "distance_m": round(distance, 1),
                "max_distance_m": max_distance_m,
                "photo": {"lat": blob.exif_lat, "lon": blob.exif_lon},
                "case": {"lat": case.lat, "lon": case.lon},
            }
            findings.append(Finding(photo_id, "far_from_case", detail))
    if blob.exif_taken_at is not None and blob.exif_taken_at < case.reported_at:
        detail = {
            "taken_at": blob.exif_taken_at.isoformat(),
            "taken_at_local": blob.exif_taken_at_local,
            "reported_at": case.reported_at.isoformat(),
            "before_by_s": round((case.reported_at - blob.exif_taken_at).total_seconds()),
        }
        findings.append(Finding(photo_id, "taken_before_report", detail))
    return findings


def _picture_findings(
    session: Session, case: Case, photo_id: uuid.UUID, blob: Blob, max_distance: int
) -> list[Finding]:
    findings = []
    problem = _closest(_problem_photo_matches(session, case, blob, max_distance))
    if problem is not None:
        detail = {
            "problem_photo_id": str(problem.photo_id),
            "distance": problem.distance,
            "identical": problem.identical,
        }
        findings.append(Finding(photo_id, "same_as_problem", detail))
    others = _other_case_matches(session, case, blob, max_distance)
    other = _closest(others)
    if other is not None:
        detail = {
            "other_case_id": str(other.case_id),
            "other_photo_id": str(other.photo_id),
            "other_photo_kind": other.kind,
            "distance": other.distance,
            "identical": other.identical,
            "matches": len(others),
        }
        findings.append(Finding(photo_id, "same_as_other_case", detail))
    return findings


def _problem_photo_matches(
    session: Session, case: Case, blob: Blob, max_distance: int
) -> list[_Match]:
    # A case has a handful of problem photos: compare with each exactly.
    rows = session.execute(
        sa.select(CasePhoto.photo_id, Photo.sha256, Blob.phash)
        .join(Photo, Photo.id == CasePhoto.photo_id)
        .outerjoin(Blob, Blob.sha256 == Photo.sha256)
        .where(CasePhoto.case_id == case.id, CasePhoto.kind == PhotoKind.PROBLEM)
    )
    return [
        match
        for photo_id, sha256, phash in rows
        if (match := _compare(blob, photo_id, case.id, "problem", sha256, phash, max_distance))
    ]


def _other_case_matches(
    session: Session, case: Case, blob: Blob, max_distance: int
) -> list[_Match]:
    # Cases merged into this one (or this one's survivor) share its photos by design.
    unrelated = [case.id] if case.merged_into_id is None else [case.id, case.merged_into_id]
    stmt = (
        sa.select(CasePhoto.photo_id, CasePhoto.case_id, CasePhoto.kind, Photo.sha256, Blob.phash)
        .join(Photo, Photo.id == CasePhoto.photo_id)
        .join(Case, Case.id == CasePhoto.case_id)
        .outerjoin(Blob, Blob.sha256 == Photo.sha256)
        .where(
            CasePhoto.case_id.not_in(unrelated),
            sa.or_(Case.merged_into_id.is_(None), Case.merged_into_id != case.id),
            sa.or_(Photo.sha256 == blob.sha256, *_band_match(blob.phash)),
        )
    )
    return [
        match
        for other_photo_id, other_case_id, kind, sha256, phash in session.execute(stmt)
        if (
            match := _compare(
                blob, other_photo_id, other_case_id, kind, sha256, phash, max_distance
            )
        )
    ]


def _band_match(phash: str | None) -> list[sa.ColumnElement[bool]]:
    if phash is None:
        return []
    b0, b1, b2, b3 = phash_bands(phash)
    return [Blob.phash_b0 == b0, Blob.phash_b1 == b1, Blob.phash_b2 == b2, Blob.phash_b3 == b3]


def _compare(
    blob: Blob,
    photo_id: uuid.UUID,
    case_id: uuid.UUID,
    kind: str,
    sha256: str,
    phash: str | None,
    max_distance: int,
) -> _Match | None:
    if sha256 == blob.sha256:
        return _Match(photo_id, case_id, kind, 0, True)
    if blob.phash is None or phash is None:
        return None
    distance = hamming(blob.phash, phash)
    if distance > max_distance:
        return None
    return _Match(photo_id, case_id, kind, distance, False)


def _closest(matches: list[_Match]) -> _Match | None:
    if not matches:
        return None
    return min(matches, key=lambda m: (not m.identical, m.distance, str(m.photo_id)))


def _insert_if_absent(session: Session, case_id: uuid.UUID, finding: Finding) -> int | None:
    """Insert the flag unless the unique constraint says it exists; its id if inserted.

    ``ON CONFLICT DO NOTHING`` rather than check-then-insert: two subscribers checking the
    same photo at once (bytes arriving as the photo is attached) must not both insert.
    """
    dialect = session.get_bind().dialect.name
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect]
    stmt = (
        insert(EvidenceFlag)
        .values(
            case_id=case_id,
            photo_id=finding.photo_id,
            kind=finding.kind,
            detail=finding.detail,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["case_id", "photo_id", "kind"])
        .returning(EvidenceFlag.id)
    )
    return session.execute(stmt).scalar()


def _mark_checked(session: Session, case_id: uuid.UUID, photo_id: uuid.UUID, phash: bool) -> None:
    """Leave the check's result marker (an upsert: two checks of a photo at once agree)."""
    dialect = session.get_bind().dialect.name
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect]
    stmt = insert(EvidenceCheck).values(
        case_id=case_id, photo_id=photo_id, phash_checked=phash, checked_at=utcnow()
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["case_id", "photo_id"],
            set_={"phash_checked": stmt.excluded.phash_checked, "checked_at": utcnow()},
        )
    )


# -- reading and reviewing --------------------------------------------------------------


def flags_query(
    case_id: uuid.UUID | None = None, is_open: bool | None = None, kind: str | None = None
) -> sa.Select:
    """Flags, newest first; ``is_open`` True for those no dispatcher has reviewed yet."""
    stmt = sa.select(EvidenceFlag).order_by(EvidenceFlag.created_at.desc(), EvidenceFlag.id.desc())
    if case_id is not None:
        stmt = stmt.where(EvidenceFlag.case_id == case_id)
    if is_open is True:
        stmt = stmt.where(EvidenceFlag.reviewed_at.is_(None))
    elif is_open is False:
        stmt = stmt.where(EvidenceFlag.reviewed_at.is_not(None))
    if kind is not None:
        stmt = stmt.where(EvidenceFlag.kind == kind)
    return stmt


def review_flag(session: Session, user: User, flag_id: int, note: str | None) -> EvidenceFlag:
    """A dispatcher has looked at the flag; ``note`` says what they concluded."""
    with transaction(session):
        flag = session.get(EvidenceFlag, flag_id, with_for_update=True)
        if flag is None:
            raise NotFound(f"evidence flag {flag_id} does not exist")
        if flag.reviewed_at is not None:
            raise Conflict(
                f"evidence flag {flag_id} was already reviewed at {flag.reviewed_at.isoformat()}",
                {"id": ["already reviewed"]},
            )
        flag.reviewed_by = user.id
        flag.reviewed_at = utcnow()
        flag.review_note = note
    return flag
