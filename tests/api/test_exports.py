"""POST /api/v1/exports and its progress and file: the ledger made as a job."""

from __future__ import annotations

import time

import pytest

from app.ledger import xlsx
from app.ledger.models import Export
from tests import case_factories as cf
from tests import ledger_factories as lf


@pytest.fixture
def cw(session, world):
    return cf.make_case_world(session, world)


@pytest.fixture
def closed(client, auth, cw):
    return [lf.closed_case(client, auth, cw), lf.closed_case(client, auth, cw)]


@pytest.fixture
def queued(app, monkeypatch):
    """The names of the jobs queued during the test (they still run)."""
    queue = app.extensions["media"].queue
    names: list[str] = []
    enqueue = queue.enqueue

    def recording(name, payload):
        names.append(name)
        return enqueue(name, payload)

    monkeypatch.setattr(queue, "enqueue", recording)
    return names


@pytest.fixture
def sync_max(app):
    def set_to(rows: int) -> None:
        app.config["LEDGER_SYNC_MAX_ROWS"] = rows

    yield set_to
    app.config["LEDGER_SYNC_MAX_ROWS"] = 200


def _export(client, headers, expect=202, **body):
    response = client.post("/api/v1/exports", json=body, headers=headers)
    assert response.status_code == expect, response.get_json()
    return response


def test_a_small_export_is_done_at_once(client, auth, closed, queued):
    response = _export(client, auth("dispatcher"), format="xlsx", **lf.period())
    export = response.get_json()
    assert response.headers["Location"].endswith(f"/api/v1/exports/{export['id']}")
    assert export["status"] == "done" and queued == []
    assert export["rows_done"] == export["rows_total"] == 2
    assert export["filename"].startswith("两图一表-思明区")
    assert export["params"]["scope"]["kind"] == "district"
    file = client.get(export["file_url"], headers=auth("dispatcher"))
    assert file.status_code == 200
    assert "filename*=UTF-8''" in file.headers["Content-Disposition"]
    sheet = lf.read_xlsx(file.data)
    assert [sheet.cell(row, 2).value for row in (3, 4)] == [c["number"] for c in closed]
    assert len(sheet._images) == 4


def test_a_large_export_runs_as_a_job_with_progress(client, auth, closed, queued, sync_max):
    sync_max(1)
    export = _export(client, auth("street_chief"), format="pdf", **lf.period()).get_json()
    assert queued == ["ledger_export"]
    # The test queue runs jobs at once; the real worker reports queued, then running.
    seen = client.get(f"/api/v1/exports/{export['id']}", headers=auth("street_chief")).get_json()
    assert seen["status"] == "done"
    assert seen["rows_done"] == seen["rows_total"] == 2
    file = client.get(seen["file_url"], headers=auth("street_chief"))
    assert file.mimetype == "application/pdf" and file.data.startswith(b"%PDF-")


def test_only_the_requester_and_admins_read_an_export(client, auth, closed):
    export = _export(client, auth("street_chief"), format="xlsx", **lf.period()).get_json()
    path = f"/api/v1/exports/{export['id']}"
    assert client.get(path, headers=auth("street_chief")).status_code == 200
    assert client.get(path, headers=auth("admin")).status_code == 200
    assert client.get(f"{path}/file", headers=auth("admin")).status_code == 200
    for role in ("dispatcher", "handler", "road_chief"):
        assert client.get(path, headers=auth(role)).status_code == 404, role
        assert client.get(f"{path}/file", headers=auth(role)).status_code == 404, role
    for role in ("inspector", "merchant"):
        assert client.get(path, headers=auth(role)).status_code == 403, role


def test_the_file_of_an_export_not_done_is_409(client, auth, session, world):
    export = Export(format="pdf", params={}, requested_by=world.users["dispatcher"].id)
    session.add(export)
    session.commit()
    response = client.get(f"/api/v1/exports/{export.id}/file", headers=auth("dispatcher"))
    assert response.status_code == 409
    assert "queued" in response.get_json()["message"]


def test_a_failed_export_says_why(client, auth, closed, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(xlsx, "write_xlsx", broken)
    export = _export(client, auth("dispatcher"), format="xlsx", **lf.period()).get_json()
    assert export["status"] == "failed"
    assert "disk full" in export["error"]
    assert export["file_url"] is None


@pytest.mark.parametrize(
    ("role", "scope", "status"),
    [
        ("dispatcher", None, 202),
        ("admin", "street", 202),
        ("street_chief", "street", 202),
        ("street_chief", "department", 403),
        ("road_chief", "road", 202),
        ("road_chief", "street", 403),
        ("handler", "department", 202),
        ("handler", None, 202),
        ("handler", "street", 403),
        ("inspector", None, 403),
        ("merchant", None, 403),
    ],
)
def test_who_may_export(client, auth, session, cw, queued, role, scope, status):
    units = {
        "street": cw.world.street.id,
        "department": cw.world.department.id,
        "road": cw.world.road.id,
    }
    body = {"format": "pdf", **lf.period()}
    if scope:
        body[scope] = units[scope]
    _export(client, auth(role), status, **body)
    assert session.query(Export).count() == (1 if status == 202 else 0)


@pytest.mark.parametrize(
    "body",
    [
        {"format": "json"},
        {"format": "docx"},
        {"street": 999999},
        {"grid": "999999999999999"},
        {"chief": 999999},
        {"from": "2999-01-01", "to": "2999-01-02"},
        {"from": "2024-01-01", "to": "2025-06-01"},
        {"from": "yesterday"},
        {"street": 1, "road": 1},
    ],
)
def test_bad_export_requests_are_422_and_start_nothing(client, auth, session, cw, queued, body):
    request = {"format": "xlsx", **lf.period(), **body}
    response = _export(client, auth("dispatcher"), 422, **request)
    assert response.get_json()["message"]
    assert session.query(Export).count() == 0
    assert queued == []


def test_the_worker_thread_makes_a_large_export(app, client, auth, committing, cw, sync_max):
    """With the real in-process worker: 202 queued at once, then progress, then the file."""
    lf.closed_case(client, auth, cw)
    lf.closed_case(client, auth, cw)
    sync_max(1)
    export = _export(client, auth("dispatcher"), format="xlsx", **lf.period()).get_json()
    assert export["status"] in ("queued", "running", "done")
    deadline = time.monotonic() + 60
    while export["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.1)
        export = client.get(f"/api/v1/exports/{export['id']}", headers=auth("dispatcher"))
        export = export.get_json()
    assert export["status"] == "done", export
    assert export["rows_done"] == 2
    assert client.get(export["file_url"], headers=auth("dispatcher")).status_code == 200
