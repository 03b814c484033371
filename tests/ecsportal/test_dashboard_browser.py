"""The admin dashboard in a real browser (Debian chromium through Playwright): a partner
whose circuit is open, read at a glance, and its failures one click away."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import Page, expect

from tests.ecsportal.test_dashboard import seed

pytestmark = pytest.mark.browser

#: Where to write a screenshot of the dashboard (unset: none), to check the layout by eye.
SCREENSHOT = os.environ.get("ECS_DASHBOARD_SCREENSHOT", "")


def test_the_dashboard_shows_an_open_circuit_and_links_to_its_failures(admin_page: Page):
    seed()
    page = admin_page
    page.goto("/admin/")
    busy = page.locator('tr[data-partner="ecs.busy.example"]')
    expect(busy.locator("td.circuit")).to_have_text("open")
    expect(busy.locator("td.failures")).to_have_text("2")
    expect(busy.locator("svg.latency-chart polyline.mean")).to_be_visible()
    expect(page.locator("#health-outbox dd.backlog")).to_have_text("2")
    # The inventory follows the dashboard; the OAuth toolkit's models come after it.
    modules = page.locator("#content-main div.module[class*='app-']")
    apps = [
        c.split()[0].removeprefix("app-")
        for c in modules.evaluate_all("m => m.map(e => e.className)")
    ]
    assert apps.index("oauth2_provider") > apps.index("provisioning"), apps
    assert page.locator("#health").bounding_box()["y"] < modules.first.bounding_box()["y"]
    if SCREENSHOT:
        page.screenshot(path=SCREENSHOT, full_page=True)

    busy.locator("td.failures a").click()
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)
    # The reason column says why each call failed.
    expect(page.locator("#result_list")).to_contain_text("circuit open: not called")
    expect(page.locator("#result_list")).to_contain_text("no answer")
