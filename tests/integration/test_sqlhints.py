"""The conditions compiled per database (app/core/sqlhints.py): the same rows as the plain
condition, on the index the list needs."""

from __future__ import annotations

import sqlalchemy as sa

from app.core.sqlhints import rare, starts_with, successor

PROBE = sa.Table(
    "sqlhints_probe",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("code", sa.String(32), unique=True),
    sa.Column("state", sa.String(16), index=True),
)
CODES = ["B12", "B120", "B12%", "B12_x", "b12", "B13", "B1", "B2", "B11z", "C", "B12\u00e9", "B"]


def _probe(session) -> sa.Connection:
    connection = session.connection()
    PROBE.create(connection)
    rows = [
        {"id": n, "code": code, "state": "open" if n % 4 else "closed"}
        for n, code in enumerate(CODES)
    ]
    connection.execute(PROBE.insert(), rows)
    return connection


def test_starts_with_is_an_exact_case_sensitive_prefix(session):
    connection = _probe(session)
    for prefix in ["B12", "B12%", "B1", "b", "B12_", "%", "_", "Z", "B", "B12\u00e9"]:
        found = set(
            connection.scalars(sa.select(PROBE.c.code).where(starts_with(PROBE.c.code, prefix)))
        )
        assert found == {code for code in CODES if code.startswith(prefix)}, prefix


def test_successor_bounds_every_string_with_the_prefix():
    assert successor("B12") == "B13" and successor("B9") == "B:"
    assert successor("a\U0010ffff") == "a\U0010ffff\U0010ffff"
    assert successor("x\ud7ff") == "x\ue000"


def test_rare_selects_the_same_rows(session):
    connection = _probe(session)
    plain = PROBE.c.state.in_(["open"])
    assert set(connection.scalars(sa.select(PROBE.c.id).where(rare(plain)))) == set(
        connection.scalars(sa.select(PROBE.c.id).where(plain))
    )
    count = sa.select(sa.func.count()).select_from(PROBE).where(rare(plain), PROBE.c.id > 4)
    assert connection.scalar(count) == 6  # 5, 6, 7, 9, 10, 11


def test_sqlite_gets_the_hints_and_searches_the_index(session):
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        compiled = str(sa.select(PROBE.c.id).where(rare(PROBE.c.state == "a")).compile(connection))
        assert "likelihood" not in compiled
        return
    _probe(session)
    stmt = sa.select(PROBE.c.id).where(rare(PROBE.c.state.in_(["open"])))
    assert "likelihood(" in str(stmt.compile(connection))
    sql = str(
        sa.select(PROBE.c.id)
        .where(starts_with(PROBE.c.code, "B1"))
        .compile(connection, compile_kwargs={"literal_binds": True})
    )
    plan = " ".join(row[3] for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
    assert "INDEX" in plan and "SCAN" not in plan.replace("SCAN sqlhints_probe USING", ""), plan
