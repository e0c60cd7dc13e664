"""Property tests of hostile input (issue 11): every string and number of every mutation
type and of the main REST bodies, replaced one at a time by a hostile value
(``tests.hostile_strategies``), on SQLite and PostgreSQL.

What must hold for every example:
- never a 5xx;
- a value no field may hold (NUL, lone surrogate, integer past 64 bits) is refused: 422 on
  REST, ``rejected validation`` in a push; a value the declared shape refuses likewise;
- in a push the bad mutation is decided alone: the mutations after it are applied, the
  same push again is all duplicates and a good mutation after it is applied (no stuck
  queue); a value the shape accepts is never ``apply_failed``, and free text the shape
  accepts is stored;
- the same answer on both databases: every answer is recorded under a stable name of its
  example (examples are derandomized, so both databases see the same ones) and the last
  test compares them.
"""

from __future__ import annotations

import urllib.parse
import uuid
from typing import Any

import pytest
from hypothesis import given, seed

from app.extensions import db
from sync.checks import parse_timestamp, parse_uuid
from sync.mutation_types import SPECS
from tests import case_factories as cf
from tests import factories
from tests import hostile_strategies as hs
from tests.push_factories import T0

PROPERTY = hs.PROPERTY
SHAPE_REASONS = {
    "validation",
    "unknown_type",
    "invalid_entity_id",
    "invalid_base_version",
    "invalid_client_ts",
    "invalid_args",
}
FREE_TEXT = {
    ("args", "description"),
    ("args", "address"),
    ("args", "note"),
    ("args", "text"),
    ("args", "fields", "description", "new"),
    ("args", "fields", "address", "new"),
}


def record(name: str, answer: Any) -> None:
    hs.record(db.engine.dialect.name, name, answer)


@pytest.fixture
def cw(session, world):
    return cf.make_case_world(session, world)


class Queue:
    """One phone's queue of mutations: ``mutation`` numbers them, ``push`` sends them."""

    def __init__(self, client, user, device_id: str):
        self.client = client
        self.user = user
        self.device_id = device_id
        self.phones = 0
        self.sign_in()

    def sign_in(self) -> None:
        self.phones += 1
        self.device_id = f"{self.device_id.split('#')[0]}#{self.phones}"
        self.headers = factories.login_headers(
            self.client, self.user.username, device_id=self.device_id
        )
        self.mid = 0
        self.decided = 0  # the last mid the server decided

    def restart(self) -> None:
        """After an example that failed half-way (mids numbered and not all decided), go
        on with a new phone, so that the examples Hypothesis tries next start clean."""
        if self.mid != self.decided:
            self.sign_in()

    def mutation(self, type_: str, entity_id, args: dict, base=None) -> dict:
        self.mid += 1
        return {
            "mid": self.mid,
            "type": type_,
            "entity_id": str(entity_id),
            "base_version": base,
            "args": args,
            "client_ts": T0.isoformat(),
        }

    def push(self, mutations: list[dict]):
        body = {"device_id": self.device_id, "mutations": mutations}
        response = self.client.post(
            "/api/v1/sync/push",
            data=hs.as_json(body),
            content_type="application/json",
            headers=self.headers,
        )
        if response.status_code == 200:
            self.decided = max(self.decided, response.get_json()["last_mid"] or 0)
        return response


def _report_args(**overrides) -> dict:
    photo = {**cf.photo("problem"), "taken_at": T0.isoformat(), "lat": 24.4801, "lon": 118.0801}
    args = {
        "category_code": "06010",
        "category_kind": "event",
        "category_edition": "gbt47678",
        "description": "路边暴露垃圾",
        "address": "中山路 1 号",
        "location": cf.cell(0, 0),
        "urgency": "normal",
        "photos": [photo],
    }
    return {**args, **overrides}


def _with_case(queue: Queue) -> tuple[list[dict], str]:
    case_id = str(uuid.uuid4())
    return [queue.mutation("report.create", case_id, _report_args())], case_id


def _comment(queue: Queue, case_id: str) -> dict:
    return queue.mutation("comment.add", uuid.uuid4(), {"case_id": case_id, "text": "看这里"})


