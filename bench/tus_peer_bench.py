"""tus uploads side by side: our server against the reference Node implementation.

Run from the repository root: ``.venv/bin/python bench/tus_peer_bench.py`` (about 4
minutes; ``--photos 40 --rounds 1`` for a quick look). The peer is ``@tus/server`` 2.4.5
with ``@tus/file-store`` 2.1.1, installed with ``npm`` into ``bench/.peer/`` (git-ignored)
when Node is on the PATH; without Node the peer is skipped and said so.

Both servers are started once, each with its state in one temporary directory:

* ours: gunicorn ``wsgi:app``, 2 workers x 4 threads, SQLite with the demo district,
  the disk media backend, photo processing *queued* (a private ``redis-server`` with no
  worker, so thumbnails never compete with the uploads);
* the peer: ``bench/tus_peer.mjs``, one Node process serving ``/files`` from a FileStore.

Then, in alternating rounds (peer first in odd rounds, ours first in even ones), the same
tuspy load goes to each:

1. ``--photos`` photos of ~4 MB by ``--clients`` threads with ``--chunk`` PATCHes: MB/s
   from the first byte to the last answer, and the server's CPU per upload (utime+stime
   from ``/proc`` of the server processes, gunicorn's master and workers included);
2. one ``--big-mb`` MB photo with ``--big-chunk`` PATCHes, ``--big-repeats`` times:
   median seconds. The photo is a 12 MP JPEG of heavy grain at quality 99 (about 20.8 MB
   of entropy-coded data), padded with comment segments only if ``--big-mb`` asks for
   more.

Each round's photos are new bytes (a JPEG comment names the round), so neither server
deduplicates. Ours gets each photo registered (``POST /photos``) before the clock starts,
as a phone does. The floor is the raw write + fsync of the same files by as many threads.
The load average is printed beside each round (2 shared cores: compare within a round).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tusclient import client as tus_client

sys.path.insert(0, str(Path(__file__).resolve().parent))

from upload_bench import (
    MB,
    Client,
    Photo,
    Server,
    cpu_seconds,
    disk_copy,
    free_port,
    login,
    photo_like_jpeg,
    register,
    with_comment,
    write_fsync,
)

HERE = Path(__file__).resolve().parent
PEER_DIR = HERE / ".peer"
PEER_PACKAGES = ["@tus/server@2.4.5", "@tus/file-store@2.1.1"]


# -- photos -----------------------------------------------------------------------------


def padded(jpeg: bytes, size: int) -> bytes:
    """The JPEG grown to ``size`` bytes with comment segments (still a valid JPEG)."""
    missing = size - len(jpeg)
    segments = []
    while missing > 4:
        payload = min(65533, missing - 4)
        segments.append(b"\xff\xfe" + (payload + 2).to_bytes(2, "big") + b"p" * payload)
        missing -= payload + 4
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


def write_photos(directory: Path, bases: list[bytes], count: int, tag: str) -> list[Photo]:
    directory.mkdir(parents=True, exist_ok=True)
    photos = []
    for index in range(count):
        data = with_comment(bases[index % len(bases)], f"tus-peer-bench {tag} {index}")
        path = directory / f"{index:03d}.jpg"
        path.write_bytes(data)
        photos.append(Photo(path, hashlib.sha256(data).hexdigest(), len(data)))
    return photos


# -- the servers ------------------------------------------------------------------------


class Peer:
    """``@tus/server`` with FileStore, in one Node process."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @staticmethod
    def install() -> str | None:
        """Install the peer into bench/.peer; return why not, or None."""
        if shutil.which("node") is None or shutil.which("npm") is None:
            return "node/npm not found: the peer is skipped"
        PEER_DIR.mkdir(exist_ok=True)
        manifest = PEER_DIR / "package.json"
        if not manifest.exists():
            manifest.write_text('{"private": true, "type": "module"}\n')
        if not (PEER_DIR / "node_modules" / "@tus" / "file-store").exists():
            subprocess.run(
                ["npm", "install", "--no-audit", "--no-fund", *PEER_PACKAGES],
                cwd=PEER_DIR,
                check=True,
                capture_output=True,
            )
        shutil.copy(HERE / "tus_peer.mjs", PEER_DIR / "tus_peer.mjs")
        return None

    def start(self) -> None:
        files = self.root / "peer-files"
        files.mkdir()
        log = (self.root / "peer.log").open("wb")
        self.process = subprocess.Popen(
            ["node", str(PEER_DIR / "tus_peer.mjs"), str(self.port), str(files)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if Client(self.port).request("OPTIONS", "/files").status in (200, 204):
                    return
            time.sleep(0.1)
        raise RuntimeError("the tus peer did not start")

    def pids(self) -> list[int]:
        assert self.process is not None
        return [self.process.pid]

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/files"

    def headers(self) -> dict[str, str]:
        return {}

    def before(self, photos: list[Photo]) -> None:
        pass

    def after_round(self) -> None:
        # Keep the disk from filling; the peer never reads finished uploads back.
        for entry in (self.root / "peer-files").iterdir():
            entry.unlink()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)


class Ours:
    """gunicorn with processing queued in a private redis-server that has no worker."""

    def __init__(self, root: Path, workers: int, threads: int) -> None:
        self.root = root
        self.redis_port = free_port()
        self.redis: subprocess.Popen | None = None
        self.server = Server(root, workers, threads)
        self.queued = shutil.which("redis-server") is not None
        if self.queued:
            self.server.env.update(
                JOB_QUEUE="redis", REDIS_URL=f"redis://127.0.0.1:{self.redis_port}/0"
            )
        else:
            print("redis-server not found: photos are processed in-process", file=sys.stderr)
        self.token = ""

    def start(self) -> None:
        if self.queued:
            command = ["redis-server", "--port", str(self.redis_port), "--save", ""]
            self.redis = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        self.server.start()
        self.token = login(self.server.port)
        self.api = Client(self.server.port, self.token)

    def pids(self) -> list[int]:
        assert self.server.process is not None
        return [self.server.process.pid, *self.server.workers()]

    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/api/v1/uploads"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def before(self, photos: list[Photo]) -> None:
        for photo in photos:
            register(self.api, photo.sha256)

    def after_round(self) -> None:
        pass

    def stop(self) -> None:
        self.server.stop()
        if self.redis is not None:
            self.redis.terminate()
            self.redis.wait(10)


# -- the load ---------------------------------------------------------------------------


def upload_all(target, photos: list[Photo], clients: int, chunk: int) -> float:
    """Seconds for ``clients`` tuspy threads to upload every photo."""
    errors: list[BaseException] = []

    def upload(share: list[Photo]) -> None:
        tus = tus_client.TusClient(target.url(), headers=target.headers())
        try:
            for photo in share:
                tus.uploader(
                    file_path=str(photo.path),
                    chunk_size=chunk,
                    metadata={"sha256": photo.sha256, "filename": photo.path.name},
                ).upload()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=upload, args=(photos[i::clients],)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return elapsed


@dataclass
class Figures:
    mb_s: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    big_s: list[float] = field(default_factory=list)


def measure(target, many: list[Photo], bigs: list[Photo], args) -> tuple[float, float, float]:
    target.before(many + bigs)
    pids = target.pids()
    cpu = cpu_seconds(pids)
    elapsed = upload_all(target, many, args.clients, args.chunk)
    cpu = cpu_seconds(pids) - cpu
    big = []
    for photo in bigs:
        big.append(upload_all(target, [photo], 1, args.big_chunk))
    target.after_round()
    total = sum(photo.size for photo in many) / 1e6
    return total / elapsed, cpu / len(many) * 1000, statistics.median(big)


def floor(many: list[Photo], bigs: list[Photo], clients: int, scratch: Path) -> tuple[float, float]:
    seconds = disk_copy(many, clients, scratch)
    big = []
    for photo in bigs:
        data = photo.path.read_bytes()
        started = time.perf_counter()
        write_fsync(data, scratch)
        big.append(time.perf_counter() - started)
    return sum(p.size for p in many) / 1e6 / seconds, statistics.median(big)


def main() -> None:  # noqa: PLR0915 - one linear script
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--chunk", type=int, default=2 * MB)
    parser.add_argument("--big-mb", type=float, default=20.0)
    parser.add_argument("--big-chunk", type=int, default=MB)
    parser.add_argument("--big-repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--no-peer", action="store_true")
    args = parser.parse_args()

    skipped = "--no-peer given" if args.no_peer else Peer.install()
    if skipped:
        print(f"peer: {skipped}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="tus-peer-bench-") as tmp:
        root = Path(tmp)
        bases = [photo_like_jpeg(seed, 15, 92) for seed in range(8)]
        # As a 20 MB photo is: 12 MP of entropy-coded data (heavy grain at quality 99 gives
        # ~20.8 MB), not a 4 MB photo padded with comment segments, which Pillow reads one
        # by one at open (until issue 16's last round the bench did that).
        big_base = padded(photo_like_jpeg(99, 110, 99), int(args.big_mb * 1e6))
        print(f"big photo: {len(big_base) / 1e6:.1f} MB", file=sys.stderr)
        ours = Ours(root / "ours", args.workers, args.threads)
        (root / "ours").mkdir()
        ours.start()
        peer = None if skipped else Peer(root)
        if peer:
            peer.start()
        figures = {"peer": Figures(), "ours": Figures(), "floor": Figures()}
        try:
            for number in range(args.rounds):
                photos_dir = root / f"round{number}"
                many = write_photos(photos_dir / "many", bases, args.photos, f"r{number}")
                bigs = write_photos(photos_dir / "big", [big_base], args.big_repeats, f"b{number}")
                load = os.getloadavg()[0]
                order = [("ours", ours), ("peer", peer)]
                if number % 2 == 0:
                    order.reverse()
                line = [f"round {number + 1} (load {load:.2f}):"]
                for name, target in order:
                    if target is None:
                        continue
                    mb_s, cpu_ms, big_s = measure(target, many, bigs, args)
                    figures[name].mb_s.append(mb_s)
                    figures[name].cpu_ms.append(cpu_ms)
                    figures[name].big_s.append(big_s)
                    line.append(f"{name} {mb_s:.0f} MB/s {cpu_ms:.1f} ms CPU {big_s:.3f} s;")
                mb_s, big_s = floor(many, bigs, args.clients, root / "scratch")
                figures["floor"].mb_s.append(mb_s)
                figures["floor"].big_s.append(big_s)
                line.append(f"floor {mb_s:.0f} MB/s {big_s:.3f} s")
                print(" ".join(line), flush=True)
                shutil.rmtree(photos_dir)
        finally:
            ours.stop()
            if peer:
                peer.stop()
    report(figures, args, bool(peer))


def report(figures: dict[str, Figures], args, with_peer: bool) -> None:
    size = f"{args.photos} x 4 MB, {args.clients} clients, {args.chunk // MB} MiB chunks"
    print(f"\nper round: {'peer' if with_peer else '-'} / ours / ratio (ours / peer)")
    rows = [
        (size + " (MB/s)", "mb_s", "{:.0f}"),
        ("server CPU per upload (ms)", "cpu_ms", "{:.1f}"),
        (f"one {args.big_mb:g} MB photo, {args.big_chunk // MB} MiB chunks (s)", "big_s", "{:.3f}"),
    ]
    for title, key, fmt in rows:
        ours = getattr(figures["ours"], key)
        cells = []
        for index, value in enumerate(ours):
            if with_peer:
                peer = getattr(figures["peer"], key)[index]
                cells.append(f"{fmt.format(peer)} / {fmt.format(value)} / {value / peer:.2f}x")
            else:
                cells.append(fmt.format(value))
        floor_values = getattr(figures["floor"], key)
        floor_cell = ""
        if floor_values:
            floor_cell = f"  floor {fmt.format(statistics.median(floor_values))}"
        print(f"{title}: " + " | ".join(cells) + floor_cell)


if __name__ == "__main__":
    main()
