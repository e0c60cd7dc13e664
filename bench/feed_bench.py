"""Pull at scale: one inspector's page of 500 changes with 100,000 cases and with 1,000,000.

Builds a district of 20 streets and 1,000 unit grids walked by 100 inspectors (one community's
10 grids each), then generates cases in bulk with SQLAlchemy Core (a bench command, not the
API) together with what the feed's capture would have written for them: every change of a
case (reported, dispatched, closed), numbered in commit order and filed under the case's
audience keys (``g:`` its grid, ``s:`` its street, ``u:`` its reporter and its check task's
inspector, ``d:`` its department). Its reporters and check tasks are inserted too: they are
what ``visible_to`` reads. The first 100,000 cases are the district's current month; the
other 900,000 are eleven months of closed history before it, with their changes numbered
below the current month's (seq order is commit order; nothing was pruned).

The timed inspector's cursor stands 600 of their changes before the head, each of a case of
their own, interleaved with the district's other 99 %. The page of 500 after it is the same
at both sizes, so the ratio is what the growth of the cases and feed tables costs a pull
(target ≤ 1.5×). In the same run, the baseline: a raw SELECT of the page's 500 changes (the
feed rows joined to the cases they name, the same columns) plus ``json.dumps`` of them as
dicts; pull plus the JSON encoding of its page should take at most twice that. The HTTP
route (``GET /api/v1/sync/pull`` through Flask's test client, token check included) is
timed too, for reference. Runs on SQLite (a temp file) and, with --postgres URL, on
PostgreSQL (its ``public`` schema is dropped and re-created).

    .venv/bin/python bench/feed_bench.py [--small 100000] [--large 1000000] [--repeats 20]
        [--postgres URL]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import heapq
import json
import logging
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app
from app.accounts.models import User
from app.accounts.passwords import hash_password, use_fast_hashing_for_tests
from app.cases.models import Case, CaseReporter
from app.categories.models import Category
from app.extensions import db
from app.feed.capture import head
from app.feed.models import FeedChange, FeedCounter
from app.feed.registry import FEED
from app.feed.services import Page
from app.grids.models import ResponsibilityGrid, ResponsibilityGridMember, UnitGrid
from app.models import metadata
from app.orgunits.models import OrgUnit
from app.sync_api import pull as sync_pull
from app.sync_api.models import SyncDevice
from app.tasks.models import Task
from sync import feed

STREETS, COMMUNITIES_PER_STREET, GRIDS_PER_COMMUNITY = 20, 5, 10  # 1,000 unit grids
DEPARTMENTS = 10
NOW = dt.datetime(2026, 11, 25, 6, 0, tzinfo=dt.UTC)
PAGE = 500
WINDOW = 600  # the timed inspector's changes after the cursor
CHANGES_PER_CASE = 3  # reported, dispatched, closed: the seqs a closed case took
HOTLINE_SHARE = 0.15  # reported by phone (no reporter); the rest by the grid's inspector
DEVICE = "bench-phone"
PASSWORD = "bench-password"
BATCH = 10_000
# The columns a page's case carries (app.cases.feed_case.load), for the baseline.
CASE_COLUMNS = (
    "id", "number", "state", "source", "category_id", "description", "address", "lat", "lon",
    "urgency", "routing", "grid_id", "street_id", "road_id", "shop_id", "department_id",
    "reporter_id", "deadline", "press_level", "rework_count", "merged_into_id", "version",
    "reported_at", "closed_at", "updated_at",
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class District:
    grids: list[tuple[int, int, int]]  # (unit grid, community, street)
    inspectors: list[int]  # inspectors[i] walks grids[10 i : 10 i + 10]
    departments: list[int]
    category_id: int


def _district(session: Session) -> District:
    """Reference data through the ORM, so the capture files its changes as it would."""
    password = hash_password(PASSWORD)
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
    departments = [
        OrgUnit(kind="department", code=f"350203D{d:02d}", name=f"部门{d}", parent_id=district.id)
        for d in range(DEPARTMENTS)
    ]
    session.add_all([category, *departments])
    grids, inspectors = [], []
    for s in range(STREETS):
        street = OrgUnit(
            kind="street", code=f"350203{s + 1:03d}", name=f"街道{s}", parent_id=district.id
        )
        session.add(street)
        session.flush()
        for c in range(COMMUNITIES_PER_STREET):
            community = OrgUnit(
                kind="community",
                code=f"{street.code}{c + 1:03d}",
                name=f"社区{s}-{c}",
                parent_id=street.id,
            )
            session.add(community)
            session.flush()
            inspector = User(
                username=f"inspector{len(inspectors)}",
                display_name=f"网格员{len(inspectors)}",
                role="inspector",
                org_unit_id=community.id,
                password_hash=password,
            )
            session.add(inspector)
            session.flush()
            inspectors.append(inspector.id)
            walked = ResponsibilityGrid(
                code=f"R{community.code}", name=f"责任网格{s}-{c}", inspector_id=inspector.id
            )
            units = [
                UnitGrid(
                    code=f"{community.code}{g + 1:03d}",
                    community_id=community.id,
                    geometry="{}",
                    area_m2=1.0,
                    min_lon=0,
                    min_lat=0,
                    max_lon=0,
                    max_lat=0,
                )
                for g in range(GRIDS_PER_COMMUNITY)
            ]
            session.add_all([walked, *units])
            session.flush()
            session.add_all(
                ResponsibilityGridMember(unit_grid_id=unit.id, responsibility_grid_id=walked.id)
                for unit in units
            )
            grids += [(unit.id, community.id, street.id) for unit in units]
    session.commit()
    return District(grids, inspectors, [d.id for d in departments], category.id)


Event = tuple[dt.datetime, int, frozenset[str]]  # when, which case (its index), audience keys


def _case(n: int, reported: dt.datetime, district: District, rng: random.Random):
    """One case with its reporter link, its check task and its changes so far."""
    grid_index = rng.randrange(len(district.grids))
    grid_id, community_id, street_id = district.grids[grid_index]
    inspector = district.inspectors[grid_index // GRIDS_PER_COMMUNITY]
    reporter = None if rng.random() < HOTLINE_SHARE else inspector
    department = district.departments[rng.randrange(DEPARTMENTS)]
    dispatched = reported + dt.timedelta(minutes=rng.randrange(30, 8 * 60))
    closed = dispatched + dt.timedelta(minutes=rng.randrange(4 * 60, 10 * 24 * 60))
    if closed <= NOW:
        state, updated = "closed", closed
    elif dispatched <= NOW:
        state, updated, closed = "handling", dispatched, None
    else:
        state, updated, dispatched, closed, department = "registered", reported, None, None, None
    case_id = uuid.UUID(int=rng.getrandbits(128))
    case = {
        "id": case_id,
        "number": f"350203B{n:010d}",
        "source": "inspector" if reporter else "hotline",
        "category_id": district.category_id,
        "description": "暴露垃圾",
        "address": f"街道{street_id}社区{community_id}",
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
        "department_id": department,
        "reporter_id": reporter,
        "rework_count": 0,
        "check_passed": state == "closed",
        "press_level": 0,
        "version": 1 + (dispatched is not None) + (closed is not None),
        "reported_at": reported,
        "registered_at": reported,
        "dispatched_at": dispatched,
        "closed_at": closed,
        "limit_started_at": dispatched,
        "deadline": dispatched + dt.timedelta(hours=rng.choice([4, 8, 24, 120]))
        if dispatched
        else None,
        "updated_at": updated,
    }
    link = {"case_id": case_id, "user_id": reporter, "original_case_id": case_id}
    task = None
    if closed is not None:  # the grid's inspector checked the handling
        task = {
            "id": uuid.UUID(int=rng.getrandbits(128)),
            "case_id": case_id,
            "kind": "check",
            "state": "completed",
            "assignee_id": inspector,
            "result": "pass",
            "version": 3,
            "created_at": closed - dt.timedelta(hours=2),
            "accepted_at": closed - dt.timedelta(hours=1),
            "completed_at": closed,
            "updated_at": closed,
        }
    # The keys the capture computes at each commit: the case's own, its tasks' assignees.
    keys = {f"g:{grid_id}", f"s:{street_id}"} | ({f"u:{reporter}"} if reporter else set())
    events: list[tuple[dt.datetime, frozenset[str]]] = [(reported, frozenset(keys))]
    if dispatched is not None:
        keys.add(f"d:{department}")
        events.append((dispatched, frozenset(keys)))
    if closed is not None:
        keys.add(f"u:{inspector}")
        events.append((closed, frozenset(keys)))
    return case, (link if reporter else None), task, events


def _feed_rows(seq: int, case_id: uuid.UUID, at: dt.datetime, keys: frozenset[str]):
    entity_id = str(case_id)
    return [
        {"seq": seq, "key": key, "entity_type": "case", "entity_id": entity_id, "at": at}
        for key in sorted(keys)
    ]


def _current_month(count: int, start: int, district: District, held: set[str], first_seq: int):
    """The district's last 30 days, its changes in commit order from ``first_seq``.

    Returns the rows by table and the cursor's seq: ``WINDOW`` of the inspector's changes
    follow it, each of a different case (so a page of 500 rows is 500 changes), among the
    district's others."""
    rng = random.Random(1)
    cases, links, tasks, events = [], [], [], []
    for n in range(count):
        reported = NOW - dt.timedelta(minutes=rng.randrange(30 * 24 * 60))
        case, link, task, changes = _case(start + n, reported, district, rng)
        cases.append(case)
        links += [link] if link else []
        tasks += [task] if task else []
        events += [(at, n, keys) for at, keys in changes]
    events.sort(key=lambda e: (e[0], e[1]))
    events, tail = _distinct_tail(events, held)
    feed_rows = []
    for offset, (at, n, keys) in enumerate(events):
        feed_rows += _feed_rows(first_seq + offset, cases[n]["id"], at, keys)
    return {"cases": cases, "links": links, "tasks": tasks, "feed": feed_rows}, first_seq + tail - 1


