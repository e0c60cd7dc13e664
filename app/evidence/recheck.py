"""Finding and redoing the evidence checks that were missed: a closure or check photo whose
bytes are there but that has no check result (``EvidenceCheck``), or whose result was left
before its perceptual hash existed while the hash is there now (the photo pipeline's
``blob_processed`` signal is best effort: a worker that died after processing loses it).

Idempotent: a check inserts its flags if absent and replaces its marker, so running this
twice, or while the outbox also runs a check, changes nothing more.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from itertools import groupby

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.cases.models import CasePhoto
from app.evidence import services
from app.evidence.models import EvidenceCheck
from app.photos.models import Blob, Photo, PhotoStatus


@dataclasses.dataclass
class RecheckReport:
    cases: int = 0
    photos: int = 0
    flags: int = 0
    failed: list[str] = dataclasses.field(default_factory=list)


def missed(session: Session) -> dict[uuid.UUID, list[uuid.UUID]]:
    """The closure and check photos to check again, by case."""
    marker = sa.and_(
        EvidenceCheck.case_id == CasePhoto.case_id, EvidenceCheck.photo_id == CasePhoto.photo_id
    )
    rows = session.execute(
        sa.select(CasePhoto.case_id, CasePhoto.photo_id)
        .join(Photo, Photo.id == CasePhoto.photo_id)
        .join(Blob, Blob.sha256 == Photo.sha256)
        .outerjoin(EvidenceCheck, marker)
        .where(
            CasePhoto.kind.in_(services.CHECKED_KINDS),
            Photo.status == PhotoStatus.AVAILABLE,
            sa.or_(
                EvidenceCheck.case_id.is_(None),
                sa.and_(EvidenceCheck.phash_checked.is_(False), Blob.phash.is_not(None)),
            ),
        )
        .order_by(CasePhoto.case_id, CasePhoto.photo_id)
    ).all()
    session.rollback()  # no transaction held open while the checks run
    return {
        case_id: [photo_id for _, photo_id in group]
        for case_id, group in groupby(rows, key=lambda row: row[0])
    }


def recheck(
    session: Session,
    *,
    max_distance_m: float,
    phash_distance: int,
    on_case: Callable[[uuid.UUID, int], None] | None = None,
) -> RecheckReport:
    """Run the missed checks, case by case (one transaction each); a case whose check fails
    is reported and the others go on."""
    report = RecheckReport()
    for case_id, photo_ids in missed(session).items():
        try:
            created = services.check_case_photos(
                session,
                case_id,
                photo_ids,
                max_distance_m=max_distance_m,
                phash_distance=phash_distance,
            )
        except Exception as error:  # one bad case must not stop the repair of the others
            report.failed.append(f"{case_id}: {error}")
            continue
        report.cases += 1
        report.photos += len(photo_ids)
        report.flags += len(created)
        if on_case is not None:
            on_case(case_id, len(created))
    return report
