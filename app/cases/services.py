"""What every case use case shares: the workflow's numbers, photo references, the flow log,
the one-move transaction, the case a user may see.

The use cases themselves live one module each: ``intake`` (a report; ``bulk_intake`` for a
run of them, both writing the rows ``intake_rows`` builds), ``routing``, ``duplicates``,
``moves`` (the workflow; ``move_effects`` says what each action does), ``tasks`` and
``task_progress``, ``requests``, ``merge``, ``edits``, ``comments``, and the read side in
``reading`` and ``queries``.

Every move goes through ``workflow.decide``; the state change, its side effects (tasks,
deadlines, pauses) and the flow-log entry are written in one transaction, and the case's
version column makes a concurrent move lose with a 409 instead of half-applying. Signals
(``app.cases.events``) are sent only after the commit.

Photos are registered first (``register_photo`` is idempotent by the phone's UUID and
commits on its own), then attached to the case inside the use case's transaction; a move
that is refused is refused before any photo is registered.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app.accounts.models import User
from app.cases import deadlines, queries, workflow
from app.cases.events import case_photos_added
from app.cases.models import Case, CasePhoto, FlowEntry
from app.cases.topics import PHOTOS_ADDED
from app.categories.models import Category
from app.categories.services import find_category, get_category
from app.core import db, events, outbox
from app.core.clock import utcnow
from app.core.db import transaction
from app.core.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from app.photos.backends import Media
from app.photos.models import Photo
from app.photos.services import add_visibility_rule, register_photo
from app.workcalendar.services import get_calendar
from app.workcalendar.worktime import WorkCalendar


@dataclasses.dataclass(frozen=True)
class CasePolicy:
    """The configurable numbers of the workflow (app config keys in ``from_config``)."""

    boundary_buffer_m: float = 15.0
    duplicate_radius_m: float = 50.0
    duplicate_window_hours: float = 72.0
    verify_limit_hours: float = 4.0  # working hours an inspector has for a verify task
    check_limit_hours: float = 4.0  # … and for a check task
    # The command centre's own steps (flow-log clocks): filing after the report or the
    # verification, dispatching after filing or a return, closing after the passing check;
    # in the case limit's measure (working hours, or hours for a continuous limit).
    register_limit_hours: float = 1.0
    dispatch_limit_hours: float = 1.0
    close_limit_hours: float = 1.0
    # 门前三包: a merchant's report within this many metres of their own shop is about it.
    merchant_near_m: float = 100.0

    @classmethod
    def from_config(cls, config: Mapping) -> CasePolicy:
        return cls(
            boundary_buffer_m=config.get("GRID_BOUNDARY_BUFFER_M", cls.boundary_buffer_m),
            duplicate_radius_m=config.get("CASE_DUPLICATE_RADIUS_M", cls.duplicate_radius_m),
            duplicate_window_hours=config.get(
                "CASE_DUPLICATE_WINDOW_HOURS", cls.duplicate_window_hours
            ),
            verify_limit_hours=config.get("CASE_VERIFY_LIMIT_HOURS", cls.verify_limit_hours),
            check_limit_hours=config.get("CASE_CHECK_LIMIT_HOURS", cls.check_limit_hours),
            register_limit_hours=config.get("CASE_REGISTER_LIMIT_HOURS", cls.register_limit_hours),
            dispatch_limit_hours=config.get("CASE_DISPATCH_LIMIT_HOURS", cls.dispatch_limit_hours),
            close_limit_hours=config.get("CASE_CLOSE_LIMIT_HOURS", cls.close_limit_hours),
            merchant_near_m=config.get("FRONTAGE_MERCHANT_NEAR_M", cls.merchant_near_m),
        )


@dataclasses.dataclass(frozen=True)
class StepRecord:
    """What the flow log keeps of a workflow step besides who and when: the desk duty a
    dispatcher's move belongs to, the time the step used (seconds, in the case limit's
    measure) and whether it ended past its own deadline; None where not applicable."""

    duty: str | None = None
    time_used: float | None = None
    overdue: bool | None = None


@dataclasses.dataclass(frozen=True)
class Stamp:
    """Who makes a change, from which device, and when: what the flow log keeps of it,
    with the step's duty and clock for a workflow move (``moves`` fills them)."""

    user: User
    device_id: str | None
    at: dt.datetime
    step: StepRecord = StepRecord()


