"""EES registration over EDGE-6 (TS 23.558 clause 8.4.4, TS29558_Eecs_EESRegistration.yaml).

An EES registers its profile, updates it, deregisters, or lets the registration expire; a
registered EES is provisioned to EECs beside the configured ones until then.  Every answer is
checked against 3GPP's operation definition, and what an operator or an EEC would see is
checked where they would see it: the EDGE-4 answer, the admin, ``ecs_export``.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re

import pytest
import yaml
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone

from ecscore.datetimes import parse_datetime
from notifications import worker
from provisioning.models import EDN, EES
from tests.builders import (
    MERGE_PATCH,
    REGISTRATION_FILE,
    REGISTRATIONS,
    configure_ecs,
    edge4_request,
    ees_ids,
    ees_profile,
    ees_registration,
    in_seconds,
    make_edn,
    make_ees,
    post_json,
    send_json,
    tai,
    ue_at,
)
from tests.openapi import assert_conforms

pytestmark = pytest.mark.django_db

ITEM = "/registrations/{registrationId}"
TAI_1 = tai("0001")


@pytest.fixture
def edn() -> EDN:
    configure_ecs()
    return make_edn("edn-a", dnn="edge.example")


@pytest.fixture
def register(client):
    """POST an EESRegistration; the answer is checked against CreateEESRegistration."""

    def call(body):
        response = post_json(client, REGISTRATIONS, body)
        assert_conforms(response, REGISTRATION_FILE, "/registrations", "post")
        return response

    return call


def item_path(response) -> str:
    """The path of the registration a 201's Location names."""
    location = response["Location"]
    found = re.fullmatch(
        r"http://testserver(/eecs-eesregistration/v1/registrations/[^/]+)", location
    )
    assert found, location
    return found.group(1)


def call_item(client: Client, method: str, path: str, body=None, content_type=None):
    """GET/PUT/PATCH/DELETE the individual registration, checked against 3GPP's YAML."""
    if body is None:
        response = getattr(client, method.lower())(path)
    else:
        response = send_json(client, method, path, body, content_type)
    assert_conforms(response, REGISTRATION_FILE, ITEM, method)
    return response


def granted(response) -> dt.datetime:
    when = parse_datetime(response.json()["expTime"])
    assert when is not None
    return when


def near(when: dt.datetime, expected: dt.datetime, slack: float = 5) -> bool:
    return abs((when - expected).total_seconds()) <= slack


def invalid_params(response) -> list[str]:
    assert response["Content-Type"].startswith("application/problem+json")
    return [p["param"] for p in response.json().get("invalidParams", [])]


# --- create -------------------------------------------------------------------------------------


@override_settings(ECS_REGISTRATION_MAX_SECONDS=600)
def test_create_answers_201_with_location_and_the_registration(edn, register, client):
    proposed = in_seconds(120)
    response = register(ees_registration(ees_profile("ees-reg", tais=[TAI_1]), proposed))
    assert response.status_code == 201
    assert response.json() == {
        "eesProf": ees_profile("ees-reg", tais=[TAI_1]),
        "expTime": proposed,  # under the maximum: granted as proposed
    }
    again = call_item(client, "GET", item_path(response))
    assert again.status_code == 200
    assert again.json() == response.json()
    saved = EES.objects.get(ees_id="ees-reg")
    assert (saved.source, saved.edn) == (EES.SOURCE_REGISTERED, edn)


@override_settings(ECS_REGISTRATION_MAX_SECONDS=600)
def test_granted_expiry_is_capped_by_the_maximum(edn, register):
    later = register(ees_registration(ees_profile("ees-late"), in_seconds(86400)))
    assert later.status_code == 201
    assert near(granted(later), timezone.now() + dt.timedelta(seconds=600))

    unproposed = register(ees_registration(ees_profile("ees-none")))
    assert unproposed.status_code == 201
    assert near(granted(unproposed), timezone.now() + dt.timedelta(seconds=600))


# --- read, replace, modify, delete --------------------------------------------------------------


