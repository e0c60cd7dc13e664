"""Each mutation type onto the service the REST API uses for the same thing.

``Applier(session, media, user, device_id, policy, store)`` is the ``apply`` the engine
calls: it returns an ``Outcome`` or raises ``sync.conflicts.Refused`` with the stable
reason of the domain error. A ``case.edit`` whose fields partly clash returns a
``conflict`` it opened itself through ``store.open_conflict``: the fields that merged stay
written, so the engine must not roll them back as it does a refusal.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy.orm import Session

from app.accounts.models import User
from app.cases import bulk_intake, comments, tasks
from app.cases.edits import FieldEdits, edit_case_fields
from app.cases.intake import report_case
from app.cases.reports import NewReport
from app.cases.requests import ask_self_handling
from app.cases.services import CasePolicy, PhotoRef, attach_photos, get_case
from app.cases.task_progress import TaskUpdate, update_task
from app.core.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from app.merchants import selfchecks
from app.photos.backends import Media
from sync.conflicts import Refused, edits_from_args
from sync.envelope import Mutation
from sync.mutation_types import MutationType
from sync.outcomes import Outcome, Status


class ConflictOpener(Protocol):
    """The store's ``open_conflict`` (``sync.store.SyncStore``)."""

    def open_conflict(self, device_id: str, mutation: Mutation, refusal: Refused) -> str: ...


@dataclasses.dataclass
class Applier:
    session: Session
    media: Media
    user: User
    device_id: str
    policy: CasePolicy
    # Set once the push's store exists (the store takes ``keep_field_evidence`` from here).
    store: ConflictOpener | None = None

    def __call__(self, mutation: Mutation) -> Outcome:
        try:
            return getattr(self, _HANDLERS[mutation.type])(mutation)
        except DomainError as error:
            raise refused(error) from error

    def report_create(self, mutation: Mutation) -> Outcome:
        reported = report_case(
            self.session,
            self.media,
            self.user,
            self.device_id,
            _new_report(mutation),
            policy=self.policy,
        )
        return _applied("case", reported.case.id, reported.case.version)

    def case_edit(self, mutation: Mutation) -> Outcome:
        """Three-way merge of the fields; a clash opens a conflict with both values while
        the fields that merged stay written."""
        edit = FieldEdits(
            edits_from_args(mutation.args),
            mutation.base_version,
            mutation.client_ts,
            _category_hint(mutation.args),
        )
        edited = edit_case_fields(
            self.session, self.user, self.device_id, mutation.entity_id, edit, policy=self.policy
        )
        case = edited.case
        if edited.status is not Status.CONFLICT:
            return Outcome(edited.status, "case", case.id, version=case.version)
        if self.store is None:
            raise RuntimeError("a case.edit conflict needs the push's store")
        refusal = Refused(
            "field_conflict",
            f"{', '.join(sorted(edited.conflicts))} changed on the server too",
            edited.conflict_errors(),
        )
        conflict_id = self.store.open_conflict(self.device_id, mutation, refusal)
        return Outcome(
            Status.CONFLICT,
            "case",
            case.id,
            version=case.version,
            conflict_id=conflict_id,
            reason=refusal.reason,
        )

    def task_update(self, mutation: Mutation) -> Outcome:
        """A task's progress; completing a task already completed by the same user (their
        other phone) is ``merged``: applied once, the repeat's photos kept on the case."""
        args = mutation.args
        repeat = args["action"] == "complete" and (
            tasks.get_task(self.session, self.user, mutation.entity_id).state == "completed"
        )
        update = TaskUpdate(
            args["action"],
            result=args.get("result"),
            note=args.get("note"),
            photos=photo_refs(args.get("photos")),
            extension_amount=args.get("extension_amount"),
        )
        task = update_task(
            self.session,
            self.media,
            self.user,
            self.device_id,
            mutation.entity_id,
            update,
            policy=self.policy,
        )
        if not repeat:
            return _applied("task", task.id, task.version)
        self.keep_field_evidence(mutation)  # the evidence of both phones is kept
        return Outcome(Status.MERGED, "task", task.id, version=task.version)

    def case_self_handle(self, mutation: Mutation) -> Outcome:
        """Fixed on the spot: a ``self_handle`` request with its after-photo. The same
        user's second one while theirs is pending or approved is ``merged``: applied once,
        its photos kept on the case."""
        args = mutation.args
        _request, repeat = ask_self_handling(
            self.session,
            self.media,
            self.user,
            self.device_id,
            mutation.entity_id,
            note=args.get("note"),
            photos=photo_refs(args.get("photos"), default_kind="closure"),
        )
        case = get_case(self.session, self.user, mutation.entity_id)
        status = Status.MERGED if repeat else Status.APPLIED
        return Outcome(status, "case", case.id, version=case.version)

    def photo_attach(self, mutation: Mutation) -> Outcome:
        """A photo on a case, or on a task's case; the bytes may come before or after."""
        case_id = _case_of(self, mutation.args)
        ref = attached_photo(mutation)
        attach_photos(self.session, self.media, self.user, self.device_id, case_id, [ref])
        return _applied("photo", mutation.entity_id, None)

    def comment_add(self, mutation: Mutation) -> Outcome:
        """A note on a case; the same comment sent again is stored once (applied)."""
        args = mutation.args
        added = comments.add_comment(
            self.session,
            self.user,
            self.device_id,
            uuid.UUID(str(args["case_id"])),
            comment_id=mutation.entity_id,
            text=args["text"],
            client_ts=mutation.client_ts,
        )
        return _applied("comment", added.comment.id, None)

    def selfcheck_create(self, mutation: Mutation) -> Outcome:
        """A merchant's daily frontage self-check; stored once by its UUID."""
        args = mutation.args
        shop_id = args.get("shop_id")
        checked = selfchecks.create_selfcheck(
            self.session,
            self.media,
            self.user,
            self.device_id,
            selfcheck_id=mutation.entity_id,
            shop_id=int(shop_id) if shop_id is not None else None,
            sanitation=args["sanitation"],
            order=args["order"],
            greenery=args["greenery"],
            note=args.get("note"),
            photos=photo_refs(args.get("photos"), default_kind="selfcheck"),
            client_ts=mutation.client_ts,
        )
        return _applied("selfcheck", checked.selfcheck.id, None)

    def keep_field_evidence(self, mutation: Mutation) -> None:
        """A conflicting move's photos stay on the server: registered (so their bytes can
        still be uploaded) and, where the user may still see the case, attached to it."""
        refs = photo_refs(mutation.args.get("photos"))
        if not refs:
            return
        case_id = mutation.entity_id
        if mutation.type is MutationType.TASK_UPDATE:
            try:
                case_id = tasks.get_task(self.session, self.user, mutation.entity_id).case_id
            except DomainError:
                return
        try:
            attach_photos(self.session, self.media, self.user, self.device_id, case_id, refs)
        except DomainError:
            # Out of the user's sight now: the photos stay in the conflict's payload.
            return


