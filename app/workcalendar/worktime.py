"""Deadline arithmetic on a work calendar. Pure: no Flask, no database.

Working time counts only inside the work periods (default 08:00–12:00 and 14:00–18:00) of
workdays, in the city's own time zone. A workday is, in order of precedence: the city's
override for that date; the national calendar (public holidays and swapped working days
调休, from the ``chinese_calendar`` package) for the years it knows; Monday–Friday.

Every function takes and returns timezone-aware datetimes; a naive one is a ValueError.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import math
from collections.abc import Callable, Iterable, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import chinese_calendar

DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_PERIODS: tuple[tuple[dt.time, dt.time], ...] = (
    (dt.time(8, 0), dt.time(12, 0)),
    (dt.time(14, 0), dt.time(18, 0)),
)
# Beyond this many days without a single workday the calendar is broken, not busy.
_MAX_IDLE_DAYS = 3660


class LimitType(enum.StrEnum):
    WORKING_HOURS = "working_hours"  # 工作时
    WORKING_DAYS = "working_days"  # 工作日
    CALENDAR_DAYS = "calendar_days"  # 自然日
    URGENT_HOURS = "urgent_hours"  # 紧急: runs continuously


LIMIT_TYPES = tuple(limit.value for limit in LimitType)
WORKING_LIMITS = frozenset({LimitType.WORKING_HOURS, LimitType.WORKING_DAYS})


class DaySource(enum.StrEnum):
    OVERRIDE = "override"  # the city said so
    NATIONAL = "national"  # the published national holiday calendar
    WEEKDAY = "weekday"  # no data for that year: Monday–Friday


@functools.lru_cache(maxsize=8192)
def national_workday(day: dt.date) -> bool | None:
    """The national calendar's answer for ``day``, or None for a year it does not know."""
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        return None


def _parse_limit_type(limit_type: str) -> LimitType:
    try:
        return LimitType(limit_type)
    except ValueError:
        raise ValueError(f"unknown limit type {limit_type!r}; one of {LIMIT_TYPES}") from None


def _require_aware(name: str, value: dt.datetime) -> None:
    if not isinstance(value, dt.datetime):
        raise ValueError(f"{name} must be a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} is a naive datetime; give it a time zone")


