"""The admin forms' 3GPP checks, and list search and filters (Django test client).

The browser tests walk the main paths; these cover every rule quickly, reading the errors
shown above each field, and the rows of the lists, from the page the engineer gets back.
"""

from __future__ import annotations

import html
import json
import re

import pytest
import yaml
from django.contrib.auth import get_user_model
from django.test import Client

from ecscore import editors
from provisioning.models import EDN, EES, ECSConfiguration
from tests.builders import area, configure_ecs, ecgi, make_edn, make_ees, ncgi, plmn, tai
from tests.ecsportal.configtools import (
    admin_form_errors,
    apply_config,
    export_config,
    refused_by_apply,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static_files")]

EDN_ADD = "/admin/provisioning/edn/add/"
EES_ADD = "/admin/provisioning/ees/add/"
CONFIG_ADD = "/admin/provisioning/ecsconfiguration/add/"


@pytest.fixture
def admin_client() -> Client:
    user = get_user_model().objects.create_superuser("oam", "oam@example.org", "pw")
    client = Client()
    client.force_login(user)
    return client


def shown_errors(response, field: str) -> list[str]:
    """The messages the page shows above one field (empty when it shows none)."""
    assert response.status_code == 200, response.status_code
    page = response.content.decode()
    found = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', page, re.S)
    if not found:
        return []
    return [html.unescape(m) for m in re.findall(r"<li>(.*?)</li>", found.group(1), re.S)]


def editor_config(response, field: str) -> dict:
    """What a JSON member's editor is given: its schema and the data it shows."""
    page = response.content.decode()
    found = re.search(rf'<textarea[^>]*name="{field}"[^>]*data-django-jsonform="([^"]*)"', page)
    assert found, f"no editor for {field}"
    return json.loads(html.unescape(found.group(1)))


def editor_data(response, field: str):
    return json.loads(editor_config(response, field)["data"])


def edn_form(**changes: str) -> dict[str, str]:
    data = {"edn_id": "edn-a", "dnn": "edge.example", "snssai_sst": "1", "snssai_sd": ""}
    data.update({"edn_topo_srv_area": "", "plmns": ""}, **changes)
    return data


@pytest.fixture
def edn() -> EDN:
    return make_edn("edn-a")


def ees_form(edn: EDN, **changes: str) -> dict[str, str]:
    data = {
        "ees_id": "ees-a",
        "edn": str(edn.pk),
        "end_pt": json.dumps({"uri": "https://ees-a.example/eees"}),
        "ecsp_info": "",
        "eas_ids": json.dumps(["com.example.game"]),
    }
    for field in ("app_group_ids", "eas_inst_infos", "eas_bundle_infos", "svc_area", "dnais"):
        data[field] = ""
    data.update({"ees_svc_cont_supp": "", "ees_auth_methods": ""}, **changes)
    return data


def test_edn_with_empty_json_boxes_saves_empty_values(admin_client):
    response = admin_client.post(EDN_ADD, edn_form())
    assert response.status_code == 302
    saved = EDN.objects.get(edn_id="edn-a")
    assert (saved.plmns, saved.edn_topo_srv_area) == ([], None)


def test_edn_area_cell_ids_and_plmn_are_explained(admin_client):
    bad = area(ncgis=[ncgi("12345")], ecgis=[ecgi("000A1B2", plmn("01", "01"))], tais=[tai("0001")])
    response = admin_client.post(EDN_ADD, edn_form(edn_topo_srv_area=json.dumps(bad)))
    assert shown_errors(response, "edn_topo_srv_area") == [
        'nwAreaInfo.ecgis[0].plmnId.mcc "01" is not valid: an MCC is 3 digits.',
        'nwAreaInfo.ncgis[0].nrCellId "12345" is not valid: '
        'an NR cell id is 9 hexadecimal digits (36 bits), e.g. "00000A1B2".',
    ]
    assert not EDN.objects.exists()


def test_edn_area_member_typo_is_refused_instead_of_serving_everywhere(admin_client):
    typo = {"nwAreaInfo": {"tai": [tai("0001")]}}
    response = admin_client.post(EDN_ADD, edn_form(edn_topo_srv_area=json.dumps(typo)))
    assert shown_errors(response, "edn_topo_srv_area") == [
        "nwAreaInfo: 'tai' is not a member of 3GPP NetworkAreaInfo; "
        "use ecgis, gRanNodeIds, ncgis, tais."
    ]


def test_edn_plmns_missing_mnc_and_not_a_list(admin_client):
    response = admin_client.post(EDN_ADD, edn_form(plmns=json.dumps([{"mcc": "001"}])))
    assert shown_errors(response, "plmns") == ["[0].mnc is missing."]
    response = admin_client.post(EDN_ADD, edn_form(plmns=json.dumps(plmn())))
    assert shown_errors(response, "plmns") == [
        'Must be a list of PLMNs, e.g. [{"mcc": "001", "mnc": "01"}].'
    ]


@pytest.mark.parametrize(
    ("sst", "sd", "field", "message"),
    [
        ("256", "", "snssai_sst", "SST is a whole number from 0 to 255 (TS 23.003 clause 28.4.2)."),
        ("-1", "", "snssai_sst", "SST is a whole number from 0 to 255 (TS 23.003 clause 28.4.2)."),
        (
            "1",
            "ABCDEG",
            "snssai_sd",
            'SD is 6 hexadecimal digits, e.g. "0000A1"; leave it empty for a slice without SD.',
        ),
        ("", "0000A1", "snssai_sst", "An SD needs an SST."),
    ],
)
def test_edn_snssai_rules(admin_client, sst, sd, field, message):
    response = admin_client.post(EDN_ADD, edn_form(snssai_sst=sst, snssai_sd=sd))
    assert shown_errors(response, field) == [message]


def test_edn_snssai_limits_are_accepted(admin_client):
    response = admin_client.post(EDN_ADD, edn_form(snssai_sst="255", snssai_sd="00ffA1"))
    assert response.status_code == 302
    assert EDN.objects.get().snssai == {"sst": 255, "sd": "00FFA1"}


def test_broken_json_is_a_form_error_with_the_position(admin_client):
    response = admin_client.post(EDN_ADD, edn_form(edn_topo_srv_area='{"nwAreaInfo": {'))
    assert shown_errors(response, "edn_topo_srv_area") == [
        "Not valid JSON: Expecting property name enclosed in double quotes at line 1, column 17."
    ]
    # The editor cannot draw text that is not JSON: it starts from nothing.
    assert editor_data(response, "edn_topo_srv_area") is None


@pytest.mark.parametrize(
    ("end_pt", "message"),
    [
        (
            {"uri": "https://a.example/", "ipv4Addrs": ["192.0.2.1"]},
            "Give exactly one of uri, fqdn, ipv4Addrs, ipv6Addrs (3GPP EndPoint); "
            "found uri and ipv4Addrs.",
        ),
        (
            {"port": 443},
            "Give exactly one of uri, fqdn, ipv4Addrs, ipv6Addrs (3GPP EndPoint); "
            "found none of them.",
        ),
        (
            "https://a.example/",
            "An endpoint is a JSON object with exactly one of uri, fqdn, ipv4Addrs, ipv6Addrs, "
            'e.g. {"uri": "https://ees.example.org/eees"}.',
        ),
        ({"ipv4Addrs": ["192.0.2.300"]}, 'ipv4Addrs[0] "192.0.2.300" is not an IPv4 address.'),
        ({"ipv6Addrs": ["2001:db8::g"]}, 'ipv6Addrs[0] "2001:db8::g" is not an IPv6 address.'),
        ({"ipv4Addrs": [""]}, 'ipv4Addrs[0] "" is not an IPv4 address.'),
        ({"uri": "ees-a/eees"}, 'uri "ees-a/eees" is not an absolute URI like "https://host/".'),
        (
            {"fqdn": "ees_a"},
            'fqdn "ees_a" is not valid: an FQDN is dot-separated labels ending in a top-level '
            'domain, e.g. "ees.example.org".',
        ),
    ],
)
def test_ees_endpoint_rules(admin_client, edn, end_pt, message):
    response = admin_client.post(EES_ADD, ees_form(edn, end_pt=json.dumps(end_pt)))
    assert shown_errors(response, "end_pt") == [message]
    assert not EES.objects.exists()


@pytest.mark.parametrize(
    "end_pt",
    [
        {"uri": "https://ees-a.example/eees"},
        {"fqdn": "ees-a.example.org"},
        {"ipv4Addrs": ["192.0.2.1", "198.51.100.7"]},
        {"ipv6Addrs": ["2001:db8::1"]},
    ],
)
def test_ees_each_kind_of_endpoint_saves(admin_client, edn, end_pt):
    response = admin_client.post(EES_ADD, ees_form(edn, end_pt=json.dumps(end_pt)))
    assert response.status_code == 302
    assert EES.objects.get().end_pt == end_pt


def test_ees_service_area_tac_and_eas_ids_are_explained(admin_client, edn):
    data = ees_form(edn, svc_area=json.dumps(area(tais=[tai("A1")])), eas_ids=json.dumps(["ok", 7]))
    response = admin_client.post(EES_ADD, data)
    assert shown_errors(response, "svc_area") == [
        'nwAreaInfo.tais[0].tac "A1" is not valid: a TAC is 4 or 6 hexadecimal digits, e.g. "00A1".'
    ]
    assert shown_errors(response, "eas_ids") == ["[1] must be a string in quotes."]


def test_ees_with_empty_boxes_saves_and_is_indexed(admin_client, edn):
    response = admin_client.post(EES_ADD, ees_form(edn, end_pt="", eas_ids=""))
    assert response.status_code == 302
    saved = EES.objects.get()
    assert (saved.end_pt, saved.eas_ids, saved.dnais, saved.svc_area) == (None, [], [], None)


def test_ecs_configuration_home_plmns_are_checked(admin_client):
    data = {"ecs_id": "ecs.example.org", "ecsp": "", "provisioning_lifetime": "3600"}
    response = admin_client.post(CONFIG_ADD, {**data, "home_plmns": json.dumps([plmn("1", "01")])})
    assert shown_errors(response, "home_plmns") == ['[0].mcc "1" is not valid: an MCC is 3 digits.']
    response = admin_client.post(CONFIG_ADD, {**data, "home_plmns": json.dumps([plmn("001", "1")])})
    assert shown_errors(response, "home_plmns") == [
        '[0].mnc "1" is not valid: an MNC is 2 or 3 digits.'
    ]
    assert not ECSConfiguration.objects.exists()

    response = admin_client.post(CONFIG_ADD, {**data, "home_plmns": json.dumps([plmn()])})
    assert response.status_code == 302
    assert ECSConfiguration.load().home_plmn_keys() == {"001-01"}


def test_json_is_given_to_the_editor_with_unicode_as_typed(admin_client, edn):
    civic = {"civicAddresses": [{"country": "DE", "A3": "München"}]}
    edn.edn_topo_srv_area = civic
    edn.save()
    response = admin_client.get(f"/admin/provisioning/edn/{edn.pk}/change/")
    config = editor_config(response, "edn_topo_srv_area")
    shown = json.loads(config["data"])  # with the editor's empty members beside it
    assert shown["civicAddresses"][0]["A3"] == "München"
    assert editors.from_editor(shown, config["schema"], [], []) == civic
    assert '"A3": "München"' in config["data"]
    # The form is 3GPP's LocationArea5G: a civic address's members are fields.
    address = config["schema"]["keys"]["civicAddresses"]["items"]["keys"]
    assert {"country", "A3"} <= set(address)
    # An empty list is an empty list of PLMNs, each with its MCC and MNC.
    assert editor_data(response, "plmns") == []
    plmn = editor_config(response, "plmns")["schema"]["items"]["keys"]
    assert list(plmn) == ["mcc", "mnc"] and plmn["mcc"]["placeholder"] == "001"


def listed(response) -> list[str]:
    """The first-column texts of the rows of an admin change list."""
    page = response.content.decode()
    table = re.search(r'<table id="result_list">(.*?)</table>', page, re.S)
    if not table:
        return []
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(1).split("<tbody>")[1], re.S)
    return [
        html.unescape(re.sub(r"<[^>]+>", "", re.findall(r"<th.*?</th>", r, re.S)[0])) for r in rows
    ]


