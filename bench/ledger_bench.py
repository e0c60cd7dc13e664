"""The 两图一表 ledger as XLSX and PDF: time against zipping the same thumbnails, and peak
memory growth.

Run from the repository root::

    .venv/bin/python bench/ledger_bench.py                  # 2,000 cases, 4,000 pictures
    .venv/bin/python bench/ledger_bench.py --cases 20       # a quick look
    .venv/bin/python bench/ledger_bench.py --database-url postgresql+psycopg://…

Issue 12: a ledger XLSX of 2,000 cases with 4,000 pictures within 3x of writing the same
thumbnail files into a zip, and peak memory growth under 200 MB; the PDF of the same,
reported. The bench fills a database (SQLite in a temp folder unless told otherwise) with
closed cases of one street, each with a problem and a closure photo whose 1024 px
thumbnail (a distinct JPEG of about 1024 x 768) is in a disk blob store. Then, each in a
fresh process, it times:

- baseline: the thumbnails written into a zip (deflated, as XLSX packs them), and
  baseline_stored: the same without compression (reported, the floor of copying bytes);
- xlsx / pdf: ``app.ledger.services.write_file`` for the street and the month, i.e. the
  query in keyset batches, the rows, the pictures and the file.

Memory: each child resets its peak RSS (``/proc/self/clear_refs``) once the app is built
and the database connected, and reports how far the peak rose above that while it wrote.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
PERIOD = (dt.date(2026, 10, 1), dt.date(2026, 10, 31))
# baseline: the thumbnails zipped deflated, as XLSX packs its pictures (the target's
# baseline); baseline_stored: zipped without compression (the floor of copying the bytes).
KINDS = ("baseline", "baseline_stored", "xlsx", "pdf")


def _textures(count: int = 8) -> list[Image.Image]:
    rng = np.random.default_rng(12)
    out = []
    for _ in range(count):
        low = rng.integers(0, 256, (13, 17, 3), dtype=np.uint8)
        base = Image.fromarray(low).resize((1024, 768), Image.Resampling.BILINEAR)
        noise = rng.integers(0, 20, (768, 1024, 3), dtype=np.uint8)
        out.append(Image.fromarray(np.asarray(base) // 8 * 7 + noise))
    return out


def _thumbnail(textures: list[Image.Image], n: int) -> bytes:
    """A distinct ~1024 x 768 JPEG, about as large as a phone photo's thumbnail."""
    image = textures[n % len(textures)].copy()
    draw = ImageDraw.Draw(image)
    x, y = (n * 37) % 900, (n * 53) % 650
    draw.rectangle((x, y, x + 120, y + 110), fill=(n % 256, (n * 7) % 256, (n * 13) % 256))
    draw.text((x + 10, y + 10), str(n), fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


def _app(work: Path, database_url: str):
    from app import create_app

    return create_app(
        {
            "SQLALCHEMY_DATABASE_URL": database_url,
            "MEDIA_ROOT": str(work / "media"),
            "UPLOADS_ROOT": str(work / "uploads"),
            "LEDGER_WORK_DIR": str(work),
        }
    )


def _world(session):
    from app.accounts import services as accounts
    from app.categories.services import find_category, seed_national_categories
    from app.orgunits import services as orgunits

    orgunits.add_org_unit(session, "district", "350203", "思明区")
    street = orgunits.add_org_unit(session, "street", "350203001", "中华街道", "350203")
    community = orgunits.add_org_unit(session, "community", "350203001001", "中山社区", "350203001")
    department = orgunits.add_org_unit(session, "department", "D-SZ", "市政园林局", "350203")
    seed_national_categories(session)
    category = find_category(session, "event", "cjt214", "0102")
    user = accounts.add_user(
        session,
        username="bench_inspector",
        password="bench-password-123",
        role="inspector",
        org_unit_id=community.id,
    )
    session.commit()
    return street, community, department, category, user


def _case_rows(n, ids, world, shas, closed_at):
    street, community, department, category, user = world
    case_id = uuid.uuid4()
    case = {
        "id": case_id,
        "number": f"35020320261001{n:05d}",
        "source": "inspector",
        "category_id": category.id,
        "description": "路边暴露垃圾",
        "address": f"中山路 {n} 号",
        "lat": 24.47,
        "lon": 118.08,
        "locate_status": "inside",
        "state": "closed",
        "street_id": street.id,
        "community_id": community.id,
        "department_id": department.id,
        "reporter_id": user.id,
        "reported_at": closed_at - dt.timedelta(hours=5),
        "dispatched_at": closed_at - dt.timedelta(hours=4),
        "closed_at": closed_at,
        "valid": True,
    }
    photos, blobs, links = [], [], []
    for kind, sha in zip(("problem", "closure"), shas, strict=True):
        photo_id = next(ids)
        original = hashlib.sha256(photo_id.bytes).hexdigest()
        photos.append(
            {"id": photo_id, "sha256": original, "kind": kind, "owner_id": user.id,
             "status": "available"}
        )  # fmt: skip
        blobs.append(
            {"sha256": original, "size": 1, "media_type": "image/jpeg", "width": 4032,
             "height": 3024, "processing": "done", "thumbnails": {"1024": sha}}
        )  # fmt: skip
        links.append({"case_id": case_id, "photo_id": photo_id, "kind": kind})
    return case, photos, blobs, links


def build(work: Path, cases: int, database_url: str) -> None:
    """The database and the blob store of ``cases`` closed cases with two pictures each."""
    import sqlalchemy as sa

    from app.cases.models import Case, CasePhoto
    from app.extensions import db
    from app.models import metadata
    from app.photos.models import Blob, Photo

    app = _app(work, database_url)
    textures = _textures()
    store = app.extensions["media"].store
    listing = []
    with app.app_context():
        metadata.drop_all(db.engine)
        metadata.create_all(db.engine)
        session = db.session
        world = _world(session)
        ids = iter(lambda: uuid.uuid4(), None)
        start = dt.datetime(2026, 10, 1, 1, 0, tzinfo=dt.UTC)
        for first in range(0, cases, 200):
            rows = {Case: [], Photo: [], Blob: [], CasePhoto: []}
            for n in range(first, min(first + 200, cases)):
                shas = []
                for k in (2 * n, 2 * n + 1):
                    data = _thumbnail(textures, k)
                    shas.append(store.put_stream(io.BytesIO(data), None, len(data)).sha256)
                    listing.append(shas[-1])
                closed_at = start + dt.timedelta(minutes=20 * n)
                case, photos, blobs, links = _case_rows(n, ids, world, shas, closed_at)
                rows[Case].append(case)
                rows[Photo] += photos
                rows[Blob] += blobs
                rows[CasePhoto] += links
            for model, values in rows.items():
                session.execute(sa.insert(model), values)
            session.commit()
    (work / "thumbnails.json").write_text(json.dumps(listing))


def _peak_reset() -> float:
    Path("/proc/self/clear_refs").write_text("5")
    return _status("VmRSS")


def _status(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise LookupError(key)


def _baseline(work: Path, store, method: int = zipfile.ZIP_DEFLATED) -> int:
    shas = json.loads((work / "thumbnails.json").read_text())
    with zipfile.ZipFile(work / "baseline.zip", "w", method) as archive:
        for n, sha in enumerate(shas):
            archive.write(store.path_of(sha), f"xl/media/image{n + 1}.jpeg")
    return len(shas)


def child(kind: str, work: Path, database_url: str) -> dict:
    """One measurement in this (fresh) process."""
    from app.extensions import db
    from app.ledger import pdfdoc, services
    from app.ledger.queries import Scope
    from app.workcalendar.periods import period_of_days

    app = _app(work, database_url)
    with app.app_context():
        media = app.extensions["media"]
        session = db.session
        session.execute(db.metadata.tables["cases"].select().limit(1)).all()
        pdfdoc.CjkFont()  # the font's metrics, read once per process
        street = session.execute(
            db.metadata.tables["org_units"]
            .select()
            .where(db.metadata.tables["org_units"].c.kind == "street")
        ).one()
        scope = Scope("street", street.id, street.code, street.name, street.id)
        query = services.LedgerQuery(scope, period_of_days(*PERIOD, "Asia/Shanghai"))
        settings = services.LedgerSettings.from_config(app.config)
        before = _peak_reset()
        started = time.perf_counter()
        if kind.startswith("baseline"):
            method = zipfile.ZIP_STORED if kind == "baseline_stored" else zipfile.ZIP_DEFLATED
            rows = _baseline(work, media.store, method)
            target = work / "baseline.zip"
        else:
            target = work / f"ledger.{kind}"
            rows = services.write_file(session, media, query, kind, target, settings)
        seconds = time.perf_counter() - started
        peak = _status("VmHWM")
    return {
        "kind": kind,
        "rows": rows,
        "seconds": seconds,
        "peak_growth_mb": peak - before,
        "mb": target.stat().st_size / 1024**2,
    }


def _run_child(kind: str, work: Path, database_url: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--work", str(work),
         "--database-url", database_url],
        check=True, capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(cases: int, database_url: str | None = None, work: Path | None = None) -> dict:
    """Build, measure each kind in a fresh process, and return the figures."""
    with tempfile.TemporaryDirectory(prefix="ledger-bench-", dir=work) as folder:
        path = Path(folder)
        url = database_url or f"sqlite:///{path / 'bench.sqlite3'}"
        started = time.perf_counter()
        build(path, cases, url)
        built = time.perf_counter() - started
        results = {kind: _run_child(kind, path, url) for kind in KINDS}
    base = results["baseline"]["seconds"]
    for kind in ("xlsx", "pdf"):
        results[kind]["ratio"] = results[kind]["seconds"] / base
        results[kind]["ratio_stored"] = (
            results[kind]["seconds"] / results["baseline_stored"]["seconds"]
        )
    results["build_seconds"] = built
    results["database"] = "sqlite" if database_url is None else database_url.split(":")[0]
    return results


def report(results: dict) -> str:
    lines = [
        f"database: {results['database']}, built in {results['build_seconds']:.1f} s",
        f"{'':>15} {'rows':>6} {'seconds':>8} {'MB':>8} {'peak +MB':>9} {'ratio':>6} "
        f"{'vs stored':>9}",
    ]
    for kind in KINDS:
        r = results[kind]
        ratio = f"{r['ratio']:.2f}" if "ratio" in r else ""
        stored = f"{r['ratio_stored']:.2f}" if "ratio_stored" in r else ""
        lines.append(
            f"{kind:>15} {r['rows']:>6} {r['seconds']:>8.2f} {r['mb']:>8.1f} "
            f"{r['peak_growth_mb']:>9.1f} {ratio:>6} {stored:>9}"
        )
    lines.append("targets: xlsx within 3x of the zip, peak growth under 200 MB; pdf reported")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--database-url")
    parser.add_argument("--child", choices=KINDS)
    parser.add_argument("--work", type=Path)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.work, args.database_url)))
        return 0
    results = run(args.cases, args.database_url)
    print(report(results))
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.exit(main())
