"""Capture what every transaction changes, and number it in commit order.

Domains say which models are watched (``watch``) and who may care about a changed thing
(``audience``); nothing else needs to remember the feed: any ORM flush of a watched model
writes a ``FeedPending`` row in the same transaction (so a rolled-back savepoint takes it
back with the change), and the transaction's real commit turns its pending rows into
``FeedChange`` rows numbered from ``FeedCounter`` (``stamp``).

Why at commit: a seq allocated when a row is written (a sequence, an autoincrement) can be
served before a transaction holding a lower one commits, and that change is then skipped
for ever. Taking the numbers from one counter row as the transaction's last statements
holds the row's lock until the commit, so numbers are handed out in commit order.

Writes that bypass the ORM (Core ``update()``/``insert()`` of a watched table) are not
seen: use the ORM for watched models, or call ``touch``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, attributes

from app.core.clock import utcnow
from app.feed.models import FeedChange, FeedCounter, FeedPending

# (entity_type, entity_id, key): key "" = the audience is computed at commit.
Mention = tuple[str, str, str]
OnChange = Callable[[object, bool], Iterable[Mention]]
Audience = Callable[[sa.Connection, list[str]], dict[str, set[str]]]
Followers = Callable[[sa.Connection, list[str]], dict[str, list[tuple[str, str]]]]

_PENDING_FLAG = "feed_pending"
_watched: dict[type, OnChange] = {}
_audiences: dict[str, Audience] = {}
_followers: dict[str, Followers] = {}


@dataclasses.dataclass(frozen=True)
class Stamped:
    first: int
    last: int
    count: int


def watch(model: type, on_change: OnChange) -> None:
    """Record changes of ``model``: ``on_change(obj, deleted)`` names the things it changes
    and the audience keys they had before (from the attribute history)."""
    _watched[model] = on_change


def audience(entity_type: str, keys: Audience) -> None:
    """``keys(connection, ids)`` → the audience keys of each thing as it is now."""
    _audiences[entity_type] = keys


def followers(entity_type: str, things: Followers) -> None:
    """``things(connection, ids)`` → for each id, the things seen only through it (a
    case's photos): when it leaves an audience, they leave it too."""
    _followers[entity_type] = things


def old_values(obj: object, name: str) -> list:
    """The values ``name`` had before this flush's change (empty when unchanged)."""
    history = attributes.get_history(obj, name)
    return [value for value in history.deleted if value is not None]


def mention(entity_type: str, entity_id: object, *old_keys: str) -> list[Mention]:
    ident = str(entity_id)
    return [(entity_type, ident, ""), *((entity_type, ident, key) for key in old_keys if key)]


def touch(session: Session, mentions: Iterable[Mention]) -> None:
    """Write pending changes for things changed without the ORM seeing it."""
    record(session.connection(), mentions)


def record(connection: sa.Connection, mentions: Iterable[Mention]) -> None:
    """``touch`` for code that writes with Core on a connection."""
    rows = [{"entity_type": t, "entity_id": i, "key": k} for t, i, k in set(mentions)]
    if rows:
        connection.execute(sa.insert(FeedPending), rows)
        connection.info[_PENDING_FLAG] = True


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context) -> None:
    if not _watched:
        return
    mentions: set[Mention] = set()
    for deleted, objects in ((False, session.new), (False, session.dirty), (True, session.deleted)):
        for obj in objects:
            on_change = _watched.get(type(obj))
            if on_change is not None:
                mentions.update(on_change(obj, deleted))
    if mentions:
        touch(session, mentions)


@event.listens_for(sa.Engine, "commit")
def _before_real_commit(connection: sa.Connection) -> None:
    # A connection's commit, not a savepoint's release: the transaction ends here.
    if connection.info.pop(_PENDING_FLAG, False):
        stamp(connection)


@event.listens_for(sa.Engine, "rollback")
def _on_rollback(connection: sa.Connection) -> None:
    connection.info.pop(_PENDING_FLAG, None)


def stamp(connection: sa.Connection) -> Stamped | None:
    """Number this transaction's pending changes (the last statements before its commit)."""
    pending = FeedPending.__table__
    rows = connection.execute(sa.select(pending.c.entity_type, pending.c.entity_id, pending.c.key))
    keys: dict[tuple[str, str], set[str]] = {}
    for entity_type, entity_id, key in rows:
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
        current = _audiences[entity_type](connection, ids)
        for entity_id in ids:
            keys[(entity_type, entity_id)] |= current.get(entity_id, set())
    # From here to the commit the counter row is locked: keep it short.
    last = _advance_counter(connection, len(keys))
    first = last - len(keys) + 1
    connection.execute(sa.delete(pending))
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
    # Only things that lost an audience key (a key they had before) matter here.
    moved: dict[str, list[str]] = {}
    for (entity_type, entity_id), old in keys.items():
        if old and entity_type in _followers:
            moved.setdefault(entity_type, []).append(entity_id)
    for entity_type, ids in moved.items():
        for entity_id, things in _followers[entity_type](connection, ids).items():
            for thing in things:
                keys.setdefault(thing, set()).update(keys[(entity_type, entity_id)])


def _advance_counter(connection: sa.Connection, count: int) -> int:
    table = FeedCounter.__table__
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    stmt = (
        insert(table)
        .values(id=1, seq=count, floor=0)
        .on_conflict_do_update(index_elements=[table.c.id], set_={"seq": table.c.seq + count})
        .returning(table.c.seq)
    )
    return connection.execute(stmt).scalar_one()


def head(connection: sa.Connection) -> tuple[int, int]:
    """The last seq committed and the oldest kept (0, 0 before the first change)."""
    table = FeedCounter.__table__
    row = connection.execute(sa.select(table.c.seq, table.c.floor).where(table.c.id == 1)).first()
    return (row.seq, row.floor) if row else (0, 0)
