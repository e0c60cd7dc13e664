"""A dispatcher's day in the browser: a case from report to closure (the inspector's
report, the handler's steps and the inspector's check through the API with the test
client), and a boundary case put in its grid by a click on the map."""

from __future__ import annotations

import hashlib
import time

import pytest

from tests import case_factories as cf
from tests.browser.conftest import screenshot, sign_in
from tests.evidence_factories import jpeg

pytestmark = pytest.mark.browser


@pytest.fixture
def cw(session, world):
    return cf.make_case_world(session, world)


def _photo_with_bytes(client, headers, kind: str, seed: int, gps) -> dict:
    """A real JPEG (EXIF GPS and time) uploaded as a phone would, and its reference."""
    data = jpeg(seed, gps=gps)
    sha = hashlib.sha256(data).hexdigest()
    put = client.put(f"/api/v1/blobs/{sha}", data=data, headers=headers, content_type="image/jpeg")
    assert put.status_code in (200, 201), put.get_json()
    return {**cf.photo(kind), "sha256": sha}


def _wait_for_thumbnails(client, headers, photo_ids, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    waiting = set(photo_ids)
    while waiting and time.monotonic() < deadline:
        for photo_id in list(waiting):
            described = client.get(f"/api/v1/photos/{photo_id}", headers=headers).get_json()
            if described.get("thumbnail_sizes"):
                waiting.discard(photo_id)
        time.sleep(0.1)
    assert not waiting, f"no thumbnails for {waiting}"


def _submit(page, form_id: str) -> None:
    page.locator(f"#{form_id} button[type=submit]").first.click()
    page.wait_for_load_state("networkidle")


def test_a_dispatcher_takes_a_case_from_report_to_closure(page, client, auth, cw):
    inspector, handler = auth("inspector"), auth("handler")
    gps = cf.grid_data.cell_centre(0, 0)
    problem = _photo_with_bytes(client, inspector, "problem", 1, gps)
    created = cf.report(client, inspector, cw.category, photos=[problem], address="中山路 1 号")

    sign_in(page, cw.users["dispatcher"].username)
    assert page.url.endswith("/console/queues")
    row = page.locator(f"tr[data-id='{created['id']}']")
    assert row.locator(".case-number").inner_text() == created["number"]
    assert page.locator("[data-count=to_accept]").inner_text() == "1"
    screenshot(page, "queues")

    row.locator(".case-number").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("#case-number").inner_text() == created["number"]
    assert page.locator("#case-state").inner_text() == "上报"

    _submit(page, "form-register")
    assert "已立案" in page.locator(".flash-success").inner_text()
    assert page.locator("#case-state").inner_text() == "立案"

    page.select_option("#form-dispatch select[name=department_id]", label="市政园林局")
    _submit(page, "form-dispatch")
    assert page.locator("#case-state").inner_text() == "已派遣"
    assert page.locator("#case-department").inner_text() == "市政园林局"

    # The handler, on a phone: accepts, and reports it done with an after-photo.
    detail = cf.case(client, handler, created["id"])
    task = cf.open_task(detail, "handle")
    cf.task_post(client, handler, task["id"], "accept")
    closure = _photo_with_bytes(client, handler, "closure", 2, gps)
    cf.task_post(client, handler, task["id"], "complete", note="已清理", photos=[closure])

    page.reload()
    assert page.locator("#case-state").inner_text() == "处理反馈"
    _submit(page, "form-send_check")
    assert page.locator("#case-state").inner_text() == "核查中"

    # The inspector, on site: the check passes with a re-photo.
    check = _photo_with_bytes(client, inspector, "check", 3, gps)
    cf.act(client, inspector, created["id"], "check_pass", photos=[check])
    _wait_for_thumbnails(
        client, inspector, [problem["photo_id"], closure["photo_id"], check["photo_id"]]
    )

    page.reload()
    page.wait_for_selector("#case-map[data-ready='1']")
    for kind in ("problem", "closure", "check"):
        column = page.locator(f".photo-col[data-kind={kind}]")
        image = column.locator("img")
        assert image.count() == 1
        assert image.evaluate("img => img.complete && img.naturalWidth > 0")
        assert "GPS：" in column.inner_text()
    assert page.locator(".photo-point").count() == 3
    screenshot(page, "case")

    _submit(page, "form-close")
    assert page.locator("#case-state").inner_text() == "结案"
    steps = page.locator("#timeline li").evaluate_all("items => items.map(i => i.dataset.action)")
    assert steps == [
        "report",
        "register",
        "dispatch",
        "accept",
        "submit_closure",
        "send_check",
        "check_pass",
        "close",
    ]
    assert page.locator("#case-actions form").count() == 0
    closed = cf.case(client, auth("dispatcher"), created["id"])
    assert closed["state"] == "closed"
    assert closed["flow"][-1]["device_id"].startswith("console:")


def test_a_boundary_case_is_put_in_its_grid_by_a_click_on_the_map(page, client, auth, cw):
    lat = cf.cell(0, 0)["lat"]
    created = cf.report(
        client, auth("inspector"), cw.category, location={"lat": lat, "lon": 118.082}
    )
    assert created["routing"] == "needs_confirmation"

    sign_in(page, cw.users["dispatcher"].username)
    page.click("#queue-tabs a[data-queue=routing]")
    page.wait_for_load_state("networkidle")
    page.locator(f"tr[data-id='{created['id']}'] .case-number").click()
    page.wait_for_selector("#case-map[data-ready='1']")
    assert page.locator("#routing-badge").inner_text() == "定位待确认"

    target = "350203001001002"
    page.locator(f"path.grid-{target}").click()
    assert page.locator("#routing-grid-code").inner_text() == target
    screenshot(page, "routing")
    _submit(page, "routing-form")
    assert f"已确认定位到网格 {target}" in page.locator(".flash-success").inner_text()
    assert page.locator("#case-grid").inner_text() == target
    assert page.locator("#routing-badge").count() == 0
    assert cf.case(client, auth("dispatcher"), created["id"])["grid_code"] == target


def test_a_new_report_appears_in_the_queue_without_a_reload(page, client, auth, cw, app):
    app.config["CONSOLE_POLL_SECONDS"] = 1
    try:
        sign_in(page, cw.users["dispatcher"].username)
        assert page.locator("tr[data-id]").count() == 0
        assert not page.locator("#live-note").is_visible()
        created = cf.report(client, auth("inspector"), cw.category)
        page.wait_for_selector(f"tr.new-row[data-id='{created['id']}']", timeout=8000)
        assert page.locator("[data-count=to_accept]").inner_text() == "1"
        assert page.locator("#live-note").is_visible()
    finally:
        app.config["CONSOLE_POLL_SECONDS"] = 5


def test_the_map_page_shows_a_streets_open_cases(page, client, auth, cw):
    created = cf.report(client, auth("inspector"), cw.category)
    sign_in(page, cw.users["dispatcher"].username)
    page.click(".nav a:has-text('地图')")
    page.select_option("#map-street", label="中华街道")
    page.wait_for_selector("#city-map[data-cases='1']")
    assert page.locator(f".case-{created['id']}").count() == 1
    assert page.locator("path.grid-poly").count() == 9
    screenshot(page, "map")
