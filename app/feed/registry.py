"""What the domains told the feed: the kinds of things phones keep, the models whose changes
matter, and who holds which audience keys.

The feed is a mechanism and knows no domain. Each domain declares its own kinds of things
in ``app/<domain>/feed.py`` and enrolls them in ``register(feed)``, which ``create_app``
calls (``register_feeds``) with the one process-wide ``FEED``: SQLAlchemy's events, which
the capture hangs on, are process-wide too. Registering again is a no-op: types and
watchers are filed by name and model, key sources and command-centre rules by the function
itself (so pass module-level functions, not a fresh lambda or partial per call).

Audience keys are coarse and generous: ``u:<user>``, ``*`` (everyone: reference data) and
whatever prefixes the domains give their things (``g:<unit grid>``, ``s:<street>`` …). A
change is filed under the keys its thing has now *and* had before the change, so whoever
saw it before hears of it (and gets a ``revoke`` if they may not see it any more). What a
user finally gets is decided at pull by the type's ``visible`` rule, the REST API's: keys
only narrow the search.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

# An accounts ``User`` (``id``, ``role`` …): typed loosely so the feed imports no domain.
User = Any
# (entity_type, entity_id, key): key "" = the audience is computed at commit.
Mention = tuple[str, str, str]
OnChange = Callable[[Any, bool], Iterable[Mention]]
Audience = Callable[[sa.Connection, list[str]], dict[str, set[str]]]
Followers = Callable[[sa.Connection, list[str]], dict[str, list[tuple[str, str]]]]
UserKeys = Callable[[Session, User], Iterable[str]]
SeesEverything = Callable[[User], bool]

EVERYONE = "*"


@dataclasses.dataclass(frozen=True)
class FeedType:
    """One kind of thing in the feed. ``visible`` and ``load`` take ids as ``parse_id``
    makes them from the strings the feed stores.

    ``audience(connection, ids)`` → the audience keys of each thing as it is now (at commit).
    ``visible(session, user, ids)`` → the ids ``user`` may see now.
    ``load(session, ids)`` → ``{id: (version, data)}`` of the things that exist.
    ``snapshot(session, user, after, limit, now)`` → the next ids of the user's scope after
    ``after`` (``None``: from the start), in id order.
    ``load_visible`` does ``visible`` and ``load`` in one go where that saves a query:
    ``(loaded, shown)``, ``loaded`` holding the things shown and only a placeholder for the
    others that exist.
    ``followers(connection, ids)`` → for each id, the things seen only through it (a case's
    photos): when it enters or leaves an audience, they do too.
    """

    name: str
    parse_id: Callable[[str], object]
    audience: Audience
    visible: Callable[[Session, User, list], set]
    load: Callable[[Session, list], dict]
    snapshot: Callable[[Session, User, Any, int, dt.datetime], list]
    load_visible: Callable[[Session, User, list], tuple[dict, set]] | None = None
    followers: Followers | None = None


class Registry:
    """The feed types, watched models, key sources and command-centre rules, as enrolled.

    Types keep the order they were first registered in: a snapshot runs them in that order,
    phase by phase (reference data first, so a phone can show its cases; see ``FEEDS`` in
    ``app/__init__.py``).
    """

    def __init__(self) -> None:
        self.types: dict[str, FeedType] = {}
        self.watched: dict[type, OnChange] = {}
        self._user_keys: dict[UserKeys, None] = {}  # an ordered set
        self._sees_everything: dict[SeesEverything, None] = {}

    def add_type(self, feed_type: FeedType) -> None:
        """Serve ``feed_type`` (after the types registered before it, in a snapshot)."""
        self.types[feed_type.name] = feed_type

    def watch(self, model: type, on_change: OnChange) -> None:
        """Record changes of ``model``: ``on_change(obj, deleted)`` names the things it changes
        and the audience keys they had before (``capture.mention``, ``capture.old_values``)."""
        self.watched[model] = on_change

    def add_user_keys(self, keys_of: UserKeys) -> None:
        """``keys_of(session, user)`` → the audience keys ``user`` holds through what this
        domain knows of them (an inspector's grids, a merchant's shops …)."""
        self._user_keys[keys_of] = None

    def add_reader_of_everything(self, sees_everything: SeesEverything) -> None:
        """Users for whom ``sees_everything(user)`` holds read the whole feed (the command
        centre): their pages are not narrowed by keys and every thing is visible to them."""
        self._sees_everything[sees_everything] = None

    def user_keys(self, session: Session, user: User) -> set[str]:
        """The audience keys of ``user``'s scope: their own, everyone's, and the domains'."""
        keys = {f"u:{user.id}", EVERYONE}
        for keys_of in self._user_keys:
            keys.update(keys_of(session, user))
        return keys

    def sees_everything(self, user: User) -> bool:
        return any(rule(user) for rule in self._sees_everything)


FEED = Registry()


def keys(*pairs: tuple[str, object]) -> set[str]:
    """Audience keys ``prefix:value`` of the pairs whose value is set."""
    return {f"{prefix}:{value}" for prefix, value in pairs if value is not None}


def everyone(connection: sa.Connection, ids: list[str]) -> dict[str, set[str]]:
    """The audience of reference data: every user."""
    return {i: {EVERYONE} for i in ids}


def shown_to_all(session: Session, user: User, ids: list) -> set:
    """The visibility of reference data: every user sees every one."""
    return set(ids)
