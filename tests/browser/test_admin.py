"""An admin at the console, in a real browser: adds a user, imports grids, looks at the
devices and the work calendar."""

from __future__ import annotations

import json

import pytest

from tests import grid_data as gd
from tests.browser.conftest import screenshot, sign_in

pytestmark = pytest.mark.browser


def test_an_admin_creates_a_user_and_finds_them_in_the_list(page, session, world):
    sign_in(page, world.users["admin"].username)
    assert page.url.endswith("/console/admin/users")  # the admin's home
    assert page.locator(".nav a.active").inner_text() == "系统管理"

    form = page.locator("#user-create")
    form.locator("input[name=username]").fill("wang.wu")
    form.locator("input[name=display_name]").fill("王五")
    form.locator("select[name=role]").select_option("inspector")
    form.locator("select[name=org_unit_id]").select_option(str(world.community.id))
    form.locator("input[name=password]").fill("short")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    # A weak password: the form says why and keeps what was typed.
    assert page.locator("[data-error=password]").inner_text() == "密码至少 10 个字符"
    assert page.locator("#user-create input[name=username]").input_value() == "wang.wu"

    page.locator("#user-create input[name=password]").fill("a-good-long-password")
    page.locator("#user-create button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    assert "已创建用户 王五（wang.wu）" in page.locator(".flash-success").inner_text()
    assert page.locator("h1").first.inner_text().startswith("王五")

    page.locator("#admin-tabs a", has_text="用户").click()
    page.fill("#user-filters input[name=q]", "王")
    page.click("#user-filters button[type=submit]")
    page.wait_for_load_state("networkidle")
    row = page.locator("#user-table tr[data-username='wang.wu']")
    assert row.locator("td").nth(1).inner_text() == "王五"
    assert row.locator("td").nth(2).inner_text() == "监督员"
    assert row.locator("td").nth(4).inner_text() == world.community.name
    page.goto("/console/admin/users")
    screenshot(page, "admin_users")


def test_an_admin_imports_a_grid_file_and_sees_the_grids(page, session, world):
    sign_in(page, world.users["admin"].username)
    page.goto("/console/admin/grids")
    assert "还没有单元网格" in page.locator("#grid-table").inner_text()
    content = json.dumps(gd.lattice(1, 2)).encode()
    page.set_input_files(
        "#grid-upload input[name=file]",
        {"name": "siming.geojson", "mimeType": "application/geo+json", "buffer": content},
    )
    page.click("#grid-upload button[type=submit]")
    page.wait_for_load_state("networkidle")
    preview = page.locator("#import-preview")
    assert "siming.geojson" in preview.inner_text()
    assert preview.locator("[data-fact=created]").inner_text() == "2"
    assert "还没有单元网格" in page.locator("#grid-table").inner_text()  # nothing written yet
    screenshot(page, "admin_grids")

    page.click("#grid-import button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "已导入 2 个单元网格" in page.locator(".flash-success").inner_text()
    row = page.locator("#grid-table tr[data-code='350203001001002']")
    cells = row.locator("td")
    assert cells.nth(1).inner_text() == "第2网格"
    assert cells.nth(2).inner_text() == world.street.name
    assert cells.nth(3).inner_text() == world.community.name
    assert cells.nth(6).inner_text() == world.users["street_chief"].display_name


def test_an_admin_sees_devices_and_the_calendar(page, session, world):
    sign_in(page, world.users["admin"].username)
    page.goto("/console/admin/devices")
    mine = page.locator("#device-table tr", has_text=world.users["admin"].username)
    assert "控制台" in mine.inner_text() and "有效" in mine.inner_text()
    screenshot(page, "admin_devices")
    page.goto("/console/admin/calendar?year=2026")
    october = page.locator(".month[data-month='10']")
    assert "国庆节" in october.inner_text()
    page.fill("#day-set input[name=day]", "2026-03-10")
    page.select_option("#day-set select[name=is_workday]", "false")
    page.fill("#day-set input[name=note]", "台风停工")
    page.click("#day-set button[type=submit]")
    page.wait_for_load_state("networkidle")
    march = page.locator(".month[data-month='3']")
    assert "本市休息日" in march.inner_text() and "台风停工" in march.inner_text()
    screenshot(page, "admin_calendar")