# Each scenario: (role, make) where make(queue, context) → (setup mutations, the target
# mutation, a builder of good mutations that follow it). The target is valid as built.
def _report_create(queue, _context):
    before, case_id = _with_case(queue)
    target = queue.mutation("report.create", uuid.uuid4(), _report_args())
    return before, target, lambda: _comment(queue, case_id)


def _case_edit(queue, _context):
    before, case_id = _with_case(queue)
    fields = {
        "description": {"base": "路边暴露垃圾", "new": "路边暴露垃圾较多"},
        "address": {"base": "中山路 1 号", "new": "中山路 3 号"},
        "location": {"base": cf.cell(0, 0), "new": cf.cell(0, 1)},
        "category_code": {"base": "06010", "new": "06010"},
    }
    args = {"fields": fields, "category_kind": "event", "category_edition": "gbt47678"}
    target = queue.mutation("case.edit", case_id, args, base=1)
    return before, target, lambda: _comment(queue, case_id)


def _self_handle(queue, _context):
    before, case_id = _with_case(queue)
    photo = {**cf.photo("closure"), "taken_at": T0.isoformat(), "lat": 24.48, "lon": 118.08}
    target = queue.mutation("case.self_handle", case_id, {"note": "已当场清理", "photos": [photo]})
    return before, target, lambda: _comment(queue, case_id)


def _photo_attach(queue, _context):
    before, case_id = _with_case(queue)
    photo = cf.photo("problem")
    args = {
        "case_id": case_id,
        "sha256": photo["sha256"],
        "kind": "problem",
        "taken_at": T0.isoformat(),
        "location": cf.cell(0, 0),
    }
    target = queue.mutation("photo.attach", photo["photo_id"], args)
    return before, target, lambda: _comment(queue, case_id)


def _comment_add(queue, _context):
    before, case_id = _with_case(queue)
    return before, _comment(queue, case_id), lambda: _comment(queue, case_id)


def _selfcheck(shop_id: int, note: str = "门前已清扫") -> dict:
    return {
        "shop_id": shop_id,
        "sanitation": "ok",
        "order": "issue",
        "greenery": "ok",
        "note": note,
        "photos": [cf.photo("selfcheck")],
    }


def _selfcheck_create(queue, context):
    shop_id = context["shop"].id
    target = queue.mutation("selfcheck.create", uuid.uuid4(), _selfcheck(shop_id))
    return [], target, lambda: queue.mutation("selfcheck.create", uuid.uuid4(), _selfcheck(shop_id))


def _task_update(queue, context):
    client, auth, cw = context["client"], context["auth"], context["cw"]
    created = cf.report(client, auth("inspector"), cw.category)
    cf.act(client, auth("dispatcher"), created["id"], "register")
    detail = cf.act(
        client, auth("dispatcher"), created["id"], "dispatch", department_id=cw.world.department.id
    )
    task = cf.open_task(detail, "handle")
    args = {
        "action": "complete",
        "result": None,
        "note": "已清理",
        "photos": [cf.photo("closure")],
        "extension_amount": None,
    }
    target = queue.mutation("task.update", task["id"], args, base=0)
    return [], target, lambda: _comment(queue, created["id"])


SCENARIOS = {
    "report.create": ("inspector", _report_create),
    "case.edit": ("inspector", _case_edit),
    "task.update": ("handler", _task_update),
    "case.self_handle": ("inspector", _self_handle),
    "photo.attach": ("inspector", _photo_attach),
    "comment.add": ("inspector", _comment_add),
    "selfcheck.create": ("merchant", _selfcheck_create),
}


def test_every_mutation_type_has_a_hostile_scenario():
    assert set(SCENARIOS) == set(SPECS)


@pytest.fixture
def scenario(request, client, auth, cw, session):
    """(queue, make, context) of the mutation type the test is parametrized with."""
    role, make = SCENARIOS[request.param]
    context = {"client": client, "auth": auth, "cw": cw}
    if role == "merchant":
        context["shop"] = cf.make_shop(session, cw.world, cw.users["merchant"])
    context["name"] = request.param
    return Queue(client, cw.users[role], f"fuzz-{role}"), make, context


