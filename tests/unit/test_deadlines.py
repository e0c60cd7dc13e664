"""Deadlines of a handling round: weekends, lunch breaks, holidays, suspensions, extensions."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from app.cases import deadlines
from app.cases.deadlines import Limit
from app.workcalendar.worktime import WorkCalendar

SH = ZoneInfo("Asia/Shanghai")
# Without the national table, so the weeks below are plain Monday–Friday weeks.
PLAIN = WorkCalendar(holiday_source=lambda _day: None)


def local(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)


FRIDAY = (2025, 3, 14)
MONDAY = (2025, 3, 17)
TUESDAY = (2025, 3, 18)


def test_friday_1700_plus_4_working_hours_is_monday_1100():
    deadline = deadlines.round_deadline(local(*FRIDAY, 17), Limit(4, "working_hours"), PLAIN)
    assert deadline == local(*MONDAY, 11)


def test_the_lunch_break_does_not_count():
    deadline = deadlines.round_deadline(local(*TUESDAY, 11), Limit(2, "working_hours"), PLAIN)
    assert deadline == local(*TUESDAY, 15)


def test_a_holiday_from_the_work_calendar_is_skipped():
    calendar = WorkCalendar(overrides={dt.date(*MONDAY): False}, holiday_source=lambda _d: None)
    deadline = deadlines.round_deadline(local(*FRIDAY, 17), Limit(4, "working_hours"), calendar)
    assert deadline == local(*TUESDAY, 11)


def test_a_national_holiday_is_skipped():
    # 2024-10-01..07 is the National Day holiday; 2024-09-30 (Monday) is a workday.
    national = WorkCalendar()
    deadline = deadlines.round_deadline(local(2024, 9, 30, 17), Limit(4, "working_hours"), national)
    assert deadline == local(2024, 10, 8, 11)


def test_a_suspension_over_a_weekend_moves_the_deadline_by_the_working_time_paused():
    start = local(*FRIDAY, 14)
    deadline = deadlines.round_deadline(start, Limit(8, "working_hours"), PLAIN)
    assert deadline == local(*MONDAY, 12)
    # Suspended Friday 16:00 to Monday 10:00: 2 h on Friday and 2 h on Monday of working
    # time, none over the weekend; the 4 h go on after Monday's lunch break.
    paused = (local(*FRIDAY, 16), local(*MONDAY, 10))
    assert deadlines.paused_measure(*paused, "working_hours", PLAIN) == 4 * 3600
    moved = deadlines.resumed(deadline, *paused, "working_hours", PLAIN)
    assert moved == local(*MONDAY, 18)


def test_a_suspension_of_a_continuous_limit_moves_it_by_elapsed_time():
    deadline = local(*FRIDAY, 20)
    moved = deadlines.resumed(
        deadline, local(*FRIDAY, 16), local(*MONDAY, 10), "urgent_hours", PLAIN
    )
    assert moved == deadline + dt.timedelta(hours=66)


@pytest.mark.parametrize(
    ("amount", "limit_type", "expected"),
    [
        (2, "working_hours", local(*FRIDAY, 18)),
        (3, "working_hours", local(*MONDAY, 9)),
        (1, "working_days", local(*MONDAY, 16)),
        (2, "calendar_days", local(2025, 3, 16, 16)),
        (5, "urgent_hours", local(*FRIDAY, 21)),
    ],
)
def test_an_extension_adds_in_the_limits_unit(amount, limit_type, expected):
    assert deadlines.extended(local(*FRIDAY, 16), amount, limit_type, PLAIN) == expected


def test_an_extension_is_positive():
    with pytest.raises(ValueError):
        deadlines.extended(local(*FRIDAY, 16), 0, "working_hours", PLAIN)


def test_urgent_cases_run_continuously_for_the_same_length():
    assert deadlines.case_limit(4, "working_hours", "urgent", PLAIN) == Limit(4, "urgent_hours")
    assert deadlines.case_limit(2, "working_days", "urgent", PLAIN) == Limit(16, "urgent_hours")
    assert deadlines.case_limit(1, "calendar_days", "urgent", PLAIN) == Limit(24, "urgent_hours")
    assert deadlines.case_limit(4, "working_hours", "normal", PLAIN) == Limit(4, "working_hours")
    deadline = deadlines.round_deadline(
        local(*FRIDAY, 17), deadlines.case_limit(4, "working_hours", "urgent", PLAIN), PLAIN
    )
    assert deadline == local(*FRIDAY, 21)


def test_traffic_light_through_a_round():
    start = local(*TUESDAY, 8)
    deadline = deadlines.round_deadline(start, Limit(8, "working_hours"), PLAIN)  # 18:00

    def light(now, pauses=()):
        return deadlines.light(start, now, deadline, "working_hours", PLAIN, pauses)

    assert light(local(*TUESDAY, 14)) == "green"  # 4 of 8 h
    assert light(local(*TUESDAY, 17)) == "yellow"  # 7 of 8 h
    assert light(local(*TUESDAY, 18)) == "yellow"
    assert light(local(*TUESDAY, 18, 1)) == "red"  # overdue, though no work time passed
    assert light(local(*TUESDAY, 18, 1), [(local(*TUESDAY, 17), None)]) == "yellow"  # paused
    assert deadlines.light(None, local(*TUESDAY, 9), None, "working_hours", PLAIN) is None


def test_the_light_stops_while_suspended_and_resumes_after():
    start = local(*TUESDAY, 8)
    deadline = deadlines.round_deadline(start, Limit(8, "working_hours"), PLAIN)
    paused_at = local(*TUESDAY, 14)  # 4 h used
    running = [(paused_at, None)]
    later = local(2025, 3, 20, 17)  # two days later, still suspended
    assert deadlines.used_fraction(start, later, deadline, "working_hours", PLAIN, running) == (
        pytest.approx(0.5)
    )
    resumed_at = local(2025, 3, 20, 8)
    moved = deadlines.resumed(deadline, paused_at, resumed_at, "working_hours", PLAIN)
    assert moved == local(2025, 3, 20, 12)
    ended = [(paused_at, resumed_at)]
    fraction = deadlines.used_fraction(
        start, local(2025, 3, 20, 10), moved, "working_hours", PLAIN, ended
    )
    assert fraction == pytest.approx(6 / 8)
    assert deadlines.used_fraction(start, moved, moved, "working_hours", PLAIN, ended) == (
        pytest.approx(1.0)
    )
