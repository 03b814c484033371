"""The admin by task in a real browser (Debian chromium through Playwright): an operator who
logs in finds Provisioning, Partners, Audit and Access in that order, on the index and in the
navigation, and none of the OAuth toolkit's internals."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

#: Set ECS_INDEX_SCREENSHOT=path.png to save the operator's admin index (docs/img/admin-index.png).
SCREENSHOT = os.environ.get("ECS_INDEX_SCREENSHOT", "")


def test_an_operator_finds_the_sections_in_task_order_and_no_oauth_internals(
    page: Page, live_server
):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    user = get_user_model().objects.create_user("noc-1", password="noc-password", is_staff=True)
    user.groups.add(Group.objects.get(name="operator"))
    page.goto("/admin/login/")
    page.fill("#id_username", "noc-1")
    page.fill("#id_password", "noc-password")
    page.click("input[type=submit]")
    page.wait_for_url(live_server.url + "/admin/")

    captions = page.locator("#content-main div.module[class*='app-'] caption")
    expect(captions).to_have_text(["Provisioning", "Partners", "Audit", "Access"])
    expect(page.locator("#content-main")).not_to_contain_text("Access tokens")
    expect(page.locator("#content-main")).not_to_contain_text("Django OAuth Toolkit")
    audit = page.locator("#content-main div.app-audit")
    expect(audit.get_by_role("link", name="Retrieval audit log")).to_be_visible()
    if SCREENSHOT:
        page.screenshot(path=SCREENSHOT, full_page=True)

    # The navigation beside a list has the same sections; a section's title opens its page.
    page.goto("/admin/provisioning/ees/")
    nav = page.locator("#nav-sidebar caption")
    expect(nav).to_have_text(["Provisioning", "Partners", "Audit", "Access"])
    page.locator("#nav-sidebar").get_by_role("link", name="Audit", exact=True).click()
    expect(page.locator("#content h1")).to_have_text("Audit")
    expect(page.locator("#content-main")).to_contain_text("Notifications")

    # Typed by hand, an OAuth toolkit page is refused.
    answer = page.goto("/admin/oauth2_provider/accesstoken/")
    assert answer.status == 403
