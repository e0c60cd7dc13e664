"""Walk replay without a server of its own: planning a folder of photos, the progress bar,
and a replay against the protocol double."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from fieldclient import walk, walk_plan
from fieldclient.errors import ServerUnavailable
from fieldclient.retry import RetryPolicy
from fieldclient.transport import ConnectionLost
from tests.client.client_support import FakeServer, Flaky, walk_photo

XIAMEN = (24.4798, 118.0894)


def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def test_photos_are_walked_in_the_order_they_were_taken_then_by_name(tmp_path):
    write(tmp_path, "c.jpg", walk_photo(1, at=XIAMEN, taken="2026:11:22 08:10:00"))
    write(tmp_path, "a.jpg", walk_photo(2, at=XIAMEN, taken="2026:11:22 08:30:00"))
    write(tmp_path, "b.JPG", walk_photo(3, at=XIAMEN, taken="2026:11:22 08:20:00"))
    write(tmp_path, "z.jpeg", walk_photo(4, at=XIAMEN))
    write(tmp_path, "y.jpg", walk_photo(5, at=XIAMEN))
    write(tmp_path, "notes.txt", b"not a photo")
    write(tmp_path, ".hidden.jpg", walk_photo(6, at=XIAMEN))
    stops, left_out = walk_plan.plan_walk(tmp_path, walk_plan.Options())
    assert [s.path.name for s in stops] == ["c.jpg", "b.JPG", "a.jpg", "y.jpg", "z.jpeg"]
    assert left_out == {}
    first = stops[0]
    assert first.taken_at.isoformat() == "2026-11-22T08:10:00+08:00"
    assert first.location["crs"] == "wgs84"
    assert first.location["lat"] == pytest.approx(XIAMEN[0], abs=1e-6)
    assert first.category_code == walk_plan.DEFAULT_CATEGORY
    assert first.description == "巡查上报：c.jpg"


def test_the_manifest_names_what_the_camera_did_not_record(tmp_path):
    write(tmp_path, "1.jpg", walk_photo(1, taken="2026:11:22 08:00:00"))
    write(tmp_path, "2.jpg", walk_photo(2, at=XIAMEN, taken="2026:11:22 08:01:00"))
    manifest = {
        "category_code": "06011",
        "address": "湖滨南路",
        "crs": "gcj02",
        "photos": {
            "1.jpg": {"lat": 24.48, "lon": 118.09, "description": "垃圾满溢"},
            "2.jpg": {"category_code": "06012"},
        },
    }
    (tmp_path / "walk.json").write_text(json.dumps(manifest, ensure_ascii=False))
    stops, _ = walk_plan.plan_walk(tmp_path, walk_plan.Options(address="中山路"))
    one, two = stops
    assert one.location == {"lat": 24.48, "lon": 118.09, "crs": "gcj02"}
    assert (one.description, one.category_code, one.address) == ("垃圾满溢", "06011", "中山路")
    assert two.location["crs"] == "wgs84"  # EXIF GPS is WGS-84 whatever the manifest says
    assert two.category_code == "06012"


def test_without_a_position_photos_are_placed_from_the_start_point_or_left_out(tmp_path):
    write(tmp_path, "a.jpg", walk_photo(1, taken="2026:11:22 08:00:00"))
    write(tmp_path, "b.jpg", walk_photo(2, taken="2026:11:22 08:05:00"))
    write(tmp_path, "copy-of-a.jpg", (tmp_path / "a.jpg").read_bytes())
    write(tmp_path, "broken.jpg", walk_photo(3)[:500])
    stops, left_out = walk_plan.plan_walk(tmp_path, walk_plan.Options())
    assert stops == []
    assert set(left_out) == {"a.jpg", "b.jpg", "copy-of-a.jpg", "broken.jpg"}
    assert left_out["a.jpg"].startswith("no location")
    assert left_out["broken.jpg"].startswith("not a usable photo")
    stops, left_out = walk_plan.plan_walk(tmp_path, walk_plan.Options(start=XIAMEN, crs="gcj02"))
    assert [s.location for s in stops] == [
        {"lat": XIAMEN[0], "lon": XIAMEN[1], "crs": "gcj02"},
        {"lat": round(XIAMEN[0] + walk_plan.STEP_DEGREES, 7), "lon": XIAMEN[1], "crs": "gcj02"},
    ]
    assert set(left_out) == {"copy-of-a.jpg", "broken.jpg"}
    assert left_out["copy-of-a.jpg"] == "the same photo as a.jpg"


def test_a_broken_manifest_stops_the_walk(tmp_path):
    write(tmp_path, "a.jpg", walk_photo(1))
    (tmp_path / "walk.json").write_text("{not json")
    with pytest.raises(walk_plan.WalkError, match=r"walk\.json"):
        walk_plan.plan_walk(tmp_path, walk_plan.Options())
    (tmp_path / "walk.json").write_text(json.dumps({"photos": {"a.jpg": {"lat": "north"}}}))
    with pytest.raises(walk_plan.WalkError, match="lat and lon"):
        walk_plan.plan_walk(tmp_path, walk_plan.Options())


def test_the_progress_bar_draws_one_line_per_stage():
    out = io.StringIO()
    bar = walk.ProgressBar(out, width=10)
    bar("upload", 0, 4)
    bar("upload", 3, 4)
    bar("push", 0, 0)
    bar("pull", 12, None)
    bar.finish()
    assert out.getvalue().split("\n") == [
        "\rupload [          ] 0/4 photos\rupload [#######   ] 3/4 photos",
        "\rpush   nothing to do",
        "\rpull   12 changes",
        "",
    ]


def test_a_replayed_walk_sends_each_photo_once_however_often_it_is_run(tmp_path):
    folder = tmp_path / "walk"
    folder.mkdir()
    for n in range(3):
        write(folder, f"{n}.jpg", walk_photo(n + 1, at=XIAMEN, taken=f"2026:11:22 08:0{n}:00"))
    server = FakeServer()
    link = Flaky(server)
    first = walk.replay(folder, link, "inspector", "pw", device=walk.Device(server.device_id))
    assert (first.queued_now, first.sync.uploads.uploaded) == (3, 3)
    assert first.sync.push.counts == {"applied": 3}
    assert first.complete
    assert (folder / walk.STATE_FILE).exists()
    requests = len(link.log)
    again = walk.replay(folder, link, "inspector", "pw")
    assert (again.queued_now, again.queued_before) == (0, 3)
    assert again.sync.push.results == []
    assert {r["status"] for r in again.outcomes.values()} == {"applied"}
    # Only the login and the pull went out: nothing uploaded, nothing pushed.
    assert [m for m, _, _ in link.log[requests:]] == ["POST", "GET"]
    assert len(server.pushes) == 1
    summary = walk.format_summary(again)
    assert "0 queued now, 3 queued before" in summary
    assert "reports: applied 3" in summary


def test_a_state_file_of_another_device_is_refused(tmp_path):
    write(tmp_path, "a.jpg", walk_photo(1, at=XIAMEN))
    server = FakeServer()
    walk.replay(tmp_path, server, "inspector", "pw", device=walk.Device(server.device_id))
    with pytest.raises(walk_plan.WalkError, match="leave --device-id out"):
        walk.replay(tmp_path, server, "inspector", "pw", device=walk.Device("another-phone"))


def test_the_command_line_stops_with_a_message_or_a_usage_error(tmp_path, capsys):
    login = ["--server", "http://127.0.0.1:9", "--user", "u", "--password", "p"]
    assert walk.main([str(tmp_path / "nowhere"), *login]) == walk.STOPPED
    assert "walk replay stopped:" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        walk.main([str(tmp_path), *login, "--lat", "24.4"])
    assert usage.value.code == walk.USAGE
    assert "--lat and --lon go together" in capsys.readouterr().err


def test_an_unreachable_server_stops_the_walk_after_the_last_attempt(tmp_path):
    write(tmp_path, "a.jpg", walk_photo(1, at=XIAMEN))
    waits: list[float] = []
    with pytest.raises(ServerUnavailable, match="gave up after 2 attempts"):
        walk.replay(
            tmp_path,
            _Unreachable(),
            "inspector",
            "pw",
            retry=RetryPolicy(max_attempts=2, sleep=waits.append),
        )
    assert len(waits) == 1


class _Unreachable:
    def request(self, method, path, **kwargs):
        raise ConnectionLost("no route to host")
