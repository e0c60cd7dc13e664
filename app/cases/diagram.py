"""The workflow's documentation, generated from ``workflow`` so it cannot drift from the code.

``docs/case-workflow.md`` is exactly ``markdown()``; a unit test keeps it so, and
``flask cases diagram`` prints the Mermaid diagram (``--markdown`` for the whole page).
"""

from __future__ import annotations

from app.cases import workflow


def _cell(values) -> str:
    return ", ".join(sorted(str(value) for value in values)) or "—"


def moves_table() -> str:
    rows = [
        "| action | label | from | to | roles | evidence |",
        "|---|---|---|---|---|---|",
    ]
    for move in workflow.MOVES.values():
        target = move.target.value if move.target else "(unchanged)"
        rows.append(
            f"| `{move.action.value}` | {move.label} | {_cell(s.value for s in move.sources)} "
            f"| {target} | {_cell(move.roles)} | {_cell(e.value for e in move.needs)} |"
        )
    return "\n".join(rows) + "\n"


def requests_table() -> str:
    rows = [
        "| request | asked from | asked by | evidence | approved by the move |",
        "|---|---|---|---|---|",
    ]
    for rule in workflow.REQUESTS.values():
        rows.append(
            f"| `{rule.kind.value}` | {_cell(s.value for s in rule.sources)} "
            f"| {_cell(rule.roles)} | {_cell(e.value for e in rule.needs)} "
            f"| `{rule.approve.value}` |"
        )
    return "\n".join(rows) + "\n"


def duties_table() -> str:
    rows = ["| duty | moves |", "|---|---|"]
    for duty in workflow.DUTIES:
        moves = [f"`{action.value}`" for action, of in workflow.DUTY_OF.items() if of == duty]
        if duty == workflow.SHIFT_LEADER:
            moves[-1] += " (the first)"
        if duty == workflow.CENTRE_LEADER:
            moves = ["every move; alone a second `approve_extension`"]
        rows.append(f"| `{duty}` | {', '.join(moves)} |")
    return "\n".join(rows) + "\n"


RECORD = """
## Desk duties

In the API the command centre is one role, `dispatcher`; a city may split its desk into
duties (`users.duty`, set by an admin): 受理员 `intake_clerk`, 派遣员 `dispatcher`,
值班长 `shift_leader`, 指挥中心领导 `centre_leader`. Each dispatcher move belongs to one
duty and the flow log records it (`duty`; null for other roles' moves). A dispatcher with a
duty makes only the moves of that duty (403 `wrong_duty`); a centre leader makes them all;
a dispatcher without a duty (a small centre's desk) makes every move but a second
extension.

{duties}
## Extensions

Extensions are approvals (DOMAIN.md). Each asks for at most the category's composite limit
(the case's limit amount, in its unit: a larger amount is a 422 `extension_over_limit` when
it is asked for, and again when approved). The first is approved by a shift leader (or a
centre leader, or a dispatcher without a duty) and logged as `shift_leader`'s; a second only
by a centre leader (403 `wrong_duty` otherwise), logged as `centre_leader`'s; a third is a
409 `too_many_extensions`. `cases.extension_count` counts the approved ones. The same check
(`app.cases.moves.check_move`) decides a move made directly, on a task, by an approved
request and through a push.

## Two stages

A category may carry a first stage (`stage_name`, `stage_limit`, `stage_limit_type`): a
manhole cover is reached and made safe (到场) within 0.5 h and repaired within 6 h; an
illegal structure (私搭乱建) is stopped (停工) within 4 working hours and demolished within
15 working days. Filing and every rework set `cases.stage_deadline` from it (null for one
stage) and clear `stage_done_at`; the handler reports the first stage done with
`make_safe` (in `handling`; a 422 `no_stage` for a one-stage case, a 409 `stage_done` the
second time). The case shows `stages`: the first stage and the handling (处置), each with
its deadline, when it was done and its own traffic light.

## Step clocks

Each flow entry of a step with a clock records `time_used` (seconds in the case limit's
measure: working seconds for working hours or days, elapsed seconds otherwise; suspensions
excluded) and `overdue`:

| step | from | limit |
|---|---|---|
| `register` | the report, or the verification's result | `CASE_REGISTER_LIMIT_HOURS` (1) |
| `dispatch` | filing, or the approved return | `CASE_DISPATCH_LIMIT_HOURS` (1) |
| `submit_closure` | the dispatch, or the rework | the case's deadline |
| `record_verification`, `check_pass`, `check_fail` | the task given | the task's deadline |
| `close` | the passing check | `CASE_CLOSE_LIMIT_HOURS` (1) |
| `make_safe` | filing, or the rework | the first stage's deadline |

An hour limit is in the case limit's measure (working hours for a working limit). Other
steps have no clock (null).

## What a case records for assessment

- `valid`: true once filed (`register`) or confirmed self-handled, false when rejected (or
  merged away before filing); null while undecided. A cancelled case stays valid.
- `handled_on_time`: set at `submit_closure` (handled by the deadline), cleared by a rework
  (`check_fail`) and set again at the next closure.
- `closed_on_time`: set at `close` (closed by the deadline, which extensions and ended
  suspensions have moved); a self-handled case is closed on time.
- `time_used`: at `close`, the handling time from filing to closing in the limit's measure,
  suspensions excluded (null for a self-handled case, never filed).
- `rework_count`: failed checks (返工), one `check_fail` flow entry each.
- `missed_by_id`: at filing, for a report from a public channel (`hotline`, `open311`,
  `public`, `video`), the inspector responsible for the case's grid (漏报).
"""


def markdown() -> str:
    """The whole of ``docs/case-workflow.md``."""
    return (
        "# The case workflow\n\n"
        "<!-- Generated by `flask cases diagram --markdown > docs/case-workflow.md` from\n"
        "     app/cases/workflow.py. Do not edit by hand: tests/unit/test_workflow.py fails\n"
        "     when this file and the code disagree. -->\n\n"
        "Every move is checked by `app.cases.workflow.decide` (state, then role, then\n"
        "evidence) and written to the case's flow log with the actor, device, opinion and\n"
        "photos. Terminal states: "
        + ", ".join(f"`{s.value}`" for s in sorted(workflow.TERMINAL))
        + ". The handling clock runs in "
        + ", ".join(f"`{s.value}`" for s in sorted(workflow.CLOCK_RUNNING))
        + "; it stops while `suspended`.\n\n"
        "```mermaid\n" + workflow.mermaid() + "```\n\n"
        "## Moves\n\n" + moves_table() + "\n## Requests\n\n"
        "Returns, extensions, suspensions, cancellations and self-handling are asked for by\n"
        "one role and applied only when a dispatcher approves them\n"
        "(`POST /api/v1/case-requests/{id}/decision`). A case has at most one pending\n"
        "request of each kind.\n\n" + requests_table() + RECORD.format(duties=duties_table())
    )
