"""A month's counts at every level: the aggregate queries run once, their grouped rows
added up into each level's subjects (grid → community → street → district; grid →
inspector through the responsibility grids), then one row per subject with each formula's
numerator, denominator and rate."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import Role, User
from app.assessment import queries
from app.assessment.formulas import (
    DEPARTMENT,
    DISPATCHER,
    INSPECTOR,
    LEVEL_SUBJECTS,
    LEVELS,
    REGION,
    SHIFT_LEADER,
    level_formulas,
    rate_percent,
)
from app.grids.models import ResponsibilityGrid, ResponsibilityGridMember, UnitGrid
from app.orgunits.models import OrgUnit

Tally = dict[str, int]
# level → subject → subject id → count name → count
Counts = dict[str, dict[str, dict[int, Tally]]]

# The duty each counted action belongs to where a step recorded none (docs/case-workflow.md).
ACTION_DUTY = {"register": SHIFT_LEADER, "close": SHIFT_LEADER, "dispatch": DISPATCHER}
# How a step row's columns add to the duty's counts (filed and dispatched start as not
# cancelled and not returned; the cancelled and returned rows take theirs off).
STEP_COUNTS = {
    "register": {
        "steps": ("filed", "filed_not_cancelled"),
        "on_time": ("filed_on_time",),
        "cancelled": ("-filed_not_cancelled",),
    },
    "close": {"steps": ("closed",), "on_time": ("closed_on_time",)},
    "dispatch": {
        "steps": ("dispatched", "dispatched_not_returned"),
        "on_time": ("dispatched_on_time",),
        "returned": ("-dispatched_not_returned",),
    },
}
TASK_COUNTS = {
    "verify": {"due": "verifications_due", "on_time": "verified_on_time"},
    "check": {"due": "checks_due", "on_time": "checked_on_time"},
}
CASE_COUNTS = ("due_to_close", "closed", "closed_on_time", "handled", "handled_on_time")
DEPARTMENT_COUNTS = ("due_to_close", "handled", "handled_on_time")
FILING_COUNTS = ("filed", "public_filed")


@dataclasses.dataclass
class Subject:
    id: int
    code: str
    name: str
    street_id: int | None = None
    duty: str | None = None


@dataclasses.dataclass
class Reference:
    """Who is assessed: the org units, grids and people, and how they nest."""

    units: dict[int, OrgUnit]
    grids: dict[int, tuple[str, str | None, int]]  # id → code, name, community id
    grid_inspector: dict[int, int]
    users: dict[int, tuple[str, str, str | None, str]]  # id → username, name, duty, role

    def district_of(self, street_id: int | None) -> int | None:
        street = self.units.get(street_id) if street_id is not None else None
        return street.parent_id if street is not None else None

    def street_of_community(self, community_id: int | None) -> int | None:
        unit = self.units.get(community_id) if community_id is not None else None
        return unit.parent_id if unit is not None else None


def load_reference(session: Session) -> Reference:
    units = {unit.id: unit for unit in session.scalars(sa.select(OrgUnit))}
    grids = {
        row.id: (row.code, row.name, row.community_id)
        for row in session.execute(
            sa.select(UnitGrid.id, UnitGrid.code, UnitGrid.name, UnitGrid.community_id)
        )
    }
    grid_inspector = dict(
        session.execute(
            sa.select(ResponsibilityGridMember.unit_grid_id, ResponsibilityGrid.inspector_id)
            .join(ResponsibilityGrid)
            .where(ResponsibilityGrid.inspector_id.is_not(None))
        ).all()
    )
    users = {
        row.id: (row.username, row.display_name, row.duty, row.role)
        for row in session.execute(
            sa.select(User.id, User.username, User.display_name, User.duty, User.role).where(
                User.role.in_((Role.INSPECTOR, Role.DISPATCHER))
            )
        )
    }
    return Reference(units, grids, grid_inspector, users)


class Adder:
    """Adds grouped counts into every level's subjects."""

    def __init__(self, reference: Reference) -> None:
        self.ref = reference
        self.counts: Counts = {
            level: {subject: defaultdict(lambda: defaultdict(int)) for subject in subjects}
            for level, subjects in LEVEL_SUBJECTS.items()
        }

    def add(self, level: str, subject: str, key: int | None, values: Iterable[tuple[str, int]]):
        if key is None:
            return
        tally = self.counts[level][subject][key]
        for name, value in values:
            tally[name] += int(value or 0)

    def region(self, row, names: Iterable[str]) -> None:
        values = [(name, getattr(row, name)) for name in names]
        self.add("grid", REGION, row.grid_id, values)
        self.add("community", REGION, row.community_id, values)
        self.add("street", REGION, row.street_id, values)
        self.add("district", REGION, self.ref.district_of(row.street_id), values)

    def due_cases(self, rows) -> None:
        for row in rows:
            self.region(row, CASE_COUNTS)
            values = [(name, getattr(row, name)) for name in DEPARTMENT_COUNTS]
            self.add("department", DEPARTMENT, row.department_id, values)

    def reworks(self, rows) -> None:
        for row in rows:
            self.region(row, ("reworks",))
            self.add("department", DEPARTMENT, row.department_id, [("reworks", row.reworks)])

    def filings(self, rows) -> None:
        for row in rows:
            self.region(row, FILING_COUNTS)
            reports = [("reports", row.reports), ("valid_reports", row.valid_reports)]
            self.add("inspector", INSPECTOR, row.reporter_id, reports)
            self.add("inspector", INSPECTOR, row.missed_by_id, [("missed", row.missed)])
            inspector = self.ref.grid_inspector.get(row.grid_id)
            self.add("inspector", INSPECTOR, inspector, [("filed_in_grids", row.filed)])

    def duty_steps(self, rows, action: str | None = None) -> None:
        """Steps by actor, duty and action; or, with ``action``, the cancelled filings or
        returned dispatches of that action."""
        for row in rows:
            row_action = action or row.action
            duty = row.duty if row.duty in (SHIFT_LEADER, DISPATCHER) else None
            subject = duty or ACTION_DUTY[row_action]
            values = []
            for column, names in STEP_COUNTS[row_action].items():
                if column not in row._fields:
                    continue
                for name in names:
                    sign = -1 if name.startswith("-") else 1
                    values.append((name.lstrip("-"), sign * getattr(row, column)))
            self.add("dispatcher", subject, row.actor_id, values)

    def tasks(self, rows) -> None:
        for row in rows:
            names = TASK_COUNTS[row.kind]
            values = [(names[column], getattr(row, column)) for column in names]
            self.add("inspector", INSPECTOR, row.assignee_id, values)

    def selfchecks(self, rows, name: str) -> None:
        for row in rows:
            street = self.ref.street_of_community(row.community_id)
            value = [(name, getattr(row, name))]
            self.add("community", REGION, row.community_id, value)
            self.add("street", REGION, street, value)
            self.add("district", REGION, self.ref.district_of(street), value)


