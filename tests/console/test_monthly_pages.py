"""The monthly pages with the test client: the 两图一表 ledger (rows, scopes by name,
downloads, exports), the 考评 rankings (table, bars, trend, publishing) and the chiefs'
board. Each page shows what the services answer, for the roles the API allows."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest
import sqlalchemy as sa

from app.assessment import services as assessment
from app.assessment.models import AssessmentPublication
from app.cases.models import Case
from app.console import charts
from app.core.clock import utcnow
from app.ledger.models import Export
from tests import case_factories as cf
from tests import ledger_factories as lf
from tests.assessment_builder import Builder, local
from tests.console.support import post_form, sign_in


@pytest.fixture
def cw(session, world):
    return cf.make_case_world(session, world)


@pytest.fixture
def closed(client, auth, cw):
    """Two cases closed today in world's street (with their photos), one open case."""
    first = lf.closed_case(client, auth, cw)
    second = lf.closed_case(client, auth, cw, address="中山路 9 号")
    open_case = cf.report(client, auth("inspector"), cw.category)
    return [first, second, open_case]


def _html(response) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)[:3000]
    return response.get_data(as_text=True)


def _month() -> str:
    return lf.today()[:7]


def _as(client, world, role: str):
    sign_in(client, world.users[role].username)
    return client


def _other(app, world, role: str):
    """Another browser, signed in as ``role``."""
    return _as(app.test_client(), world, role)


# -- the ledger ------------------------------------------------------------------------


def test_the_ledger_lists_the_closed_cases_with_their_pictures(client, world, closed):
    desk = _as(client, world, "dispatcher")
    html = _html(desk.get(f"/console/ledger?month={_month()}"))
    assert closed[0]["number"] in html and closed[1]["number"] in html
    assert closed[2]["number"] not in html  # open: not in the ledger
    assert 'id="ledger-total">2<' in html
    assert html.count('class="thumb"') == 4  # before and after of each
    assert "/console/photos/" in html and "size=320" in html
    assert 'id="download-xlsx"' in html and 'id="export-xlsx"' not in html


def test_the_ledger_defaults_to_last_month(client, world, closed):
    html = _html(_as(client, world, "dispatcher").get("/console/ledger"))
    first = dt.date.fromisoformat(lf.today()).replace(day=1) - dt.timedelta(days=1)
    assert f'value="{first:%Y-%m}"' in html
    assert closed[0]["number"] not in html and "该时段内没有销号的案件" in html


def test_scopes_are_chosen_by_name_and_filter(client, world, cw, closed):
    desk = _as(client, world, "dispatcher")
    html = _html(desk.get(f"/console/ledger?month={_month()}"))
    assert f'value="street:{world.street.id}"' in html and world.street.name in html
    assert f'value="chief:{world.users["street_chief"].id}"' in html
    other = cw.other_department_handler.org_unit_id
    html = _html(desk.get(f"/console/ledger?month={_month()}&scope=department:{other}"))
    assert 'id="ledger-total">0<' in html
    scope = f"street:{world.street.id}"
    html = _html(desk.get(f"/console/ledger?month={_month()}&scope={scope}"))
    assert 'id="ledger-total">2<' in html
    assert f'href="/console/cases/{closed[0]["id"]}"' in html


def test_bad_ledger_input_is_said_in_chinese(client, world, closed):
    desk = _as(client, world, "dispatcher")
    next_year = dt.date.fromisoformat(lf.today()).year + 1
    html = _html(desk.get(f"/console/ledger?month={next_year}-01"))
    assert "尚未开始" in html and 'id="ledger-table"' not in html
    html = _html(desk.get(f"/console/ledger?month={_month()}&scope=street:999999"))
    assert "所选街道不存在" in html
    html = _html(desk.get(f"/console/ledger?month={_month()}&scope=street:{world.community.id}"))
    assert "所选街道不存在" in html
    html = _html(desk.get("/console/ledger?month=2026-13x"))
    assert "查询条件有误（月份）" in html
    html = _html(desk.get("/console/ledger?date_from=2026-11-01"))
    assert "同时填写" in html


def test_a_chief_reads_only_their_own_ledger(app, client, world, cw, closed):
    chief = _as(client, world, "street_chief")
    html = _html(chief.get(f"/console/ledger?month={_month()}"))
    assert 'id="ledger-total">2<' in html  # their street by default
    assert f'value="street:{world.street.id}" selected' in html
    assert "chief:" not in html and "department:" not in html
    other = cw.other_department_handler.org_unit_id
    refused = chief.get(f"/console/ledger?month={_month()}&scope=department:{other}")
    assert refused.status_code == 403
    for role in ("inspector", "merchant"):
        assert _other(app, world, role).get("/console/ledger").status_code == 403
    handler = _other(app, world, "handler")
    html = _html(handler.get(f"/console/ledger?month={_month()}"))
    assert f'value="department:{world.department.id}" selected' in html
    assert 'id="ledger-total">2<' in html
    assert "/console/cases/" not in html  # a handler has no case page at the console


