"""The push's batch path for every mutation type (the engine's ``BatchApply``).

A push decides its new mutations one by one, each in a savepoint of its own with its own
record and advance of ``last_mid``: about a third of a follow-up's statements. A run of
them can instead be decided together, in one savepoint with one record and one advance
(``sync.engine._apply_run``). ``FieldBatch`` takes a run of any types:

* a *segment* of reports, comments, photo attachments and task moves (a walk: reports,
  follow-ups on the cases just reported, checks of cases sent to check) is applied kind by
  kind: all its ``report.create`` by ``ReportBatch`` (``app.cases.bulk_intake``), then all
  its ``comment.add`` by ``app.cases.comments.add_comments``, all its ``photo.attach`` on
  cases by ``app.cases.bulk_photos`` (each set-wise: a few statements for the kind), then
  its ``task.update`` through the ``Applier`` one after another. The kinds' alternation
  (four reports, three comments, three photos, a check …) no longer costs each short
  stretch its own queries. The segment ends where moving a mutation ahead of those sent
  before it could change an outcome (``commuting_prefix`` says why the rest commute);
* every other mutation (edits, self-handling, self-checks) goes through the same
  ``Applier`` as the one-by-one path, one after another inside one savepoint for the
  stretch, with no savepoint, record or counter write of its own.

It only ever reaches the outcomes the one-by-one path would: a mutation the batch cannot
answer ``applied`` (a refusal, a ``merged`` or a ``conflict``, any error) ends the stretch.
The stretch's savepoint is rolled back and the mutations before that one are applied again
in a new savepoint (they passed a moment ago, in the same transaction); the batch returns
them, and the engine decides the one that stopped it the one-by-one way. So a refusal costs
its stretch twice, which a walk, mostly ``applied``, rarely pays. In a segment, a kind that
stops early may find an earlier kind applied past its stop (a report sent after a refused
comment): the segment is rolled back and its prefix up to the stop applied again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import sqlalchemy as sa

from app.cases import bulk_photos, comments
from app.cases.models import Case, Task
from app.cases.moves import prepare_moves
from app.core import db
from app.sync_api.apply import Applier, ReportBatch, attached_photo
from sync.envelope import Mutation
from sync.mutation_types import MutationType
from sync.outcomes import Outcome, Status

log = logging.getLogger(__name__)


class Savepoints(Protocol):
    """What ``FieldBatch`` needs of the push's store (``SqlSyncStore``)."""

    def savepoint(self) -> contextlib.AbstractContextManager[None]: ...

    def settle(self) -> None: ...


_BUCKETS = frozenset(
    {
        MutationType.REPORT_CREATE,
        MutationType.COMMENT_ADD,
        MutationType.PHOTO_ATTACH,
        MutationType.TASK_UPDATE,
    }
)


def commuting_prefix(segment: Sequence[Mutation], task_cases: Mapping[str, str]) -> int:
    """How many of ``segment`` may be applied kind by kind (reports, comments, photos, then
    task moves) and come to what they come to in the order sent.

    What moves ahead of what, and why that is safe where the keys differ:

    * a report moves ahead of every other kind. It reads what none of them writes except
      the case or photo ids they name: a task move never takes a case into or out of the
      open states (a field user's moves do not close cases), so the duplicates a report
      finds are the same. So the prefix ends before a report that makes a case or photo an
      earlier comment, photo or task move names;
    * comments and photos on cases commute: neither reads what the other writes (a photo
      bumps the case's version and adds to its flow; a comment does neither);
    * comments and photos move ahead of the task moves sent before them, unless the task's
      case is theirs (a move changes the state a photo's flow entry records, and the cases
      a user sees) or the photo is one the task move sends.

    ``task_cases``: the case of each task the segment's task moves name (a task not in it
    is refused one by one, so it names no case). At least one mutation: the first moves
    ahead of nothing."""
    named: set[str] = set()  # what the comments, photos and task moves so far name
    moved: set[str] = set()  # the cases and photos of the task moves so far
    for position, mutation in enumerate(segment):
        args = mutation.args if isinstance(mutation.args, dict) else {}
        kind = mutation.type
        if kind is MutationType.REPORT_CREATE:
            if ({_key(mutation.entity_id)} | _photo_keys(args)) & named:
                return position
            continue
        if kind is MutationType.TASK_UPDATE:
            keys = _photo_keys(args)
            case = task_cases.get(_key(mutation.entity_id))
            keys.add(case if case is not None else _key(mutation.entity_id))
            named.update(keys)
            moved.update(keys)
            continue
        keys = {_key(args.get("case_id"))}
        if kind is MutationType.PHOTO_ATTACH:
            keys.add(_key(mutation.entity_id))
        if keys & moved:
            return position
        named.update(keys)
    return len(segment)


