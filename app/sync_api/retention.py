"""The retention of the mutation log: outcomes of decided work are forgotten after a
while; what people must still see is kept."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.core.db import transaction
from app.sync_api.models import (
    CONFLICT_RESOLVED,
    EXPIRED,
    SyncConflict,
    SyncDevice,
    SyncFailure,
    SyncMutation,
)
from sync.outcomes import Status

# Outcomes of applied work; rejected and conflict outcomes are what people must see.
PRUNABLE = ("applied", "duplicate", "merged")


@dataclasses.dataclass(frozen=True)
class Pruned:
    """What ``prune_mutations`` deleted, and what it kept past the cut-off for people."""

    cutoff: dt.datetime
    mutations: int
    failures: int
    kept_rejected: int
    kept_open_conflicts: int


def prune_mutations(
    session: Session,
    now: dt.datetime,
    retention: dt.timedelta,
    *,
    batch_size: int = 1000,
    on_progress: Callable[[int], None] | None = None,
) -> Pruned:
    """Forget the outcomes of mutations decided more than ``retention`` before ``now``.

    Forgotten: the payloads and outcomes of applied work (``applied``, ``duplicate``,
    ``merged``) and of conflicts a dispatcher has resolved (the conflict record keeps the
    payload), and the failed-attempt counts of mids decided since. Each such row stays as
    a husk (status ``expired``: the mid and its fingerprint, an empty payload), so a mid re-sent
    with the same content is answered ``duplicate``, reason ``outcome_expired``, and with
    other content ``rejected``, ``mid_reused``, its payload kept as a stray. Kept whole,
    whatever their age: rejected mutations and strays (nobody marks them seen yet, and the
    phone may have dropped them: this is their only copy) and outcomes of conflicts still
    open. Works in batches of ``batch_size``, one transaction each, so a long prune holds
    no lock for long; ``on_progress`` gets the running total.
    """
    cutoff = now - retention
    resolved = sa.select(SyncConflict.id).where(SyncConflict.status == CONFLICT_RESOLVED)
    old = SyncMutation.created_at < cutoff
    prunable = sa.and_(
        old,
        SyncMutation.mid.is_not(None),
        sa.or_(
            SyncMutation.status.in_(PRUNABLE),
            sa.and_(
                SyncMutation.status == Status.CONFLICT.value,
                SyncMutation.conflict_id.in_(resolved),
            ),
        ),
    )
    deleted = 0
    while True:
        with transaction(session):
            ids = session.scalars(
                sa.select(SyncMutation.id)
                .where(prunable)
                .order_by(SyncMutation.id)
                .limit(batch_size)
            ).all()
            if ids:
                session.execute(
                    sa.update(SyncMutation)
                    .where(SyncMutation.id.in_(ids))
                    .values(
                        status=EXPIRED,
                        payload={},
                        reason=None,
                        version=None,
                        conflict_id=None,
                    ),
                    execution_options={"synchronize_session": False},
                )
        if not ids:
            break
        deleted += len(ids)
        if on_progress is not None:
            on_progress(deleted)
    decided = (
        sa.select(SyncDevice.last_mid)
        .where(SyncDevice.id == SyncFailure.device_pk)
        .scalar_subquery()
    )
    with transaction(session):
        failures = session.execute(
            sa.delete(SyncFailure).where(
                SyncFailure.last_failed_at < cutoff, SyncFailure.mid <= decided
            ),
            execution_options={"synchronize_session": False},
        ).rowcount
        kept_rejected = session.scalar(
            sa.select(sa.func.count())
            .select_from(SyncMutation)
            .where(old, SyncMutation.status == Status.REJECTED.value)
        )
        kept_open = session.scalar(
            sa.select(sa.func.count())
            .select_from(SyncMutation)
            .where(old, SyncMutation.status == Status.CONFLICT.value)
        )
    return Pruned(cutoff, deleted, failures, kept_rejected, kept_open)
