"""考评 at a million cases: a month at every level against hand-written GROUP BYs.

Builds a district (20 streets, 100 communities, 1,000 unit grids walked by 100 inspectors,
50 departments, 10 dispatchers, 1,000 shops of 100 merchants), generates a year of cases
with INSERT … SELECT over a number series (a recursive CTE on SQLite, generate_series on
PostgreSQL) with their flow steps (register, dispatch, returns and re-dispatches, reworks,
close) and their verify and check tasks, and two months of self-checks. Then it times, round
robin, the median of N rounds:

- app: ``app.assessment.services.compute`` of one month at every level (the seven levels'
  rows, scores, ranks and the change from the previous month, which is not published, so
  it is computed too);
- baseline: hand-written SQL computing the same counts on the same rows — one GROUP BY per
  source of counts (due cases, reworks, filings, flow steps, cancelled filings, returned
  dispatches, tasks, self-check days owed
  and done), for the month and the previous month — fetched, nothing else.

Target (issue 12): app within 1.5× of the baseline, on SQLite and PostgreSQL. The counts of
both are checked equal before timing.

    .venv/bin/python bench/assessment_bench.py [--cases 1000000] [--rounds 5] [--postgres URL]
        [--no-sqlite] [--sqlite-file PATH] [--reuse]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.assessment import levels, services
from app.assessment.formulas import LEVELS
from app.categories.models import Category
from app.core.db import make_engine
from app.models import metadata
from app.workcalendar import periods

STREETS, COMMUNITIES, GRIDS, DEPARTMENTS, INSPECTORS, DISPATCHERS = 20, 100, 1000, 50, 100, 10
SHOPS, MERCHANTS = 1000, 100
BASE = dt.datetime(2025, 11, 15)  # naive UTC: the first report
SPAN = 365 * 86400  # reports spread over a year
NOW = dt.datetime(2026, 11, 25, 6, 0, tzinfo=dt.UTC)
MONTH = "2026-10"
TZ = "Asia/Shanghai"
SELFCHECK_BASE = dt.datetime(2026, 8, 31, 16, 0)  # 2026-09-01 00:00 local
# Ids of the reference rows (inserted with these ids).
STREET0, COMMUNITY0, DEPARTMENT0 = 2, 100, 300
INSPECTOR0, DISPATCHER0, CLERK, MERCHANT0 = 1000, 2000, 2100, 3000
CHUNK = 100_000


# ---------------------------------------------------------------------------------------------
# SQL for either dialect


class Dialect:
    def __init__(self, name: str) -> None:
        self.pg = name == "postgresql"

    def series(self, start: int, count: int) -> str:
        if self.pg:
            last = start + count - 1
            return f"n(i) AS (SELECT generate_series(CAST({start} AS BIGINT), {last}))"
        return (
            f"n(i) AS (SELECT {start} UNION ALL SELECT i + 1 FROM n WHERE i < {start + count - 1})"
        )

    def with_(self) -> str:
        return "WITH" if self.pg else "WITH RECURSIVE"

    def ts(self, seconds: str, base: dt.datetime = BASE) -> str:
        if self.pg:
            return f"(TIMESTAMP '{base:%Y-%m-%d %H:%M:%S}' + ({seconds}) * INTERVAL '1 second')"
        return (
            f"(strftime('%Y-%m-%d %H:%M:%S', '{base:%Y-%m-%d %H:%M:%S}', '+' || ({seconds}) "
            "|| ' seconds') || '.000000')"
        )

    def uuid(self, number: str) -> str:
        if self.pg:
            return f"CAST(lpad(to_hex({number}), 32, '0') AS UUID)"
        return f"printf('%032x', {number})"

    def raw(self, statement: str) -> str:
        """The statement as the driver takes it: psycopg reads ``%`` as a placeholder."""
        return statement.replace("%", "%%") if self.pg else statement

    def param(self, instant: dt.datetime):
        naive = instant.astimezone(dt.UTC).replace(tzinfo=None)
        return naive if self.pg else naive.strftime("%Y-%m-%d %H:%M:%S.%f")


# The per-case draws, from the case's number i.
DRAWS = """r AS (SELECT i,
    (i * 2654435761) % {span} AS rep,
    (i * 7919) % {grids} AS g,
    (i * 104729) % {departments} AS d,
    i % 20 AS v,
    4 + (i * 31) % 116 AS lim,
    3600 + (i * 48271) % 604800 AS took,
    i % 100 AS cl,
    (i * 13) % 5 AS src
  FROM n)"""


def _case_insert(
    sql: Dialect, start: int, count: int, category_id: int, overrides: dict | None = None
) -> str:
    valid, closed = "v <> 0", "v <> 0 AND cl < 98"
    inspector = f"{INSPECTOR0} + g / 10"
    columns = {
        "id": sql.uuid("i"),
        "number": "'B' || i",
        "source": "CASE WHEN src = 0 THEN 'hotline' ELSE 'inspector' END",
        "category_id": str(category_id),
        "description": "'暴露垃圾'",
        "address": "''",
        "lat": "24.47",
        "lon": "118.08",
        "input_crs": "'wgs84'",
        "grid_id": "1 + g",
        "community_id": f"{COMMUNITY0} + g / 10",
        "street_id": f"{STREET0} + g / 50",
        "routing": "'routed'",
        "locate_status": "'inside'",
        "urgency": "'normal'",
        "state": f"CASE WHEN v = 0 THEN 'rejected' WHEN {closed} THEN 'closed' "
        "ELSE 'dispatched' END",
        "department_id": f"CASE WHEN {valid} THEN {DEPARTMENT0} + d END",
        "reporter_id": f"CASE WHEN src = 0 THEN {CLERK} ELSE {inspector} END",
        "rework_count": "CASE WHEN i % 20 = 1 THEN 1 ELSE 0 END",
        "extension_count": "0",
        "check_passed": f"({closed})",
        "press_level": "0",
        "version": "1",
        "valid": f"({valid})",
        "reported_at": sql.ts("rep"),
        "registered_at": f"CASE WHEN {valid} THEN {sql.ts('rep + 600')} END",
        "limit_started_at": f"CASE WHEN {valid} THEN {sql.ts('rep + 600')} END",
        "deadline": f"CASE WHEN {valid} THEN {sql.ts('rep + 600 + lim * 3600')} END",
        "dispatched_at": f"CASE WHEN {valid} THEN {sql.ts('rep + 1200')} END",
        "handled_at": f"CASE WHEN {closed} THEN {sql.ts('rep + 600 + took - 3600')} END",
        "closed_at": f"CASE WHEN {closed} THEN {sql.ts('rep + 600 + took')} END",
        "handled_on_time": f"CASE WHEN {closed} THEN (took - 3600 <= lim * 3600) END",
        "closed_on_time": f"CASE WHEN {closed} THEN (took <= lim * 3600) END",
        "missed_by_id": f"CASE WHEN {valid} AND src = 0 THEN {inspector} END",
        "updated_at": sql.ts("rep"),
    }
    return _insert(sql, "cases", {**columns, **(overrides or {})}, start, count)


def _insert(sql: Dialect, table: str, columns: dict, start: int, count: int, where="") -> str:
    draws = DRAWS.format(span=SPAN, grids=GRIDS, departments=DEPARTMENTS)
    names = ", ".join(f'"{name}"' for name in columns)
    values = ", ".join(columns.values())
    return (
        f"{sql.with_()} {sql.series(start, count)}, {draws} "
        f"INSERT INTO {table} ({names}) SELECT {values} FROM r {where}"
    )


# (action, seq, seconds after the report, duty, overdue, which cases)
STEPS = (
    ("register", 1, "600", "shift_leader", "i % 7 = 0", "v <> 0"),
    ("dispatch", 2, "1200", "dispatcher", "i % 11 = 0", "v <> 0"),
    ("approve_return", 3, "1500", "dispatcher", None, "v <> 0 AND i % 50 = 3"),
    ("dispatch", 4, "1800", "dispatcher", "i % 13 = 0", "v <> 0 AND i % 50 = 3"),
    ("check_fail", 5, "600 + took - 1800", None, None, "v <> 0 AND i % 20 = 1"),
    ("close", 6, "600 + took", "shift_leader", "took > lim * 3600", "v <> 0 AND cl < 98"),
)


def _flow_insert(sql: Dialect, step: tuple, start: int, count: int) -> str:
    action, seq, after, duty, overdue, which = step
    inspector = f"{INSPECTOR0} + g / 10"
    field_step = action == "check_fail"
    columns = {
        "case_id": sql.uuid("i"),
        "seq": str(seq),
        "action": f"'{action}'",
        "to_state": "'dispatched'",
        "actor_id": inspector if field_step else f"{DISPATCHER0} + i % {DISPATCHERS}",
        "actor_role": "'inspector'" if field_step else "'dispatcher'",
        "photo_ids": "CAST('[]' AS JSON)",
        "data": "CAST('{}' AS JSON)",
        "duty": f"'{duty}'" if duty else "NULL",
        "overdue": f"({overdue})" if overdue else "NULL",
        "at": sql.ts(f"rep + {after}"),
    }
    return _insert(sql, "case_flow", columns, start, count, f"WHERE {which}")


def _task_inserts(sql: Dialect, start: int, count: int) -> list[str]:
    inspector = f"{INSPECTOR0} + g / 10"
    common = {"version": "1", "result": "'pass'", "assignee_id": inspector, "state": "'completed'"}
    check = {
        "id": sql.uuid(f"i + {10**10}"),
        "case_id": sql.uuid("i"),
        "kind": "'check'",
        **common,
        "deadline": sql.ts("rep + 600 + took - 3600 + 86400"),
        "completed_at": sql.ts("rep + took + CASE WHEN i % 3 = 0 THEN 90000 ELSE 0 END"),
        "created_at": sql.ts("rep + 600 + took - 3600"),
        "updated_at": sql.ts("rep + 600 + took - 3600"),
    }
    verify = {
        **check,
        "id": sql.uuid(f"i + {2 * 10**10}"),
        "kind": "'verify'",
        "deadline": sql.ts("rep + 300 + 7200"),
        "completed_at": sql.ts("rep + 300 + (i % 5) * 2400"),
        "created_at": sql.ts("rep + 300"),
        "updated_at": sql.ts("rep + 300"),
    }
    return [
        _insert(sql, "tasks", check, start, count, "WHERE v <> 0 AND cl < 98"),
        _insert(sql, "tasks", verify, start, count, "WHERE src = 0"),
    ]


def _selfcheck_insert(sql: Dialect) -> str:
    days = 61  # September and October
    shop, day = f"i % {SHOPS}", f"i / {SHOPS}"
    return (
        f"{sql.with_()} {sql.series(0, SHOPS * days)} "
        'INSERT INTO selfchecks (id, shop_id, merchant_id, sanitation, "order", greenery, '
        "photo_ids, created_at) "
        f"SELECT {sql.uuid('i')}, 1 + {shop}, {MERCHANT0} + ({shop}) / 10, 'ok', 'ok', 'ok', "
        f"CAST('[]' AS JSON), {sql.ts(f'({day}) * 86400 + 3 * 3600', SELFCHECK_BASE)} "
        "FROM n WHERE (i * 7) % 10 < 8"
    )


# ---------------------------------------------------------------------------------------------
# Reference rows


def _rows(table: str, rows: list[dict], connection: sa.Connection) -> None:
    connection.execute(metadata.tables[table].insert(), rows)


def _reference(engine: sa.Engine) -> int:
    created = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    with engine.begin() as connection:
        units = [dict(id=1, kind="district", code="350203", name="思明区", parent_id=None)]
        units += [
            dict(
                id=STREET0 + s,
                kind="street",
                code=f"350203{s + 1:03d}",
                name=f"街道{s}",
                parent_id=1,
            )
            for s in range(STREETS)
        ]
        units += [
            dict(
                id=COMMUNITY0 + c,
                kind="community",
                code=f"350203{c // 5 + 1:03d}{c % 5 + 1:03d}",
                name=f"社区{c}",
                parent_id=STREET0 + c // 5,
            )
            for c in range(COMMUNITIES)
        ]
        units += [
            dict(
                id=DEPARTMENT0 + d,
                kind="department",
                code=f"D{d:03d}",
                name=f"部门{d}",
                parent_id=1,
            )
            for d in range(DEPARTMENTS)
        ]
        _rows("org_units", [{**u, "created_at": created} for u in units], connection)
        _rows(
            "unit_grids",
            [
                dict(
                    id=1 + g,
                    code=f"{units[1 + STREETS + g // 10]['code']}{g % 10 + 1:03d}",
                    name=None,
                    community_id=COMMUNITY0 + g // 10,
                    geometry="{}",
                    area_m2=1.0,
                    min_lon=0,
                    min_lat=0,
                    max_lon=0,
                    max_lat=0,
                    created_at=created,
                )
                for g in range(GRIDS)
            ],
            connection,
        )
        people = [(INSPECTOR0 + k, "inspector", None) for k in range(INSPECTORS)]
        people += [(DISPATCHER0 + k, "dispatcher", None) for k in range(DISPATCHERS)]
        people += [(CLERK, "dispatcher", "intake_clerk")]
        people += [(MERCHANT0 + k, "merchant", None) for k in range(MERCHANTS)]
        _rows(
            "users",
            [
                dict(
                    id=uid,
                    username=f"u{uid}",
                    display_name=f"用户{uid}",
                    role=role,
                    duty=duty,
                    password_hash="x",
                    is_active=True,
                    created_at=created,
                    updated_at=created,
                )
                for uid, role, duty in people
            ],
            connection,
        )
        _rows(
            "responsibility_grids",
            [
                dict(
                    id=1 + k,
                    code=f"RG{k}",
                    name=f"责任网格{k}",
                    inspector_id=INSPECTOR0 + k,
                    created_at=created,
                    updated_at=created,
                )
                for k in range(INSPECTORS)
            ],
            connection,
        )
        _rows(
            "responsibility_grid_members",
            [dict(unit_grid_id=1 + g, responsibility_grid_id=1 + g // 10) for g in range(GRIDS)],
            connection,
        )
        _rows(
            "shops",
            [
                dict(
                    id=1 + k,
                    name=f"店{k}",
                    address="",
                    merchant_id=MERCHANT0 + k // 10,
                    community_id=COMMUNITY0 + k % COMMUNITIES,
                    lat=0,
                    lon=0,
                    created_at=created,
                )
                for k in range(SHOPS)
            ],
            connection,
        )
    with Session(engine) as session:
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
        session.commit()
        return category.id


def generate(engine: sa.Engine, cases: int, case_columns: dict | None = None) -> None:
    """The district and ``cases`` cases with their steps and tasks; ``case_columns``: SQL
    expressions (over the draws ``i``, ``g``, ``rep`` …) replacing some of the cases'."""
    sql = Dialect(engine.dialect.name)
    category_id = _reference(engine)
    started = time.perf_counter()
    for start in range(0, cases, CHUNK):
        count = min(CHUNK, cases - start)
        statements = [_case_insert(sql, start, count, category_id, case_columns)]
        statements += [_flow_insert(sql, step, start, count) for step in STEPS]
        statements += _task_inserts(sql, start, count)
        with engine.begin() as connection:
            for statement in statements:
                connection.exec_driver_sql(sql.raw(statement))
        rate = (start + count) / (time.perf_counter() - started)
        print(f"\r  {start + count:,} cases ({rate:,.0f}/s)", end="", file=sys.stderr, flush=True)
    with engine.begin() as connection:
        connection.exec_driver_sql(sql.raw(_selfcheck_insert(sql)))
    print(file=sys.stderr)
    if sql.pg:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
            for table in ("org_units", "unit_grids", "users", "responsibility_grids", "shops"):
                connection.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
    else:
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")


