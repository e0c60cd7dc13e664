"""Each mutation type onto the service the REST API uses for the same thing.

``Applier(session, media, user, device_id, policy)`` is the ``apply`` the engine calls: it
returns an ``Outcome`` or raises ``sync.conflicts.Refused`` with the stable reason of the
domain error. ``case.edit``, ``comment.add`` and ``selfcheck.create`` have no service yet:
they are ``rejected`` with ``not_supported_yet`` (payload kept, as every reject's).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from app.accounts.models import User
from app.cases import services as cases
from app.core.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from app.photos.backends import Media
from app.tasks import services as tasks
from sync.conflicts import Refused
from sync.envelope import Mutation
from sync.mutation_types import MutationType
from sync.outcomes import Outcome, Status


@dataclasses.dataclass
class Applier:
    session: Session
    media: Media
    user: User
    device_id: str
    policy: cases.CasePolicy

    def __call__(self, mutation: Mutation) -> Outcome:
        handler = _HANDLERS.get(mutation.type)
        if handler is None:
            # Not a refusal of the field work (classify_refusal would make it a conflict):
            # the phone is told, and the payload is kept with the record.
            return Outcome(
                Status.REJECTED,
                mutation.entity_type,
                mutation.entity_id,
                reason="not_supported_yet",
            )
        try:
            return getattr(self, handler)(mutation)
        except DomainError as error:
            raise refused(error) from error

    def report_create(self, mutation: Mutation) -> Outcome:
        args = mutation.args
        reported = cases.report_case(
            self.session,
            self.media,
            self.user,
            self.device_id,
            case_id=mutation.entity_id,
            category={"code": args["category_code"]},
            description=args["description"],
            location=args["location"],
            address=args.get("address") or "",
            urgency=args.get("urgency") or "normal",
            photos=photo_refs(args.get("photos")),
            source=None,
            client_ts=mutation.client_ts,
            policy=self.policy,
        )
        return _applied("case", reported.case.id, reported.case.version)

    def task_update(self, mutation: Mutation) -> Outcome:
        args = mutation.args
        task = tasks.update_task(
            self.session,
            self.media,
            self.user,
            self.device_id,
            mutation.entity_id,
            args["action"],
            result=args.get("result"),
            note=args.get("note"),
            photos=photo_refs(args.get("photos")),
            extension_amount=args.get("extension_amount"),
            policy=self.policy,
        )
        return _applied("task", task.id, task.version)

    def case_self_handle(self, mutation: Mutation) -> Outcome:
        """Fixed on the spot: a ``self_handle`` request with its after-photo."""
        args = mutation.args
        cases.create_request(
            self.session,
            self.media,
            self.user,
            self.device_id,
            mutation.entity_id,
            kind="self_handle",
            reason=args.get("note"),
            photos=photo_refs(args.get("photos"), default_kind="closure"),
        )
        case = cases.get_case(self.session, self.user, mutation.entity_id)
        return _applied("case", case.id, case.version)

    def photo_attach(self, mutation: Mutation) -> Outcome:
        """A photo on a case, or on a task's case; the bytes may come before or after."""
        args = mutation.args
        case_id = _case_of(self, args)
        location = args.get("location") or {}
        ref = {
            "photo_id": mutation.entity_id,
            "sha256": args["sha256"],
            "kind": args["kind"],
            "taken_at": _timestamp(args.get("taken_at")),
            "lat": location.get("lat"),
            "lon": location.get("lon"),
        }
        cases.attach_photos(self.session, self.media, self.user, self.device_id, case_id, [ref])
        return _applied("photo", mutation.entity_id, None)

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
            cases.attach_photos(self.session, self.media, self.user, self.device_id, case_id, refs)
        except DomainError:
            # Out of the user's sight now: the photos stay in the conflict's payload.
            return


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
        ref["taken_at"] = _timestamp(photo.get("taken_at"))
        if default_kind and not ref.get("kind"):
            ref["kind"] = default_kind
        refs.append(ref)
    return refs


def _timestamp(value: Any) -> dt.datetime | None:
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

# The method of ``Applier`` that applies each type served so far.
_HANDLERS: dict[MutationType, str] = {
    MutationType.REPORT_CREATE: "report_create",
    MutationType.TASK_UPDATE: "task_update",
    MutationType.CASE_SELF_HANDLE: "case_self_handle",
    MutationType.PHOTO_ATTACH: "photo_attach",
}
