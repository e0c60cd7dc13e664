"""GET /api/v1/ledger: the 两图一表 of closed cases, as JSON pages, XLSX and PDF."""

from __future__ import annotations

import io
import json
from urllib.parse import unquote

import pypdfium2 as pdfium
import pytest

from app.ledger.models import Export
from tests import case_factories as cf
from tests import ledger_factories as lf


@pytest.fixture
def cw(session, world):
    return cf.make_case_world(session, world)


@pytest.fixture
def closed(client, auth, cw):
    """Two closed cases of world's street and department, one open case."""
    first = lf.closed_case(client, auth, cw)
    second = lf.closed_case(client, auth, cw, address="中山路 9 号")
    cf.report(client, auth("inspector"), cw.category)
    return [first, second]


def _ledger(client, headers, expect=200, **params):
    response = client.get("/api/v1/ledger", query_string=params, headers=headers)
    assert response.status_code == expect, response.get_json()
    return response


def test_json_lists_closed_cases_in_order_with_their_photos(client, auth, cw, closed):
    response = _ledger(client, auth("dispatcher"), **lf.period())
    body = response.get_json()
    assert body["scope"]["kind"] == "district"
    assert body["period"]["to"] == lf.today()
    assert [row["number"] for row in body["items"]] == [case["number"] for case in closed]
    row = body["items"][0]
    assert row["category_code"] == cw.category.code
    assert row["category_name"] == cw.category.name
    assert row["grid_code"] and row["street_name"] == "中华街道"
    assert row["department_name"] == "市政园林局"
    assert row["reporter_name"] and row["source"] == "inspector"
    assert row["rework_count"] == 0
    assert len(row["problem_photos"]) == 1 and len(row["closure_photos"]) == 1
    url = row["problem_photos"][0]["thumbnail_url"]
    assert url.endswith("size=1024")
    assert client.get(url, headers=auth("street_chief")).status_code == 200
    assert json.loads(response.headers["X-Pagination"])["total"] == 2


def test_json_pages(client, auth, closed):
    page = _ledger(client, auth("dispatcher"), page=2, page_size=1, **lf.period())
    assert [row["number"] for row in page.get_json()["items"]] == [closed[1]["number"]]


def test_scopes_filter(client, auth, cw, closed):
    world = cw.world
    grid = closed[0]["grid_code"]
    d = auth("dispatcher")
    for params, count in [
        ({"street": world.street.id}, 2),
        ({"community": world.community.id}, 2),
        ({"department": world.department.id}, 2),
        ({"department": cw.other_department_handler.org_unit_id}, 0),
        ({"grid": grid}, 2),
        ({"chief": world.users["street_chief"].id}, 2),
    ]:
        body = _ledger(client, d, **params, **lf.period()).get_json()
        assert len(body["items"]) == count, params


def test_a_period_before_the_closing_has_nothing(client, auth, closed):
    body = _ledger(client, auth("dispatcher"), **{"from": "2025-01-01", "to": "2025-01-31"})
    assert body.get_json()["items"] == []


def test_xlsx_has_a_row_per_case_with_the_pictures_in_it(client, auth, closed):
    response = _ledger(client, auth("street_chief"), format="xlsx", **lf.period())
    assert response.mimetype.endswith("spreadsheetml.sheet")
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="ledger-street-')
    assert "两图一表-中华街道" in unquote(disposition.split("filename*=UTF-8''")[1])
    sheet = lf.read_xlsx(response.data)
    assert "中华街道" in sheet["A1"].value
    assert sheet.freeze_panes == "A3"
    assert sheet["B2"].value == "案卷编号"
    assert [sheet.cell(row, 2).value for row in (3, 4)] == [c["number"] for c in closed]
    assert sheet.cell(3, 17).value == "是"  # closed on time
    anchors = sorted((image.anchor._from.row, image.anchor._from.col) for image in sheet._images)
    # Two pictures per row (problem, closure), in the row of their case (0-based rows 2, 3).
    assert [row for row, _ in anchors] == [2, 2, 3, 3]
    assert {col for _, col in anchors} == {18, 20}
    assert sheet.column_dimensions["S"].width > 20


def _pdf_text(data: bytes) -> tuple[list[str], pdfium.PdfDocument]:
    document = pdfium.PdfDocument(data)
    return [page.get_textpage().get_text_range() for page in document], document


def test_pdf_has_a_page_per_case_with_chinese_text_drawn(client, auth, closed):
    response = _ledger(client, auth("dispatcher"), format="pdf", **lf.period())
    assert response.mimetype == "application/pdf"
    texts, document = _pdf_text(response.data)
    assert len(texts) == 2
    assert "两图一表" in texts[0] and "问题图片" in texts[0] and "销号图片" in texts[0]
    assert closed[0]["number"] in texts[0]
    assert "第 1 页 / 共 2 页" in texts[0].replace("\r\n", "")
    page = document[0]
    assert (
        len([obj for obj in page.get_objects() if obj.type == pdfium.raw.FPDF_PAGEOBJ_IMAGE]) == 2
    )
    assert len(response.data) < 2_000_000  # the font is subset


