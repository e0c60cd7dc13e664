"""Three months of history for the demo district, written by driving the real use cases.

``write_history`` runs the last three full months before today and the current month so
far (in the city's time zone) as one clock: every case's life (``lives.life``), the
merchants' daily self-checks and the twice-daily pressing run are generators of moments,
taken in time order from one heap. Before each step the service clock is set to its
moment (``app.core.clock.clock_at``), so the flow log, tasks, requests, photos, pressings
and every field a use case fills carry that time, as if the work had really happened.
Nothing is written afterwards to fake it.

Deterministic: one seeded random source decides everything, so the same seed and the same
``now`` write the same history. Steps that would fall after ``now`` are not taken: the
cases they belong to stay open, as the newest cases of a real district do.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import heapq
import itertools
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterator
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from app.cases.models import Case
from app.cases.selfcheck_cases import selfcheck_case_id
from app.core.clock import clock_at, utcnow
from app.core.errors import DomainError
from app.demo.camera import Camera, Shot
from app.demo.cast import Cast, load_cast
from app.demo.fates import draw_fate
from app.demo.lives import life, shop_case
from app.merchants.selfchecks import create_selfcheck
from app.photos.backends import Media
from app.pressing.services import escalate_overdue
from app.workcalendar.services import get_calendar

log = logging.getLogger(__name__)
Progress = Callable[[str], None]
Life = Iterator[dt.datetime]
# Each shop's share of days it does its self-check (门前三包 自查): some miss days.
SELFCHECK_COMPLIANCE = (0.97, 0.9, 0.82, 0.7, 0.93, 0.6)
PRESSING_RUNS = (dt.time(9, 30), dt.time(15, 30))


@dataclasses.dataclass(frozen=True)
class HistoryPlan:
    """How much history: ``months`` full months before the current one, and new cases a
    day (workdays, days off). The default keeps `make run`'s load near a minute on a
    2-core machine (about 220 ms of CPU a case, half of it photos)."""

    seed: int = 12
    months: int = 3
    per_workday: tuple[int, int] = (3, 7)
    per_day_off: tuple[int, int] = (0, 2)
    selfcheck_photo_share: float = 0.2


@dataclasses.dataclass
class HistoryReport:
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    cases: int = 0
    photos: int = 0
    selfchecks: int = 0
    pressing_runs: int = 0
    steps: int = 0
    failures: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0


def history_written(session: Session) -> bool:
    """Whether the demo district already has cases (its history, or anyone's since)."""
    return session.scalar(sa.select(Case.id).limit(1)) is not None


def first_day(today: dt.date, months: int) -> dt.date:
    """The first day of the month ``months`` before ``today``'s."""
    index = today.year * 12 + today.month - 1 - months
    return dt.date(index // 12, index % 12 + 1, 1)


class Simulation:
    """The history's clock: a heap of (moment, order, life); each step runs at its moment."""

    def __init__(self, session: Session, media: Media, cast: Cast, plan: HistoryPlan, end):
        self.session = session
        self.cast = cast
        self.plan = plan
        self.end = end
        self.rng = random.Random(plan.seed)
        self.calendar = get_calendar(session)
        self.tz = ZoneInfo(self.calendar.timezone)
        self.camera = Camera(session, media, self.tz, self.rng)
        self.now = end
        self.report = HistoryReport(end=end)
        self._heap: list = []
        self._order = itertools.count()
        self.began, self.cpu = time.perf_counter(), time.process_time()

    def start(self, at: dt.datetime, steps: Life, name: str) -> None:
        heapq.heappush(self._heap, (at, next(self._order), steps, name))

    def run(self, progress: Progress) -> None:
        month = None
        while self._heap:
            at, _order, steps, name = heapq.heappop(self._heap)
            if at > self.end:
                break  # every later step is after the end too
            local = at.astimezone(self.tz)
            if (local.year, local.month) != month:
                month = (local.year, local.month)
                progress(
                    f"history: {local:%Y-%m} … ({time.perf_counter() - self.began:.0f} s, "
                    f"{time.process_time() - self.cpu:.0f} s CPU)"
                )
            self.now = at
            try:
                with clock_at(at):
                    following = next(steps)
            except StopIteration:
                continue
            except DomainError as error:
                self.report.failures.append(f"{name} at {at.isoformat()}: {error.message}")
                log.warning("demo history: %s failed at %s: %s", name, at, error.message)
                self.session.rollback()
                continue
            self.report.steps += 1
            self.start(max(following, at + dt.timedelta(seconds=1)), steps, name)

    def days(self, first: dt.date) -> Iterator[dt.date]:
        day, last = first, self.calendar.local_date(self.end)
        while day <= last:
            yield day
            day += dt.timedelta(days=1)

    def midnight(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(0), self.tz)


def _arrivals(sim: Simulation, first: dt.date) -> None:
    rng, plan = sim.rng, sim.plan
    for day in sim.days(first):
        workday = sim.calendar.is_workday(day)
        low, high = plan.per_workday if workday else plan.per_day_off
        periods = sim.calendar.periods_on(day) if workday else []
        for _ in range(rng.randint(low, high)):
            fate = draw_fate(rng, sim.cast, workday)
            if fate.urgent:
                at = sim.midnight(day) + dt.timedelta(hours=rng.uniform(0, 24))
            elif fate.source in ("inspector", "street_chief") and periods:
                begin, end = rng.choice(periods)
                at = begin + (end - begin) * rng.random()
            else:
                at = sim.midnight(day) + dt.timedelta(hours=rng.uniform(7.5, 21.5))
            sim.start(at.astimezone(dt.UTC), life(sim, fate), f"case {fate.case_id}")


def _pressing(sim: Simulation, first: dt.date) -> Life:
    fractions = current_app.config["PRESS_LEVEL_FRACTIONS"]
    for day in sim.days(first):
        if not sim.calendar.is_workday(day):
            continue
        for moment in PRESSING_RUNS:
            yield dt.datetime.combine(day, moment, sim.tz).astimezone(dt.UTC)
            escalate_overdue(sim.session, utcnow(), sim.calendar, fractions)
            sim.report.pressing_runs += 1


def _selfchecks(sim: Simulation, first: dt.date, index: int) -> Life:
    shop = sim.cast.shops[index]
    merchant = sim.cast.merchants[shop.id]
    compliance = SELFCHECK_COMPLIANCE[index % len(SELFCHECK_COMPLIANCE)]
    rng = random.Random(sim.plan.seed * 1000 + index)  # its own: shops are independent
    for day in sim.days(first):
        share = compliance if sim.calendar.is_workday(day) else compliance - 0.15
        if rng.random() > share:
            continue
        yield sim.midnight(day) + dt.timedelta(hours=rng.uniform(7.5, 10.5))
        issue = rng.random() < 0.06
        photos = []
        if rng.random() < sim.plan.selfcheck_photo_share:
            shot = Shot(rng.getrandbits(48), "selfcheck", shop.lat, shop.lon, sim.now)
            photos.append(sim.camera.take(merchant, shot))
        selfcheck_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        create_selfcheck(
            sim.session,
            sim.camera.media,
            merchant,
            f"demo-{merchant.username}",
            selfcheck_id=selfcheck_id,
            shop_id=shop.id,
            sanitation="issue" if issue else "ok",
            order="ok",
            greenery="ok",
            note="门前有少量垃圾，已清扫" if issue else None,
            photos=photos,
            client_ts=sim.now,
        )
        sim.report.selfchecks += 1
        if issue:  # a check with an issue opens a case (app/cases/subscribers): worked too
            sim.report.cases += 1
            case_id = selfcheck_case_id(selfcheck_id)
            sim.start(
                sim.now, shop_case(sim, shop, case_id, rng.getrandbits(48)), f"case {case_id}"
            )


@contextlib.contextmanager
def _quick_commits(session: Session) -> Iterator[None]:
    """On SQLite, commits without waiting for the disk while the history is written
    (``synchronous=NORMAL`` under WAL: consistent, only the last commits could be lost
    to a power cut, and a lost demo history is written again by the next load). Its
    thousands of small transactions otherwise spend most of their time in fsync. The
    engine's connections are replaced afterwards, so nothing else runs this way."""
    bind = session.get_bind()
    if not isinstance(bind, sa.Engine) or bind.dialect.name != "sqlite":
        yield  # PostgreSQL, or a test's connection: as it is
        return

    def relax(dbapi_connection, _record, _proxy) -> None:
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    sa.event.listen(bind, "checkout", relax)
    try:
        yield
    finally:
        sa.event.remove(bind, "checkout", relax)
        session.close()
        bind.dispose()


def write_history(
    session: Session,
    media: Media,
    *,
    now: dt.datetime | None = None,
    plan: HistoryPlan = HistoryPlan(),
    progress: Progress = lambda _message: None,
) -> HistoryReport:
    """Write the demo district's history up to ``now`` (default: the clock's now)."""
    started, cpu = time.perf_counter(), time.process_time()
    end = (now or utcnow()).astimezone(dt.UTC)
    sim = Simulation(session, media, load_cast(session), plan, end)
    first = first_day(sim.calendar.local_date(end), plan.months)
    sim.report.start = sim.midnight(first)
    _arrivals(sim, first)
    sim.start(sim.midnight(first), _pressing(sim, first), "pressing")
    for index in range(len(sim.cast.shops)):
        sim.start(sim.midnight(first), _selfchecks(sim, first, index), f"shop {index}")
    with _quick_commits(session):
        sim.run(progress)
    sim.report.photos = sim.camera.taken
    sim.report.seconds = time.perf_counter() - started
    sim.report.cpu_seconds = time.process_time() - cpu
    return sim.report
