"""The file side of a tus PATCH (see :mod:`media.resumable`): one body appended to an
upload's ``data`` file and made durable with a single fsync, or cut off again; plus the
small helpers the upload store keeps in memory or in file times."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import struct
import sys
import threading
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from media.errors import ChecksumMismatch, TooLarge
from media.storage import Readable

log = logging.getLogger(__name__)


class AppendBytes:
    """One PATCH's bytes into ``data`` at ``offset``: written, then made durable with one
    fsync, or cut off again."""

    def __init__(self, path: Path, offset: int) -> None:
        self.path = path
        self.offset = offset
        self.sha256: Any = None  # the running hash of the whole upload, if known
        self.written = 0
        self.kept = False

    def run(
        self,
        stream: Readable,
        limit: int,
        chunk_size: int,
        hasher: Any,
        checksum: tuple[str, bytes] | None,
    ) -> int:
        fd = os.open(self.path, os.O_WRONLY)
        try:
            # Until the fsync (or the cut) and the close, bytes from ``offset`` on are not
            # yet durable: a HEAD meanwhile reports ``offset`` (:func:`durable_offset`).
            _claim_from(fd, self.offset)
            try:
                self._receive(fd, stream, limit, chunk_size, hasher)
            except TooLarge:
                self._discard(fd)
                raise
            except BaseException:
                if checksum is not None:
                    self._discard(fd)
                else:
                    self._keep(fd)
                raise
            if hasher is not None and checksum is not None and hasher.digest() != checksum[1]:
                self._discard(fd)
                raise ChecksumMismatch(f"{checksum[0]} of the PATCH body does not match")
            self._keep(fd)
        finally:
            os.close(fd)
        return self.written

    def _receive(self, fd: int, stream: Readable, limit: int, chunk_size: int, hasher) -> None:
        position = self.offset
        while True:
            chunk = stream.read(min(chunk_size, limit - self.written + 1))
            if not chunk:
                return
            if self.written + len(chunk) > limit:
                raise TooLarge(f"PATCH carries more than the {limit} bytes allowed")
            if hasher is not None:
                hasher.update(chunk)
            view = memoryview(chunk)
            while view:
                done = os.pwrite(fd, view, position)
                position += done
                view = view[done:]
            if self.sha256 is not None:
                self.sha256.update(chunk)
            # Counted only once written, so a failed write never advances the offset.
            self.written += len(chunk)

    def _keep(self, fd: int) -> None:
        os.fsync(fd)
        self.kept = True

    def _discard(self, fd: int) -> None:
        os.ftruncate(fd, self.offset)
        os.fsync(fd)
        self.written = 0
        self.sha256 = None


# ``struct flock`` of 64-bit Linux; open file description locks (Linux 3.15+) belong to
# the open file, not the process, so another thread's close never drops them and a probe
# from the same process sees them. Elsewhere: no claim, and HEAD reports the length.
_FLOCK = struct.Struct("hhqqi4x")
_OFD = hasattr(fcntl, "F_OFD_SETLK") and sys.platform == "linux"


def _claim_from(fd: int, offset: int) -> None:
    """Write-lock bytes ``offset``… of ``data`` for as long as ``fd`` is open. A filesystem
    without such locks (``ENOLCK``, ``EINVAL``) costs HEAD its precision, not the PATCH."""
    if _OFD:
        lock = _FLOCK.pack(fcntl.F_WRLCK, os.SEEK_SET, offset, 0, 0)
        try:
            fcntl.fcntl(fd, fcntl.F_OFD_SETLK, lock)
        except OSError:
            log.warning("tus: no byte-range lock on data; HEAD may count unsynced bytes")


def durable_offset(path: Path, length: int) -> int:
    """``length`` (read before this call) of ``data`` at ``path``, or less: where a PATCH
    in flight started writing, if one is (on any process of this host, or of another host
    where the filesystem forwards byte-range locks, as NFS v4 does). With no claim left,
    every byte of that length was fsynced (or outlived a killed writer)."""
    if not _OFD:
        return length
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return length  # complete and retired
    try:
        probe = _FLOCK.pack(fcntl.F_RDLCK, os.SEEK_SET, 0, 0, 0)
        kind, _, start, _, _ = _FLOCK.unpack(fcntl.fcntl(fd, fcntl.F_OFD_GETLK, probe))
    except OSError:
        return length  # no byte-range locks here: the length, as before
    finally:
        os.close(fd)
    return length if kind == fcntl.F_UNLCK else min(start, length)


class Bounded:
    """A small thread-safe dict that forgets its oldest entries past ``size``."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Any:
        with self._lock:
            return self._items.get(key)

    def put(self, key: str, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def pop(self, key: str) -> Any:
        with self._lock:
            return self._items.pop(key, None)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_ns(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000


def from_ns(ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=ns // 1000)


def set_mtime(fd: int, moment: datetime) -> None:
    ns = to_ns(moment)
    os.utime(fd, ns=(ns, ns))


def hash_range(path: Path, digest: Any, start: int, end: int, chunk_size: int) -> None:
    """Feed bytes ``start``..``end`` of ``path`` to ``digest`` (a running hash catching up)."""
    with path.open("rb") as data:
        data.seek(start)
        left = end - start
        while left > 0:
            chunk = data.read(min(chunk_size, left))
            if not chunk:
                raise OSError(f"{path} ends before byte {end}")
            digest.update(chunk)
            left -= len(chunk)


def hash_file(path: Path, chunk_size: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        while chunk := data.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()
