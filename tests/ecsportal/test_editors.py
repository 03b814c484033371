"""The admin's schema-driven editors (``ecscore.editors``): the form each is drawn from is
3GPP's own schema, what the editor sends becomes the 3GPP value, and an open enumeration's
typo is the form's to refuse while the APIs keep accepting it."""

from __future__ import annotations

import html
import json
import re

import pytest

from ecscore import editors, schemas
from provisioning.models import EES
from tests.builders import make_edn
from tests.oam.base import api_for

pytestmark = pytest.mark.django_db

EDGE4 = "TS24558_Eecs_ServiceProvisioning.yaml"
ACR = schemas.schema_of("TS29558_Eecs_EESRegistration.yaml", "ACRScenario")["anyOf"][0]["enum"]


def ees_form(edn, **changes: str) -> dict[str, str]:
    data = {
        "ees_id": "ees-a",
        "edn": str(edn.pk),
        "end_pt": json.dumps({"uri": "https://ees-a.example/eees"}),
        "ecsp_info": "",
        **{f: "[]" for f in ("eas_ids", "app_group_ids", "eas_inst_infos", "eas_bundle_infos")},
        **{f: "[]" for f in ("dnais", "ees_svc_cont_supp", "ees_auth_methods")},
        "svc_area": "null",
    }
    data.update(changes)
    return data


def errors_of(response, field: str) -> list[str]:
    assert response.status_code == 200, response.status_code
    found = re.search(
        rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', response.content.decode(), re.S
    )
    assert found, f"no errors shown for {field}"
    return [html.unescape(m) for m in re.findall(r"<li>(.*?)</li>", found.group(1), re.S)]


def test_endpoint_is_a_choice_of_one_member_each():
    schema = editors.editor_schema("TS29558_Eees_EASRegistration.yaml", "EndPoint")
    assert [list(option["keys"]) for option in schema["oneOf"]] == [
        ["uri"],
        ["fqdn"],
        ["ipv4Addrs"],
        ["ipv6Addrs"],
    ]
    assert [option["title"] for option in schema["oneOf"]][:2] == ["URI", "FQDN"]


def test_a_tai_is_a_plmn_picker_and_a_tac_and_shapes_are_structured_points():
    area = editors.editor_schema("TS29122_CommonData.yaml", "LocationArea5G")
    tai = area["keys"]["nwAreaInfo"]["keys"]["tais"]["items"]
    assert list(tai["keys"])[:2] == ["plmnId", "tac"]  # what 3GPP requires first
    assert list(tai["keys"]["plmnId"]["keys"]) == ["mcc", "mnc"]
    shapes = {o["title"]: o for o in area["keys"]["geographicAreas"]["items"]["oneOf"]}
    assert shapes["Point"]["keys"]["shape"]["const"] == "POINT"
    assert set(shapes["Point"]["keys"]["point"]["keys"]) == {"lat", "lon"}
    polygon = shapes["Polygon"]["keys"]["pointList"]
    assert set(polygon["items"]["keys"]) == {"lat", "lon"}
    assert shapes["Ellipsoid Arc"]["keys"]["shape"]["const"] == "ELLIPSOID_ARC"


def test_open_enumerations_offer_3gpps_values_and_an_other_value():
    acr = editors.member_schema(EDGE4, "EESInfo", "eesSvcContSupp")["items"]
    known, other = acr["oneOf"]
    assert known["choices"] == ACR
    assert list(other["keys"]) == [editors.OTHER]
    auth = editors.member_schema(EDGE4, "EESInfo", "eesAuthMethods")["items"]
    assert "TLS_WITH_AKMA" in auth["oneOf"][0]["choices"]


def test_what_the_editor_sends_becomes_the_3gpp_value():
    area = editors.editor_schema("TS29122_CommonData.yaml", "LocationArea5G")
    # What django-jsonform sends for a service area with one TAI filled in.
    sent = {
        "civicAddresses": [],
        "geographicAreas": [],
        "nwAreaInfo": {
            "ecgis": [],
            "gRanNodeIds": [],
            "ncgis": [],
            "tais": [{"plmnId": {"mcc": "001", "mnc": "01"}, "tac": "00A1", "nid": ""}],
        },
    }
    problems: list = []
    assert editors.from_editor(sent, area, [], problems) == {
        "nwAreaInfo": {"tais": [{"plmnId": {"mcc": "001", "mnc": "01"}, "tac": "00A1"}]}
    }
    assert problems == []


def test_a_typo_is_refused_by_the_form_with_the_value_meant(admin_client):
    edn = make_edn("edn-a")
    response = admin_client.post(
        "/admin/provisioning/ees/add/",
        ees_form(edn, ees_svc_cont_supp='["EEC_INITATED"]', ees_auth_methods='["TLS_WITH_AKAM"]'),
    )
    [acr] = errors_of(response, "ees_svc_cont_supp")
    assert acr.startswith('ACR scenarios[0]: "EEC_INITATED" is not a value 3GPP defines')
    assert 'Did you mean "EEC_INITIATED"?' in acr
    assert 'choose "other value (3GPP leaves the list open)"' in acr
    [auth] = errors_of(response, "ees_auth_methods")
    assert 'Did you mean "TLS_WITH_AKMA"?' in auth
    assert not EES.objects.exists()


def test_an_other_value_is_kept_deliberately_and_shown_as_other_again(admin_client):
    edn = make_edn("edn-a")
    chosen = json.dumps(["EEC_INITIATED", {editors.OTHER: "EEC_RELEASE_20_MODE"}])
    response = admin_client.post(
        "/admin/provisioning/ees/add/", ees_form(edn, ees_svc_cont_supp=chosen)
    )
    assert response.status_code == 302
    ees = EES.objects.get(ees_id="ees-a")
    assert ees.ees_svc_cont_supp == ["EEC_INITIATED", "EEC_RELEASE_20_MODE"]
    page = admin_client.get(f"/admin/provisioning/ees/{ees.pk}/change/").content.decode()
    config = re.search(r'name="ees_svc_cont_supp"[^>]*data-django-jsonform="([^"]*)"', page)
    data = json.loads(json.loads(html.unescape(config.group(1)))["data"])
    assert data == ["EEC_INITIATED", {editors.OTHER: "EEC_RELEASE_20_MODE"}]


def test_the_api_accepts_the_typo_3gpp_leaves_open():
    make_edn("edn-a")
    api = api_for("inventory-sync", "operator")
    response = api.post(
        "eess/",
        {
            "edn": "edn-a",
            "eesId": "ees-typo",
            "eecRegConf": False,
            "eesSvcContSupp": ["EEC_INITATED"],
            "eesAuthMethods": ["TLS_WITH_AKAM"],
        },
    )
    assert response.status_code == 201, response.content
    ees = EES.objects.get(ees_id="ees-typo")
    assert ees.ees_svc_cont_supp == ["EEC_INITATED"]
    assert ees.ees_auth_methods == ["TLS_WITH_AKAM"]