def test_the_xlsx_download_is_the_ledger(app, client, world, closed):
    chief = _as(client, world, "road_chief")
    response = chief.get(f"/console/ledger/download?format=xlsx&month={_month()}")
    # the road chief's road has no closed cases: an empty ledger, still a file
    assert response.status_code == 200 and response.data.startswith(b"PK")
    chief = _other(app, world, "street_chief")
    scope = f"street:{world.street.id}"
    response = chief.get(f"/console/ledger/download?format=xlsx&month={_month()}&scope={scope}")
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    assert "attachment" in response.headers["Content-Disposition"]
    sheet = lf.read_xlsx(response.data)
    numbers = {cell.value for row in sheet.iter_rows() for cell in row}
    assert closed[0]["number"] in numbers and closed[1]["number"] in numbers
    response = chief.get(f"/console/ledger/download?format=pdf&month={_month()}&scope={scope}")
    assert response.status_code == 200 and response.data.startswith(b"%PDF")


def test_a_large_ledger_is_exported(app, client, world, session, closed, monkeypatch):
    monkeypatch.setitem(app.config, "LEDGER_SYNC_MAX_ROWS", 1)
    desk = _as(client, world, "dispatcher")
    page = f"/console/ledger?month={_month()}"
    html = _html(desk.get(page))
    assert 'id="export-xlsx"' in html and 'id="download-xlsx"' not in html
    refused = desk.get(f"/console/ledger/download?format=xlsx&month={_month()}")
    assert refused.status_code == 303 and "/console/ledger?" in refused.location
    assert "超过可直接下载" in _html(desk.get(page))
    # without a CSRF token: refused, nothing recorded
    assert desk.post("/console/ledger/exports", data={"format": "xlsx"}).status_code == 400
    assert session.scalar(sa.select(sa.func.count()).select_from(Export)) == 0
    response = post_form(desk, "/console/ledger/exports", {"format": "xlsx", "month": _month()})
    assert response.status_code == 303
    export = session.scalars(sa.select(Export)).one()
    assert export.rows_total == 2 and export.requested_by == world.users["dispatcher"].id
    # the in-process queue runs the job; the page lists it with its link once done
    for _ in range(100):
        session.refresh(export)
        if export.status in ("done", "failed"):
            break
        time.sleep(0.1)
    assert export.status == "done", export.error
    html = _html(desk.get(page))
    link = f"/console/ledger/exports/{export.id}/file"
    assert f'data-export="{export.id}"' in html and link in html
    progress = desk.get("/console/ledger/exports/progress").get_json()
    assert progress["exports"] == [{"id": str(export.id), "status": "done", "rows_done": 2}]
    assert link in progress["html"]
    sheet = lf.read_xlsx(desk.get(link).data)
    assert closed[0]["number"] in {c.value for row in sheet.iter_rows() for c in row}
    # another user's export is not theirs to see
    assert _other(app, world, "street_chief").get(link).status_code == 404


# -- 考评 ------------------------------------------------------------------------------


def _months_ago(count: int) -> tuple[int, int]:
    today = dt.date.fromisoformat(lf.today()).replace(day=1)
    for _ in range(count):
        today = (today - dt.timedelta(days=1)).replace(day=1)
    return today.year, today.month


@pytest.fixture
def ranked(session, cw):
    """Two months before this one: world's street closes 3 of 4 cases on time; the month
    before last, 1 of 2."""
    builder = Builder(session, cw)
    department = cw.world.department
    for months, closed_on_time, total in ((1, 3, 4), (2, 1, 2)):
        year, month = _months_ago(months)
        for index in range(total):
            deadline = local(year, month, 20)
            closed_at = local(year, month, 10 if index < closed_on_time else 25)
            builder.case(deadline=deadline, closed_at=closed_at, department=department)
    session.commit()
    return builder


def test_the_ranking_shows_the_services_rows_with_bars(client, world, session, ranked):
    desk = _as(client, world, "dispatcher")
    year, month = _months_ago(1)
    period = f"{year:04d}-{month:02d}"
    html = _html(desk.get(f"/console/assessment?period={period}&level=street"))
    answer = assessment.assessment(session, world.users["dispatcher"], period, "street")
    row = next(r for r in answer["rows"] if r["id"] == world.street.id)
    assert f"{row['score']:.2f}" in html and world.street.name in html
    assert f'data-name="{world.street.name}" data-value=' in html  # the bar
    assert 'class="chart chart-trend"' in html and "<polyline" in html
    rate = row["formulas"]["on_time_closure_rate"]["rate"]
    assert "按期结案率" in html and f"{rate:.2f}%" in html
    html = _html(desk.get(f"/console/assessment?period={period}&level=department"))
    assert world.department.name in html and "按期处置率" in html
    html = _html(desk.get(f"/console/assessment?period={period}&unit={world.street.id}"))
    assert html.count('class="line"') == 1


