"""Deadlines of a case's handling round: when the clock starts, stops, moves and how far it ran.

Pure arithmetic on top of ``worktime``: no Flask, no database. A round's limit comes from
its category (amount and limit type); an urgent case (紧急) runs the same length
continuously. Suspensions (挂账) and extensions (延期) move the deadline later, each in the
limit's own measure: working time for working hours and days, elapsed time otherwise.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable

from app.workcalendar.worktime import (
    WORKING_LIMITS,
    LimitType,
    WorkCalendar,
    add_limit,
    elapsed_fraction,
    traffic_light,
    working_seconds_between,
)

Pause = tuple[dt.datetime, dt.datetime | None]


@dataclasses.dataclass(frozen=True)
class Limit:
    """How long a round may take: ``amount`` units of ``limit_type``."""

    amount: float
    limit_type: str

    @property
    def unit(self) -> str:
        return {
            LimitType.WORKING_HOURS: "working hours",
            LimitType.WORKING_DAYS: "working days",
            LimitType.CALENDAR_DAYS: "calendar days",
            LimitType.URGENT_HOURS: "hours",
        }[LimitType(self.limit_type)]


def case_limit(time_limit: float, limit_type: str, urgency: str, calendar: WorkCalendar) -> Limit:
    """The limit of a case of a category with ``time_limit`` and ``limit_type``.

    An urgent case runs continuously (``urgent_hours``) for the same length: working hours
    count as hours, a working day as one workday's working time, a calendar day as 24 h.
    """
    if urgency != "urgent" or limit_type == LimitType.URGENT_HOURS:
        return Limit(time_limit, limit_type)
    hours = {
        LimitType.WORKING_HOURS: time_limit,
        LimitType.WORKING_DAYS: time_limit * calendar.workday_seconds / 3600,
        LimitType.CALENDAR_DAYS: time_limit * 24,
    }[LimitType(limit_type)]
    return Limit(hours, LimitType.URGENT_HOURS)


def round_deadline(start: dt.datetime, limit: Limit, calendar: WorkCalendar) -> dt.datetime:
    """The deadline of a handling round starting at ``start`` (filing, or a rework)."""
    return add_limit(start, limit.amount, limit.limit_type, calendar)


def extended(
    deadline: dt.datetime, amount: float, limit_type: str, calendar: WorkCalendar
) -> dt.datetime:
    """The deadline after an approved extension of ``amount`` in the limit's own unit."""
    if amount <= 0:
        raise ValueError("an extension is a positive amount")
    return add_limit(deadline, amount, limit_type, calendar)


def paused_measure(
    started: dt.datetime, ended: dt.datetime, limit_type: str, calendar: WorkCalendar
) -> float:
    """Seconds a pause took, in the limit's measure (working time for working limits)."""
    if LimitType(limit_type) in WORKING_LIMITS:
        return working_seconds_between(started, ended, calendar)
    return max((ended - started).total_seconds(), 0.0)


def resumed(
    deadline: dt.datetime,
    paused_from: dt.datetime,
    paused_to: dt.datetime,
    limit_type: str,
    calendar: WorkCalendar,
) -> dt.datetime:
    """The deadline after a suspension from ``paused_from`` to ``paused_to`` ended.

    The clock stopped: the deadline moves later by the time the pause took, measured as the
    limit measures time, so a weekend inside a working-hours suspension costs nothing.
    """
    seconds = paused_measure(paused_from, paused_to, limit_type, calendar)
    if LimitType(limit_type) in WORKING_LIMITS:
        return add_limit(deadline, seconds / 3600, LimitType.WORKING_HOURS, calendar)
    return deadline + dt.timedelta(seconds=seconds)


def used_fraction(
    start: dt.datetime,
    now: dt.datetime,
    deadline: dt.datetime,
    limit_type: str,
    calendar: WorkCalendar,
    pauses: Iterable[Pause] = (),
) -> float:
    """The share of the round's limit used by ``now`` (1 at the deadline, > 1 overdue).

    ``deadline`` is the current one, already moved by every *ended* pause; a running pause
    has not moved it yet. So the budget is the time from ``start`` to ``deadline`` less the
    ended pauses, and the use is the time from ``start`` to ``now`` less every pause.
    """
    pauses = list(pauses)
    ended = [(begin, end) for begin, end in pauses if end is not None]
    used = elapsed_fraction(start, now, deadline, limit_type, calendar, pauses)
    budget = elapsed_fraction(start, deadline, deadline, limit_type, calendar, ended)
    if budget <= 0:
        return used
    return used / budget


def light(
    start: dt.datetime | None,
    now: dt.datetime,
    deadline: dt.datetime | None,
    limit_type: str,
    calendar: WorkCalendar,
    pauses: Iterable[Pause] = (),
) -> str | None:
    """Green, yellow or red for a running clock; None when no clock runs.

    Past its deadline a running clock is red even when no working time has passed since
    (a working-hours deadline at 18:00 is overdue at 18:01, not at 08:00 next morning).
    """
    if start is None or deadline is None:
        return None
    pauses = list(pauses)
    paused_now = any(end is None for _begin, end in pauses)
    if now > deadline and not paused_now:
        return "red"
    return traffic_light(used_fraction(start, now, deadline, limit_type, calendar, pauses))
