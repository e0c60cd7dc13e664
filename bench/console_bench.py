"""The console's pages at a million cases against the same pages at ten thousand.

Two databases of one district (20 streets, 100 communities, 1,000 unit grids laid out as
400 m squares, 100 inspectors, 50 departments; ``bench/assessment_bench.generate``), one with
``--small`` cases (10,000) and one with ``--large`` (1,000,000), each case placed inside its
grid. A city's history grows; its open work does not: in both databases the newest
``--open`` cases (2,000) are open, spread over the centre's queues (reported, verifying,
registered, dispatched, handled, checking, returned; some pressed, some waiting for the
routing to be confirmed, some with a pending request), the rest are closed or rejected.

A dispatcher signs in to each app through the console's form; then, round robin over
both databases, each page is asked ``--rounds`` times with Flask's test client (the
server's whole time for the request: routing, queries, rendering), median kept:

- queues: 待受理, 待派遣, 超期, 全部 (unfiltered, by street, by number), and the poll;
- case page: an open case and an old closed one, and the case page's map layers;
- map: the page, a street's extent, and the layers of one street in view.

Target (issue 13): each page at ``--large`` within 3× of the same page at ``--small``.

    .venv/bin/python bench/console_bench.py [--small 10000] [--large 1000000] [--rounds 7]
        [--postgres URL] [--no-sqlite] [--keep DIR] [--reuse]

With ``--postgres``, the URL names the large database; the small one is the same name
with ``_small`` appended (both are emptied and created if needed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import assessment_bench as district

from app import create_app
from app.accounts.passwords import hash_password, use_fast_hashing_for_tests
from app.core.clock import clock_at
from app.core.db import make_engine
from app.models import metadata

COLUMNS, CELL = 40, 0.004  # grids: 40 to a row, 0.004° (about 400 m) square
WEST, SOUTH = 118.05, 24.40
END = district.BASE + dt.timedelta(seconds=district.SPAN)  # the newest report
NOW = (END + dt.timedelta(hours=2)).replace(tzinfo=dt.UTC)
PASSWORD = "bench-pass-2026"
DISPATCHER = f"u{district.DISPATCHER0}"
OPEN_STATES = (
    "reported",
    "verifying",
    "registered",
    "dispatched",
    "dispatched",
    "dispatched",
    "handled",
    "checking",
    "returned",
    "dispatched",
)

# Each case inside its grid's square, at a point drawn from its number.
CASE_COLUMNS = {
    "lon": f"{WEST} + (g % {COLUMNS}) * {CELL} + ((i * 53) % 97) * {CELL / 100}",
    "lat": f"{SOUTH} + (g / {COLUMNS}) * {CELL} + ((i * 37) % 97) * {CELL / 100}",
}


def _square(g: int) -> tuple[str, tuple[float, float, float, float]]:
    west, south = WEST + (g % COLUMNS) * CELL, SOUTH + (g // COLUMNS) * CELL
    east, north = west + CELL, south + CELL
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    geometry = json.dumps({"type": "Polygon", "coordinates": [ring]})
    return geometry, (west, south, east, north)


def _place_grids(connection: sa.Connection) -> None:
    grids = metadata.tables["unit_grids"]
    for g in range(district.GRIDS):
        geometry, (west, south, east, north) = _square(g)
        connection.execute(
            grids.update()
            .where(grids.c.id == 1 + g)
            .values(geometry=geometry, min_lon=west, min_lat=south, max_lon=east, max_lat=north)
        )


def _close_the_rest(connection: sa.Connection) -> None:
    """The district generator leaves 2 % of its cases dispatched for ever; here they closed
    on their deadline (so that only the newest cases are open)."""
    cases = metadata.tables["cases"]
    connection.execute(
        cases.update()
        .where(cases.c.state == "dispatched")
        .values(
            state="closed",
            handled_at=cases.c.deadline,
            closed_at=cases.c.deadline,
            handled_on_time=True,
            closed_on_time=True,
            check_passed=True,
        )
    )


def _open_newest(connection: sa.Connection, count: int) -> int:
    """The newest ``count`` cases become open, spread over the queues."""
    cases, tasks = metadata.tables["cases"], metadata.tables["tasks"]
    requests = metadata.tables["case_requests"]
    rows = connection.execute(
        sa.select(cases.c.id, cases.c.reported_at, cases.c.department_id, cases.c.grid_id)
        .order_by(cases.c.reported_at.desc())
        .limit(count)
    ).all()
    for k, (case_id, reported_at, department_id, grid_id) in enumerate(rows):
        state = OPEN_STATES[k % len(OPEN_STATES)]
        filed = state not in ("reported", "verifying")
        connection.execute(
            cases.update()
            .where(cases.c.id == case_id)
            .values(
                state=state,
                valid=True if filed else None,
                department_id=department_id or district.DEPARTMENT0 + k % district.DEPARTMENTS,
                routing="needs_confirmation" if k % 23 == 0 else "routed",
                press_level=1 if k % 17 == 0 else 0,
                closed_at=None,
                closed_on_time=None,
                handled_at=reported_at + dt.timedelta(hours=3) if state == "handled" else None,
                handled_on_time=None,
                check_passed=state == "checking" and k % 2 == 1,
                registered_at=reported_at + dt.timedelta(minutes=10) if filed else None,
                deadline=reported_at + dt.timedelta(hours=4 + k % 40) if filed else None,
            )
        )
        connection.execute(
            tasks.delete().where(tasks.c.case_id == case_id, tasks.c.kind == "check")
        )
        if state == "verifying" and k % 20 == 1:
            connection.execute(
                tasks.insert().values(
                    id=uuid.uuid4(),
                    case_id=case_id,
                    kind="verify",
                    state="open",
                    assignee_id=district.INSPECTOR0 + (grid_id - 1) // 10,
                    version=1,
                    deadline=reported_at + dt.timedelta(hours=2),
                    created_at=reported_at,
                    updated_at=reported_at,
                )
            )
        if state == "dispatched" and k % 7 == 0:
            connection.execute(
                requests.insert().values(
                    id=uuid.uuid4(),
                    case_id=case_id,
                    kind="return",
                    status="pending",
                    requested_by=district.INSPECTOR0,
                    reason="非本部门职责",
                    created_at=reported_at + dt.timedelta(hours=1),
                )
            )
    return len(rows)


def build(url: str, cases: int, open_cases: int, label: str) -> None:
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
            connection.exec_driver_sql("CREATE SCHEMA public")
    else:
        metadata.drop_all(engine)
    metadata.create_all(engine)
    started = time.perf_counter()
    print(f"[{label}] generating {cases:,} cases", file=sys.stderr)
    district.generate(engine, cases, CASE_COLUMNS)
    with engine.begin() as connection:
        _place_grids(connection)
        _close_the_rest(connection)
        opened = _open_newest(connection, open_cases)
        users = metadata.tables["users"]
        connection.execute(
            users.update()
            .where(users.c.username == DISPATCHER)
            .values(password_hash=hash_password(PASSWORD))
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("ANALYZE")
    engine.dispose()
    print(
        f"[{label}] built in {time.perf_counter() - started:.0f} s, {opened:,} open",
        file=sys.stderr,
    )


class Site:
    """One database's app, a dispatcher signed in, and the pages to time."""

    def __init__(self, url: str, media: str) -> None:
        self.app = create_app(
            {"SQLALCHEMY_DATABASE_URL": url, "MEDIA_ROOT": media, "UPLOADS_ROOT": media}
        )
        self.client = self.app.test_client()
        login = self.client.get("/console/login").get_data(as_text=True)
        token = login.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        answer = self.client.post(
            "/console/login",
            data={"username": DISPATCHER, "password": PASSWORD, "csrf_token": token},
        )
        assert answer.status_code in (302, 303), answer.status_code
        self.pages = self._pages(make_engine(url))

    def _pages(self, engine: sa.Engine) -> dict[str, str]:
        cases = metadata.tables["cases"]
        with engine.connect() as connection:
            open_case, number = connection.execute(
                sa.select(cases.c.id, cases.c.number)
                .where(cases.c.state == "dispatched")
                .order_by(cases.c.reported_at.desc())
                .limit(1)
            ).one()
            closed_case = connection.execute(
                sa.select(cases.c.id)
                .where(cases.c.state == "closed")
                .order_by(cases.c.reported_at)
                .limit(1)
            ).scalar_one()
        engine.dispose()
        street = district.STREET0 + 3
        # Street 3's grids: 150-199, rows 3 and 4 of the layout; a 2 × 1.2 km view of them.
        west, south = WEST + 10 * CELL, SOUTH + 3 * CELL
        bbox = f"{west},{south},{west + 5 * CELL},{south + 3 * CELL}"
        return {
            "queue 待受理": "/console/queues?queue=to_accept",
            "queue 待派遣": "/console/queues?queue=to_dispatch",
            "queue 超期": "/console/queues?queue=overdue",
            "queue 全部": "/console/queues?queue=all",
            "queue 全部, page 5": "/console/queues?queue=all&page=5",
            "queue 全部, street": f"/console/queues?queue=all&street_id={street}",
            "queue 全部, number": f"/console/queues?queue=all&number={number}",
            "queue poll": "/console/queues/live?queue=to_accept",
            "case page, open": f"/console/cases/{open_case}",
            "case page, closed": f"/console/cases/{closed_case}",
            "case map layers": f"/console/cases/{open_case}/map",
            "map page": "/console/map",
            "map extent, street": f"/console/map/data?street_id={street}",
            "map layers, street": f"/console/map/data?street_id={street}&bbox={bbox}",
        }

    def time(self, path: str) -> float:
        started = time.perf_counter()
        answer = self.client.get(path)
        took = time.perf_counter() - started
        if answer.status_code != 200:
            raise SystemExit(f"{path}: {answer.status_code} {answer.get_data(as_text=True)[:300]}")
        return took