def test_put_replaces_the_profile_and_provisioning_follows(edn, register, client, edge4):
    path = item_path(register(ees_registration(ees_profile("ees-reg", eas_ids=["app.one"]))))
    changed = ees_profile("ees-reg", eas_ids=["app.two"], provId="ecsp-x", appLocs=["dnai-7"])
    response = call_item(client, "PUT", path, ees_registration(changed, in_seconds(300)))
    assert response.status_code == 200
    assert response.json()["eesProf"] == changed
    assert call_item(client, "GET", path).json()["eesProf"] == changed

    assert ees_ids(edge4(edge4_request(eas_ids=["app.one"]))) == []
    answer = edge4(edge4_request(eas_ids=["app.two"]))
    [info] = answer.json()["ednCnfgInfo"][0]["eess"]
    assert (info["eesId"], info["ecspInfo"], info["dnais"]) == ("ees-reg", "ecsp-x", ["dnai-7"])


@override_settings(ECS_REGISTRATION_MAX_SECONDS=600)
def test_patch_is_a_merge_patch_and_null_exptime_grants_the_maximum(edn, register, client):
    path = item_path(register(ees_registration(ees_profile("ees-reg"), in_seconds(60))))

    response = call_item(client, "PATCH", path, {"expTime": None}, MERGE_PATCH)
    assert response.status_code == 200
    assert near(granted(response), timezone.now() + dt.timedelta(seconds=600))
    assert response.json()["eesProf"] == ees_profile("ees-reg")

    new_expiry = in_seconds(200)
    response = call_item(client, "PATCH", path, {"expTime": new_expiry}, MERGE_PATCH)
    assert response.json()["expTime"] == new_expiry

    changed = ees_profile("ees-reg", eas_ids=["app.one", "app.two"])
    response = call_item(client, "PATCH", path, {"eesProf": changed}, MERGE_PATCH)
    assert response.status_code == 200
    assert response.json() == {"eesProf": changed, "expTime": new_expiry}  # expiry kept
    assert EES.objects.get(ees_id="ees-reg").eas_ids == ["app.one", "app.two"]


def test_patch_needs_merge_patch_json(edn, register, client):
    path = item_path(register(ees_registration(ees_profile("ees-reg"))))
    response = call_item(client, "PATCH", path, {"expTime": None}, "application/json")
    assert response.status_code == 415


def test_delete_answers_204_then_the_registration_is_gone(edn, register, client, edge4):
    path = item_path(register(ees_registration(ees_profile("ees-reg"))))
    assert ees_ids(edge4(edge4_request(eas_ids=["app.one"]))) == ["ees-reg"]

    response = call_item(client, "DELETE", path)
    assert response.status_code == 204
    assert call_item(client, "GET", path).status_code == 404
    assert call_item(client, "DELETE", path).status_code == 404
    assert call_item(client, "PUT", path, ees_registration(ees_profile("ees-reg"))).status_code == (
        404
    )
    assert ees_ids(edge4(edge4_request(eas_ids=["app.one"]))) == []
    assert not EES.objects.filter(ees_id="ees-reg").exists()


def test_unknown_registration_is_404(edn, client):
    response = call_item(client, "GET", REGISTRATIONS + "/no-such-registration")
    assert response.status_code == 404
    assert response.json()["cause"] == "RESOURCE_NOT_FOUND"


# --- refusals -----------------------------------------------------------------------------------


def test_the_ees_id_cannot_change(edn, register, client):
    path = item_path(register(ees_registration(ees_profile("ees-reg"))))
    response = call_item(client, "PUT", path, ees_registration(ees_profile("ees-other")))
    assert response.status_code == 400
    assert invalid_params(response) == ["/eesProf/eesId"]
    response = call_item(client, "PATCH", path, {"eesProf": ees_profile("ees-other")}, MERGE_PATCH)
    assert response.status_code == 400
    assert invalid_params(response) == ["/eesProf/eesId"]
    assert call_item(client, "GET", path).json()["eesProf"]["eesId"] == "ees-reg"
    assert not EES.objects.filter(ees_id="ees-other").exists()


def test_a_configured_ees_id_cannot_be_registered(edn, register):
    make_ees(edn, "ees-conf", eas_ids=["app.one"])
    response = register(ees_registration(ees_profile("ees-conf", eas_ids=["app.evil"])))
    assert response.status_code == 403
    configured = EES.objects.get(ees_id="ees-conf")
    assert (configured.source, configured.eas_ids) == (EES.SOURCE_CONFIGURED, ["app.one"])


