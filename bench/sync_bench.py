"""Push at scale: 1,000 ``report.create`` mutations in pushes of 200, against inserting the
same rows with SQLAlchemy Core in one transaction per push.

Loads the demo district (``app.demo``) into a fresh database, then has ``demo_inspector``'s
phone push reports spread over the district's 48 unit grids, each with photos named by id
and sha256 only (pending photos: the bytes are the upload bench's business). The push goes
through the service the HTTP route calls, ``app.sync_api.services.push`` — one transaction
per push; runs of new reports taken in together (``app.cases.bulk_intake``) as the route does
by default, or with ``--one-by-one`` a savepoint per mutation — so the figure is the server's
work without werkzeug, JSON and the token check.

The baseline is measured in the same run on the same database: every row the pushes
inserted, in every table (cases, flow, photos, case photos, sync records, whatever the
services write), is read back, deleted, and inserted again with Core ``insert()``
executemany, table by table, one transaction per push's worth of rows. The ratio says what
the services, the engine and the savepoints cost over the bare writes (target ≤ 5×).

``--mix`` makes the pushes mixed, as a walk with follow-ups and checks is: of every ten
mutations four are ``report.create``, then ``comment.add`` and ``photo.attach`` on cases
this phone reported earlier (in an earlier push or earlier in the same one), and
``--checks`` (default 1) ``task.update`` completing a check (核查 passed, with a check
photo) of a case sent to check: 4 : 3 : 2 : 1 by default, 4 : 3 : 3 : 0 with
``--checks 0``, 4 : 2 : 2 : 2 with ``--checks 2``. Those cases are made before each
round, outside the timing: reported in ``demo_inspector``'s community, filed, dispatched,
handled and sent to check through the services, so each round's check tasks are the
inspector's. The baseline inserts the rows the push inserted; what it updates (the cases
and tasks a check moves) is the push's alone.

    .venv/bin/python bench/sync_bench.py [--db sqlite|postgresql|both] [--url URL]
        [--mutations 1000] [--batch 200] [--photos 1] [--rounds 1] [--one-by-one]
        [--mix [--checks 0-3]]

``--url`` names the PostgreSQL database; its ``public`` schema is dropped and re-created.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app
from app.accounts.models import User
from app.accounts.passwords import use_fast_hashing_for_tests
from app.cases.models import Task
from app.cases.moves import move_case
from app.cases.services import CasePolicy
from app.cases.task_progress import TaskUpdate, update_task
from app.demo import district
from app.demo.services import load_demo
from app.extensions import db
from app.models import metadata
from app.photos.backends import media
from app.sync_api import services
from app.sync_api.store import begin_push
from sync.engine import Limits

REPORTER = "demo_inspector"
# Events of GB/T 47678 a street inspector reports every day (5-digit codes, unambiguous).
CATEGORIES = ["06010", "06011", "06012", "07001", "08002", "09003", "09005", "09009"]
T0 = dt.datetime(2026, 11, 22, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
COLUMNS = len(district.STREETS) * district.COLUMNS_PER_STREET
ROWS = len(district.STREETS[0][2]) * district.ROWS_PER_COMMUNITY


def _photo(rng: random.Random, taken: dt.datetime) -> dict:
    photo_id = uuid.UUID(int=rng.getrandbits(128), version=4)
    return {
        "photo_id": str(photo_id),
        "sha256": hashlib.sha256(photo_id.bytes).hexdigest(),
        "kind": "problem",
        "taken_at": taken.isoformat(),
    }


def report(mid: int, rng: random.Random, photos: int) -> dict:
    """A ``report.create`` somewhere in the demo district, as a phone queues it."""
    lat = district.NORTH - rng.uniform(0, ROWS * district.CELL_LAT)
    lon = district.WEST + rng.uniform(0, COLUMNS * district.CELL_LON)
    taken = T0 + dt.timedelta(minutes=mid)
    return {
        "mid": mid,
        "type": "report.create",
        "entity_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "base_version": None,
        "args": {
            "category_code": rng.choice(CATEGORIES),
            "description": "路边暴露垃圾，影响通行",
            "address": f"中山路 {mid} 号",
            "location": {"lat": round(lat, 6), "lon": round(lon, 6), "crs": "wgs84"},
            "photos": [_photo(rng, taken) for _ in range(photos)],
        },
        "client_ts": taken.isoformat(),
    }


def mixed(
    count: int, rng: random.Random, photos: int, checks: list[str], in_ten: int = 1
) -> list[dict]:
    """``count`` mutations: reports, comments and photos on the reports before them, and
    ``in_ten`` of every ten completions of the check tasks ``checks`` (photos in their
    place once those run out)."""
    mutations: list[dict] = []
    reported: list[str] = []
    checks = list(checks)
    last_comment = 4 + (7 - in_ten) // 2  # slots 4 … before it comments, then photos
    first_check = 10 - in_ten
    for mid in range(1, count + 1):
        slot = (mid - 1) % 10
        taken = T0 + dt.timedelta(minutes=mid)
        if slot < 4 or not reported:
            mutation = report(mid, rng, photos)
            reported.append(mutation["entity_id"])
            mutations.append(mutation)
            continue
        case_id = rng.choice(reported)
        if slot < last_comment:
            entity = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            kind, args = "comment.add", {"case_id": case_id, "text": f"第{mid}条：已现场复核"}
        elif slot < first_check or not checks:
            photo = _photo(rng, taken)
            entity = photo.pop("photo_id")
            kind, args = "photo.attach", {"case_id": case_id, **photo}
        else:
            entity, kind = checks.pop(), "task.update"
            photo = {**_photo(rng, taken), "kind": "check"}
            args = {"action": "complete", "result": "pass", "note": "核查通过", "photos": [photo]}
        mutations.append(
            {
                "mid": mid,
                "type": kind,
                "entity_id": entity,
                "base_version": None,
                "args": args,
                "client_ts": taken.isoformat(),
            }
        )
    return mutations


def sent_to_check(app, count: int, rng: random.Random, tag: str) -> list[str]:
    """``count`` cases in ``demo_inspector``'s community taken as far as 核查 through the
    services (reported, filed, dispatched, handled with a closure photo, sent to check):
    the ids of their check tasks, each the inspector's."""
    if not count:
        return []
    reports = []
    for mid in range(1, count + 1):
        mutation = report(mid, rng, 1)
        mutation["args"]["location"] = {
            "lat": round(district.NORTH - rng.uniform(0.0003, 2 * district.CELL_LAT - 0.0003), 6),
            "lon": round(district.WEST + rng.uniform(0.0003, 4 * district.CELL_LON - 0.0003), 6),
            "crs": "wgs84",
        }
        reports.append(mutation)
    _push(app, f"setup-{tag}", reports)
    with app.app_context():
        session, store = db.session, media()
        users = {u.username: u for u in session.scalars(sa.select(User))}
        dispatcher, handler = users["demo_dispatcher"], users["demo_handler"]
        inspector = users[REPORTER]
        tasks = []
        for mutation in reports:
            case_id = uuid.UUID(mutation["entity_id"])
            move_case(session, store, dispatcher, None, case_id, "register")
            move_case(
                session,
                store,
                dispatcher,
                None,
                case_id,
                "dispatch",
                {"department_id": handler.org_unit_id},
            )
            handle = _open_task(session, case_id, "handle")
            closure = {**_photo(rng, T0), "kind": "closure", "taken_at": T0}
            closure["photo_id"] = uuid.UUID(closure["photo_id"])
            update_task(
                session, store, handler, None, handle.id, TaskUpdate("complete", photos=[closure])
            )
            move_case(session, store, dispatcher, None, case_id, "send_check")
            check = _open_task(session, case_id, "check")
            if check.assignee_id != inspector.id:
                raise SystemExit(f"the check of {case_id} went to user {check.assignee_id}")
            tasks.append(str(check.id))
        return tasks


