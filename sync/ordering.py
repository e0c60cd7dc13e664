"""Per-device order and idempotency, as pure functions of what the server has stored.

A device numbers its mutations 1, 2, 3, … The server keeps, per device, the last mid it
decided (``last_mid``) and, per decided mid, the outcome and a fingerprint of the content.
For each incoming mutation ``decide`` answers one of:

- ``apply``: ``mid == last_mid + 1``, its turn has come;
- ``duplicate``: ``mid <= last_mid`` with the stored fingerprint: answer the stored result;
- ``mid_reused``: ``mid <= last_mid`` with other content: rejected, the stored one stands;
- ``expired``: ``mid <= last_mid`` with the stored fingerprint but an outcome past
  retention (or no record at all): decided long ago, answered as a ``duplicate`` without a
  result. Retention forgets payloads and outcomes, never a used mid's fingerprint, so
  other content under an old mid is still ``mid_reused``;
- ``gap``: ``mid > last_mid + 1``: an earlier mutation is missing; nothing from here on is
  applied, and the expected mid is ``last_mid + 1``.

The fingerprint covers ``type``, ``entity_id``, ``base_version`` and ``args`` — not
``client_ts``. The device clock is audit data that never decides an outcome (API.md,
conflict rule 6): a queued mutation re-stamped by a phone whose clock was corrected is the
same mutation, and must be answered ``duplicate``, not ``mid_reused``.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

from sync.envelope import Item
from sync.outcomes import StoredOutcome


class Step(enum.StrEnum):
    APPLY = "apply"
    DUPLICATE = "duplicate"
    MID_REUSED = "mid_reused"
    EXPIRED = "expired"
    GAP = "gap"


@dataclasses.dataclass(frozen=True)
class Decision:
    step: Step
    expected_mid: int | None = None  # for a gap
    stored: StoredOutcome | None = None  # for a duplicate


def decide(mid: int, fingerprint: str, last_mid: int, stored: StoredOutcome | None) -> Decision:
    """What to do with mutation ``mid`` of a device whose last decided mid is ``last_mid``.

    ``stored`` is the device's recorded outcome for ``mid`` (looked up only when
    ``mid <= last_mid``; None when never recorded or pruned).
    """
    if mid == last_mid + 1:
        return Decision(Step.APPLY)
    if mid > last_mid + 1:
        return Decision(Step.GAP, expected_mid=last_mid + 1)
    if stored is None:
        return Decision(Step.EXPIRED)
    if stored.mid != mid:
        raise ValueError(f"stored outcome is for mid {stored.mid}, not {mid}")
    if stored.fingerprint != fingerprint:
        return Decision(Step.MID_REUSED, stored=stored)
    if stored.outcome is None:
        return Decision(Step.EXPIRED)
    return Decision(Step.DUPLICATE, stored=stored)


def fingerprint(item: Item) -> str:
    """sha256 of the canonical JSON of what a mutation asks for (not when it says it did)."""
    # surrogatepass: a lone surrogate in a refused mutation must not stop it being recorded.
    return hashlib.sha256(
        canonical_json(item.content()).encode("utf-8", "surrogatepass")
    ).hexdigest()


def canonical_json(value: Any) -> str:
    """One spelling per JSON value: sorted keys, no spaces, UTF-8, integral floats as ints.

    ``1.0`` and ``1`` are one number to a phone's JSON library, so they are one here.
    """
    return json.dumps(_canonical(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _canonical(value: Any) -> Any:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value
