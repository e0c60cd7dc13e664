"""The case state machine of the national practice, as data and one pure function.

Every move is an ``Action`` with the states it may start from, the state it leads to, the
roles allowed to make it and the evidence it needs. ``decide`` answers whether a move is
legal now and where it leads; services apply it and write the flow log. Requests
(returns, extensions, suspensions, cancellations, self-handling) are asked for by one role
and become actions only when a dispatcher approves them.

No Flask, no database: an import-linter contract keeps it that way.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable


class State(enum.StrEnum):
    REPORTED = "reported"  # 上报
    VERIFYING = "verifying"  # 待核实
    REJECTED = "rejected"  # 不予受理
    REGISTERED = "registered"  # 立案
    DISPATCHED = "dispatched"  # 派遣
    RETURNED = "returned"  # 回退
    HANDLING = "handling"  # 处置中
    SUSPENDED = "suspended"  # 挂账
    HANDLED = "handled"  # 处理反馈
    CHECKING = "checking"  # 核查
    CLOSED = "closed"  # 结案
    CANCELLED = "cancelled"  # 作废
    SELF_HANDLED = "self_handled"  # 自处理


TERMINAL = frozenset({State.REJECTED, State.CLOSED, State.CANCELLED, State.SELF_HANDLED})
OPEN = frozenset(State) - TERMINAL
# The handling deadline runs from filing until the handler's feedback; suspension stops it.
CLOCK_RUNNING = frozenset({State.REGISTERED, State.DISPATCHED, State.RETURNED, State.HANDLING})
# Counted as closed in the assessment figures.
CLOSED_STATES = frozenset({State.CLOSED, State.SELF_HANDLED})

DISPATCHER = "dispatcher"
HANDLER = "handler"
INSPECTOR = "inspector"
MERCHANT = "merchant"
CHIEFS = ("street_chief", "road_chief")
FIELD = (INSPECTOR, *CHIEFS)
REPORTERS = (*FIELD, MERCHANT, DISPATCHER)
# Who handles a dispatched case: a department's handler, or the responsible merchant of the
# shop whose frontage (门前三包) it is about, on a rectify (整改) task.
HANDLING = (HANDLER, MERCHANT)


class Evidence(enum.StrEnum):
    """What a move must carry."""

    CATEGORY = "category"  # the case has a category (立案 fixes it)
    # Whom to send it to: a handling department, or a shop whose merchant rectifies it.
    DEPARTMENT = "department"
    OPINION = "opinion"  # a written reason
    CLOSURE_PHOTO = "closure_photo"  # 销号图片 on the case
    CHECK_PHOTO = "check_photo"  # the inspector's re-photo, sent with this move
    CHECK_PASSED = "check_passed"  # an on-site check that matched


class Action(enum.StrEnum):
    SEND_VERIFY = "send_verify"
    RECORD_VERIFICATION = "record_verification"
    REGISTER = "register"
    REJECT = "reject"
    DISPATCH = "dispatch"
    ACCEPT = "accept"
    SUBMIT_CLOSURE = "submit_closure"
    SEND_CHECK = "send_check"
    CHECK_PASS = "check_pass"
    CHECK_FAIL = "check_fail"
    CLOSE = "close"
    RESUME = "resume"
    APPROVE_RETURN = "approve_return"
    APPROVE_SUSPENSION = "approve_suspension"
    APPROVE_EXTENSION = "approve_extension"
    APPROVE_CANCELLATION = "approve_cancellation"
    CONFIRM_SELF_HANDLE = "confirm_self_handle"
    MERGE = "merge"
    MAKE_SAFE = "make_safe"


@dataclasses.dataclass(frozen=True)
class Move:
    action: Action
    sources: frozenset[State]
    target: State | None  # None: the state does not change (a recorded step)
    roles: frozenset[str]
    needs: frozenset[Evidence] = frozenset()
    label: str = ""


def _move(action, sources: Iterable[State], target, roles: Iterable[str], needs=(), label=""):
    return Move(action, frozenset(sources), target, frozenset(roles), frozenset(needs), label)


S = State
E = Evidence
MOVES: dict[Action, Move] = {
    move.action: move
    for move in (
        _move(Action.SEND_VERIFY, [S.REPORTED], S.VERIFYING, [DISPATCHER], label="派核实"),
        _move(Action.RECORD_VERIFICATION, [S.VERIFYING], None, FIELD, label="核实结果"),
        _move(
            Action.REGISTER,
            [S.REPORTED, S.VERIFYING],
            S.REGISTERED,
            [DISPATCHER],
            [E.CATEGORY],
            "立案",
        ),
        _move(
            Action.REJECT,
            [S.REPORTED, S.VERIFYING],
            S.REJECTED,
            [DISPATCHER],
            [E.OPINION],
            "不予受理",
        ),
        _move(
            Action.MERGE,
            [S.REPORTED, S.VERIFYING, S.REGISTERED],
            S.REJECTED,
            [DISPATCHER],
            label="合并",
        ),
        _move(
            Action.DISPATCH,
            [S.REGISTERED, S.RETURNED],
            S.DISPATCHED,
            [DISPATCHER],
            [E.DEPARTMENT],
            "派遣",
        ),
        _move(Action.ACCEPT, [S.DISPATCHED], S.HANDLING, HANDLING, label="接收"),
        _move(
            Action.SUBMIT_CLOSURE, [S.HANDLING], S.HANDLED, HANDLING, [E.CLOSURE_PHOTO], "处理反馈"
        ),
        _move(Action.SEND_CHECK, [S.HANDLED], S.CHECKING, [DISPATCHER], label="派核查"),
        _move(Action.CHECK_PASS, [S.CHECKING], None, FIELD, [E.CHECK_PHOTO], "核查通过"),
        _move(
            Action.CHECK_FAIL, [S.CHECKING], S.DISPATCHED, FIELD, [E.CHECK_PHOTO, E.OPINION], "返工"
        ),
        _move(
            Action.CLOSE,
            [S.CHECKING],
            S.CLOSED,
            [DISPATCHER],
            [E.CLOSURE_PHOTO, E.CHECK_PASSED],
            "结案",
        ),
        _move(Action.RESUME, [S.SUSPENDED], S.HANDLING, [DISPATCHER, HANDLER], label="恢复"),
        _move(
            Action.APPROVE_RETURN,
            [S.DISPATCHED, S.HANDLING],
            S.RETURNED,
            [DISPATCHER],
            [E.OPINION],
            "回退",
        ),
        _move(
            Action.APPROVE_SUSPENSION, [S.HANDLING], S.SUSPENDED, [DISPATCHER], [E.OPINION], "挂账"
        ),
        _move(
            Action.APPROVE_EXTENSION,
            [S.REGISTERED, S.DISPATCHED, S.HANDLING],
            None,
            [DISPATCHER],
            [E.OPINION],
            "延期",
        ),
        _move(
            Action.APPROVE_CANCELLATION,
            [S.REGISTERED, S.DISPATCHED, S.RETURNED, S.HANDLING, S.SUSPENDED],
            S.CANCELLED,
            [DISPATCHER],
            [E.OPINION],
            "作废",
        ),
        _move(
            Action.CONFIRM_SELF_HANDLE,
            [S.REPORTED],
            S.SELF_HANDLED,
            [DISPATCHER],
            [E.CLOSURE_PHOTO],
            "自处理确认",
        ),
        # Two-stage categories (manhole covers, 私搭乱建): the first stage (arrive / make
        # safe / stop work) done, before the fix; the state does not change.
        _move(Action.MAKE_SAFE, [S.HANDLING], None, HANDLING, label="到场/处置安全"),
    )
}

# ---------------------------------------------------------------------------------------------
# The command centre's desk duties (DOMAIN.md: roles in the command centre). Every
# dispatcher move belongs to one duty; a dispatcher whose ``duty`` is set makes only the
# moves of that duty (a centre leader makes them all), one without a duty makes them all.

INTAKE_CLERK = "intake_clerk"  # 受理员
DISPATCHER_DUTY = "dispatcher"  # 派遣员
SHIFT_LEADER = "shift_leader"  # 值班长
CENTRE_LEADER = "centre_leader"  # 指挥中心领导
DUTIES = (INTAKE_CLERK, DISPATCHER_DUTY, SHIFT_LEADER, CENTRE_LEADER)
# Extensions are approvals (DOMAIN.md): the first by a shift leader, a second by a centre
# leader, each at most the category's composite limit; no third.
EXTENSION_DUTIES = (SHIFT_LEADER, CENTRE_LEADER)
MAX_EXTENSIONS = len(EXTENSION_DUTIES)

DUTY_OF: dict[Action, str] = {
    Action.SEND_VERIFY: INTAKE_CLERK,
    Action.SEND_CHECK: INTAKE_CLERK,
    Action.REJECT: INTAKE_CLERK,
    Action.MERGE: INTAKE_CLERK,
    Action.REGISTER: SHIFT_LEADER,
    Action.CLOSE: SHIFT_LEADER,
    Action.APPROVE_CANCELLATION: SHIFT_LEADER,
    Action.CONFIRM_SELF_HANDLE: SHIFT_LEADER,
    Action.DISPATCH: DISPATCHER_DUTY,
    Action.APPROVE_RETURN: DISPATCHER_DUTY,
    Action.APPROVE_SUSPENSION: DISPATCHER_DUTY,
    Action.RESUME: DISPATCHER_DUTY,
    Action.APPROVE_EXTENSION: SHIFT_LEADER,  # the first; see ``duty_of``
}


def duty_of(action: str, extensions_before: int = 0) -> str | None:
    """The desk duty a dispatcher's ``action`` belongs to (None: not a desk move). An
    extension's depends on how many were approved before: the first is a shift leader's,
    the second a centre leader's."""
    if action == Action.APPROVE_EXTENSION:
        return EXTENSION_DUTIES[min(extensions_before, MAX_EXTENSIONS - 1)]
    return DUTY_OF.get(action)


