"""A city on two app servers (issue 15): two ``gunicorn wsgi:app`` processes with upload
folders of their own, on one PostgreSQL database, one S3 bucket (moto's server) and one
Redis queue with a ``flask photos worker`` process.

* A tuspy client uploads a photo with its PATCHes alternating between the hosts (each
  PATCH after the first by a fresh uploader that asks the other host where to resume), and
  the photo ends available and processed by the worker.
* Two phones of one inspector push reports to alternating hosts and pull the feed a page
  at a time from alternating hosts: both end with the same entities, every report once;
  a push re-sent to the other host changes nothing.
* A worker SIGKILLed in the middle of a job: a new worker completes the job on retry.

PostgreSQL only (``TEST_DATABASE_URL``): the servers work in a schema of their own.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import http.client
import io
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from PIL import Image
from sqlalchemy.orm import Session

from app.core.db import make_engine
from app.models import metadata
from app.photos.models import TusUpload
from tests import case_factories as cf
from tests import factories
from tests.conftest import PG_URL
from tests.integration.test_sync_crash import report, stop_group
from tests.integration.test_sync_crash import request as call
from tests.media import photos as pictures
from tests.redis_support import reachable_redis

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = "multihost"
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/5")
SECRET = "multihost-test-secret"
REGION = "us-east-1"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(condition: Callable[[], object], seconds: float, what: str) -> object:
    deadline = time.monotonic() + seconds
    while not (result := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {seconds} s")
        time.sleep(0.05)
    return result


# -- the shared services ---------------------------------------------------------------------


@pytest.fixture
def database_url() -> Iterator[str]:
    """A schema of this test's own in ``TEST_DATABASE_URL``'s database, with the tables."""
    if not PG_URL:
        pytest.skip("TEST_DATABASE_URL is not set: two hosts need PostgreSQL")
    admin = make_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        connection.execute(sa.text(f"CREATE SCHEMA {SCHEMA}"))
    url = (
        sa.engine.make_url(PG_URL)
        .update_query_dict({"options": f"-csearch_path={SCHEMA}"})
        .render_as_string(hide_password=False)
    )
    engine = make_engine(url)
    metadata.create_all(engine)
    engine.dispose()
    yield url
    with admin.begin() as connection:
        connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
    admin.dispose()


@pytest.fixture
def s3(monkeypatch) -> Iterator[tuple[str, str, object]]:
    """moto's S3 server on loopback and a bucket in it: (endpoint, bucket, admin client)."""
    boto3 = pytest.importorskip("boto3")
    moto_server = pytest.importorskip("moto.server")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    bucket = f"city-{uuid.uuid4().hex[:12]}"
    admin = boto3.client("s3", endpoint_url=endpoint, region_name=REGION)
    admin.create_bucket(Bucket=bucket)
    try:
        yield endpoint, bucket, admin
    finally:
        server.stop()


@pytest.fixture
def queue() -> Iterator[tuple[object, str]]:
    """(Redis connection, a queue name of this test's own); its keys removed after."""
    connection = reachable_redis(REDIS_URL)
    name = f"multihost-{uuid.uuid4().hex[:8]}"
    yield connection, name
    for key in connection.scan_iter(f"*{name}*"):
        connection.delete(key)


# -- the processes ---------------------------------------------------------------------------