def test_the_same_ees_id_cannot_be_registered_twice(edn, register, client):
    first = register(ees_registration(ees_profile("ees-reg", eas_ids=["app.one"])))
    second = register(ees_registration(ees_profile("ees-reg", eas_ids=["app.two"])))
    assert second.status_code == 403
    assert call_item(client, "GET", item_path(first)).json()["eesProf"]["easIds"] == ["app.one"]
    assert EES.objects.filter(ees_id="ees-reg").count() == 1


def test_an_expired_registration_does_not_block_its_ees_id(edn, register):
    register(ees_registration(ees_profile("ees-reg", eas_ids=["app.one"])))
    EES.objects.filter(ees_id="ees-reg").update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    again = register(ees_registration(ees_profile("ees-reg", eas_ids=["app.two"])))
    assert again.status_code == 201
    assert EES.objects.get(ees_id="ees-reg").eas_ids == ["app.two"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "/eesProf"),
        ({"eesProf": {"eesId": "ees-x", "eecRegConf": False}}, "/eesProf/endPt"),
        ({"eesProf": ees_profile("ees-x", eas_ids=[])}, "/eesProf/easIds"),
        ({"eesProf": ees_profile("ees-x"), "expTime": "tomorrow"}, "/expTime"),
        ({"eesProf": ees_profile("ees-x"), "expTime": "2001-01-01T00:00:00Z"}, "/expTime"),
        ({"eesProf": ees_profile("ees-x", svcArea={"topServAr": {"tais": "0001"}})}, None),
    ],
    ids=["no-profile", "no-endpoint", "empty-easIds", "not-a-date", "past", "bad-area"],
)
def test_bad_bodies_are_400_naming_the_member(edn, register, body, param):
    response = register(body)
    assert response.status_code == 400
    params = invalid_params(response)
    assert params, response.json()
    if param is not None:
        assert any(p.startswith(param) for p in params), params
    else:
        assert all(p.startswith("/eesProf/svcArea") for p in params), params
    assert not EES.objects.exists()


def test_a_body_that_is_not_json_is_400(edn, client):
    response = client.post(REGISTRATIONS, b"{not json", content_type="application/json")
    assert_conforms(response, REGISTRATION_FILE, "/registrations", "post")
    assert response.status_code == 400


# --- placement in an EDN ------------------------------------------------------------------------


def test_placed_in_the_edn_with_the_profile_dnn(register, edge4):
    configure_ecs()
    make_edn("edn-a", dnn="edge.a")
    edn_b = make_edn("edn-b", dnn="edge.b")
    response = register(ees_registration(ees_profile("ees-reg", dnn="edge.b")))
    assert response.status_code == 201
    assert EES.objects.get(ees_id="ees-reg").edn == edn_b
    answer = edge4(edge4_request(eas_ids=["app.one"])).json()
    assert [cfg["ednConInfo"]["dnn"] for cfg in answer["ednCnfgInfo"]] == ["edge.b"]


def test_an_unknown_dnn_gets_an_edn_of_its_own(edn, register, edge4):
    response = register(ees_registration(ees_profile("ees-reg", dnn="edge.new")))
    assert response.status_code == 201
    placed = EES.objects.get(ees_id="ees-reg").edn
    assert (placed.edn_id, placed.dnn) == ("registered:edge.new", "edge.new")
    answer = edge4(edge4_request(eas_ids=["app.one"])).json()
    assert answer["ednCnfgInfo"][0]["ednConInfo"] == {"dnn": "edge.new"}


@pytest.mark.parametrize(
    "dnn",
    [
        "",
        "edge..example",
        "-edge.example",
        "edge-.example",
        "edge_example",
        "edge example",
        "*",
        "a" * 64 + ".example",
        ".".join(["abcdefghij"] * 10),
        "édge.example",
    ],
    ids=[
        "empty",
        "empty-label",
        "leading-hyphen",
        "trailing-hyphen",
        "underscore",
        "space",
        "wildcard",
        "label-64",
        "over-99",
        "non-ascii",
    ],
)
def test_a_dnn_that_is_no_dnn_is_400_naming_the_member(edn, register, client, dnn):
    response = register(ees_registration(ees_profile("ees-reg", dnn=dnn)))
    assert response.status_code == 400
    assert invalid_params(response) == ["/eesProf/ednInfoSets/dnn"]
    assert not EES.objects.filter(ees_id="ees-reg").exists()
    assert not EDN.objects.filter(dnn=dnn).exists()
    # Nor can an update put the EES into such an EDN.
    created = register(ees_registration(ees_profile("ees-reg", dnn="edge.example")))
    assert created.status_code == 201
    update = ees_registration(ees_profile("ees-reg", dnn=dnn))
    refused = call_item(client, "PUT", item_path(created), update)
    assert refused.status_code == 400
    assert invalid_params(refused) == ["/eesProf/ednInfoSets/dnn"]


