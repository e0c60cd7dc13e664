"""The case record assessment reads, through the API on SQLite and PostgreSQL: the flags
of a case (valid, handled and closed on time, time used, rework count, missed by), and the
clock of every flow step, on the default working calendar (08:00–12:00, 14:00–18:00,
Monday to Friday, Asia/Shanghai) with the server's clock set by the test."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from app.cases.models import Case
from tests import case_factories as cf
from tests.clock import local

MON, TUE, FRI, NEXT_MON = "2026-03-09", "2026-03-10", "2026-03-13", "2026-03-16"
HOUR = 3600.0


@pytest.fixture
def cw(session, world):
    return cf.make_case_world(session, world)


def at(clock, day: str, hhmm: str) -> None:
    clock.set(local(day, hhmm))


def steps(detail: dict) -> dict[str, tuple]:
    """The last flow entry of each action: (time_used, overdue)."""
    return {entry["action"]: (entry["time_used"], entry["overdue"]) for entry in detail["flow"]}


def flags(detail: dict) -> tuple:
    return (
        detail["valid"],
        detail["handled_on_time"],
        detail["closed_on_time"],
        detail["time_used"],
        detail["rework_count"],
    )


class Walk:
    """One case walked through the workflow at the moments the test sets."""

    def __init__(self, client, auth, cw, clock, category=None, **report):
        self.client, self.auth, self.cw, self.clock = client, auth, cw, clock
        self.id = cf.report(client, auth("inspector"), category or cw.category, **report)["id"]

    def act(self, role: str, action: str, when: tuple[str, str] | None = None, **body) -> dict:
        if when:
            at(self.clock, *when)
        return cf.act(self.client, self.auth(role), self.id, action, **body)

    def register(self, when=None) -> dict:
        return self.act("dispatcher", "register", when)

    def dispatch(self, when=None) -> dict:
        return self.act("dispatcher", "dispatch", when, department_id=self.cw.world.department.id)

    def handle(self, when=None) -> dict:
        detail = cf.case(self.client, self.auth("dispatcher"), self.id)
        if detail["state"] == "dispatched":
            self.act("handler", "accept", when)
        return self.act("handler", "submit_closure", when, photos=[cf.photo("closure")])

    def check(self, result: str, when=None) -> dict:
        self.act("dispatcher", "send_check", when)
        action = "check_pass" if result == "pass" else "check_fail"
        extra = {"opinion": "未清理干净"} if result == "fail" else {}
        return self.act("inspector", action, when, photos=[cf.photo("check")], **extra)

    def close(self, when=None) -> dict:
        return self.act("dispatcher", "close", when)


def test_a_case_closed_on_time(client, auth, cw, clock):
    walk = Walk(client, auth, cw, clock)  # reported Monday 09:00
    walk.register((MON, "09:10"))
    walk.dispatch((MON, "09:20"))
    walk.handle((MON, "10:00"))
    walk.check("pass", (MON, "10:30"))
    closed = walk.close((MON, "10:40"))
    assert flags(closed) == (True, True, True, 1.5 * HOUR, 0)
    assert steps(closed) == {
        "report": (None, None),
        "register": (600.0, False),
        "dispatch": (600.0, False),
        "accept": (None, None),
        "submit_closure": (40 * 60.0, False),
        "send_check": (None, None),
        "check_pass": (0.0, False),
        "close": (600.0, False),
    }


def test_a_late_case_across_lunch_and_a_weekend(client, auth, cw, clock):
    """Reported Friday 11:30, filed 14:30 (one working hour: not late), dispatched Monday
    08:30 (four working hours after filing: late), handled 10:00 (the deadline, four working
    hours from filing, was Monday 08:30) and closed 11:00."""
    at(clock, FRI, "11:30")
    walk = Walk(client, auth, cw, clock)
    registered = walk.register((FRI, "14:30"))
    assert registered["deadline"] == local(NEXT_MON, "08:30").astimezone(dt.UTC).isoformat()
    walk.dispatch((NEXT_MON, "08:30"))
    handled = walk.handle((NEXT_MON, "10:00"))
    assert handled["handled_on_time"] is False
    walk.check("pass", (NEXT_MON, "10:30"))
    closed = walk.close((NEXT_MON, "11:00"))
    # Filing to closing: Friday 14:30–18:00 and Monday 08:00–11:00, in working time.
    assert flags(closed) == (True, False, False, 6.5 * HOUR, 0)
    flow = steps(closed)
    assert flow["register"] == (HOUR, False)  # 11:30–12:00 and 14:00–14:30
    assert flow["dispatch"] == (4 * HOUR, True)  # Friday 14:30–18:00, Monday 08:00–08:30
    assert flow["submit_closure"] == (1.5 * HOUR, True)
    assert flow["close"] == (0.5 * HOUR, False)


def test_a_suspension_is_not_counted(client, auth, cw, clock):
    walk = Walk(client, auth, cw, clock)
    walk.register()
    walk.dispatch()
    walk.act("handler", "accept")
    at(clock, MON, "10:00")
    asked = cf.request(client, auth("handler"), walk.id, "suspension", reason="需施工")
    cf.decide(client, auth("dispatcher"), asked["id"])
    walk.act("handler", "resume", (TUE, "10:00"))
    handled = walk.act("handler", "submit_closure", (TUE, "11:00"), photos=[cf.photo("closure")])
    # Monday 09:00–10:00 and Tuesday 10:00–11:00: the working day between stood still.
    assert steps(handled)["submit_closure"] == (2 * HOUR, False)
    assert handled["handled_on_time"] is True  # the deadline moved by the pause
    walk.check("pass", (TUE, "11:10"))
    closed = walk.close((TUE, "11:20"))
    assert closed["time_used"] == 2 * HOUR + 20 * 60


def test_verify_and_check_tasks_have_their_clocks(client, auth, cw, clock):
    walk = Walk(client, auth, cw, clock)
    walk.act("dispatcher", "send_verify", (MON, "09:05"))
    verified = walk.act("inspector", "record_verification", (MON, "11:05"), result="pass")
    assert steps(verified)["record_verification"] == (2 * HOUR, False)
    registered = walk.register((MON, "14:30"))
    # Filing counts from the verification's result: 11:05–12:00 and 14:00–14:30.
    assert steps(registered)["register"] == (85 * 60.0, True)
    walk.dispatch((MON, "14:40"))
    walk.handle((MON, "15:00"))
    walk.act("dispatcher", "send_check", (MON, "15:00"))
    # The check task has four working hours: Monday 15:00 to Tuesday 09:00.
    failed = walk.act(
        "inspector", "check_fail", (TUE, "11:30"), photos=[cf.photo("check")], opinion="没修好"
    )
    assert steps(failed)["check_fail"] == (6.5 * HOUR, True)


def test_a_case_reworked_twice(client, auth, cw, clock):
    walk = Walk(client, auth, cw, clock)
    walk.register()
    walk.dispatch()
    walk.handle((MON, "10:00"))
    failed = walk.check("fail", (MON, "10:30"))
    assert (failed["rework_count"], failed["handled_on_time"]) == (1, None)
    # The rework is a new round: four working hours from 10:30, to 16:30.
    assert failed["deadline"] == local(MON, "16:30").astimezone(dt.UTC).isoformat()
    walk.handle((MON, "17:00"))
    again = walk.check("fail", (TUE, "09:00"))
    assert (again["rework_count"], again["handled_on_time"]) == (2, None)
    handled = walk.handle((TUE, "10:00"))
    assert handled["handled_on_time"] is True
    walk.check("pass", (TUE, "10:10"))
    closed = walk.close((TUE, "10:20"))
    assert flags(closed) == (True, True, True, 9 * HOUR + 20 * 60, 2)
    assert [e["action"] for e in closed["flow"]].count("check_fail") == 2
    late_round = [e for e in closed["flow"] if e["action"] == "submit_closure"]
    assert [e["overdue"] for e in late_round] == [False, True, False]


def test_a_rejected_report_is_not_valid(client, auth, cw, clock):
    walk = Walk(client, auth, cw, clock)
    assert flags(cf.case(client, auth("dispatcher"), walk.id)) == (None, None, None, None, 0)
    rejected = walk.act("dispatcher", "reject", opinion="不属于城管范围")
    assert flags(rejected) == (False, None, None, None, 0)
    assert rejected["flow"][-1]["duty"] == "intake_clerk"


def test_a_self_handled_case_is_valid_and_closed_on_time(client, auth, cw, clock):
    walk = Walk(client, auth, cw, clock)
    asked = cf.request(
        client,
        auth("inspector"),
        walk.id,
        "self_handle",
        reason="已当场处理",
        photos=[cf.photo("closure")],
    )
    at(clock, TUE, "09:00")
    cf.decide(client, auth("dispatcher"), asked["id"])
    done = cf.case(client, auth("dispatcher"), walk.id)
    assert done["state"] == "self_handled"
    assert (done["valid"], done["closed_on_time"], done["time_used"]) == (True, True, None)
    assert done["flow"][-1]["duty"] == "shift_leader"


def test_a_confirmed_public_report_was_missed_by_the_grids_inspector(
    client, auth, cw, clock, session
):
    inspector = cw.users["inspector"]
    hotline = cf.report(client, auth("dispatcher"), cw.category, source="hotline")
    nobodys = cf.report(
        client, auth("dispatcher"), cw.category, source="open311", location=cf.cell(2, 2)
    )
    own = cf.report(client, auth("inspector"), cw.category)
    rejected = cf.report(client, auth("dispatcher"), cw.category, source="hotline")
    for created in (hotline, nobodys, own):
        cf.act(client, auth("dispatcher"), created["id"], "register")
    cf.act(client, auth("dispatcher"), rejected["id"], "reject", opinion="重复")

    def missed_by(created):
        return session.get(Case, uuid.UUID(created["id"])).missed_by_id

    assert missed_by(hotline) == inspector.id
    assert cf.case(client, auth("dispatcher"), hotline["id"])["missed_by_id"] == inspector.id
    assert missed_by(nobodys) is None  # grid 009 has no inspector
    assert missed_by(own) is None  # the inspector found it
    assert missed_by(rejected) is None  # never confirmed
