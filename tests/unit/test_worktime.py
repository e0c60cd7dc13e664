"""Deadline arithmetic on the work calendar: periods, weekends, holidays, 调休, overrides."""

import datetime as dt
import time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.workcalendar.worktime import (
    DaySource,
    WorkCalendar,
    add_limit,
    elapsed_fraction,
    traffic_light,
    working_seconds_between,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
CAL = WorkCalendar()
HOUR = 3600


def local(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SHANGHAI)


def deadline(start, amount, limit_type="working_hours", calendar=CAL) -> dt.datetime:
    result = add_limit(start, amount, limit_type, calendar)
    assert result.utcoffset() == dt.timedelta(0), "deadlines come back in UTC"
    return result.astimezone(SHANGHAI)


# 2026-03-10 is an ordinary Tuesday.


def test_start_inside_a_period_counts_from_the_start():
    assert deadline(local(2026, 3, 10, 9, 0), 2) == local(2026, 3, 10, 11, 0)


def test_hours_that_cross_lunch_skip_the_break():
    assert deadline(local(2026, 3, 10, 11, 0), 2) == local(2026, 3, 10, 15, 0)


def test_start_in_the_lunch_break_begins_at_14_00():
    assert deadline(local(2026, 3, 10, 12, 30), 4) == local(2026, 3, 10, 18, 0)
    assert deadline(local(2026, 3, 10, 12, 30), 1) == local(2026, 3, 10, 15, 0)


def test_start_after_18_00_begins_next_morning():
    assert deadline(local(2026, 3, 10, 19, 45), 4) == local(2026, 3, 11, 12, 0)
    assert deadline(local(2026, 3, 10, 6, 0), 1) == local(2026, 3, 10, 9, 0)


def test_friday_afternoon_runs_into_monday():
    # Friday 2026-03-13 16:00: 2 h left on Friday, 2 more on Monday 2026-03-16.
    assert deadline(local(2026, 3, 13, 16, 0), 4) == local(2026, 3, 16, 10, 0)


def test_deadline_exactly_at_a_period_end_stays_there():
    assert deadline(local(2026, 3, 10, 8, 0), 4) == local(2026, 3, 10, 12, 0)
    assert deadline(local(2026, 3, 10, 14, 0), 4) == local(2026, 3, 10, 18, 0)
    assert deadline(local(2026, 3, 10, 8, 0), 8) == local(2026, 3, 10, 18, 0)
    # A whole day's worth ends at that day's 18:00, not at the next morning.
    assert deadline(local(2026, 3, 10, 19, 45), 8) == local(2026, 3, 11, 18, 0)
    assert deadline(local(2026, 3, 10, 8, 0), 2, "working_days") == local(2026, 3, 11, 18, 0)
    # A Friday's last hour does not move to Monday morning.
    assert deadline(local(2026, 3, 13, 17, 0), 1) == local(2026, 3, 13, 18, 0)


def test_national_day_2026_is_skipped_and_its_swapped_saturday_works():
    # 2026-09-30 (Wed) 17:00: 1 h on Sep 30; Oct 1–7 off; Oct 8 (Thu) and 9 (Fri) are
    # workdays; Oct 10 is a Saturday worked in exchange (调休).
    assert deadline(local(2026, 9, 30, 17, 0), 2) == local(2026, 10, 8, 9, 0)
    assert deadline(local(2026, 10, 9, 17, 0), 2) == local(2026, 10, 10, 9, 0)
    for day in range(1, 8):
        assert not CAL.is_workday(dt.date(2026, 10, day))
    assert CAL.day_status(dt.date(2026, 10, 10)) == (True, DaySource.NATIONAL)
    assert CAL.day_status(dt.date(2026, 9, 20)) == (True, DaySource.NATIONAL)  # a Sunday


def test_spring_festival_2026_is_skipped():
    # Friday 2026-02-13 17:00; Saturday Feb 14 is a swapped working day; Feb 15–23 off.
    assert deadline(local(2026, 2, 13, 17, 0), 2) == local(2026, 2, 14, 9, 0)
    assert deadline(local(2026, 2, 14, 17, 0), 2) == local(2026, 2, 24, 9, 0)


def test_a_city_override_makes_a_day_off_or_a_workday():
    typhoon = WorkCalendar(overrides={dt.date(2026, 3, 11): False})
    assert deadline(local(2026, 3, 10, 17, 0), 2, calendar=typhoon) == local(2026, 3, 12, 9, 0)
    assert typhoon.day_status(dt.date(2026, 3, 11)) == (False, DaySource.OVERRIDE)
    # Saturday 2026-03-14 worked in this city.
    saturday = WorkCalendar(overrides={dt.date(2026, 3, 14): True})
    assert deadline(local(2026, 3, 13, 17, 0), 2, calendar=saturday) == local(2026, 3, 14, 9, 0)
    # An override beats the national calendar: National Day worked.
    worked = WorkCalendar(overrides={dt.date(2026, 10, 1): True})
    assert deadline(local(2026, 9, 30, 17, 0), 2, calendar=worked) == local(2026, 10, 1, 9, 0)


def test_2027_has_no_national_data_and_falls_back_to_weekdays():
    # 2027-01-01 is a Friday (a holiday in practice, but nothing is published yet).
    assert CAL.day_status(dt.date(2027, 1, 1)) == (True, DaySource.WEEKDAY)
    assert CAL.day_status(dt.date(2027, 1, 2)) == (False, DaySource.WEEKDAY)
    assert deadline(local(2026, 12, 31, 17, 0), 2) == local(2027, 1, 1, 9, 0)
    assert deadline(local(2027, 1, 1, 17, 0), 2) == local(2027, 1, 4, 9, 0)


def test_working_days_are_whole_working_days_of_8_hours():
    assert deadline(local(2026, 3, 10, 10, 0), 1, "working_days") == local(2026, 3, 11, 10, 0)
    assert deadline(local(2026, 3, 10, 8, 0), 1, "working_days") == local(2026, 3, 10, 18, 0)
    # 15 working days from Monday 2026-09-28 10:00, across National Day and its 调休.
    assert deadline(local(2026, 9, 28, 10, 0), 15, "working_days") == local(2026, 10, 23, 10, 0)
    assert deadline(local(2026, 3, 10, 10, 0), 0.5, "working_days") == local(2026, 3, 10, 16, 0)


def test_calendar_days_are_24_hours_each_in_asia_shanghai():
    start = local(2026, 9, 30, 17, 0)
    assert deadline(start, 7, "calendar_days") == local(2026, 10, 7, 17, 0)
    # Shanghai has no daylight-saving time: a March or November span is still 24 h a day.
    assert deadline(local(2026, 3, 7, 1, 30), 2, "calendar_days") == local(2026, 3, 9, 1, 30)
    assert deadline(local(2026, 10, 31, 12, 0), 3, "calendar_days") == local(2026, 11, 3, 12, 0)


def test_urgent_hours_run_through_the_night_and_holidays():
    assert deadline(local(2026, 10, 1, 22, 0), 6, "urgent_hours") == local(2026, 10, 2, 4, 0)
    assert deadline(local(2026, 3, 10, 23, 30), 0.5, "urgent_hours") == local(2026, 3, 11, 0, 0)


def test_the_deadline_does_not_depend_on_the_offset_of_the_start():
    in_utc = dt.datetime(2026, 3, 10, 1, 0, tzinfo=dt.UTC)  # 09:00 in Shanghai
    assert deadline(in_utc, 2) == local(2026, 3, 10, 11, 0)


def test_naive_datetimes_and_bad_input_are_value_errors():
    with pytest.raises(ValueError, match="naive"):
        add_limit(dt.datetime(2026, 3, 10, 9), 2, "working_hours", CAL)
    with pytest.raises(ValueError, match="naive"):
        working_seconds_between(local(2026, 3, 10, 9), dt.datetime(2026, 3, 11), CAL)
    with pytest.raises(ValueError, match="limit type"):
        add_limit(local(2026, 3, 10, 9), 2, "fortnights", CAL)
    with pytest.raises(ValueError):
        add_limit(local(2026, 3, 10, 9), -1, "working_hours", CAL)


def test_calendar_rejects_bad_periods_and_zones():
    with pytest.raises(ValueError):
        WorkCalendar(periods=((dt.time(14), dt.time(18)), (dt.time(8), dt.time(12))))
    with pytest.raises(ValueError):
        WorkCalendar(periods=((dt.time(8), dt.time(13)), (dt.time(12), dt.time(18))))
    with pytest.raises(ValueError):
        WorkCalendar(periods=())
    with pytest.raises(ValueError):
        WorkCalendar(timezone="Mars/Olympus")


def test_a_one_period_calendar_in_another_zone():
    urumqi = WorkCalendar(timezone="Asia/Urumqi", periods=((dt.time(10), dt.time(19, 30)),))
    start = dt.datetime(2026, 3, 10, 18, 0, tzinfo=ZoneInfo("Asia/Urumqi"))
    result = add_limit(start, 2, "working_hours", urumqi).astimezone(ZoneInfo("Asia/Urumqi"))
    assert result == dt.datetime(2026, 3, 11, 10, 30, tzinfo=ZoneInfo("Asia/Urumqi"))


def test_working_seconds_between():
    assert working_seconds_between(local(2026, 3, 10, 9), local(2026, 3, 10, 15), CAL) == 4 * HOUR
    # Friday 17:00 to Monday 09:00: 2 working hours.
    assert working_seconds_between(local(2026, 3, 13, 17), local(2026, 3, 16, 9), CAL) == 2 * HOUR
    # Across all of National Day week: Sep 30 17:00 → Oct 8 09:00.
    assert working_seconds_between(local(2026, 9, 30, 17), local(2026, 10, 8, 9), CAL) == 2 * HOUR
    assert working_seconds_between(local(2026, 3, 10, 9), local(2026, 3, 10, 8), CAL) == 0


def test_elapsed_fraction_measures_in_the_limits_own_measure():
    start = local(2026, 3, 10, 8, 0)
    due = add_limit(start, 4, "working_hours", CAL)
    assert elapsed_fraction(start, local(2026, 3, 10, 10), due, "working_hours", CAL) == 0.5
    # The lunch break is not working time.
    assert elapsed_fraction(start, local(2026, 3, 10, 13), due, "working_hours", CAL) == 1.0
    assert elapsed_fraction(start, local(2026, 3, 10, 15), due, "working_hours", CAL) == 1.25
    urgent_due = add_limit(start, 6, "urgent_hours", CAL)
    assert elapsed_fraction(start, local(2026, 3, 10, 13), urgent_due, "urgent_hours", CAL) == (
        pytest.approx(5 / 6)
    )


def test_elapsed_fraction_does_not_count_a_pause():
    start = local(2026, 3, 10, 8, 0)
    due = add_limit(start, 8, "working_hours", CAL)
    now = local(2026, 3, 10, 16, 0)  # 6 working hours after the start
    paused = [(local(2026, 3, 10, 9), local(2026, 3, 10, 11))]  # 2 working hours
    assert elapsed_fraction(start, now, due, "working_hours", CAL) == 0.75
    assert elapsed_fraction(start, now, due, "working_hours", CAL, paused) == 0.5
    # A pause still running stops the clock at its start.
    ongoing = [(local(2026, 3, 10, 15), None)]
    assert elapsed_fraction(start, now, due, "working_hours", CAL, ongoing) == 5 / 8
    # Overlapping pauses are not subtracted twice.
    twice = [*paused, (local(2026, 3, 10, 10), local(2026, 3, 10, 11))]
    assert elapsed_fraction(start, now, due, "working_hours", CAL, twice) == 0.5


def test_traffic_light_thresholds():
    assert traffic_light(0.0) == "green"
    assert traffic_light(0.79) == "green"
    assert traffic_light(0.8) == "yellow"
    assert traffic_light(1.0) == "yellow"
    assert traffic_light(1.01) == "red"


def test_fifteen_working_days_is_fast():
    start = local(2026, 9, 28, 10, 0)
    began = time.perf_counter()
    for _ in range(200):
        add_limit(start, 15, "working_days", CAL)
    per_call = (time.perf_counter() - began) / 200
    assert per_call < 0.002, f"{per_call * 1000:.3f} ms per call"


def _inside_working_time(day: dt.date, offset: int) -> dt.datetime:
    """``offset`` seconds into the day's 8 working hours, as a local time."""
    period_start = dt.time(8) if offset < 4 * HOUR else dt.time(14)
    return dt.datetime.combine(day, period_start, tzinfo=SHANGHAI) + dt.timedelta(
        seconds=offset % (4 * HOUR)
    )


# Workdays with and without national data (2027 falls back to Monday–Friday).
_workday_starts = st.builds(
    _inside_working_time,
    st.dates(dt.date(2025, 1, 1), dt.date(2027, 12, 31)).filter(CAL.is_workday),
    st.integers(0, 8 * HOUR - 1),
)


@settings(max_examples=300, deadline=None)
@given(start=_workday_starts, hours=st.integers(1, 400))
def test_working_hours_round_trip(start, hours):
    due = add_limit(start, hours, "working_hours", CAL)
    assert working_seconds_between(start, due, CAL) == hours * HOUR


@settings(max_examples=200, deadline=None)
@given(
    start=st.datetimes(
        dt.datetime(2025, 1, 1), dt.datetime(2027, 12, 31), timezones=st.just(SHANGHAI)
    ),
    minutes=st.integers(1, 60 * 200),
)
def test_working_time_round_trip_from_any_start(start, minutes):
    due = add_limit(start, minutes / 60, "working_hours", CAL)
    assert working_seconds_between(start, due, CAL) == pytest.approx(minutes * 60, abs=1e-6)


def test_used_seconds_counts_working_time_less_pauses():
    from app.workcalendar.worktime import used_seconds

    calendar = WorkCalendar()
    shanghai = dt.timezone(dt.timedelta(hours=8))
    friday = dt.datetime(2026, 3, 13, 11, 0, tzinfo=shanghai)
    monday = dt.datetime(2026, 3, 16, 10, 0, tzinfo=shanghai)
    # Friday 11:00–12:00 and 14:00–18:00, Monday 08:00–10:00: 7 working hours.
    assert used_seconds(friday, monday, "working_hours", calendar) == 7 * 3600
    assert used_seconds(friday, monday, "urgent_hours", calendar) == 71 * 3600
    pause = (dt.datetime(2026, 3, 13, 17, 0, tzinfo=shanghai), monday - dt.timedelta(hours=1))
    assert used_seconds(friday, monday, "working_days", calendar, [pause]) == 5 * 3600
    assert used_seconds(monday, friday, "working_hours", calendar) == 0
