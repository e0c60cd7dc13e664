"""Capture what every transaction changes, and number it in commit order.

Domains say which models are watched and who may care about a changed thing
(``Registry.watch`` and each feed type's ``audience``, in ``app.feed.registry``); nothing
else needs to remember the feed: once ``install``ed (``create_app`` does it), any ORM flush
of a watched model notes the thing in its connection's buffer, and the transaction's real
commit turns the buffer into ``FeedChange`` rows numbered from ``FeedCounter`` (``stamp``).

Why at commit: a seq allocated when a row is written (a sequence, an autoincrement) can be
served before a transaction holding a lower one commits, and that change is then skipped
for ever. Taking the numbers from one counter row as the transaction's last statements
holds the row's lock until the commit, so numbers are handed out in commit order.

The buffer lives with the database connection, for the length of its transaction: a
rollback empties it; a savepoint rolled back by the push (``checkpoint`` /
``discard_since``) takes back what it noted. A mention that outlives a rolled-back change
does no harm — the feed serves a thing as it is at pull time, so it costs one needless row
— while a change that was never mentioned would be lost to the phones: the rules lean that
way.

Writes that bypass the ORM (Core ``update()``/``insert()`` of a watched table) are not
seen: use the ORM for watched models, or call ``touch`` / ``record``.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, attributes
from sqlalchemy.pool import Pool

from app.core.clock import utcnow
from app.feed.models import FeedChange, FeedCounter
from app.feed.registry import FEED, Mention

_BUFFER = "feed_mentions"


@dataclasses.dataclass(frozen=True)
class Stamped:
    first: int
    last: int
    count: int


def old_values(obj: object, name: str) -> list:
    """The values ``name`` had before this flush's change (empty when unchanged)."""
    history = attributes.get_history(obj, name)
    return [value for value in history.deleted if value is not None]


def old_and_new(obj: object, name: str) -> list:
    """The values ``name`` had before this flush's change and has after it (empty when
    unchanged): an audience a thing gains matters to its followers as much as one it loses.
    A row inserted with Core (``inserted``) has no history: its values are all new."""
    if not hasattr(obj, "_sa_instance_state"):
        value = getattr(obj, name, None)  # a column left to its default: None here
        return [] if value is None else [value]
    history = attributes.get_history(obj, name)
    return [value for value in (*history.deleted, *history.added) if value is not None]


def mention(entity_type: str, entity_id: object, *old_keys: str) -> list[Mention]:
    """``entity_id`` changed; it had ``old_keys`` before (its keys now are found at commit)."""
    ident = str(entity_id)
    return [(entity_type, ident, ""), *((entity_type, ident, key) for key in old_keys if key)]


def touch(session: Session, mentions: Iterable[Mention]) -> None:
    """Note changes the ORM does not see (a Core write) in the session's transaction."""
    record(session.connection(), mentions)


def record(connection: sa.Connection, mentions: Iterable[Mention]) -> None:
    """``touch`` for code that writes with Core on a connection."""
    connection.info.setdefault(_BUFFER, []).extend(mentions)


def inserted(connection: sa.Connection, model: type, rows: Iterable[dict]) -> None:
    """``record`` what a Core ``insert()`` of ``rows`` into a watched model wrote: the
    mentions a flush of the same new objects would have noted. The watcher is handed each
    row as a plain object with the row's columns as attributes (no ORM instance: every
    value is new, there is no history)."""
    on_change = FEED.watched.get(model)
    if on_change is None:
        return
    mentions: list[Mention] = []
    for row in rows:
        mentions.extend(on_change(types.SimpleNamespace(**row), False))
    record(connection, mentions)


def checkpoint(connection: sa.Connection) -> int:
    """A mark to go back to if the savepoint about to begin is rolled back."""
    return len(connection.info.get(_BUFFER, ()))


def discard_since(connection: sa.Connection, mark: int) -> None:
    del connection.info.get(_BUFFER, [])[mark:]


def install() -> None:
    """Hang the capture on SQLAlchemy's events (once: installing again changes nothing)."""
    for target, name, listener in _LISTENERS:
        if not event.contains(target, name, listener):
            event.listen(target, name, listener)


