"""Replay a field walk: a folder of photos becomes one report per photo, sent as a phone would.

    python -m sync.walk FOLDER --server http://127.0.0.1:5000 \\
        --user demo_inspector --password demo-pass-2026

The batch-upload-after-a-walk case: an inspector (巡查员) walked offline and comes back with a
folder of photos. Each photo (JPEG, PNG, HEIC/HEIF, WebP), in the order it was taken (EXIF
time, else file name), becomes a ``report.create`` with that photo as its problem photo.
Then the reference client does what a phone does: uploads the photos over tus, pushes the
reports in batches, pulls.

Where a report is:
1. ``walk.json`` in the folder, if it names the photo (see ``read_manifest``);
2. else the photo's EXIF GPS position (WGS-84);
3. else ``--lat``/``--lon``, a start point, moved about 11 m north per photo;
4. else the photo is left out, and said so.

The queue is a SQLite file (``FOLDER/.walk-sync.sqlite3`` unless ``--state``). Running the
command again with it is a no-op: every photo is found queued already, nothing is uploaded
or sent twice. The report's and the photo's UUIDs are derived from the user and the photo's
sha256, so even a replay with a lost state file files no second case for the same photo
(the server answers a known case UUID with the stored case).

Exit status: 0 all delivered; 1 stopped (login refused, server unreachable after retries,
a request refused); 2 bad arguments; 3 done, but some photos were left out, refused, or
their reports rejected.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import sqlite3
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

from media.errors import MediaError
from media.images import inspect_image
from sync.client import (
    InvalidMutationError,
    PushReport,
    RetryPolicy,
    SyncClient,
    SyncError,
    SyncReport,
    UploadReport,
    hash_file,
)
from sync.local import DeviceMismatch, device_id_of
from sync.transport import HttpTransport, Transport

PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".heic", ".heif", ".webp"})
STATE_FILE = ".walk-sync.sqlite3"
MANIFEST = "walk.json"
DEFAULT_CATEGORY = "06010"  # 暴露垃圾 (GB/T 47678 event): a code of one category only
CHINA_STANDARD_TIME = "+08:00"
STEP_DEGREES = 0.0001  # about 11 m of latitude between photos placed from a start point
# Fixed forever: the walk's UUIDs are derived in it.
NAMESPACE = uuid.UUID("5b0c1f0e-8f3a-4f61-9d57-2f0b8c1d7a42")

OK, STOPPED, USAGE, INCOMPLETE = 0, 1, 2, 3


class WalkError(Exception):
    """The folder or its manifest cannot be replayed as given."""


@dataclasses.dataclass(frozen=True)
class Options:
    """What the command line says for every photo. A value given here wins over the
    manifest's defaults, and loses to what the manifest says for one photo."""

    category_code: str | None = None
    description: str | None = None
    address: str | None = None
    crs: str | None = None
    start: tuple[float, float] | None = None
    camera_offset: dt.tzinfo = dt.timezone(dt.timedelta(hours=8))


@dataclasses.dataclass(frozen=True)
class Stop:
    """One photo of the walk and the report it becomes."""

    path: Path
    sha256: str
    taken_at: dt.datetime | None
    location: dict[str, Any]
    category_code: str
    description: str
    address: str


@dataclasses.dataclass
class WalkSummary:
    folder: Path
    stops: list[Stop]
    queued_now: int
    queued_before: int
    left_out: dict[str, str]  # file name → why
    sync: SyncReport
    outcomes: dict[str, dict[str, Any]]  # file name → its report's push result

    @property
    def complete(self) -> bool:
        refused = any(r.get("status") == "rejected" for r in self.outcomes.values())
        return not (self.left_out or self.sync.uploads.failed or refused)


def photo_files(folder: Path) -> list[Path]:
    """The photos of a folder (not its subfolders), hidden files left out."""
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_file()
        and path.suffix.lower() in PHOTO_SUFFIXES
        and not path.name.startswith(".")
    )