def _photo_keys(args: Mapping) -> set[str]:
    photos = args.get("photos")
    if not isinstance(photos, list):
        return set()
    return {_key(photo.get("photo_id")) for photo in photos if isinstance(photo, dict)}


def _key(value: object) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except (TypeError, ValueError, AttributeError):
        return repr(value)


class _Stopped(Exception):
    """The stretch stopped before ``position``: roll it back and keep what came before."""

    def __init__(self, position: int):
        super().__init__(f"stopped before {position}")
        self.position = position


@dataclasses.dataclass
class FieldBatch:
    applier: Applier
    store: Savepoints
    _held: list = dataclasses.field(default_factory=list, repr=False)
    _case_of: dict[str, uuid.UUID] = dataclasses.field(default_factory=dict, repr=False)

    def accepts(self, mutation: Mutation) -> bool:
        return True

    def __call__(self, mutations: Sequence[Mutation]) -> list[Outcome]:
        """The outcomes of the longest prefix of ``mutations`` applied together."""
        outcomes: list[Outcome] = []
        position = 0
        while position < len(mutations):
            grouped = mutations[position].type in _BUCKETS
            end = position + 1
            while end < len(mutations) and (mutations[end].type in _BUCKETS) == grouped:
                end += 1
            if grouped:
                end = position + commuting_prefix(
                    mutations[position:end], self._task_cases(mutations[position:end])
                )
                done = self._segment(mutations[position:end])
            else:
                done = self._one_after_another(mutations[position:end])
            outcomes.extend(done)
            if len(done) < end - position:
                break
            position = end
        return outcomes

    def _task_cases(self, stretch: Sequence[Mutation]) -> dict[str, str]:
        """The case of each task ``stretch``'s task moves name (one query)."""
        ids = set()
        for mutation in stretch:
            if mutation.type is MutationType.TASK_UPDATE:
                with contextlib.suppress(TypeError, ValueError, AttributeError):
                    ids.add(uuid.UUID(str(mutation.entity_id)))
        self._case_of = {}
        if not ids:
            return {}
        # Loaded whole, with their cases, and held while the batch lives: each move then
        # finds its task and case in the session instead of selecting them again.
        session = self.applier.session
        found = session.scalars(sa.select(Task).where(Task.id.in_(sorted(ids)))).all()
        cases = {task.case_id for task in found}
        self._held = [*found, *session.scalars(sa.select(Case).where(Case.id.in_(cases)))]
        self._case_of = {str(task.id): task.case_id for task in found}
        return {task: str(case) for task, case in self._case_of.items()}

    def _case_ids(self, moves: Sequence[Mutation]) -> set[uuid.UUID]:
        """The cases of the tasks ``moves`` name (as ``_task_cases`` found them)."""
        found = set()
        for mutation in moves:
            with contextlib.suppress(TypeError, ValueError, AttributeError, KeyError):
                found.add(self._case_of[str(uuid.UUID(str(mutation.entity_id)))])
        return found

    def _segment(self, segment: Sequence[Mutation]) -> list[Outcome]:
        """Reports, comments, photos and task moves, kind by kind: the outcomes of the
        longest prefix of ``segment`` each kind's batch takes."""
        return self._settled(segment, self._by_kind)

    def _one_after_another(self, stretch: Sequence[Mutation]) -> list[Outcome]:
        """Other types through the applier in turn, up to the first not ``applied``."""

        def in_turn(run: Sequence[Mutation]) -> tuple[list[Outcome], bool]:
            done = self._moves(run)
            return done, len(done) < len(run)  # the one that stopped went through services

        return self._settled(stretch, in_turn)

    def _settled(
        self,
        stretch: Sequence[Mutation],
        apply: Callable[[Sequence[Mutation]], tuple[list[Outcome], bool]],
    ) -> list[Outcome]:
        """``apply(stretch)`` (its outcomes, and whether it wrote past them) in one
        savepoint; when it wrote past them (a refusal to come, a kind applied past where a
        later kind stopped) the savepoint is rolled back and the prefix up to the stop
        applied again, until what is applied is exactly what is answered."""
        while stretch:
            try:
                with self.store.savepoint():
                    outcomes, overrun = apply(stretch)
                    if overrun:
                        raise _Stopped(len(outcomes))
                return outcomes
            except _Stopped as stop:
                stretch = stretch[: stop.position]
        return []

    def _by_kind(self, segment: Sequence[Mutation]) -> tuple[list[Outcome], bool]:
        """Apply ``segment``'s reports, then its comments, its photos and its task moves, each
        kind up to the first it stops at (and none past where an earlier kind stopped); the
        outcomes in the order sent up to the first stop, and whether anything past it was
        applied (or a task move that stopped it wrote something)."""
        reached = len(segment)
        applied: dict[int, Outcome] = {}
        ways = (
            (MutationType.REPORT_CREATE, ReportBatch(self.applier)),
            (MutationType.COMMENT_ADD, self._comments),
            (MutationType.PHOTO_ATTACH, self._photos),
            (MutationType.TASK_UPDATE, self._task_moves),
        )
        dirty = False
        for kind, way in ways:
            positions = [at for at, m in enumerate(segment[:reached]) if m.type is kind]
            if not positions:
                continue
            done = way([segment[at] for at in positions])
            applied.update(zip(positions, done, strict=False))
            if len(done) < len(positions):
                reached = positions[len(done)]
                # A task move that stopped went through the services: whatever it wrote.
                dirty = kind is MutationType.TASK_UPDATE
        outcomes = [applied[at] for at in range(reached)]
        return outcomes, dirty or len(applied) > reached

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

    def _task_moves(self, stretch: Sequence[Mutation]) -> list[Outcome]:
        """A segment's task moves through the applier as one unit (``db.joined``): no
        savepoint for each service's transaction, the cases' flow and pauses read once. Any
        stop rolls the segment back (``_by_kind`` says it wrote past it), so what a move
        that failed halfway wrote is never kept."""
        session = self.applier.session
        with db.joined(session):
            prepare_moves(session, self.applier.user, self._case_ids(stretch), _photos(stretch))
            done = self._moves(stretch, settle=False)
        if len(done) == len(stretch):  # else the segment is rolled back
            self.store.settle()
        return done

    def _moves(self, stretch: Sequence[Mutation], *, settle: bool = True) -> list[Outcome]:
        """Mutations one after another through the applier (a segment's task moves, a
        stretch of other types), up to the first that is not ``applied``; the caller's
        savepoint is rolled back over what that one wrote."""
        outcomes: list[Outcome] = []
        for mutation in stretch:
            try:
                outcome = self.applier(mutation)
                if settle:
                    self.store.settle()
            except Exception as error:
                log.debug("sync: the segment stops before mid %s: %r", mutation.mid, error)
                break
            if not isinstance(outcome, Outcome) or outcome.status is not Status.APPLIED:
                break
            outcomes.append(outcome)
        return outcomes


def _photos(moves: Sequence[Mutation]) -> list[tuple[uuid.UUID, str]]:
    """The photos (id, sha256) ``moves`` name, those well formed."""
    named = []
    for mutation in moves:
        for photo in (mutation.args or {}).get("photos") or ():
            with contextlib.suppress(TypeError, ValueError, AttributeError, KeyError):
                named.append((uuid.UUID(str(photo["photo_id"])), str(photo["sha256"])))
    return named
