"""Composite scores, ranks with ties, the change from the previous month, and the
difference from what was published (docs/assessment.md, "Composite score and rank")."""

from __future__ import annotations

import math
from collections.abc import Mapping

from app.assessment.formulas import formula

Weights = Mapping[str, Mapping[str, float]]


def _weights(weights: Weights) -> dict[tuple[str, str], tuple[float, bool]]:
    """Each formula's weight, and whether higher is better."""
    return {
        (subject, formula_id): (float(weight), formula(subject, formula_id).higher_is_better)
        for subject, by_formula in weights.items()
        for formula_id, weight in by_formula.items()
        if formula(subject, formula_id) is not None
    }


def score(subject: str, figures: Mapping[str, Mapping], weights: Weights) -> float | None:
    """100 × Σ w·v / Σ w over the weighted formulas with a denominator, as a percentage
    rounded half-up to 2 decimals; None when none has one."""
    return _score(subject, figures, _weights(weights))


def _score(subject: str, figures: Mapping[str, Mapping], weights) -> float | None:
    # Floating point: the same rates in the same order give the same score, so equal
    # figures tie; the small allowance keeps 0.125 from rounding down as 0.12499999….
    total = weight_sum = 0.0
    for formula_id, figure in figures.items():
        weight, higher = weights.get((subject, formula_id), (0.0, True))
        denominator = figure["denominator"]
        if weight <= 0 or not denominator:
            continue
        numerator = figure["numerator"] if higher else denominator - figure["numerator"]
        total += weight * numerator / denominator
        weight_sum += weight
    if not weight_sum:
        return None
    return math.floor(total / weight_sum * 10000 + 0.5 + 1e-7) / 100


def rank(rows: list[dict]) -> None:
    """Rank each subject's rows by score, highest first, 1, 2, 2, 4; a row without a
    score gets no rank. Sorts the rows: ranked first, then the others, by code."""
    for row in rows:
        row["rank"] = None
    by_subject: dict[str, list[dict]] = {}
    for row in rows:
        if row["score"] is not None:
            by_subject.setdefault(row["subject"], []).append(row)
    for scored in by_subject.values():
        scored.sort(key=lambda row: -row["score"])
        for position, row in enumerate(scored):
            tied = position and row["score"] == scored[position - 1]["score"]
            row["rank"] = scored[position - 1]["rank"] if tied else position + 1
    rows.sort(key=lambda row: (row["subject"], row["rank"] is None, row["rank"] or 0, row["code"]))


def _delta(now: float | None, before: float | None) -> float | None:
    if now is None or before is None:
        return None
    return round(now - before, 2)


def score_and_rank(rows: list[dict], weights: Weights) -> list[dict]:
    by_formula = _weights(weights)
    for row in rows:
        row["score"] = _score(row["subject"], row["formulas"], by_formula)
    rank(rows)
    return rows


def add_changes(rows: list[dict], previous: list[dict] | None) -> list[dict]:
    """Each row's change from the same subject's row of the previous month."""
    before = {(row["subject"], row["id"]): row for row in previous or ()}
    for row in rows:
        old = before.get((row["subject"], row["id"]))
        old_figures = old["formulas"] if old else {}
        for formula_id, figure in row["formulas"].items():
            old_rate = old_figures.get(formula_id, {}).get("rate")
            figure["change"] = _delta(figure["rate"], old_rate)
        row["score_change"] = _delta(row["score"], old["score"] if old else None)
        old_rank = old["rank"] if old else None
        row["rank_change"] = (
            old_rank - row["rank"] if old_rank is not None and row["rank"] is not None else None
        )
    return rows


def _figure_diff(now: Mapping, then: Mapping | None) -> dict:
    then = then or {}
    return {
        "numerator": now["numerator"] - then.get("numerator", 0),
        "denominator": now["denominator"] - then.get("denominator", 0),
        "rate": _delta(now["rate"], then.get("rate")),
    }


def add_published_diff(rows: list[dict], published: list[dict]) -> list[dict]:
    """Each current row's difference from its published row (current − published), None
    for a row that was not published."""
    then = {(row["subject"], row["id"]): row for row in published}
    for row in rows:
        old = then.get((row["subject"], row["id"]))
        if old is None:
            row["published_diff"] = None
            continue
        row["published_diff"] = {
            "formulas": {
                formula_id: _figure_diff(figure, old["formulas"].get(formula_id))
                for formula_id, figure in row["formulas"].items()
            },
            "score": _delta(row["score"], old["score"]),
            "rank": (
                row["rank"] - old["rank"]
                if row["rank"] is not None and old["rank"] is not None
                else None
            ),
        }
    return rows
