"""The case rules that need no database: what each action does has a handler, which moves
completing a task means, and the rows a new report writes."""

from __future__ import annotations

import datetime as dt
import types
import uuid

import pytest

from app.cases.frontage import Binding
from app.cases.move_effects import EFFECTS
from app.cases.reports import (
    REPORTED_COLUMNS,
    Intake,
    NewReport,
    check_report,
    report_rows,
)
from app.cases.task_progress import completion_steps
from app.cases.workflow import Action, State
from app.core.errors import ValidationFailed

NOW = dt.datetime(2026, 11, 22, 1, 0, tzinfo=dt.UTC)


def test_every_action_has_its_effect():
    assert set(EFFECTS) == set(Action)


@pytest.mark.parametrize(
    ("kind", "state", "result", "steps"),
    [
        ("handle", "dispatched", None, [Action.ACCEPT, Action.SUBMIT_CLOSURE]),
        ("handle", "handling", None, [Action.SUBMIT_CLOSURE]),
        ("rectify", "dispatched", "pass", [Action.ACCEPT, Action.SUBMIT_CLOSURE]),
        ("verify", "verifying", "fail", [Action.RECORD_VERIFICATION]),
        ("check", "checking", "pass", [Action.CHECK_PASS]),
        ("check", "checking", "fail", [Action.CHECK_FAIL]),
    ],
)
def test_completing_a_task_means_its_moves(kind, state, result, steps):
    case = types.SimpleNamespace(state=state)
    task = types.SimpleNamespace(kind=kind)
    assert completion_steps(case, task, result) == steps


@pytest.mark.parametrize("kind", ["verify", "check"])
def test_completing_an_inspection_needs_its_verdict(kind):
    with pytest.raises(ValidationFailed) as refused:
        completion_steps(
            types.SimpleNamespace(state="checking"), types.SimpleNamespace(kind=kind), None
        )
    assert refused.value.errors == {"result": ["pass or fail"]}


def _report(**overrides) -> NewReport:
    fields = {
        "case_id": uuid.UUID(int=1, version=4),
        "category": {"code": "0102"},
        "description": "  路边暴露垃圾 ",
        "location": {"lat": 24.47, "lon": 118.08},
        "photos": [
            {"photo_id": uuid.UUID(int=2, version=4), "sha256": "a" * 64},
            {"photo_id": uuid.UUID(int=2, version=4), "sha256": "a" * 64},
        ],
    }
    return NewReport(**{**fields, **overrides})


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"urgency": "soon", "description": ""}, "urgency"),
        ({"description": "  ", "location": {}}, "description"),
        ({"location": {"lat": 124.0, "lon": 118.0}}, "location"),
        ({"photos": [{"photo_id": uuid.uuid4(), "sha256": "a" * 64, "kind": "closure"}]}, "photos"),
    ],
)
def test_a_report_is_checked_in_the_order_the_api_answers(overrides, field):
    with pytest.raises(ValidationFailed) as refused:
        check_report(_report(**overrides))
    assert field in refused.value.errors


def test_a_new_report_writes_its_case_first_flow_entry_reporter_and_photo_links():
    reporter = types.SimpleNamespace(id=7, role="inspector")
    located = types.SimpleNamespace(
        lat=24.47,
        lon=118.08,
        status="near_boundary",
        input={"lat": 24.47, "lon": 118.08, "crs": "wgs84"},
        grid=types.SimpleNamespace(id=3, code="350203001001001"),
        community=types.SimpleNamespace(id=11),
        street=types.SimpleNamespace(id=10),
        roads=[],
        candidates=[],
    )
    binding = Binding(shop_id=2)  # app.cases.frontage decided it: the shop's frontage
    checked = check_report(_report())
    rows = report_rows(
        checked,
        Intake(reporter, "inspector", 5, located),
        number="35020320261122" + "00001",
        binding=binding,
        device_id="phone",
        now=NOW,
    )
    case_id = checked.report.case_id
    photo_id = uuid.UUID(int=2, version=4)
    assert {name: rows.case[name] for name in REPORTED_COLUMNS} == {
        "reporter_id": 7,
        "category_id": 5,
        "description": "路边暴露垃圾",
        "address": "",
        "urgency": "normal",
        "source": "inspector",
        "input_crs": "wgs84",
        "lat": 24.47,
        "lon": 118.08,
    }
    assert rows.case["state"] == State.REPORTED and rows.case["version"] == 1
    assert rows.case["routing"] == "needs_confirmation" and rows.case["grid_id"] == 3
    assert rows.case["shop_id"] == 2 and rows.case["frontage_flag"] is None
    assert rows.reporter == {"case_id": case_id, "user_id": 7, "original_case_id": case_id}
    assert rows.photos == [
        {
            "case_id": case_id,
            "photo_id": photo_id,
            "kind": "problem",
            "added_by": 7,
            "added_at": NOW,
        }
    ]
    assert rows.flow["seq"] == 1 and rows.flow["action"] == "report"
    assert (rows.flow["from_state"], rows.flow["to_state"]) == (None, State.REPORTED)
    assert rows.flow["photo_ids"] == [str(photo_id)] and rows.flow["device_id"] == "phone"
    assert rows.routing_gap["locate_status"] == "near_boundary"