def _distinct_tail(events: list[Event], held: set[str]) -> tuple[list[Event], int]:
    """Move the earlier changes of the cases changed again near the head below the last
    ``WINDOW`` of the inspector's changes (each case keeps its own order), so those are of
    ``WINDOW`` different cases. Returns the events and where that tail begins."""
    seen: set[int] = set()
    tail: list[Event] = []
    moved: list[Event] = []
    mine = 0
    index = len(events)
    while mine < WINDOW:
        index -= 1
        if index < 0:
            raise SystemExit(f"the inspector has fewer than {WINDOW} changes: use more cases")
        event = events[index]
        if event[1] in seen:
            moved.append(event)
            continue
        seen.add(event[1])
        tail.append(event)
        mine += bool(event[2] & held)
    ordered = events[:index] + moved[::-1] + tail[::-1]
    return ordered, index + len(moved)


def _history(count: int, start: int, district: District, first_seq: int) -> Iterator[tuple]:
    """Closed cases reported 41 to 365 days before NOW, in order, with their changes
    numbered from ``first_seq`` in commit order (a heap holds the changes still to come)."""
    rng = random.Random(2)
    begin = NOW - dt.timedelta(days=365)
    step = (dt.timedelta(days=365 - 41)) / count
    later: list[tuple[dt.datetime, int, uuid.UUID, frozenset[str]]] = []
    seq = first_seq
    for n in range(count):
        reported = begin + step * (n + rng.random())
        case, link, task, changes = _case(start + n, reported, district, rng)
        while later and later[0][0] <= reported:
            at, _, case_id, keys = heapq.heappop(later)
            yield "feed", _feed_rows(seq, case_id, at, keys)
            seq += 1
        yield "cases", [case]
        yield "links", [link] if link else []
        yield "tasks", [task] if task else []
        for i, (at, keys) in enumerate(changes):
            heapq.heappush(later, (at, n * CHANGES_PER_CASE + i, case["id"], keys))
    while later:
        at, _, case_id, keys = heapq.heappop(later)
        yield "feed", _feed_rows(seq, case_id, at, keys)
        seq += 1
    if seq > first_seq + CHANGES_PER_CASE * count:
        raise SystemExit("history took more seqs than were kept for it")


