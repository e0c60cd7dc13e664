"""Upload benchmark: the real server over loopback, each figure against a baseline of the
same run.

Run from the repository root: ``.venv/bin/python bench/upload_bench.py`` (1-2 minutes).
Everything it writes (database, media, uploads, test photos, server log) lives in one
temporary directory, removed at the end. It starts gunicorn (``wsgi:app``, 2 workers x 4
threads, in-process job queue) on a free loopback port against a fresh SQLite database
with the demo district loaded, logs in as ``demo_inspector`` and measures:

a. **Upload path.** ``PUT /api/v1/blobs/{sha256}`` of a 5 MB photo-like JPEG (auth, hash,
   write, fsync, link, header/EXIF check, blob row, the waiting photo made available),
   median of N, against the raw write + fsync of the same bytes to the same filesystem
   plus one ``GET /healthz`` round trip. Processing of each photo is waited out before
   the next measurement, so neither side competes with a thumbnail job. Target <= 2x.
b. **Memory.** Peak RSS growth of the gunicorn workers (``VmHWM``, reset through
   ``/proc/<pid>/clear_refs`` before each case, and ``VmRSS`` sampled every 2 ms) while a
   100 MB body goes through ``PUT /blobs`` and through tus (8 MiB PATCHes). The client
   streams the body from a generator. The body is not an image, so the server streams
   it to storage, hashes it, finds it is not an image, answers 415 and deletes it.
   Target < 32 MB each.
c. **Throughput.** 200 photos of ~4 MB (12 MP noise + gradient JPEGs, half with EXIF
   orientation 6 and GPS) uploaded by 8 concurrent tuspy clients, in MB/s next to a raw
   loopback copy of the same files over 8 plain sockets; and photos processed (EXIF,
   thumbnails, pHash) per second per core, from the first upload byte until the last
   thumbnail is made.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import hashlib
import http.client
import io
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image
from PIL.TiffImagePlugin import IFDRational
from tusclient import client as tus_client

ROOT = Path(__file__).resolve().parents[1]
USERNAME, PASSWORD = "demo_inspector", "demo-pass-2026"
WIDTH, HEIGHT = 4032, 3024
MB = 1024 * 1024
BIG_BODY = 100 * MB
TUS_PATCH = 8 * MB


# -- test photos ------------------------------------------------------------------------


def photo_like_jpeg(seed: int, noise: int, quality: int) -> bytes:
    """A 12 MP gradient + sensor-noise JPEG; odd seeds carry orientation 6, GPS, a time."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, HEIGHT, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, WIDTH, dtype=np.float32)[None, :]
    phase = seed * 0.7
    base = np.stack(
        [
            120 + 80 * np.sin(6 * x + 2 * y + phase),
            100 + 90 * y * np.cos(3 * x - phase),
            90 + 60 * x + 40 * np.sin(9 * y + phase),
        ],
        axis=-1,
    )
    grain = rng.integers(-noise, noise + 1, size=(HEIGHT, WIDTH, 3), dtype=np.int16)
    pixels = np.clip(base + grain, 0, 255).astype(np.uint8)
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "HUAWEI"
    if seed % 2:
        exif[ExifTags.Base.Orientation] = 6
        exif[ExifTags.IFD.GPSInfo] = {
            1: "N",
            2: (IFDRational(24, 1), IFDRational(28, 1), IFDRational(4728, 100)),
            3: "E",
            4: (IFDRational(118, 1), IFDRational(5, 1), IFDRational(2184, 100)),
        }
        exif[ExifTags.IFD.Exif] = {
            ExifTags.Base.DateTimeOriginal: "2026:11:22 08:00:12",
            ExifTags.Base.OffsetTimeOriginal: "+08:00",
        }
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=quality, exif=exif.tobytes())
    return out.getvalue()


def with_comment(jpeg: bytes, text: str) -> bytes:
    """The same picture with a COM segment after the APPn segments: new bytes, new sha256,
    same decode cost. Cheaper than encoding 200 distinct 12 MP photos."""
    position = 2
    while jpeg[position] == 0xFF and 0xE0 <= jpeg[position + 1] <= 0xEF:
        position += 2 + int.from_bytes(jpeg[position + 2 : position + 4], "big")
    payload = text.encode()
    segment = b"\xff\xfe" + (len(payload) + 2).to_bytes(2, "big") + payload
    return jpeg[:position] + segment + jpeg[position:]


@dataclass(frozen=True)
class Photo:
    path: Path
    sha256: str
    size: int


