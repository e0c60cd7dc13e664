"""Reporting periods: days in the city's time zone, as the UTC instants the rows are kept in.

The ledger takes a ``from``/``to`` range of dates, assessment takes a month ``YYYY-MM``; both
count a day as the city's local day (default ``Asia/Shanghai``), so a case closed at 23:30
local time on the 31st belongs to that month though it is 15:30 UTC. Every check of a
period asked for is here, so both answer the same 422 for the same mistake.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from zoneinfo import ZoneInfo

from app.core.errors import ValidationFailed

#: The longest range a ledger may ask for, in days (a year, leap or not).
MAX_RANGE_DAYS = 366

_MONTH = re.compile(r"(\d{4})-(\d{2})", re.ASCII)  # not fullwidth or other digits


@dataclasses.dataclass(frozen=True)
class Period:
    """Local days ``first`` to ``last`` (both included), and the UTC instants that bound
    them: ``start`` included, ``end`` excluded."""

    first: dt.date
    last: dt.date
    start: dt.datetime
    end: dt.datetime

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def label(self) -> str:
        """``2026-11`` for a whole month, else ``2026-11-01..2026-11-15``."""
        month_end = _month_after(self.first) - dt.timedelta(days=1)
        if self.first.day == 1 and self.last == month_end:
            return self.first.strftime("%Y-%m")
        return f"{self.first.isoformat()}..{self.last.isoformat()}"

    def contains(self, instant: dt.datetime | None) -> bool:
        return instant is not None and self.start <= instant < self.end


def _month_after(day: dt.date) -> dt.date:
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _utc_midnight(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=zone).astimezone(dt.UTC)


def local_today(now: dt.datetime, timezone: str) -> dt.date:
    return now.astimezone(ZoneInfo(timezone)).date()


def period_of_days(first: dt.date, last: dt.date, timezone: str) -> Period:
    zone = ZoneInfo(timezone)
    return Period(
        first,
        last,
        _utc_midnight(first, zone),
        _utc_midnight(last + dt.timedelta(days=1), zone),
    )


def date_range(
    first: dt.date,
    last: dt.date,
    timezone: str,
    now: dt.datetime,
    max_days: int = MAX_RANGE_DAYS,
) -> Period:
    """The period ``first``..``last`` (local dates, both included), checked: in order, not
    starting in the future, at most ``max_days`` long (422 otherwise)."""
    if last < first:
        raise ValidationFailed(
            f"the range ends ({last}) before it starts ({first})", {"to": ["before from"]}
        )
    if first > local_today(now, timezone):
        raise ValidationFailed(f"{first} is in the future", {"from": ["in the future"]})
    if (last - first).days + 1 > max_days:
        raise ValidationFailed(
            f"a range is at most {max_days} days; {first}..{last} is {(last - first).days + 1}",
            {"to": [f"more than {max_days} days after from"]},
        )
    return period_of_days(first, last, timezone)


def parse_month(text: str) -> dt.date:
    """The first day of month ``YYYY-MM`` (422 for anything else)."""
    match = _MONTH.fullmatch(text or "")
    if match is None or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1900:
        raise ValidationFailed(
            f"{text!r} is not a month written YYYY-MM", {"period": ["expected YYYY-MM"]}
        )
    return dt.date(int(match.group(1)), int(match.group(2)), 1)


def month(text: str, timezone: str, now: dt.datetime) -> Period:
    """The month ``YYYY-MM`` in the city's time zone; one that has not begun is a 422 (the
    running month is allowed: its figures are so far)."""
    first = parse_month(text)
    if first > local_today(now, timezone):
        raise ValidationFailed(f"{text} has not begun", {"period": ["in the future"]})
    return period_of_days(first, _month_after(first) - dt.timedelta(days=1), timezone)


def previous_month(period: Period, timezone: str) -> Period:
    """The month before ``period``'s first month (for the change from the previous period)."""
    first = (period.first.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    return period_of_days(first, _month_after(first) - dt.timedelta(days=1), timezone)
