"""Bounds on a move beyond the state machine: how far an extension may move a deadline,
and whether a case has a first stage to finish (two-stage limits)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.cases.models import Case
from app.cases.services import case_limit
from app.core.errors import Conflict, ValidationFailed
from app.workcalendar.services import get_calendar

# Amounts are floats in the limit's unit: allow for their rounding at the bound.
_SLACK = 1e-9


def check_extension_amount(session: Session, case: Case, amount: float | None) -> float:
    """The amount an extension asks for, in the limit's unit; one limit when not given.

    Extensions are approvals (DOMAIN.md): each at most the category's composite limit (the
    case's limit amount), so no approval moves a deadline further than one more limit. A
    larger amount is a 422 ``extension_over_limit``.
    """
    limit = case_limit(session, case, get_calendar(session))
    if amount is None:
        return limit.amount
    if amount > limit.amount + _SLACK:
        raise ValidationFailed(
            f"an extension is at most the category's limit, {limit.amount:g} {limit.unit}",
            {"reason": "extension_over_limit", "extension_amount": [f"<= {limit.amount:g}"]},
        )
    return amount


def check_stage(case: Case) -> None:
    """``make_safe`` needs a first stage not yet done: 422 ``no_stage`` for a category with
    one stage, 409 ``stage_done`` when it was already reported."""
    if case.stage_deadline is None:
        raise ValidationFailed(
            f"case {case.number}'s category has one stage: nothing to make safe first",
            {"reason": "no_stage"},
        )
    if case.stage_done_at is not None:
        raise Conflict(
            f"the first stage of case {case.number} was done at {case.stage_done_at.isoformat()}",
            {"reason": "stage_done"},
        )
