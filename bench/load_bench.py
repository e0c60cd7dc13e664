"""Fifty phones pushing and pulling at once against PostgreSQL behind gunicorn.

Each simulated phone is the reference client (``fieldclient.client.SyncClient`` over
``HttpTransport``, its own SQLite queue) in a thread of this process: for ``--seconds`` it
queues one to four ``report.create`` mutations (photos by reference, bytes not sent: the
upload bench measures bytes), pushes and pulls, again and again. Every request's latency is
recorded per kind. Afterwards each phone pushes and pulls to the end and the database is
checked: every mid each phone queued decided exactly once (no lost, no doubled mutation),
one case per applied report, and no request answered with an error.

    .venv/bin/python bench/load_bench.py [--phones 50] [--seconds 60] [--workers 4]
        [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/bench_load]

The database named is emptied (its ``public`` schema is dropped and made again).
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.accounts import services as accounts  # noqa: E402
from app.accounts.models import Role  # noqa: E402
from app.cases.models import Case  # noqa: E402
from app.core.db import make_engine  # noqa: E402
from app.demo import district  # noqa: E402
from app.demo.services import load_demo  # noqa: E402
from app.models import metadata  # noqa: E402
from app.orgunits.models import OrgUnit  # noqa: E402
from app.sync_api.models import SyncDevice, SyncMutation  # noqa: E402
from fieldclient.client import SyncClient  # noqa: E402
from fieldclient.transport import HttpTransport, Response  # noqa: E402

PASSWORD = "load-bench-pass-2026"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_load"


def grid_centres() -> list[tuple[float, float]]:
    """The middle of each demo unit grid, where a report routes without a question."""
    centres = []
    for feature in district.unit_grids()["features"]:
        ring = feature["geometry"]["coordinates"][0][:-1]
        lon = sum(p[0] for p in ring) / len(ring)
        lat = sum(p[1] for p in ring) / len(ring)
        centres.append((lat, lon))
    return centres


def prepare(url: str, phones: int) -> list[str]:
    """An empty database with the demo district and ``phones`` inspectors; their names."""
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(sa.text("CREATE SCHEMA public"))
    metadata.create_all(engine)
    names = []
    with Session(engine) as session:
        load_demo(session)
        community = session.scalar(
            sa.select(OrgUnit).where(OrgUnit.kind == "community").order_by(OrgUnit.id)
        )
        for n in range(phones):
            name = f"load_inspector_{n:03d}"
            accounts.add_user(
                session,
                username=name,
                password=PASSWORD,
                role=Role.INSPECTOR,
                display_name=f"巡查员 {n}",
                org_unit_id=community.id,
            )
            names.append(name)
        session.commit()
    engine.dispose()
    return names


def start_server(url: str, workers: int, port: int, scratch: Path) -> subprocess.Popen:
    env = dict(
        os.environ,
        DATABASE_URL=url,
        MEDIA_ROOT=str(scratch / "media"),
        UPLOADS_ROOT=str(scratch / "uploads"),
        LOG_LEVEL="WARNING",
    )
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "--timeout",
            "120",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(scratch / "gunicorn.log", "wb"),  # noqa: SIM115 - lives with the process
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return server
        except OSError:
            time.sleep(0.3)
    server.kill()
    raise SystemExit("gunicorn did not come up; see gunicorn.log")


class TimedTransport(HttpTransport):
    """HTTP that records each request's latency by kind (push, pull, other) and any error."""

    def __init__(self, base_url: str, latencies: dict, errors: list, lock: threading.Lock):
        super().__init__(base_url, timeout=120)
        self.latencies, self.errors, self.lock = latencies, errors, lock

    def request(self, method, path, *, headers, json=None, body=None) -> Response:
        kind = (
            "push" if path.endswith("/sync/push") else "pull" if "/sync/pull" in path else "other"
        )
        started = time.perf_counter()
        response = super().request(method, path, headers=headers, json=json, body=body)
        elapsed = time.perf_counter() - started
        with self.lock:
            self.latencies[kind].append(elapsed)
            if response.status >= 400:
                self.errors.append((method, path, response.status, response.body[:200]))
        return response


def report_args(rng: random.Random, centres) -> dict:
    lat, lon = rng.choice(centres)
    photo_id = uuid.uuid4()
    return {
        "category_code": "06010",
        "description": "路边暴露垃圾",
        "address": "演示区",
        "location": {"lat": lat, "lon": lon, "crs": "wgs84"},
        "photos": [
            {
                "photo_id": str(photo_id),
                "sha256": uuid.uuid5(photo_id, "bytes").hex * 2,
                "kind": "problem",
            }
        ],
    }


