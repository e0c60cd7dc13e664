"""app/workcalendar/periods.py: local months and day ranges as UTC instants, and the 422s
for a malformed, future, reversed or too long period."""

from __future__ import annotations

import datetime as dt

import pytest

from app.core.errors import ValidationFailed
from app.workcalendar import periods

TZ = "Asia/Shanghai"
NOW = dt.datetime(2026, 12, 5, 3, 0, tzinfo=dt.UTC)  # 11:00 local on 5 December


def test_a_month_is_its_local_days_as_utc_instants():
    month = periods.month("2026-11", TZ, NOW)
    assert (month.first, month.last) == (dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    assert month.start == dt.datetime(2026, 10, 31, 16, 0, tzinfo=dt.UTC)
    assert month.end == dt.datetime(2026, 11, 30, 16, 0, tzinfo=dt.UTC)
    assert month.days == 30
    assert month.label == "2026-11"


def test_a_case_closed_late_on_the_last_local_evening_belongs_to_the_month():
    month = periods.month("2026-10", TZ, NOW)
    late_evening = dt.datetime(2026, 10, 31, 15, 30, tzinfo=dt.UTC)  # 23:30 local
    assert month.contains(late_evening)
    assert not month.contains(month.end)
    assert month.contains(month.start)
    assert not month.contains(None)


def test_december_and_february():
    december = periods.month("2025-12", TZ, NOW)
    assert december.last == dt.date(2025, 12, 31)
    assert december.end == dt.datetime(2025, 12, 31, 16, 0, tzinfo=dt.UTC)
    assert periods.month("2024-02", TZ, NOW).days == 29
    assert periods.month("2025-02", TZ, NOW).days == 28


def test_previous_month_crosses_the_year():
    january = periods.month("2026-01", TZ, NOW)
    previous = periods.previous_month(january, TZ)
    assert previous.label == "2025-12"
    assert previous.end == january.start


def test_the_running_month_is_allowed_and_the_next_is_not():
    assert periods.month("2026-12", TZ, NOW).label == "2026-12"
    with pytest.raises(ValidationFailed) as error:
        periods.month("2027-01", TZ, NOW)
    assert error.value.errors == {"period": ["in the future"]}


def test_local_today_decides_the_running_month():
    # 16:30 UTC on 30 November is 00:30 on 1 December in Shanghai.
    now = dt.datetime(2026, 11, 30, 16, 30, tzinfo=dt.UTC)
    assert periods.month("2026-12", TZ, now).label == "2026-12"
    with pytest.raises(ValidationFailed):
        periods.month("2026-12", "UTC", now)


@pytest.mark.parametrize(
    "text", ["2026-13", "2026-00", "2026-1", "26-11", "2026/11", "", "1899-12", "２０２６-11"]
)
def test_malformed_months(text):
    with pytest.raises(ValidationFailed) as error:
        periods.month(text, TZ, NOW)
    assert error.value.errors == {"period": ["expected YYYY-MM"]}


def test_date_ranges():
    week = periods.date_range(dt.date(2026, 11, 1), dt.date(2026, 11, 7), TZ, NOW)
    assert week.days == 7
    assert week.label == "2026-11-01..2026-11-07"
    assert periods.date_range(dt.date(2026, 11, 1), dt.date(2026, 11, 30), TZ, NOW).label == (
        "2026-11"
    )


def test_date_range_checks():
    with pytest.raises(ValidationFailed, match="before it starts"):
        periods.date_range(dt.date(2026, 11, 7), dt.date(2026, 11, 1), TZ, NOW)
    with pytest.raises(ValidationFailed, match="in the future"):
        periods.date_range(dt.date(2026, 12, 6), dt.date(2026, 12, 7), TZ, NOW)
    with pytest.raises(ValidationFailed, match="at most 366 days"):
        periods.date_range(dt.date(2025, 1, 1), dt.date(2026, 1, 2), TZ, NOW)
    leap_year = periods.date_range(dt.date(2024, 1, 1), dt.date(2024, 12, 31), TZ, NOW)
    assert leap_year.days == 366