def _after_flush(session: Session, _context) -> None:
    watched = FEED.watched
    if not watched:
        return
    mentions: list[Mention] = []
    for deleted, objects in ((False, session.new), (False, session.dirty), (True, session.deleted)):
        for obj in objects:
            on_change = watched.get(type(obj))
            if on_change is not None:
                mentions.extend(on_change(obj, deleted))
    if mentions:
        record(session.connection(), mentions)


def _before_real_commit(connection: sa.Connection) -> None:
    # A connection's commit, not a savepoint's release: the transaction ends here.
    mentions = connection.info.pop(_BUFFER, None)
    if mentions:
        stamp(connection, mentions)


def _on_rollback(connection: sa.Connection) -> None:
    connection.info.pop(_BUFFER, None)


def _on_checkin(_dbapi_connection, record) -> None:
    # Returned to the pool without a commit or a rollback of ours: nothing it noted stands.
    record.info.pop(_BUFFER, None)


_LISTENERS = (
    (Session, "after_flush", _after_flush),
    (sa.Engine, "commit", _before_real_commit),
    (sa.Engine, "rollback", _on_rollback),
    (Pool, "checkin", _on_checkin),
)


def stamp(connection: sa.Connection, mentions: Iterable[Mention]) -> Stamped | None:
    """Number a transaction's changes (the last statements before its commit)."""
    keys: dict[tuple[str, str], set[str]] = {}
    for entity_type, entity_id, key in mentions:
        keys.setdefault((entity_type, entity_id), set())
        if key:
            keys[(entity_type, entity_id)].add(key)
    if not keys:
        return None
    _add_followers(connection, keys)
    by_type: dict[str, list[str]] = {}
    for entity_type, entity_id in keys:
        by_type.setdefault(entity_type, []).append(entity_id)
    for entity_type, ids in by_type.items():
        current = FEED.types[entity_type].audience(connection, ids)
        for entity_id in ids:
            keys[(entity_type, entity_id)] |= current.get(entity_id, set())
    # From here to the commit the counter row is locked: keep it short.
    last = _advance_counter(connection, len(keys))
    first = last - len(keys) + 1
    now = utcnow()
    changes = []
    for seq, (entity_type, entity_id) in enumerate(sorted(keys), start=first):
        for key in sorted(keys[(entity_type, entity_id)]) or [""]:
            changes.append(
                {
                    "seq": seq,
                    "key": key,
                    "entity_type": entity_type,
                    "entity_id": entity_id,
                    "at": now,
                }
            )
    connection.execute(sa.insert(FeedChange), changes)
    return Stamped(first, last, len(keys))


def _add_followers(connection: sa.Connection, keys: dict[tuple[str, str], set[str]]) -> None:
    # Only things mentioned with keys matter here: an audience they had before, or one they
    # gain (a case's new task, department or reporter brings its photos along).
    followed = {name: kind.followers for name, kind in FEED.types.items() if kind.followers}
    moved: dict[str, list[str]] = {}
    for (entity_type, entity_id), old in keys.items():
        if old and entity_type in followed:
            moved.setdefault(entity_type, []).append(entity_id)
    for entity_type, ids in moved.items():
        for entity_id, things in followed[entity_type](connection, ids).items():
            for thing in things:
                keys.setdefault(thing, set()).update(keys[(entity_type, entity_id)])


# Text, so SQLAlchemy caches its compiled form: the dialects' ``insert`` with
# ``on_conflict_do_update`` has ``inherit_cache = False`` and was compiled anew at every
# commit that had changes (issue 16's profile: a tenth of an upload's completion).
# SQLite (3.35+) and PostgreSQL spell it alike.
_ADVANCE_COUNTER = sa.text(
    f"INSERT INTO {FeedCounter.__tablename__} (id, seq, floor) VALUES (1, :count, 0) "
    f"ON CONFLICT (id) DO UPDATE SET seq = {FeedCounter.__tablename__}.seq + excluded.seq "
    "RETURNING seq"
).bindparams(sa.bindparam("count", type_=sa.BigInteger()))


def _advance_counter(connection: sa.Connection, count: int) -> int:
    return connection.execute(_ADVANCE_COUNTER, {"count": count}).scalar_one()


def head(connection: sa.Connection) -> tuple[int, int]:
    """The last seq committed and the oldest kept (0, 0 before the first change)."""
    table = FeedCounter.__table__
    row = connection.execute(sa.select(table.c.seq, table.c.floor).where(table.c.id == 1)).first()
    return (row.seq, row.floor) if row else (0, 0)