def _open_task(session, case_id: uuid.UUID, kind: str) -> Task:
    return session.scalars(
        sa.select(Task).where(
            Task.case_id == case_id, Task.kind == kind, Task.state.in_(("open", "accepted"))
        )
    ).one()


# -- the database --------------------------------------------------------------------------


def _pk_of(table: sa.Table, row) -> tuple:
    return tuple(row._mapping[column.name] for column in table.primary_key.columns)


def _keys(connection: sa.Connection) -> dict[str, set[tuple]]:
    """The primary keys of every row of every table."""
    keys = {}
    for table in metadata.sorted_tables:
        columns = list(table.primary_key.columns)
        keys[table.name] = {tuple(row) for row in connection.execute(sa.select(*columns))}
    return keys


def _new_rows(connection: sa.Connection, before: dict[str, set[tuple]]) -> dict[str, list[dict]]:
    """Every row inserted since ``before``, as Core would insert it, per table."""
    new: dict[str, list[dict]] = {}
    for table in metadata.sorted_tables:
        rows = [
            dict(row._mapping)
            for row in connection.execute(sa.select(table))
            if _pk_of(table, row) not in before[table.name]
        ]
        if rows:
            new[table.name] = rows
    return new


def _delete(connection: sa.Connection, batches: list[dict[str, list[dict]]]) -> None:
    for table in reversed(metadata.sorted_tables):
        keys = [_pk_of_dict(table, row) for batch in batches for row in batch.get(table.name, ())]
        columns = list(table.primary_key.columns)
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            if len(columns) == 1:
                connection.execute(table.delete().where(columns[0].in_([k[0] for k in chunk])))
            else:
                connection.execute(table.delete().where(sa.tuple_(*columns).in_(chunk)))


