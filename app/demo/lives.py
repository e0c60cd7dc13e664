"""One case's life in the demo history, as a generator the history's clock runs: each
step calls the real use case (report, verify, register, dispatch, accept, request and
approve, submit the closure with its photo, check, close …) at the moment the clock is
set to, then yields the moment of its next step.

Timing follows the case's own deadline as the use cases set it: a case fated on time
closes within it, a late one after it; moves fall in working hours unless the category's
limit runs round the clock (urgent: manholes, flooding), whose moves come day and night.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Generator

import sqlalchemy as sa

from app.accounts.models import User
from app.cases.intake import report_case
from app.cases.models import Case, CaseRequest, Task
from app.cases.moves import move_case
from app.cases.reports import NewReport
from app.cases.requests import NewRequest, ask_self_handling, create_request, decide_request
from app.cases.task_progress import TaskUpdate, update_task
from app.categories.models import Category
from app.demo.camera import Shot
from app.demo.cast import Topic
from app.demo.fates import Fate
from app.merchants.models import Shop
from app.pressing.services import press_case
from app.workcalendar.worktime import add_limit, working_seconds_between

Life = Generator[dt.datetime, None, None]
MINUTE = 60.0


@dataclasses.dataclass(frozen=True)
class Round:
    """When a handling round's steps happen."""

    accept: dt.datetime
    submit: dt.datetime
    send_check: dt.datetime
    check: dt.datetime
    close: dt.datetime


class Steps:
    """The use cases a life calls, with the history's session, media, clock and cast."""

    def __init__(self, sim) -> None:
        self.sim = sim
        self.session = sim.session

    def device(self, user: User) -> str:
        return f"demo-{user.username}"

    def photo(self, user: User, fate: Fate, kind: str, minutes_ago: float = 2.0) -> dict:
        at = self.sim.now - dt.timedelta(minutes=minutes_ago)
        return self.sim.camera.take(user, Shot(fate.scene, kind, *self._near(fate), at))

    def _near(self, fate: Fate) -> tuple[float, float]:
        rng = self.sim.rng
        return fate.lat + rng.uniform(-0.00005, 0.00005), fate.lon + rng.uniform(-0.00005, 0.00005)

    def move(self, case_id, action: str, user: User | None = None, **args) -> Case:
        user = user or self.sim.cast.dispatcher
        return move_case(
            self.session, self.sim.camera.media, user, self.device(user), case_id, action, args
        )

    def task(self, case_id, kinds: tuple[str, ...]) -> Task:
        return self.session.scalar(
            sa.select(Task)
            .where(
                Task.case_id == case_id, Task.kind.in_(kinds), Task.state.in_(("open", "accepted"))
            )
            .order_by(Task.created_at.desc())
            .limit(1)
        )

    def work(self, user: User, task: Task, action: str, **update) -> None:
        update_task(
            self.session,
            self.sim.camera.media,
            user,
            self.device(user),
            task.id,
            TaskUpdate(action, **update),
        )

    def approve(self, case_id, kind: str, opinion: str) -> None:
        request_id = self.session.scalar(
            sa.select(CaseRequest.id).where(
                CaseRequest.case_id == case_id,
                CaseRequest.kind == kind,
                CaseRequest.status == "pending",
            )
        )
        user = self.sim.cast.dispatcher
        decide_request(
            self.session, user, self.device(user), request_id, approve=True, opinion=opinion
        )


def _after(sim, minutes: float, urgent: bool, base: dt.datetime | None = None) -> dt.datetime:
    base = base or sim.now
    if urgent:
        return base + dt.timedelta(minutes=minutes)
    return add_limit(base, minutes / 60, "working_hours", sim.calendar)


def plan_round(sim, case: Case, fate: Fate, late: bool) -> Round:
    """The round's steps, placed so that it closes within the deadline (or after it)."""
    rng, start, urgent = sim.rng, sim.now, fate.urgent
    if urgent:
        window = max((case.deadline - start).total_seconds(), 0.0)
    else:
        window = working_seconds_between(start, case.deadline, sim.calendar)
    share = rng.uniform(1.1, 2.2) if late else rng.uniform(0.35, 0.92)
    total = max(window * share, 25 * MINUTE)
    if late:
        total = max(total, window + rng.uniform(20, 240) * MINUTE)
    accept = min(rng.uniform(5, 45) * MINUTE, 0.1 * total)
    send_check = min(rng.uniform(3, 25) * MINUTE, 0.05 * total)
    check = min(rng.uniform(15, 120) * MINUTE, 0.15 * total)
    close = min(rng.uniform(3, 25) * MINUTE, 0.05 * total)
    offsets = [accept, total - send_check - check - close, total - check - close, total - close]
    offsets.append(total)
    times = [_after(sim, offset / MINUTE, urgent, start) for offset in offsets]
    return Round(*times)


