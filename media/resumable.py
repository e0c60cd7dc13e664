"""The storage side of tus 1.0.0 resumable uploads (core, creation, checksum, expiration,
termination). The HTTP layer parses headers and calls in here; nothing here knows HTTP.

One upload is one directory ``root/<id>/``:

* ``data``  the bytes received so far. Its length *is* the offset.
* ``info.json``  length, metadata, creation time, expiry interval: written once, at
  creation, and never rewritten (so a process may cache it).
* ``lock``  an empty file that appends, finishes and terminations ``flock``. Its mtime is
  the upload's expiry, set from the injected clock on each append before the data's
  fsync (not ``data``'s own mtime: a write moves that to "now" under a concurrent HEAD).

Once the upload is complete and its bytes are in the blob store, ``data`` is removed: a
missing ``data`` means "complete", so a client that lost the last answer learns it from
HEAD until the kept state expires.

Why these choices:

* A PATCH writes and fsyncs ``data`` and nothing else: one fsync per PATCH, and the
  offset reported is the length after that fsync (never bytes a power cut could lose).
  Bytes a killed writer got into ``data`` without an fsync are bytes the client sent;
  they count if they survive, and the whole file's sha256 is checked at completion.
* A HEAD while a PATCH writes reports where that PATCH began, never bytes in ``data``
  not yet fsynced: the PATCH write-locks ``data`` from its offset on (an open file
  description lock, ``F_OFD_SETLK``) until after its fsync, and HEAD probes the lock
  (``F_OFD_GETLK``) without waiting. A killed writer's lock goes with its process.
* Creation builds the directory aside and renames it into place, with one file fsync and
  two directory fsyncs (the new directory's entries, then its name in ``root``).
* Concurrency uses ``fcntl.flock`` on the lock file. The kernel drops such a lock when
  its holder closes the file or dies, so a dropped connection or a killed worker can
  never leave a stale lock that stops a resume (the tusd 423 problem). Two concurrent
  PATCHes serialise; the second then sees the new offset and gets :class:`OffsetMismatch`
  instead of writing over the first (the tus-php corruption problem).
* When a client hangs up mid-PATCH the bytes that did arrive are kept and fsynced,
  because resuming from there is the point of tus. With an ``Upload-Checksum`` the partial
  bytes cannot be verified and are cut off instead.
* The sha256 of the whole file is computed as in-order bytes arrive, by a hasher this
  process keeps per upload (hashlib state cannot be saved). When the upload was resumed
  after a restart, or continued by another process or host, the hasher is missing or
  behind: the next PATCH this process takes first catches it up from the file (the bytes
  it missed, already fsynced, under the lock), so the last PATCH's answer never waits for
  the whole file to be read again. Only if that read fails does :meth:`UploadStore.finish`
  re-read the file. Nothing durable depends on the hasher: a cache of ``data``'s hash.
* Times come from an injected clock so tests and callers agree on "now".
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from media import appending
from media.appending import AppendBytes, Bounded, from_ns, hash_file, hash_range, set_mtime, to_ns
from media.errors import (
    EmptyBody,
    HashMismatch,
    TooLarge,
    UploadExpired,
    UploadIncomplete,
    UploadLocked,
    UploadNotFound,
)
from media.storage import Readable, fsync_directory
from media.upload_state import (
    UPLOAD_ID,
    Upload,
    checksum_hasher,
    from_json,
    to_json,
    validate_metadata,
)

Clock = Callable[[], datetime]

_STAGING = ".staging"
# A staged upload directory older than this is the debris of a crash inside create().
_STAGING_GRACE = timedelta(hours=1)
#: Read size of a PATCH body: gunicorn then receives up to this much per recv().
UPLOAD_CHUNK_SIZE = 1024 * 1024
#: Uploads whose info and running hash a process remembers.
_CACHED_UPLOADS = 1024


log = logging.getLogger(__name__)


def system_clock() -> datetime:
    """The default clock: aware UTC now."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class FinishedUpload:
    """A complete upload: its file (to hand to ``BlobStore.put_file``) and its sha256."""

    upload: Upload
    path: Path
    sha256: str


