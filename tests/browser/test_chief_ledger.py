"""A street chief in the browser: their board (open and overdue problems of their street),
their ledger downloaded as XLSX (read back with openpyxl), and the 考评 page's bars."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests import case_factories as cf
from tests import ledger_factories as lf
from tests.browser.conftest import screenshot, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def cw(session, world):
    return cf.make_case_world(session, world)


def test_a_street_chief_opens_the_board_and_downloads_the_ledger(page, client, auth, cw):
    closed = [
        lf.closed_case(client, auth, cw),
        lf.closed_case(client, auth, cw, address="中山路 9 号"),
    ]
    still_open = cf.report(client, auth("inspector"), cw.category, address="中山路 5 号")
    month = lf.today()[:7]

    sign_in(page, cw.users["street_chief"].username)
    page.click("nav.nav >> text=街长看板")
    page.wait_for_selector("#open-count")
    assert cw.world.street.name in page.locator("h1").first.inner_text()
    assert page.locator("#open-count").inner_text() == "1"
    assert page.locator("#overdue-count").inner_text() == "0"
    row = page.locator(f"#open-table tr[data-id='{still_open['id']}']")
    assert row.locator(".case-number").inner_text() == still_open["number"]
    screenshot(page, "chief-board")

    with page.expect_download() as download_info:
        page.click(f"a.ledger-xlsx[data-month='{month}']")
    download = download_info.value
    assert download.suggested_filename.endswith(".xlsx")
    sheet = load_workbook(io.BytesIO(Path(download.path()).read_bytes())).active
    values = [cell.value for row in sheet.iter_rows() for cell in row]
    assert closed[0]["number"] in values and closed[1]["number"] in values
    assert still_open["number"] not in values
    assert any(isinstance(v, str) and cw.world.street.name in v for v in values)

    page.click(f"a.ledger-view[data-month='{month}']")
    page.wait_for_selector("#ledger-table")
    assert page.locator("#ledger-total").inner_text() == "2"
    numbers = page.locator("#ledger-table tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.number)"
    )
    assert numbers == [closed[0]["number"], closed[1]["number"]]
    screenshot(page, "ledger")

    page.goto(f"/console/assessment?period={month}")
    page.wait_for_selector("#bars svg")
    bar = page.locator(f"#bars rect.bar[data-name='{cw.world.street.name}']")
    assert bar.count() == 1
    assert float(bar.get_attribute("width")) > 0
    score = page.locator(f"#ranking tr[data-id='{cw.world.street.id}'] .score").inner_text()
    assert float(bar.get_attribute("data-value")) == pytest.approx(float(score), abs=0.01)
    screenshot(page, "assessment")


def test_a_large_ledger_is_exported_and_its_link_appears(page, app, client, auth, cw, monkeypatch):
    monkeypatch.setitem(app.config, "LEDGER_SYNC_MAX_ROWS", 1)
    closed = [lf.closed_case(client, auth, cw), lf.closed_case(client, auth, cw)]
    month = lf.today()[:7]
    sign_in(page, cw.users["dispatcher"].username)
    page.goto(f"/console/ledger?month={month}")
    page.wait_for_selector("#ledger-table")
    assert page.locator("#download-xlsx").count() == 0
    page.click("#export-xlsx button[type=submit]")
    page.wait_for_selector(".flash-success")
    assert "已提交导出" in page.locator(".flash-success").inner_text()
    # queued or already done: the list shows it, and its link once done (the page polls)
    page.wait_for_selector("#export-list a.export-file", timeout=20_000)
    with page.expect_download() as download_info:
        page.click("#export-list a.export-file")
    sheet = load_workbook(io.BytesIO(Path(download_info.value.path()).read_bytes())).active
    values = [cell.value for row in sheet.iter_rows() for cell in row]
    assert closed[0]["number"] in values and closed[1]["number"] in values
