"""The push's batch path for every mutation type (the engine's ``BatchApply``).

A push decides its new mutations one by one, each in a savepoint of its own with its own
record and advance of ``last_mid``: about a third of a follow-up's statements. A run of
them can instead be decided together, in one savepoint with one record and one advance
(``sync.engine._apply_run``). ``FieldBatch`` takes a run of any types:

* consecutive ``report.create`` go to ``ReportBatch`` (``app.cases.bulk_intake``: set-wise
  statements), which takes the longest prefix it can;
* every other mutation (comments, photos, task moves, edits, self-handling, self-checks)
  goes through the same ``Applier`` as the one-by-one path, one after another inside one
  savepoint for the stretch, with no savepoint, record or counter write of its own.

It only ever reaches the outcomes the one-by-one path would: a mutation the batch cannot
answer ``applied`` (a refusal, a ``merged`` or a ``conflict``, any error) ends the stretch.
The stretch's savepoint is rolled back and the mutations before that one are applied again
in a new savepoint (they passed a moment ago, in the same transaction); the batch returns
them, and the engine decides the one that stopped it the one-by-one way. So a refusal costs
its stretch twice, which a walk, mostly ``applied``, rarely pays.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Sequence
from typing import Protocol

from app.sync_api.apply import Applier, ReportBatch
from sync.envelope import Mutation
from sync.mutation_types import MutationType
from sync.outcomes import Outcome, Status

log = logging.getLogger(__name__)


class Savepoints(Protocol):
    """What ``FieldBatch`` needs of the push's store (``SqlSyncStore``)."""

    def savepoint(self) -> contextlib.AbstractContextManager[None]: ...

    def settle(self) -> None: ...


class _Stopped(Exception):
    """The stretch stopped before ``position``: roll it back and keep what came before."""

    def __init__(self, position: int):
        super().__init__(f"stopped before {position}")
        self.position = position


@dataclasses.dataclass
class FieldBatch:
    applier: Applier
    store: Savepoints

    def accepts(self, mutation: Mutation) -> bool:
        return True

    def __call__(self, mutations: Sequence[Mutation]) -> list[Outcome]:
        """The outcomes of the longest prefix of ``mutations`` applied together."""
        reports = ReportBatch(self.applier)
        outcomes: list[Outcome] = []
        position = 0
        while position < len(mutations):
            is_report = mutations[position].type is MutationType.REPORT_CREATE
            end = position
            while end < len(mutations) and (
                (mutations[end].type is MutationType.REPORT_CREATE) is is_report
            ):
                end += 1
            stretch = mutations[position:end]
            done = reports(stretch) if is_report else self._one_after_another(stretch)
            outcomes.extend(done)
            if len(done) < len(stretch):
                break
            position = end
        return outcomes

    def _one_after_another(self, stretch: Sequence[Mutation]) -> list[Outcome]:
        try:
            return self._applied(stretch)
        except _Stopped as stop:
            if stop.position == 0:
                return []
            return self._applied(stretch[: stop.position], must=True)

    def _applied(self, stretch: Sequence[Mutation], *, must: bool = False) -> list[Outcome]:
        """Each of ``stretch`` through the applier in one savepoint, all ``applied``; else
        ``_Stopped`` at the first that is not (``must``: re-raise what it raised)."""
        outcomes: list[Outcome] = []
        with self.store.savepoint():
            for position, mutation in enumerate(stretch):
                try:
                    outcome = self.applier(mutation)
                    self.store.settle()
                except Exception as error:
                    if must:
                        raise
                    log.debug("sync: the batch stops before mid %s: %r", mutation.mid, error)
                    raise _Stopped(position) from error
                if not isinstance(outcome, Outcome) or outcome.status is not Status.APPLIED:
                    if must:
                        raise TypeError(f"mid {mutation.mid} was {outcome!r} on a second run")
                    raise _Stopped(position)
                outcomes.append(outcome)
        return outcomes
