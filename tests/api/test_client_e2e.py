"""The reference client against the real app, on SQLite and PostgreSQL: a field walk
replayed through the HTTP API (tus uploads, push, pull), replayed again, cut off mid-upload;
and the command itself, in a process of its own, against a server on a real socket."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.cases.models import Case
from fieldclient import walk
from fieldclient.client import SyncClient
from fieldclient.errors import RequestRefused
from fieldclient.retry import RetryPolicy
from tests import case_factories as cf
from tests import factories
from tests.client.client_support import (
    Flaky,
    FlaskTransport,
    cut_body,
    lose_response,
    walk_photo,
)

ROOT = Path(__file__).resolve().parents[2]
CHUNK = 8 * 1024


@pytest.fixture
def cw(session, world):
    return cf.make_case_world(session, world)


@pytest.fixture
def inspector(cw):
    return cw.users["inspector"].username


@pytest.fixture
def link(client) -> Flaky:
    return Flaky(FlaskTransport(client))


# Backoff is the unit tests' business; here it would only slow the suite down.
NO_WAIT = RetryPolicy(sleep=lambda seconds: None)


def make_walk(folder: Path, count: int, *, size=(160, 120)) -> Path:
    """``count`` photos taken a minute apart across the lattice's first cells, GPS in EXIF."""
    folder.mkdir()
    for n in range(count):
        spot = cf.cell(n // 3, n % 3)
        data = walk_photo(
            n + 1, at=(spot["lat"], spot["lon"]), taken=f"2026:11:22 08:{n:02d}:00", size=size
        )
        (folder / f"IMG_{n:04d}.jpg").write_bytes(data)
    return folder


def cases(session) -> int:
    session.expire_all()
    return session.scalar(sa.select(sa.func.count()).select_from(Case))


def test_a_walk_files_one_case_per_photo_with_its_photo_available(
    client, link, inspector, auth, tmp_path, session
):
    folder = make_walk(tmp_path / "walk", 5)
    summary = walk.replay(folder, link, inspector, factories.PASSWORD, retry=NO_WAIT)
    assert summary.complete, walk.format_summary(summary)
    assert (summary.queued_now, summary.sync.uploads.uploaded) == (5, 5)
    assert summary.sync.push.counts == {"applied": 5}
    assert cases(session) == 5
    headers = auth("inspector")
    for stop in summary.stops:
        case_id, photo_id = walk.walk_ids(inspector, stop.sha256)
        detail = cf.case(client, headers, case_id)
        assert detail["state"] == "reported"
        assert detail["description"] == f"巡查上报：{stop.path.name}"
        assert [p["photo_id"] for p in detail["photos"]["problem"]] == [photo_id]
        photo = client.get(f"/api/v1/photos/{photo_id}", headers=headers).get_json()
        assert photo["status"] == "available"
        original = client.get(f"/api/v1/photos/{photo_id}/original", headers=headers)
        assert original.data == stop.path.read_bytes()
    # The pull brought the walk's cases back into the phone's local copy.
    with SyncClient(link, folder / walk.STATE_FILE, _device(folder), "unused") as phone:
        pulled = {e.entity_id for e in phone.entities("case")}
        assert {walk.walk_ids(inspector, s.sha256)[0] for s in summary.stops} <= pulled
        assert phone.local.last_mid == 5


def _device(folder: Path) -> str:
    from fieldclient.local import device_id_of

    device = device_id_of(folder / walk.STATE_FILE)
    assert device is not None
    return device


def test_a_walk_replayed_again_sends_nothing_twice(client, link, inspector, tmp_path, session):
    folder = make_walk(tmp_path / "walk", 3)
    walk.replay(folder, link, inspector, factories.PASSWORD, retry=NO_WAIT)
    before = len(link.log)
    again = walk.replay(folder, link, inspector, factories.PASSWORD, retry=NO_WAIT)
    assert (again.queued_now, again.queued_before) == (0, 3)
    assert {r["status"] for r in again.outcomes.values()} == {"applied"}
    sent = link.log[before:]
    assert not [r for r in sent if "/uploads" in r[1] or "/sync/push" in r[1]]
    assert cases(session) == 3


def test_a_walk_replayed_after_its_state_file_was_lost_files_no_second_case(
    client, link, inspector, tmp_path, session
):
    folder = make_walk(tmp_path / "walk", 3)
    walk.replay(folder, link, inspector, factories.PASSWORD, retry=NO_WAIT)
    (folder / walk.STATE_FILE).unlink()
    again = walk.replay(folder, link, inspector, factories.PASSWORD, retry=NO_WAIT)
    assert again.queued_now == 3
    assert (again.sync.uploads.uploaded, again.sync.uploads.skipped) == (0, 3)
    assert again.sync.push.counts == {"applied": 3}  # the known case UUIDs: the stored cases
    assert cases(session) == 3


def test_an_answer_lost_after_the_server_applied_comes_back_duplicate(
    client, link, inspector, tmp_path, session
):
    folder = make_walk(tmp_path / "walk", 2)
    link.when("POST", "/sync/push", lose_response)
    summary = walk.replay(folder, link, inspector, factories.PASSWORD, retry=NO_WAIT)
    assert summary.sync.push.counts == {"duplicate": 2}
    assert {r["original_status"] for r in summary.outcomes.values()} == {"applied"}
    assert summary.complete
    assert cases(session) == 2


def test_an_upload_cut_off_mid_photo_resumes_where_the_server_stands(
    client, link, inspector, auth, tmp_path, app
):
    folder = make_walk(tmp_path / "walk", 1, size=(900, 700))
    [path] = folder.glob("*.jpg")
    device = "phone-e2e"
    token = SyncClient.login(link, inspector, factories.PASSWORD, device)
    phone = SyncClient(
        link, tmp_path / "phone.sqlite3", device, token, chunk_size=CHUNK, retry=NO_WAIT
    )
    photo_id, sha = phone.add_photo(path)
    assert path.stat().st_size > 3 * CHUNK
    link.when("PATCH", "/uploads/", cut_body(0.4), skip=1)
    uploads = phone.upload_photos()
    assert (uploads.uploaded, uploads.resumed, uploads.failed) == (1, 1, {})
    assert link.count("POST", "/uploads") == 1
    headers = auth("inspector")
    assert client.head(f"/api/v1/blobs/{sha}", headers=headers).status_code == 200
    assert app.extensions["media"].store.open(sha).read() == path.read_bytes()
    # The report that refers to the photo finds it there.
    spot = cf.cell(0, 0)
    case_id = uuid.uuid4()
    phone.enqueue(
        "report.create",
        case_id,
        {
            "category_code": "06010",
            "description": "路边暴露垃圾",
            "location": spot,
            "photos": [{"photo_id": photo_id, "sha256": sha, "kind": "problem"}],
        },
    )
    assert phone.push().counts == {"applied": 1}
    photo = client.get(f"/api/v1/photos/{photo_id}", headers=headers).get_json()
    assert photo["status"] == "available"
    phone.close()


def test_a_request_the_server_refuses_stops_with_its_reason(client, link, inspector, tmp_path):
    token = SyncClient.login(link, inspector, factories.PASSWORD, "phone-a")
    # A token of phone-a used for phone-b's queue: the server says whose device it is.
    with SyncClient(link, tmp_path / "b.sqlite3", "phone-b", token, retry=NO_WAIT) as phone:
        phone.enqueue("report.create", uuid.uuid4(), _report_args())
        with pytest.raises(RequestRefused) as refused:
            phone.push()
    assert (refused.value.status, refused.value.reason) == (403, "device_mismatch")


def _report_args() -> dict:
    return {"category_code": "06010", "description": "路边暴露垃圾", "location": cf.cell(0, 0)}


@pytest.fixture
def server(live_server):
    return live_server


def test_the_command_replays_a_walk_over_real_http(server, inspector, tmp_path, session):
    folder = make_walk(tmp_path / "walk", 3)
    command = [
        sys.executable,
        "-m",
        "fieldclient.walk",
        str(folder),
        "--server",
        server,
        "--user",
        inspector,
        "--password",
        factories.PASSWORD,
        "--batch",
        "2",
    ]
    first = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert first.returncode == walk.OK, first.stderr + first.stdout
    assert "photos: 3 uploaded" in first.stdout
    assert "push: 3 sent: applied 3" in first.stdout
    assert "[##############################] 3/3 photos" in first.stderr
    assert cases(session) == 3
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert again.returncode == walk.OK, again.stderr + again.stdout
    assert "0 queued now, 3 queued before" in again.stdout
    assert "push: 0 sent" in again.stdout
    assert cases(session) == 3
