"""Browser tests: Debian's Chromium driven by Playwright (``executable_path``; Playwright's
own browser download needs the internet) against the app on a live server thread.

Without a Chromium (or Playwright) they skip locally; in CI (``CI=true``) they fail.
Every request the page makes is recorded, and one that leaves the app's origin is refused
and fails the test: a city intranet has no internet.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests import factories

ROOT = Path(__file__).resolve().parents[2]
# Each run saves its screenshots under instance/screenshots/ (not in git); `make
# screenshots` runs the browser tests with SCREENSHOTS_DIR=docs/screenshots to refresh the
# committed ones the README shows (a plain test run no longer rewrites them).
SCREENSHOTS = ROOT / os.environ.get("SCREENSHOTS_DIR", "instance/screenshots")
VIEWPORT = {"width": 1366, "height": 768}


def chromium_path() -> str | None:
    """The Chromium to drive: $CHROMIUM, else Debian's."""
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def _missing(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the browser tests: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    """A Chromium per test module: a browser idle through the rest of the suite (an hour in
    CI, under load) is not relied on to still be there."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright for Python is not installed (pip install -e '.[dev]')")
    path = chromium_path()
    if path is None:
        _missing("no Chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=path, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        yield launched
        launched.close()


class Requests:
    """Every request a page made; those to another origin were refused."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.seen: list[str] = []
        self.foreign: list[str] = []

    def route(self, route) -> None:
        url = route.request.url
        self.seen.append(url)
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob") or f"{parts.scheme}://{parts.netloc}" == self.origin:
            route.continue_()
        else:
            self.foreign.append(url)
            route.abort()

    def assert_all_local(self) -> None:
        assert self.seen, "the page made no request at all"
        assert not self.foreign, f"requests left the app's origin: {self.foreign}"


@pytest.fixture
def requests_seen(live_server) -> Requests:
    return Requests(live_server)


@pytest.fixture
def page(browser, live_server, requests_seen):
    """A fresh browser context (its own cookies) at 1366×768 on the live server; after the
    test, no request may have left the app's origin."""
    context = browser.new_context(base_url=live_server, viewport=VIEWPORT, locale="zh-CN")
    context.route("**/*", requests_seen.route)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    requests_seen.assert_all_local()
    assert not errors, f"JavaScript errors on the page: {errors}"


def sign_in(page, username: str, password: str = factories.PASSWORD) -> None:
    """Sign in through the form, as a person would."""
    page.goto("/console/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def screenshot(page, name: str) -> Path:
    """Save the page as <SCREENSHOTS>/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
