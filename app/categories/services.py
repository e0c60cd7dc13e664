"""Use cases for categories: seed the national ones, list, add local ones, change limits."""

from __future__ import annotations

import dataclasses
import json
import math
from importlib import resources

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.categories.models import (
    EDITIONS,
    KINDS,
    MAJOR_CLASSES,
    Category,
    code_is_well_formed,
)
from app.core.db import transaction
from app.core.errors import Conflict, NotFound, ValidationFailed
from app.workcalendar.worktime import LIMIT_TYPES


@dataclasses.dataclass(frozen=True)
class SeedCounts:
    created: int
    unchanged: int

    @property
    def total(self) -> int:
        return self.created + self.unchanged


def national_categories() -> list[dict]:
    """The national categories shipped in ``data/national.json``."""
    text = resources.files("app.categories").joinpath("data/national.json").read_text("utf-8")
    return json.loads(text)["categories"]


def _check_kind_and_edition(kind: str, edition: str) -> None:
    if kind not in KINDS:
        raise ValidationFailed(f"unknown kind {kind!r}", {"kind": [f"one of {', '.join(KINDS)}"]})
    if edition not in EDITIONS:
        raise ValidationFailed(
            f"unknown edition {edition!r}", {"edition": [f"one of {', '.join(EDITIONS)}"]}
        )


def _check_limit(time_limit: float, limit_type: str) -> None:
    if limit_type not in LIMIT_TYPES:
        raise ValidationFailed(
            f"unknown limit type {limit_type!r}",
            {"limit_type": [f"one of {', '.join(LIMIT_TYPES)}"]},
        )
    if isinstance(time_limit, bool) or not (
        isinstance(time_limit, int | float) and math.isfinite(time_limit) and time_limit > 0
    ):
        raise ValidationFailed(
            "a time limit is a positive number", {"time_limit": ["must be greater than 0"]}
        )


STAGE_FIELDS = ("stage_name", "stage_limit", "stage_limit_type")
_STAGE_NAMES = {"time_limit": "stage_limit", "limit_type": "stage_limit_type"}


def _check_stage(stage: dict) -> dict:
    """A first stage is named and limited, all three or none: its fields as stored."""
    given = {name: stage.get(name) for name in STAGE_FIELDS}
    present = [name for name, value in given.items() if value is not None]
    if not present:
        return given
    missing = [name for name in STAGE_FIELDS if name not in present]
    if missing:
        raise ValidationFailed(
            "a first stage needs its name, limit and limit type together",
            {name: ["required with the other stage fields"] for name in missing},
        )
    if not str(given["stage_name"]).strip():
        raise ValidationFailed("a stage has a name", {"stage_name": ["blank"]})
    try:
        _check_limit(given["stage_limit"], given["stage_limit_type"])
    except ValidationFailed as error:
        raise ValidationFailed(
            f"stage: {error.message}",
            {_STAGE_NAMES.get(name, name): why for name, why in (error.errors or {}).items()},
        ) from None
    return given


def _major_name(kind: str, edition: str, code: str, given: str | None) -> str:
    known = MAJOR_CLASSES[(kind, edition)].get(code[:2])
    if known is not None:
        return known
    if given:
        return given
    raise ValidationFailed(
        f"major class {code[:2]} is not a national one; name it",
        {"major_name": ["required for a major class the national table does not have"]},
    )


def _well_formed_code(edition: str, code: str) -> None:
    if not code_is_well_formed(edition, code):
        digits = 4 if edition == "cjt214" else 5
        raise ValidationFailed(
            f"a {edition} code has {digits} digits: 2 for the major class, then the minor",
            {"code": [f"expected {digits} digits"]},
        )


def find_category(session: Session, kind: str, edition: str, code: str) -> Category | None:
    return session.scalar(
        sa.select(Category).where(
            Category.kind == kind, Category.edition == edition, Category.code == code
        )
    )


