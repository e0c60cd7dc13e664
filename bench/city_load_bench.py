"""A city's load on two app servers: walk-shaped phones against PostgreSQL (issue 15).

Two gunicorn servers (``gunicorn.conf.py``, ``--workers`` each) share one PostgreSQL
database, one upload and media directory (the documented shared ``UPLOADS_ROOT`` of the disk
backend) and a Redis queue with one photo worker (``flask photos worker``). Every request
of every phone goes to the next host in turn, as a load balancer without stickiness would
send it: a tus upload's POST, PATCHes and HEAD land on both hosts.

Each simulated phone is the reference client (``fieldclient``) in a thread of this
process, walking as inspectors walk: a burst of one to four reports, each with a photo
(a small JPEG of its own bytes), uploaded, pushed, then a pull; a pause; again, for
``--seconds``. Afterwards every phone syncs to the end and the database is checked: each
mid each phone queued decided exactly once (nothing lost, nothing doubled), one case per
report, every photo's bytes here, and no request answered with an error.

While it runs, a sampler reads ``pg_stat_activity`` every 20 ms and counts the sessions
waiting on a lock with the feed counter's upsert as their query: the feed counter is one
row that every feed-writing commit updates, so it is the candidate ceiling.

    .venv/bin/python bench/city_load_bench.py [--phones 200] [--seconds 180] [--workers 2]
        [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/bench_city]
        [--redis redis://127.0.0.1:6379/9]

The database named is emptied (its ``public`` schema dropped and made again); so is the
Redis database named.
"""

from __future__ import annotations

import argparse
import collections
import io
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import sqlalchemy as sa
from PIL import Image
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.cases.models import Case  # noqa: E402
from app.core.db import make_engine  # noqa: E402
from app.feed.models import FeedCounter  # noqa: E402
from app.photos.models import Blob  # noqa: E402
from bench.load_bench import grid_centres, percentile, prepare, verify  # noqa: E402
from fieldclient.client import SyncClient  # noqa: E402
from fieldclient.transport import HttpTransport, Response  # noqa: E402

PASSWORD = "load-bench-pass-2026"


def start_host(url: str, port: int, scratch: Path, workers: int, redis_url: str):
    env = dict(
        os.environ,
        DATABASE_URL=url,
        MEDIA_ROOT=str(scratch / "shared" / "media"),
        UPLOADS_ROOT=str(scratch / "shared" / "uploads"),
        JOB_QUEUE="redis",
        REDIS_URL=redis_url,
        LOG_LEVEL="WARNING",
        WEB_CONCURRENCY=str(workers),
        GUNICORN_BIND=f"127.0.0.1:{port}",
        PROMETHEUS_MULTIPROC_DIR=str(scratch / f"metrics-{port}"),
    )
    (scratch / f"metrics-{port}").mkdir()
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(scratch / f"gunicorn-{port}.log", "wb"),  # noqa: SIM115
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
                if answer.status == 200:
                    return server, env
        except OSError:
            time.sleep(0.3)
    server.kill()
    raise SystemExit(f"gunicorn on {port} did not come up; see gunicorn-{port}.log")


def route_of(method: str, path: str) -> str:
    path = urllib.parse.urlsplit(path).path
    if path.endswith("/sync/push"):
        return "push"
    if path.endswith("/sync/pull"):
        return "pull"
    if "/uploads" in path:
        return f"tus {method}"
    if "/blobs/" in path:
        return f"blob {method}"
    return "other"


class RoundRobin(HttpTransport):
    """Each request to the next host; latency per route, and every error answer."""

    def __init__(self, bases: list[str], record) -> None:
        super().__init__(bases[0], timeout=120)
        self.bases, self.next, self.record = bases, random.randrange(len(bases)), record

    def request(self, method, path, *, headers, json=None, body=None) -> Response:
        parts = urllib.parse.urlsplit(path)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        base = self.bases[self.next % len(self.bases)]
        self.next += 1
        started = time.perf_counter()
        response = HttpTransport(base, timeout=120).request(
            method, base + target, headers=headers, json=json, body=body
        )
        self.record(route_of(method, path), time.perf_counter() - started, response)
        return response


def photo_bytes(rng: random.Random) -> bytes:
    image = Image.new("RGB", (64, 48), tuple(rng.randrange(256) for _ in range(3)))
    image.putpixel((rng.randrange(64), rng.randrange(48)), (1, 2, 3))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, comment=uuid.uuid4().bytes)
    return out.getvalue()


def walk(phone: dict, until: float, rng: random.Random, centres, counts) -> None:
    folder: Path = phone["folder"]
    with SyncClient(phone["transport"], phone["db"], phone["device_id"], phone["token"]) as c:
        while time.monotonic() < until:
            for _ in range(rng.randint(1, 4)):
                path = folder / f"{uuid.uuid4()}.jpg"
                path.write_bytes(photo_bytes(rng))
                photo_id, sha256 = c.add_photo(path)
                lat, lon = rng.choice(centres)
                c.enqueue(
                    "report.create",
                    uuid.uuid4(),
                    {
                        "category_code": "06010",
                        "description": "路边暴露垃圾",
                        "address": "演示区",
                        "location": {"lat": lat, "lon": lon, "crs": "wgs84"},
                        "photos": [{"photo_id": photo_id, "sha256": sha256, "kind": "problem"}],
                    },
                )
                counts["queued"] += 1
                counts["photos"] += 1
            c.upload_photos()
            c.push()
            c.pull()
            time.sleep(rng.uniform(0.5, 3.0))  # walking to the next problem
        c.sync()


