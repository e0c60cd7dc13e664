"""Signing in and out of the console in a real browser."""

from __future__ import annotations

import pytest

from tests.browser.conftest import screenshot, sign_in

pytestmark = pytest.mark.browser


def test_a_dispatcher_signs_in_and_out(page, session, world):
    page.goto("/console/")
    assert "/console/login" in page.url  # not signed in: to the sign-in page
    screenshot(page, "login")
    sign_in(page, world.users["dispatcher"].username, "wrong password!")
    assert page.locator("#login-error").inner_text() == "用户名或密码错误。"

    sign_in(page, world.users["dispatcher"].username)
    assert page.url.endswith("/console/queues")
    assert page.locator(".who .role").inner_text() == "指挥中心"
    assert page.locator(".nav a", has_text="工作队列").count() == 1

    page.click("text=退出")
    page.wait_for_load_state("networkidle")
    assert "/console/login" in page.url
    page.goto("/console/queues")
    assert "/console/login" in page.url  # the session is gone


def test_an_inspector_signs_in_to_a_page_without_dispatcher_queues(page, session, world):
    sign_in(page, world.users["inspector"].username)
    assert page.locator("h1").inner_text().startswith("欢迎")
    assert page.locator(".nav a", has_text="工作队列").count() == 0
    response = page.goto("/console/queues")
    assert response.status == 403
    assert "无权访问" in page.locator("h1").inner_text()
