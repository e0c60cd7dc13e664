"""Resumable (tus) upload storage: offsets, resumes, checksums, locking and expiry."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from media.errors import (
    ChecksumMismatch,
    EmptyBody,
    HashMismatch,
    OffsetMismatch,
    TooLarge,
    UnsupportedChecksumAlgorithm,
    UploadExpired,
    UploadIncomplete,
    UploadLocked,
    UploadNotFound,
)
from media.resumable import UploadStore

PHOTO = os.urandom(300_000)
HOUR = timedelta(hours=1)


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class BrokenStream:
    """Delivers ``good`` bytes, then fails like a dropped mobile connection."""

    def __init__(self, good: bytes, step: int = 10_000) -> None:
        self._data = io.BytesIO(good)
        self._step = step

    def read(self, size: int = -1) -> bytes:
        chunk = self._data.read(min(size, self._step))
        if not chunk:
            raise ConnectionResetError("connection dropped")
        return chunk


class SlowStream:
    """Trickles bytes with a pause per read, so two requests overlap in time."""

    def __init__(self, data: bytes, step: int = 4096, pause: float = 0.002) -> None:
        self._data = io.BytesIO(data)
        self._step = step
        self._pause = pause

    def read(self, size: int = -1) -> bytes:
        time.sleep(self._pause)
        return self._data.read(min(size, self._step))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def uploads(tmp_path, clock) -> UploadStore:
    return UploadStore(tmp_path / "uploads", clock=clock, max_length=10_000_000, chunk_size=8192)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_create_records_length_metadata_and_expiry(uploads, clock):
    upload = uploads.create(len(PHOTO), {"sha256": sha256(PHOTO), "filename": "a.jpg"}, HOUR)

    assert upload.offset == 0
    assert upload.length == len(PHOTO)
    assert upload.expires_at == clock.now + HOUR
    assert len(upload.id) == 32
    assert uploads.get(upload.id) == upload
    assert (uploads.root / upload.id / "info.json").is_file()


def test_create_refuses_empty_oversized_and_malformed_uploads(uploads):
    with pytest.raises(EmptyBody):
        uploads.create(0, {}, HOUR)
    with pytest.raises(TooLarge):
        uploads.create(10_000_001, {}, HOUR)
    with pytest.raises(ValueError):
        uploads.create(10, {"bad key": "x"}, HOUR)


def test_upload_ids_are_random(uploads):
    ids = {uploads.create(10, {}, HOUR).id for _ in range(20)}

    assert len(ids) == 20


def test_chunked_appends_complete_the_upload_and_finish_hashes_it(uploads):
    upload = uploads.create(len(PHOTO), {"sha256": sha256(PHOTO)}, HOUR)

    offset = 0
    for start in range(0, len(PHOTO), 100_000):
        piece = PHOTO[start : start + 100_000]
        state = uploads.append(upload.id, offset, io.BytesIO(piece))
        offset = state.offset
        assert offset == start + len(piece)

    assert uploads.get(upload.id).complete
    finished = uploads.finish(upload.id, expected_sha256=sha256(PHOTO))
    assert finished.sha256 == sha256(PHOTO)
    assert finished.path.read_bytes() == PHOTO


def test_finish_refuses_an_incomplete_upload(uploads):
    upload = uploads.create(len(PHOTO), {}, HOUR)
    uploads.append(upload.id, 0, io.BytesIO(PHOTO[:1000]))

    with pytest.raises(UploadIncomplete):
        uploads.finish(upload.id)


def test_finish_refuses_bytes_that_differ_from_the_announced_sha256(uploads):
    upload = uploads.create(len(PHOTO), {}, HOUR)
    uploads.append(upload.id, 0, io.BytesIO(PHOTO))

    with pytest.raises(HashMismatch):
        uploads.finish(upload.id, expected_sha256=sha256(b"other"))


def test_a_dropped_connection_keeps_what_arrived_and_the_upload_resumes(uploads):
    upload = uploads.create(len(PHOTO), {}, HOUR)

    with pytest.raises(ConnectionResetError):
        uploads.append(upload.id, 0, BrokenStream(PHOTO[:123_456]))

    resumed_at = uploads.get(upload.id).offset
    assert resumed_at == 123_456
    assert (uploads.root / upload.id / "data").stat().st_size == resumed_at
    uploads.append(upload.id, resumed_at, io.BytesIO(PHOTO[resumed_at:]))
    assert uploads.finish(upload.id).sha256 == sha256(PHOTO)


def test_bytes_a_killed_writer_left_count_and_are_verified_at_the_end(uploads):
    """The offset is the data file's length: bytes a writer got onto disk before it was
    killed (no fsync, no answer) are the client's bytes and count. Whatever they are,
    the whole file's sha256 is checked at completion, so wrong ones never become a photo."""
    upload = uploads.create(len(PHOTO), {}, HOUR)
    uploads.append(upload.id, 0, io.BytesIO(PHOTO[:5000]))
    with (uploads.root / upload.id / "data").open("ab") as data:
        data.write(PHOTO[5000:9000])  # as a worker killed mid-PATCH leaves them

    assert uploads.get(upload.id).offset == 9000
    uploads.append(upload.id, 9000, io.BytesIO(PHOTO[9000:]))
    assert uploads.finish(upload.id, expected_sha256=sha256(PHOTO)).path.read_bytes() == PHOTO

    other = uploads.create(len(PHOTO), {}, HOUR)
    uploads.append(other.id, 0, io.BytesIO(PHOTO[:5000]))
    with (uploads.root / other.id / "data").open("ab") as data:
        data.write(b"junk" * 1000)
    uploads.append(other.id, 9000, io.BytesIO(PHOTO[9000:]))
    with pytest.raises(HashMismatch):
        uploads.finish(other.id, expected_sha256=sha256(PHOTO))