class LockSampler(threading.Thread):
    """Sessions waiting on a lock while running the feed counter's upsert, every 20 ms."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.engine = make_engine(url)
        self.samples, self.waiting, self.busiest = 0, 0, 0
        self.stop = threading.Event()

    def run(self) -> None:
        query = sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND query ILIKE '%feed_counter%'"
        )
        with self.engine.connect() as connection:
            while not self.stop.is_set():
                waiting = connection.execute(query).scalar_one()
                connection.rollback()
                self.samples += 1
                self.waiting += waiting
                self.busiest = max(self.busiest, waiting)
                time.sleep(0.02)
        self.engine.dispose()


def check_photos(url: str, expected: int) -> tuple[list[str], int]:
    engine = make_engine(url)
    with Session(engine) as session:
        blobs = session.scalar(sa.select(sa.func.count()).select_from(Blob))
        cases = session.scalar(sa.select(sa.func.count()).select_from(Case))
        seq = session.scalar(sa.select(FeedCounter.seq))
    engine.dispose()
    problems = [] if blobs == expected else [f"{blobs} blobs for {expected} photos"]
    return problems + ([] if cases == expected else [f"{cases} cases"]), seq


def start_city(options, scratch: Path) -> tuple[list, subprocess.Popen]:
    """The hosts and the photo worker."""
    hosts = []
    for port in options.port_list:
        hosts.append(start_host(options.postgres, port, scratch, options.workers, options.redis))
    worker = subprocess.Popen(
        [str(ROOT / ".venv/bin/flask"), "--app", "wsgi:app", "photos", "worker"],
        cwd=ROOT,
        env=hosts[0][1],
        stdout=subprocess.DEVNULL,
        stderr=open(scratch / "worker.log", "wb"),  # noqa: SIM115
    )
    return hosts, worker


def stop_city(hosts: list, worker: subprocess.Popen | None) -> None:
    for server, _env in hosts:
        server.terminate()
    for server, _env in hosts:
        server.wait(timeout=30)
    if worker is not None:
        worker.terminate()
        worker.wait(timeout=30)


def sign_in(names: list[str], bases: list[str], record, scratch: Path) -> list[dict]:
    phones = []
    for n, name in enumerate(names):
        device_id = f"city-phone-{n:03d}"
        transport = RoundRobin(bases, record)
        token = SyncClient.login(transport, name, PASSWORD, device_id)
        folder = scratch / device_id
        folder.mkdir()
        phones.append(
            {
                "transport": transport,
                "db": folder / "state.sqlite3",
                "device_id": device_id,
                "token": token,
                "folder": folder,
            }
        )
    return phones


def walk_all(phones: list[dict], seconds: float, centres) -> tuple[dict[str, int], float]:
    counts = {phone["device_id"]: collections.Counter() for phone in phones}
    until = time.monotonic() + seconds
    threads = [
        threading.Thread(
            target=walk, args=(phone, until, random.Random(i), centres, counts[phone["device_id"]])
        )
        for i, phone in enumerate(phones)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {device: c["queued"] for device, c in counts.items()}, time.monotonic() - started


def report(options, latencies, errors, problems, queued, wall, sampler, seq) -> None:
    total = sum(queued.values())
    print(
        f"\n{options.phones} phones, {len(options.port_list)} hosts, {wall:.1f} s: "
        f"{total} reports with a photo ({total / wall:.1f}/s)"
    )
    print("| route | count | p50 | p99 | max |")
    print("|---|---|---|---|---|")
    for route in sorted(latencies):
        values = latencies[route]
        print(
            f"| {route} | {len(values)} | {statistics.median(values) * 1000:.0f} ms "
            f"| {percentile(values, 0.99) * 1000:.0f} ms | {max(values) * 1000:.0f} ms |"
        )
    mean_waiting = sampler.waiting / max(sampler.samples, 1)
    print(
        f"feed counter: {seq} seqs handed out ({seq / wall:.0f}/s); sessions waiting on its "
        f"lock: mean {mean_waiting:.2f}, most {sampler.busiest} ({sampler.samples} samples)"
    )
    print(f"errors: {len(errors)}; lost or doubled: {len(problems)}")
    for problem in errors[:5] + problems[:10]:
        print("  ", problem)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1/bench_city")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--phones", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--ports", default="8771,8772")
    options = parser.parse_args()
    options.port_list = [int(port) for port in options.ports.split(",")]

    import redis

    redis.Redis.from_url(options.redis).flushdb()
    print(f"preparing {options.postgres} with {options.phones} inspectors …", file=sys.stderr)
    names = prepare(options.postgres, options.phones)
    centres = grid_centres()
    latencies: dict[str, list[float]] = collections.defaultdict(list)
    errors: list = []
    lock = threading.Lock()

    def record(route: str, seconds: float, response: Response) -> None:
        with lock:
            latencies[route].append(seconds)
            if response.status >= 400 and not (route == "blob HEAD" and response.status == 404):
                errors.append((route, response.status, response.body[:200]))

    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        hosts, worker = [], None
        try:
            hosts, worker = start_city(options, scratch)
            bases = [f"http://127.0.0.1:{port}" for port in options.port_list]
            phones = sign_in(names, bases, record, scratch)
            latencies.clear()
            print(
                f"{len(phones)} phones walking for {options.seconds:.0f} s against "
                f"{len(bases)} hosts (gunicorn, {options.workers} workers each) …",
                file=sys.stderr,
            )
            sampler = LockSampler(options.postgres)
            sampler.start()
            queued, wall = walk_all(phones, options.seconds, centres)
            sampler.stop.set()
            sampler.join()
        finally:
            stop_city(hosts, worker)
        problems = verify(options.postgres, queued)
        photo_problems, seq = check_photos(options.postgres, sum(queued.values()))
        problems += photo_problems
    report(options, latencies, errors, problems, queued, wall, sampler, seq)
    if errors or problems:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
