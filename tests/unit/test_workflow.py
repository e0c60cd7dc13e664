"""The case state machine, exhaustively: every action × state × role, evidence, requests."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from app.cases import diagram, workflow
from app.cases.workflow import (
    MOVES,
    REQUESTS,
    TERMINAL,
    Action,
    Evidence,
    RequestKind,
    State,
    TransitionRefused,
    decide,
    may_request,
)

ROLES = ("inspector", "street_chief", "road_chief", "dispatcher", "handler", "merchant", "admin")
ALL_EVIDENCE = frozenset(Evidence)
DOC = Path(__file__).resolve().parents[2] / "docs" / "case-workflow.md"

CASES = list(itertools.product(Action, State, ROLES))


@pytest.mark.parametrize(("action", "state", "role"), CASES)
def test_a_move_is_legal_iff_listed(action, state, role):
    move = MOVES[action]
    if state in move.sources and role in move.roles:
        assert decide(action, state, role, ALL_EVIDENCE) == (move.target or state)
    else:
        with pytest.raises(TransitionRefused) as refused:
            decide(action, state, role, ALL_EVIDENCE)
        expected = "wrong_state" if state not in move.sources else "wrong_role"
        assert refused.value.reason == expected


@pytest.mark.parametrize("action", list(Action))
def test_every_piece_of_evidence_is_required(action):
    move = MOVES[action]
    state = sorted(move.sources)[0]
    role = sorted(move.roles)[0]
    for missing in move.needs:
        with pytest.raises(TransitionRefused) as refused:
            decide(action, state, role, ALL_EVIDENCE - {missing})
        assert refused.value.reason.startswith("missing_")
    if not move.needs:
        assert decide(action, state, role, ()) == (move.target or state)


def test_state_is_checked_before_role_before_evidence():
    with pytest.raises(TransitionRefused) as refused:
        decide("close", "reported", "merchant", ())
    assert refused.value.reason == "wrong_state"
    with pytest.raises(TransitionRefused) as refused:
        decide("close", "checking", "merchant", ())
    assert refused.value.reason == "wrong_role"
    with pytest.raises(TransitionRefused) as refused:
        decide("close", "checking", "dispatcher", [Evidence.CLOSURE_PHOTO])
    assert refused.value.reason == "missing_check_passed"


def test_unknown_action_is_refused():
    with pytest.raises(TransitionRefused) as refused:
        decide("teleport", "reported", "dispatcher")
    assert refused.value.reason == "unknown_action"


@pytest.mark.parametrize("state", sorted(TERMINAL))
def test_terminal_states_have_no_way_out(state):
    for action, role in itertools.product(Action, ROLES):
        with pytest.raises(TransitionRefused):
            decide(action, state, role, ALL_EVIDENCE)
    for kind, role in itertools.product(RequestKind, ROLES):
        with pytest.raises(TransitionRefused):
            may_request(kind, state, role, ALL_EVIDENCE)


def test_every_open_state_is_reachable_and_can_end():
    reachable = {State.REPORTED}
    frontier = [State.REPORTED]
    while frontier:
        state = frontier.pop()
        for move in MOVES.values():
            if state in move.sources and move.target and move.target not in reachable:
                reachable.add(move.target)
                frontier.append(move.target)
    assert reachable == set(State)
    for state in workflow.OPEN:
        assert any(state in move.sources for move in MOVES.values()), state


def test_the_rules_of_the_brief():
    assert (
        decide("check_fail", "checking", "inspector", [Evidence.CHECK_PHOTO, Evidence.OPINION])
        == State.DISPATCHED
    )
    assert Evidence.CLOSURE_PHOTO in MOVES[Action.SUBMIT_CLOSURE].needs
    assert {Evidence.CLOSURE_PHOTO, Evidence.CHECK_PASSED} <= MOVES[Action.CLOSE].needs
    assert Evidence.CHECK_PHOTO in MOVES[Action.CHECK_PASS].needs
    assert State.SUSPENDED not in workflow.CLOCK_RUNNING
    # Returns, extensions, suspensions and cancellations are only ever approved by a dispatcher.
    for rule in REQUESTS.values():
        assert MOVES[rule.approve].roles == {"dispatcher"}
        assert rule.sources <= MOVES[rule.approve].sources


def test_a_merchant_rectifies_what_a_handler_handles_and_nothing_else():
    """门前三包: a case dispatched to a shop is accepted, closed off and (when it is not
    their frontage) asked back by its merchant, like a handler; the rest stays out of reach."""
    assert MOVES[Action.ACCEPT].roles == {"handler", "merchant"}
    assert MOVES[Action.SUBMIT_CLOSURE].roles == {"handler", "merchant"}
    assert REQUESTS[RequestKind.RETURN].roles == {"handler", "merchant"}
    assert decide("accept", "dispatched", "merchant") == State.HANDLING
    assert (
        decide("submit_closure", "handling", "merchant", [Evidence.CLOSURE_PHOTO]) == State.HANDLED
    )
    with pytest.raises(TransitionRefused) as refused:
        decide("submit_closure", "handling", "merchant", ())
    assert refused.value.reason == "missing_closure_photo"
    assert may_request("return", "handling", "merchant", [Evidence.OPINION]).approve == (
        Action.APPROVE_RETURN
    )
    merchant_moves = {a for a in Action if "merchant" in MOVES[a].roles}
    # … and, on a two-stage case (私搭乱建 at a shop: stop work first), its first stage.
    assert merchant_moves == {Action.ACCEPT, Action.SUBMIT_CLOSURE, Action.MAKE_SAFE}
    merchant_requests = {k for k in RequestKind if "merchant" in REQUESTS[k].roles}
    assert merchant_requests == {RequestKind.RETURN}
    # The check that closes a rectified case is still an inspector's, the close a dispatcher's.
    assert "merchant" not in MOVES[Action.CHECK_PASS].roles
    assert MOVES[Action.DISPATCH].roles == {"dispatcher"}


REQUEST_CASES = list(itertools.product(RequestKind, State, ROLES))


@pytest.mark.parametrize(("kind", "state", "role"), REQUEST_CASES)
def test_a_request_is_possible_iff_listed(kind, state, role):
    rule = REQUESTS[kind]
    if state in rule.sources and role in rule.roles:
        assert may_request(kind, state, role, ALL_EVIDENCE) is rule
        for missing in rule.needs:
            with pytest.raises(TransitionRefused) as refused:
                may_request(kind, state, role, ALL_EVIDENCE - {missing})
            assert refused.value.reason == f"missing_{missing.value}"
    else:
        with pytest.raises(TransitionRefused) as refused:
            may_request(kind, state, role, ALL_EVIDENCE)
        assert refused.value.reason == (
            "wrong_state" if state not in rule.sources else "wrong_role"
        )


def test_unknown_request_is_refused():
    with pytest.raises(TransitionRefused) as refused:
        may_request("holiday", "handling", "handler")
    assert refused.value.reason == "unknown_request"


def test_available_actions_match_decide():
    for state, role in itertools.product(State, ROLES):
        listed = set(workflow.available_actions(state, role))
        legal = {a for a in Action if state in MOVES[a].sources and role in MOVES[a].roles}
        assert listed == legal


def test_mermaid_has_an_edge_per_move_and_source():
    text = workflow.mermaid()
    edges = [line for line in text.splitlines() if "-->" in line and "[*]" not in line]
    assert len(edges) == sum(len(move.sources) for move in MOVES.values())
    for state in TERMINAL:
        assert f"    {state.value} --> [*]" in text


def test_the_docs_page_is_exactly_the_generated_one():
    """Regenerate with: flask cases diagram --markdown > docs/case-workflow.md"""
    text = DOC.read_text("utf-8")
    assert text == diagram.markdown()
    assert "```mermaid\n" + workflow.mermaid() + "```" in text