def test_a_resume_in_a_new_process_without_the_running_hash_gets_the_right_sha256(tmp_path, clock):
    first = UploadStore(tmp_path, clock=clock)
    upload = first.create(len(PHOTO), {}, HOUR)
    first.append(upload.id, 0, io.BytesIO(PHOTO[:100_000]))
    # A restarted server (or another host on the shared directory): no caches at all.
    second = UploadStore(tmp_path, clock=clock)
    assert second.get(upload.id).offset == 100_000
    second.append(upload.id, 100_000, io.BytesIO(PHOTO[100_000:200_000]))
    # Back to the first process, whose running hash stopped at 100_000.
    first.append(upload.id, 200_000, io.BytesIO(PHOTO[200_000:]))

    assert first.finish(upload.id, expected_sha256=sha256(PHOTO)).sha256 == sha256(PHOTO)


def test_patches_spread_over_two_processes_finish_without_reading_the_file_again(
    tmp_path, clock, monkeypatch
):
    """Each process catches its running hash up on the bytes the other appended, as its
    next PATCH comes: the last PATCH's process has the whole hash, whichever it is."""
    import media.resumable

    one, two = UploadStore(tmp_path, clock=clock), UploadStore(tmp_path, clock=clock)
    upload = one.create(len(PHOTO), {}, HOUR)
    step = len(PHOTO) // 5 + 1
    for n, start in enumerate(range(0, len(PHOTO), step)):
        store = (one, two)[n % 2]
        store.append(upload.id, start, io.BytesIO(PHOTO[start : start + step]))

    def no_rereading(*_args, **_kwargs):
        raise AssertionError("finish read the whole file again")

    monkeypatch.setattr(media.resumable, "hash_file", no_rereading)
    last = (one, two)[(len(range(0, len(PHOTO), step)) - 1) % 2]
    assert last.finish(upload.id, expected_sha256=sha256(PHOTO)).sha256 == sha256(PHOTO)


def test_the_running_hash_survives_a_refused_patch(uploads):
    upload = uploads.create(len(PHOTO), {}, HOUR)
    uploads.append(upload.id, 0, io.BytesIO(PHOTO[:1000]))
    with pytest.raises(ChecksumMismatch):
        uploads.append(upload.id, 1000, io.BytesIO(b"x" * 500), checksum=("sha1", b"0" * 20))
    with pytest.raises(ConnectionResetError):
        uploads.append(upload.id, 1000, BrokenStream(PHOTO[1000:50_000]))
    offset = uploads.get(upload.id).offset
    uploads.append(upload.id, offset, io.BytesIO(PHOTO[offset:]))

    assert uploads.finish(upload.id, expected_sha256=sha256(PHOTO)).sha256 == sha256(PHOTO)


def test_a_patch_acknowledged_is_on_disk_with_its_expiry(uploads, clock, monkeypatch):
    """A PATCH answers only after one fsync of the data file; that file alone is the state
    (length = offset, mtime = expiry), so a crash right after the fsync, before the answer,
    loses nothing the client was told and nothing it was not told is claimed."""
    upload = uploads.create(len(PHOTO), {}, HOUR)
    clock.advance(timedelta(minutes=10))
    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(os.fstat(fd).st_size)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    state = uploads.append(upload.id, 0, io.BytesIO(PHOTO[:70_000]))
    monkeypatch.undo()
    assert synced == [70_000]
    data = os.stat(uploads.root / upload.id / "data")
    assert data.st_size == state.offset == 70_000
    # What a fresh process would read back after a crash before the answer went out.
    again = UploadStore(uploads.root, clock=clock).get(upload.id)
    assert (again.offset, again.expires_at) == (70_000, clock.now + HOUR)


