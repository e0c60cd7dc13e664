"""``flask schedule …`` (the city's periodic jobs, once per due time) and ``flask outbox …``
(the transactional outbox: relay what was never dispatched, list, retry)."""

from __future__ import annotations

import time

import click
from flask import current_app
from flask.cli import AppGroup

from app.core import outbox
from app.extensions import db
from app.scheduler import runner
from app.scheduler.jobs import JOBS

group = AppGroup("schedule", help="The city's periodic jobs, run once whichever hosts run them.")
outbox_group = AppGroup("outbox", help="The transactional outbox of after-effects.")
groups = (group, outbox_group)


def _echo(outcomes: list[runner.Outcome]) -> None:
    for outcome in outcomes:
        click.echo(
            f"{outcome.job}: {outcome.status}" + (f" — {outcome.summary}" * bool(outcome.summary))
        )


@group.command("run")
@click.option("--once", "mode", flag_value="once", default=True, help="One tick (cron).")
@click.option("--loop", "mode", flag_value="loop", help="Tick every --tick seconds (systemd).")
@click.option("--tick", default=30.0, show_default=True, help="Seconds between ticks.")
@click.option("--job", "only", multiple=True, type=click.Choice(sorted(JOBS)), help="Only these.")
def run(mode: str, tick: float, only: tuple[str, ...]):
    """Run the jobs that are due. Safe on every host at once: each job runs under a lock of
    its own and records its run, so a due job runs once for the city."""
    app = current_app._get_current_object()
    jobs = {name: JOBS[name] for name in only} if only else None
    if mode == "once":
        _echo(runner.run_due(app, jobs))
        return
    while True:
        _echo(runner.run_due(app, jobs))
        time.sleep(tick)


@group.command("status")
def status():
    """When each job last ran, where, and how it went."""
    with db.engine.connect() as connection:
        rows = {row.job: row for row in runner.status(connection)}
    intervals = current_app.config["SCHEDULE_INTERVALS"]
    for name in JOBS:
        row = rows.get(name)
        every = f"every {intervals.get(name, 0)}s" if intervals.get(name) else "off"
        if row is None:
            click.echo(f"{name} ({every}): never ran")
            continue
        click.echo(
            f"{name} ({every}): {row.runs} runs; last {row.last_started_at:%Y-%m-%d %H:%M:%S} "
            f"on {row.host}: {row.last_status} — {row.last_summary or row.last_error}"
        )


@outbox_group.command("relay")
@click.option("--loop", is_flag=True, help="Keep relaying, a pass every --interval seconds.")
@click.option("--interval", default=10.0, show_default=True, help="Seconds between passes.")
def relay(loop: bool, interval: float):
    """Run the outbox rows committed but never dispatched (a process died) and the retries
    whose time has come."""
    settings = outbox.OutboxSettings.from_config(current_app.config)
    while True:
        report = outbox.relay(db.new_session, settings)
        click.echo(f"done: {report.done}; retrying: {report.retrying}; failed: {report.failed}")
        if not loop:
            return
        time.sleep(interval)


@outbox_group.command("status")
@click.option("--failed", is_flag=True, help="List the failed rows with their last error.")
def status_of_outbox(failed: bool):
    """How many rows of each kind are pending, done, failed."""
    for (kind, state), count in sorted(outbox.counts(db.session).items()):
        click.echo(f"{kind} {state}: {count}")
    if failed:
        for row in outbox.failed_rows(db.session):
            click.echo(f"#{row.id} {row.kind} ({row.attempts} attempts): {row.last_error}")


@outbox_group.command("retry")
@click.argument("row_id", type=int)
def retry(row_id: int):
    """Try a failed row again at the next relay."""
    if outbox.retry(db.session, row_id) is None:
        raise click.ClickException(f"outbox row {row_id} does not exist or has not failed")
    click.echo(f"outbox row {row_id} will be tried again")
