"""The "Why this answer" page in a real browser (Debian chromium through Playwright): from the
admin index to the explanation of a request that one EES fails by area and another by EAS id,
then the same request pasted as JSON."""

from __future__ import annotations

import json
import os

import pytest
from playwright.sync_api import Page, expect

from partners.models import RetrievalAudit
from tests.builders import (
    HOME,
    area,
    configure_ecs,
    edge4_request,
    make_edn,
    make_ees,
    make_partner,
    ncgi,
    plmn,
    tai,
    ue_at,
)

pytestmark = pytest.mark.browser

#: Where to write a screenshot of the page (unset: none): docs/img/explain.png is one.
SCREENSHOT = os.environ.get("ECS_EXPLAIN_SCREENSHOT", "")
GAME = "com.example.cloud-gaming"


def seed() -> None:
    configure_ecs(home=(HOME,))
    north = make_edn("edn-north", dnn="north.example", area_=area(tais=[tai("0101")]))
    south = make_edn("edn-south", dnn="south.example", area_=area(tais=[tai("0202")]))
    make_ees(north, "ees-north-1", eas_ids=[GAME], ecsp="ecsp-a")
    make_ees(north, "ees-north-ar", eas_ids=["com.example.ar-navigation"])
    make_ees(south, "ees-south-1", eas_ids=[GAME])
    # Consulted only for a UE roaming in its PLMN: this one is not.
    make_partner("ecs.visited.example", plmns=[plmn("002", "02")])


def expect_verdicts(page: Page) -> None:
    rows = page.locator("#explain-eess tr.ees")
    expect(rows).to_have_count(3)
    north = page.locator('tr[data-ees="ees-north-1"]')
    expect(north.locator("td.verdict")).to_have_text("admitted")
    expect(north.locator("td.position")).to_have_text("1")
    by_app = page.locator('tr[data-ees="ees-north-ar"]')
    expect(by_app.locator("td.verdict")).to_have_text("excluded")
    expect(by_app.locator("td.rule")).to_have_text("easId")
    expect(by_app.locator("td.reason")).to_contain_text("com.example.ar-navigation")
    by_area = page.locator('tr[data-ees="ees-south-1"]')
    expect(by_area.locator("td.verdict")).to_have_text("excluded")
    expect(by_area.locator("td.rule")).to_have_text("area")
    expect(by_area.locator("td.reason")).to_contain_text("does not contain the UE's location")
    expect(page.locator("#explain-answer h2")).to_contain_text("200")
    expect(page.locator("#explain-answer pre")).to_contain_text('"eesId": "ees-north-1"')
    partner = page.locator('#explain-partners tr[data-partner="ecs.visited.example"]')
    expect(partner.locator("td.consulted")).to_have_text("no")
    expect(partner.locator("td.why")).to_contain_text("not roaming")


def test_the_page_explains_an_ees_failing_by_area_and_another_by_eas_id(admin_page: Page):
    seed()
    page = admin_page
    page.goto("/admin/")
    page.locator("#explain-entry a").click()
    expect(page.locator("h1")).to_have_text("Why this answer")
    page.fill("#id_eas_id", GAME)
    page.fill("#id_tac", "0101")
    page.fill("#id_nr_cell", "000000001")
    page.fill("#id_serving_plmn", "001-01")
    page.locator("input[name=_explain]").click()
    expect_verdicts(page)
    if SCREENSHOT:
        page.screenshot(path=SCREENSHOT, full_page=True)

    # The same request pasted as an EEC would send it, from the EES list's link.
    page.goto("/admin/provisioning/ees/")
    page.locator("#explain-link").click()
    body = edge4_request(eas_ids=[GAME], loc=ue_at(tai("0101"), ncgi("000000001")), plmns=[HOME])
    page.fill("#id_request_json", json.dumps(body))
    page.locator("input[name=_explain]").click()
    expect_verdicts(page)
    assert RetrievalAudit.objects.count() == 0

    # A request EDGE-4 would refuse is refused with its invalidParams.
    page.fill("#id_request_json", json.dumps({"acProfs": []}))
    page.locator("input[name=_explain]").click()
    expect(page.locator("#explain-errors")).to_contain_text("/eecId: is required")
    expect(page.locator("#explain-result")).to_have_count(0)