def measure(small: Site, large: Site, rounds: int) -> dict[str, tuple[float, float]]:
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in small.pages}
    with clock_at(NOW):
        for name in small.pages:  # warm both (caches, statement compilation)
            small.time(small.pages[name])
            large.time(large.pages[name])
        for _ in range(rounds):
            for name, (at_small, at_large) in times.items():
                at_small.append(small.time(small.pages[name]))
                at_large.append(large.time(large.pages[name]))
    return {name: (statistics.median(a), statistics.median(b)) for name, (a, b) in times.items()}


def report(label: str, sizes: tuple[int, int], figures: dict[str, tuple[float, float]]) -> bool:
    small, large = sizes
    load = os.getloadavg()
    print(f"\n{label}: console pages, server time (median), load {load[0]:.1f} {load[1]:.1f}")
    print(f"  {'page':24} {small:>10,} {large:>10,}   ratio (target <= 3)")
    worst = 0.0
    for name, (a, b) in figures.items():
        ratio = b / a
        worst = max(worst, ratio)
        print(f"  {name:24} {a * 1000:8.1f}ms {b * 1000:8.1f}ms   {ratio:5.2f}")
    print(f"  worst ratio {worst:.2f}")
    return worst <= 3.0


def _postgres_pair(url: str) -> tuple[str, str]:
    large = sa.make_url(url)
    small = large.set(database=f"{large.database}_small")
    admin = make_engine(large.set(database="postgres").render_as_string(hide_password=False))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for name in (large.database, small.database):
            exists = connection.exec_driver_sql(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).first()
            if not exists:
                connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return (
        small.render_as_string(hide_password=False),
        large.render_as_string(hide_password=False),
    )


