"""A small vocabulary for declaring the shape of JSON values, in plain Python.

A check is a callable that takes a decoded JSON value and returns ``None`` when it fits,
or the errors when it does not: a list of messages for a leaf, a dict of field → errors
for an object (the flask-smorest ``errors`` shape). Schemas are data, so the v1 mutation
types read as a table (``sync.mutation_types``) and the same checks serve every type.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any

Errors = list[str] | dict[str, Any]
Check = Callable[[Any], Errors | None]

HEX64 = re.compile(r"[0-9a-fA-F]{64}")
# A NUL (PostgreSQL refuses it in text) or a lone UTF-16 surrogate (no UTF-8 spelling: the
# valid JSON escape "\ud83d" alone decodes to one).
UNSAFE_CHARACTER = re.compile("[\x00\ud800-\udfff]")
# The widest integer any column holds (PostgreSQL bigint); narrower fields say their own.
MAX_INT = 2**63 - 1
# How deep a JSON value may nest: far more than any body of this API needs.
MAX_DEPTH = 32


def unsafe_values(value: Any, depth: int = 0) -> Errors | None:
    """What in a decoded JSON value no field of this service may hold, or None.

    The one check of text and numbers on the way in, for every body and every mutation:
    a string (or key) with a NUL or a lone surrogate, an integer past 64 bits, nesting
    deeper than ``MAX_DEPTH``. Errors are shaped like the value (field → errors).
    """
    if isinstance(value, str):
        return (
            ["must not contain NUL or unpaired surrogate characters"]
            if (UNSAFE_CHARACTER.search(value))
            else None
        )
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return None
    if isinstance(value, int):
        return None if -MAX_INT - 1 <= value <= MAX_INT else ["integer out of range"]
    if depth >= MAX_DEPTH and isinstance(value, Mapping | list | tuple):
        return [f"nested deeper than {MAX_DEPTH} levels"]
    if isinstance(value, Mapping):
        items = value.items()
    elif isinstance(value, list | tuple):
        items = ((str(index), item) for index, item in enumerate(value))
    else:
        return None
    errors: dict[str, Any] = {}
    for key, item in items:
        name = safe_key(key)
        if name != key:
            errors[name] = ["the name must not contain NUL or unpaired surrogate characters"]
        elif (problem := unsafe_values(item, depth + 1)) is not None:
            errors[name] = problem
    return errors or None


def safe_key(key: Any) -> str:
    """``key`` as a string that can be shown and stored (unsafe characters spelled out)."""
    return UNSAFE_CHARACTER.sub(_spelled, str(key))


def escape_unsafe(value: Any) -> Any:
    """``value`` with every unsafe character spelled out as ``\\uXXXX`` text, so that a
    refused value can still be stored and shown as it came."""
    if isinstance(value, str):
        return UNSAFE_CHARACTER.sub(_spelled, value)
    if isinstance(value, Mapping):
        return {safe_key(k): escape_unsafe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [escape_unsafe(item) for item in value]
    return value


def _spelled(match: re.Match) -> str:
    return f"\\u{ord(match.group()):04x}"


def parse_uuid(value: Any) -> uuid.UUID | None:
    """The UUID ``value`` spells in its canonical 8-4-4-4-12 form, or None."""
    if not isinstance(value, str) or len(value) != 36:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def parse_timestamp(value: Any) -> dt.datetime | None:
    """An ISO 8601 timestamp with a UTC offset, or None (a bare local time is refused)."""
    if not isinstance(value, str) or "T" not in value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
        if parsed.utcoffset() is None:
            return None
        # The instant must exist in UTC too (every column stores it so): year 1 at +14:00
        # or year 9999 at -14:00 does not.
        parsed.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        return None
    return parsed


def text(*, min_len: int = 0, max_len: int = 2000) -> Check:
    def check(value: Any) -> Errors | None:
        if not isinstance(value, str):
            return ["not a string"]
        if UNSAFE_CHARACTER.search(value):
            return ["must not contain NUL or unpaired surrogate characters"]
        if len(value.strip()) < min_len:
            return ["must not be empty"] if min_len == 1 else [f"at least {min_len} characters"]
        if len(value) > max_len:
            return [f"at most {max_len} characters"]
        return None

    return check


def choice(*values: str) -> Check:
    def check(value: Any) -> Errors | None:
        return None if value in values else [f"one of {', '.join(values)}"]

    return check


def digits(*, min_len: int, max_len: int) -> Check:
    pattern = re.compile(rf"[0-9]{{{min_len},{max_len}}}")

    def check(value: Any) -> Errors | None:
        if isinstance(value, str) and pattern.fullmatch(value):
            return None
        return [f"{min_len} to {max_len} digits"]

    return check


def uuid_text(value: Any) -> Errors | None:
    return None if parse_uuid(value) is not None else ["not a UUID"]


def sha256_hex(value: Any) -> Errors | None:
    if isinstance(value, str) and HEX64.fullmatch(value):
        return None
    return ["64 hexadecimal digits"]


def timestamp(value: Any) -> Errors | None:
    if parse_timestamp(value) is not None:
        return None
    return ["ISO 8601 with a UTC offset, e.g. 2026-11-22T08:01:00+08:00"]


def number(*, minimum: float, maximum: float, exclusive_minimum: bool = False) -> Check:
    def check(value: Any) -> Errors | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return ["not a number"]
        if not math.isfinite(value) or value > maximum:
            return [f"between {minimum} and {maximum}"]
        if value < minimum or (exclusive_minimum and value == minimum):
            return [f"between {minimum} and {maximum}"]
        return None

    return check


def nullable(inner: Check) -> Check:
    def check(value: Any) -> Errors | None:
        return None if value is None else inner(value)

    return check


def array(item: Check, *, min_items: int = 0, max_items: int = 50) -> Check:
    def check(value: Any) -> Errors | None:
        if not isinstance(value, list):
            return ["not a list"]
        if not min_items <= len(value) <= max_items:
            return [f"{min_items} to {max_items} items"]
        errors = {str(i): e for i, v in enumerate(value) if (e := item(v)) is not None}
        return errors or None

    return check


@dataclasses.dataclass(frozen=True)
class Field:
    check: Check
    required: bool = False


def required(check: Check) -> Field:
    return Field(check, required=True)


def optional(check: Check) -> Field:
    return Field(check)


@dataclasses.dataclass(frozen=True)
class Schema:
    """An object with named fields; unknown keys are errors, like marshmallow's RAISE."""

    fields: Mapping[str, Field]
    rule: Callable[[Mapping[str, Any]], Errors | None] | None = None

    def __call__(self, value: Any) -> Errors | None:
        if not isinstance(value, Mapping):
            return ["not an object"]
        errors: dict[str, Any] = {}
        for name, field in self.fields.items():
            if name not in value:
                if field.required:
                    errors[name] = ["missing"]
                continue
            problem = field.check(value[name])
            if problem is not None:
                errors[name] = problem
        for name in value:
            if name not in self.fields:
                errors[str(name)] = ["unknown field"]
        if not errors and self.rule is not None:
            problem = self.rule(value)
            if problem is not None:
                return problem
        return errors or None


def schema(rule: Callable[[Mapping[str, Any]], Errors | None] | None = None, **fields: Field):
    return Schema(fields, rule)