def check_duty(action: str, user_duty: str | None, extensions_before: int = 0) -> str | None:
    """The duty of ``action`` if a dispatcher with ``user_duty`` may make it now.

    Raises ``TransitionRefused``: ``too_many_extensions`` for a third extension,
    ``wrong_duty`` for a move of another duty (a second extension is a centre leader's,
    whatever the desk; a dispatcher without a duty makes every other move).
    """
    if action == Action.APPROVE_EXTENSION and extensions_before >= MAX_EXTENSIONS:
        raise TransitionRefused(
            "too_many_extensions",
            f"a case is extended at most {MAX_EXTENSIONS} times; it has been {extensions_before}",
        )
    duty = duty_of(action, extensions_before)
    if duty is None or user_duty in (CENTRE_LEADER, duty):
        return duty
    if user_duty is None and duty != CENTRE_LEADER:
        return duty
    raise TransitionRefused(
        "wrong_duty", f"{action} is a {duty}'s move; a {user_duty or 'desk dispatcher'} may not"
    )


class RequestKind(enum.StrEnum):
    RETURN = "return"  # 回退申请
    EXTENSION = "extension"  # 延期申请
    SUSPENSION = "suspension"  # 挂账申请
    CANCELLATION = "cancellation"  # 作废申请
    SELF_HANDLE = "self_handle"  # 自处理, confirmed by a dispatcher


