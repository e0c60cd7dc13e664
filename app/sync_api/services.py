"""Push: one device's batch of offline mutations, decided by ``sync.engine`` in one
transaction, each mutation in a savepoint of its own."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.cases.services import CasePolicy
from app.categories.models import Category
from app.core import events
from app.core.db import hold_reference_data
from app.core.errors import DomainError
from app.grids.models import ResponsibilityGrid, ResponsibilityGridMember, Road, UnitGrid
from app.orgunits.models import OrgUnit
from app.photos.backends import Media
from app.sync_api.apply import Applier
from app.sync_api.batches import FieldBatch
from app.sync_api.store import SqlSyncStore, begin_push
from sync import engine
from sync.envelope import EnvelopeError
from sync.outcomes import PushResult

RETRY_AFTER_SECONDS = 5
# Reference rows every mutation of a push looks up again (where a report lies, its
# category): held for the push, so they are loaded once, not once per mutation.
REFERENCE_ROWS = (OrgUnit, UnitGrid, ResponsibilityGrid, ResponsibilityGridMember, Road, Category)


class PushRefused(DomainError):
    """The push as a whole is unusable (``sync.envelope.EnvelopeError``): nothing changed."""

    def __init__(self, error: EnvelopeError):
        super().__init__(error.message, {"reason": error.code, **error.errors})
        self.status_code = error.status


class Interrupted(DomainError):
    """A mutation failed for a reason that may pass; what was decided before it is kept."""

    status_code = 503

    def __init__(self, mid: int):
        super().__init__(
            f"mutation {mid} could not be applied now; send the batch again",
            {"reason": "interrupted", "mid": mid},
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )


def push(
    session: Session,
    media: Media,
    user: User,
    device_id: str,
    body: Any,
    *,
    policy: CasePolicy = CasePolicy(),
    limits: engine.Limits = engine.Limits(),
    batch: bool = True,
) -> PushResult:
    """Decide a push from ``user``'s device ``device_id`` (the token's) and commit it.

    The services run in a session joined to ``session``'s connection in
    ``create_savepoint`` mode: their ``commit()`` releases a savepoint inside the
    mutation's, so a mutation's effects, its recorded outcome and the device's advanced
    ``last_mid`` are committed together, once, at the end of the push.
    ``batch``: runs of new reports go in together (``app.cases.bulk_intake``).
    Raises ``PushRefused`` (4xx, nothing changed) or ``Interrupted`` (503, the decided
    prefix committed: re-sent, it comes back ``duplicate``).
    """
    connection = session.connection()
    begin_push(connection)
    work = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    _hold_reference_rows(work)
    hold_reference_data(work)  # the work calendar, read once for the push's many moves
    # The services' signals wait for the push's own commit: before it, their rows are not
    # visible to anyone else (the evidence checks read in sessions of their own).
    with events.deferred() as announcements:
        try:
            actor = work.get(User, user.id)
            applier = Applier(work, media, actor, device_id, policy)
            store = SqlSyncStore(work, applier.keep_field_evidence)
            applier.store = store  # a case.edit with clashing fields opens its own conflict
            try:
                result = engine.push(
                    store,
                    actor,
                    device_id,
                    body,
                    applier,
                    limits=limits,
                    apply_many=FieldBatch(applier, store) if batch else None,
                )
                interrupted = None
            except engine.PushInterrupted as error:
                result, interrupted = error.result, error
            except EnvelopeError as error:
                raise PushRefused(error) from error
            store.settle()
            work.close()
        except BaseException:
            work.close()  # first: its savepoint lives inside the transaction rolled back next
            session.rollback()
            raise
        session.commit()  # with an interruption too: the decided prefix is sound
    events.release(announcements)
    if interrupted is not None:
        raise Interrupted(interrupted.mid) from interrupted
    return result


def _hold_reference_rows(work: Session) -> None:
    """Keep the reference rows the push loads alive until it ends.

    The session's identity map holds its objects weakly: a grid, its community and street,
    dropped after one mutation, would be selected again by the next (three to six queries
    of a report's ~40). Held, ``get`` and the many-to-one relationships are answered from
    the identity map. They are read as the push's transaction saw them first, which on
    SQLite is its snapshot anyway; a rolled-back mutation expires them and they reload.
    """
    held: list = []

    @sa.event.listens_for(work, "loaded_as_persistent")
    def _hold(_session: Session, instance: object) -> None:
        if isinstance(instance, REFERENCE_ROWS):
            held.append(instance)
