"""HEAD while a PATCH is writing (issue 16): the offset it reports is never a byte that
is in ``data`` but not yet fsynced. The PATCH holds an open-file-description write lock on
``data`` from its offset on until after its fsync; HEAD probes it and reports where that
PATCH began, without waiting for it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest

from media import appending
from media.resumable import UploadStore

HOUR = timedelta(hours=1)
TOTAL = 20_000
FIRST = 6_000  # an earlier PATCH, finished and fsynced
ARRIVED = 5_000  # of the PATCH in flight: written to data, not yet fsynced

pytestmark = pytest.mark.skipif(not appending._OFD, reason="needs Linux OFD locks")


class HeldStream:
    """Delivers ``first``, then waits for ``release`` before the rest."""

    def __init__(self, first: bytes, rest: bytes) -> None:
        self._first, self._rest = first, rest
        self.waiting = threading.Event()
        self.release = threading.Event()

    def read(self, size: int = -1) -> bytes:
        if self._first:
            chunk, self._first = self._first, b""
            return chunk
        self.waiting.set()  # everything before this read is written
        assert self.release.wait(10)
        chunk, self._rest = self._rest[:size], self._rest[size:]
        return chunk


HEAD_ELSEWHERE = """
import sys
from media.resumable import UploadStore
print(UploadStore(sys.argv[1]).get(sys.argv[2]).offset, flush=True)
"""


def test_head_during_a_patch_reports_only_fsynced_bytes(tmp_path):
    uploads = UploadStore(tmp_path, chunk_size=8192)  # the real clock: shared with a process
    data = os.urandom(TOTAL)
    upload = uploads.create(TOTAL, {}, HOUR)
    assert uploads.append(upload.id, 0, _Once(data[:FIRST])).offset == FIRST

    stream = HeldStream(data[FIRST : FIRST + ARRIVED], data[FIRST + ARRIVED :])
    answers: list = []
    patch = threading.Thread(
        target=lambda: answers.append(uploads.append(upload.id, FIRST, stream))
    )
    patch.start()
    try:
        assert stream.waiting.wait(10)
        assert (tmp_path / upload.id / "data").stat().st_size == FIRST + ARRIVED
        # In this process (another thread) and in another process: the PATCH's start.
        assert uploads.get(upload.id).offset == FIRST
        other = subprocess.run(
            [sys.executable, "-c", HEAD_ELSEWHERE, str(tmp_path), upload.id],
            capture_output=True,
            text=True,
            check=True,
        )
        assert int(other.stdout) == FIRST
    finally:
        stream.release.set()
        patch.join(10)
    assert answers[0].offset == TOTAL
    assert uploads.get(upload.id).offset == TOTAL  # fsynced now: the whole length


def test_a_killed_writer_leaves_no_claim(tmp_path):
    """A writer that dies mid-PATCH drops its lock with its process: its bytes count if
    they survive (the completion's sha256 decides), as before."""
    uploads = UploadStore(tmp_path)
    upload = uploads.create(TOTAL, {}, HOUR)
    path = tmp_path / upload.id / "data"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout.readline().strip() == "writing"
        assert uploads.get(upload.id).offset == 0
    finally:
        writer.kill()
        writer.wait()
        writer.stdout.close()
    deadline = time.monotonic() + 5
    while uploads.get(upload.id).offset != ARRIVED and time.monotonic() < deadline:
        time.sleep(0.01)
    assert uploads.get(upload.id).offset == ARRIVED


WRITER = f"""
import os, sys, time
from media.appending import _claim_from
fd = os.open(sys.argv[1], os.O_WRONLY)
_claim_from(fd, 0)
os.pwrite(fd, b"x" * {ARRIVED}, 0)
print("writing", flush=True)
time.sleep(60)
"""


class _Once:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def read(self, size: int = -1) -> bytes:
        chunk, self._data = self._data[:size], self._data[size:]
        return chunk
