"""Many ``photo.attach`` at once: the push's fast path for a run of photos on cases.

A walk's follow-ups are mostly one more photo on a case. Taken one by one
(``services.attach_photos``) each costs about twenty statements; ``attach_photos_in_bulk``
takes a run of them with set-wise statements: one query each for the cases the user may
see (with their state and version), the photo ids already used, the blobs already here and
each case's last flow entry, one ``UPDATE`` per case, and one ``INSERT`` executemany per
table. It writes the rows ``attach_photos`` writes (the photo as ``register_photo`` records
it, its link to the case, an ``attach_photos`` flow entry, the case's new version and
``updated_at``, the outbox row of the evidence checks) and stops before the first attach
that is not a plain new photo on a case the user may see: the caller takes that one the
one-by-one way, which answers it as it always has.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections import Counter
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.cases.bulk_intake import available_hashes, photo_row
from app.cases.events import case_photos_added
from app.cases.models import Case, CasePhoto, FlowEntry
from app.cases.queries import visible_to
from app.cases.services import PhotoRef, Stamp, case_photo_row, flow_row, publish_photos_added
from app.core import events
from app.core.clock import utcnow
from app.feed import capture
from app.photos.backends import Media
from app.photos.models import Photo
from app.photos.services import KIND_ROLES
from media.errors import MediaError
from media.storage import validate_sha256


@dataclasses.dataclass(frozen=True)
class NewAttach:
    """One ``photo.attach``: a photo (by the phone's UUID) on a case."""

    case_id: uuid.UUID
    ref: PhotoRef


def attach_photos_in_bulk(
    session: Session, media: Media, user: User, device_id: str | None, attaches: Sequence[NewAttach]
) -> int:
    """Attach the longest prefix of ``attaches`` that are plain new photos on cases ``user``
    may see; how many. Writes with Core (and the outbox rows with the session) in the
    session's transaction and commits nothing."""
    ready = _checked(user, attaches)
    if not ready:
        return 0
    cases = {
        row.id: row
        for row in session.execute(
            sa.select(Case.id, Case.state, Case.version).where(
                Case.id.in_({a.case_id for a in ready}), visible_to(user)
            )
        )
    }
    used = set(
        session.scalars(sa.select(Photo.id).where(Photo.id.in_([a.ref.photo_id for a in ready])))
    )
    taken: list[NewAttach] = []
    for attach in ready:
        if attach.case_id not in cases or attach.ref.photo_id in used:
            break
        used.add(attach.ref.photo_id)
        taken.append(attach)
    if not taken:
        return 0
    _write(session, media, user, device_id, taken, cases)
    return len(taken)


def _checked(user: User, attaches: Sequence[NewAttach]) -> list[NewAttach]:
    """The prefix that passes the checks ``register_photo`` makes before it reads a row."""
    ready = []
    for attach in attaches:
        ref = attach.ref
        try:
            validate_sha256(ref.sha256.lower())
        except (MediaError, AttributeError):
            break
        if user.role not in KIND_ROLES.get(ref.kind, ()):
            break
        ready.append(attach)
    return ready


def _write(
    session: Session,
    media: Media,
    user: User,
    device_id: str | None,
    taken: list[NewAttach],
    cases: dict,
) -> None:
    now = utcnow()
    available = available_hashes(session, media, user, {a.ref.sha256.lower() for a in taken})
    case_ids = {a.case_id for a in taken}
    last_seq = dict(
        session.execute(
            sa.select(FlowEntry.case_id, sa.func.max(FlowEntry.seq))
            .where(FlowEntry.case_id.in_(case_ids))
            .group_by(FlowEntry.case_id)
        ).all()
    )
    stamp = Stamp(user, device_id, now)
    photos, links, flow = [], [], []
    for attach in taken:
        ref, state = attach.ref, cases[attach.case_id].state
        photos.append(photo_row(ref, user, available, now))
        links.append(case_photo_row(attach.case_id, ref, user, now))
        seq = last_seq[attach.case_id] = (last_seq.get(attach.case_id) or 0) + 1
        row = flow_row(
            attach.case_id,
            stamp,
            "attach_photos",
            state,
            state,
            photo_ids=[ref.photo_id],
            data={"kinds": [ref.kind]},
        )
        flow.append({"seq": seq, **row})
    connection = session.connection()
    connection.execute(sa.insert(Photo.__table__), photos)
    connection.execute(sa.insert(CasePhoto.__table__), links)
    connection.execute(sa.insert(FlowEntry.__table__), flow)
    table = Case.__table__
    bumps = [
        {"bumped_id": case_id, "bumped_by": count}
        for case_id, count in Counter(a.case_id for a in taken).items()
    ]
    connection.execute(  # executemany: one round trip for every case bumped
        table.update()
        .where(table.c.id == sa.bindparam("bumped_id"))
        .values(version=table.c.version + sa.bindparam("bumped_by"), updated_at=now),
        bumps,
    )
    # The session may hold these cases from an earlier mutation of the push: their version
    # moved under it, so they are read again before anything else changes them.
    for held in list(session.identity_map.values()):
        if isinstance(held, Case) and held.id in case_ids:
            session.expire(held)
    capture.inserted(connection, Photo, photos)
    capture.inserted(connection, CasePhoto, links)
    capture.record(connection, [m for c in case_ids for m in capture.mention("case", c)])
    for attach in taken:
        ids = [attach.ref.photo_id]
        publish_photos_added(session, attach.case_id, ids, attach.ref.kind)
        events.send(case_photos_added, case_id=attach.case_id, photo_ids=ids, kind=attach.ref.kind)
