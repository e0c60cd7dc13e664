"""Composite scores, rounding, ranks with ties and changes (docs/assessment.md)."""

from __future__ import annotations

from app.assessment import ranking
from app.assessment.formulas import default_weights, rate_percent


def fig(numerator: int, denominator: int) -> dict:
    return {
        "numerator": numerator,
        "denominator": denominator,
        "rate": rate_percent(numerator, denominator),
    }


def test_rates_round_half_up_to_two_decimals():
    assert rate_percent(911, 972) == 93.72
    assert rate_percent(737, 972) == 75.82
    assert rate_percent(1, 8) == 12.5  # exactly 12.5
    assert rate_percent(1, 3) == 33.33
    assert rate_percent(2, 3) == 66.67
    assert rate_percent(1, 80000) == 0.0  # 0.00125 %
    assert rate_percent(3, 80000) == 0.0  # 0.00375 → 0.00
    assert rate_percent(1, 400) == 0.25
    assert rate_percent(1, 1600) == 0.06  # 0.0625 → 0.06
    assert rate_percent(1, 3200) == 0.03  # 0.03125 → 0.03
    assert rate_percent(3, 400000) == 0.0
    assert rate_percent(1, 0) is None


def test_inspector_score_with_domain_md_weights():
    figures = {
        "valid_report_rate": fig(9, 10),  # 0.9 × 0.4
        "missed_report_rate": fig(1, 4),  # (1 − 0.25) × 0.2
        "on_time_verification_rate": fig(1, 2),  # 0.5 × 0.2
        "on_time_check_rate": fig(1, 1),  # 1 × 0.2
    }
    # 0.36 + 0.15 + 0.1 + 0.2 = 0.81
    assert ranking.score("inspector", figures, default_weights()) == 81.0


def test_score_renormalises_over_the_formulas_with_a_denominator():
    figures = {
        "valid_report_rate": fig(3, 4),
        "missed_report_rate": fig(0, 0),
        "on_time_verification_rate": fig(0, 0),
        "on_time_check_rate": fig(1, 2),
    }
    # (0.4 × 0.75 + 0.2 × 0.5) / 0.6 = 0.6667
    assert ranking.score("inspector", figures, default_weights()) == 66.67
    empty = {key: fig(0, 0) for key in figures}
    assert ranking.score("inspector", empty, default_weights()) is None


def test_a_formula_weighted_zero_does_not_count():
    figures = {
        "closure_rate": fig(1, 2),
        "on_time_closure_rate": fig(1, 2),
        "rework_rate": fig(0, 2),
        "public_report_rate": fig(5, 5),  # weight 0: would pull the score down
    }
    # 0.3 × 0.5 + 0.5 × 0.5 + 0.2 × 1 = 0.6
    assert ranking.score("region", figures, default_weights()) == 60.0
    weights = default_weights()
    weights["region"]["public_report_rate"] = 1.0
    # (0.6 + 1.0 × 0) / 2.0 = 0.3
    assert ranking.score("region", figures, weights) == 30.0


def _row(code: str, score: float | None, subject: str = "region") -> dict:
    return {"subject": subject, "id": int(code), "code": code, "score": score, "formulas": {}}


def test_standard_competition_ranking():
    rows = [_row("1", 80.0), _row("2", 90.0), _row("3", 80.0), _row("4", None), _row("5", 70.0)]
    ranking.rank(rows)
    assert [(row["code"], row["rank"]) for row in rows] == [
        ("2", 1),
        ("1", 2),
        ("3", 2),
        ("5", 4),
        ("4", None),
    ]


def test_each_subject_is_ranked_on_its_own():
    rows = [_row("1", 50.0, "shift_leader"), _row("2", 10.0, "dispatcher")]
    ranking.rank(rows)
    assert [row["rank"] for row in rows] == [1, 1]


def test_changes_from_the_previous_month():
    before = [{**_row("1", 80.0), "rank": 2, "formulas": {"closure_rate": fig(8, 10)}}]
    now = [{**_row("1", 90.0), "rank": 1, "formulas": {"closure_rate": fig(9, 10)}}]
    now.append({**_row("2", 50.0), "rank": 2, "formulas": {"closure_rate": fig(1, 2)}})
    ranking.add_changes(now, before)
    assert now[0]["formulas"]["closure_rate"]["change"] == 10.0
    assert (now[0]["score_change"], now[0]["rank_change"]) == (10.0, 1)
    assert now[1]["formulas"]["closure_rate"]["change"] is None
    assert (now[1]["score_change"], now[1]["rank_change"]) == (None, None)
