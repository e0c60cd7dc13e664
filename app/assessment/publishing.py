"""每月通报: publishing a month freezes every level's rows, ranks and the weights used;
reading a published month returns them as published."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.assessment.models import AssessmentPublication
from app.core.db import transaction
from app.core.errors import Conflict, ValidationFailed
from app.workcalendar.periods import Period


def published(session: Session, label: str) -> dict[str, AssessmentPublication]:
    """The month's publication, level by level (empty if it was never published)."""
    return {
        row.level: row
        for row in session.scalars(
            sa.select(AssessmentPublication).where(AssessmentPublication.period == label)
        )
    }


def check_publishable(session: Session, period: Period, now: dt.datetime) -> None:
    if period.end > now:
        raise ValidationFailed(
            f"{period.label} is not over: a month is published once it has ended",
            {"period": ["not over"]},
        )
    if published(session, period.label):
        raise Conflict(f"{period.label} is already published")


def store(
    session: Session,
    label: str,
    level_rows: dict[str, list[dict]],
    weights: dict,
    user_id: int,
    now: dt.datetime,
) -> None:
    """Write one publication row per level, all in one transaction (a second publisher
    racing this one gets the primary key's 409)."""
    try:
        with transaction(session):
            for level, rows in level_rows.items():
                session.add(
                    AssessmentPublication(
                        period=label,
                        level=level,
                        rows=rows,
                        weights=weights,
                        published_by=user_id,
                        published_at=now,
                    )
                )
    except sa.exc.IntegrityError as error:
        raise Conflict(f"{label} is already published") from error
