"""The pure side of pull: cursors, scope fingerprints, what a change means to a user."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync import feed

scopes = st.text(alphabet="0123456789abcdef", min_size=12, max_size=12)
ids = st.one_of(st.uuids().map(str), st.integers(0, 10**9).map(str), st.just(""))


@given(st.integers(0, 2**62), scopes, st.none() | st.tuples(st.integers(0, 20), ids))
def test_a_cursor_reads_back_as_written(seq, scope, snapshot):
    cursor = feed.Cursor(seq, scope, snapshot)
    assert feed.parse_cursor(cursor.encode()) == cursor


@pytest.mark.parametrize(
    "text", ["x", "12", "12.abc", "-1.0123456789ab", "1.0123456789AB", "s.1.0123456789ab", "1.2.3"]
)
def test_a_cursor_this_server_never_made_is_an_error(text):
    with pytest.raises(feed.CursorError):
        feed.parse_cursor(text)


def test_an_empty_cursor_is_none():
    assert feed.parse_cursor("") is None and feed.parse_cursor(None) is None


def test_the_scope_fingerprint_ignores_order_and_repeats():
    assert feed.scope_fingerprint(["u:1", "g:2", "u:1"]) == feed.scope_fingerprint(["g:2", "u:1"])
    assert feed.scope_fingerprint(["u:1"]) != feed.scope_fingerprint(["u:1", "g:2"])


def test_reset_when_the_scope_changed_or_the_changes_needed_are_pruned():
    scope = feed.scope_fingerprint(["u:1"])
    assert not feed.needs_reset(None, scope, 100)
    assert not feed.needs_reset(feed.Cursor(99, scope), scope, 100)  # needs 100 on: kept
    assert feed.needs_reset(feed.Cursor(98, scope), scope, 100)  # needs 99: pruned
    assert feed.needs_reset(feed.Cursor(500, scope), feed.scope_fingerprint(["u:2"]), 0)


def test_what_a_change_means_to_a_user():
    assert feed.op_for(exists=True, visible=True) == feed.UPSERT
    assert feed.op_for(exists=True, visible=False) == feed.REVOKE
    assert feed.op_for(exists=False, visible=False) == feed.DELETE


def test_each_thing_comes_once_at_its_last_seq():
    rows = [(1, "case", "a"), (2, "task", "t"), (3, "case", "a"), (4, "case", "b")]
    assert feed.last_of_each(rows) == [(2, "task", "t"), (3, "case", "a"), (4, "case", "b")]
