"""The reference client against the protocol without Flask: the real push engine behind a
memory store (``FakeServer``), a link that fails where each test says (``Flaky``), and the
client's SQLite queue on disk."""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fieldclient.client import SyncClient
from fieldclient.errors import (
    AuthenticationFailed,
    InvalidMutationError,
    MidReused,
    ProtocolError,
    RequestRefused,
    ServerUnavailable,
)
from fieldclient.local import DeviceMismatch
from fieldclient.retry import RetryPolicy, retry_after_of
from fieldclient.transport import ConnectionLost, HttpTransport, Response
from tests.client.client_support import (
    FakeServer,
    Flaky,
    answer,
    cut_body,
    error,
    json_response,
    lose_request,
    lose_response,
)
from tests.sync import fieldwork

DEVICE = "phone-1"
ROOT = Path(__file__).resolve().parents[2]


class Sleeps(list):
    """An injected ``sleep`` that only writes down how long it was asked to wait."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def fake() -> FakeServer:
    return FakeServer(DEVICE)


@pytest.fixture
def link(fake) -> Flaky:
    return Flaky(fake)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def phone(tmp_path, link, sleeps):
    """``phone(**options)`` → a client of DEVICE on ``link``, its queue in tmp_path."""
    made: list[SyncClient] = []

    def make(
        name: str = "phone.sqlite3",
        device_id: str = DEVICE,
        retry: RetryPolicy = RetryPolicy(),
        rand=lambda: 1.0,
        **options,
    ) -> SyncClient:
        client = SyncClient(
            options.pop("transport", link),
            tmp_path / name,
            device_id,
            FakeServer.TOKEN,
            retry=dataclasses.replace(retry, sleep=sleeps, rand=rand),
            **options,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def report(client: SyncClient, n: int, description: str = "路边暴露垃圾") -> int:
    return client.enqueue("report.create", fieldwork.ident(n), fieldwork.report_args(description))


def statuses(client: SyncClient) -> list[tuple[int, str]]:
    return [(m.mid, m.status) for m in client.mutations()]


# -- the queue ------------------------------------------------------------------------------


def test_queued_mutations_take_mids_one_by_one_and_survive_a_reopen(phone, tmp_path):
    first = phone()
    assert [report(first, n) for n in (1, 2, 3)] == [1, 2, 3]
    first.close()
    again = phone()
    assert statuses(again) == [(1, "queued"), (2, "queued"), (3, "queued")]
    assert report(again, 4) == 4
    assert again.mutations(fieldwork.ident(2))[0].args["description"] == "路边暴露垃圾"


def test_a_mutation_the_server_would_reject_for_its_shape_takes_no_mid(phone):
    client = phone()
    with pytest.raises(InvalidMutationError) as refused:
        client.enqueue("report.create", fieldwork.ident(1), {"description": "no category"})
    assert refused.value.reason == "validation"
    assert "category_code" in refused.value.errors["args"]
    with pytest.raises(InvalidMutationError):
        client.enqueue("case.frobnicate", fieldwork.ident(1), {})
    assert client.mutations() == []
    assert report(client, 1) == 1


def test_a_state_file_belongs_to_one_device(phone):
    phone().close()
    with pytest.raises(DeviceMismatch):
        phone(device_id="phone-2")


def test_a_crash_right_after_enqueue_loses_nothing_and_the_next_run_pushes_it(
    phone, tmp_path, fake
):
    # Another process queues a report and dies at once: no close, no cleanup.
    script = textwrap.dedent(
        f"""
        import os
        from fieldclient.client import SyncClient
        from tests.sync import fieldwork
        client = SyncClient(None, {str(tmp_path / "phone.sqlite3")!r}, {DEVICE!r}, "t")
        client.enqueue("report.create", fieldwork.ident(1), fieldwork.report_args())
        os._exit(0)
        """
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True, timeout=60)
    client = phone()
    assert statuses(client) == [(1, "queued")]
    pushed = client.push()
    assert pushed.counts == {"applied": 1}
    assert statuses(client) == [(1, "applied")]
    assert fake.engine.work.applied == [(DEVICE, 1)]


# -- push -----------------------------------------------------------------------------------


def test_push_sends_the_queue_in_mid_order_in_batches(phone, fake):
    client = phone()
    for n in range(1, 6):
        report(client, n)
    pushed = client.push(batch_size=2)
    assert fake.pushes == [[1, 2], [3, 4], [5]]
    assert pushed.counts == {"applied": 5}
    assert pushed.last_mid == 5
    assert client.local.last_mid == 5
    [first] = client.mutations(fieldwork.ident(1))
    assert first.result["entity_id"] == fieldwork.ident(1)
    assert first.result["version"] == 1
    assert client.push().results == []
    assert len(fake.pushes) == 3


def test_every_decided_status_is_recorded_with_the_servers_result(phone, fake):
    task, case = fieldwork.ident(50), fieldwork.ident(1)
    fake.engine.server("assign_task", task, to=fake.user.id)
    client = phone()
    report(client, 1)
    client.push()
    # While the phone is offline the task goes to someone else and the case is edited.
    fake.engine.server("reassign_task", task, to=99)
    fake.engine.server("edit_case", case, field="address", value="湖滨北路")
    client.enqueue("task.update", task, {"action": "complete", "note": "清理完毕"}, 1)
    client.enqueue(
        "case.edit",
        case,
        {"fields": {"description": {"base": "路边暴露垃圾", "new": "路边大量暴露垃圾"}}},
        base_version=1,
    )
    client.enqueue("task.update", fieldwork.ident(404), {"action": "accept"})
    pushed = client.push()
    assert [r["status"] for r in pushed.results] == ["conflict", "merged", "rejected"]
    conflict, merged, rejected = (m.result for m in client.mutations()[1:])
    assert conflict["reason"] == "task_reassigned"
    assert conflict["conflict_id"]
    assert merged["version"] == 3
    assert rejected["reason"] == "not_found"
    assert statuses(client)[1:] == [(2, "conflict"), (3, "merged"), (4, "rejected")]


def test_an_answer_lost_on_the_way_back_is_asked_again_and_comes_back_duplicate(
    phone, link, fake, sleeps
):
    client = phone()
    report(client, 1)
    report(client, 2)
    link.when("POST", "/sync/push", lose_response)
    pushed = client.push()
    assert fake.pushes == [[1, 2], [1, 2]]
    assert [r["status"] for r in pushed.results] == ["duplicate", "duplicate"]
    assert {r["original_status"] for r in pushed.results} == {"applied"}
    assert fake.engine.work.applied == [(DEVICE, 1), (DEVICE, 2)]
    assert statuses(client) == [(1, "duplicate"), (2, "duplicate")]
    assert sleeps == [0.5]


def test_5xx_and_dropped_links_are_retried_with_exponential_backoff(phone, link, sleeps):
    client = phone(retry=RetryPolicy(base_delay=0.5, max_delay=3.0))
    report(client, 1)
    link.when("POST", "/sync/push", answer(error(502)))
    link.when("POST", "/sync/push", lose_request)
    link.when("POST", "/sync/push", answer(error(500)))
    link.when("POST", "/sync/push", answer(error(504)))
    link.when("POST", "/sync/push", lose_request)
    assert client.push().counts == {"applied": 1}
    # Doubling from 0.5 s, capped at 3 s (the injected jitter draws its largest value).
    assert sleeps == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_jitter_spreads_the_waits_between_half_and_the_whole_backoff(phone, link, sleeps):
    draws = iter([0.0, 0.5])
    client = phone(rand=lambda: next(draws))
    report(client, 1)
    link.when("POST", "/sync/push", lose_request).when("POST", "/sync/push", lose_request)
    client.push()
    assert sleeps == [0.25, 0.75]


def test_a_503_is_waited_out_as_long_as_its_retry_after_says(phone, link, sleeps, fake):
    client = phone()
    report(client, 1)
    link.when("POST", "/sync/push", answer(error(503, "interrupted", **{"Retry-After": "7"})))
    assert client.push().counts == {"applied": 1}
    assert sleeps == [7.0]


def test_retry_after_may_be_an_http_date_and_is_capped():
    now = dt.datetime(2026, 11, 22, 0, 0, tzinfo=dt.UTC)
    later = email.utils.format_datetime(now + dt.timedelta(seconds=90), usegmt=True)
    assert retry_after_of(Response.of(503, {"Retry-After": later}), now) == 90
    assert retry_after_of(Response.of(503, {"Retry-After": "soon"}), now) is None
    assert retry_after_of(Response.of(503), now) is None


def test_a_day_long_retry_after_waits_at_most_the_policys_limit(phone, link, sleeps):
    client = phone(retry=RetryPolicy(max_retry_after=120))
    report(client, 1)
    link.when("POST", "/sync/push", answer(error(503, **{"Retry-After": "86400"})))
    client.push()
    assert sleeps == [120]


def test_after_the_last_attempt_the_client_gives_up_and_keeps_the_queue(phone, link, sleeps):
    client = phone(retry=RetryPolicy(max_attempts=3))
    report(client, 1)
    for _ in range(3):
        link.when("POST", "/sync/push", lose_request)
    with pytest.raises(ServerUnavailable, match="gave up after 3 attempts"):
        client.push()
    assert len(sleeps) == 2
    assert statuses(client) == [(1, "queued")]
    assert client.push().counts == {"applied": 1}


def test_a_request_level_4xx_raises_with_the_servers_reason_and_is_not_retried(phone, link, sleeps):
    client = phone()
    report(client, 1)
    link.when("POST", "/sync/push", answer(error(403, "device_mismatch")))
    with pytest.raises(RequestRefused) as refused:
        client.push()
    assert (refused.value.status, refused.value.reason) == (403, "device_mismatch")
    assert "device_mismatch" in str(refused.value)
    assert sleeps == []
    assert statuses(client) == [(1, "queued")]


def test_a_rejected_token_raises_authentication_failed(tmp_path, fake, sleeps):
    client = SyncClient(
        fake, tmp_path / "p.sqlite3", DEVICE, "expired", retry=RetryPolicy(sleep=sleeps)
    )
    report(client, 1)
    with pytest.raises(AuthenticationFailed):
        client.push()
    client.close()


def test_a_gap_sends_again_from_the_mid_the_server_expects(phone, fake):
    client = phone()
    for n in (1, 2, 3):
        report(client, n)
    client.push()
    report(client, 4)
    report(client, 5)
    fake.restore_backup()  # the server no longer knows mids 1–3 of this device
    pushed = client.push()
    assert fake.pushes[-2:] == [[4, 5], [1, 2, 3, 4, 5]]
    assert [r["status"] for r in pushed.results] == ["applied"] * 5
    assert pushed.last_mid == 5
    assert statuses(client) == [(n, "applied") for n in range(1, 6)]


def test_a_gap_for_a_mid_already_sent_is_a_protocol_error(phone, link):
    client = phone()
    report(client, 1)
    gap = {"mid": 1, "status": "gap", "reason": "expected_mid:1", "expected_mid": 1}
    link.when("POST", "/sync/push", answer(json_response(200, {"last_mid": 0, "results": [gap]})))
    with pytest.raises(ProtocolError):
        client.push()


def test_a_queue_that_is_not_the_devices_own_stops_at_the_reused_mid(phone, fake):
    first = phone()
    report(first, 1)
    first.push()
    # The same device id with a fresh state file: its mid 1 is another report.
    stranger = phone("copy.sqlite3")
    stranger.enqueue("report.create", fieldwork.ident(2), fieldwork.report_args("另一处"))
    with pytest.raises(MidReused, match="not that device's"):
        stranger.push()
    assert statuses(stranger) == [(1, "queued")]


# -- pull -----------------------------------------------------------------------------------


def test_pull_follows_the_feed_page_by_page_and_keeps_the_cursor(phone, fake):
    for n in range(1, 6):
        fake.add_change("task", fieldwork.ident(n), state="dispatched")
    fake.add_change("task", fieldwork.ident(2), "revoke")
    fake.add_change("case", fieldwork.ident(3), "delete")
    client = phone()
    pulled = client.pull(limit=3)
    assert (pulled.changes, pulled.pages) == (7, 3)
    assert client.local.cursor == "7"
    held = {e.entity_id for e in client.entities("task")}
    assert held == {fieldwork.ident(n) for n in (1, 3, 4, 5)}
    assert client.entity("task", fieldwork.ident(2)).op == "revoke"
    assert client.entity("task", fieldwork.ident(1)).data == {"state": "dispatched"}
    fake.add_change("task", fieldwork.ident(1), state="completed")
    assert client.pull().changes == 1
    assert client.entity("task", fieldwork.ident(1)).data == {"state": "completed"}


def test_a_change_older_than_what_the_phone_holds_is_skipped(phone, fake):
    fake.add_change("task", fieldwork.ident(1), state="completed", version=5)
    fake.add_change("task", fieldwork.ident(1), state="accepted", version=4)
    client = phone()
    client.pull()
    assert client.entity("task", fieldwork.ident(1)).version == 5
    assert client.entity("task", fieldwork.ident(1)).data == {"state": "completed"}


def test_a_reset_pushes_the_queue_then_pulls_everything_from_empty(phone, fake):
    fake.add_change("task", fieldwork.ident(1), state="dispatched")
    fake.add_change("task", fieldwork.ident(2), state="dispatched")
    client = phone()
    client.pull()
    report(client, 10)
    # The server forgot old history; task 2 left the feed while the phone was away.
    fake.stale_cursors.add("2")
    fake.feed = [c for c in fake.feed if c["entity_id"] != fieldwork.ident(2)]
    pulled = client.pull()
    assert pulled.resets == 1
    assert fake.pushes == [[1]]
    assert statuses(client) == [(1, "applied")]
    assert {e.entity_id for e in client.entities()} == {fieldwork.ident(1)}
    assert client.local.cursor == "1"


# -- photos ---------------------------------------------------------------------------------


def _photo_file(tmp_path: Path, name: str, size: int, seed: int = 1) -> Path:
    path = tmp_path / name
    path.write_bytes(bytes((seed * 31 + i * 7) % 256 for i in range(size)))
    return path


def test_a_photo_is_hashed_as_a_stream_and_recorded_once_per_id(phone, tmp_path):
    import hashlib

    path = _photo_file(tmp_path, "a.jpg", 600_000)
    client = phone()
    photo_id, sha = client.add_photo(path, photo_id=fieldwork.ident(7))
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()
    assert client.add_photo(path, photo_id=photo_id) == (photo_id, sha)
    assert len(client.photos()) == 1


def test_photos_go_up_in_chunks_and_bytes_the_server_has_are_skipped(phone, tmp_path, fake, link):
    client = phone(chunk_size=64 * 1024)
    new = _photo_file(tmp_path, "new.jpg", 200_000, seed=1)
    known = _photo_file(tmp_path, "known.jpg", 1000, seed=2)
    client.add_photo(new)
    _, known_sha = client.add_photo(known)
    fake.blobs[known_sha] = known.read_bytes()
    uploads = client.upload_photos()
    assert (uploads.uploaded, uploads.skipped, uploads.failed) == (1, 1, {})
    assert link.count("PATCH") == 4
    assert new.read_bytes() in fake.blobs.values()
    assert all(photo.uploaded for photo in client.photos())
    assert client.upload_photos().uploaded == 0


def test_an_upload_cut_off_mid_chunk_resumes_from_the_servers_offset(
    phone, tmp_path, fake, link, sleeps
):
    client = phone(chunk_size=64 * 1024)
    path = _photo_file(tmp_path, "walk.jpg", 200_000)
    client.add_photo(path)
    link.when("PATCH", "/uploads/", cut_body(0.5), skip=1)
    uploads = client.upload_photos()
    assert (uploads.uploaded, uploads.resumed) == (1, 1)
    assert link.count("HEAD", "/uploads/") == 1
    assert link.count("POST", "/uploads") == 1
    assert fake.blobs == {client.photos()[0].sha256: path.read_bytes()}
    assert len(sleeps) == 1


@pytest.mark.parametrize("status", [409, 423, 460, 500, 503])
def test_a_chunk_answered_with_a_passing_trouble_goes_on_from_the_servers_offset(
    phone, tmp_path, fake, link, sleeps, status
):
    # 409 offsets disagree, 423 the server still holds a dropped PATCH, 460 a damaged
    # chunk, 5xx the server: each time ask where the upload stands and go on from there.
    client = phone(chunk_size=64 * 1024)
    path = _photo_file(tmp_path, "walk.jpg", 150_000)
    client.add_photo(path)
    link.when("PATCH", "/uploads/", answer(error(status)), skip=1)
    uploads = client.upload_photos()
    assert (uploads.uploaded, uploads.failed) == (1, {})
    assert link.count("POST", "/uploads") == 1
    assert fake.blobs == {client.photos()[0].sha256: path.read_bytes()}
    assert len(sleeps) == 1


def test_an_upload_interrupted_by_a_crash_goes_on_from_the_stored_url(phone, tmp_path, fake, link):
    path = _photo_file(tmp_path, "walk.jpg", 200_000)
    first = phone(chunk_size=64 * 1024, retry=RetryPolicy(max_attempts=1))
    first.add_photo(path)
    link.when("PATCH", "/uploads/", lose_request, skip=2)
    with pytest.raises(ServerUnavailable):
        first.upload_photos()
    first.close()
    again = phone(chunk_size=64 * 1024)
    uploads = again.upload_photos()
    assert (uploads.uploaded, uploads.resumed) == (1, 1)
    assert link.count("POST", "/uploads") == 1  # the same upload, not a new one
    assert fake.blobs == {again.photos()[0].sha256: path.read_bytes()}


def test_a_lost_answer_to_the_last_chunk_does_not_upload_the_photo_again(
    phone, tmp_path, fake, link
):
    path = _photo_file(tmp_path, "walk.jpg", 100_000)
    client = phone(chunk_size=64 * 1024)
    client.add_photo(path)
    link.when("PATCH", "/uploads/", lose_response, skip=1)
    assert client.upload_photos().uploaded == 1
    assert link.count("POST", "/uploads") == 1
    assert link.count("PATCH") == 2


def test_bytes_the_server_refuses_are_marked_and_not_sent_again(phone, tmp_path, fake):
    path = _photo_file(tmp_path, "walk.jpg", 5000)
    client = phone()
    _, sha = client.add_photo(path)
    path.write_bytes(b"x" * 5000)  # changed on disk after it was queued: same size, other hash
    uploads = client.upload_photos()
    assert uploads.failed == {sha: "hash_mismatch"}
    assert client.photos()[0].error == "hash_mismatch"
    assert client.upload_photos().failed == {}


def test_a_photo_file_gone_from_disk_is_reported_not_retried(phone, tmp_path):
    path = _photo_file(tmp_path, "walk.jpg", 5000)
    client = phone()
    _, sha = client.add_photo(path)
    path.unlink()
    assert client.upload_photos().failed == {sha: "file_missing"}


# -- all of it ------------------------------------------------------------------------------


def test_login_returns_the_devices_token(link, sleeps):
    link.when("POST", "/auth/login", lose_request)
    token = SyncClient.login(link, "inspector", "pw", DEVICE, retry=RetryPolicy(sleep=sleeps))
    assert token == FakeServer.TOKEN
    assert len(sleeps) == 1 and 0.25 <= sleeps[0] <= 0.5


def test_sync_uploads_photos_then_pushes_then_pulls_and_reports_progress(phone, tmp_path, fake):
    seen: list[tuple[str, int, int | None]] = []
    client = phone(on_progress=lambda *event: seen.append(event))
    photo_id, sha = client.add_photo(_photo_file(tmp_path, "a.jpg", 3000))
    args = fieldwork.report_args()
    args["photos"] = [{"photo_id": photo_id, "sha256": sha, "kind": "problem"}]
    client.enqueue("report.create", fieldwork.ident(1), args)
    fake.add_change("case", fieldwork.ident(1), state="reported")
    done = client.sync()
    assert (done.uploads.uploaded, done.push.counts, done.pull.changes) == (1, {"applied": 1}, 1)
    assert seen == [
        ("upload", 0, 1),
        ("upload", 1, 1),
        ("push", 0, 1),
        ("push", 1, 1),
        ("pull", 0, None),
        ("pull", 1, None),
    ]
    assert client.local.last_mid == 1


# -- the HTTP transport ---------------------------------------------------------------------


def test_no_listener_is_a_lost_connection_not_an_answer():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectionLost):
        HttpTransport(f"http://127.0.0.1:{port}", timeout=2).request("GET", "/", headers={})


def test_a_server_that_hangs_up_before_answering_is_a_lost_connection():
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def hang_up() -> None:
        connection, _ = listener.accept()
        connection.recv(65536)
        connection.close()

    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{listener.getsockname()[1]}"
    with pytest.raises(ConnectionLost):
        HttpTransport(base, timeout=5).request("POST", "/api/v1/sync/push", headers={}, json={})
    thread.join(5)
    listener.close()
