"""Today's desk: the morning's work waiting for the demo dispatcher after the history.

The history runs up to ``now`` and leaves few cases open. ``write_desk`` then starts a
handful of cases within the last hours before ``now``, each taken through the same use
cases as the history (``lives.Steps``: report with the demo camera's photos, move, task
updates, requests, pressing) as far as the console queue it is meant to wait in, so every
queue (``app.console.queries.QUEUES``) has work and the traffic lights differ (urgent
cases reported hours ago are yellow or red). A phone's stale completion of a reassigned
check task and a report with an unknown category go through the sync engine
(``app.sync_api.services.push``, as the push route does): one conflict and one rejected
mutation for the 同步 pages.

Deterministic (its own seed); written with the history, once (``services.load_demo``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import uuid
from collections.abc import Callable, Iterator

from flask import current_app
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.cases.intake import report_case
from app.cases.models import Case
from app.cases.reports import NewReport
from app.cases.tasks import reassign_task
from app.core.clock import utcnow
from app.demo.cast import ROADS, Grid, load_cast
from app.demo.fates import Fate
from app.demo.history import HistoryPlan, Simulation
from app.demo.lives import Steps
from app.photos.backends import Media
from app.pressing.services import escalate_overdue, press_case
from app.sync_api import services as sync_api

DESK_SEED = 20261205
Life = Iterator[dt.datetime]
Progress = Callable[[str], None]
# Each desk case: (category code, source, how far it goes, hours before now it was reported).
# ``report``: waits to be accepted; ``verify``: sent to an inspector who has not answered;
# ``verified``: to file; ``register``: to dispatch; ``return``/``extension``: a request
# pending; ``complete``: to send to check; ``checked``: to close; ``accept``: being handled
# (an urgent one reported hours ago is overdue); ``press``: handled and pressed (督办);
# ``boundary``/``outside``: reported where no one grid holds it (to confirm its routing).
DESK = (
    ("06010", "inspector", "report", 0.4),
    ("09003", "inspector", "report", 1.1),
    ("09009", "hotline", "verify", 1.6),
    ("06012", "hotline", "verified", 2.2),
    ("09001", "open311", "verified", 1.4),
    ("06011", "inspector", "register", 0.9),
    ("04002", "inspector", "register", 2.6),
    ("01003", "inspector", "register", 5.4),  # urgent, six hours: yellow by now
    ("07001", "inspector", "boundary", 0.7),
    ("06003", "hotline", "outside", 1.9),
    ("03005", "inspector", "return", 2.4),
    ("06001", "inspector", "extension", 3.2),
    ("09005", "inspector", "complete", 2.8),
    ("06002", "street_chief", "complete", 3.4),
    ("06010", "inspector", "checked", 3.8),
    ("08002", "inspector", "checked", 4.2),
    ("10001", "inspector", "accept", 3.6),  # urgent, two hours: red
    ("10001", "hotline", "press", 4.4),  # urgent, overdue and pressed by the street chief
    ("01002", "inspector", "press", 6.9),  # urgent, pressed by the dispatcher, then overdue
    ("07002", "inspector", "conflict", 4.0),
)
STAGES = ("register", "dispatch", "accept", "complete", "send_check", "checked")
# How far each kind of desk case goes (how many of ``STAGES``) and the console queues it
# then waits in (``app.console.queries.QUEUES``, named as there).
WAY = {
    "report": (0, ("待受理",)),
    "verify": (0, ("待受理",)),
    "verified": (0, ("待立案",)),
    "register": (1, ("待派遣",)),
    "boundary": (0, ("待受理", "待确认定位")),
    "outside": (0, ("待受理", "待确认定位")),
    "return": (2, ("待审批申请",)),
    "extension": (3, ("待审批申请",)),
    "accept": (3, ("超期",)),
    "press": (3, ("超期", "督办")),
    "complete": (4, ("待派核查",)),
    "conflict": (5, ()),
    "checked": (6, ("待结案",)),
}


@dataclasses.dataclass
class DeskReport:
    cases: int = 0
    counts: dict[str, int] = dataclasses.field(default_factory=dict)
    conflicts: int = 0
    rejected: int = 0
    failures: list[str] = dataclasses.field(default_factory=list)

    def line(self) -> str:
        counted = ", ".join(f"{label} {count}" for label, count in self.counts.items())
        return (
            f"today's desk: {self.cases} cases waiting ({counted}); "
            f"同步: {self.conflicts} conflict, {self.rejected} rejected mutation"
        )


def desk_case_ids(seed: int = DESK_SEED) -> list[uuid.UUID]:
    """The ids the desk's cases get, the same every time."""
    rng = random.Random(seed * 7 + 1)  # not the simulation's: its photos draw from that
    return [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in DESK]


