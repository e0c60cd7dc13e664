"""``gunicorn -c gunicorn.conf.py wsgi:app``: the production server starts with the repo's
settings, answers ``/healthz`` and ``/readyz``, and its ``/metrics`` sums every worker's
counters (a worker killed and replaced included); a push budget too close to the worker
timeout stops it at start."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.core.db import make_engine
from app.models import metadata

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(port: int, path: str) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def _environment(folder: Path, **extra: str) -> dict[str, str]:
    environment = {
        key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"
    }
    environment.update(
        {
            "DATABASE_URL": f"sqlite:///{folder / 'ops.sqlite3'}",
            "MEDIA_ROOT": str(folder / "media"),
            "UPLOADS_ROOT": str(folder / "uploads"),
            "JOB_QUEUE": "inprocess",
            "LOG_LEVEL": "WARNING",
            "WEB_CONCURRENCY": "2",
            **extra,
        }
    )
    return environment


def _start(folder: Path, port: int, **extra: str) -> subprocess.Popen:
    log = (folder / "server.log").open("ab")
    try:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "gunicorn.conf.py",
                "--bind",
                f"127.0.0.1:{port}",
                "wsgi:app",
            ],
            cwd=ROOT,
            env=_environment(folder, **extra),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        log.close()


def _workers(master: int) -> list[int]:
    children = []
    for status in Path("/proc").glob("[0-9]*/status"):
        with contextlib.suppress(OSError):
            fields = dict(
                line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line
            )
            if int(fields.get("PPid", "0")) == master:
                children.append(int(status.parent.name))
    return children


def _wait_for(condition, seconds: float, what: str, server: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, http.client.HTTPException):
            if condition():
                return
        time.sleep(0.1)
    log = (server / "server.log").read_text(errors="replace")[-3000:]
    pytest.fail(f"{what} within {seconds} s:\n{log}")


def _healthz_count(port: int) -> float:
    status, text = _get(port, "/metrics")
    assert status == 200, text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "chengguan_http_requests_total" and sample.labels == {
                "method": "GET",
                "route": "/healthz",
                "status": "200",
            }:
                return sample.value
    return 0.0


@pytest.fixture
def server(tmp_path) -> Iterator[tuple[subprocess.Popen, int]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'ops.sqlite3'}")
    metadata.create_all(engine)
    engine.dispose()
    port = _free_port()
    process = _start(tmp_path, port)
    try:
        _wait_for(lambda: _get(port, "/healthz")[0] == 200, 60, "no /healthz", tmp_path)
        _wait_for(lambda: len(_workers(process.pid)) == 2, 30, "not two workers", tmp_path)
        yield process, port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def test_gunicorn_serves_with_the_repo_settings_and_sums_its_workers_metrics(server, tmp_path):
    process, port = server
    assert _get(port, "/readyz")[0] == 200
    before = _healthz_count(port)
    for _ in range(20):
        assert _get(port, "/healthz")[0] == 200
    assert _healthz_count(port) == before + 20
    # A worker killed outright is replaced; what it counted is still in the sum.
    victim = _workers(process.pid)[0]
    os.kill(victim, signal.SIGKILL)
    _wait_for(
        lambda: victim not in _workers(process.pid) and len(_workers(process.pid)) == 2,
        30,
        "the killed worker was not replaced",
        tmp_path,
    )
    _wait_for(lambda: _get(port, "/healthz")[0] == 200, 30, "no /healthz after", tmp_path)
    assert _healthz_count(port) >= before + 21


def test_a_push_budget_past_half_the_timeout_stops_the_server_at_start(tmp_path):
    process = _start(tmp_path, _free_port(), SYNC_PUSH_BUDGET_SECONDS="45")
    assert process.wait(timeout=60) != 0
    assert "SYNC_PUSH_BUDGET_SECONDS=45" in (tmp_path / "server.log").read_text()