@pytest.mark.parametrize(
    "dnn", ["internet", "Edge-1.Example", "ims.mnc001.mcc001.gprs", "a" * 63, "5g.example"]
)
def test_dnns_of_rfc_1035_labels_are_accepted(edn, register, dnn):
    assert register(ees_registration(ees_profile("ees-reg", dnn=dnn))).status_code == 201
    assert EES.objects.get(ees_id="ees-reg").edn.dnn == dnn


def test_without_a_dnn_the_only_edn_is_used(edn, register):
    assert register(ees_registration(ees_profile("ees-reg"))).status_code == 201
    assert EES.objects.get(ees_id="ees-reg").edn == edn


def test_without_a_dnn_several_edns_are_ambiguous(edn, register):
    make_edn("edn-b", dnn="edge.b")
    response = register(ees_registration(ees_profile("ees-reg")))
    assert response.status_code == 400
    assert invalid_params(response) == ["/eesProf/ednInfoSets"]
    assert not EES.objects.filter(ees_id="ees-reg").exists()


# --- provisioning and expiry --------------------------------------------------------------------


def test_registered_ees_is_provisioned_where_it_serves_until_it_expires(
    edn, register, client, edge4
):
    make_ees(edn, "ees-conf", eas_ids=["app.one"])
    profile = ees_profile("ees-reg", tais=[TAI_1], provId="ecsp-r", svcContSupp=["EEC_INITIATED"])
    path = item_path(register(ees_registration(profile, in_seconds(3600))))

    at_tai = edge4(edge4_request(eas_ids=["app.one"], loc=ue_at(TAI_1)))
    assert ees_ids(at_tai) == ["ees-conf", "ees-reg"]
    info = at_tai.json()["ednCnfgInfo"][0]["eess"][1]
    assert info["svcArea"] == {"nwAreaInfo": {"tais": [TAI_1]}}
    assert (info["ecspInfo"], info["eesSvcContSupp"]) == ("ecsp-r", ["EEC_INITIATED"])
    elsewhere = edge4(edge4_request(eas_ids=["app.one"], loc=ue_at(tai("0002"))))
    assert ees_ids(elsewhere) == ["ees-conf"]

    # The expiry passes before the worker gets to delete the row: no longer provisioned.
    EES.objects.filter(ees_id="ees-reg").update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert ees_ids(edge4(edge4_request(eas_ids=["app.one"], loc=ue_at(TAI_1)))) == ["ees-conf"]
    assert call_item(client, "GET", path).status_code == 404


@override_settings(ECS_REGISTRATION_MAX_SECONDS=1)
def test_a_short_grant_expires_by_itself(edn, register, edge4):
    import time

    register(ees_registration(ees_profile("ees-reg")))
    assert ees_ids(edge4(edge4_request(eas_ids=["app.one"]))) == ["ees-reg"]
    time.sleep(1.2)
    assert ees_ids(edge4(edge4_request(eas_ids=["app.one"]))) == []


def test_the_worker_deletes_expired_registrations(edn, register):
    register(ees_registration(ees_profile("ees-old")))
    register(ees_registration(ees_profile("ees-live")))
    make_ees(edn, "ees-conf")
    EES.objects.filter(ees_id="ees-old").update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    worker.run_periodic(force=True)
    assert sorted(EES.objects.values_list("ees_id", flat=True)) == ["ees-conf", "ees-live"]


# --- beside configured EESs: admin, export, apply -----------------------------------------------


@pytest.fixture
def admin_client(plain_static_files) -> Client:
    user = get_user_model().objects.create_superuser("oam", "oam@example.org", "pw")
    admin = Client()
    admin.force_login(user)
    return admin