# ---------------------------------------------------------------------------------------------
# The baseline: the same counts by hand


BASELINE = {
    "due": """
SELECT street_id, community_id, grid_id, department_id, COUNT(*) AS due_to_close,
  SUM(CASE WHEN closed_at < :as_of THEN 1 ELSE 0 END) AS closed,
  SUM(CASE WHEN closed_at < :as_of AND closed_on_time IS TRUE THEN 1 ELSE 0 END) AS closed_on_time,
  SUM(CASE WHEN handled_at < :as_of THEN 1 ELSE 0 END) AS handled,
  SUM(CASE WHEN handled_at < :as_of AND handled_on_time IS TRUE THEN 1 ELSE 0 END)
    AS handled_on_time
FROM cases
WHERE valid IS TRUE AND state <> 'cancelled' AND merged_into_id IS NULL
  AND ((closed_at >= :start AND (closed_at < :as_of OR deadline < :as_of))
       OR (closed_at IS NULL AND deadline < :as_of))
GROUP BY street_id, community_id, grid_id, department_id""",
    "reworks": """
SELECT c.street_id, c.community_id, c.grid_id, c.department_id, COUNT(*) AS reworks
FROM case_flow f JOIN cases c ON c.id = f.case_id
WHERE f.action = 'check_fail' AND f.at >= :start AND f.at < :as_of
  AND c.valid IS TRUE AND c.state <> 'cancelled' AND c.merged_into_id IS NULL
GROUP BY c.street_id, c.community_id, c.grid_id, c.department_id""",
    "filings": """
SELECT street_id, community_id, grid_id, reporter_id, missed_by_id,
  SUM(CASE WHEN registered_at >= :start AND registered_at < :as_of AND valid IS TRUE
      AND merged_into_id IS NULL THEN 1 ELSE 0 END) AS filed,
  SUM(CASE WHEN registered_at >= :start AND registered_at < :as_of AND valid IS TRUE
      AND merged_into_id IS NULL AND source IN ('public', 'hotline', 'open311', 'video')
      THEN 1 ELSE 0 END) AS public_filed,
  SUM(CASE WHEN registered_at >= :start AND registered_at < :as_of AND valid IS TRUE
      AND merged_into_id IS NULL AND missed_by_id IS NOT NULL THEN 1 ELSE 0 END) AS missed,
  SUM(CASE WHEN reported_at >= :start AND reported_at < :as_of AND valid IS NOT NULL
      THEN 1 ELSE 0 END) AS reports,
  SUM(CASE WHEN reported_at >= :start AND reported_at < :as_of AND valid IS TRUE
      THEN 1 ELSE 0 END) AS valid_reports
FROM cases
WHERE (registered_at >= :start AND registered_at < :as_of)
   OR (reported_at >= :start AND reported_at < :as_of)
GROUP BY street_id, community_id, grid_id, reporter_id, missed_by_id""",
    "steps": """
SELECT actor_id, duty, action, COUNT(*) AS steps,
  SUM(CASE WHEN overdue IS FALSE THEN 1 ELSE 0 END) AS on_time
FROM case_flow
WHERE action IN ('register', 'close', 'dispatch') AND actor_role = 'dispatcher'
  AND at >= :start AND at < :as_of
GROUP BY actor_id, duty, action""",
    "cancelled": """
SELECT f.actor_id, f.duty, COUNT(*) AS cancelled
FROM cases c JOIN case_flow f ON f.case_id = c.id
WHERE c.state = 'cancelled' AND f.action = 'register' AND f.actor_role = 'dispatcher'
  AND f.at >= :start AND f.at < :as_of
GROUP BY f.actor_id, f.duty""",
    "returned": """
SELECT d.actor_id, d.duty, COUNT(*) AS returned
FROM case_flow r JOIN case_flow d ON d.case_id = r.case_id
  AND d.seq = (SELECT MAX(e.seq) FROM case_flow e
               WHERE e.case_id = r.case_id AND e.action = 'dispatch' AND e.seq < r.seq)
WHERE r.action = 'approve_return' AND r.at >= :start AND r.at < :as_of
  AND d.action = 'dispatch' AND d.actor_role = 'dispatcher'
  AND d.at >= :start AND d.at < :as_of
GROUP BY d.actor_id, d.duty""",
    "tasks": """
SELECT assignee_id, kind, COUNT(*) AS due,
  SUM(CASE WHEN state = 'completed' AND completed_at <= deadline THEN 1 ELSE 0 END) AS on_time
FROM tasks
WHERE kind IN ('verify', 'check') AND deadline >= :start AND deadline < :as_of
  AND state NOT IN ('cancelled', 'reassigned')
GROUP BY assignee_id, kind""",
}
# Self-check days: the month's days as (day, start, end) rows joined to the shops.
SELFCHECK_DUE = """
SELECT s.community_id, COUNT(*) AS days_due
FROM shops s JOIN users u ON u.id = s.merchant_id JOIN ({days}) d
  ON d.day_end > s.created_at AND (s.pledge_signed_on IS NULL OR s.pledge_signed_on <= d.day)
WHERE u.is_active IS TRUE
GROUP BY s.community_id"""
SELFCHECK_DONE = """
SELECT s.community_id, COUNT(*) AS days_selfchecked
FROM shops s JOIN users u ON u.id = s.merchant_id JOIN ({days}) d
  ON d.day_end > s.created_at AND (s.pledge_signed_on IS NULL OR s.pledge_signed_on <= d.day)
WHERE u.is_active IS TRUE AND EXISTS (SELECT 1 FROM selfchecks c WHERE c.shop_id = s.id
  AND c.created_at >= d.day_start AND c.created_at < d.day_end)
GROUP BY s.community_id"""


