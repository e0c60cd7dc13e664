"""Database growth per case, measured: the bytes each table gains while the demo district's
history (``app.demo.history``: three months of cases reported, dispatched, handled,
checked and closed by the real use cases, with photos, pressing and notifications; then
today's desk) is written, divided by the cases written. docs/deploy.md's sizing uses it.

On PostgreSQL: ``public`` of ``--url`` is dropped and re-created, the tables made from
the models, the demo district loaded without history and every table's
``pg_total_relation_size`` (heap, TOAST and indexes) taken after ``VACUUM``; then the
history is written and the sizes taken again.

    .venv/bin/python bench/sizing_bench.py --url postgresql+psycopg://postgres@127.0.0.1/x
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app
from app.accounts.passwords import use_fast_hashing_for_tests
from app.demo.history import HistoryPlan
from app.demo.services import load_demo
from app.extensions import db
from app.models import metadata
from app.photos.backends import media

SIZES = sa.text(
    "SELECT c.relname, pg_total_relation_size(c.oid), c.reltuples::bigint "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = 'public' AND c.relkind = 'r'"
)


def sizes() -> dict[str, tuple[int, int]]:
    """Each table's bytes (heap, TOAST, indexes) and rows, after VACUUM ANALYZE."""
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM ANALYZE")
        return {name: (size, rows) for name, size, rows in connection.execute(SIZES)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="a PostgreSQL database to overwrite")
    parser.add_argument("--top", type=int, default=15, help="tables to list")
    args = parser.parse_args()
    use_fast_hashing_for_tests()
    folder = Path(tempfile.mkdtemp(prefix="sizing-"))
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URL": args.url,
            "MEDIA_ROOT": str(folder / "media"),
            "UPLOADS_ROOT": str(folder / "uploads"),
            "LOG_LEVEL": "WARNING",
        }
    )
    with app.app_context():
        with db.engine.begin() as connection:
            connection.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
            connection.exec_driver_sql("CREATE SCHEMA public")
        metadata.create_all(db.engine)
        load_demo(db.session, media=media(), history=None)
        db.session.commit()
        before = sizes()
        started = time.perf_counter()
        report = load_demo(db.session, media=media(), history=HistoryPlan())
        db.session.commit()
        seconds = time.perf_counter() - started
        after = sizes()
        cases = db.session.scalar(sa.text("SELECT count(*) FROM cases"))
        photos = db.session.scalar(sa.text("SELECT count(*) FROM photos"))
    grown = {
        name: (
            after[name][0] - before.get(name, (0, 0))[0],
            after[name][1] - before.get(name, (0, 0))[1],
        )
        for name in after
    }
    total = sum(size for size, _rows in grown.values())
    history = report.history
    print(
        f"history: {history.cases if history else 0} cases, desk: "
        f"{report.desk.line() if report.desk else '-'}; {seconds:.0f} s"
    )
    print(f"cases in the database: {cases}, photos: {photos}")
    print(f"growth: {total / 1024**2:.2f} MiB, {total / cases / 1024:.1f} KiB per case")
    print(f"{'table':<32} {'KiB':>9} {'rows':>8} {'B/case':>8}")
    for name, (size, rows) in sorted(grown.items(), key=lambda item: -item[1][0])[: args.top]:
        print(f"{name:<32} {size / 1024:>9.0f} {rows:>8} {size / cases:>8.0f}")


if __name__ == "__main__":
    main()