def get_category(session: Session, category_id: int) -> Category:
    category = session.get(Category, category_id)
    if category is None:
        raise NotFound(f"category {category_id} does not exist")
    return category


def seed_national_categories(session: Session) -> SeedCounts:
    """Add the national categories that are missing. Existing rows are left untouched,

    so a second run adds nothing and a time limit an admin changed stays as it is.
    """
    with transaction(session):
        existing = {
            (kind, edition, code)
            for kind, edition, code in session.execute(
                sa.select(Category.kind, Category.edition, Category.code)
            )
        }
        created = unchanged = 0
        for entry in national_categories():
            key = (entry["kind"], entry["edition"], entry["code"])
            if key in existing:
                unchanged += 1
                continue
            _check_kind_and_edition(entry["kind"], entry["edition"])
            _well_formed_code(entry["edition"], entry["code"])
            _check_limit(entry["time_limit"], entry["limit_type"])
            stage = _check_stage(entry)
            session.add(
                Category(
                    kind=entry["kind"],
                    edition=entry["edition"],
                    code=entry["code"],
                    major_code=entry["code"][:2],
                    major_name=_major_name(entry["kind"], entry["edition"], entry["code"], None),
                    name=entry["name"],
                    is_local=False,
                    time_limit=entry["time_limit"],
                    limit_type=entry["limit_type"],
                    **stage,
                )
            )
            existing.add(key)
            created += 1
        return SeedCounts(created=created, unchanged=unchanged)


def create_local_category(
    session: Session,
    *,
    kind: str,
    edition: str,
    code: str,
    name: str,
    time_limit: float,
    limit_type: str,
    major_name: str | None = None,
    **stage,
) -> Category:
    """Add a city's own category (is_local). Its code extends a national edition's scheme;
    ``stage``: a first stage's ``stage_name``, ``stage_limit``, ``stage_limit_type``."""
    with transaction(session):
        _check_kind_and_edition(kind, edition)
        _well_formed_code(edition, code)
        _check_limit(time_limit, limit_type)
        stage = _check_stage(stage)
        if find_category(session, kind, edition, code) is not None:
            raise Conflict(
                f"{kind} code {code} already exists in edition {edition}", {"code": ["taken"]}
            )
        category = Category(
            kind=kind,
            edition=edition,
            code=code,
            major_code=code[:2],
            major_name=_major_name(kind, edition, code, major_name),
            name=name,
            is_local=True,
            time_limit=time_limit,
            limit_type=limit_type,
            **stage,
        )
        session.add(category)
        session.flush()
        return category


def update_category(session: Session, category_id: int, changes: dict) -> Category:
    """Change a category's name, time limit, limit type, first stage (its three fields
    together; all three null for none) or whether it is in use."""
    with transaction(session):
        category = get_category(session, category_id)
        time_limit = changes.get("time_limit", category.time_limit)
        limit_type = changes.get("limit_type", category.limit_type)
        _check_limit(time_limit, limit_type)
        if any(name in changes for name in STAGE_FIELDS):
            for name, value in _check_stage(changes).items():
                setattr(category, name, value)
        category.time_limit, category.limit_type = time_limit, limit_type
        for field in ("name", "active"):
            if field in changes:
                setattr(category, field, changes[field])
        return category


def categories_query(
    kind: str | None = None,
    edition: str | None = None,
    major_code: str | None = None,
    is_local: bool | None = None,
    active: bool | None = None,
    q: str | None = None,
) -> sa.Select:
    """Categories by kind, edition, major class, origin, use, and a name fragment or code prefix."""
    stmt = sa.select(Category).order_by(Category.edition, Category.kind, Category.code, Category.id)
    for column, value in (
        (Category.kind, kind),
        (Category.edition, edition),
        (Category.major_code, major_code),
        (Category.is_local, is_local),
        (Category.active, active),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if q:
        pattern = f"%{q}%"
        stmt = stmt.where(sa.or_(Category.name.ilike(pattern), Category.code.like(f"{q}%")))
    return stmt