def _shape_refused(entry: dict) -> bool:
    """Whether the declared shape refuses ``entry`` (envelope rules of API.md and the
    args table of ``sync.mutation_types``)."""
    spec = SPECS.get(entry["type"]) if isinstance(entry["type"], str) else None
    base = entry["base_version"]
    return (
        spec is None
        or parse_uuid(entry["entity_id"]) is None
        or (base is not None and (isinstance(base, bool) or not isinstance(base, int) or base < 0))
        or parse_timestamp(entry["client_ts"]) is None
        or not isinstance(entry["args"], dict)
        or spec.args(entry["args"]) is not None
    )


def _outcomes(response) -> list[tuple[str, str | None]]:
    assert response.status_code == 200, (response.status_code, response.get_json())
    return [(r["status"], r["reason"]) for r in response.get_json()["results"]]


def _check_target(outcome: tuple[str, str | None], entry: dict, path: hs.Path) -> None:
    status, reason = outcome
    if hs.unsafe(entry):
        assert outcome == ("rejected", "validation")
    elif _shape_refused(entry):
        assert status == "rejected" and reason in SHAPE_REASONS, outcome
    else:
        assert reason not in SHAPE_REASONS | {"apply_failed"}, outcome
        assert status in ("applied", "merged", "conflict", "rejected"), outcome
        if path in FREE_TEXT:  # stored (an edit merged with the case's other fields)
            assert status in ("applied", "merged"), outcome


@pytest.mark.parametrize("scenario", sorted(SCENARIOS), indirect=True)
@given(data=hs.st.data())
@seed(hs.SEED)
@PROPERTY
def test_a_hostile_value_in_a_mutation_rejects_it_alone_and_the_queue_moves_on(scenario, data):
    queue, make, context = scenario
    queue.restart()
    before, target, good = make(queue, context)
    path, value = data.draw(hs.one_leaf_replaced(target, skip=frozenset({"mid"})), label="leaf")
    target = hs.replaced(target, path, value)
    after = good()
    sent = [*before, target, after]
    first = _outcomes(queue.push(sent))
    assert first[: len(before)] == [("applied", None)] * len(before)
    _check_target(first[len(before)], target, path)
    assert first[-1] == ("applied", None), first
    again = _outcomes(queue.push([*sent, good()]))
    assert [s for s, _ in again[:-1]] == ["duplicate"] * len(sent), again
    assert again[-1] == ("applied", None), again
    record(hs.example_key(context["name"], path, value), (first, again))


@pytest.mark.parametrize("type_", [[], {}, ["comment.add"], {"a": 1}], ids=repr)
def test_a_mutation_whose_type_is_not_a_string_is_rejected_alone(client, cw, type_):
    queue = Queue(client, cw.users["inspector"], "fuzz-type")
    before, case_id = _with_case(queue)
    odd = queue.mutation("comment.add", uuid.uuid4(), {"case_id": case_id, "text": "看"})
    odd["type"] = type_
    sent = [*before, odd, _comment(queue, case_id)]
    assert _outcomes(queue.push(sent)) == [
        ("applied", None),
        ("rejected", "unknown_type"),
        ("applied", None),
    ]
    assert [s for s, _ in _outcomes(queue.push(sent))] == ["duplicate"] * 3


@pytest.mark.parametrize(
    "moment", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"], ids=["min", "max"]
)
def test_a_timestamp_past_the_calendar_in_utc_is_refused_not_a_5xx(client, cw, auth, moment):
    queue = Queue(client, cw.users["inspector"], "fuzz-ts")
    before, case_id = _with_case(queue)
    odd = _comment(queue, case_id)
    odd["client_ts"] = moment
    sent = [*before, odd, _comment(queue, case_id)]
    assert _outcomes(queue.push(sent)) == [
        ("applied", None),
        ("rejected", "invalid_client_ts"),
        ("applied", None),
    ]
    comment = client.post(
        f"/api/v1/cases/{case_id}/comments",
        json={"text": "看", "client_ts": moment},
        headers=auth("inspector"),
    )
    assert comment.status_code == 422, comment.get_json()
    assert "client_ts" in comment.get_json()["errors"]["json"]
    since = client.get(
        f"/api/v1/cases?reported_from={urllib.parse.quote(moment)}", headers=auth("dispatcher")
    )
    assert since.status_code == 422, since.get_json()
