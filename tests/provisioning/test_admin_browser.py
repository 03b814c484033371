"""The OAM engineer's admin, driven in a real browser (Debian chromium through Playwright).

Every assertion is about what the page shows: error messages next to the field that is wrong,
the rows of a list, the result of a search, the change log.
"""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import Page, expect

from provisioning.models import EDN, EES
from tests.browser import ADMIN_USERNAME, add_item, add_plmn, control, editor, editor_list
from tests.builders import make_edn, make_ees, tai

pytestmark = pytest.mark.browser

#: Set ADMIN_SCREENSHOTS=1 to save /tmp/admin-<name>.png at the interesting steps.
SCREENSHOTS = os.environ.get("ADMIN_SCREENSHOTS") == "1"


def shot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        page.screenshot(path=f"/tmp/admin-{name}.png", full_page=True)


def fill_tai(page: Page, field: str, index: int, mcc: str, mnc: str, tac: str) -> None:
    where = ("nwAreaInfo", "tais", index)
    control(page, field, *where, "plmnId", "mcc").fill(mcc)
    control(page, field, *where, "plmnId", "mnc").fill(mnc)
    control(page, field, *where, "tac").fill(tac)


def editor_errors(page: Page, field: str):
    """The errors Django's admin shows with one editor's field."""
    return page.locator(f".field-{field} ul.errorlist")


def field_errors(page: Page, field: str):
    """The errors Django's admin shows above one field, after checking they belong to it."""
    errors = page.locator(f".field-{field} #id_{field}_error")
    expect(page.locator(f"#id_{field}")).to_have_attribute("aria-invalid", "true")
    expect(page.locator(f"#id_{field}")).to_have_attribute(
        "aria-describedby", re.compile(rf"\bid_{field}_error\b")
    )
    return errors


def save(page: Page) -> None:
    page.locator("input[name=_save]").click()
    page.wait_for_load_state()


def test_login_through_the_form_shows_the_provisioning_models(page: Page, live_server):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser("engineer", "e@example.org", "right-password")
    page.goto("/admin/")
    expect(page).to_have_url(live_server.url + "/admin/login/?next=/admin/")
    page.fill("#id_username", "engineer")
    page.fill("#id_password", "wrong-password")
    page.click("input[type=submit]")
    expect(page.locator(".errornote")).to_contain_text("enter the correct username and password")

    page.fill("#id_password", "right-password")
    page.click("input[type=submit]")
    expect(page).to_have_url(live_server.url + "/admin/")
    expect(page.locator("#user-tools")).to_contain_text("engineer")
    provisioning = page.locator(".app-provisioning")
    for name in ("ECS configuration", "EDNs", "EESs"):
        expect(provisioning.get_by_role("link", name=name, exact=True)).to_be_visible()


def test_add_edn_shows_the_tac_error_next_to_the_area_and_saves_once_fixed(admin_page: Page):
    page = admin_page
    page.locator(".app-provisioning tr.model-edn a.addlink").click()
    page.fill("#id_edn_id", "edn-berlin")
    page.fill("#id_dnn", "edge.example")
    page.fill("#id_snssai_sst", "1")
    add_item(editor_list(page, "edn_topo_srv_area", "TAIs"))
    fill_tai(page, "edn_topo_srv_area", 0, "001", "01", "00G1")
    save(page)

    expect(page.locator(".errornote")).to_contain_text("Please correct the error below.")
    errors = editor_errors(page, "edn_topo_srv_area")
    expect(errors).to_have_text(
        'nwAreaInfo.tais[0].tac "00G1" is not valid: '
        'a TAC is 4 or 6 hexadecimal digits, e.g. "00A1".'
    )
    # The other fields have no errors, and what the engineer typed is still there to fix.
    expect(page.locator(".errorlist")).to_have_count(1)
    tac = control(page, "edn_topo_srv_area", "nwAreaInfo", "tais", 0, "tac")
    expect(tac).to_have_value("00G1")
    shot(page, "edn-tac-error")
    assert not EDN.objects.exists()

    tac.fill("00A1")
    save(page)

    expect(page.locator(".messagelist .success")).to_contain_text("was added successfully")
    expect(page.locator(".messagelist .success")).to_contain_text("edn-berlin")
    row = page.locator("#result_list tbody tr", has_text="edn-berlin")
    expect(row).to_have_count(1)
    # The PLMN the TAI belongs to is now one the EDN serves.
    expect(row.locator(".field-plmn_list")).to_have_text("001-01")
    expect(row.locator(".field-snssai_label")).to_have_text("1")
    shot(page, "edn-list")


