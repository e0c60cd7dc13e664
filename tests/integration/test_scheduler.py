"""The scheduler (``app.scheduler``), on SQLite and PostgreSQL: a due job runs once and is
recorded, a job another runner holds is skipped, and two ``flask schedule run --once``
processes started together run each due job once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.scheduler import runner
from app.scheduler.jobs import JOBS
from app.scheduler.models import ScheduledRun

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def lock_dir(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "SCHEDULE_LOCK_DIR", str(tmp_path / "locks"))
    return tmp_path / "locks"


def recorded(session) -> dict[str, ScheduledRun]:
    session.expire_all()
    return {row.job: row for row in session.scalars(sa.select(ScheduledRun))}


def test_a_due_job_runs_once_and_is_recorded_until_its_interval_passes(
    app, committing, session, lock_dir, monkeypatch
):
    ran = []
    jobs = {"tick": lambda _app: ran.append(1) or "ticked", "broken": lambda _app: 1 / 0}
    monkeypatch.setitem(app.config, "SCHEDULE_INTERVALS", {"tick": 60, "broken": 60})
    with app.app_context():
        first = runner.run_due(app, jobs)
        again = runner.run_due(app, jobs)
    assert [(o.job, o.status) for o in first] == [("tick", "ran"), ("broken", "error")]
    assert "ZeroDivisionError" in first[1].summary
    assert [o.status for o in again] == ["not_due", "not_due"]
    assert ran == [1]
    rows = recorded(session)
    assert (rows["tick"].runs, rows["tick"].last_status, rows["tick"].last_summary) == (
        1,
        "ok",
        "ticked",
    )
    assert rows["broken"].last_status == "error" and "division" in rows["broken"].last_error


def test_an_interval_of_zero_turns_a_job_off(app, committing, session, lock_dir, monkeypatch):
    monkeypatch.setitem(app.config, "SCHEDULE_INTERVALS", {"tick": 0})
    with app.app_context():
        [outcome] = runner.run_due(app, {"tick": lambda _app: "ticked"})
    assert outcome.status == "off" and recorded(session) == {}


def test_a_job_another_runner_holds_is_skipped(app, committing, session, lock_dir):
    with app.app_context():
        with runner.exclusive(db.engine, "tick", str(lock_dir)) as held:
            assert held is not None
            outcome = runner.run_job(app, "tick", lambda _app: "ticked", 60)
        assert outcome.status == "busy"
        assert runner.run_job(app, "tick", lambda _app: "ticked", 60).status == "ran"
    assert recorded(session)["tick"].runs == 1


def test_two_hosts_starting_the_scheduler_at_once_run_each_due_job_once(
    app, committing, session, database_url, tmp_path
):
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "MEDIA_ROOT": str(tmp_path / "media"),
        "UPLOADS_ROOT": str(tmp_path / "uploads"),
        # Two hosts share the database, not a disk: on SQLite the lock files are the lock.
        "SCHEDULE_LOCK_DIR": str(tmp_path / "locks"),
    }
    command = [sys.executable, "-m", "flask", "--app", "wsgi:app", "schedule", "run", "--once"]
    hosts = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [host.communicate(timeout=120)[0] for host in hosts]
    assert [host.returncode for host in hosts] == [0, 0], outputs
    lines = [line for output in outputs for line in output.splitlines()]
    for job in JOBS:
        statuses = sorted(
            line.split(":")[1].split()[0] for line in lines if line.startswith(f"{job}:")
        )
        # The other host found it held (busy) or already run (not due): never twice.
        assert statuses in (["busy", "ran"], ["not_due", "ran"]), (job, outputs)
    runs = recorded(session)
    assert {job: row.runs for job, row in runs.items()} == dict.fromkeys(JOBS, 1)
    assert {row.last_status for row in runs.values()} == {"ok"}, [
        row.last_error for row in runs.values()
    ]
