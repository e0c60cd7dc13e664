"""The formulas of 考评 (docs/assessment.md, "The formulas"): what each rate divides, which
way is better, its default weight, and the levels that show them."""

from __future__ import annotations

import dataclasses

REGION = "region"
DEPARTMENT = "department"
INSPECTOR = "inspector"
SHIFT_LEADER = "shift_leader"
DISPATCHER = "dispatcher"
SUBJECTS = (REGION, DEPARTMENT, INSPECTOR, SHIFT_LEADER, DISPATCHER)


@dataclasses.dataclass(frozen=True)
class Formula:
    subject: str
    id: str
    name: str  # 名称
    numerator: str
    denominator: str
    higher_is_better: bool
    default_weight: float


def _f(subject, id_, name, numerator, denominator, better, weight) -> Formula:
    return Formula(subject, id_, name, numerator, denominator, better == HI, weight)


HI, LO = "higher", "lower"  # which way is better
R, D, IN, SL, DP = REGION, DEPARTMENT, INSPECTOR, SHIFT_LEADER, DISPATCHER
# The table of docs/assessment.md, "The formulas", row by row.
FORMULAS: tuple[Formula, ...] = (
    _f(R, "closure_rate", "结案率", "closed", "due_to_close", HI, 0.3),
    _f(R, "on_time_closure_rate", "按期结案率", "closed_on_time", "due_to_close", HI, 0.5),
    _f(R, "rework_rate", "返工率", "reworks", "due_to_close", LO, 0.2),
    _f(R, "public_report_rate", "监督举报率", "public_filed", "filed", LO, 0.0),
    _f(R, "selfcheck_rate", "门前三包自查率", "days_selfchecked", "days_due", HI, 0.0),
    _f(D, "handling_rate", "处置率", "handled", "due_to_close", HI, 0.3),
    _f(D, "on_time_handling_rate", "按期处置率", "handled_on_time", "due_to_close", HI, 0.5),
    _f(D, "rework_rate", "返工率", "reworks", "due_to_close", LO, 0.2),
    _f(IN, "valid_report_rate", "有效上报率", "valid_reports", "reports", HI, 0.4),
    _f(IN, "missed_report_rate", "漏报率", "missed", "filed_in_grids", LO, 0.2),
    _f(
        IN,
        "on_time_verification_rate",
        "按时核实率",
        "verified_on_time",
        "verifications_due",
        HI,
        0.2,
    ),
    _f(IN, "on_time_check_rate", "按时核查率", "checked_on_time", "checks_due", HI, 0.2),
    _f(SL, "on_time_filing_rate", "按时立案率", "filed_on_time", "filed", HI, 0.4),
    _f(SL, "accurate_filing_rate", "准确立案率", "filed_not_cancelled", "filed", HI, 0.2),
    _f(SL, "on_time_closing_rate", "按时结案率", "closed_on_time", "closed", HI, 0.4),
    _f(DP, "on_time_dispatch_rate", "按时派遣率", "dispatched_on_time", "dispatched", HI, 0.5),
    _f(
        DP, "accurate_dispatch_rate", "准确派遣率", "dispatched_not_returned", "dispatched", HI, 0.5
    ),
)

BY_SUBJECT: dict[str, tuple[Formula, ...]] = {
    subject: tuple(f for f in FORMULAS if f.subject == subject) for subject in SUBJECTS
}


def formula(subject: str, formula_id: str) -> Formula | None:
    return next((f for f in BY_SUBJECT.get(subject, ()) if f.id == formula_id), None)


def default_weights() -> dict[str, dict[str, float]]:
    return {s: {f.id: f.default_weight for f in fs} for s, fs in BY_SUBJECT.items()}


# The levels (docs/assessment.md, "Levels"): the subjects of each, and the region formulas
# a level leaves out.
REGION_LEVELS = ("district", "street", "community", "grid")
LEVELS = (*REGION_LEVELS, "department", "inspector", "dispatcher")
LEVEL_SUBJECTS: dict[str, tuple[str, ...]] = {
    **{level: (REGION,) for level in REGION_LEVELS},
    "department": (DEPARTMENT,),
    "inspector": (INSPECTOR,),
    "dispatcher": (SHIFT_LEADER, DISPATCHER),
}
LEFT_OUT: dict[str, frozenset[str]] = {"grid": frozenset({"selfcheck_rate"})}


def level_formulas(level: str, subject: str) -> tuple[Formula, ...]:
    left_out = LEFT_OUT.get(level, frozenset())
    return tuple(f for f in BY_SUBJECT[subject] if f.id not in left_out)


def rate_percent(numerator: int, denominator: int) -> float | None:
    """``numerator / denominator`` as a percentage rounded half-up to 2 decimals, exactly
    (integers, no float on the way); None when the denominator is 0."""
    if not denominator:
        return None
    hundredths = (numerator * 20000 + denominator) // (2 * denominator)
    return hundredths / 100