@dataclasses.dataclass(frozen=True)
class RequestRule:
    kind: RequestKind
    sources: frozenset[State]
    roles: frozenset[str]
    approve: Action
    needs: frozenset[Evidence] = frozenset()


REQUESTS: dict[RequestKind, RequestRule] = {
    # "Not ours" / "not my frontage".
    RequestKind.RETURN: RequestRule(
        RequestKind.RETURN,
        frozenset({S.DISPATCHED, S.HANDLING}),
        frozenset(HANDLING),
        Action.APPROVE_RETURN,
        frozenset([E.OPINION]),
    ),
    RequestKind.EXTENSION: RequestRule(
        RequestKind.EXTENSION,
        frozenset({S.DISPATCHED, S.HANDLING}),
        frozenset([HANDLER]),
        Action.APPROVE_EXTENSION,
        frozenset([E.OPINION]),
    ),
    RequestKind.SUSPENSION: RequestRule(
        RequestKind.SUSPENSION,
        frozenset({S.HANDLING}),
        frozenset([HANDLER]),
        Action.APPROVE_SUSPENSION,
        frozenset([E.OPINION]),
    ),
    RequestKind.CANCELLATION: RequestRule(
        RequestKind.CANCELLATION,
        MOVES[Action.APPROVE_CANCELLATION].sources,
        frozenset([HANDLER, DISPATCHER, *FIELD]),
        Action.APPROVE_CANCELLATION,
        frozenset([E.OPINION]),
    ),
    RequestKind.SELF_HANDLE: RequestRule(
        RequestKind.SELF_HANDLE,
        frozenset({S.REPORTED}),
        frozenset(FIELD),
        Action.CONFIRM_SELF_HANDLE,
        frozenset([E.CLOSURE_PHOTO]),
    ),
}


