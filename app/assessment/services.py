"""考评 use cases: a month's figures at a level (live, or as published), publishing a
month, and the weights of the composite scores (docs/assessment.md)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import Role, User
from app.assessment import levels, publishing, queries, ranking
from app.assessment.formulas import LEVELS, SUBJECTS, default_weights, formula
from app.assessment.models import AssessmentWeight
from app.core.clock import utcnow
from app.core.db import transaction
from app.core.errors import Forbidden, ValidationFailed
from app.workcalendar import periods
from app.workcalendar.services import get_calendar

# Who may read which level (docs/assessment.md, "Who may read what").
READERS: dict[str, tuple[str, ...]] = {
    Role.DISPATCHER: LEVELS,
    Role.ADMIN: LEVELS,
    Role.STREET_CHIEF: ("street", "community", "grid"),
    Role.HANDLER: ("department",),
    Role.INSPECTOR: ("inspector",),
}
MAX_WEIGHT = 1000.0


# ---------------------------------------------------------------------------------------------
# The month


def _timezone(session: Session) -> str:
    return get_calendar(session).timezone


def _days(period: periods.Period, as_of: dt.datetime, timezone: str) -> list[queries.Day]:
    """The month's local days up to today (the self-checks owed)."""
    last = min(period.last, periods.local_today(as_of, timezone))
    days = []
    day = period.first
    while day <= last:
        bounds = periods.period_of_days(day, day, timezone)
        days.append(queries.Day(day, bounds.start, bounds.end))
        day += dt.timedelta(days=1)
    return days


def count_month(
    session: Session, period: periods.Period, now: dt.datetime, reference: levels.Reference
) -> levels.Counts:
    as_of = min(period.end, now)
    window = queries.Window(period.start, as_of)
    return levels.count_month(session, window, _days(period, as_of, _timezone(session)), reference)


def current_weights(session: Session) -> dict[str, dict[str, float]]:
    weights = default_weights()
    for row in session.scalars(sa.select(AssessmentWeight)):
        if row.subject in weights and row.formula in weights[row.subject]:
            weights[row.subject][row.formula] = row.weight
    return weights


def _scored(rows: list[dict], weights) -> list[dict]:
    return ranking.score_and_rank(rows, weights)


def compute(
    session: Session, period: periods.Period, wanted: tuple[str, ...], now: dt.datetime
) -> dict[str, list[dict]]:
    """The month's rows at the ``wanted`` levels, scored, ranked and compared with the
    previous month (its published rows if published, else computed now)."""
    reference = levels.load_reference(session)
    weights = current_weights(session)
    counts = count_month(session, period, now, reference)
    previous_period = periods.previous_month(period, _timezone(session))
    before = publishing.published(session, previous_period.label)
    before_counts = None
    result = {}
    for level in wanted:
        rows = _scored(levels.level_rows(level, counts, reference), weights)
        if level in before:
            previous = before[level].rows
        else:
            if before_counts is None:
                before_counts = count_month(session, previous_period, now, reference)
            previous = _scored(levels.level_rows(level, before_counts, reference), weights)
        result[level] = ranking.add_changes(rows, previous)
    return result


# ---------------------------------------------------------------------------------------------
# Reading


def check_level(user: User, level: str) -> None:
    if level not in LEVELS:
        raise ValidationFailed(f"unknown level {level!r}", {"level": [f"one of {LEVELS}"]})
    if level not in READERS.get(user.role, ()):
        raise Forbidden(f"the role {user.role} may not read the {level} level")


def visible_rows(user: User, level: str, rows: list[dict]) -> list[dict]:
    """A street chief's communities and grids of their street; an inspector's own row."""
    if user.role == Role.STREET_CHIEF and level in ("community", "grid"):
        return [row for row in rows if row["street_id"] == user.org_unit_id]
    if user.role == Role.INSPECTOR:
        return [row for row in rows if row["id"] == user.id]
    return rows


def month_of(session: Session, text: str, now: dt.datetime) -> periods.Period:
    return periods.month(text, _timezone(session), now)


def assessment(
    session: Session,
    user: User,
    period_text: str,
    level: str,
    recompute: bool = False,
    now: dt.datetime | None = None,
) -> dict:
    """A month's rows at one level as ``user`` may see them: the published rows if the
    month was published (``recompute``: the current ones, each with its difference from
    the published one), else the current ones."""
    check_level(user, level)
    now = now or utcnow()
    period = month_of(session, period_text, now)
    publication = publishing.published(session, period.label).get(level)
    answer = {
        "period": period.label,
        "level": level,
        "published": publication is not None,
        "published_at": publication.published_at if publication else None,
        "as_of": min(period.end, now),
    }
    if publication is not None and not recompute:
        rows, weights = publication.rows, publication.weights
    else:
        rows = compute(session, period, (level,), now)[level]
        weights = current_weights(session)
        if publication is not None:
            ranking.add_published_diff(rows, publication.rows)
    return {**answer, "weights": weights, "rows": visible_rows(user, level, rows)}


# ---------------------------------------------------------------------------------------------
# Publishing


def publish(session: Session, user: User, period_text: str, now: dt.datetime | None = None):
    """Freeze every level of a month that is over, with the weights used (409 if it was
    published, 422 if it is not over)."""
    now = now or utcnow()
    period = month_of(session, period_text, now)
    publishing.check_publishable(session, period, now)
    rows = compute(session, period, LEVELS, now)
    weights = current_weights(session)
    publishing.store(session, period.label, rows, weights, user.id, now)
    return {
        "period": period.label,
        "published_at": now,
        "weights": weights,
        "levels": {level: len(level_rows) for level, level_rows in rows.items()},
    }


# ---------------------------------------------------------------------------------------------
# Weights


def _checked_weights(changes: Mapping[str, Mapping[str, float]]) -> dict[str, str]:
    problems = {}
    for subject, weights in changes.items():
        if subject not in SUBJECTS:
            problems[subject] = f"unknown subject; one of {', '.join(SUBJECTS)}"
            continue
        for formula_id, weight in weights.items():
            key = f"{subject}.{formula_id}"
            if formula(subject, formula_id) is None:
                problems[key] = "unknown formula"
            elif not math.isfinite(weight) or not 0 <= weight <= MAX_WEIGHT:
                problems[key] = f"a weight is between 0 and {MAX_WEIGHT:g}"
    return problems


def set_weights(session: Session, user: User, changes: Mapping[str, Mapping[str, float]]):
    """Set some formulas' weights (the others keep theirs); each subject's weights must
    still add up to more than 0. Returns every subject's weights."""
    problems = _checked_weights(changes)
    if problems:
        raise ValidationFailed("unknown subjects or formulas, or weights out of range", problems)
    weights = current_weights(session)
    for subject, given in changes.items():
        weights[subject].update(given)
        if sum(weights[subject].values()) <= 0:
            problems[subject] = "the weights of a subject must add up to more than 0"
    if problems:
        raise ValidationFailed("a subject's weights add up to 0", problems)
    now = utcnow()
    with transaction(session):
        for subject, given in changes.items():
            for formula_id, weight in given.items():
                row = session.get(AssessmentWeight, (subject, formula_id))
                if row is None:
                    row = AssessmentWeight(subject=subject, formula=formula_id)
                    session.add(row)
                row.weight, row.updated_by, row.updated_at = float(weight), user.id, now
    return weights