def run_phone(phone: dict, until: float, rng: random.Random, centres, stats) -> None:
    # The client's SQLite queue belongs to the thread that opens it.
    with SyncClient(phone["transport"], phone["db"], phone["device_id"], phone["token"]) as client:
        while time.monotonic() < until:
            for _ in range(rng.randint(1, 4)):
                client.enqueue("report.create", uuid.uuid4(), report_args(rng, centres))
                stats["queued"] += 1
            client.push()
            client.pull()
        client.push()
        client.pull()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def verify(url: str, queued: dict[str, int]) -> list[str]:
    """Every queued mid decided once and applied; one case per report."""
    problems = []
    engine = make_engine(url)
    with Session(engine) as session:
        for device_id, count in queued.items():
            device = session.scalar(sa.select(SyncDevice).where(SyncDevice.device_id == device_id))
            mids = session.scalars(
                sa.select(SyncMutation.mid)
                .join(SyncDevice, SyncDevice.id == SyncMutation.device_pk)
                .where(SyncDevice.device_id == device_id, SyncMutation.mid.is_not(None))
            ).all()
            if device is None or device.last_mid != count:
                problems.append(f"{device_id}: last_mid {device and device.last_mid} != {count}")
            if sorted(mids) != list(range(1, count + 1)):
                problems.append(f"{device_id}: mids decided {len(mids)}, expected 1..{count}")
        statuses = collections.Counter(
            session.scalars(sa.select(SyncMutation.status).where(SyncMutation.mid.is_not(None)))
        )
        cases = session.scalar(sa.select(sa.func.count()).select_from(Case))
        total = sum(queued.values())
        if statuses != collections.Counter({"applied": total}):
            problems.append(f"outcomes {dict(statuses)}, expected {total} applied")
        if cases != total:
            problems.append(f"{cases} cases for {total} applied reports")
    engine.dispose()
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", default=DEFAULT_URL)
    parser.add_argument("--phones", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--port", type=int, default=8765)
    options = parser.parse_args()

    print(f"preparing {options.postgres} with {options.phones} inspectors …", file=sys.stderr)
    names = prepare(options.postgres, options.phones)
    centres = grid_centres()
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        server = start_server(options.postgres, options.workers, options.port, scratch)
        try:
            base = f"http://127.0.0.1:{options.port}"
            latencies: dict[str, list[float]] = collections.defaultdict(list)
            errors: list = []
            lock = threading.Lock()
            phones, queued = [], {}
            for n, name in enumerate(names):
                device_id = f"load-phone-{n:03d}"
                transport = TimedTransport(base, latencies, errors, lock)
                token = SyncClient.login(transport, name, PASSWORD, device_id)
                phones.append(
                    {
                        "transport": transport,
                        "db": scratch / f"{device_id}.sqlite3",
                        "device_id": device_id,
                        "token": token,
                    }
                )
            latencies.clear()
            print(
                f"{len(phones)} phones pushing and pulling for {options.seconds:.0f} s "
                f"against gunicorn -w {options.workers} …",
                file=sys.stderr,
            )
            until = time.monotonic() + options.seconds
            stats = {phone["device_id"]: collections.Counter() for phone in phones}
            threads = [
                threading.Thread(
                    target=run_phone,
                    args=(phone, until, random.Random(i), centres, stats[phone["device_id"]]),
                )
                for i, phone in enumerate(phones)
            ]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.monotonic() - started
            queued = {device_id: counts["queued"] for device_id, counts in stats.items()}
        finally:
            server.terminate()
            server.wait(timeout=30)
        problems = verify(options.postgres, queued)

    total = sum(queued.values())
    print(f"\n{len(phones)} phones, {wall:.1f} s, {total} mutations ({total / wall:.0f}/s)")
    print("| request | count | p50 | p99 | max |")
    print("|---|---|---|---|---|")
    for kind in ("push", "pull"):
        values = latencies[kind]
        if values:
            print(
                f"| {kind} | {len(values)} | {statistics.median(values) * 1000:.0f} ms "
                f"| {percentile(values, 0.99) * 1000:.0f} ms | {max(values) * 1000:.0f} ms |"
            )
    print(f"errors: {len(errors)}; lost or doubled: {len(problems)}")
    for problem in errors[:5] + problems[:10]:
        print("  ", problem)
    if errors or problems:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
