"""The desk duties of the command centre as data (``workflow.DUTY_OF``, ``check_duty``)."""

from __future__ import annotations

import pytest

from app.accounts.models import DUTY_VALUES
from app.cases import workflow


@pytest.mark.parametrize("user_duty", [None, *workflow.DUTIES])
@pytest.mark.parametrize("action", sorted(workflow.DUTY_OF))
def test_the_permission_matrix_of_duties(action, user_duty):
    """Every desk move against every desk: its own duty, a centre leader, or no duty."""
    duty = workflow.DUTY_OF[action]
    allowed = user_duty in (None, workflow.CENTRE_LEADER, duty)
    if allowed:
        assert workflow.check_duty(action, user_duty) == duty
    else:
        with pytest.raises(workflow.TransitionRefused) as refused:
            workflow.check_duty(action, user_duty)
        assert refused.value.reason == "wrong_duty"


def test_every_dispatcher_move_has_a_duty():
    dispatcher_moves = {
        a for a, move in workflow.MOVES.items() if workflow.DISPATCHER in move.roles
    }
    assert dispatcher_moves == set(workflow.DUTY_OF)
    assert set(workflow.DUTIES) == set(DUTY_VALUES)


def test_extensions_need_a_shift_leader_then_a_centre_leader_and_stop_at_two():
    extend = workflow.Action.APPROVE_EXTENSION
    for desk in (None, workflow.SHIFT_LEADER, workflow.CENTRE_LEADER):
        assert workflow.check_duty(extend, desk, 0) == workflow.SHIFT_LEADER
    for desk in (workflow.INTAKE_CLERK, workflow.DISPATCHER_DUTY):
        with pytest.raises(workflow.TransitionRefused):
            workflow.check_duty(extend, desk, 0)
    assert workflow.check_duty(extend, workflow.CENTRE_LEADER, 1) == workflow.CENTRE_LEADER
    for desk in (None, workflow.SHIFT_LEADER, workflow.DISPATCHER_DUTY, workflow.INTAKE_CLERK):
        with pytest.raises(workflow.TransitionRefused) as refused:
            workflow.check_duty(extend, desk, 1)
        assert refused.value.reason == "wrong_duty"
    with pytest.raises(workflow.TransitionRefused) as refused:
        workflow.check_duty(extend, workflow.CENTRE_LEADER, 2)
    assert refused.value.reason == "too_many_extensions"


def test_moves_of_other_roles_have_no_duty():
    for action in ("accept", "submit_closure", "check_pass", "make_safe", "record_verification"):
        assert workflow.check_duty(action, workflow.INTAKE_CLERK) is None