def _finite_number(amount) -> float:
    if isinstance(amount, bool):
        raise ValueError("the amount is a number, not a boolean")
    try:
        value = float(amount)
    except (TypeError, ValueError):
        raise ValueError(f"the amount {amount!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError("the amount is a finite number")
    return value


def _seconds(start: dt.time, end: dt.time) -> float:
    return (
        (end.hour - start.hour) * 3600
        + (end.minute - start.minute) * 60.0
        + (end.second - start.second)
    )


@dataclasses.dataclass(frozen=True)
class WorkCalendar:
    """A city's work calendar: time zone, daily work periods, and days it overrides."""

    timezone: str = DEFAULT_TIMEZONE
    periods: tuple[tuple[dt.time, dt.time], ...] = DEFAULT_PERIODS
    overrides: Mapping[dt.date, bool] = dataclasses.field(default_factory=dict, hash=False)
    holiday_source: Callable[[dt.date], bool | None] = national_workday

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.timezone!r}") from None
        object.__setattr__(self, "periods", tuple(tuple(p) for p in self.periods))
        check_periods(self.periods)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def workday_seconds(self) -> float:
        """The working time of one workday, in seconds (8 h = 28,800 s by default)."""
        return sum(_seconds(start, end) for start, end in self.periods)

    def day_status(self, day: dt.date) -> tuple[bool, DaySource]:
        """Whether ``day`` is a workday, and which source said so."""
        if day in self.overrides:
            return bool(self.overrides[day]), DaySource.OVERRIDE
        national = self.holiday_source(day)
        if national is not None:
            return national, DaySource.NATIONAL
        return day.weekday() < 5, DaySource.WEEKDAY

    def is_workday(self, day: dt.date) -> bool:
        return self.day_status(day)[0]

    def local_date(self, moment: dt.datetime) -> dt.date:
        _require_aware("moment", moment)
        return moment.astimezone(self.zone).date()

    def periods_on(self, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
        """The work periods of ``day`` as UTC intervals (empty on a day off)."""
        if not self.is_workday(day):
            return []
        zone = self.zone
        return [
            (
                dt.datetime.combine(day, start, tzinfo=zone).astimezone(dt.UTC),
                dt.datetime.combine(day, end, tzinfo=zone).astimezone(dt.UTC),
            )
            for start, end in self.periods
        ]


def check_periods(periods: Iterable[tuple[dt.time, dt.time]]) -> None:
    """Periods are non-empty, each ends after it starts, ordered and non-overlapping."""
    periods = list(periods)
    if not periods:
        raise ValueError("a work calendar needs at least one work period")
    previous_end: dt.time | None = None
    for start, end in periods:
        if not (isinstance(start, dt.time) and isinstance(end, dt.time)):
            raise ValueError("a work period is a pair of times")
        if end <= start:
            raise ValueError(f"the period {start:%H:%M}–{end:%H:%M} ends before it starts")
        if previous_end is not None and start < previous_end:
            raise ValueError(f"the period starting {start:%H:%M} overlaps or is out of order")
        previous_end = end


def _add_working_seconds(start: dt.datetime, seconds: float, calendar: WorkCalendar) -> dt.datetime:
    remaining = dt.timedelta(seconds=seconds)
    cursor = start.astimezone(dt.UTC)
    if remaining <= dt.timedelta(0):
        return cursor
    day = calendar.local_date(cursor)
    full_day = dt.timedelta(seconds=calendar.workday_seconds)
    first = True
    idle = 0
    while True:
        if not calendar.is_workday(day):
            idle += 1
            if idle > _MAX_IDLE_DAYS:
                raise ValueError("the work calendar has no workday in ten years")
        elif not first and remaining > full_day:
            # A whole workday is used up; no need to build its periods.
            remaining -= full_day
            idle = 0
        else:
            idle = 0
            for period_start, period_end in calendar.periods_on(day):
                if period_end <= cursor:
                    continue
                begin = max(period_start, cursor)
                available = period_end - begin
                # "<=": a deadline landing exactly on a period's end stays there.
                if remaining <= available:
                    return begin + remaining
                remaining -= available
                cursor = period_end
        first = False
        day += dt.timedelta(days=1)


def add_limit(
    start: dt.datetime, amount: float, limit_type: str, calendar: WorkCalendar
) -> dt.datetime:
    """The deadline of a limit of ``amount`` units of ``limit_type`` starting at ``start``.

    - ``working_hours``: counted only inside work periods on workdays, in the city's time
      zone. A start outside working time begins at the next period; a deadline that lands
      exactly at a period's end stays there rather than moving to the next period's start.
    - ``working_days``: ``amount`` × the working time of one workday (8 h by default),
      counted like working hours. So 1 working day from Tuesday 10:00 is Wednesday 10:00,
      and from Tuesday 08:00 it is Tuesday 18:00.
    - ``calendar_days``: ``amount`` × 24 h, continuously.
    - ``urgent_hours``: ``amount`` hours, continuously (nights and holidays included).

    Returns the deadline in UTC.
    """
    _require_aware("start", start)
    kind = _parse_limit_type(limit_type)
    amount = _finite_number(amount)
    if amount < 0:
        raise ValueError("the amount cannot be negative")
    start_utc = start.astimezone(dt.UTC)
    if kind is LimitType.URGENT_HOURS:
        return start_utc + dt.timedelta(hours=amount)
    if kind is LimitType.CALENDAR_DAYS:
        return start_utc + dt.timedelta(days=amount)
    if kind is LimitType.WORKING_DAYS:
        return _add_working_seconds(start_utc, amount * calendar.workday_seconds, calendar)
    return _add_working_seconds(start_utc, amount * 3600, calendar)


def working_seconds_between(start: dt.datetime, end: dt.datetime, calendar: WorkCalendar) -> float:
    """Working time from ``start`` to ``end`` in seconds (0 if ``end`` is not later)."""
    _require_aware("start", start)
    _require_aware("end", end)
    start, end = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
    if end <= start:
        return 0.0
    first_day, last_day = calendar.local_date(start), calendar.local_date(end)
    full_day = dt.timedelta(seconds=calendar.workday_seconds)
    total = dt.timedelta(0)
    day = first_day
    while day <= last_day:
        if day not in (first_day, last_day):
            if calendar.is_workday(day):
                total += full_day
        else:
            for period_start, period_end in calendar.periods_on(day):
                overlap = min(period_end, end) - max(period_start, start)
                if overlap > dt.timedelta(0):
                    total += overlap
        day += dt.timedelta(days=1)
    return total.total_seconds()


def _measure(
    start: dt.datetime, end: dt.datetime, kind: LimitType, calendar: WorkCalendar
) -> float:
    if kind in WORKING_LIMITS:
        return working_seconds_between(start, end, calendar)
    return max((end - start).total_seconds(), 0.0)


def elapsed_fraction(
    start: dt.datetime,
    now: dt.datetime,
    deadline: dt.datetime,
    limit_type: str,
    calendar: WorkCalendar,
    pauses: Iterable[tuple[dt.datetime, dt.datetime | None]] = (),
) -> float:
    """The share of a limit used by ``now``: 0 at ``start``, 1 at the deadline, >1 overdue.

    Time is measured in the limit's own measure: working time for working hours and days,
    continuous time for calendar days and urgent hours. ``deadline`` is the deadline as
    computed from ``start`` without any pause (``add_limit``), so the limit is the time from
    ``start`` to ``deadline``. Paused intervals (挂账, the clock stops) are not counted as
    used; a pause whose end is None is still running and counts up to ``now``. Overlapping
    pauses are merged, so no time is subtracted twice.
    """
    for name, value in (("start", start), ("now", now), ("deadline", deadline)):
        _require_aware(name, value)
    kind = _parse_limit_type(limit_type)
    budget = _measure(start, deadline, kind, calendar)
    used = used_seconds(start, now, kind, calendar, pauses)
    if budget <= 0:
        return math.inf if used > 0 else 0.0
    return used / budget


def used_seconds(
    start: dt.datetime,
    end: dt.datetime,
    limit_type: str,
    calendar: WorkCalendar,
    pauses: Iterable[tuple[dt.datetime, dt.datetime | None]] = (),
) -> float:
    """Seconds from ``start`` to ``end`` in the limit's measure (working time for working
    hours and days, continuous time otherwise), less the paused intervals within them (a
    pause whose end is None counts as running up to ``end``)."""
    _require_aware("start", start)
    _require_aware("end", end)
    kind = _parse_limit_type(limit_type)
    used = _measure(start, end, kind, calendar)
    for pause_start, pause_end in _merged_pauses(pauses, start, end):
        used -= _measure(pause_start, pause_end, kind, calendar)
    return max(used, 0.0)


def _merged_pauses(
    pauses: Iterable[tuple[dt.datetime, dt.datetime | None]],
    start: dt.datetime,
    now: dt.datetime,
) -> list[tuple[dt.datetime, dt.datetime]]:
    """Pauses clipped to [start, now], sorted and merged."""
    clipped = []
    for pause_start, pause_end in pauses:
        _require_aware("pause start", pause_start)
        if pause_end is not None:
            _require_aware("pause end", pause_end)
        begin = max(pause_start, start)
        finish = now if pause_end is None else min(pause_end, now)
        if finish > begin:
            clipped.append((begin, finish))
    clipped.sort()
    merged: list[tuple[dt.datetime, dt.datetime]] = []
    for begin, finish in clipped:
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], finish))
        else:
            merged.append((begin, finish))
    return merged


def traffic_light(fraction: float) -> str:
    """Green under 80% of the limit used, yellow from 80% to 100%, red when overdue."""
    if fraction < 0.8:
        return "green"
    if fraction <= 1.0:
        return "yellow"
    return "red"
