"""``flask photos …``: the Redis job worker, upload cleanup, reprocessing."""

import click
from flask import current_app
from flask.cli import AppGroup

from app.extensions import db
from app.photos import services, uploads
from app.photos.backends import media

group = AppGroup("photos", help="Photo pipeline operations.")


@group.command("purge-uploads")
def purge_uploads():
    """Remove expired partial uploads, for the whole city: safe on any host, even on
    several at once (run it from the scheduler or cron)."""
    count = uploads.purge_uploads(db.session, media())
    click.echo(f"purged {count} expired partial uploads and temporary files")


@group.command("requeue")
def requeue():
    """Queue again every photo whose thumbnails are still to be made."""
    queue = media().queue
    count = services.requeue_unprocessed(db.session, media())
    click.echo(f"queued {count} blobs for processing")
    if hasattr(queue, "join"):
        # In-process queue: this command's own thread does the work, so wait for it.
        with click.progressbar(length=count, label="processing") as bar:
            queue.join(timeout=max(60.0, 10.0 * count))
            bar.update(count)


@group.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
def worker(burst):
    """Process photo jobs from Redis (with JOB_QUEUE=redis)."""
    import redis

    from media.jobs import run_worker

    if current_app.config["JOB_QUEUE"] != "redis":
        raise click.ClickException("JOB_QUEUE is not redis: the web process runs jobs itself")
    connection = redis.Redis.from_url(current_app.config["REDIS_URL"])
    click.echo(
        f"worker on {current_app.config['REDIS_URL']} queue {current_app.config['JOB_QUEUE_NAME']}"
    )
    run_worker(connection, current_app.config["JOB_QUEUE_NAME"], burst=burst)