def life(sim, fate: Fate) -> Life:
    """The case of ``fate`` from its report to its end (or to the history's end)."""
    steps, rng, urgent = Steps(sim), sim.rng, fate.urgent
    reporter, dispatcher = fate.reporter, sim.cast.dispatcher
    report = NewReport(
        case_id=fate.case_id,
        category={
            "kind": fate.topic.category.kind,
            "edition": fate.topic.category.edition,
            "code": fate.topic.category.code,
        },
        description=fate.description,
        location={"lat": fate.lat, "lon": fate.lon},
        address=fate.address,
        urgency="urgent" if urgent else "normal",
        photos=[steps.photo(reporter, fate, "problem", rng.uniform(1, 10))],
        client_ts=sim.now,
    )
    source = fate.source if reporter.role == "dispatcher" else None
    case = report_case(
        sim.session, sim.camera.media, reporter, steps.device(reporter), report, source=source
    ).case
    case_id = case.id
    sim.report.cases += 1
    if fate.self_handled:
        yield sim.now + dt.timedelta(minutes=rng.uniform(5, 25))
        photo = steps.photo(reporter, fate, "closure", 1)
        ask_self_handling(
            sim.session,
            sim.camera.media,
            reporter,
            steps.device(reporter),
            case_id,
            note="已现场处理",
            photos=[photo],
        )
        yield _after(sim, rng.uniform(3, 30), urgent)
        steps.approve(case_id, "self_handle", "同意自处理")
        return
    yield _after(sim, rng.uniform(2, 25), urgent)
    if fate.verify:
        steps.move(case_id, "send_verify", opinion="请核实")
        yield _after(sim, rng.uniform(20, 150), urgent)
        verify = steps.task(case_id, ("verify",))
        inspector = sim.session.get(User, verify.assignee_id)
        result = "fail" if fate.rejected else "pass"
        steps.work(
            inspector,
            verify,
            "complete",
            result=result,
            note="现场核实" + ("不属实" if fate.rejected else "属实"),
        )
        yield _after(sim, rng.uniform(2, 30), urgent)
    if fate.rejected:
        steps.move(case_id, "reject", opinion="经核实不属于城市管理问题")
        return
    steps.move(case_id, "register", opinion="符合立案条件")
    yield _after(sim, rng.uniform(70, 150) if fate.late_dispatch else rng.uniform(3, 40), urgent)
    yield from _dispatching(sim, steps, fate, case_id)
    if fate.cancelled:
        yield _after(sim, rng.uniform(30, 240), urgent)
        handler = sim.cast.handlers[fate.topic.department.id]
        create_request(
            sim.session,
            sim.camera.media,
            handler,
            steps.device(handler),
            case_id,
            NewRequest("cancellation", reason="产权单位已自行处理，申请作废"),
        )
        yield _after(sim, rng.uniform(5, 60), urgent)
        steps.approve(case_id, "cancellation", "同意作废")
        return
    for round_ in range(fate.reworks + 1):
        yield from _handling_round(sim, steps, fate, case_id, round_)
    del dispatcher


def shop_case(sim, shop: Shop, case_id, scene: int) -> Life:
    """The case a merchant's self-check with an issue opened (门前三包): registered,
    dispatched to the shop, rectified, checked and closed like any other."""
    steps, rng = Steps(sim), sim.rng
    case = sim.session.get(Case, case_id)
    if case is None or case.state != "reported":
        return
    department = sim.cast.departments["D-HW"]
    fate = Fate(
        case_id=case_id,
        scene=scene,
        source="merchant",
        reporter=sim.cast.merchants[shop.id],
        topic=Topic(sim.session.get(Category, case.category_id), department, 0, []),
        grid_street="",
        lat=shop.lat,
        lon=shop.lon,
        address=shop.address,
        description=case.description,
        urgent=False,
        shop=shop,
    )
    yield _after(sim, rng.uniform(5, 60), False)
    steps.move(case_id, "register", opinion="商户自查发现问题，立案")
    yield _after(sim, rng.uniform(3, 40), False)
    yield from _dispatching(sim, steps, fate, case_id)
    yield from _handling_round(sim, steps, fate, case_id, 0)


