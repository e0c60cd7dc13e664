"""The pull side of sync, pure: cursors, scope fingerprints and what a change means to one user.

A cursor is opaque to phones. Inside it says where the user's feed stands:

* ``<seq>.<scope>``: every change numbered up to ``seq`` has been served; the next pull
  serves what came after.
* ``s.<head>.<scope>.<phase>.<after>``: a snapshot (a pull from an empty cursor) is being
  served: phase ``phase`` of the snapshot is done up to the id ``after``; once the snapshot
  is whole the cursor becomes ``<head>.<scope>``, where ``head`` is the last seq committed
  when the snapshot began. Whatever changed after ``head`` is in the feed above it.

``scope`` fingerprints the audience keys the user had when the cursor was made. If their
scope changed since (a new grid, another department), changes made before the change of
scope were filtered by the old keys: the cursor cannot be trusted and the phone gets
``reset`` — as it does for a cursor older than what the server still keeps.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable

UPSERT = "upsert"
REVOKE = "revoke"
DELETE = "delete"


class CursorError(ValueError):
    """A cursor this server never made."""


@dataclasses.dataclass(frozen=True)
class Cursor:
    seq: int
    scope: str
    # (phase, last id served) while a snapshot is being served; None once it is whole.
    snapshot: tuple[int, str] | None = None

    def encode(self) -> str:
        if self.snapshot is None:
            return f"{self.seq}.{self.scope}"
        phase, after = self.snapshot
        return f"s.{self.seq}.{self.scope}.{phase}.{after}"


def parse_cursor(text: str | None) -> Cursor | None:
    """The cursor a phone sent back; ``None`` for an empty one (pull everything in scope)."""
    if text is None or text == "":
        return None
    try:
        if text.startswith("s."):
            _, seq, scope, phase, after = text.split(".", 4)
            return Cursor(_natural(seq), _scope(scope), (_natural(phase), after))
        seq, scope = text.split(".")
        return Cursor(_natural(seq), _scope(scope))
    except ValueError as error:
        raise CursorError(f"not a cursor of this server: {text[:80]!r}") from error


def _natural(text: str) -> int:
    if not text.isdigit() or len(text) > 19:
        raise ValueError(text)
    return int(text)


def _scope(text: str) -> str:
    if len(text) != 12 or any(c not in "0123456789abcdef" for c in text):
        raise ValueError(text)
    return text


def scope_fingerprint(keys: Iterable[str]) -> str:
    """12 hex digits naming a set of audience keys, whatever their order."""
    joined = "\n".join(sorted(set(keys)))
    return hashlib.sha256(joined.encode()).hexdigest()[:12]


def needs_reset(cursor: Cursor | None, scope: str, floor: int) -> bool:
    """A cursor the server cannot continue: made for another scope, or one that still
    needs changes below ``floor``, the oldest seq kept."""
    if cursor is None:
        return False
    return cursor.scope != scope or cursor.seq + 1 < floor


def op_for(exists: bool, visible: bool) -> str:
    """What a change means to one user, decided when they pull: the thing's state now, if
    they may see it; ``revoke`` if it left their scope; ``delete`` if it is gone."""
    if not exists:
        return DELETE
    return UPSERT if visible else REVOKE


def last_of_each(rows: Iterable[tuple[int, str, str]]) -> list[tuple[int, str, str]]:
    """Rows ``(seq, entity_type, entity_id)`` with each thing kept once, at its last seq:
    the feed serves a thing's state as it is now, so earlier mentions add nothing."""
    latest: dict[tuple[str, str], int] = {}
    for seq, entity_type, entity_id in rows:
        key = (entity_type, entity_id)
        if seq >= latest.get(key, -1):
            latest[key] = seq
    return sorted((seq, entity_type, entity_id) for (entity_type, entity_id), seq in latest.items())
