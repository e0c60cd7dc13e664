"""docs/assessment.md and the code name the same formulas: the page's formula table lists
exactly the formulas ``app.assessment.formulas`` registers, with the same numerator and
denominator ids, direction and default weight; and its levels table the same levels."""

from __future__ import annotations

import re
from pathlib import Path

from app.assessment.formulas import FORMULAS, LEVEL_SUBJECTS

PAGE = Path(__file__).resolve().parents[2] / "docs" / "assessment.md"


def _table_rows(first_header: str) -> list[list[str]]:
    """The rows of the page's table whose header starts with ``first_header``."""
    lines = PAGE.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip().strip("`") for cell in line.strip("|").split("|")])
    return rows


def test_the_page_names_exactly_the_registered_formulas():
    documented = {
        (subject, formula_id, name, numerator, denominator, better, float(weight))
        for subject, formula_id, name, numerator, denominator, better, weight in _table_rows(
            "subject"
        )
    }
    registered = {
        (
            f.subject,
            f.id,
            f.name,
            f.numerator,
            f.denominator,
            "higher" if f.higher_is_better else "lower",
            f.default_weight,
        )
        for f in FORMULAS
    }
    assert documented == registered


def test_the_page_names_exactly_the_levels_and_their_subjects():
    documented = {row[0]: tuple(re.findall(r"[a-z_]+", row[2])) for row in _table_rows("level")[:7]}
    assert documented == LEVEL_SUBJECTS


def test_the_inspector_weights_are_domain_md_s():
    weights = {f.id: f.default_weight for f in FORMULAS if f.subject == "inspector"}
    assert weights == {
        "valid_report_rate": 0.4,
        "missed_report_rate": 0.2,
        "on_time_verification_rate": 0.2,
        "on_time_check_rate": 0.2,
    }
