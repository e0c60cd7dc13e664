"""A dispatcher resolves a sync conflict in the browser: the inspector's offline edit of a
case clashed with the dispatcher's (both made through the API with the test client); the
conflict page shows both sides and the field evidence, a merge picks a side per field, and
the queue and the case's flow log show the resolution."""

from __future__ import annotations

import hashlib
import time
import uuid

import pytest

from tests import case_factories as cf
from tests import factories, push_factories
from tests.browser.conftest import screenshot, sign_in
from tests.evidence_factories import jpeg
from tests.push_factories import mutation, push

pytestmark = pytest.mark.browser


@pytest.fixture
def cw(session, world):
    return cf.make_case_world(session, world)


def _wait_for_thumbnails(client, headers, photo_id: str, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        described = client.get(f"/api/v1/photos/{photo_id}", headers=headers).get_json()
        if described.get("thumbnail_sizes"):
            return
        time.sleep(0.1)
    raise AssertionError(f"no thumbnails for {photo_id}")


def _field_conflict(client, auth, cw) -> dict:
    """The inspector reported from a phone (with a real photo) and, offline, corrected the
    description and address; the dispatcher meanwhile corrected both to other values."""
    device = "phone-inspector"
    headers = factories.login_headers(client, cw.users["inspector"].username, device_id=device)
    data = jpeg(1, gps=cf.grid_data.cell_centre(0, 0))
    sha = hashlib.sha256(data).hexdigest()
    put = client.put(f"/api/v1/blobs/{sha}", data=data, headers=headers, content_type="image/jpeg")
    assert put.status_code in (200, 201), put.get_json()
    photo = {**cf.photo("problem"), "sha256": sha}
    dispatcher = auth("dispatcher")
    made = push_factories.field_conflict(client, headers, device, dispatcher, photo)
    _wait_for_thumbnails(client, headers, photo["photo_id"])
    detail = cf.case(client, dispatcher, made["case_id"])
    return {"id": made["conflict_id"], "case_id": made["case_id"], "number": detail["number"]}


def test_a_dispatcher_resolves_a_sync_conflict(page, client, auth, cw):
    conflict = _field_conflict(client, auth, cw)

    sign_in(page, cw.users["dispatcher"].username)
    page.click(".nav a:has-text('同步')")
    page.wait_for_load_state("networkidle")
    row = page.locator(f"tr[data-id='{conflict['id']}']")
    assert row.locator(".case-number").inner_text() == conflict["number"]
    assert "修改案件" in row.inner_text() and "字段冲突" in row.inner_text()
    assert row.locator(".conflict-status").inner_text() == "待处理"
    screenshot(page, "sync_conflicts")

    row.locator(".conflict-link").click()
    page.wait_for_load_state("networkidle")
    address = page.locator("#field-compare tr[data-field=address]")
    assert address.locator(".field-value").inner_text() == "中山路 2 号"
    assert address.locator(".server-value").inner_text() == "中山路 3 号"
    description = page.locator("#field-compare tr[data-field=description]")
    assert description.locator(".field-value").inner_text() == "一堆建筑垃圾"
    assert description.locator(".server-value").inner_text() == "两袋垃圾"
    image = page.locator("#case-photos .photo-col[data-kind=problem] img")
    assert image.count() == 1
    assert image.evaluate("img => img.complete && img.naturalWidth > 0")
    screenshot(page, "sync_conflict")

    page.check("#form-merge input[name=pick_description][value=field]")
    page.check("#form-merge input[name=pick_address][value=server]")
    page.fill("#form-merge textarea[name=opinion]", "描述以现场为准，地址以中心为准")
    page.locator("#form-merge button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    assert "冲突已处理：逐字段合并" in page.locator(".flash-success").inner_text()
    assert page.locator("#conflict-status").inner_text() == "已处理"
    assert "逐字段合并" in page.locator("#conflict-resolution").inner_text()
    assert page.locator("#conflict-actions").count() == 0

    page.click("#sync-tabs a[data-tab=conflicts]")
    page.wait_for_load_state("networkidle")
    assert page.locator("#no-conflicts").count() == 1
    page.select_option("#conflict-filters select[name=status]", "resolved")
    page.locator("#conflict-filters button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    resolved = page.locator(f"tr[data-id='{conflict['id']}']")
    assert resolved.locator(".conflict-status").inner_text() == "已处理"

    resolved.locator(".case-number").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("#case-number").inner_text() == conflict["number"]
    step = page.locator("#timeline li[data-action=conflict_resolved]")
    assert "处理同步冲突" in step.inner_text()
    assert "描述以现场为准，地址以中心为准" in step.inner_text()
    actions = page.locator("#timeline li").evaluate_all("items => items.map(i => i.dataset.action)")
    assert actions[-2:] == ["edit", "conflict_resolved"]
    after = cf.case(client, auth("dispatcher"), conflict["case_id"])
    assert (after["description"], after["address"]) == ("一堆建筑垃圾", "中山路 3 号")


def test_a_reject_is_marked_reviewed_and_an_admin_sees_the_phones(page, client, cw):
    device = "phone-inspector"
    headers = factories.login_headers(client, cw.users["inspector"].username, device_id=device)
    push(client, headers, device, mutation(1, "case.teleport", uuid.uuid4(), {"to": "月球"}))

    sign_in(page, cw.users["dispatcher"].username)
    page.goto("/console/sync/rejected")
    item = page.locator("article.rejected").first
    assert "未知的操作类型" in item.inner_text()
    assert '"to": "月球"' in item.locator("pre.payload").inner_text()
    screenshot(page, "sync_rejected")
    item.locator("input[name=note]").fill("已电话联系监督员")
    item.locator("button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    assert "已标记为已复核" in page.locator(".flash-success").inner_text()
    assert page.locator("#no-rejected").count() == 1
    page.select_option("#rejected-filters select[name=reviewed]", "yes")
    page.locator("#rejected-filters button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    assert "已电话联系监督员" in page.locator("article.rejected .review-done").inner_text()

    page.click("button:has-text('退出')")
    page.wait_for_load_state("networkidle")
    sign_in(page, cw.users["admin"].username)
    page.goto("/console/sync/devices")
    row = page.locator("#device-table tr[data-id]")
    assert row.count() == 1 and "phone-inspector" in row.inner_text()
    assert row.locator(".rejected-count").inner_text() == "1"
    screenshot(page, "sync_devices")
    row.locator(".device-link").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("#device-name").inner_text() == "phone-inspector"
    assert "被拒绝" in page.locator("#device-mutations").inner_text()