@dataclasses.dataclass
class Process:
    """A server or worker in a process group of its own (one ``killpg`` takes gunicorn's
    master and workers, or RQ's worker and its work horse)."""

    name: str
    command: list[str]
    environment: dict[str, str]
    folder: Path
    port: int = 0
    process: subprocess.Popen | None = None

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        log = (self.folder / f"{self.name}.log").open("ab")
        self.process = subprocess.Popen(
            self.command,
            cwd=ROOT,
            env=self.environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def wait_healthy(self) -> None:
        def healthy() -> bool:
            if self.process is None or self.process.poll() is not None:
                pytest.fail(f"{self.name} exited at start:\n{self.log_tail()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                return call(self.port, "GET", "/healthz")[0] == 200
            return False

        _wait_for(healthy, 60, f"{self.name} did not answer /healthz")

    def kill(self) -> None:
        """SIGKILL to the group: no handler, no clean-up by the process."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process)
            self.process = None

    def log_tail(self) -> str:
        return (self.folder / f"{self.name}.log").read_text(errors="replace")[-4000:]


@dataclasses.dataclass
class City:
    hosts: list[Process]
    worker: Callable[[str], Process]
    redis: object
    queue_name: str
    bucket: str
    admin: object
    database_url: str


@pytest.fixture
def city(database_url, s3, queue, tmp_path) -> Iterator[City]:
    endpoint, bucket, admin = s3
    connection, queue_name = queue
    common = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET,
        "MEDIA_BACKEND": "s3",
        "S3_BUCKET": bucket,
        "S3_ENDPOINT_URL": endpoint,
        "S3_REGION": REGION,
        "JOB_QUEUE": "redis",
        "REDIS_URL": REDIS_URL,
        "JOB_QUEUE_NAME": queue_name,
        "MEDIA_JOB_DELAY": "1",
        "LOG_LEVEL": "WARNING",
    }

    def environment(name: str) -> dict[str, str]:
        folder = tmp_path / name
        return {
            **common,
            "MEDIA_ROOT": str(folder / "media"),
            "UPLOADS_ROOT": str(folder / "uploads"),
        }

    hosts = []
    for name in ("host-a", "host-b"):
        port = _free_port()
        command = [sys.executable, "-m", "gunicorn", "wsgi:app", "--bind", f"127.0.0.1:{port}"]
        hosts.append(Process(name, [*command, "--workers", "1"], environment(name), tmp_path, port))
    started: list[Process] = list(hosts)

    def worker(name: str) -> Process:
        flask = [sys.executable, "-m", "flask", "--app", "wsgi:app", "photos", "worker"]
        process = Process(name, flask, environment(name), tmp_path)
        process.start()
        started.append(process)
        return process

    for host in hosts:
        host.start()
    try:
        for host in hosts:
            host.wait_healthy()
        yield City(hosts, worker, connection, queue_name, bucket, admin, database_url)
    finally:
        for process in started:
            process.stop()


# -- HTTP ------------------------------------------------------------------------------------


def login(port: int, username: str, device_id: str) -> str:
    status, answer = call(
        port,
        "POST",
        "/api/v1/auth/login",
        {"username": username, "password": factories.PASSWORD, "device_id": device_id},
    )
    assert status == 200, answer
    return str(answer["access_token"])


def _photo() -> bytes:
    noise = Image.frombytes("RGB", (900, 700), os.urandom(900 * 700 * 3))
    return pictures.encode(
        Image.blend(pictures.scene(900, 700, seed=7), noise, 0.4), "JPEG", quality=92
    )


# -- the test --------------------------------------------------------------------------------


def test_two_hosts_one_city(city: City):
    engine = make_engine(city.database_url)
    with Session(engine, expire_on_commit=False) as session:
        world = factories.make_world(session)
        cf.make_case_world(session, world)
    inspector = world.users["inspector"].username
    worker = city.worker("worker-1")

    _upload_alternating(city, inspector, engine)
    _phones_converge(city, inspector)
    _killed_worker_job_retried(city, worker)
    engine.dispose()


def _upload_alternating(city: City, username: str, engine) -> None:
    from tusclient.client import TusClient

    ports = [host.port for host in city.hosts]
    token = login(ports[0], username, "tus-phone")
    data = _photo()
    sha = hashlib.sha256(data).hexdigest()
    photo_id = str(uuid.uuid4())
    status, answer = call(
        ports[1],
        "POST",
        "/api/v1/photos",
        {"id": photo_id, "sha256": sha, "kind": "problem"},
        token=token,
    )
    assert status == 201 and answer["status"] == "pending", answer

    clients = [
        TusClient(f"http://127.0.0.1:{port}/api/v1/uploads", {"Authorization": f"Bearer {token}"})
        for port in ports
    ]
    chunk = 64 * 1024
    assert len(data) > 4 * chunk, len(data)  # several PATCHes on each host
    first = clients[0].uploader(
        file_stream=io.BytesIO(data), chunk_size=chunk, metadata={"sha256": sha}
    )
    first.upload_chunk()  # creates the upload on host A and sends the first chunk there
    path = urlsplit(first.url).path
    patches = 1
    while True:
        on = patches % 2
        # A fresh uploader on the other host: it asks that host (HEAD) where to resume.
        uploader = clients[on].uploader(
            file_stream=io.BytesIO(data),
            url=f"http://127.0.0.1:{ports[on]}{path}",
            chunk_size=chunk,
        )
        assert uploader.offset == min(len(data), patches * chunk)
        if uploader.offset == len(data):
            break
        uploader.upload_chunk()
        patches += 1
    assert patches >= 5

    def processed(port: int) -> dict | None:
        status, answer = call(port, "GET", f"/api/v1/photos/{photo_id}", token=token)
        assert status == 200, answer
        return answer if answer["processing"] == "done" else None

    done = _wait_for(lambda: processed(ports[0]) and processed(ports[1]), 30, "photo processed")
    assert done["status"] == "available" and done["thumbnail_sizes"] == [320, 1024]
    stored = city.admin.get_object(Bucket=city.bucket, Key=f"blobs/{sha}")["Body"].read()
    assert stored == data
    leftovers = city.admin.list_objects_v2(Bucket=city.bucket, Prefix="uploads/")
    assert leftovers.get("KeyCount", 0) == 0
    with Session(engine) as session:
        row = session.scalars(sa.select(TusUpload)).one()
        assert (row.backend, row.completed_sha256) == ("s3", sha)


def _pull_all(ports: list[int], token: str, start: int) -> tuple[set, int]:
    """Every (entity type, id) the feed upserts, a page of 5 at a time, each page from the
    next host in turn; and how many pages."""
    cursor, seen, pages = "", set(), 0
    while True:
        port = ports[(start + pages) % 2]
        status, answer = call(
            port, "GET", f"/api/v1/sync/pull?cursor={cursor}&limit=5", token=token
        )
        assert status == 200, answer
        assert not answer.get("reset"), answer
        pages += 1
        seen |= {
            (change["entity_type"], change["entity_id"])
            for change in answer["changes"]
            if change["op"] == "upsert"
        }
        cursor = answer["cursor"]
        if not answer["has_more"]:
            return seen, pages


def _phones_converge(city: City, username: str) -> None:
    ports = [host.port for host in city.hosts]
    rng = random.Random(15)
    phones = []
    for number in (1, 2):
        token = login(ports[number - 1], username, f"phone-{number}")
        queue = {mid: report(mid, rng) for mid in range(1, 9)}
        phones.append((f"phone-{number}", token, queue))
    for round_, mids in enumerate((range(1, 4), range(4, 7), range(7, 9))):
        for number, (device, token, queue) in enumerate(phones):
            port = ports[(round_ + number) % 2]
            body = {"device_id": device, "mutations": [queue[mid] for mid in mids]}
            status, answer = call(port, "POST", "/api/v1/sync/push", body, token=token)
            assert status == 200, answer
            assert {result["status"] for result in answer["results"]} == {"applied"}, answer
    # The last push again, to the other host: decided already, nothing applied twice.
    device, token, queue = phones[0]
    body = {"device_id": device, "mutations": [queue[mid] for mid in (7, 8)]}
    status, answer = call(ports[0], "POST", "/api/v1/sync/push", body, token=token)
    assert status == 200 and "applied" not in {r["status"] for r in answer["results"]}, answer

    reports = {queue[mid]["entity_id"] for _device, _token, queue in phones for mid in range(1, 9)}
    pulled = [_pull_all(ports, token, start) for start, (_d, token, _q) in enumerate(phones)]
    (first, first_pages), (second, _pages) = pulled
    assert first == second
    assert first_pages >= 3  # pages came from both hosts
    cases = {entity_id for entity_type, entity_id in first if entity_type == "case"}
    assert reports <= cases, reports - cases


def _killed_worker_job_retried(city: City, worker: Process) -> None:
    from rq import Queue
    from rq.registry import StartedJobRegistry
    from rq.serializers import JSONSerializer

    from media.jobs import Backoff, JobRegistry, RedisQueue
    from tests.integration import multihost_jobs

    registry = JobRegistry()
    registry.register("multihost_slow", multihost_jobs.slow)
    jobs = RedisQueue(
        registry,
        city.redis,
        name=city.queue_name,
        # No delay: a delayed retry waits for a scheduler, and the killed worker's
        # scheduler lock lapses only after its TTL; an immediate retry goes to the queue.
        backoff=Backoff(retries=2, first_delay=0),
        job_timeout=30,
    )
    key = f"{city.queue_name}:slow"
    jobs.enqueue("multihost_slow", {"redis_url": REDIS_URL, "key": key})
    _wait_for(lambda: city.redis.get(f"{key}:attempts"), 20, "the slow job did not start")
    worker.kill()
    assert city.redis.get(f"{key}:done") is None
    queue = Queue(city.queue_name, connection=city.redis, serializer=JSONSerializer)
    started = StartedJobRegistry(queue=queue)
    assert len(started.get_job_ids(cleanup=False)) == 1  # abandoned with its dead worker
    city.worker("worker-2")
    # RQ calls a job abandoned once its worker's heartbeat lapses (at least 60 s after the
    # last beat) and a worker's maintenance then retries it if it has retries left. The
    # test moves that clock forward instead of waiting a minute; what follows — the retry
    # scheduled by the job's own Retry, run by the new worker — is RQ's and ours as is.
    started.cleanup(timestamp=time.time() + 3600)
    _wait_for(lambda: city.redis.get(f"{key}:done"), 20, "the job was not retried")
    assert int(city.redis.get(f"{key}:attempts")) == 2