def test_two_chinese_strings_render_to_different_pixels(tmp_path):
    """No tofu: two different Chinese strings drawn with the embedded font differ."""
    from app.ledger.pdfdoc import PdfWriter, text_ops

    rendered = []
    for words in ("两图一表", "街道社区"):
        out = io.BytesIO()
        writer = PdfWriter(out)
        writer.page(text_ops(writer.font, 40, 400, 40, words), {})
        writer.finish()
        page = pdfium.PdfDocument(out.getvalue())[0]
        assert page.get_textpage().get_text_range() == words
        image = page.render(scale=1).to_pil().convert("L")
        assert image.getextrema()[0] < 100  # something dark was drawn
        rendered.append(image.tobytes())
    assert rendered[0] != rendered[1]


def test_too_many_rows_for_a_file_at_once_is_409_pointing_at_exports(app, client, auth, closed):
    app.config["LEDGER_SYNC_MAX_ROWS"] = 1
    try:
        response = _ledger(client, auth("dispatcher"), 409, format="xlsx", **lf.period())
    finally:
        app.config["LEDGER_SYNC_MAX_ROWS"] = 200
    assert "/api/v1/exports" in response.get_json()["message"]
    assert "exports" in response.headers["Link"]


@pytest.mark.parametrize(
    ("role", "params", "status"),
    [
        ("dispatcher", {}, 200),
        ("admin", {"street": "street"}, 200),
        ("street_chief", {"street": "street"}, 200),
        ("street_chief", {"community": "community"}, 200),
        ("street_chief", {}, 200),
        ("street_chief", {"department": "department"}, 403),
        ("road_chief", {"road": "road"}, 200),
        ("road_chief", {}, 200),
        ("road_chief", {"street": "street"}, 403),
        ("handler", {"department": "department"}, 200),
        ("handler", {}, 200),
        ("handler", {"street": "street"}, 403),
        ("handler", {"department": "other_department"}, 403),
        ("inspector", {}, 403),
        ("merchant", {}, 403),
    ],
)
def test_who_may_read_which_ledger(client, auth, cw, role, params, status):
    units = {
        "street": cw.world.street.id,
        "community": cw.world.community.id,
        "department": cw.world.department.id,
        "road": cw.world.road.id,
        "other_department": cw.other_department_handler.org_unit_id,
    }
    query = {key: units[value] for key, value in params.items()}
    _ledger(client, auth(role), status, **query, **lf.period())


@pytest.mark.parametrize(
    "params",
    [
        {"street": 999999},
        {"grid": "999999999999999"},
        {"chief": 999999},
        {"grid": "12"},
        {"from": "2026-13-01"},
        {"from": "2999-01-01", "to": "2999-01-02"},
        {"from": "2024-01-01", "to": "2025-06-01"},
        {"format": "docx"},
        {"to": "2020-01-01"},
    ],
)
def test_bad_input_is_a_clear_422_and_starts_nothing(client, auth, session, cw, params):
    query = {**lf.period(), **params}
    response = _ledger(client, auth("dispatcher"), 422, **query)
    assert response.get_json()["message"]
    assert session.query(Export).count() == 0


def test_two_scopes_at_once_is_422(client, auth, cw):
    query = {"street": cw.world.street.id, "department": cw.world.department.id}
    response = _ledger(client, auth("dispatcher"), 422, **query, **lf.period())
    assert "one scope filter" in response.get_json()["message"]


def test_a_street_id_naming_a_community_is_422(client, auth, cw):
    _ledger(client, auth("dispatcher"), 422, street=cw.world.community.id, **lf.period())


def test_a_confirmed_self_handled_case_counts_as_closed(client, auth, cw):
    created = cf.report(client, auth("inspector"), cw.category)
    request = cf.request(
        client,
        auth("inspector"),
        created["id"],
        "self_handle",
        reason="已处理",
        photos=[lf.uploaded_photo(client, auth("inspector"), "closure")],
    )
    cf.decide(client, auth("dispatcher"), request["id"], opinion="确认")
    items = _ledger(client, auth("dispatcher"), **lf.period()).get_json()["items"]
    assert [row["number"] for row in items] == [created["number"]]
    assert len(items[0]["closure_photos"]) == 1
    assert items[0]["department_name"] is None


def test_time_used_and_on_time_once_the_case_record_fills_them(client, auth, closed):
    """The case record fills ``time_used`` and ``closed_on_time`` at closing."""
    row = _ledger(client, auth("dispatcher"), **lf.period()).get_json()["items"][0]
    assert row["time_used"] is not None
    assert row["closed_on_time"] is True
    assert row["time_used_text"].endswith(" 工作时")
    sheet = lf.read_xlsx(_ledger(client, auth("dispatcher"), format="xlsx", **lf.period()).data)
    assert sheet.cell(3, 16).value.endswith(" 工作时")
    assert sheet.cell(3, 17).value == "是"