def test_an_append_at_the_wrong_offset_is_refused(uploads):
    upload = uploads.create(len(PHOTO), {}, HOUR)
    uploads.append(upload.id, 0, io.BytesIO(PHOTO[:1000]))

    with pytest.raises(OffsetMismatch) as caught:
        uploads.append(upload.id, 0, io.BytesIO(PHOTO[:1000]))

    assert (caught.value.expected, caught.value.got) == (1000, 0)
    assert caught.value.http_status == 409
    assert uploads.get(upload.id).offset == 1000


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "md5"])
def test_a_matching_checksum_is_accepted(uploads, algorithm):
    upload = uploads.create(len(PHOTO), {}, HOUR)
    digest = hashlib.new(algorithm, PHOTO[:50_000]).digest()

    state = uploads.append(upload.id, 0, io.BytesIO(PHOTO[:50_000]), checksum=(algorithm, digest))

    assert state.offset == 50_000


def test_a_checksum_mismatch_discards_the_patch(uploads):
    upload = uploads.create(len(PHOTO), {}, HOUR)
    uploads.append(upload.id, 0, io.BytesIO(PHOTO[:1000]))
    # What a tus client sends: base64 of the digest; the HTTP layer decodes it.
    header_value = base64.b64encode(hashlib.sha1(b"not these bytes").digest())

    with pytest.raises(ChecksumMismatch) as caught:
        uploads.append(
            upload.id,
            1000,
            io.BytesIO(PHOTO[1000:60_000]),
            checksum=("sha1", base64.b64decode(header_value)),
        )

    assert caught.value.http_status == 460
    assert uploads.get(upload.id).offset == 1000
    assert (uploads.root / upload.id / "data").stat().st_size == 1000


def test_a_dropped_connection_with_a_checksum_keeps_nothing_of_that_patch(uploads):
    upload = uploads.create(len(PHOTO), {}, HOUR)
    digest = hashlib.sha1(PHOTO).digest()

    with pytest.raises(ConnectionResetError):
        uploads.append(upload.id, 0, BrokenStream(PHOTO[:50_000]), checksum=("sha1", digest))

    assert uploads.get(upload.id).offset == 0
    assert (uploads.root / upload.id / "data").stat().st_size == 0


def test_an_unknown_checksum_algorithm_is_refused_before_reading(uploads):
    upload = uploads.create(len(PHOTO), {}, HOUR)
    stream = io.BytesIO(PHOTO)

    with pytest.raises(UnsupportedChecksumAlgorithm):
        uploads.append(upload.id, 0, stream, checksum=("crc32", b"1234"))

    assert stream.tell() == 0


def test_more_bytes_than_the_upload_lacks_are_refused_whole(uploads):
    upload = uploads.create(1000, {}, HOUR)
    uploads.append(upload.id, 0, io.BytesIO(PHOTO[:600]))

    with pytest.raises(TooLarge):
        uploads.append(upload.id, 600, io.BytesIO(PHOTO[600:1500]))

    assert uploads.get(upload.id).offset == 600
    assert (uploads.root / upload.id / "data").stat().st_size == 600


def test_a_patch_over_max_chunk_is_refused(uploads):
    upload = uploads.create(len(PHOTO), {}, HOUR)

    with pytest.raises(TooLarge):
        uploads.append(upload.id, 0, io.BytesIO(PHOTO), max_chunk=100_000)

    assert uploads.get(upload.id).offset == 0