def make_photos(directory: Path, count: int, bases: int, noise: int, quality: int) -> list[Photo]:
    """``count`` distinct JPEGs made from ``bases`` encoded pictures, cached as files."""
    directory.mkdir(parents=True, exist_ok=True)
    encoded = [photo_like_jpeg(seed, noise, quality) for seed in range(bases)]
    photos = []
    for index in range(count):
        data = with_comment(encoded[index % bases], f"upload-bench {directory.name} {index}")
        path = directory / f"{index:03d}.jpg"
        path.write_bytes(data)
        photos.append(Photo(path, hashlib.sha256(data).hexdigest(), len(data)))
    return photos


# -- the server -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """gunicorn serving ``wsgi:app`` from this checkout, with its state in ``root``."""

    def __init__(self, root: Path, workers: int, threads: int) -> None:
        self.root = root
        self.port = free_port()
        self.worker_count = workers
        self.database = root / "bench.sqlite3"
        self.env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{self.database}",
            "MEDIA_ROOT": str(root / "media"),
            "UPLOADS_ROOT": str(root / "uploads"),
            "PHOTO_MAX_BYTES": str(128 * MB),
            "JOB_QUEUE": "inprocess",
            "LOG_LEVEL": "WARNING",
            "FLASK_APP": "wsgi:app",
        }
        self.command = [
            sys.executable,
            "-m",
            "gunicorn",
            "wsgi:app",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--timeout",
            "120",
            "--worker-tmp-dir",
            str(root),
            "--no-control-socket",
        ]
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self._run([sys.executable, "-m", "alembic", "upgrade", "head"])
        self._run([sys.executable, "-m", "flask", "demo", "load"])
        log = (self.root / "server.log").open("wb")
        self.process = subprocess.Popen(
            self.command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                answer = Client(self.port).request("GET", "/healthz")
                if answer.status == 200 and len(self.workers()) == self.worker_count:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer /healthz within 30 s:\n{self.log_tail()}")

    def log_tail(self) -> str:
        return (self.root / "server.log").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(30)

    def workers(self) -> list[int]:
        assert self.process is not None
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def _run(self, command: list[str]) -> None:
        subprocess.run(command, cwd=ROOT, env=self.env, check=True, capture_output=True)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


class Client:
    """One keep-alive HTTP connection; bodies may be bytes or an iterator of bytes."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.auth = {"Authorization": f"Bearer {token}"} if token else {}

    def request(self, method: str, path: str, body=None, headers: dict | None = None) -> Answer:
        all_headers = {**self.auth, **(headers or {})}
        if isinstance(body, bytes):
            all_headers.setdefault("Content-Length", str(len(body)))
        try:
            self.connection.request(method, path, body=body, headers=all_headers)
            response = self.connection.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            if body is not None and not isinstance(body, bytes):
                raise  # a generator cannot be replayed
            # gunicorn closes keep-alive connections idle for 2 s: reconnect once.
            self.connection.close()
            self.connection.request(method, path, body=body, headers=all_headers)
            response = self.connection.getresponse()
        return Answer(response.status, dict(response.getheaders()), response.read())

    def json(self, method: str, path: str, payload: dict) -> Answer:
        return self.request(
            method, path, json.dumps(payload).encode(), {"Content-Type": "application/json"}
        )


def login(port: int) -> str:
    answer = Client(port).json(
        "POST",
        "/api/v1/auth/login",
        {"username": USERNAME, "password": PASSWORD, "device_id": "upload-bench"},
    )
    assert answer.status == 200, answer.body
    return str(answer.json()["access_token"])


def register(client: Client, sha256: str) -> str:
    photo_id = str(uuid.uuid4())
    answer = client.json(
        "POST", "/api/v1/photos", {"id": photo_id, "sha256": sha256, "kind": "problem"}
    )
    assert answer.status == 201, answer.body
    return photo_id


def wait_processed(client: Client, photo_id: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        photo = client.request("GET", f"/api/v1/photos/{photo_id}").json()
        if photo["status"] == "available" and photo["processing"] in ("done", "failed"):
            assert photo["processing"] == "done", photo
            return
        time.sleep(0.01)
    raise TimeoutError(f"photo {photo_id} not processed in {timeout} s")


# -- a. the upload path -----------------------------------------------------------------


def write_fsync(data: bytes, directory: Path) -> None:
    fd, name = tempfile.mkstemp(dir=directory)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.unlink(name)


def upload_path(port: int, token: str, photos: list[Photo], scratch: Path, warmup: int) -> dict:
    client = Client(port, token)
    puts, writes, round_trips = [], [], []
    for index, photo in enumerate(photos):
        data = photo.path.read_bytes()
        photo_id = register(client, photo.sha256)
        started = time.perf_counter()
        answer = client.request(
            "PUT", f"/api/v1/blobs/{photo.sha256}", data, {"Content-Type": "image/jpeg"}
        )
        put_s = time.perf_counter() - started
        assert answer.status == 201, answer.body
        wait_processed(client, photo_id)
        started = time.perf_counter()
        write_fsync(data, scratch)
        write_s = time.perf_counter() - started
        started = time.perf_counter()
        assert client.request("GET", "/healthz").status == 200
        round_trip_s = time.perf_counter() - started
        if index >= warmup:
            puts.append(put_s)
            writes.append(write_s)
            round_trips.append(round_trip_s)
    baselines = [w + r for w, r in zip(writes, round_trips, strict=True)]
    return {
        "n": len(puts),
        "mb": statistics.mean(p.size for p in photos) / 1e6,
        "put_ms": statistics.median(puts) * 1000,
        "write_ms": statistics.median(writes) * 1000,
        "rtt_ms": statistics.median(round_trips) * 1000,
        "baseline_ms": statistics.median(baselines) * 1000,
    }


# -- b. memory --------------------------------------------------------------------------


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


class PeakRss:
    """Peak RSS growth of some processes over a block: VmHWM after a reset, and sampling."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids

    def __enter__(self) -> PeakRss:
        self.before = {pid: _status_kb(pid, "VmRSS") for pid in self.pids}
        for pid in self.pids:
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to VmRSS
        self.sampled = dict(self.before)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.hwm = {pid: _status_kb(pid, "VmHWM") for pid in self.pids}

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            for pid in self.pids:
                self.sampled[pid] = max(self.sampled[pid], _status_kb(pid, "VmRSS"))

    def growth_mb(self) -> tuple[float, float]:
        """(VmHWM growth, sampled VmRSS growth) of the worker that grew most, in MB."""
        hwm = max(self.hwm[pid] - self.before[pid] for pid in self.pids)
        sampled = max(self.sampled[pid] - self.before[pid] for pid in self.pids)
        return hwm / 1024, sampled / 1024


def big_body(size: int, start: int = 0, block: bytes = b"") -> Iterator[bytes]:
    """``size`` bytes from offset ``start`` of a long pseudo-random body, 1 MiB at a time,
    made on the fly: each MiB is a shared random block stamped with its index."""
    position = start
    end = start + size
    while position < end:
        index, within = divmod(position, MB)
        chunk = index.to_bytes(8, "big") + block[8:]
        piece = chunk[within : within + (end - position)]
        yield piece
        position += len(piece)


def memory(server: Server, token: str) -> dict:
    block = os.urandom(MB)
    digest = hashlib.sha256()
    for chunk in big_body(BIG_BODY, block=block):
        digest.update(chunk)
    sha = digest.hexdigest()
    client = Client(server.port, token)
    results = {}

    with PeakRss(server.workers()) as put_rss:
        answer = client.request(
            "PUT",
            f"/api/v1/blobs/{sha}",
            big_body(BIG_BODY, block=block),
            {"Content-Length": str(BIG_BODY), "Content-Type": "application/octet-stream"},
        )
    assert answer.status == 415, (answer.status, answer.body[:200])
    assert client.request("HEAD", f"/api/v1/blobs/{sha}").status == 404
    results["put"] = (answer.status, *put_rss.growth_mb())

    # The same body without Content-Length, as phone HTTP stacks send a streamed body.
    with PeakRss(server.workers()) as chunked_rss:
        client.connection.request(
            "PUT",
            f"/api/v1/blobs/{sha}",
            big_body(BIG_BODY, block=block),
            {**client.auth, "Content-Type": "application/octet-stream"},
            encode_chunked=True,
        )
        response = client.connection.getresponse()
        response.read()
    assert response.status == 415, response.status
    results["chunked"] = (response.status, *chunked_rss.growth_mb())

    tus = {"Tus-Resumable": "1.0.0"}
    metadata = f"sha256 {base64.b64encode(sha.encode()).decode()}"
    with PeakRss(server.workers()) as tus_rss:
        created = client.request(
            "POST",
            "/api/v1/uploads",
            b"",
            {**tus, "Upload-Length": str(BIG_BODY), "Upload-Metadata": metadata},
        )
        assert created.status == 201, created.body
        location = "/" + created.headers["Location"].split("/", 3)[3]
        offset, patches = 0, 0
        while offset < BIG_BODY:
            size = min(TUS_PATCH, BIG_BODY - offset)
            answer = client.request(
                "PATCH",
                location,
                big_body(size, start=offset, block=block),
                {
                    **tus,
                    "Upload-Offset": str(offset),
                    "Content-Length": str(size),
                    "Content-Type": "application/offset+octet-stream",
                },
            )
            offset += size
            patches += 1
            assert answer.status == (204 if offset < BIG_BODY else 415), answer.body[:200]
    assert client.request("HEAD", location, headers=tus).status == 404
    results["tus"] = (answer.status, *tus_rss.growth_mb())
    results["patches"] = patches
    return results


# -- c. throughput ----------------------------------------------------------------------


def raw_loopback_copy(photos: list[Photo], clients: int) -> float:
    """Seconds to send every photo's bytes over ``clients`` plain loopback sockets."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=clients)
    port = listener.getsockname()[1]

    def sink(connection: socket.socket) -> None:
        buffer = bytearray(MB)
        with connection:
            while connection.recv_into(buffer):
                pass

    def accept() -> None:
        for _ in range(clients):
            connection, _ = listener.accept()
            threading.Thread(target=sink, args=(connection,), daemon=True).start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()

    def send(share: list[Photo]) -> None:
        with socket.create_connection(("127.0.0.1", port)) as connection:
            for photo in share:
                connection.sendall(photo.path.read_bytes())
            connection.shutdown(socket.SHUT_WR)
            connection.recv(1)  # the sink closes once it has read everything

    senders = [threading.Thread(target=send, args=(photos[i::clients],)) for i in range(clients)]
    started = time.perf_counter()
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join()
    elapsed = time.perf_counter() - started
    listener.close()
    return elapsed


def disk_copy(photos: list[Photo], writers: int, directory: Path) -> float:
    """Seconds for ``writers`` threads to write + fsync every photo to ``directory``."""
    directory.mkdir(exist_ok=True)

    def write(share: list[Photo]) -> None:
        for photo in share:
            write_fsync(photo.path.read_bytes(), directory)

    threads = [threading.Thread(target=write, args=(photos[i::writers],)) for i in range(writers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time these processes (all their threads) have used so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def processed_times(database: Path, shas: list[str]) -> list[dt.datetime]:
    """When each of these blobs finished processing (read-only, straight from SQLite)."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        rows = db.execute(
            f"SELECT processed_at FROM blobs WHERE processing = 'done' "
            f"AND sha256 IN ({','.join('?' * len(shas))})",
            shas,
        ).fetchall()
    return [dt.datetime.fromisoformat(row[0]).replace(tzinfo=dt.UTC) for row in rows]


