"""The pages of the feed: the changes in a user's scope after their cursor, a page at a time
(served by ``app.sync_api.pull``, beside the push), and the pruning of old changes.

The pages are assembled from the domains' feed types (``app.feed.registry``): which keys a
user holds, who reads everything, what each thing looks like on the wire.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.core.clock import utcnow
from app.core.errors import ValidationFailed
from app.feed.capture import head
from app.feed.models import FeedChange, FeedCounter
from app.feed.registry import FEED, User
from sync import feed

DEFAULT_LIMIT = 500
MAX_LIMIT = 1000


@dataclasses.dataclass
class Page:
    changes: list[dict]
    cursor: str
    has_more: bool
    last_mid: int
    reset: bool = False

    def as_json(self) -> dict:
        # Not dataclasses.asdict: that deep-copies every change's data, which costs more
        # than reading the page (see bench/feed_bench.py). The changes already are plain
        # JSON values.
        return {
            "changes": self.changes,
            "cursor": self.cursor,
            "has_more": self.has_more,
            "last_mid": self.last_mid,
            "reset": self.reset,
        }


def page_after(
    session: Session,
    user: User,
    cursor: str | None,
    limit: int = DEFAULT_LIMIT,
    last_mid: int = 0,
    now: dt.datetime | None = None,
) -> Page:
    """The next page of ``user``'s feed after ``cursor`` (empty: a snapshot of their scope,
    then the changes since it began). A cursor of another scope, or older than what is
    kept, gives ``reset``: push what is unsent, then pull from an empty cursor. ``last_mid``
    is handed back as it is (the caller read it before this page's changes)."""
    now = now or utcnow()
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(
            f"limit must be between 1 and {MAX_LIMIT}", {"reason": "invalid_limit"}
        )
    try:
        position = feed.parse_cursor(cursor)
    except feed.CursorError as error:
        raise ValidationFailed(str(error), {"reason": "invalid_cursor"}) from error
    keys = FEED.user_keys(session, user)
    everything = FEED.sees_everything(user)
    scope = feed.scope_fingerprint(keys | ({"centre"} if everything else set()))
    top, floor = head(session.connection())
    if feed.needs_reset(position, scope, floor):
        return Page([], "", False, last_mid, reset=True)
    if position is None or position.snapshot is not None:
        return _snapshot_page(session, user, position, scope, top, limit, last_mid, now)
    return _log_page(session, user, keys, everything, position, limit, last_mid)


def _log_page(session, user, keys, everything, position, limit, last_mid) -> Page:
    table = FeedChange.__table__
    columns = (table.c.seq, table.c.entity_type, table.c.entity_id)
    if everything:
        stmt = (
            sa.select(*columns)
            .distinct()
            .where(table.c.seq > position.seq)
            .order_by(table.c.seq)
            .limit(limit + 1)
        )
        params = {}
    else:
        stmt = _scoped_page(len(keys))
        params = {f"key_{i}": key for i, key in enumerate(sorted(keys))}
        params.update(after=position.seq, size=limit + 1)
    rows = session.execute(stmt, params).tuples().all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    last_seq = rows[-1][0] if rows else position.seq
    changes = _describe(session, user, feed.last_of_each(rows))
    cursor = feed.Cursor(last_seq, position.scope).encode()
    return Page(changes, cursor, has_more, last_mid)


@functools.cache
def _scoped_page(key_count: int) -> sa.Select:
    """The next page of a user holding ``key_count`` keys (bound as ``key_0``…): one index
    range per key after ``after``, each cut at the page size ``size``, merged. The cost
    follows the user's own changes, whatever else the feed holds. Built once per key
    count: building its subqueries costs more than running them (bench/feed_bench.py)."""
    table = FeedChange.__table__
    size = sa.bindparam("size", type_=sa.Integer)
    per_key = [
        sa.select(table.c.seq, table.c.entity_type, table.c.entity_id)
        .where(table.c.key == sa.bindparam(f"key_{i}"), table.c.seq > sa.bindparam("after"))
        .order_by(table.c.seq)
        .limit(size)
        for i in range(key_count)
    ]
    union = sa.union(*[q.subquery().select() for q in per_key]).subquery()
    return sa.select(union).order_by(union.c.seq).limit(size)


def _describe(session: Session, user: User, rows: list[tuple[int, str, str]]) -> list[dict]:
    """Each mention as the user should see it now: upsert, revoke or delete."""
    by_type: dict[str, list] = {}
    for _, entity_type, entity_id in rows:
        kind = FEED.types.get(entity_type)
        if kind is not None:
            by_type.setdefault(entity_type, []).append(kind.parse_id(entity_id))
    loaded: dict[str, dict] = {}
    visible: dict[str, set] = {}
    for entity_type, ids in by_type.items():
        kind = FEED.types[entity_type]
        if FEED.sees_everything(user):
            found, shown = kind.load(session, ids), ids
        elif kind.load_visible is not None:
            found, shown = kind.load_visible(session, user, ids)
        else:
            found, shown = kind.load(session, ids), kind.visible(session, user, ids)
        loaded[entity_type] = {str(k): v for k, v in found.items()}
        visible[entity_type] = {str(i) for i in shown}
    changes = []
    for seq, entity_type, entity_id in rows:
        if entity_type not in loaded:
            continue
        found = loaded[entity_type].get(entity_id)
        op = feed.op_for(found is not None, entity_id in visible[entity_type])
        version, data = found if (found is not None and op == feed.UPSERT) else (None, None)
        changes.append(
            {
                "seq": seq,
                "entity_type": entity_type,
                "entity_id": entity_id,
                "op": op,
                "version": version,
                "data": data,
            }
        )
    return changes


def _snapshot_page(session, user, position, scope, top, limit, last_mid, now) -> Page:
    """Everything in scope now, type by type in id order, stamped with the head seq taken
    when the snapshot began: whatever changes after that is in the feed above it."""
    if position is None:
        snapshot_head, phase, after_text = top, 0, None
    else:
        snapshot_head, (phase, after_text) = position.seq, position.snapshot
    kinds = list(FEED.types.values())
    changes: list[dict] = []
    while phase < len(kinds) and len(changes) < limit:
        kind = kinds[phase]
        after = kind.parse_id(after_text) if after_text else None
        ids = kind.snapshot(session, user, after, limit - len(changes), now)
        if ids:
            loaded = kind.load(session, ids)
            for entity_id in ids:
                version, data = loaded[entity_id]
                changes.append(
                    {
                        "seq": snapshot_head,
                        "entity_type": kind.name,
                        "entity_id": str(entity_id),
                        "op": feed.UPSERT,
                        "version": version,
                        "data": data,
                    }
                )
            after_text = str(ids[-1])
        if len(changes) < limit:
            phase, after_text = phase + 1, None
    if phase >= len(kinds):
        # Whole: from here on the feed above the head; more may already be there.
        cursor = feed.Cursor(snapshot_head, scope).encode()
        return Page(changes, cursor, snapshot_head < _top(session), last_mid)
    cursor = feed.Cursor(snapshot_head, scope, (phase, after_text or "")).encode()
    return Page(changes, cursor, True, last_mid)


def _top(session: Session) -> int:
    return head(session.connection())[0]


def prune(session: Session, before_seq: int) -> int:
    """Forget changes numbered below ``before_seq``; cursors older than that get a reset."""
    table = FeedChange.__table__
    deleted = session.execute(sa.delete(table).where(table.c.seq < before_seq)).rowcount
    session.execute(
        sa.update(FeedCounter)
        .where(FeedCounter.id == 1, FeedCounter.floor < before_seq)
        .values(floor=before_seq)
    )
    session.commit()
    return deleted


def prune_before(session: Session, cutoff: dt.datetime) -> int:
    """Forget the changes committed before ``cutoff`` (the retention period's start)."""
    table = FeedChange.__table__
    below = session.scalar(sa.select(sa.func.max(table.c.seq)).where(table.c.at < cutoff))
    session.rollback()
    return prune(session, below + 1) if below is not None else 0
