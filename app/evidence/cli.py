"""``flask evidence recheck``: find and redo the evidence checks that were missed."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from app.evidence import recheck as repair
from app.extensions import db
from app.photos.backends import media
from app.photos.services import requeue_unprocessed

group = AppGroup("evidence", help="Evidence checks on closure and check photos.")


def recheck_all(echo=click.echo) -> repair.RecheckReport:
    """Redo the missed checks, then queue again the photos never processed (their pHash
    checks run when the pipeline's job ends). What the scheduler's job runs too."""
    config = current_app.config
    todo = repair.missed(db.session)
    echo(
        f"photos with a missed evidence check: {sum(map(len, todo.values()))} on {len(todo)} cases"
    )
    done = [0]

    def progress(case_id, flags) -> None:
        done[0] += 1
        echo(f"  [{done[0]}/{len(todo)}] case {case_id}: {flags} new flags")

    report = repair.recheck(
        db.session,
        max_distance_m=config["EVIDENCE_MAX_DISTANCE_M"],
        phash_distance=config["EVIDENCE_PHASH_DISTANCE"],
        on_case=progress,
    )
    queued = requeue_unprocessed(db.session, media())
    echo(
        f"rechecked {report.photos} photos on {report.cases} cases: {report.flags} new flags; "
        f"{len(report.failed)} cases failed; {queued} unprocessed photos queued again"
    )
    for failure in report.failed:
        echo(f"  failed: {failure}")
    return report


@group.command("recheck")
def recheck():
    """Find closure and check photos whose evidence check never ran (or ran before their
    pHash existed) and run it; queue again the photos never processed. Idempotent."""
    report = recheck_all()
    if report.failed:
        raise SystemExit(1)