def read_manifest(folder: Path) -> dict[str, Any]:
    """``walk.json``: defaults for every photo, and per photo what the camera did not record.

    ``{"category_code": "06010", "description": "…", "address": "…", "crs": "gcj02",
    "photos": {"IMG_0001.jpg": {"lat": 24.4798, "lon": 118.0894, "crs": "gcj02",
    "category_code": "…", "description": "…", "address": "…"}}}`` — every key optional.
    """
    path = folder / MANIFEST
    if not path.exists():
        return {}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise WalkError(f"{path} is not readable JSON: {error}") from error
    if not isinstance(manifest, dict) or not isinstance(manifest.get("photos", {}), dict):
        raise WalkError(f"{path}: an object with an optional 'photos' object is expected")
    return manifest


def plan_walk(
    folder: Path, options: Options, on_progress: Callable | None = None
) -> tuple[list[Stop], dict[str, str]]:
    """The walk's stops in the order the photos were taken, and the photos left out."""
    manifest = read_manifest(folder)
    per_photo: Mapping[str, Any] = manifest.get("photos", {})
    files = photo_files(folder)
    found: list[tuple[Path, str, dt.datetime | None, dict | None]] = []
    left_out: dict[str, str] = {}
    seen: dict[str, str] = {}  # sha256 → the first file with those bytes
    for done, path in enumerate(files, start=1):
        try:
            facts = inspect_image(path)
        except MediaError as error:
            left_out[path.name] = f"not a usable photo: {error}"
            continue
        finally:
            if on_progress is not None:
                on_progress("scan", done, len(files))
        taken_at = facts.taken_at
        if taken_at is not None and taken_at.tzinfo is None:
            taken_at = taken_at.replace(tzinfo=options.camera_offset)
        gps = None
        if facts.gps is not None:
            gps = {"lat": facts.gps.latitude, "lon": facts.gps.longitude, "crs": "wgs84"}
        sha256, _ = hash_file(path)
        if sha256 in seen:
            left_out[path.name] = f"the same photo as {seen[sha256]}"
            continue
        seen[sha256] = path.name
        found.append((path, sha256, taken_at, gps))
    # By the time taken, as the camera's clock read it; photos without one after, by name.
    found.sort(key=lambda f: (f[2] is None, f[2].replace(tzinfo=None) if f[2] else None, f[0].name))

    stops: list[Stop] = []
    for index, (path, sha256, taken_at, gps) in enumerate(found):
        own = per_photo.get(path.name) or {}
        if not isinstance(own, Mapping):
            raise WalkError(f"{MANIFEST}: photos.{path.name} is not an object")

        def setting(key: str, default: Any, own: Mapping = own) -> Any:
            for value in (own.get(key), getattr(options, key), manifest.get(key)):
                if value is not None and value != "":
                    return value
            return default

        location = _location(own, setting("crs", "wgs84"), gps, options.start, index)
        if location is None:
            left_out[path.name] = "no location: no EXIF GPS, not in walk.json, no --lat/--lon"
            continue
        stops.append(
            Stop(
                path=path,
                sha256=sha256,
                taken_at=taken_at,
                location=location,
                category_code=str(setting("category_code", DEFAULT_CATEGORY)),
                description=str(setting("description", f"巡查上报：{path.name}")),
                address=str(setting("address", "")),
            )
        )
    return stops, left_out


def _location(
    own: Mapping[str, Any],
    crs: str,
    gps: dict | None,
    start: tuple[float, float] | None,
    index: int,
) -> dict[str, Any] | None:
    if own.get("lat") is not None or own.get("lon") is not None:
        try:
            return {"lat": float(own["lat"]), "lon": float(own["lon"]), "crs": crs}
        except (KeyError, TypeError, ValueError):
            raise WalkError(f"{MANIFEST}: a photo's lat and lon are two numbers") from None
    if gps is not None:
        return gps
    if start is not None:
        lat, lon = start
        return {"lat": round(lat + index * STEP_DEGREES, 7), "lon": lon, "crs": crs}
    return None


def walk_ids(username: str, sha256: str) -> tuple[str, str]:
    """The report's and the photo's UUIDs for one photo of one user's walk."""
    return (
        str(uuid.uuid5(NAMESPACE, f"report:{username}:{sha256}")),
        str(uuid.uuid5(NAMESPACE, f"photo:{username}:{sha256}")),
    )