def test_edn_list_search_by_served_plmn_and_by_ees_id(admin_client):
    roaming = make_edn("edn-roaming", plmns=[plmn("262", "01")])
    make_ees(roaming, "ees-r1")
    make_ees(roaming, "ees-r2")
    make_ees(make_edn("edn-home", dnn="home.example"), "ees-h1")

    by_plmn = admin_client.get("/admin/provisioning/edn/", {"q": "262-01"})
    assert listed(by_plmn) == ["edn-roaming"]
    # Two EESs match "ees-r": the EDN is listed once, and still counts its two EESs.
    by_ees = admin_client.get("/admin/provisioning/edn/", {"q": "ees-r"})
    assert listed(by_ees) == ["edn-roaming"]
    assert '<td class="field-ees_count">2</td>' in by_ees.content.decode()
    assert listed(admin_client.get("/admin/provisioning/edn/", {"q": "home.example"})) == [
        "edn-home"
    ]


def test_ees_list_filters_by_edn_dnn(admin_client):
    make_ees(make_edn("edn-a", dnn="a.example"), "ees-a")
    make_ees(make_edn("edn-b", dnn="b.example"), "ees-b")
    response = admin_client.get("/admin/provisioning/ees/", {"edn__dnn": "b.example"})
    assert listed(response) == ["ees-b"]


