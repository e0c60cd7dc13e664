"""The storage side of tus 1.0.0 resumable uploads (core, creation, checksum, expiration,
termination). The HTTP layer parses headers and calls in here; nothing here knows HTTP.

One upload is one directory ``root/<id>/``:

* ``data``  the bytes received so far; only the first ``offset`` of them count.
* ``info.json``  length, offset, metadata, times (rewritten atomically after each append).
* ``lock``  an empty file that appends, finishes and terminations ``flock``.

Why these choices:

* The offset in ``info.json`` is written only after the data is fsynced, so it never
  claims bytes a power cut could lose. Bytes past it (a writer died between the two
  steps) are cut off by the next append.
* Concurrency uses ``fcntl.flock`` on the lock file. The kernel drops such a lock when
  its holder closes the file or dies, so a dropped connection or a killed worker can
  never leave a stale lock that stops a resume (the tusd 423 problem). Two concurrent
  PATCHes serialise; the second then sees the new offset and gets :class:`OffsetMismatch`
  instead of writing over the first (the tus-php corruption problem).
* When a client hangs up mid-PATCH the bytes that did arrive are kept and the offset
  advanced, because resuming from there is the point of tus. With an
  ``Upload-Checksum`` the partial bytes cannot be verified and are discarded instead.
* The sha256 of the whole file is computed once, in :meth:`UploadStore.finish`, by
  re-reading it (about 2.5 ms per 5 MB here). hashlib state cannot be saved between
  requests, and a second hash pass is cheaper than any scheme to persist one.
* Times come from an injected clock so tests and callers agree on "now".
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

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
from media.storage import CHUNK_SIZE, Readable, fsync_directory

Clock = Callable[[], datetime]

#: Algorithms for the tus checksum extension (``Tus-Checksum-Algorithm``); tus requires sha1.
CHECKSUM_ALGORITHMS: dict[str, Callable[[], Any]] = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "md5": hashlib.md5,
}

_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")
_STAGING = ".staging"
# A staged upload directory older than this is the debris of a crash inside create().
_STAGING_GRACE = timedelta(hours=1)


def system_clock() -> datetime:
    """The default clock: aware UTC now."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Upload:
    """A resumable upload's state as tus reports it (``Upload-Offset``, ``Upload-Length``,
    ``Upload-Metadata``, ``Upload-Expires``)."""

    id: str
    length: int
    offset: int
    metadata: Mapping[str, str]
    created_at: datetime
    expires_at: datetime

    @property
    def complete(self) -> bool:
        return self.offset == self.length


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
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / _STAGING).mkdir(exist_ok=True)
        self._clock = clock
        self.max_length = max_length
        self.lock_timeout = lock_timeout
        self._chunk = chunk_size

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
        clean = _validate_metadata(metadata)
        upload_id = secrets.token_hex(16)
        now = self._clock()
        upload = Upload(upload_id, length, 0, clean, now, now + expires_in)
        # Build the directory aside and rename it into place, so a directory under its
        # real name always has its info.json (purge never sees a half-made upload).
        staging = self.root / _STAGING / upload_id
        staging.mkdir()
        for name in ("data", "lock"):
            (staging / name).touch()
        _write_json_durably(staging / "info.json", _to_json(upload, expires_in))
        fsync_directory(staging)
        os.rename(staging, self.root / upload_id)
        fsync_directory(self.root)
        fsync_directory(self.root / _STAGING)
        return upload

    # -- tus core ----------------------------------------------------------------------

    def get(self, upload_id: str) -> Upload:
        """The upload's state (tus HEAD); :class:`UploadNotFound` or :class:`UploadExpired`."""
        upload, _ = self._load(upload_id)
        self._check_not_expired(upload)
        return upload

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
        hasher = _checksum_hasher(checksum)
        with self._locked(upload_id) as (upload, expires_in):
            self._check_not_expired(upload)
            if offset != upload.offset:
                raise OffsetMismatch(upload.offset, offset)
            limit = upload.length - upload.offset
            if max_chunk is not None:
                limit = min(limit, max_chunk)
            written = self._write_at(upload_id, offset, stream, limit, hasher, checksum)
            updated = Upload(
                upload.id,
                upload.length,
                offset + written,
                upload.metadata,
                upload.created_at,
                self._clock() + expires_in,
            )
            self._save(updated, expires_in)
            return updated

    # -- tus termination and expiration -----------------------------------------------

    def terminate(self, upload_id: str) -> None:
        """Delete the upload and its bytes (tus DELETE, and after a successful finish)."""
        with self._locked(upload_id):
            shutil.rmtree(self.root / upload_id)
        fsync_directory(self.root)

    def retire(self, upload_id: str, keep_for: timedelta) -> Upload:
        """Delete a finished upload's bytes but keep its state for ``keep_for``: a client
        that lost the answer to its last PATCH asks HEAD and learns it is complete (tus
        clients resume that way). Purged like any expired upload afterwards."""
        with self._locked(upload_id) as (upload, _):
            if not upload.complete:
                raise UploadIncomplete(f"have {upload.offset} of {upload.length} bytes")
            (self.root / upload_id / "data").unlink(missing_ok=True)
            kept = Upload(
                upload.id, upload.length, upload.offset, upload.metadata, upload.created_at,
                self._clock() + keep_for,
            )
            self._save(kept, keep_for)
            return kept

    def expired(self, now: datetime | None = None) -> list[str]:
        """Ids of uploads whose expiry time has passed at ``now`` (default: the clock)."""
        now = now or self._clock()
        ids = []
        for entry in self.root.iterdir():
            if not _UPLOAD_ID.fullmatch(entry.name):
                continue
            with contextlib.suppress(UploadNotFound):
                upload, _ = self._load(entry.name)
                if upload.expires_at <= now:
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
            except (UploadLocked, UploadNotFound):
                continue
        for staged in (self.root / _STAGING).iterdir():
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
        terminate it. The file stays where it is until :meth:`terminate`.
        """
        with self._locked(upload_id) as (upload, _):
            self._check_not_expired(upload)
            if not upload.complete:
                raise UploadIncomplete(f"have {upload.offset} of {upload.length} bytes")
            path = self.root / upload_id / "data"
            digest = hashlib.sha256()
            with path.open("rb") as data:
                while chunk := data.read(self._chunk):
                    digest.update(chunk)
            sha256 = digest.hexdigest()
            if expected_sha256 is not None and sha256 != expected_sha256:
                raise HashMismatch(f"upload hashes to {sha256}, not {expected_sha256}")
            return FinishedUpload(upload, path, sha256)

    # -- internals ---------------------------------------------------------------------

    def _dir(self, upload_id: str) -> Path:
        # An id that is not one of ours cannot name an upload; refusing it here is also
        # what keeps "../x" and friends out of the filesystem.
        if not isinstance(upload_id, str) or not _UPLOAD_ID.fullmatch(upload_id):
            raise UploadNotFound(f"malformed upload id {upload_id!r:.80}")
        return self.root / upload_id

    def _load(self, upload_id: str) -> tuple[Upload, timedelta]:
        try:
            raw = json.loads((self._dir(upload_id) / "info.json").read_text("utf-8"))
        except FileNotFoundError:
            raise UploadNotFound(upload_id) from None
        return _from_json(raw)

    def _save(self, upload: Upload, expires_in: timedelta) -> None:
        _write_json_durably(self._dir(upload.id) / "info.json", _to_json(upload, expires_in))

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
            # Reload under the lock: the holder we waited for may have moved the offset
            # or terminated the upload.
            yield self._load(upload_id)
            # Closing the file releases the lock.

    def _write_at(
        self,
        upload_id: str,
        offset: int,
        stream: Readable,
        limit: int,
        hasher: Any,
        checksum: tuple[str, bytes] | None,
    ) -> int:
        written = 0
        with (self._dir(upload_id) / "data").open("r+b") as data:
            # Drop anything past the durable offset left by a writer that died between
            # fsyncing data and saving the offset.
            data.truncate(offset)
            data.seek(offset)
            try:
                while True:
                    chunk = stream.read(min(self._chunk, limit - written + 1))
                    if not chunk:
                        break
                    if written + len(chunk) > limit:
                        raise TooLarge(f"PATCH carries more than the {limit} bytes allowed")
                    if hasher is not None:
                        hasher.update(chunk)
                    data.write(chunk)
                    # Counted only once written, so a failed write never advances the offset.
                    written += len(chunk)
            except TooLarge:
                _discard(data, offset)
                raise
            except BaseException:
                if checksum is not None:
                    _discard(data, offset)
                else:
                    _sync(data)
                    self._save_offset(upload_id, offset + written)
                raise
            if hasher is not None and checksum is not None and hasher.digest() != checksum[1]:
                _discard(data, offset)
                raise ChecksumMismatch(f"{checksum[0]} of the PATCH body does not match")
            _sync(data)
        return written

    def _save_offset(self, upload_id: str, offset: int) -> None:
        upload, expires_in = self._load(upload_id)
        self._save(
            Upload(
                upload.id,
                upload.length,
                offset,
                upload.metadata,
                upload.created_at,
                self._clock() + expires_in,
            ),
            expires_in,
        )


def _checksum_hasher(checksum: tuple[str, bytes] | None) -> Any:
    if checksum is None:
        return None
    algorithm, digest = checksum
    factory = CHECKSUM_ALGORITHMS.get(algorithm.lower())
    if factory is None:
        raise UnsupportedChecksumAlgorithm(f"unsupported checksum algorithm {algorithm!r:.40}")
    if not isinstance(digest, bytes):
        raise TypeError("checksum digest must be the raw bytes, not base64 text")
    return factory()


def _validate_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    clean = {}
    for key, value in metadata.items():
        # tus: keys are non-empty and contain neither spaces nor commas.
        if not isinstance(key, str) or not key or " " in key or "," in key:
            raise ValueError(f"bad Upload-Metadata key {key!r:.40}")
        if not isinstance(value, str):
            raise ValueError(f"Upload-Metadata value for {key!r} must be text")
        clean[key] = value
    return clean


def _to_json(upload: Upload, expires_in: timedelta) -> dict[str, Any]:
    return {
        "id": upload.id,
        "length": upload.length,
        "offset": upload.offset,
        "metadata": dict(upload.metadata),
        "created_at": upload.created_at.isoformat(),
        "expires_at": upload.expires_at.isoformat(),
        "expires_in": expires_in.total_seconds(),
    }


def _from_json(raw: dict[str, Any]) -> tuple[Upload, timedelta]:
    upload = Upload(
        id=raw["id"],
        length=int(raw["length"]),
        offset=int(raw["offset"]),
        metadata=dict(raw["metadata"]),
        created_at=datetime.fromisoformat(raw["created_at"]),
        expires_at=datetime.fromisoformat(raw["expires_at"]),
    )
    return upload, timedelta(seconds=float(raw["expires_in"]))


def _write_json_durably(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        json.dump(payload, out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    fsync_directory(path.parent)


def _sync(data: IO[bytes]) -> None:
    data.flush()
    os.fsync(data.fileno())


def _discard(data: IO[bytes], offset: int) -> None:
    data.flush()
    data.truncate(offset)
    os.fsync(data.fileno())