@dataclasses.dataclass
class MoveArgs:
    """What a workflow move may carry besides its action."""

    opinion: str | None = None
    department_id: int | None = None
    shop_id: int | None = None  # dispatch to the shop's merchant (门前三包) instead
    category_id: int | None = None
    inspector_id: int | None = None
    result: str | None = None
    photos: list[PhotoRef] = dataclasses.field(default_factory=list)
    extension_amount: float | None = None
    request_id: uuid.UUID | None = None


# ---------------------------------------------------------------------------------------------
# Photos


@dataclasses.dataclass(frozen=True)
class PhotoRef:
    """A photo the phone names in a report or a move: its UUID, hash and kind."""

    photo_id: uuid.UUID
    sha256: str
    kind: str
    taken_at: dt.datetime | None = None
    lat: float | None = None
    lon: float | None = None

    @classmethod
    def of(cls, raw: Mapping | PhotoRef, default_kind: str | None) -> PhotoRef:
        if isinstance(raw, PhotoRef):
            return raw
        kind = raw.get("kind") or default_kind
        if kind is None:
            raise ValidationFailed("a photo needs its kind", {"photos": ["kind is required"]})
        return cls(
            photo_id=raw["photo_id"],
            sha256=raw["sha256"],
            kind=kind,
            taken_at=raw.get("taken_at"),
            lat=raw.get("lat"),
            lon=raw.get("lon"),
        )


def unique_photo_refs(photos: Iterable, default_kind: str | None) -> list[PhotoRef]:
    """The photos named, each once, in the order first named."""
    refs = [PhotoRef.of(photo, default_kind) for photo in photos or ()]
    seen: set[uuid.UUID] = set()
    unique = []
    for ref in refs:
        if ref.photo_id not in seen:
            seen.add(ref.photo_id)
            unique.append(ref)
    return unique


def register_photos(session: Session, media: Media, user: User, refs: Sequence[PhotoRef]):
    """``register_photo`` each (idempotent by the phone's UUID; commits on its own)."""
    for ref in refs:
        register_photo(
            session,
            media,
            user,
            photo_id=ref.photo_id,
            sha256=ref.sha256,
            kind=ref.kind,
            taken_at=ref.taken_at,
            lat=ref.lat,
            lon=ref.lon,
        )


def case_photo_row(case_id: uuid.UUID, ref: PhotoRef, user: User, now: dt.datetime) -> dict:
    """The column values of a photo's link to a case."""
    return {
        "case_id": case_id,
        "photo_id": ref.photo_id,
        "kind": ref.kind,
        "added_by": user.id,
        "added_at": now,
    }


#: A ``db.joined`` unit's cache of the photos on each case (``moves.prepare_moves``).
CASE_PHOTOS = "case_photos"


def add_case_photos(
    session: Session, case: Case, user: User, refs: Sequence[PhotoRef], now: dt.datetime
) -> list[uuid.UUID]:
    """CasePhoto rows for photos not yet on the case; the ids newly attached."""
    if not refs:
        return []
    on_cases = db.unit_cache(session, CASE_PHOTOS)
    if on_cases is not None and case.id in on_cases:
        have = on_cases[case.id]
    else:
        have = set(
            session.scalars(
                sa.select(CasePhoto.photo_id).where(
                    CasePhoto.case_id == case.id,
                    CasePhoto.photo_id.in_([ref.photo_id for ref in refs]),
                )
            )
        )
    added = []
    for ref in refs:
        if ref.photo_id in have:
            continue
        session.add(CasePhoto(**case_photo_row(case.id, ref, user, now)))
        added.append(ref.photo_id)
    if on_cases is not None and case.id in on_cases:
        on_cases[case.id].update(added)
    by_kind: dict[str | None, list[uuid.UUID]] = {}
    for ref in refs:
        if ref.photo_id in added:
            by_kind.setdefault(ref.kind, []).append(ref.photo_id)
    for kind, ids in by_kind.items():
        publish_photos_added(session, case.id, ids, kind)
    return added