def _days_sql(sql: Dialect, period: periods.Period) -> tuple[str, dict]:
    selects, params = [], {}
    day = period.first
    while day <= period.last:
        bounds = periods.period_of_days(day, day, TZ)
        n = len(selects)
        params.update(
            {f"d{n}": day, f"s{n}": sql.param(bounds.start), f"e{n}": sql.param(bounds.end)}
        )
        selects.append(f"SELECT :d{n} AS day, :s{n} AS day_start, :e{n} AS day_end")
        day += dt.timedelta(days=1)
    return " UNION ALL ".join(selects), params


def baseline(connection: sa.Connection, sql: Dialect, period: periods.Period) -> dict:
    params = {"start": sql.param(period.start), "as_of": sql.param(min(period.end, NOW))}
    result = {
        name: connection.execute(sa.text(text), params).all() for name, text in BASELINE.items()
    }
    days, day_params = _days_sql(sql, period)
    for name, text in (("days_due", SELFCHECK_DUE), ("days_done", SELFCHECK_DONE)):
        result[name] = connection.execute(sa.text(text.format(days=days)), day_params).all()
    return result


# ---------------------------------------------------------------------------------------------
# Checking and timing


def _totals(result: dict) -> Counter:
    totals = Counter()
    for name, rows in result.items():
        for row in rows:
            for column, value in row._mapping.items():
                if column not in (
                    "street_id",
                    "community_id",
                    "grid_id",
                    "department_id",
                    "reporter_id",
                    "missed_by_id",
                    "actor_id",
                    "duty",
                    "action",
                    "assignee_id",
                    "kind",
                    "day",
                ):
                    totals[f"{name}.{column}"] += int(value or 0)
    return totals