@dataclasses.dataclass
class ReportBatch:
    """The engine's ``BatchApply``: a run of ``report.create`` taken in together by
    ``app.cases.bulk_intake.report_cases``, up to the first report that needs
    ``report_case``."""

    applier: Applier

    def accepts(self, mutation: Mutation) -> bool:
        return mutation.type is MutationType.REPORT_CREATE

    def __call__(self, mutations: Sequence[Mutation]) -> list[Outcome]:
        applier = self.applier
        taken = bulk_intake.report_cases(
            applier.session,
            applier.media,
            applier.user,
            applier.device_id,
            [_new_report(mutation) for mutation in mutations],
            applier.policy,
        )
        return [_applied("case", case.case_id, case.version) for case in taken]


def _category(args: Mapping[str, Any]) -> dict:
    return {"code": args["category_code"], **_category_hint(args)}


def _category_hint(args: Mapping[str, Any]) -> dict:
    """``kind`` / ``edition`` of the category a code means, where the phone gave them."""
    hint = {"kind": args.get("category_kind"), "edition": args.get("category_edition")}
    return {name: value for name, value in hint.items() if value}


def _new_report(mutation: Mutation) -> NewReport:
    args = mutation.args
    return NewReport(
        case_id=mutation.entity_id,
        category=_category(args),
        description=args["description"],
        location=args["location"],
        address=args.get("address") or "",
        urgency=args.get("urgency") or "normal",
        photos=photo_refs(args.get("photos")),
        client_ts=mutation.client_ts,
    )


def _case_of(applier: Applier, args: Mapping[str, Any]) -> uuid.UUID:
    if args.get("case_id"):
        return uuid.UUID(str(args["case_id"]))
    task = tasks.get_task(applier.session, applier.user, uuid.UUID(str(args["task_id"])))
    return task.case_id


def photo_refs(raw: Any, default_kind: str | None = None) -> list[dict]:
    """The phone's photo references with UUIDs and datetimes, as the services take them."""
    refs = []
    for photo in raw or ():
        ref = dict(photo)
        ref["photo_id"] = uuid.UUID(str(photo["photo_id"]))
        ref["taken_at"] = timestamp(photo.get("taken_at"))
        if default_kind and not ref.get("kind"):
            ref["kind"] = default_kind
        refs.append(ref)
    return refs


def attached_photo(mutation: Mutation) -> PhotoRef:
    """The photo a ``photo.attach`` names (raises KeyError/AttributeError on a bad shape)."""
    args = mutation.args
    location = args.get("location") or {}
    return PhotoRef(
        photo_id=mutation.entity_id,
        sha256=args["sha256"],
        kind=args["kind"],
        taken_at=timestamp(args.get("taken_at")),
        lat=location.get("lat"),
        lon=location.get("lon"),
    )


def timestamp(value: Any) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else value


def _applied(entity_type: str, entity_id: uuid.UUID, version: int | None) -> Outcome:
    return Outcome(Status.APPLIED, entity_type, entity_id, version=version)


def refused(error: DomainError) -> Refused:
    """A domain error as the engine's refusal: the service's own ``reason`` when it gives
    one, else one by the kind of error."""
    errors = dict(error.errors or {})
    reason = errors.get("reason")
    if not isinstance(reason, str):
        reason = _REASON_OF_ERROR.get(type(error), "validation")
    return Refused(reason, error.message, errors)


# A 409 without a reason is a phone's UUID already naming something else (report_case,
# register_photo); the workflow's 409s all carry their reason.
_REASON_OF_ERROR: dict[type, str] = {
    ValidationFailed: "validation",
    Forbidden: "forbidden",
    NotFound: "not_found",
    Conflict: "id_reused",
}

# The method of ``Applier`` that applies each type (every type has one: a test checks).
_HANDLERS: dict[MutationType, str] = {
    MutationType.REPORT_CREATE: "report_create",
    MutationType.CASE_EDIT: "case_edit",
    MutationType.TASK_UPDATE: "task_update",
    MutationType.CASE_SELF_HANDLE: "case_self_handle",
    MutationType.PHOTO_ATTACH: "photo_attach",
    MutationType.COMMENT_ADD: "comment_add",
    MutationType.SELFCHECK_CREATE: "selfcheck_create",
}