# --- one definition: the admin and the configuration file agree -----------------------------
#
# The rules are the model's (field validators, ``clean``); the admin explains them per field,
# ``ecs_apply`` names the entry and the member.  The admin used to refuse these values alone.

EES_REFUSED = [
    pytest.param("end_pt", "endPt", {"ipv4Addrs": ["192.0.2.300"]}, id="ipv4-out-of-range"),
    pytest.param("end_pt", "endPt", {"ipv6Addrs": ["2001:db8::g"]}, id="ipv6-not-hex"),
    pytest.param("end_pt", "endPt", {"uri": "ees-a/eees"}, id="relative-uri"),
    pytest.param("svc_area", "svcArea", {"nwAreaInfo": {"tai": [tai("0001")]}}, id="area-typo"),
    pytest.param("svc_area", "svcArea", {"taiList": []}, id="area-unknown-member"),
    pytest.param("eas_ids", "easIds", ["com.example.game", ""], id="empty-eas-id"),
    pytest.param("dnais", "dnais", [""], id="empty-dnai"),
]


def file_with_ees(**members) -> dict:
    ees = {"eesId": "ees-a", "eecRegConf": False, **members}
    return {"edns": [{"id": "edn-a", "ednConInfo": {"dnn": "edge.example"}, "eess": [ees]}]}


