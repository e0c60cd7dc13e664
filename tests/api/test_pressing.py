"""Pressing (三级督办): overdue cases escalate street → district → city once per level and
round, idempotently; chiefs press their own street's or road's cases by hand."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from app.cases import deadlines
from app.cases.models import Case
from app.orgunits import services as orgunits
from app.pressing import services
from app.pressing.models import Pressing
from app.workcalendar.worktime import WorkCalendar, add_limit
from tests import evidence_factories as ef
from tests import factories

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
FRACTIONS = (1.0, 1.5, 2.0)
CALENDAR = WorkCalendar()
# Registered Friday 16:00 with a 4-working-hour limit: 2 h on Friday, 2 h on Monday, so
# due Monday 10:00.
FRIDAY_4PM = dt.datetime(2026, 11, 20, 16, 0, tzinfo=SHANGHAI)
DUE = add_limit(FRIDAY_4PM, 4, "working_hours", CALENDAR)
MONDAY_LATE_MORNING = dt.datetime(2026, 11, 23, 11, 30, tzinfo=SHANGHAI)  # 5.5 h: 138%
MONDAY_AFTERNOON = dt.datetime(2026, 11, 23, 14, 30, tzinfo=SHANGHAI)  # 6.5 h: 163%
WEDNESDAY_EVENING = dt.datetime(2026, 11, 25, 18, 0, tzinfo=SHANGHAI)  # 26 h: 650%


@pytest.fixture
def category(session):
    return ef.make_category(session, time_limit=4, limit_type="working_hours")


@pytest.fixture
def overdue_case(session, world, category):
    def make(**kwargs):
        kwargs.setdefault("state", "handling")
        return ef.make_case(
            session,
            world,
            category,
            reported_at=FRIDAY_4PM - dt.timedelta(minutes=30),
            limit_started_at=FRIDAY_4PM,
            deadline=DUE,
            **kwargs,
        )

    return make


def escalate(session, now):
    return services.escalate_overdue(session, now, CALENDAR, FRACTIONS)


def automatic(session, case) -> list[tuple[int, int]]:
    session.expire_all()
    return list(
        session.execute(
            sa.select(Pressing.level, Pressing.round)
            .where(Pressing.case_id == case.id, Pressing.by_user_id.is_(None))
            .order_by(Pressing.round, Pressing.level)
        ).tuples()
    )


def press_level(session, case) -> int:
    session.expire_all()
    return session.get(Case, case.id).press_level


def test_the_deadline_of_the_example_is_monday_ten():
    assert dt.datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI) == DUE


def test_overdue_on_monday_late_morning_is_pressed_at_the_street_level_only(session, overdue_case):
    case = overdue_case()

    report = escalate(session, MONDAY_LATE_MORNING)

    assert (report.checked, report.escalated, report.pressed) == (1, 1, {1: 1, 2: 0, 3: 0})
    assert automatic(session, case) == [(1, 0)]
    assert press_level(session, case) == 1


def test_far_past_the_deadline_reaches_the_city_with_every_level_recorded_once(
    session, overdue_case
):
    case = overdue_case()

    report = escalate(session, WEDNESDAY_EVENING)

    assert report.pressed == {1: 1, 2: 1, 3: 1}
    assert automatic(session, case) == [(1, 0), (2, 0), (3, 0)]
    assert press_level(session, case) == 3
    notes = session.scalars(sa.select(Pressing.note).order_by(Pressing.level)).all()
    assert notes[2] == "city level: 650% of the time limit used"


def test_levels_climb_one_run_at_a_time_and_a_second_run_changes_nothing(session, overdue_case):
    case = overdue_case()

    assert escalate(session, MONDAY_LATE_MORNING).pressed == {1: 1, 2: 0, 3: 0}
    assert escalate(session, MONDAY_LATE_MORNING).pressed == {1: 0, 2: 0, 3: 0}
    assert escalate(session, MONDAY_AFTERNOON).pressed == {1: 0, 2: 1, 3: 0}
    assert escalate(session, WEDNESDAY_EVENING).pressed == {1: 0, 2: 0, 3: 1}
    again = escalate(session, WEDNESDAY_EVENING)

    assert (again.checked, again.escalated, again.pressed) == (1, 0, {1: 0, 2: 0, 3: 0})
    assert automatic(session, case) == [(1, 0), (2, 0), (3, 0)]
    assert press_level(session, case) == 3


def test_the_unique_index_not_the_read_keeps_a_level_single(session, overdue_case, monkeypatch):
    # Two runs at once both read "nothing recorded yet": the index still says no.
    case = overdue_case()
    escalate(session, WEDNESDAY_EVENING)
    real_execute = session.execute

    def blind_to_recorded(stmt, *args, **kwargs):
        result = real_execute(stmt, *args, **kwargs)
        if isinstance(stmt, sa.Select) and stmt.columns_clause_froms[0].name == "pressings":
            return real_execute(sa.select(Pressing.case_id, Pressing.level).where(sa.false()))
        return result

    monkeypatch.setattr(session, "execute", blind_to_recorded)
    report = escalate(session, WEDNESDAY_EVENING)
    monkeypatch.undo()

    assert report.pressed == {1: 0, 2: 0, 3: 0}
    assert automatic(session, case) == [(1, 0), (2, 0), (3, 0)]


def test_a_rework_round_is_pressed_afresh(session, overdue_case):
    case = overdue_case()
    escalate(session, MONDAY_LATE_MORNING)
    stored = session.get(Case, case.id)
    stored.rework_count = 1
    stored.press_level = 0
    session.commit()

    assert escalate(session, MONDAY_LATE_MORNING).pressed == {1: 1, 2: 0, 3: 0}
    assert automatic(session, case) == [(1, 0), (1, 1)]


@pytest.mark.parametrize("state", ["suspended", "handled", "checking", "closed", "cancelled"])
def test_cases_whose_clock_does_not_run_are_not_escalated(session, overdue_case, state):
    case = overdue_case(state=state)

    report = escalate(session, WEDNESDAY_EVENING)

    assert (report.checked, report.pressed) == (0, {1: 0, 2: 0, 3: 0})
    assert automatic(session, case) == []
    assert press_level(session, case) == 0


def test_time_suspended_does_not_count(session, overdue_case):
    # Suspended all Monday morning, 08:00-11:00: as the case service does on resuming, the
    # deadline moved 3 working hours later, from 10:00 to 15:00.
    paused_from = dt.datetime(2026, 11, 23, 8, 0, tzinfo=SHANGHAI)
    paused_to = dt.datetime(2026, 11, 23, 11, 0, tzinfo=SHANGHAI)
    moved = deadlines.resumed(DUE, paused_from, paused_to, "working_hours", CALENDAR)
    assert dt.datetime(2026, 11, 23, 15, 0, tzinfo=SHANGHAI) == moved
    case = overdue_case()
    case.deadline = moved
    session.commit()
    ef.add_pause(session, case, paused_from, paused_to)

    # 11:30: 5.5 working hours since filing, 3 of them paused: 2.5 of 4 used.
    assert escalate(session, MONDAY_LATE_MORNING).pressed == {1: 0, 2: 0, 3: 0}
    # 16:00: 8 - 3 = 5 of 4 used: overdue, not yet 1.5x.
    monday_4pm = dt.datetime(2026, 11, 23, 16, 0, tzinfo=SHANGHAI)
    assert escalate(session, monday_4pm).pressed == {1: 1, 2: 0, 3: 0}


def test_an_urgent_case_runs_through_the_night(session, overdue_case):
    # The same 4-hour category, urgent: 4 hours straight, due Friday 20:00.
    case = overdue_case(urgency="urgent")
    case.deadline = FRIDAY_4PM + dt.timedelta(hours=4)
    session.commit()

    saturday_1am = dt.datetime(2026, 11, 21, 1, 0, tzinfo=SHANGHAI)  # 9 h of 4
    assert escalate(session, saturday_1am).pressed == {1: 1, 2: 1, 3: 1}


def test_many_cases_in_small_batches(session, overdue_case):
    cases = [overdue_case() for _ in range(5)]

    report = services.escalate_overdue(session, MONDAY_AFTERNOON, CALENDAR, FRACTIONS, batch_size=2)

    assert (report.checked, report.escalated, report.pressed) == (5, 5, {1: 5, 2: 5, 3: 0})
    assert all(press_level(session, case) == 2 for case in cases)


@pytest.mark.parametrize("fractions", [(1.0, 1.5), (1.0, 2.0, 1.5), (0, 1, 2)])
def test_fractions_must_be_three_increasing_positive_shares(fractions):
    with pytest.raises(ValueError):
        services.parse_fractions(fractions)


def test_the_cron_command_prints_counts_per_level(app, session, overdue_case):
    overdue_case()
    overdue_case()
    runner = app.test_cli_runner()

    first = runner.invoke(args=["pressing", "run", "--at", "2026-11-23T14:30:00+08:00"])
    second = runner.invoke(args=["pressing", "run", "--at", "2026-11-23T14:30:00+08:00"])
    naive = runner.invoke(args=["pressing", "run", "--at", "2026-11-23T14:30:00"])

    assert first.exit_code == 0, first.output
    assert "overdue cases checked: 2; escalated: 2" in first.output
    assert "level 1 (street): 2 new" in first.output
    assert "level 2 (district): 2 new" in first.output
    assert "level 3 (city): 0 new" in first.output
    assert "level 2 (district): 0 new" in second.output
    assert naive.exit_code != 0 and "offset" in naive.output


# -- by hand ----------------------------------------------------------------------------


@pytest.fixture
def outsiders(session, world, client):
    """A street chief of another street and a road chief of another road."""
    other_street = orgunits.add_org_unit(session, "street", "350203002", "鼓浪屿街道", "350203")
    other_road = factories.make_road(session, world.street, code="R002")
    street_chief = factories.make_user(session, "street_chief", other_street)
    road_chief = factories.make_user(session, "road_chief", world.street, other_road)
    session.commit()
    return {
        "street_chief": factories.login_headers(client, street_chief.username),
        "road_chief": factories.login_headers(client, road_chief.username),
    }


def press(client, case_id, headers, note="请尽快处置"):
    return client.post(f"/api/v1/cases/{case_id}/press", json={"note": note}, headers=headers)


@pytest.mark.parametrize("role", ["dispatcher", "street_chief", "road_chief"])
def test_a_dispatcher_or_the_case_s_own_chief_presses_it(client, auth, world, overdue_case, role):
    case = overdue_case()

    response = press(client, case.id, auth(role))

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["case_id"] == str(case.id)
    assert (body["level"], body["level_name"], body["round"]) == (1, "street", 0)
    assert body["automatic"] is False
    assert body["by_user_id"] == world.users[role].id
    assert body["note"] == "请尽快处置"


def test_chiefs_of_another_street_or_road_may_not_press(client, auth, overdue_case, outsiders):
    case = overdue_case()
    off_road = overdue_case(road_id=None)

    assert press(client, case.id, outsiders["street_chief"]).status_code == 403
    assert press(client, case.id, outsiders["road_chief"]).status_code == 403
    # A case on no road is pressed by its street's chief, not by a road chief.
    assert press(client, off_road.id, auth("road_chief")).status_code == 403
    assert press(client, off_road.id, auth("street_chief")).status_code == 201
    for role in ("inspector", "handler", "merchant", "admin"):
        assert press(client, case.id, auth(role)).status_code == 403
    assert press(client, case.id, {}).status_code == 401


def test_pressing_an_unknown_or_finished_case(client, auth, overdue_case):
    closed = overdue_case(state="closed")

    assert press(client, uuid.uuid4(), auth("street_chief")).status_code == 404
    refused = press(client, closed.id, auth("street_chief"))
    assert refused.status_code == 409
    assert "closed" in refused.get_json()["message"]
    assert (
        client.post(
            f"/api/v1/cases/{closed.id}/press", json={"level": 3}, headers=auth("dispatcher")
        ).status_code
        == 422
    )


def test_a_press_by_hand_takes_the_case_s_level(client, auth, session, overdue_case):
    case = overdue_case()
    escalate(session, MONDAY_AFTERNOON)

    body = press(client, case.id, auth("street_chief"), note=None).get_json()

    assert (body["level"], body["level_name"], body["note"]) == (2, "district", None)
    # A press by hand is on the record; it does not count as an automatic level.
    assert press_level(session, case) == 2
    assert escalate(session, MONDAY_AFTERNOON).pressed == {1: 0, 2: 0, 3: 0}


def test_a_case_s_pressings_are_read_by_the_dispatcher_and_its_chiefs(
    client, auth, session, overdue_case, outsiders
):
    case = overdue_case()
    escalate(session, MONDAY_LATE_MORNING)
    press(client, case.id, auth("road_chief"))
    url = f"/api/v1/cases/{case.id}/pressings"

    for role in ("dispatcher", "street_chief", "road_chief"):
        listed = client.get(url, headers=auth(role))
        assert listed.status_code == 200
        assert [(p["level"], p["automatic"]) for p in listed.get_json()] == [
            (1, True),
            (1, False),
        ]
    assert client.get(url, headers=outsiders["street_chief"]).status_code == 403
    assert client.get(url, headers=auth("handler")).status_code == 403
    assert client.get(url).status_code == 401
    missing = client.get(f"/api/v1/cases/{uuid.uuid4()}/pressings", headers=auth("dispatcher"))
    assert missing.status_code == 404