def check_same_counts(session: Session, sql: Dialect, period: periods.Period) -> None:
    reference = levels.load_reference(session)
    counts = services.count_month(session, period, NOW, reference)
    district = counts["district"]["region"][1]
    hand = _totals(baseline(session.connection(), sql, period))
    pairs = {
        "due_to_close": hand["due.due_to_close"],
        "closed": hand["due.closed"],
        "closed_on_time": hand["due.closed_on_time"],
        "reworks": hand["reworks.reworks"],
        "filed": hand["filings.filed"],
        "public_filed": hand["filings.public_filed"],
        "days_due": hand["days_due.days_due"],
        "days_selfchecked": hand["days_done.days_selfchecked"],
    }
    for name, expected in pairs.items():
        assert district.get(name, 0) == expected, (name, district.get(name), expected)
    dispatched = sum(t.get("dispatched", 0) for t in counts["dispatcher"]["dispatcher"].values())
    returned = sum(
        t.get("dispatched_not_returned", 0) for t in counts["dispatcher"]["dispatcher"].values()
    )
    hand_rows = baseline(session.connection(), sql, period)
    hand_dispatched = sum(r.steps for r in hand_rows["steps"] if r.action == "dispatch")
    hand_returned = sum(r.returned for r in hand_rows["returned"])
    assert (dispatched, returned) == (hand_dispatched, hand_dispatched - hand_returned)

    print(f"  same counts: {dict(pairs)}, dispatched {dispatched:,} ({returned:,} not returned)")


