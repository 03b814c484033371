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


def test_the_outbox_list_fits_a_1400_px_screen(admin_page: Page):
    from notifications.models import Notification

    Notification.objects.create(
        kind="partner-subscription",
        subscription="sub-" + "x" * 60,
        destination="https://a-long-host-name.partner-operator.example/notifications/" + "p" * 80,
        payload={},
        state=Notification.GIVEN_UP,
        attempts=12,
        last_error="connection refused by 198.51.100.7 after the TLS handshake " + "e" * 80,
    )
    page = admin_page
    assert page.viewport_size["width"] == 1400
    page.goto("/admin/notifications/notification/")
    row = page.locator("#result_list tbody tr").first
    if SCREENSHOT:
        page.screenshot(path=SCREENSHOT.replace(".png", "-outbox.png"))
    # Every column inside the list's own box (which would otherwise scroll sideways).
    results = page.locator("#changelist .results").bounding_box()
    for cell in row.locator("td, th").all():
        box = cell.bounding_box()
        assert box["x"] + box["width"] <= results["x"] + results["width"] + 1, cell.inner_text()
    expect(row.locator("td.field-state")).to_have_text("given up")
    expect(row.locator("td.field-attempts")).to_have_text("12")
    # The whole destination stays readable, as the cut text's title.
    title = row.locator("td.field-destination_host span").get_attribute("title")
    assert title.endswith("p" * 80)
