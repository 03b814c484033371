"""The federation admin in a real browser: a partner's token shown once, the cache, the audit.

Debian chromium through Playwright (tests/browser.py), against the live server.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from partners.models import PartnerECS, ProvisioningCacheEntry, RetrievalAudit, hash_token
from tests.browser import add_plmn
from tests.builders import make_partner

pytestmark = pytest.mark.browser


def test_adding_a_partner_shows_its_inbound_token_once(admin_page: Page):
    page = admin_page
    page.goto("/admin/partners/partnerecs/add/")
    page.fill("#id_partner_id", "ecs.new-partner.example")
    page.fill("#id_api_root", "https://ecs.new-partner.example")
    add_plmn(page, "plmns", "002", "02")
    page.locator("input[name=_save]").click()
    token_box = page.locator("#inbound-token")
    expect(token_box).to_be_visible()
    token = token_box.input_value()
    assert len(token) >= 32
    partner = PartnerECS.objects.get(partner_id="ecs.new-partner.example")
    # Only the hash is stored, and it is the hash of what the page showed.
    assert partner.inbound_token_hash == hash_token(token)
    assert token not in str(PartnerECS.objects.values().get(pk=partner.pk))
    page.get_by_text("I have copied it").click()
    expect(page.locator("#result_list")).to_contain_text("ecs.new-partner.example")
    # The partner's page never shows it again.
    page.goto(f"/admin/partners/partnerecs/{partner.pk}/change/")
    expect(page.locator("body")).not_to_contain_text(token)


def test_browsing_the_cache_and_invalidating_an_entry(admin_page: Page):
    partner = make_partner("ecs.visited.example", api_root="https://ecs.visited.example")
    answer = [
        {
            "ednConInfo": {"dnn": "edge.visited"},
            "eess": [{"eesId": "ees-visited-1", "eecRegConf": False}],
        }
    ]
    entry = ProvisioningCacheEntry.objects.create(
        partner=partner,
        key="a" * 64,
        query={"servingPlmn": "002-02"},
        request={},
        answer=answer,
        expires_at=timezone.now() + dt.timedelta(minutes=10),
    )
    page = admin_page
    page.goto("/admin/partners/provisioningcacheentry/")
    row = page.locator("#result_list tbody tr").first
    expect(row).to_contain_text("ecs.visited.example")
    expect(row).to_contain_text("m ")  # "expires in" as minutes and seconds
    # The stored answer, pretty-printed, on the entry's page.
    page.goto(f"/admin/partners/provisioningcacheentry/{entry.pk}/change/")
    expect(page.locator("body")).to_contain_text('"eesId": "ees-visited-1"')
    page.goto("/admin/partners/provisioningcacheentry/")
    page.locator("#result_list tbody input.action-select").first.check()
    page.select_option("select[name=action]", "invalidate")
    page.locator("button[name=index]").click()
    expect(page.locator(".messagelist")).to_contain_text("Invalidated 1")
    entry.refresh_from_db()
    assert not entry.fresh
    # The freshness filter now lists it under "expired", not under "fresh".
    page.goto("/admin/partners/provisioningcacheentry/?fresh=yes")
    expect(page.locator("#changelist")).not_to_contain_text("ecs.visited.example")
    page.goto("/admin/partners/provisioningcacheentry/?fresh=no")
    expect(page.locator("#result_list")).to_contain_text("ecs.visited.example")


def test_filtering_the_audit_log(admin_page: Page):
    partner = make_partner("ecs.visited.example", api_root="https://ecs.visited.example")
    RetrievalAudit.objects.create(
        direction="in",
        partner=partner,
        partner_label=partner.partner_id,
        request_id="req-inbound-1",
        decision="denied",
        reason="NO_POLICY",
        status=403,
    )
    RetrievalAudit.objects.create(
        direction="out",
        partner=partner,
        partner_label=partner.partner_id,
        request_id="req-outbound-1",
        status=200,
        edn_count=1,
        cache="miss",
    )
    page = admin_page
    page.goto("/admin/partners/retrievalaudit/")
    expect(page.locator("#result_list")).to_contain_text("req-inbound-1")
    expect(page.locator("#result_list")).to_contain_text("req-outbound-1")
    page.locator("#changelist-filter").get_by_role("link", name="denied").click()
    expect(page.locator("#result_list")).to_contain_text("req-inbound-1")
    expect(page.locator("#result_list")).not_to_contain_text("req-outbound-1")
    # Read-only: no add button, and a row's page offers no save.
    expect(page.locator(".object-tools")).not_to_contain_text("Add")


def test_a_policy_from_the_forms_defaults_lets_the_partner_ask_and_one_allowing_none_warns(
    admin_page: Page,
):
    from partners.models import AuthorizationPolicy
    from tests.browser import control, editor

    partner = make_partner("ecs.policy.example")
    page = admin_page
    page.goto("/admin/partners/authorizationpolicy/add/")
    page.select_option("#id_partner", str(partner.pk))
    # The form starts from "any EAS id": saved as it is, the policy lets the partner ask.
    expect(control(page, "eas_ids", 0)).to_have_value("*")
    page.locator("input[name=_save]").click()
    expect(page.locator(".messagelist .success")).to_be_visible()
    expect(page.locator(".messagelist .warning")).to_have_count(0)
    policy = AuthorizationPolicy.objects.get()
    assert policy.eas_ids == ["*"]
    assert policy.serving_plmns is None and policy.ecsps is None and policy.dnns is None

    # Without any EAS id it refuses every request: saved, and the page says so.
    page.goto(f"/admin/partners/authorizationpolicy/{policy.pk}/change/")
    editor(page, "eas_ids").get_by_role("button", name="Remove").click()
    expect(control(page, "eas_ids", 0)).to_have_count(0)  # the editor's row fades out first
    page.locator("input[name=_save]").click()
    expect(page.locator(".messagelist .warning")).to_contain_text("allows no EAS id")
    expect(page.locator(".messagelist .warning")).to_contain_text("403")
    policy.refresh_from_db()
    assert policy.eas_ids == []


def test_the_partner_list_shows_circuit_and_last_success_within_1400_px(admin_page: Page):
    make_partner(
        "ecs.visited-operator.example",
        api_root="https://ecs.visited-operator.example/api/v1",
        ecsp="ecsp-visited",
    )
    partner = PartnerECS.objects.get()
    RetrievalAudit.objects.create(
        direction=RetrievalAudit.OUTBOUND,
        partner=partner,
        partner_label=partner.partner_id,
        request_id="r",
        cache=RetrievalAudit.MISS,
        status=200,
    )
    page = admin_page
    assert page.viewport_size["width"] == 1400
    page.goto("/admin/partners/partnerecs/")
    row = page.locator("#result_list tbody tr").first
    results = page.locator("#changelist .results").bounding_box()
    for cell in row.locator("td, th").all():
        box = cell.bounding_box()
        assert box["x"] + box["width"] <= results["x"] + results["width"] + 1, cell.inner_text()
    expect(row.locator("td.field-circuit")).to_have_text("closed")
    expect(row.locator("td.field-consult_short")).to_have_text("roaming only")
    # The last success opens the audit rows of the partner's answered calls.
    row.locator("td.field-last_success a").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