class TransitionRefused(Exception):
    """A move that is not legal now. ``reason`` is a stable code; the message explains."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _check_evidence(needs: frozenset[Evidence], present: Iterable[Evidence], what: str) -> None:
    missing = sorted(needs - set(present))
    if missing:
        raise TransitionRefused(f"missing_{missing[0]}", f"{what} needs {', '.join(missing)}")


def decide(action: str, state: str, role: str, evidence: Iterable[Evidence] = ()) -> State:
    """The state ``action`` leads to from ``state`` when made by ``role`` with ``evidence``.

    Raises ``TransitionRefused`` with reason ``unknown_action``, ``wrong_state``,
    ``wrong_role`` or ``missing_<evidence>``: checked in that order, so a stale move from a
    phone is refused for its state before anything else.
    """
    try:
        move = MOVES[Action(action)]
    except ValueError:
        raise TransitionRefused("unknown_action", f"no such action {action!r}") from None
    current = State(state)
    if current not in move.sources:
        raise TransitionRefused(
            "wrong_state", f"{move.action.value} is not possible from {current.value}"
        )
    if role not in move.roles:
        raise TransitionRefused("wrong_role", f"a {role} may not {move.action.value}")
    _check_evidence(move.needs, evidence, move.action.value)
    return move.target or current


def may_request(kind: str, state: str, role: str, evidence: Iterable[Evidence] = ()) -> RequestRule:
    """Whether ``role`` may ask for ``kind`` on a case in ``state``; the rule if so."""
    try:
        rule = REQUESTS[RequestKind(kind)]
    except ValueError:
        raise TransitionRefused("unknown_request", f"no such request {kind!r}") from None
    if State(state) not in rule.sources:
        raise TransitionRefused("wrong_state", f"a {kind} request is not possible from {state}")
    if role not in rule.roles:
        raise TransitionRefused("wrong_role", f"a {role} may not request {kind}")
    _check_evidence(rule.needs, evidence, f"a {kind} request")
    return rule


def available_actions(state: str, role: str) -> list[Action]:
    """The moves ``role`` could make from ``state`` (evidence permitting)."""
    return [m.action for m in MOVES.values() if State(state) in m.sources and role in m.roles]


def mermaid() -> str:
    """The state machine as a Mermaid state diagram, generated from ``MOVES``."""
    lines = ["stateDiagram-v2", "    [*] --> reported: report 上报"]
    for move in MOVES.values():
        for source in sorted(move.sources):
            target = move.target or source
            roles = "/".join(sorted(move.roles))
            lines.append(
                f"    {source.value} --> {target.value}: {move.action.value} {move.label} ({roles})"
            )
    for state in sorted(TERMINAL):
        lines.append(f"    {state.value} --> [*]")
    return "\n".join(lines) + "\n"
