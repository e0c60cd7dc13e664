"""The demo district's history: written through the use cases, consistent, believable and
the same every time for the same seed and the same ``now``.

A small history (the current month so far, a few cases a day), written twice per backend
(the second time to compare), keeps these tests quick; the shares of a full history are
checked on the fates themselves.
"""

from __future__ import annotations

import collections
import datetime as dt
import random

import pytest
import sqlalchemy as sa

from app.cases import deadlines
from app.cases.models import Case, CasePause, CasePhoto, CaseRequest, FlowEntry
from app.cases.selfcheck_cases import selfcheck_case_id
from app.categories.models import Category
from app.core.clock import clock_at, utcnow
from app.demo import services
from app.demo.cast import load_cast
from app.demo.fates import draw_fate
from app.demo.history import HistoryPlan, first_day
from app.evidence.models import EvidenceFlag
from app.extensions import db
from app.merchants.models import SelfCheck
from app.photos.backends import media
from app.photos.models import Blob, Photo
from app.pressing.models import Pressing
from app.workcalendar.services import get_calendar

NOW = dt.datetime(2026, 11, 12, 2, 0, tzinfo=dt.UTC)  # a Thursday, 10:00 in Xiamen
SMALL = HistoryPlan(
    seed=7, months=0, per_workday=(4, 6), per_day_off=(1, 2), selfcheck_photo_share=0.2
)
_fingerprints: dict[str, list] = {}


@pytest.fixture
def history(app, clean_db):
    with app.app_context():
        report = services.load_demo(db.session, media=media(), history=SMALL, now=NOW)
        yield report


def _fingerprint(session) -> list:
    cases = session.scalars(sa.select(Case).order_by(Case.number)).all()
    flows = collections.defaultdict(list)
    for entry in session.scalars(sa.select(FlowEntry).order_by(FlowEntry.case_id, FlowEntry.seq)):
        flows[entry.case_id].append((entry.seq, entry.action, entry.at))
    photos = collections.defaultdict(list)
    for case_id, kind, sha256 in session.execute(
        sa.select(CasePhoto.case_id, CasePhoto.kind, Photo.sha256)
        .join(Photo, Photo.id == CasePhoto.photo_id)
        .order_by(CasePhoto.added_at, Photo.sha256)
    ):
        photos[case_id].append((kind, sha256))
    return [
        (
            case.number,
            case.state,
            case.source,
            # Codes, not ids: PostgreSQL's sequences go on between rolled-back tests.
            session.get(Category, case.category_id).code,
            case.reported_at,
            case.closed_at,
            case.deadline,
            case.rework_count,
            flows[case.id],
            photos[case.id],
        )
        for case in cases
    ]


@pytest.mark.parametrize("load", [1, 2])
def test_the_history_is_consistent_and_the_same_every_time(history, database_url, load):
    assert history.history is not None
    assert history.history.failures == []
    fingerprint = _fingerprint(db.session)
    assert history.history.cases > 40
    # Today's desk (``app.demo.desk``) comes after the history: its cases too.
    assert len(fingerprint) == history.history.cases + history.desk.cases
    if database_url in _fingerprints:
        assert fingerprint == _fingerprints[database_url]
    _fingerprints[database_url] = fingerprint
    if load == 1:
        _every_case_is_real_work_in_time_order()
        _deadlines_follow_the_calendar()
        _photos_are_processed_and_raise_no_evidence_flag(history)
        _overdue_cases_are_pressed_and_shops_check_most_days()
    else:
        _a_second_load_writes_no_second_history()


def _every_case_is_real_work_in_time_order():
    session = db.session
    start = dt.datetime.combine(first_day(NOW.date(), 0), dt.time(0), dt.UTC)
    cases = session.scalars(sa.select(Case)).all()
    states = collections.Counter(case.state for case in cases)
    assert states["closed"] > 0.5 * len(cases)
    assert states["rejected"] and states["self_handled"]
    assert sum(
        n
        for state, n in states.items()
        if state not in {"closed", "rejected", "cancelled", "self_handled"}
    )
    # A self-check's case has the check's photo, if it was taken (a share of them).
    from_selfchecks = {selfcheck_case_id(i) for i in session.scalars(sa.select(SelfCheck.id))}
    for case in cases:
        flow = session.scalars(
            sa.select(FlowEntry).where(FlowEntry.case_id == case.id).order_by(FlowEntry.seq)
        ).all()
        times = [entry.at for entry in flow]
        assert times == sorted(times), case.number
        assert flow[0].action == "report" and flow[0].at == case.reported_at
        assert start - dt.timedelta(hours=8) <= case.reported_at and times[-1] <= NOW
        if case.state == "closed":
            assert flow[-1].action == "close" and flow[-1].at == case.closed_at
            kinds = set(
                session.scalars(sa.select(CasePhoto.kind).where(CasePhoto.case_id == case.id))
            )
            taken = {"closure", "check"} | (set() if case.id in from_selfchecks else {"problem"})
            assert taken <= kinds, case.number
            fails = [entry for entry in flow if entry.action == "check_fail"]
            assert len(fails) == case.rework_count