def _pk_of_dict(table: sa.Table, row: dict) -> tuple:
    return tuple(row[column.name] for column in table.primary_key.columns)


def core_insert(engine: sa.Engine, batches: list[dict[str, list[dict]]]) -> float:
    """Seconds to insert each batch's rows, table by table in dependency order, with
    executemany; one transaction per batch."""
    tables = metadata.sorted_tables  # computed on each access
    started = time.perf_counter()
    for batch in batches:
        with engine.begin() as connection:
            for table in tables:
                rows = batch.get(table.name)
                if rows:
                    connection.execute(table.insert(), rows)
    return time.perf_counter() - started


class DriverTime:
    """Statements sent and seconds spent inside the DB driver (``cursor.execute``): what
    the database costs, as against the Python around it (ORM, services, engine)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.statements, self.seconds, self._started = 0, 0.0, 0.0
        self.counting = False
        sa.event.listen(engine, "before_cursor_execute", self._before)
        sa.event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, *_args) -> None:
        self._started = time.perf_counter()

    def _after(self, *_args) -> None:
        if self.counting:
            self.statements += 1
            self.seconds += time.perf_counter() - self._started


def _by_mutation(batch: dict[str, list[dict]]) -> list[dict[str, list[dict]]]:
    """A batch's rows grouped by the report that wrote them (by the case they belong to),
    in the order of the cases; rows of no case (the device, the day's counter) go first."""
    order = {row["id"]: index for index, row in enumerate(batch.get("cases", ()))}
    case_of_photo = {row["photo_id"]: row["case_id"] for row in batch.get("case_photos", ())}

    def case_of(table: str, row: dict):
        if table == "case_duplicates":  # with the later of its two cases (rows come unordered)
            return max((row["case_id"], row["other_case_id"]), key=lambda c: order.get(c, -1))
        if table == "photos":
            return case_of_photo.get(row["id"])
        key = {"cases": "id", "sync_mutations": "entity_id"}.get(table)
        if key is None and "case_id" in row:
            key = "case_id"
        if key is not None:
            return row[key]
        if "entity_id" in row:  # the change log names cases and photos by id
            ident = uuid.UUID(str(row["entity_id"]))
            return ident if ident in order else case_of_photo.get(ident)
        return None

    groups: list[dict[str, list[dict]]] = [{} for _ in range(len(order) + 1)]
    for table, rows in batch.items():
        for row in rows:
            case = case_of(table, row)
            group = groups[order[case] + 1 if case in order else 0]
            group.setdefault(table, []).append(row)
    return groups


def core_insert_per_mutation(engine: sa.Engine, batches: list[dict[str, list[dict]]]) -> float:
    """As ``core_insert``, but each report's rows in a savepoint of their own, as the push
    isolates each mutation: what that isolation costs by itself."""
    grouped = [_by_mutation(batch) for batch in batches]
    tables = metadata.sorted_tables  # computed on each access
    started = time.perf_counter()
    for groups in grouped:
        with engine.begin() as connection:
            begin_push(connection)  # SQLite: BEGIN first, or the first SAVEPOINT commits
            for group in groups:
                with connection.begin_nested():
                    for table in tables:
                        rows = group.get(table.name)
                        if rows:
                            connection.execute(table.insert(), rows)
    return time.perf_counter() - started


# -- one run -------------------------------------------------------------------------------


def _push(
    app,
    device_id: str,
    mutations: list[dict],
    driver: DriverTime | None = None,
    batch: bool = True,
) -> float:
    """Seconds the service takes to decide and commit one push (every one ``applied``)."""
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.username == REPORTER))
        body = {"device_id": device_id, "mutations": mutations}
        if driver is not None:
            driver.counting = True
        started = time.perf_counter()
        result = services.push(
            db.session,
            media(),
            user,
            device_id,
            body,
            policy=CasePolicy.from_config(app.config),
            limits=Limits(max_batch=max(len(mutations), Limits.max_batch)),
            batch=batch,
        )
        elapsed = time.perf_counter() - started
        if driver is not None:
            driver.counting = False
    statuses = Counter(r.status.value for r in result.results)
    if set(statuses) != {"applied"}:
        raise SystemExit(f"push of {device_id} was not all applied: {dict(statuses)}")
    return elapsed