def throughput(
    server: Server, token: str, photos: list[Photo], clients: int, chunk_size: int
) -> dict:
    raw_s = raw_loopback_copy(photos, clients)
    disk_s = disk_copy(photos, clients, server.root / "scratch")
    api = Client(server.port, token)
    photo_ids = [register(api, photo.sha256) for photo in photos]
    url = f"http://127.0.0.1:{server.port}/api/v1/uploads"
    errors: list[BaseException] = []

    def upload(share: list[Photo]) -> None:
        tus = tus_client.TusClient(url, headers={"Authorization": f"Bearer {token}"})
        try:
            for photo in share:
                tus.uploader(
                    file_path=str(photo.path),
                    chunk_size=chunk_size,
                    metadata={"sha256": photo.sha256, "filename": photo.path.name},
                ).upload()
        except BaseException as error:
            errors.append(error)

    uploaders = [
        threading.Thread(target=upload, args=(photos[i::clients],)) for i in range(clients)
    ]
    workers = server.workers()
    server_cpu = cpu_seconds(workers)
    client_cpu = sum(os.times()[:2])
    started_wall = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    for thread in uploaders:
        thread.start()
    for thread in uploaders:
        thread.join()
    upload_s = time.perf_counter() - started
    client_cpu = sum(os.times()[:2]) - client_cpu
    if errors:
        raise errors[0]

    shas = [photo.sha256 for photo in photos]
    deadline = time.monotonic() + 300
    while len(done := processed_times(server.database, shas)) < len(shas):
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(done)} of {len(shas)} photos processed")
        time.sleep(0.2)
    processing_s = (max(done) - started_wall).total_seconds()
    server_cpu = cpu_seconds(workers) - server_cpu
    for photo_id in photo_ids:
        photo = api.request("GET", f"/api/v1/photos/{photo_id}").json()
        assert photo["status"] == "available" and photo["processing"] == "done", photo
    total_mb = sum(photo.size for photo in photos) / 1e6
    cores = os.cpu_count() or 1
    return {
        "photos": len(photos),
        "mb": total_mb / len(photos),
        "upload_s": upload_s,
        "tus_mb_s": total_mb / upload_s,
        "raw_mb_s": total_mb / raw_s,
        "disk_mb_s": total_mb / disk_s,
        "processing_s": processing_s,
        "per_core": len(photos) / processing_s / cores,
        "cores": cores,
        "server_cpu_ms": server_cpu / len(photos) * 1000,
        "client_cpu_ms": client_cpu / len(photos) * 1000,
    }