def _fate(sim: Simulation, case_id: uuid.UUID, code: str, source: str, stage: str) -> Fate:
    rng, cast = sim.rng, sim.cast
    topic = next(topic for topic in cast.topics if topic.category.code == code)
    grid = rng.choice(cast.grids)
    lat, lon = grid.point(rng)
    if stage == "boundary":  # on the line between two grids: which one is for a person
        lat, lon = round((grid.north + grid.south) / 2, 6), grid.east
    elif stage == "outside":  # just past the district's western edge
        west = min(grid.west for grid in cast.grids)
        lat, lon = round((grid.north + grid.south) / 2, 6), round(west - 0.0008, 6)
    reporter = _reporter(sim, source, grid)
    return Fate(
        case_id=case_id,
        scene=rng.getrandbits(48),
        source=source,
        reporter=reporter,
        topic=topic,
        grid_street=grid.street_code,
        lat=lat,
        lon=lon,
        address=f"{rng.choice(ROADS)}{rng.randint(1, 300)}号附近",
        description=rng.choice(topic.descriptions),
        urgent=topic.category.limit_type == "urgent_hours",
        # Sent to verify, except where it lies is the question first.
        verify=source in ("hotline", "open311") and stage not in ("boundary", "outside"),
    )


def _reporter(sim: Simulation, source: str, grid: Grid) -> User:
    if source == "inspector":
        return sim.cast.inspectors[grid.code[:12]]
    if source == "street_chief":
        return sim.cast.chiefs[grid.street_code]
    return sim.cast.dispatcher


def _report(sim: Simulation, steps: Steps, fate: Fate) -> None:
    reporter = fate.reporter
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
        urgency="urgent" if fate.urgent else "normal",
        photos=[steps.photo(reporter, fate, "problem", sim.rng.uniform(1, 8))],
        client_ts=sim.now,
    )
    source = fate.source if reporter.role == "dispatcher" else None
    report_case(
        sim.session, sim.camera.media, reporter, steps.device(reporter), report, source=source
    )
    sim.report.cases += 1


def _stage(sim: Simulation, steps: Steps, fate: Fate, stage: str) -> None:
    case_id, handler = fate.case_id, sim.cast.handlers[fate.topic.department.id]
    if stage == "register":
        steps.move(case_id, "register", opinion="符合立案条件")
    elif stage == "dispatch":
        department_id = fate.topic.department.id
        steps.move(case_id, "dispatch", department_id=department_id, opinion="请按时限处置")
    elif stage == "accept":
        steps.work(handler, steps.task(case_id, ("handle",)), "accept")
    elif stage == "complete":
        photo = steps.photo(handler, fate, "closure", sim.rng.uniform(1, 10))
        task = steps.task(case_id, ("handle",))
        steps.work(handler, task, "complete", photos=[photo], note="已处置完毕")
    elif stage == "send_check":
        steps.move(case_id, "send_check", opinion="请核查")
    elif stage == "checked":
        check = steps.task(case_id, ("check",))
        inspector = sim.session.get(User, check.assignee_id)
        photo = steps.photo(inspector, fate, "check", sim.rng.uniform(1, 5))
        steps.work(inspector, check, "complete", result="pass", photos=[photo], note="核查通过")


def _gap(sim: Simulation, low: float = 4, high: float = 12) -> dt.datetime:
    return sim.now + dt.timedelta(minutes=sim.rng.uniform(low, high))


def desk_life(sim: Simulation, fate: Fate, stage: str, desk: DeskReport) -> Life:
    """One desk case from its report as far as ``stage`` (see ``DESK``)."""
    steps = Steps(sim)
    _report(sim, steps, fate)
    if fate.verify:
        yield _gap(sim)
        steps.move(fate.case_id, "send_verify", opinion="请核实")
        if stage == "verify":
            return
        yield _gap(sim, 15, 40)
        verify = steps.task(fate.case_id, ("verify",))
        inspector = sim.session.get(User, verify.assignee_id)
        steps.work(inspector, verify, "complete", result="pass", note="现场核实属实")
    for name in STAGES[: WAY[stage][0]]:
        yield _gap(sim)
        _stage(sim, steps, fate, name)
    yield _gap(sim, 10, 30)
    yield from _ending(sim, steps, fate, stage, desk)


