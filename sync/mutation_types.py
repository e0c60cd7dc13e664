"""The v1 mutation types of API.md and the shape of each one's ``args``.

Shape only: whether a category exists, a task wants a ``result`` or the user may act is
for the services at apply time. For a type that creates something (a case, a photo, a
comment, a self-check) ``entity_id`` is the UUID the phone gave the new thing; for the
others it names the thing acted on (the case of ``case.edit`` and ``case.self_handle``,
the task of ``task.update``).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any

from sync.checks import (
    Check,
    Errors,
    array,
    choice,
    digits,
    nullable,
    number,
    optional,
    required,
    schema,
    sha256_hex,
    text,
    timestamp,
    uuid_text,
)


class MutationType(enum.StrEnum):
    REPORT_CREATE = "report.create"
    CASE_EDIT = "case.edit"
    TASK_UPDATE = "task.update"
    CASE_SELF_HANDLE = "case.self_handle"
    PHOTO_ATTACH = "photo.attach"
    COMMENT_ADD = "comment.add"
    SELFCHECK_CREATE = "selfcheck.create"


class Family(enum.StrEnum):
    """How conflicts are decided for a type (API.md, How conflicts are decided)."""

    CREATE = "create"  # a new thing keyed by the phone's UUID: the same UUID twice is one
    WORKFLOW = "workflow"  # rules 1–2: judged against the state machine as it is now
    FIELD_EDIT = "field_edit"  # rule 3: three-way merge per field
    APPEND = "append"  # rule 4: append-only, keyed by UUID


CRS = ("wgs84", "gcj02", "bd09")
PHOTO_KINDS = ("problem", "closure", "check", "selfcheck")
TASK_ACTIONS = (
    "accept",
    "complete",
    "make_safe",
    "request_return",
    "request_extension",
    "request_suspension",
)
SELFCHECK_MARKS = ("ok", "issue")
CATEGORY_KINDS = ("component", "event")
CATEGORY_EDITIONS = ("cjt214", "gbt47678")
MAX_PHOTOS = 20

location = schema(
    lat=required(number(minimum=-90, maximum=90)),
    lon=required(number(minimum=-180, maximum=180)),
    crs=optional(choice(*CRS)),
)


def photo_ref(*kinds: str) -> Check:
    return schema(
        photo_id=required(uuid_text),
        sha256=required(sha256_hex),
        kind=required(choice(*kinds)),
        taken_at=optional(nullable(timestamp)),
        lat=optional(nullable(number(minimum=-90, maximum=90))),
        lon=optional(nullable(number(minimum=-180, maximum=180))),
    )


def _photos(*kinds: str, min_items: int = 0) -> Check:
    return array(photo_ref(*kinds), min_items=min_items, max_items=MAX_PHOTOS)


description = text(min_len=1, max_len=2000)
address = text(max_len=256)
category_code = digits(min_len=4, max_len=11)
note = text(max_len=2000)


def _edit(check: Check) -> Check:
    return schema(base=required(nullable(check)), new=required(check))


def _at_least_one_field(value: Mapping[str, Any]) -> Errors | None:
    return None if value else ["at least one field"]


def _exactly_one_target(value: Mapping[str, Any]) -> Errors | None:
    if ("case_id" in value) == ("task_id" in value):
        return {"case_id": ["exactly one of case_id, task_id"]}
    return None


# The case fields a phone may edit before filing, each with the shape of its value.
EDITABLE_CASE_FIELDS: dict[str, Check] = {
    "description": description,
    "address": address,
    "location": location,
    "category_code": category_code,
}


@dataclasses.dataclass(frozen=True)
class TypeSpec:
    type: MutationType
    entity_type: str  # what ``entity_id`` names
    family: Family
    args: Check


SPECS: dict[str, TypeSpec] = {
    spec.type.value: spec
    for spec in (
        TypeSpec(
            MutationType.REPORT_CREATE,
            "case",
            Family.CREATE,
            schema(
                category_code=required(category_code),
                # An old four-digit code may be both a component and an event (0101): the
                # kind tells them apart; the edition follows from the code's length.
                category_kind=optional(choice(*CATEGORY_KINDS)),
                category_edition=optional(choice(*CATEGORY_EDITIONS)),
                description=required(description),
                address=optional(address),
                location=required(location),
                urgency=optional(choice("normal", "urgent")),
                photos=optional(_photos("problem")),
            ),
        ),
        TypeSpec(
            MutationType.CASE_EDIT,
            "case",
            Family.FIELD_EDIT,
            schema(
                fields=required(
                    schema(
                        _at_least_one_field,
                        **{name: optional(_edit(c)) for name, c in EDITABLE_CASE_FIELDS.items()},
                    )
                ),
                # Which category a new ``category_code`` means where the code alone is
                # ambiguous (an old four-digit code of a component and of an event).
                category_kind=optional(choice(*CATEGORY_KINDS)),
                category_edition=optional(choice(*CATEGORY_EDITIONS)),
            ),
        ),
        TypeSpec(
            MutationType.TASK_UPDATE,
            "task",
            Family.WORKFLOW,
            schema(
                action=required(choice(*TASK_ACTIONS)),
                result=optional(nullable(choice("pass", "fail"))),
                note=optional(nullable(note)),
                photos=optional(_photos("closure", "check")),
                extension_amount=optional(
                    nullable(number(minimum=0, maximum=1000, exclusive_minimum=True))
                ),
            ),
        ),
        TypeSpec(
            MutationType.CASE_SELF_HANDLE,
            "case",
            Family.WORKFLOW,
            schema(note=optional(nullable(note)), photos=required(_photos("closure", min_items=1))),
        ),
        TypeSpec(
            MutationType.PHOTO_ATTACH,
            "photo",
            Family.APPEND,
            schema(
                _exactly_one_target,
                case_id=optional(uuid_text),
                task_id=optional(uuid_text),
                sha256=required(sha256_hex),
                kind=required(choice(*PHOTO_KINDS)),
                taken_at=optional(nullable(timestamp)),
                location=optional(nullable(location)),
            ),
        ),
        TypeSpec(
            MutationType.COMMENT_ADD,
            "comment",
            Family.APPEND,
            schema(case_id=required(uuid_text), text=required(text(min_len=1, max_len=2000))),
        ),
        TypeSpec(
            MutationType.SELFCHECK_CREATE,
            "selfcheck",
            Family.APPEND,
            schema(
                shop_id=optional(nullable(number(minimum=1, maximum=2**31 - 1))),
                sanitation=required(choice(*SELFCHECK_MARKS)),
                order=required(choice(*SELFCHECK_MARKS)),
                greenery=required(choice(*SELFCHECK_MARKS)),
                note=optional(nullable(note)),
                photos=optional(_photos("selfcheck")),
            ),
        ),
    )
}