# -- the report -------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--puts", type=int, default=15, help="timed 5 MB PUTs (a)")
    parser.add_argument("--photos", type=int, default=200, help="4 MB photos for (c)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent tus clients (c)")
    parser.add_argument("--tus-chunk", type=int, default=2 * MB, help="tuspy chunk size (c)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="upload-bench-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        warmup = 2
        five = make_photos(root / "photos5", args.puts + warmup, bases=4, noise=12, quality=95)
        four = make_photos(root / "photos4", args.photos, bases=8, noise=15, quality=92)
        print(f"test photos made in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        server = Server(root, args.workers, args.threads)
        server.start()
        try:
            token = login(server.port)
            scratch = root / "scratch"
            scratch.mkdir()
            a = upload_path(server.port, token, five, scratch, warmup)
            b = memory(server, token)
            c = throughput(server, token, four, args.clients, args.tus_chunk)
        finally:
            server.stop()
        elapsed = time.perf_counter() - started

    print(
        f"\nupload bench: gunicorn {args.workers} workers x {args.threads} threads, "
        f"SQLite, disk store, in-process jobs; {c['cores']} cores; {elapsed:.0f} s\n"
    )
    rows = [
        ("", "measured", "baseline", "ratio", "target"),
        (
            f"a. PUT {a['mb']:.1f} MB photo, median of {a['n']}",
            f"{a['put_ms']:.1f} ms",
            f"{a['baseline_ms']:.1f} ms",
            f"{a['put_ms'] / a['baseline_ms']:.2f}x",
            "<= 2x",
        ),
        (
            "   (baseline = write+fsync + GET /healthz)",
            "",
            f"{a['write_ms']:.1f} + {a['rtt_ms']:.1f}",
            "",
            "",
        ),
        (
            f"b. peak RSS, PUT 100 MB body ({b['put'][0]})",
            f"+{b['put'][1]:.1f} MB",
            f"(sampled +{b['put'][2]:.1f})",
            "",
            "< 32 MB",
        ),
        (
            f"b. peak RSS, PUT 100 MB chunked ({b['chunked'][0]})",
            f"+{b['chunked'][1]:.1f} MB",
            f"(sampled +{b['chunked'][2]:.1f})",
            "",
            "< 32 MB",
        ),
        (
            f"b. peak RSS, tus 100 MB, {b['patches']} PATCHes ({b['tus'][0]})",
            f"+{b['tus'][1]:.1f} MB",
            f"(sampled +{b['tus'][2]:.1f})",
            "",
            "< 32 MB",
        ),
        (
            f"c. tus {c['photos']} x {c['mb']:.1f} MB, {args.clients} clients",
            f"{c['tus_mb_s']:.0f} MB/s",
            f"{c['raw_mb_s']:.0f} MB/s raw",
            f"{c['tus_mb_s'] / c['raw_mb_s']:.2f}x",
            "report",
        ),
        (
            f"   (write+fsync of the same files, {args.clients} threads)",
            "",
            f"{c['disk_mb_s']:.0f} MB/s disk",
            f"{c['tus_mb_s'] / c['disk_mb_s']:.2f}x",
            "",
        ),
        (
            "c. processed, first byte to last thumbnail",
            f"{c['per_core']:.2f} /s/core",
            f"{c['processing_s']:.1f} s",
            "",
            "report",
        ),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        print(
            "  ".join(
                cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i])
                for i, cell in enumerate(row)
            )
        )
    print(
        f"\n(c) uploads took {c['upload_s']:.1f} s (tuspy chunk {args.tus_chunk // MB} MiB); "
        f"CPU per photo: server {c['server_cpu_ms']:.0f} ms (upload + processing), "
        f"tus clients {c['client_cpu_ms']:.0f} ms"
    )


if __name__ == "__main__":
    main()
