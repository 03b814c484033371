"""The schema-driven editors in a real browser (Debian chromium through Playwright): an EES
added by picking and filling fields, never typing JSON; a typo'd enumerated value that the
API accepts (3GPP leaves the list open) refused by the form, with the value it meant offered.
"""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import Page, expect

from provisioning.models import EES
from tests.browser import add_item, control, editor, editor_list
from tests.builders import make_edn

pytestmark = pytest.mark.browser

#: Set ECS_EDITOR_SCREENSHOT=path.png to save the filled EES editor (docs/img/ees-editor.png).
SCREENSHOT = os.environ.get("ECS_EDITOR_SCREENSHOT", "")


def save(page: Page) -> None:
    page.locator("input[name=_save]").click()
    page.wait_for_load_state()


def test_an_ees_is_added_through_the_editors_without_typing_json(admin_page: Page):
    page = admin_page
    edn = make_edn(edn_id="edn-berlin")
    page.goto(f"/admin/provisioning/ees/add/?edn={edn.pk}")
    page.fill("#id_ees_id", "ees-berlin-1")

    # EndPoint is a choice of one of its members: an FQDN here.
    editor(page, "end_pt").locator("select.rjf-oneof-selector-input").select_option(label="FQDN")
    control(page, "end_pt", "fqdn").fill("ees-berlin-1.example.org")

    eas = editor(page, "eas_ids")
    add_item(eas)
    add_item(eas)
    control(page, "eas_ids", 0).fill("com.example.game")
    control(page, "eas_ids", 1).fill("com.example.video")

    # The service area: one TAI (PLMN and TAC in their own fields) and a point on the map.
    add_item(editor_list(page, "svc_area", "TAIs"))
    control(page, "svc_area", "nwAreaInfo", "tais", 0, "plmnId", "mcc").fill("262")
    control(page, "svc_area", "nwAreaInfo", "tais", 0, "plmnId", "mnc").fill("01")
    control(page, "svc_area", "nwAreaInfo", "tais", 0, "tac").fill("00A1")
    add_item(editor_list(page, "svc_area", "Geographic areas"))
    shape = editor(page, "svc_area").locator("select.rjf-oneof-selector-input").first
    shape.select_option(label="Point")
    control(page, "svc_area", "geographicAreas", 0, "point", "lat").fill("52.52")
    control(page, "svc_area", "geographicAreas", 0, "point", "lon").fill("13.405")

    # ACR scenarios and authentication methods from 3GPP's lists.
    add_item(editor(page, "ees_svc_cont_supp"))
    control(page, "ees_svc_cont_supp", 0).select_option("EEC_INITIATED")
    add_item(editor(page, "ees_auth_methods"))
    control(page, "ees_auth_methods", 0).select_option("TLS_WITH_AKMA")
    if SCREENSHOT:
        page.locator("#content").screenshot(path=SCREENSHOT)
    save(page)

    expect(page.locator(".messagelist .success")).to_contain_text("ees-berlin-1")
    ees = EES.objects.get(ees_id="ees-berlin-1")
    assert ees.edn == edn
    assert ees.end_pt == {"fqdn": "ees-berlin-1.example.org"}
    assert ees.eas_ids == ["com.example.game", "com.example.video"]
    assert ees.svc_area == {
        "nwAreaInfo": {"tais": [{"plmnId": {"mcc": "262", "mnc": "01"}, "tac": "00A1"}]},
        "geographicAreas": [{"shape": "POINT", "point": {"lat": 52.52, "lon": 13.405}}],
    }
    assert ees.ees_svc_cont_supp == ["EEC_INITIATED"]
    assert ees.ees_auth_methods == ["TLS_WITH_AKMA"]
    # Nothing the engineer left alone was written: no empty lists, strings or objects.
    assert ees.app_group_ids == [] and ees.dnais == [] and ees.eas_bundle_infos == []

    # Opened again, the editor shows what was saved, field by field.
    page.goto(f"/admin/provisioning/ees/{ees.pk}/change/")
    expect(control(page, "svc_area", "nwAreaInfo", "tais", 0, "tac")).to_have_value("00A1")
    expect(control(page, "end_pt", "fqdn")).to_have_value("ees-berlin-1.example.org")
    expect(control(page, "ees_svc_cont_supp", 0)).to_have_value("EEC_INITIATED")