def test_concurrent_appends_to_one_upload_cannot_corrupt_it(tmp_path, clock):
    uploads = UploadStore(tmp_path, clock=clock, lock_timeout=5.0, chunk_size=4096)
    first, second = os.urandom(200_000), os.urandom(200_000)
    upload = uploads.create(200_000, {}, HOUR)
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def patch(name: str, body: bytes) -> None:
        barrier.wait()
        try:
            outcomes[name] = uploads.append(upload.id, 0, SlowStream(body))
        except (OffsetMismatch, UploadLocked) as error:
            outcomes[name] = error

    threads = [
        threading.Thread(target=patch, args=("first", first)),
        threading.Thread(target=patch, args=("second", second)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    winners = [name for name, result in outcomes.items() if not isinstance(result, Exception)]
    assert len(winners) == 1
    loser = "second" if winners == ["first"] else "first"
    assert isinstance(outcomes[loser], OffsetMismatch | UploadLocked)
    body = first if winners == ["first"] else second
    assert uploads.finish(upload.id).path.read_bytes() == body


LOCK_HOLDER = """
import fcntl, sys, time
lock = open(sys.argv[1], "rb")
fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(60)
"""


def test_a_crashed_writers_lock_does_not_block_the_resume(tmp_path, clock):
    uploads = UploadStore(tmp_path, clock=clock, lock_timeout=0.2)
    upload = uploads.create(len(PHOTO), {}, HOUR)
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(tmp_path / upload.id / "lock")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(UploadLocked):
            uploads.append(upload.id, 0, io.BytesIO(PHOTO))
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()

    assert uploads.append(upload.id, 0, io.BytesIO(PHOTO)).complete


def test_terminate_removes_the_upload(uploads):
    upload = uploads.create(len(PHOTO), {}, HOUR)
    uploads.append(upload.id, 0, io.BytesIO(PHOTO[:1000]))

    uploads.terminate(upload.id)

    assert not (uploads.root / upload.id).exists()
    with pytest.raises(UploadNotFound):
        uploads.get(upload.id)
    with pytest.raises(UploadNotFound):
        uploads.terminate(upload.id)


@pytest.mark.parametrize(
    "upload_id", ["../../etc", "0" * 31, "A" * 32, "0" * 32 + "/..", "", ".staging"]
)
def test_malformed_and_unknown_ids_are_not_found(uploads, upload_id):
    for call in (
        lambda: uploads.get(upload_id),
        lambda: uploads.append(upload_id, 0, io.BytesIO(b"x")),
        lambda: uploads.finish(upload_id),
        lambda: uploads.terminate(upload_id),
    ):
        with pytest.raises(UploadNotFound):
            call()
    assert sorted(p.name for p in uploads.root.iterdir()) == [".staging"]


def test_an_expired_upload_can_no_longer_be_read_or_appended(uploads, clock):
    upload = uploads.create(len(PHOTO), {}, HOUR)

    clock.advance(HOUR)

    with pytest.raises(UploadExpired) as caught:
        uploads.get(upload.id)
    assert caught.value.http_status == 410
    with pytest.raises(UploadExpired):
        uploads.append(upload.id, 0, io.BytesIO(PHOTO))


def test_each_append_pushes_the_expiry_forward(uploads, clock):
    upload = uploads.create(len(PHOTO), {}, HOUR)
    clock.advance(timedelta(minutes=50))

    state = uploads.append(upload.id, 0, io.BytesIO(PHOTO[:1000]))

    assert state.expires_at == clock.now + HOUR
    clock.advance(timedelta(minutes=30))
    assert uploads.get(upload.id).offset == 1000


def test_purge_deletes_only_expired_uploads(uploads, clock):
    old = uploads.create(len(PHOTO), {}, HOUR)
    uploads.append(old.id, 0, io.BytesIO(PHOTO[:1000]))
    clock.advance(timedelta(minutes=45))
    recent = uploads.create(len(PHOTO), {}, HOUR)
    clock.advance(timedelta(minutes=30))

    assert uploads.expired() == [old.id]
    assert uploads.purge_expired() == 1

    assert not (uploads.root / old.id).exists()
    assert uploads.get(recent.id).id == recent.id
    assert uploads.purge_expired(clock.now + 2 * HOUR) == 1
    assert uploads.expired(clock.now + 2 * HOUR) == []


def test_purge_skips_an_upload_that_is_being_written(tmp_path, clock):
    uploads = UploadStore(tmp_path, clock=clock)
    upload = uploads.create(len(PHOTO), {}, HOUR)
    clock.advance(2 * HOUR)
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(tmp_path / upload.id / "lock")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert uploads.purge_expired() == 0
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()

    assert uploads.purge_expired() == 1


def test_purge_clears_debris_of_a_crashed_create(uploads, clock):
    debris = uploads.root / ".staging" / ("f" * 32)
    debris.mkdir()
    stamp = (clock.now - 2 * HOUR).timestamp()
    os.utime(debris, (stamp, stamp))

    uploads.purge_expired()

    assert not debris.exists()


def test_stalled_names_the_complete_uploads_never_finished_once_their_last_byte_is_old(tmp_path):
    """What a finish killed mid-way leaves: every byte here, ``data`` not retired. Not an
    upload still missing bytes, nor one retired, nor one expired, nor one just written."""
    store = UploadStore(tmp_path / "uploads")  # the system clock, as the file times
    complete = store.create(len(PHOTO), {}, HOUR)
    store.append(complete.id, 0, io.BytesIO(PHOTO))
    partial = store.create(len(PHOTO), {}, HOUR)
    store.append(partial.id, 0, io.BytesIO(PHOTO[:1000]))
    retired = store.create(len(PHOTO), {}, HOUR)
    store.append(retired.id, 0, io.BytesIO(PHOTO))
    store.finish(retired.id)
    store.retire(retired.id, HOUR)
    wait = timedelta(minutes=10)
    now = datetime.now(UTC)

    assert store.stalled(wait, now) == []  # just written: a finish may be under way
    assert store.stalled(wait, now + wait + timedelta(seconds=1)) == [complete.id]
    assert store.stalled(wait, now + HOUR + timedelta(seconds=1)) == []  # expired by then
