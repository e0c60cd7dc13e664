"""Parsing a push body into typed, frozen values, with precise errors.

Two kinds of problem, kept apart on purpose:

- ``EnvelopeError``: the request itself is broken (not an object, no ``device_id``,
  ``mutations`` not a list, too many mutations, a mutation with no usable ``mid``, mids
  not strictly increasing). Without a sound envelope the mutations cannot be ordered, so
  the HTTP layer answers 4xx and nothing changes.
- ``InvalidMutation``: one mutation is malformed (unknown type, bad ``entity_id``,
  ``args`` not an object or not of its type's shape, bad ``client_ts`` or
  ``base_version``). It keeps its ``mid`` and payload and becomes a ``rejected`` result
  in its turn; the rest of the batch goes on (a walk is not lost to one bad record).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from sync.checks import (
    MAX_INT,
    UNSAFE_CHARACTER,
    escape_unsafe,
    parse_timestamp,
    parse_uuid,
    unsafe_values,
)
from sync.mutation_types import SPECS, MutationType

DEFAULT_MAX_BATCH = 500
MAX_DEVICE_ID = 128


class EnvelopeError(Exception):
    """The push body as a whole is unusable; ``code`` is stable, ``status`` the HTTP one."""

    def __init__(self, code: str, message: str, errors: dict | None = None, status: int = 400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.errors = errors or {}
        self.status = status


@dataclasses.dataclass(frozen=True)
class Mutation:
    """One well-formed mutation, ready to be ordered and applied."""

    mid: int
    type: MutationType
    entity_id: uuid.UUID
    base_version: int | None
    args: Mapping[str, Any]
    client_ts: dt.datetime  # for the audit trail only: never decides an outcome
    payload: Mapping[str, Any]  # as received, kept with the outcome

    @property
    def entity_type(self) -> str:
        return SPECS[self.type].entity_type

    def content(self) -> dict[str, Any]:
        """What the fingerprint covers (see ``sync.ordering.fingerprint``)."""
        return {
            "type": self.type.value,
            "entity_id": str(self.entity_id),
            "base_version": self.base_version,
            "args": self.args,
        }


@dataclasses.dataclass(frozen=True)
class InvalidMutation:
    """A mutation that will be ``rejected`` with ``reason`` when its turn comes."""

    mid: int
    reason: str  # unknown_type, invalid_entity_id, invalid_base_version, …
    message: str
    errors: Mapping[str, Any]
    payload: Mapping[str, Any]

    @property
    def entity_type(self) -> str | None:
        type_ = self.payload.get("type")  # any JSON value: a list or an object too
        spec = SPECS.get(type_) if isinstance(type_, str) else None
        return spec.entity_type if spec else None

    @property
    def entity_id(self) -> uuid.UUID | None:
        return parse_uuid(self.payload.get("entity_id"))

    def content(self) -> dict[str, Any]:
        entity_id = self.entity_id
        return {
            "type": self.payload.get("type"),
            "entity_id": str(entity_id) if entity_id else self.payload.get("entity_id"),
            "base_version": self.payload.get("base_version"),
            "args": self.payload.get("args"),
        }


Item = Mutation | InvalidMutation


@dataclasses.dataclass(frozen=True)
class Batch:
    device_id: str
    items: tuple[Item, ...]


def parse_push(body: Any, *, max_batch: int = DEFAULT_MAX_BATCH) -> Batch:
    """The push body ``{"device_id", "mutations": [...]}`` as a ``Batch``.

    Raises ``EnvelopeError`` when the request is broken; a malformed mutation inside a
    sound envelope becomes an ``InvalidMutation`` instead.
    """
    if not isinstance(body, Mapping):
        raise EnvelopeError("not_an_object", "the push body must be a JSON object")
    device_id = body.get("device_id")
    if not isinstance(device_id, str) or not device_id.strip():
        raise EnvelopeError(
            "missing_device_id", "device_id is required", {"device_id": ["missing or empty"]}
        )
    if UNSAFE_CHARACTER.search(device_id):
        raise EnvelopeError(
            "invalid_device_id",
            "device_id must not contain NUL or unpaired surrogate characters",
            {"device_id": ["must not contain NUL or unpaired surrogate characters"]},
        )
    if len(device_id) > MAX_DEVICE_ID:
        raise EnvelopeError(
            "invalid_device_id",
            f"device_id is at most {MAX_DEVICE_ID} characters",
            {"device_id": [f"at most {MAX_DEVICE_ID} characters"]},
        )
    raw = body.get("mutations")
    if not isinstance(raw, list):
        raise EnvelopeError(
            "mutations_not_a_list", "mutations must be a list", {"mutations": ["not a list"]}
        )
    if len(raw) > max_batch:
        raise EnvelopeError(
            "batch_too_large",
            f"{len(raw)} mutations in one push; at most {max_batch}",
            {"mutations": [f"at most {max_batch} items"]},
            status=413,
        )
    _check_mids(raw)
    return Batch(device_id, tuple(parse_mutation(m) for m in raw))


def _check_mids(raw: list) -> None:
    previous: int | None = None
    seen: set[int] = set()
    for index, entry in enumerate(raw):
        where = {"mutations": {str(index): {"mid": [f"a positive integer up to {MAX_INT}"]}}}
        if not isinstance(entry, Mapping):
            raise EnvelopeError(
                "mutation_not_an_object",
                f"mutation {index} is not an object",
                {"mutations": {str(index): ["not an object"]}},
            )
        mid = entry.get("mid")
        if isinstance(mid, bool) or not isinstance(mid, int) or not 1 <= mid <= MAX_INT:
            raise EnvelopeError("invalid_mid", f"mutation {index} has no positive mid", where)
        if mid in seen:
            raise EnvelopeError(
                "duplicate_mid",
                f"mid {mid} appears twice in one push",
                {"mutations": {str(index): {"mid": [f"{mid} already in this push"]}}},
            )
        if previous is not None and mid < previous:
            raise EnvelopeError(
                "mids_not_increasing",
                f"mid {mid} follows {previous}: mids in a push must increase",
                {"mutations": {str(index): {"mid": [f"must be greater than {previous}"]}}},
            )
        seen.add(mid)
        previous = mid


def parse_mutation(entry: Mapping[str, Any]) -> Item:
    """One mutation whose ``mid`` is already known to be sound."""
    mid: int = entry["mid"]
    unsafe = unsafe_values(entry)
    if unsafe is not None:
        # Refused before anything reads it: the payload is kept with the offending
        # characters spelled out, since no database column can hold them as they are.
        return InvalidMutation(
            mid, "validation", "a value holds what no field may", unsafe, escape_unsafe(entry)
        )
    payload = dict(entry)
    problems: list[tuple[str, str, dict]] = []
    type_ = entry.get("type")
    spec = SPECS.get(type_) if isinstance(type_, str) else None
    if spec is None:
        problems.append(
            ("unknown_type", f"unknown mutation type {type_!r}", {"type": sorted(SPECS)})
        )
    entity_id = parse_uuid(entry.get("entity_id"))
    if entity_id is None:
        problems.append(
            ("invalid_entity_id", "entity_id is not a UUID", {"entity_id": ["not a UUID"]})
        )
    base_version = entry.get("base_version")
    if base_version is not None and (
        isinstance(base_version, bool) or not isinstance(base_version, int) or base_version < 0
    ):
        problems.append(
            (
                "invalid_base_version",
                "base_version is a non-negative integer or null",
                {"base_version": ["a non-negative integer or null"]},
            )
        )
    client_ts = parse_timestamp(entry.get("client_ts"))
    if client_ts is None:
        problems.append(
            (
                "invalid_client_ts",
                "client_ts is ISO 8601 with a UTC offset",
                {"client_ts": ["ISO 8601 with a UTC offset"]},
            )
        )
    args = entry.get("args", {})
    if not isinstance(args, Mapping):
        problems.append(("invalid_args", "args is not an object", {"args": ["not an object"]}))
    elif spec is not None and (arg_errors := spec.args(args)) is not None:
        problems.append(("validation", f"args do not fit {spec.type.value}", {"args": arg_errors}))
    if problems:
        reason, message, _ = problems[0]
        errors: dict[str, Any] = {}
        for _, _, found in problems:
            errors.update(found)
        return InvalidMutation(mid, reason, message, errors, payload)
    assert spec is not None and entity_id is not None and client_ts is not None
    return Mutation(
        mid=mid,
        type=spec.type,
        entity_id=entity_id,
        base_version=base_version,
        args=dict(args),
        client_ts=client_ts,
        payload=payload,
    )