def test_the_admin_shows_which_ees_is_registered(edn, register, admin_client):
    make_ees(edn, "ees-conf")
    register(ees_registration(ees_profile("ees-reg", provId="ecsp-r")))

    page = admin_client.get("/admin/provisioning/ees/?source__exact=registered")
    assert page.status_code == 200
    rows = re.findall(r"<tr>.*?</tr>", page.content.decode(), re.S)
    text = " ".join(rows)
    assert "ees-reg" in text and "ees-conf" not in text
    assert "registered by the EES (EDGE-6)" in text
    configured = admin_client.get("/admin/provisioning/ees/?source__exact=configured")
    assert "ees-conf" in configured.content.decode()
    assert "ees-reg" not in configured.content.decode()

    registered = EES.objects.get(ees_id="ees-reg")
    detail = admin_client.get(f"/admin/provisioning/ees/{registered.pk}/change/")
    body = detail.content.decode()
    assert "Registration (EDGE-6)" in body
    assert registered.registration_id in body
    assert 'name="_save"' not in body  # read-only: the EES changes it over EDGE-6


def test_ecs_export_leaves_registered_eess_out(edn, register):
    make_ees(edn, "ees-conf")
    register(ees_registration(ees_profile("ees-reg", dnn="edge.example")))
    register(ees_registration(ees_profile("ees-new-edn", dnn="edge.registered")))
    out = io.StringIO()
    call_command("ecs_export", "--format", "json", stdout=out)
    exported = json.loads(out.getvalue())
    listed = [e["eesId"] for entry in exported["edns"] for e in entry["eess"]]
    assert listed == ["ees-conf"]


def test_ecs_apply_prune_keeps_registered_eess(edn, register, tmp_path, edge4):
    register(ees_registration(ees_profile("ees-reg", dnn="edge.example")))
    register(ees_registration(ees_profile("ees-elsewhere", dnn="edge.registered")))
    config = {
        "ecs": {"id": "ecs.home.example", "homePlmns": [{"mcc": "001", "mnc": "01"}]},
        "edns": [
            {
                "id": "edn-a",
                "ednConInfo": {"dnn": "edge.example", "snssai": {"sst": 1}},
                "eess": [
                    {
                        "eesId": "ees-conf",
                        "endPt": {"uri": "https://ees-conf.example/eees"},
                        "easIds": ["app.one"],
                        "eecRegConf": False,
                    }
                ],
            }
        ],
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    call_command("ecs_apply", str(path), "--prune", stdout=io.StringIO())

    assert sorted(EES.objects.values_list("ees_id", flat=True)) == [
        "ees-conf",
        "ees-elsewhere",
        "ees-reg",
    ]
    assert ees_ids(edge4(edge4_request(eas_ids=["app.one"]))) == [
        "ees-conf",
        "ees-reg",
        "ees-elsewhere",
    ]


# --- quota ------------------------------------------------------------------------------------


@override_settings(ECS_MAX_REGISTRATIONS_PER_CLIENT=2)
def test_a_client_holds_at_most_its_quota_of_live_registrations(edn, register, client):
    assert register(ees_registration(ees_profile("ees-q1"))).status_code == 201
    second = register(ees_registration(ees_profile("ees-q2")))
    assert second.status_code == 201
    refused = register(ees_registration(ees_profile("ees-q3")))
    assert refused.status_code == 403  # 3GPP declares 403 for this operation, not 507
    assert refused.json()["cause"] == "REGISTRATION_QUOTA_EXCEEDED"
    assert not EES.objects.filter(ees_id="ees-q3").exists()
    # Another caller (without a token: another address) has its own quota.
    other = post_json(
        client, REGISTRATIONS, ees_registration(ees_profile("ees-q3")), REMOTE_ADDR="192.0.2.5"
    )
    assert other.status_code == 201
    assert EES.objects.get(ees_id="ees-q3").registered_by == "addr:192.0.2.5"
    # Updating a registration takes no more of the quota; deregistering frees its place, and
    # so does expiring.
    assert call_item(client, "PUT", item_path(second), ees_registration(ees_profile("ees-q2")))
    assert call_item(client, "DELETE", item_path(second)).status_code == 204
    assert register(ees_registration(ees_profile("ees-q4"))).status_code == 201
    EES.objects.filter(ees_id="ees-q4").update(expires_at=timezone.now())
    assert register(ees_registration(ees_profile("ees-q5"))).status_code == 201