def count_month(
    session: Session, window: queries.Window, days: list[queries.Day], reference: Reference
) -> Counts:
    """Run the aggregate queries for the month once and add them up into every level."""
    adder = Adder(reference)
    adder.due_cases(session.execute(queries.due_cases(window)))
    adder.reworks(session.execute(queries.reworks(window)))
    adder.filings(session.execute(queries.filings(window)))
    adder.duty_steps(session.execute(queries.duty_steps(window)))
    adder.duty_steps(session.execute(queries.cancelled_filings(window)), "register")
    adder.duty_steps(session.execute(queries.returned_dispatches(window)), "dispatch")
    adder.tasks(session.execute(queries.inspection_tasks(window)))
    if days:
        adder.selfchecks(session.execute(queries.selfcheck_days_due(days)), "days_due")
        adder.selfchecks(session.execute(queries.selfcheck_days_done(days)), "days_selfchecked")
    return adder.counts


# ---------------------------------------------------------------------------------------------
# Subjects and rows


def _units(reference: Reference, kind: str) -> list[Subject]:
    subjects = []
    for unit in reference.units.values():
        if unit.kind != kind:
            continue
        street_id = unit.id if kind == "street" else None
        if kind == "community":
            street_id = unit.parent_id
        subjects.append(Subject(unit.id, unit.code, unit.name, street_id))
    return subjects


def _grids(reference: Reference) -> list[Subject]:
    return [
        Subject(grid_id, code, name or code, reference.street_of_community(community_id))
        for grid_id, (code, name, community_id) in reference.grids.items()
    ]


def _inspectors(reference: Reference) -> list[Subject]:
    return [
        Subject(user_id, username, name)
        for user_id, (username, name, _duty, role) in reference.users.items()
        if role == Role.INSPECTOR
    ]


def _desk(reference: Reference, subject: str, counts: dict[int, Tally]) -> list[Subject]:
    """Dispatcher users with this duty (or none: the three desk duties), or with steps of
    it in the month."""
    return [
        Subject(user_id, username, name, duty=subject)
        for user_id, (username, name, duty, role) in reference.users.items()
        if role == Role.DISPATCHER and (duty in (None, subject) or user_id in counts)
    ]


def subjects_of(level: str, subject: str, reference: Reference, counts: dict[int, Tally]):
    if level in ("district", "street", "community"):
        return _units(reference, level)
    if level == "grid":
        return _grids(reference)
    if level == "department":
        return _units(reference, "department")
    if level == "inspector":
        return _inspectors(reference)
    return _desk(reference, subject, counts)


def formula_figures(level: str, subject: str, tally: Tally) -> dict[str, dict]:
    figures = {}
    for formula in level_formulas(level, subject):
        numerator = tally.get(formula.numerator, 0)
        denominator = tally.get(formula.denominator, 0)
        figures[formula.id] = {
            "numerator": numerator,
            "denominator": denominator,
            "rate": rate_percent(numerator, denominator),
        }
    return figures


def level_rows(level: str, counts: Counts, reference: Reference) -> list[dict]:
    """One row per subject of the level (every subject, with or without figures), sorted
    by code; no score or rank yet."""
    rows = []
    for subject in LEVEL_SUBJECTS[level]:
        tallies = counts[level][subject]
        for who in sorted(subjects_of(level, subject, reference, tallies), key=_code):
            rows.append(
                {
                    "subject": subject,
                    "id": who.id,
                    "code": who.code,
                    "name": who.name,
                    "street_id": who.street_id,
                    "formulas": formula_figures(level, subject, tallies.get(who.id, {})),
                }
            )
    return rows


def _code(subject: Subject) -> tuple[str, int]:
    return subject.code, subject.id


def all_level_rows(counts: Counts, reference: Reference) -> dict[str, list[dict]]:
    return {level: level_rows(level, counts, reference) for level in LEVELS}
