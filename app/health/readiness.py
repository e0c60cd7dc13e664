"""``/readyz``'s checks: may this app server take traffic? The database answers, the job
queue is reachable (Redis when ``JOB_QUEUE=redis``; the in-process queue always is), and
the blob store takes writes (a file made and removed in the disk root; ``HeadBucket`` on
S3).

Each check runs in a thread of its own and is given ``READY_TIMEOUT_SECONDS``: a database
or Redis behind a dropped route would otherwise hold the probe (and a worker) until the
TCP timeout, minutes later. A check that times out is reported as such and its thread is
left to finish on its own (daemon: it never holds up an exit).
"""

from __future__ import annotations

import dataclasses
import tempfile
import threading
import time
from collections.abc import Callable

import sqlalchemy as sa

from media.jobs import RedisQueue
from media.storage import BlobStore, DiskBlobStore, S3BlobStore


@dataclasses.dataclass
class Check:
    ok: bool
    detail: str

    def as_json(self) -> dict:
        return {"ok": self.ok, "detail": self.detail}


def run_all(checks: dict[str, Callable[[], str]], timeout: float) -> dict[str, Check]:
    """Run every check at once (each returns what it saw, raises when not ready); give them
    ``timeout`` seconds in all."""
    outcomes: dict[str, Check] = {}

    def run(name: str, check: Callable[[], str]) -> None:
        try:
            outcomes[name] = Check(True, check())
        except Exception as error:
            outcomes[name] = Check(False, f"{type(error).__name__}: {error}"[:200])

    threads = [
        threading.Thread(target=run, args=item, name=f"readyz-{item[0]}", daemon=True)
        for item in checks.items()
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    late = Check(False, f"no answer within {timeout:g} s")
    return {name: outcomes.get(name, late) for name in checks}


def database(engine: sa.Engine) -> Callable[[], str]:
    def check() -> str:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        return engine.dialect.name

    return check


def job_queue(queue: object) -> Callable[[], str]:
    inner = getattr(queue, "inner", queue)  # the request-tagging wrapper's backend

    def check() -> str:
        if isinstance(inner, RedisQueue):
            inner.connection.ping()
            return "redis"
        return "inprocess"

    return check


def blob_store(store: BlobStore) -> Callable[[], str]:
    def check() -> str:
        if isinstance(store, DiskBlobStore):
            with tempfile.NamedTemporaryFile(dir=store.root / "tmp", prefix="readyz-"):
                pass
            return "disk"
        if isinstance(store, S3BlobStore):
            store.client.head_bucket(Bucket=store.bucket)
            return "s3"
        return type(store).__name__

    return check