def _ending(sim: Simulation, steps: Steps, fate: Fate, stage: str, desk: DeskReport) -> Life:
    case_id, handler = fate.case_id, sim.cast.handlers[fate.topic.department.id]
    if stage == "return":
        task = steps.task(case_id, ("handle",))
        steps.work(handler, task, "request_return", note="非我单位职责，请改派")
    elif stage == "extension":
        task = steps.task(case_id, ("handle",))
        steps.work(handler, task, "request_extension", note="工程量大，申请延期")
    elif stage == "press":
        presser = sim.cast.chiefs[fate.grid_street] if fate.source == "hotline" else None
        press_case(sim.session, presser or sim.cast.dispatcher, case_id, "已超期，请抓紧处置")
    elif stage == "conflict":
        yield from _stale_completion(sim, steps, fate, desk)


def _stale_completion(sim: Simulation, steps: Steps, fate: Fate, desk: DeskReport) -> Life:
    """The check goes to another inspector while the first, offline, completes it: when
    the first one's phone pushes, the completion is a ``task_reassigned`` conflict."""
    check = steps.task(fate.case_id, ("check",))
    first = sim.session.get(User, check.assignee_id)
    photo = steps.photo(first, fate, "check", 2)
    other = next(user for user in sim.cast.inspectors.values() if user.id != first.id)
    dispatcher = sim.cast.dispatcher
    reassign_task(sim.session, dispatcher, steps.device(dispatcher), check.id, other.id)
    yield _gap(sim, 20, 40)
    done = _mutation(1, "task.update", check.id, photo, action="complete", result="pass")
    done["args"]["note"] = "已整改到位"
    wrong = _mutation(
        2,
        "report.create",
        uuid.UUID(int=sim.rng.getrandbits(128), version=4),
        steps.photo(first, fate, "problem", 30),
        category_code="09099",  # an old phone's code the server does not know
        description="绿化带内有枯枝",
        location={"lat": fate.lat, "lon": fate.lon, "crs": "wgs84"},
    )
    answer = sync_api.push(
        sim.session,
        sim.camera.media,
        first,
        steps.device(first),
        {"device_id": steps.device(first), "mutations": [done, wrong]},
    )
    sim.camera.run_jobs()
    statuses = [str(result.status) for result in answer.results]
    desk.conflicts += statuses.count("conflict")
    desk.rejected += statuses.count("rejected")


def _pressing_run(sim: Simulation) -> Life:
    """The pressing job's run (cron runs it often): overdue cases get their level (督办)."""
    fractions = current_app.config["PRESS_LEVEL_FRACTIONS"]
    escalate_overdue(sim.session, utcnow(), sim.calendar, fractions)
    yield from ()


def _mutation(mid: int, type_: str, entity_id, photo: dict | None, **args) -> dict:
    if photo is not None:
        args["photos"] = [
            {"photo_id": str(photo["photo_id"]), "sha256": photo["sha256"], "kind": photo["kind"]}
        ]
    return {
        "mid": mid,
        "type": type_,
        "entity_id": str(entity_id),
        "base_version": None,
        "args": args,
        "client_ts": (utcnow() - dt.timedelta(minutes=25 - mid)).isoformat(),
    }


def write_desk(
    session: Session,
    media: Media,
    *,
    now: dt.datetime | None = None,
    seed: int = DESK_SEED,
    progress: Progress = lambda _message: None,
) -> DeskReport:
    """Start today's desk cases (``DESK``) before ``now`` and run them up to it."""
    end = (now or utcnow()).astimezone(dt.UTC)
    sim = Simulation(session, media, load_cast(session), HistoryPlan(seed=seed), end)
    desk = DeskReport()
    for case_id, (code, source, stage, hours) in zip(desk_case_ids(seed), DESK, strict=True):
        fate = _fate(sim, case_id, code, source, stage)
        at = end - dt.timedelta(hours=hours * sim.rng.uniform(0.95, 1.05))
        sim.start(at, desk_life(sim, fate, stage, desk), f"desk case {code} ({stage})")
    sim.start(end - dt.timedelta(minutes=3), _pressing_run(sim), "pressing")
    sim.run(lambda _message: None)
    desk.cases = sim.report.cases
    desk.failures = sim.report.failures
    desk.counts = _counts(session, seed)
    return desk


def _counts(session: Session, seed: int) -> dict[str, int]:
    """How many desk cases wait in each queue they were meant for (the console's own
    counts are the console's: the demo does not import it)."""
    labels = (
        "待受理",
        "待立案",
        "待派遣",
        "待确认定位",
        "待审批申请",
        "待派核查",
        "待结案",
        "超期",
        "督办",
    )
    counts = dict.fromkeys(labels, 0)
    for case_id, (_code, _source, stage, _hours) in zip(desk_case_ids(seed), DESK, strict=True):
        if session.get(Case, case_id) is None:
            continue
        for label in WAY[stage][1]:
            counts[label] += 1
    return counts
