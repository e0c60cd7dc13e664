"""Hypothesis strategies of hostile values, and what the service must answer to them.

A hostile value replaces one leaf (a string or a number) of a valid body: text with lone
surrogates, NUL and other control characters, RTL overrides, 4-byte characters, very
long strings, timestamps at the edges of the calendar, integers past every column, and
values of the wrong JSON type. ``leaves`` names every leaf of a body by its path and
``replaced`` puts a value at one. ``unsafe`` is the oracle of the one rule every field
shares (no NUL or lone surrogate, no integer past 64 bits), written here independently of
``sync.checks``.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Iterator
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

Path = tuple[str | int, ...]

NUL = "\x00"
SPECIAL_CHARACTERS = [
    NUL,
    "\ud83d",  # a lone high surrogate (the JSON escape "\ud83d" alone)
    "\udc00",  # a lone low surrogate
    "\x01",
    "\x08",
    "\x1b",
    "\x7f",
    "\x85",
    "\u2028",
    "\u2029",  # control, separators
    "\u202e",
    "\u202d",
    "\u2066",
    "\u200f",  # RTL override, LTR override, isolates, RLM
    "\u200b",
    "\ufeff",
    "\ufffd",
    "\uffff",  # zero width, BOM, replacement, non-character
    "\U0001f600",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467",  # 4-byte emoji, a ZWJ family
    "\U00020000",
    "\U0002a6d6",  # CJK Extension B
    "\u0301",
    "'",
    '"',
    "\\",
    "%",
    "_",
    "<script>",
    "看",
]
EDGE_TIMESTAMPS = [
    "0001-01-01T00:00:00+14:00",  # before year 1 in UTC
    "0001-01-01T00:00:00+00:00",
    "9999-12-31T23:59:59-14:00",  # past year 9999 in UTC
    "9999-12-31T23:59:59.999999+00:00",
    "2026-11-22T08:00:00+23:59",
    "2026-11-22T08:00:00Z",
    "2026-11-22T08:00:00",  # no offset
    "2026-02-30T08:00:00+08:00",
    "1970-01-01T00:00:00+00:00",
]
EDGE_INTEGERS = [
    0,
    1,
    -1,
    2**31 - 1,
    2**31,
    -(2**31),
    -(2**31) - 1,
    2**32,
    2**53 + 1,
    2**63 - 1,
    2**63,
    -(2**63),
    -(2**63) - 1,
    2**64,
    10**30,
    -(10**30),
]
EDGE_FLOATS = [0.0, -0.0, 0.5, -90.0000001, 90.0000001, 180.5, 1e308, -1e308, 5e-324, 1e-7]
LONG_LENGTHS = [33, 64, 65, 128, 129, 256, 257, 1024, 1025, 2000, 2001, 4000, 4001, 20_000]

special_characters = st.sampled_from(SPECIAL_CHARACTERS)
any_character = st.characters(exclude_categories=())  # surrogates included

short_text = st.lists(st.one_of(special_characters, any_character), max_size=12).map("".join)
long_text = st.builds(
    lambda piece, length: (piece * length)[:length] if len(piece) == 1 else piece * length,
    st.sampled_from(["a", "看", "\U00020000", "\u202e", " ", "\U0001f600", "0"]),
    st.sampled_from(LONG_LENGTHS),
)
hostile_integers = st.one_of(st.sampled_from(EDGE_INTEGERS), st.integers())
hostile_numbers = st.one_of(
    hostile_integers,
    st.sampled_from(EDGE_FLOATS),
    st.floats(allow_nan=False, allow_infinity=False),
)
wrong_types = st.sampled_from([None, True, False, [], {}, ["a"], {"a": 1}])


def hostile_text(valid: str | None = None) -> st.SearchStrategy[str]:
    """Hostile text, some of it a valid value with a hostile character added."""
    options = [short_text, long_text, st.sampled_from(EDGE_TIMESTAMPS)]
    if valid:
        options.append(
            st.builds(
                lambda c, at_end: valid + c if at_end else c + valid,
                special_characters,
                st.booleans(),
            )
        )
    return st.one_of(*options)


def hostile_value(valid: Any) -> st.SearchStrategy[Any]:
    """A value to put where ``valid`` stood: hostile of its own type mostly, sometimes of
    another JSON type."""
    if isinstance(valid, str):
        own = hostile_text(valid)
    elif isinstance(valid, bool):
        own = st.booleans()
    else:
        own = hostile_numbers
    return st.one_of(own, own, own, hostile_numbers, short_text, wrong_types)


def leaves(body: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every string, number, boolean and null of ``body`` with its path."""
    if isinstance(body, dict):
        for key, value in body.items():
            yield from leaves(value, (*path, key))
    elif isinstance(body, list):
        for index, value in enumerate(body):
            yield from leaves(value, (*path, index))
    else:
        yield path, body


def replaced(body: Any, path: Path, value: Any) -> Any:
    """A deep copy of ``body`` with ``value`` at ``path``."""
    copied = copy.deepcopy(body)
    holder = copied
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = value
    return copied


@st.composite
def one_leaf_replaced(draw, body: Any, skip: frozenset = frozenset()) -> tuple[Path, Any]:
    """(path, hostile value) for one leaf of ``body`` (paths whose first step is in
    ``skip`` left alone), or now and then a new key of hostile name in one of its
    objects."""
    paths = [(p, v) for p, v in leaves(body) if not (p and p[0] in skip)]
    if draw(st.integers(0, 9)) == 0:  # now and then a field no schema names
        holder = draw(st.sampled_from(list(objects(body))))
        key = draw(st.one_of(short_text, long_text).filter(lambda k: k not in holder[1]))
        return (*holder[0], key), draw(hostile_value("x"))
    path, valid = draw(st.sampled_from(paths))
    return path, draw(hostile_value(valid))


def objects(body: Any, path: Path = ()) -> Iterator[tuple[Path, dict]]:
    """Every JSON object in ``body`` with its path."""
    if isinstance(body, dict):
        yield path, body
        for key, value in body.items():
            yield from objects(value, (*path, key))
    elif isinstance(body, list):
        for index, value in enumerate(body):
            yield from objects(value, (*path, index))


_UNSAFE = re.compile("[\x00\ud800-\udfff]")


def unsafe(value: Any) -> bool:
    """True when ``value`` holds what no field may: a NUL or a lone surrogate in a string
    or a key, an integer past 64 bits."""
    if isinstance(value, str):
        return bool(_UNSAFE.search(value))
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return not -(2**63) <= value < 2**63
    if isinstance(value, dict):
        return any(unsafe(k) or unsafe(v) for k, v in value.items())
    if isinstance(value, list):
        return any(unsafe(v) for v in value)
    return False


def as_json(body: Any) -> str:
    """``body`` as a phone's JSON library writes it: every non-ASCII character escaped, so
    a lone surrogate travels as the valid escape ``\\ud83d``."""
    return json.dumps(body, ensure_ascii=True)


def example_key(*parts: Any) -> str:
    """A stable name of one example, the same on every database."""
    return ascii(parts)


# backend → example name → answer, compared across databases by the last property test
ANSWERS: dict[str, dict[str, Any]] = {}


def record(backend: str, name: str, answer: Any) -> None:
    ANSWERS.setdefault(backend, {})[name] = answer


# One seed for every parametrization (Hypothesis would otherwise mix in the test id, which
# names the database): both databases see the same examples, so answers can be compared.
SEED = 20261205
EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "50"))
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
