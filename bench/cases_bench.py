"""Case listing at scale: a street's open overdue cases and a grid's last 30 days.

Generates cases in bulk with SQLAlchemy Core (a bench command, not the API), times the two
command-centre lists with 10,000 cases and again with 1,000,000, and reports the ratio
(target ≤ 3×, issue 4). The first 10,000 are the district's current month; the other
990,000 are a year of closed history. Both lists therefore return the same rows at both
sizes, and the ratio measures what the table's growth costs them, nothing else. Runs on
SQLite (a temp file) and, with --postgres URL, on PostgreSQL (the database is emptied).

    .venv/bin/python bench/cases_bench.py [--small 10000] [--large 1000000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.cases import queries
from app.cases.models import Case
from app.categories.models import Category
from app.core.db import make_engine
from app.grids.models import UnitGrid
from app.models import metadata
from app.orgunits.models import OrgUnit

STREETS, COMMUNITIES_PER_STREET, GRIDS_PER_COMMUNITY = 20, 5, 10  # 1,000 unit grids
NOW = dt.datetime(2026, 11, 25, 6, 0, tzinfo=dt.UTC)
OPEN_STATES = ["registered", "dispatched", "handling", "handled", "checking", "suspended"]
PAGE = 50


def _reference_data(engine: sa.Engine) -> tuple[list[int], list[tuple[int, int, int]], int]:
    with Session(engine) as session:
        district = OrgUnit(kind="district", code="350203", name="思明区")
        session.add(district)
        session.flush()
        category = Category(
            kind="event",
            edition="gbt47678",
            code="06010",
            major_code="06",
            major_name="市容环境",
            name="暴露垃圾",
            is_local=False,
            time_limit=4,
            limit_type="working_hours",
            active=True,
        )
        session.add(category)
        street_ids, grids = [], []
        for s in range(STREETS):
            street = OrgUnit(
                kind="street", code=f"350203{s + 1:03d}", name=f"街道{s}", parent_id=district.id
            )
            session.add(street)
            session.flush()
            street_ids.append(street.id)
            for c in range(COMMUNITIES_PER_STREET):
                community = OrgUnit(
                    kind="community",
                    code=f"{street.code}{c + 1:03d}",
                    name=f"社区{s}-{c}",
                    parent_id=street.id,
                )
                session.add(community)
                session.flush()
                for g in range(GRIDS_PER_COMMUNITY):
                    grid = UnitGrid(
                        code=f"{community.code}{g + 1:03d}",
                        community_id=community.id,
                        geometry="{}",
                        area_m2=1.0,
                        min_lon=0,
                        min_lat=0,
                        max_lon=0,
                        max_lat=0,
                    )
                    session.add(grid)
                    session.flush()
                    grids.append((grid.id, community.id, street.id))
        session.commit()
        return street_ids, grids, category.id


def _rows(count: int, start: int, grids, category_id: int, rng: random.Random, history: bool):
    """``history=False``: the district's current month (15 % still open, most of those
    overdue). ``history=True``: older, closed cases — what a year adds to the database."""
    for n in range(start, start + count):
        grid_id, community_id, street_id = grids[rng.randrange(len(grids))]
        if history:
            reported = NOW - dt.timedelta(days=31, minutes=rng.randrange(334 * 24 * 60))
            state = "closed"
        else:
            reported = NOW - dt.timedelta(minutes=rng.randrange(30 * 24 * 60))
            state = rng.choice(OPEN_STATES) if rng.random() < 0.15 else "closed"
        deadline = reported + dt.timedelta(hours=rng.choice([4, 8, 24, 120]))
        yield {
            "id": uuid.UUID(int=rng.getrandbits(128)),
            "number": f"350203B{n:010d}",
            "source": "inspector",
            "category_id": category_id,
            "description": "暴露垃圾",
            "address": "",
            "lat": 24.47,
            "lon": 118.08,
            "input_crs": "wgs84",
            "grid_id": grid_id,
            "community_id": community_id,
            "street_id": street_id,
            "routing": "routed",
            "locate_status": "inside",
            "urgency": "normal",
            "state": state,
            "rework_count": 0,
            "check_passed": False,
            "press_level": 0,
            "version": 1,
            "reported_at": reported,
            "registered_at": reported,
            "limit_started_at": reported,
            "deadline": deadline,
            "updated_at": reported,
        }


def _insert(
    engine: sa.Engine, count: int, start: int, grids, category_id: int, seed: int, history: bool
):
    rng = random.Random(seed)
    table = Case.__table__
    batch: list[dict] = []
    done = 0
    with engine.begin() as connection:
        for row in _rows(count, start, grids, category_id, rng, history):
            batch.append(row)
            if len(batch) == 10_000:
                connection.execute(table.insert(), batch)
                done += len(batch)
                batch.clear()
                print(f"\r  inserted {start + done:,}", end="", file=sys.stderr, flush=True)
        if batch:
            connection.execute(table.insert(), batch)
    print(file=sys.stderr)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text("ANALYZE cases"))
    else:
        with engine.begin() as connection:
            connection.execute(sa.text("ANALYZE"))


def _time(engine: sa.Engine, statements: list, repeats: int) -> float:
    """Median seconds to fetch one page of each statement, cycling through them."""
    samples = []
    with Session(engine) as session:
        for statement in statements:  # warm up
            session.execute(statement.limit(PAGE)).all()
        for _ in range(repeats):
            for statement in statements:
                started = time.perf_counter()
                session.execute(statement.limit(PAGE)).all()
                samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def _measure(engine, street_ids, grids, repeats):
    since = NOW - dt.timedelta(days=30)
    streets = [queries.street_open_overdue(street_id, NOW) for street_id in street_ids[:10]]
    grid_lists = [
        queries.grid_recent(grid_id, since) for grid_id, _c, _s in grids[:: len(grids) // 10]
    ]
    return _time(engine, streets, repeats), _time(engine, grid_lists, repeats)


def run(url: str, label: str, small: int, large: int, repeats: int) -> None:
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(sa.text("CREATE SCHEMA public"))
    metadata.create_all(engine)
    street_ids, grids, category_id = _reference_data(engine)
    print(f"[{label}] generating {small:,} cases", file=sys.stderr)
    _insert(engine, small, 0, grids, category_id, seed=1, history=False)
    small_street, small_grid = _measure(engine, street_ids, grids, repeats)
    print(f"[{label}] generating {large - small:,} more cases", file=sys.stderr)
    started = time.perf_counter()
    _insert(engine, large - small, small, grids, category_id, seed=2, history=True)
    rate = (large - small) / (time.perf_counter() - started)
    large_street, large_grid = _measure(engine, street_ids, grids, repeats)
    engine.dispose()
    print(f"\n{label}: {small:,} → {large:,} cases (generated at {rate:,.0f} rows/s)")
    print(f"{'list':<32}{'small ms':>10}{'large ms':>10}{'ratio':>8}  target ≤ 3×")
    for name, a, b in (
        ("street open overdue (page 50)", small_street, large_street),
        ("grid last 30 days (page 50)", small_grid, large_grid),
    ):
        print(f"{name:<32}{a * 1000:>10.3f}{b * 1000:>10.3f}{b / a:>8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--postgres", help="also run on this PostgreSQL URL (emptied first)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        run(f"sqlite:///{folder}/bench.sqlite3", "SQLite", args.small, args.large, args.repeats)
    if args.postgres:
        run(args.postgres, "PostgreSQL", args.small, args.large, args.repeats)


if __name__ == "__main__":
    main()
