"""A builder of the case records assessment reads, for hand-computed fixtures.

It inserts ``cases``, ``case_flow`` and ``tasks`` rows directly (SQLAlchemy Core), with the
record fields set exactly as docs/case-workflow.md and docs/assessment.md define them
(``valid``, ``deadline`` already moved by extensions and suspensions, ``closed_on_time`` =
``closed_at <= deadline``, ``handled_on_time``, ``missed_by_id``, a flow step's ``duty``
and ``overdue``), so a test says what the workflow would have recorded without walking
it. Times are given as local (Asia/Shanghai) datetimes of the city, or UTC aware ones.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import uuid
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.cases.models import Case, FlowEntry, Task
from app.grids.models import UnitGrid
from app.orgunits.models import OrgUnit
from tests.case_factories import CaseWorld
from tests.grid_data import COMMUNITY

LOCAL = ZoneInfo("Asia/Shanghai")
_numbers = itertools.count(1)


def local(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> dt.datetime:
    """A local time of the city, as the aware UTC instant the rows keep."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=LOCAL).astimezone(dt.UTC)


@dataclasses.dataclass
class Builder:
    session: Session
    cw: CaseWorld
    seqs: dict = dataclasses.field(default_factory=dict)

    def grid(self, number: int = 1) -> UnitGrid:
        code = f"{COMMUNITY}{number:03d}"
        return self.session.scalars(sa.select(UnitGrid).where(UnitGrid.code == code)).one()

    def case_row(  # noqa: PLR0913 - a fixture names any record field it sets
        self,
        *,
        grid: int | None = 1,
        department: OrgUnit | None = None,
        reported_at: dt.datetime | None = None,
        registered_at: dt.datetime | None = None,
        deadline: dt.datetime | None = None,
        handled_at: dt.datetime | None = None,
        closed_at: dt.datetime | None = None,
        valid: bool | None = True,
        state: str | None = None,
        **fields,
    ) -> dict:
        unit = self.grid(grid) if grid is not None else None
        community = self.cw.world.community
        reported_at = reported_at or registered_at or deadline or closed_at
        row = {
            "id": uuid.uuid4(),
            "number": f"T{next(_numbers):012d}",
            "source": "inspector",
            "category_id": self.cw.category.id,
            "description": "暴露垃圾",
            "address": "中山路",
            "lat": 24.475,
            "lon": 118.081,
            "input_crs": "wgs84",
            "grid_id": unit.id if unit else None,
            "community_id": community.id if unit else None,
            "street_id": self.cw.world.street.id if unit else None,
            "routing": "routed",
            "locate_status": "inside",
            "urgency": "normal",
            "state": state or ("closed" if closed_at else "dispatched"),
            "department_id": department.id if department else None,
            "reporter_id": self.cw.users["inspector"].id,
            "rework_count": 0,
            "extension_count": 0,
            "check_passed": closed_at is not None,
            "press_level": 0,
            "version": 1,
            "valid": valid,
            "reported_at": reported_at,
            "registered_at": registered_at if registered_at else reported_at if valid else None,
            "limit_started_at": registered_at or reported_at,
            "deadline": deadline,
            "handled_at": handled_at,
            "closed_at": closed_at,
            "handled_on_time": (handled_at <= deadline) if handled_at and deadline else None,
            "closed_on_time": (closed_at <= deadline) if closed_at and deadline else None,
            "updated_at": closed_at or reported_at,
            "missed_by_id": None,
            "merged_into_id": None,
        }
        row.update(fields)
        return row

    def cases(self, rows: list[dict]) -> list[uuid.UUID]:
        if rows:
            self.session.execute(Case.__table__.insert(), rows)
        return [row["id"] for row in rows]

    def case(self, **fields) -> uuid.UUID:
        return self.cases([self.case_row(**fields)])[0]

    def flow(
        self,
        case_id: uuid.UUID,
        action: str,
        at: dt.datetime,
        actor=None,
        duty: str | None = None,
        overdue: bool | None = None,
        actor_role: str = "dispatcher",
    ) -> None:
        seq = self.seqs.get(case_id, 0) + 1
        self.seqs[case_id] = seq
        actor = actor or self.cw.users["dispatcher"]
        self.session.execute(
            FlowEntry.__table__.insert(),
            [
                {
                    "case_id": case_id,
                    "seq": seq,
                    "action": action,
                    "from_state": None,
                    "to_state": "dispatched",
                    "actor_id": actor.id,
                    "actor_role": actor_role,
                    "photo_ids": [],
                    "data": {},
                    "duty": duty,
                    "overdue": overdue,
                    "at": at,
                }
            ],
        )

    def task(
        self,
        case_id: uuid.UUID,
        kind: str,
        assignee,
        deadline: dt.datetime,
        completed_at: dt.datetime | None = None,
        state: str | None = None,
    ) -> None:
        self.session.execute(
            Task.__table__.insert(),
            [
                {
                    "id": uuid.uuid4(),
                    "case_id": case_id,
                    "kind": kind,
                    "state": state or ("completed" if completed_at else "open"),
                    "assignee_id": assignee.id,
                    "deadline": deadline,
                    "completed_at": completed_at,
                    "result": "pass" if completed_at else None,
                    "version": 1,
                    "created_at": deadline - dt.timedelta(hours=2),
                    "updated_at": completed_at or deadline,
                }
            ],
        )
