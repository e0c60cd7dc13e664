"""The push's batch path for every mutation type (the engine's ``BatchApply``).

A push decides its new mutations one by one, each in a savepoint of its own with its own
record and advance of ``last_mid``: about a third of a follow-up's statements. A run of
them can instead be decided together, in one savepoint with one record and one advance
(``sync.engine._apply_run``). ``FieldBatch`` takes a run of any types:

* consecutive ``report.create`` go to ``ReportBatch`` (``app.cases.bulk_intake``: set-wise
  statements), which takes the longest prefix it can;
* consecutive ``comment.add`` go to ``app.cases.comments.add_comments`` (set-wise too: one
  query for the cases the user may see, one for the ids already used, one ``INSERT``);
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
import uuid
from collections.abc import Sequence
from typing import Protocol

from app.cases import bulk_photos, comments
from app.sync_api.apply import Applier, ReportBatch, attached_photo
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
        ways = {
            MutationType.REPORT_CREATE: ReportBatch(self.applier),
            MutationType.COMMENT_ADD: self._comments,
            MutationType.PHOTO_ATTACH: self._photos,
        }
        outcomes: list[Outcome] = []
        position = 0
        while position < len(mutations):
            way = ways.get(mutations[position].type)
            end = position + 1
            while end < len(mutations) and ways.get(mutations[end].type) is way:
                end += 1
            stretch = mutations[position:end]
            done = (way or self._one_after_another)(stretch)
            outcomes.extend(done)
            if len(done) < len(stretch):
                break
            position = end
        return outcomes

    def _comments(self, stretch: Sequence[Mutation]) -> list[Outcome]:
        """A stretch of ``comment.add`` set-wise, up to the first it cannot simply store."""
        wanted: list[comments.NewComment] = []
        for mutation in stretch:
            args = mutation.args
            try:
                case_id = uuid.UUID(str(args["case_id"]))
            except (KeyError, TypeError, ValueError):
                break
            text = args.get("text")
            wanted.append(
                comments.NewComment(mutation.entity_id, case_id, text, mutation.client_ts)
            )
        applier = self.applier
        taken = comments.add_comments(applier.session, applier.user, applier.device_id, wanted)
        return [Outcome(Status.APPLIED, "comment", item.comment_id) for item in wanted[:taken]]

    def _photos(self, stretch: Sequence[Mutation]) -> list[Outcome]:
        """A stretch of ``photo.attach`` on cases set-wise, up to the first it cannot take
        (a photo on a task, a photo already known, a case out of sight …)."""
        wanted: list[bulk_photos.NewAttach] = []
        for mutation in stretch:
            args = mutation.args
            try:
                if args.get("task_id") or not args.get("case_id"):
                    break
                ref = attached_photo(mutation)
                wanted.append(bulk_photos.NewAttach(uuid.UUID(str(args["case_id"])), ref))
            except (KeyError, TypeError, ValueError, AttributeError):
                break
        applier = self.applier
        taken = bulk_photos.attach_photos_in_bulk(
            applier.session, applier.media, applier.user, applier.device_id, wanted
        )
        return [Outcome(Status.APPLIED, "photo", item.ref.photo_id) for item in wanted[:taken]]

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