def _deadlines_follow_the_calendar():
    session = db.session
    calendar = get_calendar(session)
    paused = set(session.scalars(sa.select(CasePause.case_id)))
    extended = set(
        session.scalars(sa.select(CaseRequest.case_id).where(CaseRequest.kind == "extension"))
    )
    checked = 0
    for case in session.scalars(sa.select(Case).where(Case.registered_at.is_not(None))):
        if case.id in paused or case.id in extended or case.rework_count:
            continue
        category = session.get(Category, case.category_id)
        limit = deadlines.case_limit(
            category.time_limit, category.limit_type, case.urgency, calendar
        )
        assert case.deadline == deadlines.round_deadline(case.registered_at, limit, calendar)
        checked += 1
    assert checked > 15


def _photos_are_processed_and_raise_no_evidence_flag(history):
    session = db.session
    blobs = session.execute(
        sa.select(Blob.processing, Blob.thumbnails, Blob.exif_taken_at, Blob.size).join(
            Photo, Photo.sha256 == Blob.sha256
        )
    ).all()
    assert len(blobs) >= 2 * history.history.cases
    for processing, thumbnails, taken_at, size in blobs:
        assert processing == "done" and "1024" in thumbnails
        assert taken_at is not None and 3_000 < size < 150_000
    unique = session.scalar(sa.select(sa.func.count(sa.distinct(Photo.sha256))))
    assert unique == session.scalar(sa.select(sa.func.count(Photo.id)))
    assert session.scalars(sa.select(EvidenceFlag.kind)).all() == []


def _overdue_cases_are_pressed_and_shops_check_most_days():
    session = db.session
    assert session.scalar(
        sa.select(sa.func.count(Pressing.id)).where(Pressing.by_user_id.is_(None))
    )
    assert session.scalar(
        sa.select(sa.func.count(Pressing.id)).where(Pressing.by_user_id.is_not(None))
    )
    days = (NOW.date() - first_day(NOW.date(), 0)).days + 1
    checks = collections.Counter(session.scalars(sa.select(SelfCheck.shop_id)))
    assert len(checks) == 6
    assert all(0.4 * days <= n <= days for n in checks.values())
    assert min(checks.values()) < max(checks.values())


def _a_second_load_writes_no_second_history():
    cases = db.session.scalar(sa.select(sa.func.count(Case.id)))
    again = services.load_demo(db.session, media=media(), history=SMALL, now=NOW)
    assert again.loaded is False and again.history is None
    assert db.session.scalar(sa.select(sa.func.count(Case.id))) == cases


def test_fates_have_believable_shares(app, clean_db):
    with app.app_context():
        services.load_demo(db.session, history=None)
        cast = load_cast(db.session)
        rng = random.Random(12)
        fates = [draw_fate(rng, cast, workday=True) for _ in range(4000)]
    handled = [f for f in fates if not (f.rejected or f.self_handled or f.cancelled)]
    late = sum(f.late for f in handled) / len(handled)
    reworked = sum(f.reworks > 0 for f in handled) / len(handled)
    assert 0.12 <= late <= 0.25
    assert 0.05 <= reworked <= 0.08
    assert sum(f.reworks == 2 for f in handled) > 10
    assert 0.02 <= sum(f.rejected for f in fates) / len(fates) <= 0.08
    assert sum(f.cancelled for f in fates) and sum(f.returned_from is not None for f in fates)
    assert sum(f.source in ("hotline", "open311") for f in fates) > 0.15 * len(fates)
    by_department = collections.defaultdict(list)
    for fate in handled:
        by_department[fate.topic.department.code].append(fate.late)
    shares = {code: sum(lates) / len(lates) for code, lates in by_department.items()}
    assert max(shares.values()) - min(shares.values()) > 0.1


def test_the_clock_is_set_for_the_block_only():
    moment = dt.datetime(2026, 9, 1, 1, 0, tzinfo=dt.UTC)
    with clock_at(moment):
        assert utcnow() == moment
    assert utcnow() > moment
    with pytest.raises(ValueError), clock_at(dt.datetime(2026, 9, 1)):
        pass