@pytest.mark.parametrize(("field", "member", "value"), EES_REFUSED)
def test_an_ees_the_model_refuses_the_admin_and_the_file_refuse(
    tmp_path, admin_client, edn, field, member, value
):
    errors = admin_form_errors(
        admin_client.post(EES_ADD, ees_form(edn, **{field: json.dumps(value)}))
    )
    message = refused_by_apply(tmp_path, file_with_ees(**{member: value}))

    assert list(errors) == [field], errors
    assert f"edns[0] (edn-a).eess[0] (ees-a)/{member}: " in message
    assert "(1 problem(s);" in message
    assert not EES.objects.exists()


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ({"nwAreaInfo": {"tai": [tai("0001")]}}, "nwAreaInfo: 'tai' is not a member"),
        ({"nwAreaInfo": {"tais": [tai("0001")]}, "civic": []}, "'civic' is not a member"),
    ],
)
def test_an_edn_area_the_model_refuses_the_admin_and_the_file_refuse(
    tmp_path, admin_client, value, shown
):
    errors = admin_form_errors(
        admin_client.post(EDN_ADD, edn_form(edn_topo_srv_area=json.dumps(value)))
    )
    document = {
        "edns": [{"id": "edn-a", "ednConInfo": {"dnn": "edge.example", "ednTopoSrvArea": value}}]
    }
    message = refused_by_apply(tmp_path, document)

    assert [m[: len(shown)] for m in errors["edn_topo_srv_area"]] == [shown]
    assert f"edns[0] (edn-a).ednConInfo/ednTopoSrvArea: {shown}" in message
    assert not EDN.objects.exists()


def test_an_ees_both_take_round_trips_through_the_file(tmp_path, admin_client, edn):
    configure_ecs()
    end_pt = {"ipv6Addrs": ["2001:db8::1"]}
    data = ees_form(edn, end_pt=json.dumps(end_pt), svc_area=json.dumps(area(tais=[tai("00A1")])))
    assert admin_form_errors(admin_client.post(EES_ADD, data)) == {}
    first = export_config()
    [ees] = yaml.safe_load(first)["edns"][0]["eess"]
    assert ees["endPt"] == end_pt

    path = tmp_path / "export.yaml"
    path.write_text(first, encoding="utf-8")
    output = apply_config(path)
    assert "created" not in output and "updated" not in output
    EDN.objects.all().delete()
    apply_config(path)
    assert export_config() == first


def test_edns_without_an_id_need_another_dnn_or_snssai(admin_client):
    make_edn("", dnn="edge.example", sst=1)
    response = admin_client.post(EDN_ADD, edn_form(edn_id=""))
    assert shown_errors(response, "edn_id") == [
        "Another EDN without an id has this DNN and S-NSSAI; give one of them an id."
    ]
    assert admin_client.post(EDN_ADD, edn_form(edn_id="", snssai_sst="2")).status_code == 302