TABLES = {
    "cases": Case.__table__,
    "links": CaseReporter.__table__,
    "tasks": Task.__table__,
    "feed": FeedChange.__table__,
}


def _chunks(rows: dict[str, list[dict]]) -> Iterator[tuple[str, list[dict]]]:
    for name, part in rows.items():  # every case before any row that refers to one
        for start in range(0, len(part), BATCH):
            yield name, part[start : start + BATCH]


def _insert(engine: sa.Engine, parts: Iterator[tuple[str, list[dict]]], label: str) -> dict:
    """Insert the rows in batches, cases before what refers to them; returns counts."""
    buffers: dict[str, list[dict]] = {name: [] for name in TABLES}
    counts = dict.fromkeys(TABLES, 0)

    def flush(connection: sa.Connection) -> None:
        for name, table in TABLES.items():  # in FK order
            if buffers[name]:
                connection.execute(table.insert(), buffers[name])
                counts[name] += len(buffers[name])
                buffers[name].clear()
        print(f"\r  [{label}] {counts['cases']:,} cases, {counts['feed']:,} feed rows", end="",
              file=sys.stderr, flush=True)  # fmt: skip

    with engine.begin() as connection:
        for name, rows in parts:
            buffers[name] += rows
            if len(buffers[name]) >= BATCH:
                flush(connection)
        flush(connection)
    print(file=sys.stderr)
    _analyze(engine)
    return counts