def publish_photos_added(
    session: Session, case_id: uuid.UUID, photo_ids: Sequence[uuid.UUID], kind: str | None
) -> list:
    """The outbox row of photos newly on a case (``kind`` None: mixed kinds, as a merge
    copies them), in the caller's transaction: their evidence checks are not lost."""
    payload = {"case_id": str(case_id), "photo_ids": [str(i) for i in photo_ids], "kind": kind}
    return outbox.publish(session, PHOTOS_ADDED, payload)


def attach_photos(
    session: Session,
    media: Media,
    user: User,
    device_id: str | None,
    case_id: uuid.UUID,
    photos: Iterable,
) -> list[uuid.UUID]:
    """Add photos to a case the user may see (the ``photo.attach`` path); ids newly added.

    Idempotent: a photo already on the case is not added twice. Each photo keeps the kind
    the phone gave it; the flow log records who added what.
    """
    case = get_case(session, user, case_id)
    refs = unique_photo_refs(photos, None)
    if not refs:
        raise ValidationFailed("no photos given", {"photos": ["at least one"]})
    register_photos(session, media, user, refs)
    now = utcnow()
    with moving(session):
        added = add_case_photos(session, case, user, refs, now)
        if added:
            case.updated_at = now
            append_flow(
                session,
                case,
                Stamp(user, device_id, now),
                "attach_photos",
                case.state,
                photo_ids=added,
                data={"kinds": sorted({ref.kind for ref in refs})},
            )
    by_kind: dict[str, list[uuid.UUID]] = {}
    for ref in refs:
        if ref.photo_id in added:
            by_kind.setdefault(ref.kind, []).append(ref.photo_id)
    for kind, ids in by_kind.items():
        events.send(case_photos_added, case_id=case.id, photo_ids=ids, kind=kind)
    return added


def register() -> None:
    """Lend the photos domain the rule that the readers of a case may see its photos."""
    add_visibility_rule(case_photo_visible)


def case_photo_visible(session: Session, user: User, photo: Photo) -> bool:
    """A photo attached to a case may be seen by whoever may see that case."""
    return (
        session.scalar(
            sa.select(sa.literal(1))
            .select_from(CasePhoto)
            .join(Case, Case.id == CasePhoto.case_id)
            .where(CasePhoto.photo_id == photo.id, queries.visible_to(user))
            .limit(1)
        )
        is not None
    )


# ---------------------------------------------------------------------------------------------
# Refusals


def refusal(error: workflow.TransitionRefused) -> DomainError:
    """A refused move as the API answers it: 409 state (and a third extension), 403 role
    or desk duty, 422 evidence."""
    errors = {"reason": error.reason}
    if error.reason in ("wrong_state", "too_many_extensions"):
        return Conflict(error.message, errors)
    if error.reason in ("wrong_role", "wrong_duty"):
        return Forbidden(error.message, errors)
    return ValidationFailed(error.message, errors)


def decide(
    action: str, state: str, role: str, evidence: Iterable[workflow.Evidence]
) -> workflow.State:
    """``workflow.decide`` with its refusal as the API's error."""
    try:
        return workflow.decide(action, state, role, evidence)
    except workflow.TransitionRefused as error:
        raise refusal(error) from None


def may_request(kind: str, state: str, role: str, evidence: Iterable[workflow.Evidence]):
    """``workflow.may_request`` with its refusal as the API's error."""
    try:
        return workflow.may_request(kind, state, role, evidence)
    except workflow.TransitionRefused as error:
        raise refusal(error) from None


# ---------------------------------------------------------------------------------------------
# The case, its category and its limit


def get_case(session: Session, user: User, case_id: uuid.UUID) -> Case:
    """A case ``user`` may see; any other does not exist for them."""
    case = session.scalar(queries.visible_case(user, case_id))
    if case is None:
        raise NotFound(f"case {case_id} does not exist")
    return case


def _category_by_code(session: Session, category: Mapping) -> Category | None:
    code = str(category.get("code") or "")
    edition = category.get("edition") or {4: "cjt214", 5: "gbt47678"}.get(len(code))
    kind = category.get("kind")
    if kind:
        return find_category(session, kind, edition, code) if edition else None
    matches = list(
        session.scalars(
            sa.select(Category).where(Category.edition == edition, Category.code == code)
        )
    )
    if len(matches) > 1:
        raise ValidationFailed(
            f"code {code} is both a component and an event; give its kind",
            {"reason": "ambiguous_category", "category": ["ambiguous: give kind"]},
        )
    return matches[0] if matches else None


