"""Push outcomes by status (applied, duplicate, conflict, rejected …), counted where the push
answer is built; multi-process safe through ``app.core.metrics``."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable

from app.core.metrics import counter
from sync.outcomes import Result

PUSH_OUTCOMES = counter(
    "sync_push_outcomes", "Mutation outcomes answered to pushes, by status.", ["status"]
)


def count_push_outcomes(results: Iterable[Result]) -> None:
    """Count one push's results by status."""
    for status, count in Tally(result.status.value for result in results).items():
        PUSH_OUTCOMES.labels(status).inc(count)
