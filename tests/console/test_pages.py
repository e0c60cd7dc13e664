"""The dispatcher's pages with the test client: queues and their filters, the live
fragment, the case page and its actions (the same services as the API), the maps."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from app.cases.models import Case
from tests import case_factories as cf
from tests.console.support import post_form, sign_in


@pytest.fixture
def cw(session, world):
    return cf.make_case_world(session, world)


@pytest.fixture
def desk(client, world):
    sign_in(client, world.users["dispatcher"].username)
    return client


def _html(response) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return response.get_data(as_text=True)


def test_queues_show_new_reports_with_counts_and_filters(desk, client, auth, cw):
    a = cf.report(client, auth("inspector"), cw.category)
    b = cf.report(client, auth("inspector"), cw.other_category, location=cf.cell(2, 0))
    html = _html(desk.get("/console/queues"))
    assert a["number"] in html and b["number"] in html
    assert 'data-count="to_accept">2<' in html
    html = _html(desk.get(f"/console/queues?number={a['number']}"))
    assert a["number"] in html and b["number"] not in html
    html = _html(desk.get(f"/console/queues?category_id={cw.other_category.id}"))
    assert b["number"] in html and a["number"] not in html
    html = _html(desk.get("/console/queues?grid_code=350203001001007"))
    assert b["number"] in html and a["number"] not in html
    html = _html(desk.get("/console/queues?grid_code=oops"))
    assert "筛选条件有误" in html and a["number"] in html
    cf.act(client, auth("dispatcher"), b["id"], "register")
    live = desk.get("/console/queues/live?queue=to_dispatch").get_json()
    assert live["ids"] == [b["id"]]
    assert live["counts"]["to_accept"] == 1 and live["counts"]["to_dispatch"] == 1
    assert b["number"] in live["rows"]


def test_a_dispatcher_files_and_dispatches_from_the_case_page(desk, client, auth, cw, session):
    created = cf.report(client, auth("inspector"), cw.category)
    page = f"/console/cases/{created['id']}"
    html = _html(desk.get(page))
    assert created["number"] in html and 'id="form-register"' in html
    response = post_form(desk, f"{page}/move", {"action": "register"}, page)
    assert response.status_code == 303
    html = _html(desk.get(page))
    assert "已立案" in html and 'id="form-dispatch"' in html
    department = cw.world.department
    post_form(desk, f"{page}/move", {"action": "dispatch", "department_id": department.id}, page)
    html = _html(desk.get(page))
    assert "已派遣" in html and department.name in html
    case = session.scalar(sa.select(Case).where(Case.id == uuid.UUID(created["id"])))
    session.refresh(case)
    assert case.state == "dispatched" and case.department_id == department.id


def test_a_refused_move_says_why_and_changes_nothing(desk, client, auth, cw, session):
    created = cf.report(client, auth("inspector"), cw.category)
    page = f"/console/cases/{created['id']}"
    post_form(desk, f"{page}/move", {"action": "close"}, page)
    html = _html(desk.get(page))
    assert "操作未完成" in html
    case = session.get(Case, uuid.UUID(created["id"]))
    session.refresh(case)
    assert case.state == "reported"


def test_the_case_map_and_the_city_map(desk, client, auth, cw):
    created = cf.report(client, auth("inspector"), cw.category)
    layers = desk.get(f"/console/cases/{created['id']}/map").get_json()
    assert layers["case"]["properties"]["number"] == created["number"]
    assert any(f["properties"]["current"] for f in layers["grids"]["features"])
    start = desk.get(f"/console/map/data?street_id={cw.world.street.id}").get_json()
    west, south, east, north = start["extent"]
    data = desk.get(f"/console/map/data?bbox={west},{south},{east},{north}").get_json()
    assert [f["properties"]["number"] for f in data["cases"]["features"]] == [created["number"]]
    assert len(data["grids"]["features"]) == 9
    wide = desk.get("/console/map/data?bbox=100,20,120,30").get_json()
    assert wide["cases"]["features"] == [] and "范围过大" in wide["note"]
    assert desk.get("/console/map/data?bbox=1,2,3").status_code == 422


def test_a_long_queue_is_counted_up_to_the_cap(desk, client, auth, cw, monkeypatch):
    """The "all" tab of a city holds a million cases: it is counted up to ``COUNT_CAP`` and
    shown as "N+" (the live poll says ``more``); a queue under the cap is counted exactly."""
    from app.console import services

    numbers = [cf.report(client, auth("inspector"), cw.category)["number"] for _ in range(3)]
    monkeypatch.setattr(services, "COUNT_CAP", 2)
    html = _html(desk.get("/console/queues?queue=all"))
    assert "共 2+ 件" in html and "第 1 / 1 页" in html
    assert sum(number in html for number in numbers) == 3  # the page itself is not cut
    live = desk.get("/console/queues/live?queue=all").get_json()
    assert live["total"] == 2 and live["more"] is True
    monkeypatch.setattr(services, "COUNT_CAP", 3)
    html = _html(desk.get("/console/queues?queue=all"))
    assert "共 3 件" in html
    assert desk.get("/console/queues/live?queue=all").get_json()["more"] is False