def _dispatching(sim, steps: Steps, fate: Fate, case_id) -> Life:
    rng, urgent = sim.rng, fate.urgent
    if fate.shop is not None:
        steps.move(case_id, "dispatch", shop_id=fate.shop.id, opinion="请商户整改门前问题")
        return
    if fate.returned_from is not None:
        steps.move(case_id, "dispatch", department_id=fate.returned_from.id, opinion="请处置")
        yield _after(sim, rng.uniform(20, 90), urgent)
        wrong = sim.cast.handlers[fate.returned_from.id]
        steps.work(wrong, steps.task(case_id, ("handle",)), "request_return", note="非我单位职责")
        yield _after(sim, rng.uniform(5, 40), urgent)
        steps.approve(case_id, "return", "同意回退，改派")
        yield _after(sim, rng.uniform(3, 20), urgent)
    steps.move(case_id, "dispatch", department_id=fate.topic.department.id, opinion="请按时限处置")


def _worker(sim, fate: Fate) -> User:
    if fate.shop is not None:
        return sim.cast.merchants[fate.shop.id]
    return sim.cast.handlers[fate.topic.department.id]


def _handling_round(sim, steps: Steps, fate: Fate, case_id, round_: int) -> Life:
    rng, urgent, session = sim.rng, fate.urgent, sim.session
    worker = _worker(sim, fate)
    last = round_ == fate.reworks
    case = session.get(Case, case_id)
    plan = plan_round(sim, case, fate, fate.late and last)
    yield plan.accept
    task = steps.task(case_id, ("handle", "rectify"))
    steps.work(worker, task, "accept")
    if round_ == 0 and fate.suspension:
        yield _after(sim, rng.uniform(30, 240), urgent)
        steps.work(worker, task, "request_suspension", note="需产权单位确认，申请挂账")
        yield _after(sim, rng.uniform(10, 90), urgent)
        steps.approve(case_id, "suspension", "同意挂账")
        yield _after(sim, rng.uniform(1, 4) * 8 * 60, urgent)
        steps.move(case_id, "resume", user=worker, opinion="条件具备，恢复处置")
        plan = plan_round(sim, session.get(Case, case_id), fate, fate.late and last)
    if round_ == 0 and fate.extension:
        yield min(plan.submit, _after(sim, rng.uniform(30, 180), urgent))
        steps.work(worker, task, "request_extension", note="工程量大，申请延期")
        yield _after(sim, rng.uniform(10, 60), urgent)
        steps.approve(case_id, "extension", "同意延期")
        plan = plan_round(sim, session.get(Case, case_id), fate, fate.late and last)
    if fate.pressed_by_hand and last:
        deadline = session.get(Case, case_id).deadline
        pressed_at = _after(sim, rng.uniform(20, 120), urgent, max(deadline, sim.now))
        if pressed_at < plan.submit:
            yield pressed_at
            chief = sim.cast.chiefs[fate.grid_street]
            press_case(session, chief, case_id, "已超期，请抓紧处置")
    yield plan.submit
    photo = steps.photo(worker, fate, "closure", rng.uniform(1, 15))
    steps.work(worker, task, "complete", photos=[photo], note="已处置完毕")
    yield plan.send_check
    steps.move(case_id, "send_check", opinion="请核查")
    yield plan.check
    check = steps.task(case_id, ("check",))
    inspector = session.get(User, check.assignee_id)
    photo = steps.photo(inspector, fate, "check", rng.uniform(1, 5))
    if last:
        steps.work(inspector, check, "complete", result="pass", photos=[photo], note="核查通过")
    else:
        steps.work(
            inspector, check, "complete", result="fail", photos=[photo], note="未处置到位，返工"
        )
        return
    yield plan.close
    steps.move(case_id, "close", opinion="结案")
