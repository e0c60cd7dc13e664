"""The reference client's local state: one SQLite file per device.

* ``outbox``: the device's mutations, one row per ``mid``. A mid is assigned when the
  mutation is queued, in the same local transaction that stores it, and is never handed out
  again (``AUTOINCREMENT``: SQLite never reuses a rowid of it, and a rolled-back insert
  gives its number back, so mids run 1, 2, 3, … without gaps as API.md wants). Rows stay
  after the server decides them (``status`` and ``result`` filled in): a ``gap`` asks for
  them again.
* ``photos``: the bytes a mutation refers to, by the phone's UUID and sha256, with where a
  resumable upload stands (its tus URL and offset).
* ``state``: one row — the device id the file belongs to, the pull cursor, and the server's
  ``last_mid`` for this device as last heard.
* ``entities``: what pull brought, one row per entity; a ``delete`` or ``revoke`` keeps the
  row as a tombstone without data.

Every write is one transaction with ``synchronous=FULL``: when a method returns, its change
survives a crash or a flat battery.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

QUEUED = "queued"

SCHEMA = """
CREATE TABLE IF NOT EXISTS state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    device_id TEXT NOT NULL,
    cursor TEXT NOT NULL DEFAULT '',
    last_mid INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS outbox (
    mid INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    base_version INTEGER,
    args TEXT NOT NULL,
    client_ts TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued',
    result TEXT
);
CREATE INDEX IF NOT EXISTS outbox_queued ON outbox (mid) WHERE status = 'queued';
CREATE INDEX IF NOT EXISTS outbox_entity ON outbox (entity_id);
CREATE TABLE IF NOT EXISTS photos (
    photo_id TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    uploaded INTEGER NOT NULL DEFAULT 0,
    upload_url TEXT,
    upload_offset INTEGER NOT NULL DEFAULT 0,
    error TEXT
);
CREATE INDEX IF NOT EXISTS photos_sha256 ON photos (sha256);
CREATE TABLE IF NOT EXISTS entities (
    entity_type TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    version INTEGER,
    data TEXT,
    op TEXT NOT NULL,
    seq INTEGER,
    PRIMARY KEY (entity_type, entity_id)
);
"""


class DeviceMismatch(ValueError):
    """The state file belongs to another device: its mids are not this device's."""


@dataclasses.dataclass(frozen=True)
class QueuedMutation:
    """A row of the outbox, in the shape a push sends (``as_json``) plus what came back."""

    mid: int
    type: str
    entity_id: str
    base_version: int | None
    args: dict[str, Any]
    client_ts: str
    status: str = QUEUED
    result: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "mid": self.mid,
            "type": self.type,
            "entity_id": self.entity_id,
            "base_version": self.base_version,
            "args": self.args,
            "client_ts": self.client_ts,
        }


@dataclasses.dataclass(frozen=True)
class LocalPhoto:
    photo_id: str
    sha256: str
    path: str
    size: int
    uploaded: bool = False
    upload_url: str | None = None
    upload_offset: int = 0
    error: str | None = None


@dataclasses.dataclass(frozen=True)
class Entity:
    entity_type: str
    entity_id: str
    version: int | None
    data: Any
    op: str
    seq: int | None


def device_id_of(path: str | Path) -> str | None:
    """The device a state file belongs to, or None when there is no such file yet."""
    if not Path(path).exists():
        return None
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = connection.execute("SELECT device_id FROM state WHERE id = 1").fetchone()
    except sqlite3.DatabaseError:
        return None
    finally:
        connection.close()
    return row[0] if row else None


