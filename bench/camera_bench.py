"""Camera AI events: event received → case dispatched, under a burst (issue 14).

Builds a district with one handling department, the national categories, one camera
system (its API key) and N cameras; the category of the events is set to ``dispatch``
(filed and dispatched at once, the five-minute loop). Then C client threads post N events
at once through the HTTP API (``POST /api/v1/camera-events``, multipart with a 640 × 480
JPEG snapshot, each from its own camera so each opens its own case), and reports:

- received → dispatched: the case's ``dispatched_at`` minus the event's ``received_at``
  (the server's own stamps), p50 / p99;
- the request's round trip as the camera system sees it, p50 / p99;
- events per second the intake took (N / wall time of the burst).

Runs on SQLite (a temp file) and, with --postgres URL, on PostgreSQL (the database's
tables are dropped and made again).

    .venv/bin/python bench/camera_bench.py [--events 200] [--clients 8] [--postgres URL]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import io
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import sqlalchemy as sa
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app
from app.cameras import services as cameras
from app.cameras.models import CameraEvent
from app.cases.models import Case
from app.categories.services import find_category, seed_national_categories
from app.extensions import db
from app.models import metadata
from app.orgunits import services as orgunits

CATEGORY = ("event", "cjt214", "0102")  # 暴露垃圾


def _snapshot(seed: int) -> bytes:
    image = Image.effect_noise((640, 480), 40 + seed % 50).convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


def _setup(app, events: int) -> str:
    with app.app_context():
        metadata.drop_all(db.engine)
        metadata.create_all(db.engine)
        session = db.session
        orgunits.add_org_unit(session, "district", "350203", "思明区")
        department = orgunits.add_org_unit(session, "department", "D-HW", "环卫处", "350203")
        session.commit()
        seed_national_categories(session)
        category = find_category(session, *CATEGORY)
        cameras.put_setting(
            session,
            category.id,
            min_confidence=0.5,
            mode="dispatch",
            window_minutes=30,
            department_id=department.id,
        )
        for n in range(events):
            cameras.create_camera(
                session,
                code=f"CAM-{n:05d}",
                name=f"点位 {n}",
                lat=24.47 + (n % 100) * 0.0005,
                lon=118.08 + (n // 100) * 0.0005,
            )
        return cameras.create_system(session, "bench").api_key


def _post(client, api_key: str, n: int, snapshot: bytes) -> float:
    form = {
        "event_id": f"EV-{n:06d}",
        "camera_id": f"CAM-{n:05d}",
        "category": "0102",
        "category_kind": "event",
        "confidence": "0.93",
        "detected_at": dt.datetime.now(dt.UTC).isoformat(),
        "snapshot": (io.BytesIO(snapshot), "snap.jpg", "image/jpeg"),
    }
    started = time.perf_counter()
    response = client.post(
        "/api/v1/camera-events",
        data=form,
        headers={"X-Api-Key": api_key},
        content_type="multipart/form-data",
    )
    elapsed = time.perf_counter() - started
    if response.status_code != 201:
        raise RuntimeError(f"event {n}: {response.status_code} {response.get_json()}")
    return elapsed


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(url: str, events: int, clients: int, media_root: str) -> None:
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URL": url,
            "MEDIA_ROOT": os.path.join(media_root, "media"),
            "UPLOADS_ROOT": os.path.join(media_root, "uploads"),
        }
    )
    api_key = _setup(app, events)
    snapshots = [_snapshot(n) for n in range(events)]
    local = threading.local()

    def one(n: int) -> float:
        if not hasattr(local, "client"):
            local.client = app.test_client()
        return _post(local.client, api_key, n, snapshots[n])

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        trips = list(pool.map(one, range(events)))
    wall = time.perf_counter() - started
    with app.app_context():
        rows = db.session.execute(
            sa.select(CameraEvent.received_at, Case.dispatched_at, Case.state).join(
                Case, Case.id == CameraEvent.case_id
            )
        ).all()
    dispatched = [row for row in rows if row.state == "dispatched"]
    loop = [(row.dispatched_at - row.received_at).total_seconds() for row in dispatched]
    name = url.split(":", 1)[0]
    print(f"{name}: {events} events, {clients} clients, {len(dispatched)} cases dispatched")
    print(
        f"  received -> dispatched  p50 {_quantile(loop, 0.5) * 1000:7.1f} ms"
        f"  p99 {_quantile(loop, 0.99) * 1000:7.1f} ms  max {max(loop) * 1000:7.1f} ms"
    )
    print(
        f"  round trip (client)     p50 {_quantile(trips, 0.5) * 1000:7.1f} ms"
        f"  p99 {_quantile(trips, 0.99) * 1000:7.1f} ms  mean {statistics.mean(trips) * 1000:.1f}"
    )
    print(f"  intake: {events / wall:.1f} events/s ({wall:.1f} s wall)")
    print(f"  load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--postgres", help="a PostgreSQL URL whose tables may be dropped")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        run(f"sqlite:///{tmp}/bench.sqlite3", args.events, args.clients, tmp)
        if args.postgres:
            run(args.postgres, args.events, args.clients, tmp)


if __name__ == "__main__":
    main()