def measure(engine: sa.Engine, rounds: int) -> tuple[float, float, int]:
    sql = Dialect(engine.dialect.name)
    with Session(engine) as session:
        period = periods.month(MONTH, TZ, NOW)
        previous = periods.previous_month(period, TZ)
        check_same_counts(session, sql, period)
        app_times, base_times = [], []
        rows = 0
        for _ in range(rounds + 1):  # the first round warms up
            started = time.perf_counter()
            result = services.compute(session, period, LEVELS, NOW)
            app_times.append(time.perf_counter() - started)
            rows = sum(len(level_rows) for level_rows in result.values())
            session.rollback()
            started = time.perf_counter()
            baseline(session.connection(), sql, period)
            baseline(session.connection(), sql, previous)
            base_times.append(time.perf_counter() - started)
            session.rollback()
    return statistics.median(app_times[1:]), statistics.median(base_times[1:]), rows


def _has_cases(engine: sa.Engine) -> bool:
    if not sa.inspect(engine).has_table("cases"):
        return False
    with engine.connect() as connection:
        return connection.exec_driver_sql("SELECT 1 FROM cases LIMIT 1").first() is not None


def run(url: str, label: str, cases: int, rounds: int, reuse: bool = False):
    """Build the database (emptied first) unless ``reuse`` and it holds cases already,
    then measure."""
    engine = make_engine(url)
    started = time.perf_counter()
    if not (reuse and _has_cases(engine)):
        if engine.dialect.name == "postgresql":
            with engine.begin() as connection:
                connection.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
                connection.exec_driver_sql("CREATE SCHEMA public")
        else:
            metadata.drop_all(engine)
        metadata.create_all(engine)
        print(f"[{label}] generating {cases:,} cases", file=sys.stderr)
        generate(engine, cases)
    built = time.perf_counter() - started
    app, base, rows = measure(engine, rounds)
    engine.dispose()
    load = os.getloadavg()
    print(f"\n{label}: {cases:,} cases (built in {built:.0f} s), month {MONTH}, {rows:,} rows")
    print(f"  app, every level + previous month   {app * 1000:10.1f} ms")
    print(f"  hand-written GROUP BYs, both months {base * 1000:10.1f} ms")
    print(f"  ratio {app / base:.2f}  (target <= 1.5)   load {load[0]:.1f} {load[1]:.1f}")
    return app, base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--postgres", help="also run on this PostgreSQL URL (emptied first)")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--sqlite-file", help="keep the SQLite database here (default: temp)")
    parser.add_argument(
        "--reuse", action="store_true", help="measure a database built before, if it has cases"
    )
    args = parser.parse_args()
    if args.sqlite_file and not args.no_sqlite:
        url = f"sqlite:///{Path(args.sqlite_file).resolve()}"
        run(url, "SQLite", args.cases, args.rounds, args.reuse)
    elif not args.no_sqlite:
        with tempfile.TemporaryDirectory() as folder:
            run(f"sqlite:///{folder}/bench.sqlite3", "SQLite", args.cases, args.rounds)
    if args.postgres:
        run(args.postgres, "PostgreSQL", args.cases, args.rounds, args.reuse)


if __name__ == "__main__":
    main()