def test_assessment_roles_and_bad_input(app, client, world, ranked):
    chief = _as(client, world, "street_chief")
    assert "街道排名" in _html(chief.get("/console/assessment"))
    assert chief.get("/console/assessment?level=department").status_code == 403
    next_year = dt.date.fromisoformat(lf.today()).year + 1
    assert "尚未开始" in _html(chief.get(f"/console/assessment?period={next_year}-01"))
    html = _html(chief.get("/console/assessment?unit=999999"))
    assert "所选单位不在该排名中" in html
    assert "查询条件有误（月份）" in _html(chief.get("/console/assessment?period=bad"))
    assert 'id="publish-form"' not in _html(chief.get("/console/assessment"))
    assert _other(app, world, "road_chief").get("/console/assessment").status_code == 403


def test_an_admin_publishes_a_month(app, client, world, session, ranked):
    admin = _as(client, world, "admin")
    year, month = _months_ago(1)
    period = f"{year:04d}-{month:02d}"
    page = f"/console/assessment?period={period}"
    assert 'id="publish-form"' in _html(admin.get(page))
    assert admin.post("/console/assessment/publish", data={"period": period}).status_code == 400
    assert session.scalar(sa.select(sa.func.count()).select_from(AssessmentPublication)) == 0
    response = post_form(admin, "/console/assessment/publish", {"period": period}, page)
    assert response.status_code == 303
    html = _html(admin.get(page))
    assert "考评结果已发布" in html and 'id="published"' in html
    assert session.scalar(sa.select(sa.func.count()).select_from(AssessmentPublication)) > 0
    post_form(admin, "/console/assessment/publish", {"period": period}, page)
    assert "不能重复发布" in _html(admin.get(page))
    post_form(admin, "/console/assessment/publish", {"period": _month()}, page)
    assert "尚未结束" in _html(admin.get(page))
    desk = _other(app, world, "dispatcher")
    assert post_form(desk, "/console/assessment/publish", {"period": period}).status_code == 403


# -- the chiefs' board ---------------------------------------------------------------


def test_a_street_chief_sees_open_and_overdue_cases(client, world, session, cw, closed, auth):
    overdue = cf.report(client, auth("inspector"), cw.category, address="中山路 3 号")
    cf.act(client, auth("dispatcher"), overdue["id"], "register")
    case = session.get(Case, uuid.UUID(overdue["id"]))
    session.refresh(case)
    case.deadline = utcnow() - dt.timedelta(hours=2)
    session.commit()
    chief = _as(client, world, "street_chief")
    html = _html(chief.get("/console/board"))
    assert world.street.name in html
    assert 'id="open-count">2<' in html and 'id="overdue-count">1<' in html
    overdue_table = html.split('id="overdue-table"')[1].split("</table>")[0]
    assert overdue["number"] in overdue_table and "light-red" in overdue_table
    assert f'href="/console/cases/{overdue["id"]}"' in overdue_table
    assert closed[0]["number"] not in html  # closed: not on the board
    assert f"scope=street:{world.street.id}" in html.replace("%3A", ":")
    assert "format=xlsx" in html


def test_a_road_chief_board_and_roles(app, client, world):
    chief = _as(client, world, "road_chief")
    assert chief.get("/console/").location.endswith("/console/board")
    html = _html(chief.get("/console/board"))
    assert world.road.name in html and 'id="open-count">0<' in html
    assert _other(app, world, "dispatcher").get("/console/board").status_code == 403


def test_the_charts_escape_names_and_leave_gaps():
    svg = str(charts.bars([("<b>街道</b>", 50.0), ("无分", None)], "得分"))
    assert "&lt;b&gt;街道&lt;/b&gt;" in svg and "<b>" not in svg
    assert svg.count('class="bar"') == 1 and "无数据" in svg and 'width="230.0"' in svg
    svg = str(charts.trend(["2026-01", "2026-02", "2026-03"], [("甲", [80.0, None, 90.0])], "走势"))
    assert svg.count("<polyline") == 0 and svg.count('class="point"') == 2
    svg = str(charts.trend(["2026-01", "2026-02"], [("甲", [80.0, 90.0])], "走势"))
    assert svg.count("<polyline") == 1