def queue_walk(client: SyncClient, username: str, stops: list[Stop]) -> tuple[int, int]:
    """One ``report.create`` per stop not queued before; returns (queued now, before)."""
    now = before = 0
    for stop in stops:
        case_id, photo_id = walk_ids(username, stop.sha256)
        if client.mutations(case_id):
            before += 1
            continue
        client.add_photo(stop.path, photo_id=photo_id)
        photo: dict[str, Any] = {"photo_id": photo_id, "sha256": stop.sha256, "kind": "problem"}
        if stop.taken_at is not None:
            photo["taken_at"] = stop.taken_at.isoformat()
        args = {
            "category_code": stop.category_code,
            "description": stop.description,
            "address": stop.address,
            "location": stop.location,
            "photos": [photo],
        }
        client.enqueue("report.create", case_id, args, client_ts=stop.taken_at)
        now += 1
    return now, before


def replay(
    folder: str | Path,
    transport: Transport,
    username: str,
    password: str,
    *,
    options: Options = Options(),
    device_id: str | None = None,
    state_path: str | Path | None = None,
    batch_size: int = 200,
    retry: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], None] = time.sleep,
    on_progress: Callable | None = None,
) -> WalkSummary:
    """Queue the folder's walk, log in, upload, push and pull; the summary of it all."""
    folder = Path(folder)
    if not folder.is_dir():
        raise WalkError(f"{folder} is not a folder")
    state = Path(state_path) if state_path else folder / STATE_FILE
    known = device_id_of(state)
    if known is not None and device_id is not None and device_id != known:
        raise WalkError(
            f"{state} is the queue of device {known!r}:"
            " leave --device-id out, or give another --state"
        )
    device_id = device_id or known or f"walk-{uuid.uuid4().hex[:12]}"
    stops, left_out = plan_walk(folder, options, on_progress)
    token = SyncClient.login(
        transport,
        username,
        password,
        device_id,
        device_name="walk replay",
        retry=retry,
        sleep=sleep,
    )
    with SyncClient(
        transport, state, device_id, token, retry=retry, sleep=sleep, on_progress=on_progress
    ) as client:
        queued_now, queued_before = queue_walk(client, username, stops)
        report = client.sync(batch_size=batch_size)
        outcomes = {}
        for stop in stops:
            case_id, _ = walk_ids(username, stop.sha256)
            mutation = client.mutations(case_id)[-1]
            outcomes[stop.path.name] = mutation.result or {"status": mutation.status}
    return WalkSummary(folder, stops, queued_now, queued_before, left_out, report, outcomes)


class ProgressBar:
    """``on_progress`` as a plain-text bar on one line per stage: ``[####    ] 37/120 photos``."""

    UNITS = {"scan": "photos read", "upload": "photos", "push": "reports", "pull": "changes"}

    def __init__(self, stream: TextIO, width: int = 30):
        self.stream = stream
        self.width = width
        self.stage: str | None = None

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        if stage != self.stage:
            self.finish()
            self.stage = stage
        unit = self.UNITS.get(stage, "")
        if total is None:
            line = f"{stage:<6} {done} {unit}"
        elif total == 0:
            line = f"{stage:<6} nothing to do"
        else:
            filled = self.width * done // total
            bar = "#" * filled + " " * (self.width - filled)
            line = f"{stage:<6} [{bar}] {done}/{total} {unit}"
        self.stream.write("\r" + line)
        self.stream.flush()

    def finish(self) -> None:
        if self.stage is not None:
            self.stream.write("\n")
            self.stream.flush()
            self.stage = None