def test_add_ees_under_an_edn_then_find_it_by_eas_id(admin_page: Page):
    page = admin_page
    make_edn("edn-berlin", area_={"nwAreaInfo": {"tais": [tai("00A1")]}})
    other = make_edn("edn-munich")
    make_ees(other, "ees-munich-1", eas_ids=["org.example.maps"])

    page.goto("/admin/provisioning/edn/")
    page.locator("#result_list").get_by_role("link", name="edn-berlin").click()
    shot(page, "edn-change")
    page.get_by_role("link", name="Add an EES to this EDN").click()
    # The EES form opens with this EDN already chosen.
    expect(page.locator("#select2-id_edn-container")).to_have_text("edn-berlin")

    page.fill("#id_ees_id", "ees-berlin-1")
    control(page, "end_pt", "uri").fill("ees-berlin-1.example/eees")
    add_item(editor(page, "eas_ids"))
    add_item(editor(page, "eas_ids"))
    control(page, "eas_ids", 0).fill("com.example.game")
    control(page, "eas_ids", 1).fill("com.example.video")
    save(page)

    expect(editor_errors(page, "end_pt")).to_have_text(
        'uri "ees-berlin-1.example/eees" is not an absolute URI like "https://host/".'
    )
    shot(page, "ees-endpoint-error")
    control(page, "end_pt", "uri").fill("https://ees-berlin-1.example/eees")
    save(page)

    expect(page.locator(".messagelist .success")).to_contain_text("was added successfully")
    row = page.locator("#result_list tbody tr", has_text="ees-berlin-1")
    expect(row.locator(".field-edn")).to_have_text("edn-berlin")
    expect(row.locator(".field-eas_list")).to_have_text("com.example.game, com.example.video")
    expect(page.locator("#result_list tbody tr")).to_have_count(2)

    page.fill("#searchbar", "com.example.video")
    page.press("#searchbar", "Enter")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("#result_list tbody tr").first).to_contain_text("ees-berlin-1")
    expect(page.locator("#changelist-search")).to_contain_text("1 result (2 total)")
    shot(page, "ees-search")

    # Both of the EES's EAS ids match "com.example.": the EES is listed once.
    page.fill("#searchbar", "com.example.")
    page.press("#searchbar", "Enter")
    expect(page.locator("#changelist-search")).to_contain_text("1 result (2 total)")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("#result_list tbody tr").first).to_contain_text("ees-berlin-1")

    page.fill("#searchbar", "com.example.unknown")
    page.press("#searchbar", "Enter")
    expect(page.locator("#changelist-search")).to_contain_text("0 results (2 total)")
    assert EES.objects.get(ees_id="ees-berlin-1").applications.count() == 2


def test_slice_and_plmn_errors_are_shown_per_field(admin_page: Page):
    page = admin_page
    page.goto("/admin/provisioning/edn/add/")
    page.fill("#id_dnn", "edge.example")
    page.fill("#id_snssai_sst", "300")
    page.fill("#id_snssai_sd", "12AB")
    add_plmn(page, "plmns", "01", "001")
    save(page)

    expect(field_errors(page, "snssai_sst")).to_have_text(
        "SST is a whole number from 0 to 255 (TS 23.003 clause 28.4.2)."
    )
    expect(field_errors(page, "snssai_sd")).to_have_text(
        'SD is 6 hexadecimal digits, e.g. "0000A1"; leave it empty for a slice without SD.'
    )
    expect(editor_errors(page, "plmns")).to_have_text(
        '[0].mcc "01" is not valid: an MCC is 3 digits.'
    )
    shot(page, "edn-slice-errors")
    assert not EDN.objects.exists()


def test_history_shows_who_changed_which_field(admin_page: Page):
    page = admin_page
    page.goto("/admin/provisioning/edn/add/")
    page.fill("#id_edn_id", "edn-history")
    page.fill("#id_dnn", "edge.example")
    save(page)
    page.locator("#result_list").get_by_role("link", name="edn-history").click()
    add_plmn(page, "plmns", "262", "01")
    save(page)
    expect(page.locator(".messagelist .success")).to_contain_text("was changed successfully")

    page.locator("#result_list").get_by_role("link", name="edn-history").click()
    page.get_by_role("link", name="History").click()
    rows = page.locator("#change-history tbody tr")
    expect(rows).to_have_count(2)
    changed, created = rows.nth(0), rows.nth(1)
    expect(changed.locator("td").nth(2)).to_have_text("Changed")
    expect(changed.locator("td").nth(3)).to_have_text(ADMIN_USERNAME)
    expect(changed.locator("td").nth(4)).to_have_text("Admin: changed PLMNs")
    expect(changed.locator("td").nth(5)).to_have_text(
        'PLMNs: [] → [{"mcc": "262", "mnc": "01"}]', use_inner_text=True
    )
    expect(created.locator("td").nth(2)).to_have_text("Created")
    expect(created.locator("td").nth(3)).to_have_text(ADMIN_USERNAME)
    shot(page, "edn-history")