class LocalState:
    """The SQLite file of one device. Not shared between threads."""

    def __init__(self, path: str | Path, device_id: str):
        self.path = str(path)
        # Autocommit mode: transactions are opened explicitly by ``transaction()``.
        self.db = sqlite3.connect(self.path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = FULL")
        self.db.execute("PRAGMA busy_timeout = 5000")
        with self.transaction():
            # One statement at a time: executescript() would commit the open transaction.
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    self.db.execute(statement)
            row = self.db.execute("SELECT device_id FROM state WHERE id = 1").fetchone()
            if row is None:
                self.db.execute("INSERT INTO state (id, device_id) VALUES (1, ?)", (device_id,))
            elif row[0] != device_id:
                raise DeviceMismatch(
                    f"{self.path} holds the queue of device {row[0]!r}, not {device_id!r}"
                )
        self.device_id = device_id

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; IMMEDIATE so two processes on one file queue up at the
        start instead of failing at their first write."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- outbox -----------------------------------------------------------------------------

    def enqueue(
        self,
        type_: str,
        entity_id: str,
        args: Mapping[str, Any],
        base_version: int | None,
        client_ts: str,
    ) -> int:
        """Store a mutation under the next mid; durable when this returns."""
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO outbox (type, entity_id, base_version, args, client_ts)"
                " VALUES (?, ?, ?, ?, ?)",
                (type_, entity_id, base_version, _dumps(args), client_ts),
            )
            return int(cursor.lastrowid or 0)

    def queued(self, limit: int) -> list[QueuedMutation]:
        """The first ``limit`` mutations the server has not decided, in mid order."""
        rows = self.db.execute(
            "SELECT mid, type, entity_id, base_version, args, client_ts, status, result"
            " FROM outbox WHERE status = ? ORDER BY mid LIMIT ?",
            (QUEUED, limit),
        ).fetchall()
        return [_mutation(row) for row in rows]

    def mutations(self, entity_id: str | None = None) -> list[QueuedMutation]:
        """Every mutation of the outbox (of one entity), decided or not, in mid order."""
        sql = (
            "SELECT mid, type, entity_id, base_version, args, client_ts, status, result FROM outbox"
        )
        params: tuple = ()
        if entity_id is not None:
            sql += " WHERE entity_id = ?"
            params = (entity_id,)
        return [_mutation(row) for row in self.db.execute(sql + " ORDER BY mid", params)]

    def pending_count(self) -> int:
        return self.db.execute(
            "SELECT count(*) FROM outbox WHERE status = ?", (QUEUED,)
        ).fetchone()[0]

    def record_results(self, decided: Iterable[tuple[int, str, Mapping]], last_mid: int) -> None:
        """The server's answers for some mids, and its ``last_mid``, in one transaction."""
        with self.transaction() as db:
            db.executemany(
                "UPDATE outbox SET status = ?, result = ? WHERE mid = ?",
                [(status, _dumps(result), mid) for mid, status, result in decided],
            )
            db.execute("UPDATE state SET last_mid = ? WHERE id = 1", (last_mid,))

    def requeue_from(self, mid: int) -> int:
        """Queue again every mutation from ``mid`` on (the server asked for them); their
        earlier answers are kept until new ones come. Returns how many were requeued."""
        with self.transaction() as db:
            return db.execute(
                "UPDATE outbox SET status = ? WHERE mid >= ? AND status != ?", (QUEUED, mid, QUEUED)
            ).rowcount

    # -- photos -----------------------------------------------------------------------------

    def add_photo(self, photo: LocalPhoto) -> LocalPhoto:
        """Record a photo; the same ``photo_id`` again returns the stored one."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO photos (photo_id, sha256, path, size) VALUES (?, ?, ?, ?)",
                (photo.photo_id, photo.sha256, photo.path, photo.size),
            )
        stored = self.photo(photo.photo_id)
        assert stored is not None
        return stored

    def photo(self, photo_id: str) -> LocalPhoto | None:
        row = self.db.execute(
            f"SELECT {_PHOTO_COLUMNS} FROM photos WHERE photo_id = ?", (photo_id,)
        )
        found = row.fetchone()
        return _photo(found) if found else None

    def photos(self) -> list[LocalPhoto]:
        rows = self.db.execute(f"SELECT {_PHOTO_COLUMNS} FROM photos ORDER BY rowid")
        return [_photo(row) for row in rows]

    def photos_to_upload(self) -> list[LocalPhoto]:
        """One photo per sha256 whose bytes have not been delivered and did not fail."""
        rows = self.db.execute(
            f"SELECT {_PHOTO_COLUMNS} FROM photos WHERE rowid IN (SELECT min(rowid) FROM photos"
            " WHERE uploaded = 0 AND error IS NULL GROUP BY sha256) ORDER BY rowid"
        )
        return [_photo(row) for row in rows]

    def set_upload(self, sha256: str, url: str | None, offset: int) -> None:
        """Where the resumable upload of these bytes stands, kept across restarts."""
        with self.transaction() as db:
            db.execute(
                "UPDATE photos SET upload_url = ?, upload_offset = ? WHERE sha256 = ?",
                (url, offset, sha256),
            )

    def mark_uploaded(self, sha256: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE photos SET uploaded = 1, upload_url = NULL, upload_offset = size,"
                " error = NULL WHERE sha256 = ?",
                (sha256,),
            )

    def mark_failed(self, sha256: str, error: str) -> None:
        """The server refused these bytes for good (bad image, hash mismatch, too large):
        trying again cannot help, so they are not tried again."""
        with self.transaction() as db:
            db.execute(
                "UPDATE photos SET error = ?, upload_url = NULL, upload_offset = 0"
                " WHERE sha256 = ?",
                (error, sha256),
            )

    # -- pull -------------------------------------------------------------------------------

    @property
    def cursor(self) -> str:
        return self.db.execute("SELECT cursor FROM state WHERE id = 1").fetchone()[0]

    @property
    def last_mid(self) -> int:
        """The server's ``last_mid`` for this device, as last heard."""
        return self.db.execute("SELECT last_mid FROM state WHERE id = 1").fetchone()[0]

    def apply_changes(
        self, changes: Iterable[Mapping[str, Any]], cursor: str, last_mid: int
    ) -> int:
        """One page of the feed and the cursor after it, in one transaction: a crash leaves
        either both or neither, so a page is never skipped. Returns how many were applied."""
        applied = 0
        with self.transaction() as db:
            for change in changes:
                key = (str(change["entity_type"]), str(change["entity_id"]))
                version = change.get("version")
                held = db.execute(
                    "SELECT version FROM entities WHERE entity_type = ? AND entity_id = ?", key
                ).fetchone()
                if (
                    change["op"] == "upsert"
                    and held is not None
                    and held[0] is not None
                    and version is not None
                    and version < held[0]
                ):
                    # Older than what the phone holds (its own push already told it more).
                    continue
                data = change.get("data") if change["op"] == "upsert" else None
                db.execute(
                    "INSERT OR REPLACE INTO entities"
                    " (entity_type, entity_id, version, data, op, seq) VALUES (?, ?, ?, ?, ?, ?)",
                    (*key, version, _dumps(data), change["op"], change.get("seq")),
                )
                applied += 1
            db.execute("UPDATE state SET cursor = ?, last_mid = ? WHERE id = 1", (cursor, last_mid))
        return applied

    def forget_pulled(self) -> None:
        """Drop everything pulled and the cursor (the server said ``reset``); the outbox
        and the photos stay."""
        with self.transaction() as db:
            db.execute("DELETE FROM entities")
            db.execute("UPDATE state SET cursor = '' WHERE id = 1")

    def entity(self, entity_type: str, entity_id: str) -> Entity | None:
        row = self.db.execute(
            "SELECT entity_type, entity_id, version, data, op, seq FROM entities"
            " WHERE entity_type = ? AND entity_id = ?",
            (entity_type, str(entity_id)),
        ).fetchone()
        return _entity(row) if row else None

    def entities(self, entity_type: str | None = None) -> list[Entity]:
        """The entities pulled and still in this user's sight (no tombstones)."""
        sql = "SELECT entity_type, entity_id, version, data, op, seq FROM entities WHERE op = ?"
        params: tuple = ("upsert",)
        if entity_type is not None:
            sql += " AND entity_type = ?"
            params += (entity_type,)
        return [_entity(row) for row in self.db.execute(sql + " ORDER BY rowid", params)]


_PHOTO_COLUMNS = "photo_id, sha256, path, size, uploaded, upload_url, upload_offset, error"


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _mutation(row: tuple) -> QueuedMutation:
    mid, type_, entity_id, base_version, args, client_ts, status, result = row
    return QueuedMutation(
        mid, type_, entity_id, base_version, _loads(args), client_ts, status, _loads(result)
    )


def _photo(row: tuple) -> LocalPhoto:
    photo_id, sha256, path, size, uploaded, url, offset, error = row
    return LocalPhoto(photo_id, sha256, path, size, bool(uploaded), url, offset, error)


def _entity(row: tuple) -> Entity:
    entity_type, entity_id, version, data, op, seq = row
    return Entity(entity_type, entity_id, version, _loads(data), op, seq)