def format_summary(summary: WalkSummary) -> str:
    uploads: UploadReport = summary.sync.uploads
    pushed: PushReport = summary.sync.push
    counts = Counter(result.get("status") for result in summary.outcomes.values())
    this_push = pushed.counts
    lines = [
        f"walk: {len(summary.stops) + len(summary.left_out)} photos in {summary.folder}:"
        f" {summary.queued_now} queued now, {summary.queued_before} queued before,"
        f" {len(summary.left_out)} left out",
        f"photos: {uploads.uploaded} uploaded ({uploads.resumed} resumed),"
        f" {uploads.skipped} already on the server, {len(uploads.failed)} refused",
        f"push: {len(pushed.results)} sent: "
        + ", ".join(
            f"{status} {this_push.get(status, 0)}"
            for status in ("applied", "duplicate", "merged", "conflict", "rejected")
        ),
        "reports: "
        + ", ".join(
            f"{status} {counts.get(status, 0)}"
            for status in ("applied", "merged", "conflict", "rejected", "duplicate", "queued")
        ),
        f"pull: {summary.sync.pull.changes} changes",
    ]
    for name, why in sorted(summary.left_out.items()):
        lines.append(f"  left out {name}: {why}")
    by_sha = {stop.sha256: stop.path.name for stop in summary.stops}
    for sha256, why in sorted(uploads.failed.items()):
        lines.append(f"  photo refused {by_sha.get(sha256, sha256)}: {why}")
    for name, result in sorted(summary.outcomes.items()):
        if result.get("status") in ("rejected", "conflict"):
            lines.append(f"  {result['status']} {name}: {result.get('reason')}")
    return "\n".join(lines)


def _utc_offset(text: str) -> dt.tzinfo:
    try:
        offset = dt.datetime.fromisoformat(f"2000-01-01T00:00:00{text}").tzinfo
    except ValueError:
        offset = None
    if offset is None:
        raise argparse.ArgumentTypeError(f"not a UTC offset like +08:00: {text!r}")
    return offset


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sync.walk",
        description="Replay a field walk from a folder of photos: one report per photo, "
        "uploaded, pushed and pulled as a phone would.",
    )
    parser.add_argument("folder", type=Path)
    parser.add_argument("--server", required=True, help="e.g. http://127.0.0.1:5000")
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--device-id", help="default: the state file's, or a new one")
    parser.add_argument("--state", type=Path, help=f"default: FOLDER/{STATE_FILE}")
    parser.add_argument("--category-code", help=f"default: {DEFAULT_CATEGORY} (暴露垃圾)")
    parser.add_argument("--description", help="default: from walk.json, else the file name")
    parser.add_argument("--address")
    parser.add_argument("--lat", type=float, help="start point for photos without a position")
    parser.add_argument("--lon", type=float)
    parser.add_argument(
        "--crs", choices=("wgs84", "gcj02", "bd09"), help="of --lat/--lon and walk.json"
    )
    parser.add_argument(
        "--camera-utc-offset",
        type=_utc_offset,
        default=CHINA_STANDARD_TIME,
        help="the camera clock's offset when EXIF does not say (default +08:00)",
    )
    parser.add_argument("--batch", type=int, default=200, help="mutations per push")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    args = parser.parse_args(argv)
    if (args.lat is None) != (args.lon is None):
        parser.error("--lat and --lon go together")
    if not 1 <= args.batch <= 500:
        parser.error("--batch is between 1 and 500")
    return args


def main(
    argv: list[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """The command: 0 all delivered, 1 stopped, 2 bad arguments, 3 done with leftovers."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    args = parse_args(argv)
    options = Options(
        category_code=args.category_code,
        description=args.description,
        address=args.address,
        start=(args.lat, args.lon) if args.lat is not None else None,
        crs=args.crs,
        camera_offset=args.camera_utc_offset,
    )
    bar = ProgressBar(stderr)
    try:
        summary = replay(
            args.folder,
            HttpTransport(args.server, timeout=args.timeout),
            args.user,
            args.password,
            options=options,
            device_id=args.device_id,
            state_path=args.state,
            batch_size=args.batch,
            on_progress=bar,
        )
    except (
        WalkError,
        SyncError,
        DeviceMismatch,
        InvalidMutationError,
        OSError,
        sqlite3.Error,
    ) as error:
        bar.finish()
        print(f"walk replay stopped: {error}", file=stderr)
        return STOPPED
    bar.finish()
    print(format_summary(summary), file=stdout)
    return OK if summary.complete else INCOMPLETE


if __name__ == "__main__":
    sys.exit(main())