def run(url: str, label: str, args: argparse.Namespace, folder: Path) -> dict:
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URL": url,
            "MEDIA_ROOT": str(folder / "media"),
            "UPLOADS_ROOT": str(folder / "uploads"),
        }
    )
    rng = random.Random(7)
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "postgresql":
            with engine.begin() as connection:
                connection.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
                connection.execute(sa.text("CREATE SCHEMA public"))
        metadata.create_all(engine)
        load_demo(db.session)
        db.session.close()

    # Warm-up on a throwaway phone: statement caches, the first counter row of the day.
    _push(app, "warm-up", [report(mid, rng, args.photos) for mid in range(1, 21)])
    driver = DriverTime(engine)

    rounds = []
    for round_ in range(args.rounds):
        device_id = f"bench-{round_}"
        if args.mix:
            wanted = args.mutations * args.checks // 10 + 1
            checks = sent_to_check(app, wanted, rng, str(round_))
            mutations = mixed(args.mutations, rng, args.photos, checks, args.checks)
        else:
            mutations = [report(mid, rng, args.photos) for mid in range(1, args.mutations + 1)]
        pushes: list[float] = []
        batches: list[dict[str, list[dict]]] = []
        for start in range(0, len(mutations), args.batch):
            with engine.connect() as connection:
                before = _keys(connection)
            sent = mutations[start : start + args.batch]
            pushes.append(_push(app, device_id, sent, driver, batch=not args.one_by_one))
            with engine.connect() as connection:
                batches.append(_new_rows(connection, before))
        baselines, isolated = [], []
        for _ in range(args.baseline_repeats):
            with engine.begin() as connection:
                _delete(connection, batches)
            baselines.append(core_insert(engine, batches))
            with engine.begin() as connection:
                _delete(connection, batches)
            isolated.append(core_insert_per_mutation(engine, batches))
        rounds.append(
            {
                "push": sum(pushes),
                "pushes": pushes,
                "core": min(baselines),
                "savepoints": min(isolated),
                "rows": sum(len(rows) for batch in batches for rows in batch.values()),
            }
        )

    written = Counter()
    for batch in batches:
        for table, rows in batch.items():
            written[table] += len(rows)
    engine.dispose()
    return {
        "label": label,
        "rounds": rounds,
        "written": written,
        "n": args.mutations,
        "statements": driver.statements / (args.mutations * args.rounds),
        "driver": driver.seconds / sum(r["push"] for r in rounds),
    }