def test_a_typo_the_api_accepts_is_refused_by_the_form_until_picked_or_kept_as_other(
    admin_page: Page, live_server
):
    from oam.models import OAMToken
    from tests.oam.base import make_user

    make_edn(edn_id="edn-berlin")
    _, key = OAMToken.objects.issue(make_user("inventory-sync", "operator"))
    # 3GPP leaves ACR scenarios open, so the API takes a value it does not know, typo or not.
    answer = admin_page.request.post(
        live_server.url + "/api/oam/v1/eess/",
        headers={"Authorization": f"Token {key}"},
        data={
            "edn": "edn-berlin",
            "eesId": "ees-typo",
            "endPt": {"uri": "https://ees-typo.example/eees"},
            "eecRegConf": False,
            "eesSvcContSupp": ["EEC_INITATED"],
        },
    )
    assert answer.status == 201, answer.text()
    ees = EES.objects.get(ees_id="ees-typo")
    assert ees.ees_svc_cont_supp == ["EEC_INITATED"]

    page = admin_page
    page.goto(f"/admin/provisioning/ees/{ees.pk}/change/")
    save(page)
    errors = page.locator(".field-ees_svc_cont_supp .errorlist")
    expect(errors).to_contain_text('"EEC_INITATED" is not a value 3GPP defines')
    expect(errors).to_contain_text('Did you mean "EEC_INITIATED"?')
    ees.refresh_from_db()
    assert ees.ees_svc_cont_supp == ["EEC_INITATED"]  # nothing written

    # The engineer picks the value meant, and adds one 3GPP does not list, deliberately.
    control(page, "ees_svc_cont_supp", 0).select_option("EEC_INITIATED")
    add_item(editor(page, "ees_svc_cont_supp"))
    other = editor(page, "ees_svc_cont_supp").locator("select.rjf-oneof-selector-input").last
    other.select_option(label="other value (3GPP leaves the list open)")
    control(page, "ees_svc_cont_supp", 1, "__other__").fill("EEC_RELEASE_20_MODE")
    save(page)
    expect(page.locator(".messagelist .success")).to_contain_text("ees-typo")
    ees.refresh_from_db()
    assert ees.ees_svc_cont_supp == ["EEC_INITIATED", "EEC_RELEASE_20_MODE"]

    # Opened again, the deliberate value shows as an "other value", and saves as it is.
    page.goto(f"/admin/provisioning/ees/{ees.pk}/change/")
    expect(control(page, "ees_svc_cont_supp", 1, "__other__")).to_have_value("EEC_RELEASE_20_MODE")
    save(page)
    expect(page.locator(".messagelist .success")).to_contain_text("ees-typo")
    ees.refresh_from_db()
    assert ees.ees_svc_cont_supp == ["EEC_INITIATED", "EEC_RELEASE_20_MODE"]


def test_an_ees_with_every_member_is_saved_unchanged_through_the_editors(admin_page: Page):
    from tests.builders import ncgi, tai

    edn = make_edn(edn_id="edn-berlin")
    members = {
        "end_pt": {"ipv4Addrs": ["192.0.2.10", "192.0.2.11"]},
        "eas_ids": ["com.example.game"],
        "app_group_ids": ["group-1"],
        "svc_area": {
            "nwAreaInfo": {"tais": [tai("00A1")], "ncgis": [ncgi("00000A1B2")]},
            "geographicAreas": [
                {
                    "shape": "POLYGON",
                    "pointList": [
                        {"lat": 52.5, "lon": 13.3},
                        {"lat": 52.6, "lon": 13.4},
                        {"lat": 52.5, "lon": 13.5},
                    ],
                },
                {
                    "shape": "POINT_UNCERTAINTY_CIRCLE",
                    "point": {"lat": 52.52, "lon": 13.405},
                    "uncertainty": 250,
                },
            ],
        },
        "dnais": ["dnai-berlin"],
        "ees_svc_cont_supp": ["EEL_MANAGED_ACR", "A_LATER_RELEASE_SCENARIO"],
        "ees_auth_methods": ["TLS_WITH_GBA"],
        "eas_inst_infos": [{"easId": "com.example.game", "status": "INSTANTIATED"}],
        "eas_bundle_infos": [{"bdlType": "DIRECT", "easIdsList": ["com.example.game"]}],
    }
    ees = EES.objects.create(edn=edn, ees_id="ees-full", ecsp_info="ecsp-a", **members)
    page = admin_page
    page.goto(f"/admin/provisioning/ees/{ees.pk}/change/")
    # Each member is drawn in its own form: the shapes as the shapes they are.
    expect(control(page, "svc_area", "geographicAreas", 0, "pointList", 2, "lon")).to_have_value(
        "13.5"
    )
    expect(control(page, "svc_area", "geographicAreas", 1, "uncertainty")).to_have_value("250")
    expect(control(page, "end_pt", "ipv4Addrs", 1)).to_have_value("192.0.2.11")
    expect(control(page, "ees_svc_cont_supp", 1, "__other__")).to_have_value(
        "A_LATER_RELEASE_SCENARIO"
    )
    save(page)
    expect(page.locator(".messagelist .success")).to_contain_text("ees-full")
    ees.refresh_from_db()
    for field, value in members.items():
        assert getattr(ees, field) == value, field
    assert ees.ecsp_info == "ecsp-a"


def test_coordinates_of_a_cell_are_entered_through_the_editor(admin_page: Page):
    from provisioning.models import AreaCoordinates

    page = admin_page
    page.goto("/admin/provisioning/areacoordinates/add/")
    page.select_option("#id_kind", "ncgi")
    editor(page, "area").locator("select.rjf-oneof-selector-input").first.select_option(
        label="NR cell (NCGI)"
    )
    control(page, "area", "plmnId", "mcc").fill("001")
    control(page, "area", "plmnId", "mnc").fill("01")
    control(page, "area", "nrCellId").fill("00000A1B2")
    page.fill("#id_lat", "52.52")
    page.fill("#id_lon", "13.405")
    save(page)
    expect(page.locator(".messagelist .success")).to_be_visible()
    placed = AreaCoordinates.objects.get()
    assert placed.area == {"plmnId": {"mcc": "001", "mnc": "01"}, "nrCellId": "00000A1B2"}

    # Opened again, the cell is shown as the cell it is.
    page.goto(f"/admin/provisioning/areacoordinates/{placed.pk}/change/")
    expect(control(page, "area", "nrCellId")).to_have_value("00000A1B2")