def _has_cases(url: str) -> bool:
    engine = make_engine(url)
    try:
        if not sa.inspect(engine).has_table("cases"):
            return False
        with engine.connect() as connection:
            return connection.exec_driver_sql("SELECT 1 FROM cases LIMIT 1").first() is not None
    finally:
        engine.dispose()


def run(label: str, urls: tuple[str, str], args, media: str) -> bool:
    for url, size, name in ((urls[0], args.small, "small"), (urls[1], args.large, "large")):
        if not (args.reuse and _has_cases(url)):
            build(url, size, args.open, f"{label} {name}")
    small, large = Site(urls[0], media), Site(urls[1], media)
    figures = measure(small, large, args.rounds)
    return report(label, (args.small, args.large), figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--open", type=int, default=2_000, help="open cases in each database")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--postgres", help="the large database's URL (emptied first)")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--keep", help="keep the SQLite databases in this folder")
    parser.add_argument(
        "--reuse", action="store_true", help="measure databases built before, if they hold cases"
    )
    args = parser.parse_args()
    use_fast_hashing_for_tests()
    logging.getLogger("chengguan.request").setLevel(logging.WARNING)
    met = True
    with tempfile.TemporaryDirectory() as folder:
        if not args.no_sqlite:
            where = Path(args.keep or folder)
            where.mkdir(parents=True, exist_ok=True)
            urls = (f"sqlite:///{where}/small.sqlite3", f"sqlite:///{where}/large.sqlite3")
            met &= run("SQLite", urls, args, folder)
        if args.postgres:
            met &= run("PostgreSQL", _postgres_pair(args.postgres), args, folder)
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