def resolve_category(session: Session, category: int | Mapping) -> Category:
    """A category by id, or by ``{kind, edition, code}``; edition follows from the code's
    length when absent, and kind may be left out when the code is unambiguous (an old
    four-digit code of both a component and an event is a 422 ``ambiguous_category``)."""
    if isinstance(category, int) and not isinstance(category, bool):
        found = session.get(Category, category)
    elif isinstance(category, Mapping):
        found = _category_by_code(session, category)
    else:
        found = None
    if found is None:
        raise ValidationFailed(f"unknown category {category!r}", {"category": ["unknown"]})
    if not found.active:
        raise ValidationFailed(
            f"category {found.code} {found.name} is no longer in use", {"category": ["inactive"]}
        )
    return found


def case_limit(session: Session, case: Case, calendar: WorkCalendar) -> deadlines.Limit:
    """The handling limit of the case's category and urgency."""
    category = get_category(session, case.category_id)
    return deadlines.case_limit(category.time_limit, category.limit_type, case.urgency, calendar)


def default_extension(session: Session, case: Case) -> float:
    """An extension asked for without an amount: one more of the case's limit."""
    return case_limit(session, case, get_calendar(session)).amount


def opinion_text(text: str | None) -> str | None:
    """An opinion or reason as stored: stripped, and None when blank."""
    text = (text or "").strip()
    return text or None


# ---------------------------------------------------------------------------------------------
# The flow log and the move's transaction


#: A ``db.joined`` unit's cache of each case's last flow ``seq`` (``moves.prepare_moves``).
FLOW_SEQ = "flow_seq"


def append_flow(
    session: Session,
    case: Case,
    stamp: Stamp,
    action: str,
    before: str | None,
    *,
    opinion: str | None = None,
    photo_ids: Sequence[uuid.UUID] = (),
    data: dict | None = None,
) -> FlowEntry:
    """Add a step to ``case``'s flow log: ``action`` from state ``before`` to the case's
    state now, by ``stamp``'s user and device at its moment, with its duty and clock."""
    seqs = db.unit_cache(session, FLOW_SEQ)
    if seqs is not None and case.id in seqs:
        last = seqs[case.id]
    else:
        last = session.scalar(
            sa.select(sa.func.max(FlowEntry.seq)).where(FlowEntry.case_id == case.id)
        )
    row = flow_row(
        case.id, stamp, action, before, case.state, opinion=opinion, photo_ids=photo_ids, data=data
    )
    entry = FlowEntry(seq=(last or 0) + 1, **row)
    session.add(entry)
    if seqs is not None:
        seqs[case.id] = entry.seq
    return entry


def flow_row(
    case_id: uuid.UUID,
    stamp: Stamp,
    action: str,
    before: str | None,
    after: str,
    *,
    opinion: str | None = None,
    photo_ids: Sequence[uuid.UUID] = (),
    data: dict | None = None,
) -> dict:
    """The column values of a flow-log entry but its ``seq``: ``action`` from state
    ``before`` to ``after``."""
    return {
        "case_id": case_id,
        "action": action,
        "from_state": before,
        "to_state": after,
        "actor_id": stamp.user.id,
        "actor_role": stamp.user.role,
        "device_id": stamp.device_id,
        "opinion": opinion,
        "photo_ids": [str(photo_id) for photo_id in photo_ids],
        "data": data or {},
        "at": stamp.at,
        "duty": stamp.step.duty,
        "time_used": stamp.step.time_used,
        "overdue": stamp.step.overdue,
    }


@contextlib.contextmanager
def moving(session: Session) -> Iterator[Session]:
    """One move's transaction. A concurrent change of the same case (its version column, or
    its flow log's sequence) makes this one lose with a 409, having changed nothing."""
    try:
        with transaction(session):
            yield session
    except (StaleDataError, sa.exc.IntegrityError) as error:
        raise Conflict(
            "the case changed while this move was made; reload it and try again",
            {"reason": "concurrent_change"},
        ) from error