def _analyze(engine: sa.Engine) -> None:
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text("VACUUM ANALYZE"))
    else:
        with engine.begin() as connection:
            connection.execute(sa.text("ANALYZE"))


def _baseline_statement(engine: sa.Engine, seqs: list[int]) -> sa.Select:
    """The page's changes as one raw SELECT: one feed row per change, joined to its case
    and the case's category, with the columns the page carries."""
    changes, cases, categories = FeedChange.__table__, Case.__table__, Category.__table__
    with engine.connect() as connection:
        ids = connection.scalars(
            sa.select(sa.func.min(changes.c.id))
            .where(changes.c.seq.in_(seqs))
            .group_by(changes.c.seq)
        ).all()
    if engine.dialect.name == "postgresql":
        named = cases.c.id == sa.cast(changes.c.entity_id, postgresql.UUID)
        # One array parameter, as pull sends its ids: 500 parameters cost more to send.
        listed = changes.c.id == sa.any_(
            sa.bindparam("ids", ids, type_=postgresql.ARRAY(sa.Integer))
        )
    else:  # SQLite keeps a Uuid as 32 hex digits
        named = cases.c.id == sa.func.replace(changes.c.entity_id, "-", "")
        listed = changes.c.id.in_(ids)
    return (
        sa.select(
            changes.c.seq,
            changes.c.entity_type,
            changes.c.entity_id,
            *(cases.c[name] for name in CASE_COLUMNS),
            categories.c.code.label("category_code"),
            categories.c.kind.label("category_kind"),
            categories.c.edition.label("category_edition"),
            categories.c.name.label("category_name"),
        )
        .join(cases, named)
        .join(categories, categories.c.id == cases.c.category_id)
        .where(listed)
        .order_by(changes.c.seq)
    )


@dataclasses.dataclass
class Figures:
    pull: float
    baseline: float
    http: float
    changes: int
    page_bytes: int


def _measure(app, engine: sa.Engine, user_id: int, cursor: str, repeats: int) -> Figures:
    """Median of ``repeats`` rounds, each: pull + json.dumps, the baseline, the HTTP GET."""
    client = app.test_client()
    login = client.post(
        "/api/v1/auth/login",
        json={"username": "inspector0", "password": PASSWORD, "device_id": DEVICE,
              "device_name": "bench"},
    )  # fmt: skip
    headers = {"Authorization": f"Bearer {login.get_json()['access_token']}"}
    query = {"cursor": cursor, "limit": PAGE}

    def pull() -> tuple[float, Page, str]:
        with Session(engine, expire_on_commit=False) as session:
            user = session.get(User, user_id)
            started = time.perf_counter()
            page = sync_pull.pull(session, user, DEVICE, cursor, PAGE)
            body = json.dumps(page.as_json())
            return time.perf_counter() - started, page, body

    _, page, body = pull()
    if len(page.changes) != PAGE or {c["op"] for c in page.changes} != {feed.UPSERT}:
        raise SystemExit(f"expected {PAGE} upserts, got {len(page.changes)}")
    statement = _baseline_statement(engine, [c["seq"] for c in page.changes])

    def baseline() -> float:
        with engine.connect() as connection:
            started = time.perf_counter()
            rows = connection.execute(statement).mappings().all()
            json.dumps([dict(row) for row in rows], default=str)
            elapsed = time.perf_counter() - started
        if len(rows) != PAGE:
            raise SystemExit(f"the baseline read {len(rows)} rows, not {PAGE}")
        return elapsed

    def http() -> float:
        started = time.perf_counter()
        response = client.get("/api/v1/sync/pull", query_string=query, headers=headers)
        elapsed = time.perf_counter() - started
        if response.status_code != 200 or len(response.get_json()["changes"]) != PAGE:
            raise SystemExit(f"GET /sync/pull answered {response.status_code}")
        return elapsed

    for timed in (pull, baseline, http, pull, baseline, http):  # warm up
        timed()
    samples: dict[str, list[float]] = {"pull": [], "baseline": [], "http": []}
    for _ in range(repeats):  # round-robin, so machine noise hits all three alike
        samples["pull"].append(pull()[0])
        samples["baseline"].append(baseline())
        samples["http"].append(http())
    return Figures(
        *(statistics.median(samples[name]) for name in ("pull", "baseline", "http")),
        changes=len(page.changes),
        page_bytes=len(body),
    )