def report_run(figures: dict, args: argparse.Namespace) -> None:
    n = figures["n"]
    written = figures["written"]
    rows = sum(written.values())
    how = "one by one" if args.one_by_one else "runs taken together"
    what = (
        f"mixed mutations (4 reports : {(7 - args.checks) // 2} comments : "
        f"{6 - args.checks - (7 - args.checks) // 2} photo.attach : {args.checks} check task moves)"
        if args.mix
        else ("report.create")
    )
    print(
        f"\n{figures['label']}: {n:,} {what} ({args.photos} photo per report, pending) "
        f"in pushes of {args.batch}, {how}"
    )
    print(
        f"  rows one applied mutation inserts (last round: {rows / n:.2f} in "
        f"{len(written)} tables):"
    )
    for table, count in sorted(written.items(), key=lambda item: (-item[1], item[0])):
        print(f"    {table:<28}{count:>7,}  {count / n:5.2f}")
    print(
        f"  {'round':<7}{'push s':>9}{'mut/s':>8}{'core s':>9}{'rows/s':>9}{'ratio':>8}"
        f"{'core+sp s':>11}{'ratio':>8}"
    )
    ratios, isolated = [], []
    for index, r in enumerate(figures["rounds"], start=1):
        ratios.append(r["push"] / r["core"])
        isolated.append(r["push"] / r["savepoints"])
        print(
            f"  {index:<7}{r['push']:>9.3f}{n / r['push']:>8,.0f}{r['core']:>9.3f}"
            f"{r['rows'] / r['core']:>9,.0f}{ratios[-1]:>7.1f}x"
            f"{r['savepoints']:>11.3f}{isolated[-1]:>7.1f}x"
        )
    pushes = ", ".join(f"{p * 1000:.0f}" for p in figures["rounds"][-1]["pushes"])
    print(f"  last round's pushes (ms): {pushes}")
    print(
        f"  push: {figures['statements']:.1f} statements per mutation; "
        f"{figures['driver']:.0%} of its time inside the database driver"
    )
    print(
        f"  push / Core insert of the same rows: median {statistics.median(ratios):.1f}x"
        "  (target <= 5x)"
    )
    print(
        "  push / the same Core inserts, each report's rows in a savepoint: "
        f"median {statistics.median(isolated):.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--url", help="PostgreSQL URL (its public schema is dropped)")
    parser.add_argument("--mutations", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--photos", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--baseline-repeats", type=int, default=3)
    parser.add_argument(
        "--one-by-one",
        action="store_true",
        help="every mutation in a savepoint of its own (SYNC_BATCH_APPLY=0), for comparison",
    )
    parser.add_argument(
        "--mix",
        action="store_true",
        help="reports, comments, photo.attach and check task moves mixed",
    )
    parser.add_argument(
        "--checks",
        type=int,
        default=1,
        choices=range(0, 4),
        help="with --mix: check task moves in every ten mutations",
    )
    args = parser.parse_args()
    if args.db != "sqlite" and not args.url:
        parser.error("--db postgresql needs --url")
    use_fast_hashing_for_tests()  # the demo's users are set up, never signed in
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        if args.db in ("sqlite", "both"):
            report_run(run(f"sqlite:///{folder}/bench.sqlite3", "SQLite", args, folder), args)
        if args.db in ("postgresql", "both"):
            report_run(run(args.url, "PostgreSQL", args, folder), args)


if __name__ == "__main__":
    main()
