"""Evidence checks on crafted photos: the same picture, a copy, another case's photo, far
away, too early; idempotent; run by the signals of cases and photos."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from app.cases.services import publish_photos_added
from app.core.models import OutboxMessage
from app.evidence import recheck, services
from app.evidence.models import EvidenceFlag
from app.photos.events import blob_processed, photos_available
from tests import evidence_factories as ef

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
REPORTED = dt.datetime(2026, 11, 20, 9, 0, tzinfo=SHANGHAI)
AFTER = REPORTED + dt.timedelta(hours=3)
HERE = (ef.CASE_LAT, ef.CASE_LON)
# 1 km north and 30 m north of the case (a degree of latitude is ~110.7 km here).
ONE_KM_AWAY = (ef.CASE_LAT + 1000 / 110_700, ef.CASE_LON)
THIRTY_M_AWAY = (ef.CASE_LAT + 30 / 110_700, ef.CASE_LON)


@pytest.fixture
def category(session):
    return ef.make_category(session)


@pytest.fixture
def new_case(session, world, category):
    def make(**kwargs):
        kwargs.setdefault("reported_at", REPORTED)
        return ef.make_case(session, world, category, **kwargs)

    return make


@pytest.fixture
def handler_id(world):
    return world.users["handler"].id


@pytest.fixture
def inspector_id(world):
    return world.users["inspector"].id


def check(session, case, photo_ids=None):
    return services.check_case_photos(
        session, case.id, photo_ids, max_distance_m=200, phash_distance=6
    )


def flags(session, case=None) -> list[EvidenceFlag]:
    stmt = sa.select(EvidenceFlag).order_by(EvidenceFlag.id)
    if case is not None:
        stmt = stmt.where(EvidenceFlag.case_id == case.id)
    session.expire_all()
    return list(session.scalars(stmt))


def kinds(session, case) -> set[tuple[uuid.UUID, str]]:
    return {(flag.photo_id, flag.kind) for flag in flags(session, case)}


def test_a_closure_photo_identical_to_the_problem_photo_is_flagged(
    session, new_case, inspector_id, handler_id
):
    case = new_case()
    picture = ef.jpeg(seed=1, gps=HERE, taken_at=REPORTED - dt.timedelta(minutes=5))
    problem = ef.attach(session, case, "problem", inspector_id, data=picture)
    # The handler sends the same bytes again (a new photo record) as the closure photo.
    closure = ef.attach(session, case, "closure", handler_id, data=picture)

    created = check(session, case)

    assert {(flag.photo_id, flag.kind) for flag in created} == {
        (closure.id, "same_as_problem"),
        (closure.id, "taken_before_report"),
    }
    same = next(flag for flag in created if flag.kind == "same_as_problem")
    assert same.detail == {
        "problem_photo_id": str(problem.id),
        "distance": 0,
        "identical": True,
    }
    assert same.reviewed_at is None


def test_a_reencoded_smaller_copy_of_the_problem_photo_is_flagged_by_phash(
    session, new_case, inspector_id, handler_id
):
    case = new_case()
    problem = ef.attach(session, case, "problem", inspector_id, data=ef.jpeg(seed=2, gps=HERE))
    copy = ef.jpeg(seed=2, gps=HERE, taken_at=AFTER, size=(320, 240), quality=55)
    closure = ef.attach(session, case, "closure", handler_id, data=copy)

    check(session, case)

    (flag,) = flags(session, case)
    assert (flag.photo_id, flag.kind) == (closure.id, "same_as_problem")
    assert flag.detail["problem_photo_id"] == str(problem.id)
    assert flag.detail["identical"] is False
    assert flag.detail["distance"] <= 6


def test_a_genuine_after_photo_on_site_and_in_time_raises_nothing(
    session, new_case, inspector_id, handler_id
):
    case = new_case()
    ef.attach(session, case, "problem", inspector_id, data=ef.jpeg(seed=3, gps=HERE))
    ef.attach(
        session,
        case,
        "closure",
        handler_id,
        data=ef.jpeg(seed=4, gps=THIRTY_M_AWAY, taken_at=AFTER),
    )
    ef.attach(session, case, "check", inspector_id, data=ef.jpeg(seed=5, gps=HERE, taken_at=AFTER))

    assert check(session, case) == []
    assert flags(session) == []


def test_a_photo_of_another_case_is_flagged_with_that_case(
    session, new_case, inspector_id, handler_id
):
    elsewhere = new_case(lat=ef.CASE_LAT + 0.001)
    earlier = ef.attach(session, elsewhere, "closure", handler_id, data=ef.jpeg(seed=6))
    case = new_case()
    ef.attach(session, case, "problem", inspector_id, data=ef.jpeg(seed=7, gps=HERE))
    reused = ef.attach(
        session,
        case,
        "closure",
        handler_id,
        data=ef.jpeg(seed=6, size=(480, 360), quality=70, gps=HERE, taken_at=AFTER),
    )

    check(session, case)

    (flag,) = flags(session, case)
    assert (flag.photo_id, flag.kind) == (reused.id, "same_as_other_case")
    assert flag.detail["other_case_id"] == str(elsewhere.id)
    assert flag.detail["other_photo_id"] == str(earlier.id)
    assert flag.detail["other_photo_kind"] == "closure"
    assert flag.detail["matches"] == 1
    # The other case's own photos are not checked by this case's run.
    assert flags(session, elsewhere) == []


def test_identical_bytes_on_another_case_are_found_without_a_phash(
    session, new_case, inspector_id, handler_id
):
    picture = ef.jpeg(seed=8, gps=HERE)
    other = new_case()
    ef.attach(session, other, "problem", inspector_id, data=picture, processed=False)
    case = new_case()
    closure = ef.attach(session, case, "closure", handler_id, data=picture, processed=False)

    check(session, case)

    (flag,) = flags(session, case)
    assert (flag.photo_id, flag.kind) == (closure.id, "same_as_other_case")
    assert flag.detail["identical"] is True


def test_a_case_merged_into_this_one_is_not_another_case(
    session, new_case, inspector_id, handler_id
):
    case = new_case()
    duplicate = new_case(state="rejected")
    duplicate.merged_into_id = case.id
    session.commit()
    picture = ef.jpeg(seed=9, gps=HERE)
    ef.attach(session, duplicate, "problem", inspector_id, data=picture)
    ef.attach(session, case, "problem", inspector_id, data=picture)
    closure = ef.attach(session, case, "closure", handler_id, data=picture)

    check(session, case)

    assert kinds(session, case) == {(closure.id, "same_as_problem")}


def test_gps_a_kilometre_away_is_flagged_thirty_metres_is_not(session, new_case, handler_id):
    case = new_case()
    far = ef.attach(
        session, case, "closure", handler_id, data=ef.jpeg(seed=10, gps=ONE_KM_AWAY, taken_at=AFTER)
    )
    near = ef.attach(
        session,
        case,
        "closure",
        handler_id,
        data=ef.jpeg(seed=11, gps=THIRTY_M_AWAY, taken_at=AFTER),
    )

    check(session, case)

    (flag,) = flags(session, case)
    assert (flag.photo_id, flag.kind) == (far.id, "far_from_case")
    assert flag.detail["distance_m"] == pytest.approx(1000, abs=5)
    assert flag.detail["max_distance_m"] == 200
    assert flag.detail["photo"]["lat"] == pytest.approx(ONE_KM_AWAY[0], abs=1e-6)
    assert flag.detail["case"] == {"lat": ef.CASE_LAT, "lon": ef.CASE_LON}
    assert near.id not in {f.photo_id for f in flags(session)}


def test_a_photo_taken_a_day_before_the_report_is_flagged(session, new_case, handler_id):
    case = new_case()
    day_before = REPORTED - dt.timedelta(days=1)
    early = ef.attach(
        session, case, "closure", handler_id, data=ef.jpeg(seed=12, gps=HERE, taken_at=day_before)
    )

    check(session, case)

    (flag,) = flags(session, case)
    assert (flag.photo_id, flag.kind) == (early.id, "taken_before_report")
    assert flag.detail["before_by_s"] == 24 * 3600
    assert dt.datetime.fromisoformat(flag.detail["taken_at"]) == day_before
    assert dt.datetime.fromisoformat(flag.detail["reported_at"]) == REPORTED


def test_a_camera_time_without_offset_is_not_judged(session, new_case, handler_id):
    # 2026-11-19 09:00 in some unknown zone: not an instant, so not compared.
    case = new_case()
    ef.attach(
        session,
        case,
        "closure",
        handler_id,
        data=ef.jpeg(seed=13, gps=HERE, taken_local="2026:11:19 09:00:00"),
    )

    assert check(session, case) == []


def test_running_the_checks_again_creates_no_second_flag(
    session, new_case, inspector_id, handler_id
):
    case = new_case()
    picture = ef.jpeg(seed=14, gps=ONE_KM_AWAY, taken_at=REPORTED - dt.timedelta(hours=2))
    ef.attach(session, case, "problem", inspector_id, data=picture)
    ef.attach(session, case, "closure", handler_id, data=picture)

    first = check(session, case)
    second = check(session, case)
    third = check(session, case, [photo for photo, _ in kinds(session, case)])

    assert len(first) == 3 and second == [] and third == []
    assert len(flags(session)) == 3


def test_problem_photos_and_bytes_not_yet_arrived_are_not_checked(
    session, new_case, inspector_id, handler_id
):
    case = new_case()
    far_and_early = ef.jpeg(seed=15, gps=ONE_KM_AWAY, taken_at=REPORTED - dt.timedelta(days=2))
    ef.attach(session, case, "problem", inspector_id, data=far_and_early)
    ef.attach(session, case, "closure", handler_id, data=far_and_early, available=False)

    assert check(session, case) == []


def _flip(phash: str, bits: list[int]) -> str:
    value = int(phash, 16)
    for bit in bits:
        value ^= 1 << bit
    return f"{value:016x}"


BASE = "913d50f56b562d8a"


@pytest.mark.parametrize(
    ("bits", "same_as_problem", "same_as_other_case"),
    [
        # Three bits in three bands: the fourth band is intact, so the index finds it.
        pytest.param([0, 16, 32], True, True, id="distance-3"),
        # Five bits touching all four bands: the exact comparison with the case's own
        # problem photo sees it; no band of another case's photo matches (the documented
        # recall limit above distance 3).
        pytest.param([0, 1, 16, 32, 48], True, False, id="distance-5-every-band"),
        pytest.param([0, 1, 2, 3, 4, 5, 6], False, False, id="distance-7"),
    ],
)
def test_phash_distance_limits(
    session, new_case, inspector_id, handler_id, bits, same_as_problem, same_as_other_case
):
    case = new_case()
    other = new_case()
    ef.attach(session, case, "problem", inspector_id, blob=ef.crafted_blob(session, BASE))
    ef.attach(session, other, "check", inspector_id, blob=ef.crafted_blob(session, BASE))
    closure = ef.attach(
        session, case, "closure", handler_id, blob=ef.crafted_blob(session, _flip(BASE, bits))
    )

    check(session, case)

    expected = set()
    if same_as_problem:
        expected.add((closure.id, "same_as_problem"))
    if same_as_other_case:
        expected.add((closure.id, "same_as_other_case"))
    assert kinds(session, case) == expected


# -- the subscribers ----------------------------------------------------------------------


def photos_added(app, session, case, photo_ids, kind) -> None:
    """What a move or an attach does: the outbox row in its transaction, run on commit."""
    with app.app_context():
        publish_photos_added(session, case.id, photo_ids, kind)
        session.commit()


def test_photos_added_to_a_case_are_checked_through_the_outbox(
    app, session, new_case, inspector_id, handler_id
):
    case = new_case()
    picture = ef.jpeg(seed=16, gps=HERE)
    ef.attach(session, case, "problem", inspector_id, data=picture)
    closure = ef.attach(session, case, "closure", handler_id, data=picture)

    photos_added(app, session, case, [closure.id], "closure")

    assert kinds(session, case) == {(closure.id, "same_as_problem")}


def test_a_problem_photo_added_later_rechecks_the_closure_photos(
    app, session, new_case, inspector_id, handler_id
):
    case = new_case()
    picture = ef.jpeg(seed=17, gps=HERE)
    closure = ef.attach(session, case, "closure", handler_id, data=picture)
    photos_added(app, session, case, [closure.id], "closure")
    assert flags(session) == []

    problem = ef.attach(session, case, "problem", inspector_id, data=picture)
    photos_added(app, session, case, [problem.id], "problem")

    assert kinds(session, case) == {(closure.id, "same_as_problem")}


def test_bytes_arriving_after_the_photo_run_the_exif_checks(app, session, new_case, handler_id):
    case = new_case()
    picture = ef.jpeg(seed=18, gps=ONE_KM_AWAY, taken_at=AFTER)
    closure = ef.attach(session, case, "closure", handler_id, data=picture, available=False)
    photos_added(app, session, case, [closure.id], "closure")
    assert flags(session) == []

    blob = ef.make_blob(session, picture, processed=False)
    session.get(type(closure), closure.id).status = "available"
    session.commit()
    with app.app_context():
        photos_available.send(None, photo_ids=[closure.id], sha256=blob.sha256)

    assert kinds(session, case) == {(closure.id, "far_from_case")}


def test_a_late_problem_phash_finds_the_closure_photos_that_copied_it(
    app, session, new_case, inspector_id, handler_id
):
    # The closure photo of one case copies the problem photo of another, whose pHash is
    # made only afterwards: the job's signal checks the copy then.
    source = new_case()
    picture = ef.jpeg(seed=19, gps=HERE)
    problem = ef.attach(session, source, "problem", inspector_id, data=picture, processed=False)
    case = new_case()
    copy = ef.jpeg(seed=19, gps=HERE, taken_at=AFTER, size=(400, 300), quality=60)
    closure = ef.attach(session, case, "closure", handler_id, data=copy)
    check(session, case)
    assert flags(session) == []

    blob = ef.process(session, picture)
    with app.app_context():
        blob_processed.send(None, sha256=blob.sha256)

    (flag,) = flags(session)
    assert (flag.case_id, flag.photo_id, flag.kind) == (case.id, closure.id, "same_as_other_case")
    assert flag.detail["other_photo_id"] == str(problem.id)


def test_a_failing_check_never_raises_into_the_sender(app, session, caplog):
    with app.app_context():
        (row,) = publish_photos_added(session, uuid.uuid4(), [uuid.uuid4()], "check")
        session.commit()  # stands: the failing check is the outbox row's, retried later
        blob_processed.send(None, sha256="0" * 64)
    session.refresh(row)
    assert (row.status, row.attempts) == ("pending", 1)
    assert "does not exist" in row.last_error
    assert "evidence.check_photos) failed" in caplog.text


# -- the repair: flask evidence recheck --------------------------------------------------


def test_recheck_finds_and_runs_a_check_that_never_ran_once(
    app, session, new_case, inspector_id, handler_id
):
    # The closure photo reached the case, but its check never ran (the process died).
    case = new_case(state="closed")
    picture = ef.jpeg(seed=31, gps=HERE)
    ef.attach(session, case, "problem", inspector_id, data=picture)
    closure = ef.attach(session, case, "closure", handler_id, data=picture)
    checked = new_case()
    done = ef.attach(session, checked, "closure", handler_id, data=ef.jpeg(seed=32, gps=HERE))
    check(session, checked)  # this one ran: its marker is there
    assert recheck.missed(session) == {case.id: [closure.id]}

    report = recheck.recheck(session, max_distance_m=200, phash_distance=6)

    assert (report.cases, report.photos, report.flags, report.failed) == (1, 1, 1, [])
    assert kinds(session, case) == {(closure.id, "same_as_problem")}
    assert recheck.missed(session) == {}
    again = recheck.recheck(session, max_distance_m=200, phash_distance=6)
    assert (again.cases, again.flags) == (0, 0)
    assert done.id not in {flag.photo_id for flag in flags(session)}


def test_recheck_runs_again_a_check_made_before_the_phash_existed(
    app, session, new_case, handler_id
):
    case = new_case()
    closure = ef.attach(
        session, case, "closure", handler_id, data=ef.jpeg(seed=33), processed=False
    )
    check(session, case)  # the EXIF checks ran; the picture ones could not yet
    assert recheck.missed(session) == {}
    ef.process(session, ef.jpeg(seed=33))  # the pHash is made, its signal lost
    assert recheck.missed(session) == {case.id: [closure.id]}
    recheck.recheck(session, max_distance_m=200, phash_distance=6)
    assert recheck.missed(session) == {}


def test_the_recheck_command_prints_what_it_found_and_did(
    app, session, new_case, inspector_id, handler_id
):
    case = new_case()
    picture = ef.jpeg(seed=34, gps=HERE)
    ef.attach(session, case, "problem", inspector_id, data=picture)
    ef.attach(session, case, "closure", handler_id, data=picture)
    result = app.test_cli_runner().invoke(args=["evidence", "recheck"])
    assert result.exit_code == 0, result.output
    assert "photos with a missed evidence check: 1 on 1 cases" in result.output
    assert f"[1/1] case {case.id}: 1 new flags" in result.output
    assert "rechecked 1 photos on 1 cases: 1 new flags; 0 cases failed" in result.output


def test_many_cases_photos_added_in_one_commit_are_checked_together_as_one_by_one(
    app, session, new_case, inspector_id, handler_id, monkeypatch
):
    """A push's many ``case.photos_added`` rows are claimed together and checked by
    ``check_many_added_photos``: the same flags as one row at a time, for the cases that
    have something to check, and none for the cases that have only problem photos."""
    copied, far, plain = new_case(), new_case(), new_case()
    picture = ef.jpeg(seed=30, gps=HERE)
    ef.attach(session, copied, "problem", inspector_id, data=picture)
    copy = ef.attach(session, copied, "closure", handler_id, data=picture)
    away = ef.attach(
        session, far, "closure", handler_id, data=ef.jpeg(seed=31, gps=ONE_KM_AWAY, taken_at=AFTER)
    )
    problem = ef.attach(session, plain, "problem", inspector_id, data=ef.jpeg(seed=32, gps=HERE))
    checked: list[uuid.UUID] = []
    real = services.check_case_photos

    def spy(own, case_id, *args, **kwargs):
        checked.append(case_id)
        return real(own, case_id, *args, **kwargs)

    monkeypatch.setattr(services, "check_case_photos", spy)
    with app.app_context():
        publish_photos_added(session, copied.id, [copy.id], "closure")
        publish_photos_added(session, far.id, [away.id], "closure")
        publish_photos_added(session, plain.id, [problem.id], "problem")
        publish_photos_added(session, copied.id, [copy.id], None)  # a merge's mixed kinds
        session.commit()

    assert kinds(session, copied) == {(copy.id, "same_as_problem")}
    assert kinds(session, far) == {(away.id, "far_from_case")}
    assert kinds(session, plain) == set()
    # One call: the two cases with closure photos checked once each (the copied case's two
    # rows together, all its photos), the case with a problem photo only not at all.
    assert sorted(checked) == sorted([copied.id, far.id])
    session.expire_all()
    stored = session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [row.status for row in stored][-4:] == ["done"] * 4


def test_a_check_of_many_with_a_case_gone_falls_back_to_one_row_at_a_time(
    app, session, new_case, inspector_id, handler_id
):
    case = new_case()
    picture = ef.jpeg(seed=33, gps=HERE)
    ef.attach(session, case, "problem", inspector_id, data=picture)
    copy = ef.attach(session, case, "closure", handler_id, data=picture)
    with app.app_context():
        publish_photos_added(session, case.id, [copy.id], "closure")
        publish_photos_added(session, uuid.uuid4(), [copy.id], "closure")  # no such case
        session.commit()

    assert kinds(session, case) == {(copy.id, "same_as_problem")}
    session.expire_all()
    stored = session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [row.status for row in stored][-2:] == ["done", "pending"]
    assert "does not exist" in stored[-1].last_error
