"""Replay a field walk: a folder of photos becomes one report per photo, sent as a phone would.

    python -m fieldclient.walk FOLDER --server http://127.0.0.1:5000 \\
        --user demo_inspector --password demo-pass-2026

The batch-upload-after-a-walk case: an inspector (巡查员) walked offline and comes back with a
folder of photos. Each photo becomes a ``report.create`` with that photo as its problem photo,
placed as ``fieldclient.walk_plan`` says (``walk.json``, EXIF GPS, or a start point).
Then the reference client does what a phone does: uploads the photos over tus, pushes the
reports in batches, pulls.

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
import sqlite3
import sys
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from fieldclient.client import PushReport, SyncClient, SyncReport
from fieldclient.errors import InvalidMutationError, SyncError
from fieldclient.local import DeviceMismatch, device_id_of
from fieldclient.retry import RetryPolicy
from fieldclient.transport import HttpTransport, Transport
from fieldclient.uploads import UploadReport
from fieldclient.walk_plan import DEFAULT_CATEGORY, Options, Stop, WalkError, plan_walk

STATE_FILE = ".walk-sync.sqlite3"
CHINA_STANDARD_TIME = "+08:00"
# Fixed forever: the walk's UUIDs are derived in it.
NAMESPACE = uuid.UUID("5b0c1f0e-8f3a-4f61-9d57-2f0b8c1d7a42")

OK, STOPPED, USAGE, INCOMPLETE = 0, 1, 2, 3


@dataclasses.dataclass(frozen=True)
class Device:
    """The phone the walk is replayed as: its id (default: the state file's, else a new
    one), its queue (default ``FOLDER/.walk-sync.sqlite3``) and its mutations per push."""

    device_id: str | None = None
    state_path: Path | None = None
    batch_size: int = 200


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
    device: Device = Device(),
    retry: RetryPolicy = RetryPolicy(),
    on_progress: Callable | None = None,
) -> WalkSummary:
    """Queue the folder's walk, log in, upload, push and pull; the summary of it all."""
    folder = Path(folder)
    if not folder.is_dir():
        raise WalkError(f"{folder} is not a folder")
    state = Path(device.state_path) if device.state_path else folder / STATE_FILE
    known = device_id_of(state)
    if known is not None and device.device_id is not None and device.device_id != known:
        raise WalkError(
            f"{state} is the queue of device {known!r}:"
            " leave --device-id out, or give another --state"
        )
    device_id = device.device_id or known or f"walk-{uuid.uuid4().hex[:12]}"
    stops, left_out = plan_walk(folder, options, on_progress)
    token = SyncClient.login(
        transport, username, password, device_id, device_name="walk replay", retry=retry
    )
    client = SyncClient(transport, state, device_id, token, retry=retry, on_progress=on_progress)
    with client:
        queued_now, queued_before = queue_walk(client, username, stops)
        report = client.sync(batch_size=device.batch_size)
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
        prog="python -m fieldclient.walk",
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
            device=Device(args.device_id, args.state, args.batch),
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