def run(url: str, label: str, small: int, large: int, repeats: int, folder: Path) -> None:
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URL": url,
            "MEDIA_ROOT": str(folder / "media"),
            "UPLOADS_ROOT": str(folder / "uploads"),
        }
    )
    logging.getLogger("chengguan.request").setLevel(logging.WARNING)  # a line per GET
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "postgresql":
            with engine.begin() as connection:
                connection.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
                connection.execute(sa.text("CREATE SCHEMA public"))
        metadata.create_all(engine)
        district = _district(db.session)
        inspector = district.inspectors[0]
        user = db.session.get(User, inspector)
        keys = FEED.user_keys(db.session, user)
        scope = feed.scope_fingerprint(keys)
        db.session.close()
    with engine.connect() as connection:
        reference_head = head(connection)[0]
    history_first = reference_head + 1
    month_first = history_first + CHANGES_PER_CASE * (large - small)

    print(f"[{label}] generating {small:,} cases of the current month", file=sys.stderr)
    rows, cursor_seq = _current_month(small, large - small, district, keys, month_first)
    top = rows["feed"][-1]["seq"]
    counts = _insert(engine, _chunks(rows), label)
    del rows
    with engine.begin() as connection:
        connection.execute(sa.update(FeedCounter).where(FeedCounter.id == 1).values(seq=top))
        connection.execute(sa.insert(SyncDevice).values(user_id=inspector, device_id=DEVICE))
    cursor = feed.Cursor(cursor_seq, scope).encode()
    small_figures = _measure(app, engine, inspector, cursor, repeats)
    small_rows = counts["feed"]

    print(f"[{label}] generating {large - small:,} cases of history", file=sys.stderr)
    started = time.perf_counter()
    counts = _insert(engine, _history(large - small, 0, district, history_first), label)
    elapsed = time.perf_counter() - started
    large_figures = _measure(app, engine, inspector, cursor, repeats)
    large_rows = small_rows + counts["feed"]
    engine.dispose()

    rate = (counts["cases"] + counts["links"] + counts["tasks"] + counts["feed"]) / elapsed
    print(
        f"\n{label}: {small:,} → {large:,} cases, {small_rows:,} → {large_rows:,} feed rows "
        f"(history generated at {rate:,.0f} rows/s); the inspector holds {len(keys)} keys; "
        f"page: {small_figures.changes} changes, {small_figures.page_bytes / 1024:,.0f} KiB"
    )
    print(f"{'':<38}{'small ms':>10}{'large ms':>10}{'ratio':>8}")
    for name, a, b, target in (
        ("pull + json.dumps (page of 500)", small_figures.pull, large_figures.pull, "≤ 1.5×"),
        ("raw SELECT + json.dumps (same 500)", small_figures.baseline,
         large_figures.baseline, ""),
        ("GET /sync/pull (test client)", small_figures.http, large_figures.http, ""),
    ):  # fmt: skip
        print(f"{name:<38}{a * 1000:>10.2f}{b * 1000:>10.2f}{b / a:>8.2f}  {target}")
    print(
        f"{'pull / raw SELECT':<38}{small_figures.pull / small_figures.baseline:>10.2f}"
        f"{large_figures.pull / large_figures.baseline:>10.2f}          target ≤ 2×"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--postgres", help="also run on this PostgreSQL URL (emptied first)")
    parser.add_argument("--no-sqlite", action="store_true", help="run on PostgreSQL only")
    args = parser.parse_args()
    use_fast_hashing_for_tests()  # one sign-in, for the HTTP figure
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        if not args.no_sqlite:
            url = f"sqlite:///{folder}/bench.sqlite3"
            run(url, "SQLite", args.small, args.large, args.repeats, folder)
        if args.postgres:
            run(args.postgres, "PostgreSQL", args.small, args.large, args.repeats, folder)


if __name__ == "__main__":
    main()