class UploadStore:
    """Partial uploads on local disk, appended to by tus PATCH requests.

    ``max_length`` bounds ``Upload-Length`` (tus ``Tus-Max-Size``). ``lock_timeout`` is
    how long a request waits for another request on the same upload to finish before
    giving up with :class:`UploadLocked`; keep it short, a client retries anyway.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        clock: Clock = system_clock,
        max_length: int | None = None,
        lock_timeout: float = 2.0,
        chunk_size: int = UPLOAD_CHUNK_SIZE,
    ) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / _STAGING).mkdir(exist_ok=True)
        self._clock = clock
        self.max_length = max_length
        self.lock_timeout = lock_timeout
        self._chunk = chunk_size
        # Per process: info.json never changes, and the running sha256 of each upload's
        # in-order bytes (offset, hasher). Both are caches; losing them costs a re-read.
        self._infos: Bounded = Bounded(_CACHED_UPLOADS)
        self._hashers: Bounded = Bounded(_CACHED_UPLOADS)

    # -- tus creation ------------------------------------------------------------------

    def create(self, length: int, metadata: Mapping[str, str], expires_in: timedelta) -> Upload:
        """Start an upload of ``length`` bytes (tus POST). ``metadata`` is the decoded
        ``Upload-Metadata``; the upload expires ``expires_in`` after its last append."""
        if length <= 0:
            raise EmptyBody("Upload-Length must be positive")
        if self.max_length is not None and length > self.max_length:
            raise TooLarge(f"Upload-Length exceeds {self.max_length} bytes")
        if expires_in <= timedelta(0):
            raise ValueError("expires_in must be positive")
        clean = validate_metadata(metadata)
        upload_id = secrets.token_hex(16)
        now = self._clock()
        upload = Upload(upload_id, length, 0, clean, now, now + expires_in)
        # Build the directory aside and rename it into place, so a directory under its
        # real name always has its info.json (purge never sees a half-made upload).
        staging = self.root / _STAGING / upload_id
        staging.mkdir()
        (staging / "data").touch()
        fd = os.open(staging / "lock", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            set_mtime(fd, upload.expires_at)
        finally:
            os.close(fd)
        with (staging / "info.json").open("w", encoding="utf-8") as out:
            json.dump(to_json(upload, expires_in), out)
            out.flush()
            os.fsync(out.fileno())
        fsync_directory(staging)  # the three names in it
        os.rename(staging, self.root / upload_id)
        fsync_directory(self.root)
        self._infos.put(upload_id, (upload, expires_in))
        self._hashers.put(upload_id, (0, hashlib.sha256()))
        return upload

    def expires_in(self, upload_id: str) -> timedelta:
        """How long the upload lives after its last append (as created)."""
        return self._info(upload_id)[1]

    # -- tus core ----------------------------------------------------------------------

    def get(self, upload_id: str) -> Upload:
        """The upload's state (tus HEAD); :class:`UploadNotFound` or :class:`UploadExpired`.
        While a PATCH writes, its bytes are in ``data`` before their fsync: the offset is
        then where that PATCH began, never a byte a power cut could take back."""
        upload, _ = self._load(upload_id)
        self._check_not_expired(upload)
        offset = appending.durable_offset(self._dir(upload_id) / "data", upload.offset)
        return upload if offset == upload.offset else replace(upload, offset=offset)

    def append(
        self,
        upload_id: str,
        offset: int,
        stream: Readable,
        checksum: tuple[str, bytes] | None = None,
        max_chunk: int | None = None,
    ) -> Upload:
        """Append the bytes of one PATCH at ``offset``; return the new state.

        ``offset`` must equal the stored offset, else :class:`OffsetMismatch`.
        ``checksum`` is ``(algorithm, raw digest)`` from ``Upload-Checksum`` (the HTTP
        layer base64-decodes it); on a mismatch this PATCH's bytes are discarded and
        :class:`ChecksumMismatch` raised. More than ``max_chunk`` bytes, or more than the
        upload still lacks, raises :class:`TooLarge` and discards this PATCH's bytes.

        If ``stream.read`` raises (the client hung up), the bytes received before are
        kept and fsynced, the offset advanced (unless a checksum was given), and the
        exception propagates.
        """
        hasher = checksum_hasher(checksum)
        with self._locked(upload_id) as (upload, expires_in):
            self._check_not_expired(upload)
            if not upload.takes_at(offset, stream):
                return upload
            limit = upload.length - upload.offset
            if max_chunk is not None:
                limit = min(limit, max_chunk)
            expires_at = self._clock() + expires_in
            # Before the data's fsync, which on ext4 and xfs commits this with it.
            _set_expiry(self._dir(upload_id), expires_at)
            write = AppendBytes(self._dir(upload_id) / "data", offset)
            write.sha256 = self._take_hasher(upload_id, offset)
            try:
                written = write.run(stream, limit, self._chunk, hasher, checksum)
            finally:
                if write.sha256 is not None and write.kept:
                    self._hashers.put(upload_id, (offset + write.written, write.sha256))
            return replace(upload, offset=offset + written, expires_at=expires_at)

    # -- tus termination and expiration -----------------------------------------------

    def terminate(self, upload_id: str) -> None:
        """Delete the upload and its bytes (tus DELETE, and after a failed finish)."""
        with self._locked(upload_id):
            shutil.rmtree(self.root / upload_id)
        self._forget(upload_id)
        fsync_directory(self.root)

    def retire(self, upload_id: str, keep_for: timedelta) -> Upload:
        """Delete a finished upload's bytes but keep its state for ``keep_for``: a client
        that lost the answer to its last PATCH asks HEAD and learns it is complete (tus
        clients resume that way). Purged like any expired upload afterwards.

        Nothing here is fsynced: should a power cut undo the removal, ``data`` is back at
        full length, which says "complete" just the same."""
        with self._locked(upload_id) as (upload, _):
            if not upload.complete:
                raise UploadIncomplete(f"have {upload.offset} of {upload.length} bytes")
            directory = self._dir(upload_id)
            expires_at = self._clock() + keep_for
            _set_expiry(directory, expires_at)
            (directory / "data").unlink(missing_ok=True)
            self._hashers.pop(upload_id)
            return replace(upload, expires_at=expires_at)

    def expired(self, now: datetime | None = None) -> list[str]:
        """Ids of uploads whose expiry time has passed at ``now`` (default: the clock)."""
        now = now or self._clock()
        ids = []
        for entry in self.root.iterdir():
            if not UPLOAD_ID.fullmatch(entry.name):
                continue
            with contextlib.suppress(UploadNotFound):
                upload, _ = self._load(entry.name)
                if upload.expires_at <= now:
                    ids.append(upload.id)
        return sorted(ids)

    def stalled(self, older_than: timedelta, now: datetime | None = None) -> list[str]:
        """Ids of live uploads all of whose bytes arrived more than ``older_than`` before
        ``now`` (default: the clock) and that were never finished: their ``data`` is still
        here (``retire`` removes it). The request finishing them died with its process."""
        now = now or self._clock()
        ids = []
        for entry in self.root.iterdir():
            if not UPLOAD_ID.fullmatch(entry.name):
                continue
            try:
                upload, _ = self._load(entry.name)
                arrived = from_ns(os.stat(entry / "data").st_mtime_ns)
            except (UploadNotFound, FileNotFoundError):
                continue
            if upload.complete and arrived <= now - older_than and now < upload.expires_at:
                ids.append(upload.id)
        return sorted(ids)

    def purge_expired(self, now: datetime | None = None) -> int:
        """Delete expired uploads; return how many. Run it from a periodic CLI command.

        An upload being appended to right now is skipped: it holds its lock, and the
        append will push its expiry forward anyway.
        """
        now = now or self._clock()
        purged = 0
        for upload_id in self.expired(now):
            try:
                with self._locked(upload_id, timeout=0.0) as (upload, _):
                    if upload.expires_at > now:
                        continue
                    shutil.rmtree(self.root / upload_id)
                    purged += 1
                self._forget(upload_id)
            except (UploadLocked, UploadNotFound):
                continue
        for staged in (self.root / _STAGING).iterdir():
            # Another host's purge may remove it first (a shared UPLOADS_ROOT).
            with contextlib.suppress(FileNotFoundError):
                modified = datetime.fromtimestamp(staged.stat().st_mtime, UTC)
                if now - modified > _STAGING_GRACE:
                    shutil.rmtree(staged, ignore_errors=True)
        fsync_directory(self.root)
        return purged

    # -- completion --------------------------------------------------------------------

    def finish(self, upload_id: str, expected_sha256: str | None = None) -> FinishedUpload:
        """Hash a complete upload and return its file and sha256.

        Raises :class:`UploadIncomplete` if bytes are missing, and :class:`HashMismatch`
        if ``expected_sha256`` (the ``sha256`` the client put in ``Upload-Metadata``) is
        given and differs; the upload is kept either way, the caller decides whether to
        terminate it. The file stays where it is until :meth:`retire` or
        :meth:`terminate`; the caller must not change it.
        """
        with self._locked(upload_id) as (upload, _):
            self._check_not_expired(upload)
            if not upload.complete:
                raise UploadIncomplete(f"have {upload.offset} of {upload.length} bytes")
            path = self._dir(upload_id) / "data"
            sha256 = None
            running = self._hashers.pop(upload_id)
            if running is not None and running[0] == upload.length:
                sha256 = running[1].hexdigest()
            if sha256 is None or (expected_sha256 is not None and sha256 != expected_sha256):
                # Resumed in another process, or a disagreement: the file decides.
                sha256 = hash_file(path, self._chunk)
            if expected_sha256 is not None and sha256 != expected_sha256:
                raise HashMismatch(f"upload hashes to {sha256}, not {expected_sha256}")
            return FinishedUpload(upload, path, sha256)

    # -- internals ---------------------------------------------------------------------

    def _dir(self, upload_id: str) -> Path:
        # An id that is not one of ours cannot name an upload; refusing it here is also
        # what keeps "../x" and friends out of the filesystem.
        if not isinstance(upload_id, str) or not UPLOAD_ID.fullmatch(upload_id):
            raise UploadNotFound(f"malformed upload id {upload_id!r:.80}")
        return self.root / upload_id

    def _info(self, upload_id: str) -> tuple[Upload, timedelta]:
        cached = self._infos.get(upload_id)
        if cached is None:
            try:
                raw = (self._dir(upload_id) / "info.json").read_text("utf-8")
            except (FileNotFoundError, NotADirectoryError):
                raise UploadNotFound(upload_id) from None
            cached = from_json(json.loads(raw))
            self._infos.put(upload_id, cached)
        return cached

    def _load(self, upload_id: str) -> tuple[Upload, timedelta]:
        """The upload's state: ``info.json`` (cached), ``data``'s length (none: complete
        and retired), ``lock``'s mtime (the expiry)."""
        directory = self._dir(upload_id)
        info, expires_in = self._info(upload_id)
        try:
            expires_ns = os.stat(directory / "lock").st_mtime_ns
        except FileNotFoundError:
            self._forget(upload_id)
            raise UploadNotFound(upload_id) from None
        try:
            offset = os.stat(directory / "data").st_size
        except FileNotFoundError:
            offset = info.length
        upload = Upload(
            info.id, info.length, offset, info.metadata, info.created_at, from_ns(expires_ns)
        )
        return upload, expires_in

    def _forget(self, upload_id: str) -> None:
        self._infos.pop(upload_id)
        self._hashers.pop(upload_id)

    def _take_hasher(self, upload_id: str, offset: int) -> Any:
        """This process's running sha256 of the upload, caught up (under the upload's lock)
        on the bytes other processes appended: each PATCH pays for what it missed, so the
        last one never re-reads the whole file (issue 16)."""
        running = self._hashers.pop(upload_id)
        if running is not None and running[0] == offset:
            return running[1]
        at, digest = running if running is not None and running[0] < offset else (0, None)
        digest = digest or hashlib.sha256()
        if offset > at:
            try:
                hash_range(self._dir(upload_id) / "data", digest, at, offset, self._chunk)
            except OSError:
                log.warning("tus: no running hash for %s; finish reads the file", upload_id)
                return None
        return digest

    def _check_not_expired(self, upload: Upload) -> None:
        if upload.expires_at <= self._clock():
            raise UploadExpired(upload.id)

    @contextlib.contextmanager
    def _locked(
        self, upload_id: str, timeout: float | None = None
    ) -> Iterator[tuple[Upload, timedelta]]:
        """Hold the upload's lock; yield its state as read under the lock."""
        timeout = self.lock_timeout if timeout is None else timeout
        try:
            lock_file = (self._dir(upload_id) / "lock").open("rb")
        except FileNotFoundError:
            raise UploadNotFound(upload_id) from None
        with lock_file:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise UploadLocked(upload_id) from None
                    time.sleep(0.01)
            if os.fstat(lock_file.fileno()).st_nlink == 0:
                # The holder we waited for terminated or purged the upload.
                self._forget(upload_id)
                raise UploadNotFound(upload_id)
            # Reload under the lock: the holder we waited for may have moved the offset.
            yield self._load(upload_id)
            # Closing the file releases the lock.


def _set_expiry(directory: Path, moment: datetime) -> None:
    ns = to_ns(moment)
    os.utime(directory / "lock", ns=(ns, ns))
