"""EEC service provisioning subscriptions (TS 24.558 clause 7.2.3, subscribe-notify).

An EEC subscribes (``POST /eecs-serviceprovisioning/v1/subscriptions``) and, whenever the
provisioning information it would receive changes -- an EES registers, updates, expires, an
operator edits a profile in the admin or applies a configuration file -- the ECS POSTs a
``ServProvNotification`` to its ``notificationDestination``.  The destination here is a real
HTTP server on 127.0.0.1 (allowed by ``ECS_ALLOW_PRIVATE_CALLBACKS=1``); notifications go
through the outbox and are delivered by ``notifications.worker.deliver_due()``, the call the
worker makes.  Every answer is checked against 3GPP's YAML, every notification body against
``ServProvNotification`` (or ``TestNotification``).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import time

import pytest
import yaml
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from django.test import Client, override_settings
from django.utils import timezone

from ecscore.datetimes import format_datetime, parse_datetime
from notifications import worker
from notifications.models import Notification
from provisioning import changes
from provisioning.models import EDN, EES, EECSubscription, InventoryChange
from tests.builders import (
    COMMON_29122_FILE,
    EDGE4_FILE,
    MERGE_PATCH,
    REGISTRATIONS,
    SUBSCRIPTIONS,
    Receiver,
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
    serv_prov_subscription,
)
from tests.openapi import assert_conforms, assert_valid

pytestmark = pytest.mark.django_db

ITEM = "/subscriptions/{subscriptionId}"


@pytest.fixture
def private_callbacks(monkeypatch):
    monkeypatch.setenv("ECS_ALLOW_PRIVATE_CALLBACKS", "1")


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def edn() -> EDN:
    """Home PLMN 001-01, EDN edge.example with the configured EES ees-conf (app.one)."""
    configure_ecs()
    edn = make_edn("edn-a", dnn="edge.example")
    make_ees(edn, "ees-conf", eas_ids=["app.one"])
    return edn


@pytest.fixture
def subscribe(client):
    def call(body):
        response = post_json(client, SUBSCRIPTIONS, body)
        assert_conforms(response, EDGE4_FILE, "/subscriptions", "post")
        return response

    return call


def call_item(client: Client, method: str, path: str, body=None, content_type=None):
    if body is None:
        response = getattr(client, method.lower())(path)
    else:
        response = send_json(client, method, path, body, content_type)
    assert_conforms(response, EDGE4_FILE, ITEM, method)
    return response


def item_path(response) -> str:
    found = re.fullmatch(
        r"http://testserver(/eecs-serviceprovisioning/v1/subscriptions/([^/]+))",
        response["Location"],
    )
    assert found, response["Location"]
    return found.group(1)


def sub_id(response) -> str:
    return item_path(response).rsplit("/", 1)[1]


def invalid_params(response) -> list[str]:
    assert response["Content-Type"].startswith("application/problem+json")
    return [p["param"] for p in response.json().get("invalidParams", [])]


def deliver() -> list[Notification]:
    """What the worker does on one pass (evaluate the change events, deliver); returns the
    outbox afterwards, oldest first."""
    changes.process_pending()
    worker.deliver_due()
    return list(Notification.objects.order_by("pk"))


def notified_eess(body) -> list[str]:
    assert_valid(body, EDGE4_FILE, "ServProvNotification")
    return [ees["eesId"] for cfg in body["ednCnfgInfo"] for ees in cfg["eess"]]


# --- the subscription resource ---------------------------------------------------------------


@override_settings(ECS_SUBSCRIPTION_MAX_SECONDS=600)
def test_create_update_patch_delete(edn, subscribe, client, receiver, private_callbacks):
    proposed = in_seconds(300)
    body = serv_prov_subscription(receiver.url, expTime=proposed, ueId="msisdn-491700000001")
    created = subscribe(body)
    assert created.status_code == 201
    assert created.json() == body
    path = item_path(created)
    stored = EECSubscription.objects.get(subscription_id=sub_id(created))
    assert (stored.eec_id, stored.ue_id) == ("eec-sub-1", "msisdn-491700000001")

    changed = serv_prov_subscription(
        receiver.url, eas_ids=["app.two"], expTime=in_seconds(86400), ueId="msisdn-491700000001"
    )
    replaced = call_item(client, "PUT", path, changed)
    assert replaced.status_code == 200
    assert replaced.json()["acProfs"] == changed["acProfs"]
    granted = parse_datetime(replaced.json()["expTime"])
    assert abs((granted - (timezone.now() + dt.timedelta(seconds=600))).total_seconds()) < 5

    new_expiry = in_seconds(120)
    patched = call_item(client, "PATCH", path, {"expTime": new_expiry}, MERGE_PATCH)
    assert patched.status_code == 200
    assert patched.json()["expTime"] == new_expiry
    assert patched.json()["acProfs"] == changed["acProfs"]
    profs = [{"acId": "ac-9", "eass": [{"easId": "app.three"}]}]
    patched = call_item(client, "PATCH", path, {"acProfs": profs}, MERGE_PATCH)
    assert (patched.json()["acProfs"], patched.json()["expTime"]) == (profs, new_expiry)

    assert call_item(client, "DELETE", path).status_code == 204
    assert call_item(client, "DELETE", path).status_code == 404
    assert call_item(client, "PUT", path, changed).status_code == 404
    patch = {"expTime": in_seconds(60)}
    assert call_item(client, "PATCH", path, patch, MERGE_PATCH).status_code == 404
    assert not EECSubscription.objects.exists()


@override_settings(ECS_SUBSCRIPTION_MAX_SECONDS=600)
def test_exptime_is_capped_and_given_when_not_proposed(edn, subscribe, receiver, private_callbacks):
    for body in (
        serv_prov_subscription(receiver.url, expTime=in_seconds(86400)),
        serv_prov_subscription(receiver.url),
    ):
        response = subscribe(body)
        granted = parse_datetime(response.json()["expTime"])
        assert abs((granted - (timezone.now() + dt.timedelta(seconds=600))).total_seconds()) < 5


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"eecId": None}, "/eecId"),
        ({"acProfs": {"acId": "ac-1"}}, "/acProfs"),
        ({"expTime": "2001-01-01T00:00:00Z"}, "/expTime"),
        ({"expTime": "soon"}, "/expTime"),
        ({"notificationDestination": None}, "/notificationDestination"),
        ({"notificationDestination": "ftp://127.0.0.1/cb"}, "/notificationDestination"),
        ({"notificationDestination": "not a url"}, "/notificationDestination"),
        ({"eecTriggerRequest": True}, "/eecTriggerRequest"),
    ],
    ids=[
        "no-eecId",
        "acProfs-not-list",
        "past-expiry",
        "not-a-date",
        "no-destination",
        "ftp",
        "not-url",
        "trigger-and-destination",
    ],
)
def test_invalid_subscriptions_are_400_naming_the_member(
    edn, subscribe, receiver, private_callbacks, change, param
):
    body = serv_prov_subscription(receiver.url)
    for key, value in change.items():
        if value is None:
            body.pop(key)
        else:
            body[key] = value
    response = subscribe(body)
    assert response.status_code == 400
    assert param in {"/" + p.split("/")[1] for p in invalid_params(response)}
    assert not EECSubscription.objects.exists()


def test_updates_that_3gpp_or_we_refuse(edn, subscribe, client, receiver, private_callbacks):
    path = item_path(subscribe(serv_prov_subscription(receiver.url)))
    other_eec = serv_prov_subscription(receiver.url, eec_id="eec-other")
    response = call_item(client, "PUT", path, other_eec)
    assert (response.status_code, invalid_params(response)) == (400, ["/eecId"])
    response = call_item(client, "PATCH", path, {"expTime": in_seconds(60)}, "application/json")
    assert response.status_code == 415
    response = call_item(client, "PATCH", path, {"acProfs": "app.one"}, MERGE_PATCH)
    assert (response.status_code, invalid_params(response)) == (400, ["/acProfs"])
    response = call_item(client, "PATCH", path, {"eecId": "eec-other"}, MERGE_PATCH)
    assert response.status_code == 400  # not a member of ECSServProvSubscriptionPatch
    assert EECSubscription.objects.get().eec_id == "eec-sub-1"


# --- callback addresses (SSRF) ---------------------------------------------------------------


@pytest.mark.parametrize(
    "destination",
    [
        "http://127.0.0.1:8080/cb",
        "http://localhost/cb",
        "http://[::1]/cb",
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/cb",
        "http://192.168.0.10/cb",
        "http://172.16.0.1/cb",
        "http://0.0.0.0/cb",
        "http://[fe80::1]/cb",
    ],
)
def test_callbacks_into_our_own_network_are_refused(edn, subscribe, monkeypatch, destination):
    monkeypatch.delenv("ECS_ALLOW_PRIVATE_CALLBACKS", raising=False)
    response = subscribe(serv_prov_subscription(destination))
    assert response.status_code == 400
    assert invalid_params(response) == ["/notificationDestination"]
    assert not EECSubscription.objects.exists()


def test_a_public_callback_is_accepted_and_a_private_one_refused_on_update(
    edn, subscribe, client, monkeypatch
):
    monkeypatch.delenv("ECS_ALLOW_PRIVATE_CALLBACKS", raising=False)
    created = subscribe(serv_prov_subscription("http://93.184.216.34/cb"))
    assert created.status_code == 201
    response = call_item(
        client, "PUT", item_path(created), serv_prov_subscription("http://10.0.0.7/cb")
    )
    assert (response.status_code, invalid_params(response)) == (400, ["/notificationDestination"])
    assert EECSubscription.objects.get().notification_destination == "http://93.184.216.34/cb"


# --- test notifications ----------------------------------------------------------------------


def test_request_test_notification_delivers_a_test_notification(
    edn, subscribe, client, receiver, private_callbacks
):
    created = subscribe(serv_prov_subscription(receiver.url, requestTestNotification=True))
    assert created.status_code == 201
    assert "requestTestNotification" not in created.json()
    [outbox] = deliver()
    assert outbox.state == Notification.DELIVERED
    [delivery] = receiver.wait_for(1)
    assert delivery["path"] == "/callbacks/eec"
    assert delivery["headers"]["Content-Type"] == "application/json"
    assert_valid(delivery["body"], COMMON_29122_FILE, "TestNotification")
    assert delivery["body"] == {"subscription": created["Location"]}

    again = serv_prov_subscription(receiver.url, requestTestNotification=True)
    assert call_item(client, "PUT", item_path(created), again).status_code == 200
    deliver()
    assert receiver.bodies()[1] == {"subscription": created["Location"]}


def test_no_test_notification_unless_asked(edn, subscribe, receiver, private_callbacks):
    subscribe(serv_prov_subscription(receiver.url))
    assert deliver() == []
    assert receiver.deliveries == []


# --- notifications when what the EEC would receive changes ------------------------------------


def test_an_ees_registers_is_provisioned_expires_and_each_step_is_notified(
    edn, subscribe, client, edge4, receiver, private_callbacks
):
    created = subscribe(serv_prov_subscription(receiver.url, expTime=in_seconds(3600)))
    subscription = sub_id(created)
    assert ees_ids(edge4(edge4_request(eas_ids=["app.one"]))) == ["ees-conf"]

    # 1. The EES registers: the EEC is told, and provisioned with it.
    expiry = timezone.now() + dt.timedelta(seconds=3)
    profile = ees_profile("ees-reg", dnn="edge.example")
    registered = post_json(
        client, REGISTRATIONS, ees_registration(profile, format_datetime(expiry))
    )
    assert registered.status_code == 201
    deliver()
    [first] = receiver.wait_for(1)
    assert first["body"]["subId"] == subscription
    assert notified_eess(first["body"]) == ["ees-conf", "ees-reg"]
    assert ees_ids(edge4(edge4_request(eas_ids=["app.one"]))) == ["ees-conf", "ees-reg"]

    # 2. It updates its endpoint: told again, with the new endpoint.
    moved = ees_profile("ees-reg", dnn="edge.example", endPt={"uri": "https://moved.example"})
    path = registered["Location"].removeprefix("http://testserver")
    response = send_json(client, "PATCH", path, {"eesProf": moved}, MERGE_PATCH)
    assert response.status_code == 200
    deliver()
    second = receiver.wait_for(2)[1]["body"]
    assert notified_eess(second) == ["ees-conf", "ees-reg"]
    assert second["ednCnfgInfo"][0]["eess"][1]["endPt"] == {"uri": "https://moved.example"}

    # 3. It lets the registration expire: no longer provisioned; the worker's chore deletes
    #    it and the EEC is told what remains.
    time.sleep(max(0.0, (expiry - timezone.now()).total_seconds()) + 0.1)
    assert ees_ids(edge4(edge4_request(eas_ids=["app.one"]))) == ["ees-conf"]
    worker.run_periodic(force=True)
    assert not EES.objects.filter(ees_id="ees-reg").exists()
    outbox = deliver()
    third = receiver.wait_for(3)[2]["body"]
    assert (third["subId"], notified_eess(third)) == (subscription, ["ees-conf"])
    assert [n.state for n in outbox] == [Notification.DELIVERED] * 3
    assert len(receiver.deliveries) == 3


def test_only_subscriptions_whose_answer_changes_are_notified(
    edn, subscribe, client, receiver, private_callbacks
):
    app_one = sub_id(subscribe(serv_prov_subscription(receiver.url, eec_id="eec-1")))
    subscribe(serv_prov_subscription(receiver.url, eas_ids=["app.two"], eec_id="eec-2"))
    profile = ees_profile("ees-reg", eas_ids=["app.one"])
    assert post_json(client, REGISTRATIONS, ees_registration(profile)).status_code == 201
    deliver()
    assert [b["subId"] for b in receiver.bodies()] == [app_one]


def test_a_change_that_leaves_the_answer_alone_notifies_nothing(
    edn, subscribe, client, receiver, private_callbacks
):
    subscribe(serv_prov_subscription(receiver.url))
    make_ees(edn, "ees-app-two", eas_ids=["app.two"])  # not what the EEC asked for
    EES.objects.get(ees_id="ees-conf").save()  # saved unchanged
    other = post_json(client, REGISTRATIONS, ees_registration(ees_profile("ees-x", ["app.two"])))
    assert other.status_code == 201
    assert deliver() == []
    assert receiver.deliveries == []


def test_a_rolled_back_change_leaves_no_notification(edn, subscribe, receiver, private_callbacks):
    subscribe(serv_prov_subscription(receiver.url))
    deliver()  # the fixtures' own changes, evaluated
    with pytest.raises(RuntimeError), transaction.atomic():
        make_ees(edn, "ees-doomed", eas_ids=["app.one"])
        assert InventoryChange.objects.exists()  # the change's event, written with it...
        raise RuntimeError("the change fails after the EES was saved")
    assert not InventoryChange.objects.exists()  # ...and gone with it
    assert not EES.objects.filter(ees_id="ees-doomed").exists()
    assert deliver() == []
    assert receiver.deliveries == []


def test_an_expired_subscription_is_not_notified_and_is_deleted(
    edn, subscribe, client, receiver, private_callbacks
):
    subscribe(serv_prov_subscription(receiver.url))
    EECSubscription.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert post_json(client, REGISTRATIONS, ees_registration(ees_profile("ees-reg"))).status_code
    assert deliver() == []
    worker.run_periodic(force=True)
    assert not EECSubscription.objects.exists()


# --- operator changes: the admin and ecs_apply -----------------------------------------------


@pytest.fixture
def admin_client(plain_static_files) -> Client:
    user = get_user_model().objects.create_superuser("oam", "oam@example.org", "pw")
    admin = Client()
    admin.force_login(user)
    return admin


def ees_change_form(ees: EES, **changes: str) -> dict[str, str]:
    """The EES change form as the admin page submits it."""
    data = {
        "ees_id": ees.ees_id,
        "edn": str(ees.edn_id),
        "end_pt": json.dumps(ees.end_pt),
        "ecsp_info": ees.ecsp_info,
        "eas_ids": json.dumps(ees.eas_ids),
    }
    for field in (
        "app_group_ids",
        "eas_inst_infos",
        "eas_bundle_infos",
        "svc_area",
        "dnais",
        "ees_svc_cont_supp",
        "ees_auth_methods",
    ):
        value = getattr(ees, field)
        data[field] = json.dumps(value) if value else ""
    data.update(changes)
    return data


def test_an_admin_edit_notifies(edn, subscribe, admin_client, receiver, private_callbacks):
    subscription = sub_id(subscribe(serv_prov_subscription(receiver.url)))
    ees = EES.objects.get(ees_id="ees-conf")
    url = f"/admin/provisioning/ees/{ees.pk}/change/"

    unchanged = admin_client.post(url, ees_change_form(ees))
    assert unchanged.status_code == 302
    assert deliver() == []

    new_endpoint = {"uri": "https://ees-conf.new.example/eees"}
    response = admin_client.post(url, ees_change_form(ees, end_pt=json.dumps(new_endpoint)))
    assert response.status_code == 302, response.content.decode()[:2000]
    deliver()
    [delivery] = receiver.wait_for(1)
    assert delivery["body"]["subId"] == subscription
    assert notified_eess(delivery["body"]) == ["ees-conf"]
    assert delivery["body"]["ednCnfgInfo"][0]["eess"][0]["endPt"] == new_endpoint


def site_config(*eess: dict) -> dict:
    return {
        "ecs": {
            "id": "ecs.home.example",
            "homePlmns": [{"mcc": "001", "mnc": "01"}],
            "provisioningLifetime": 3600,
        },
        "edns": [
            {
                "id": "edn-a",
                "ednConInfo": {"dnn": "edge.example", "snssai": {"sst": 1}},
                "eess": list(eess),
            }
        ],
    }


def ees_info(ees_id: str, uri: str, eas_ids=("app.one",)) -> dict:
    return {"eesId": ees_id, "endPt": {"uri": uri}, "easIds": list(eas_ids), "eecRegConf": False}


def apply(tmp_path, config: dict) -> str:
    path = tmp_path / f"site-{time.monotonic_ns()}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    out = io.StringIO()
    call_command("ecs_apply", str(path), stdout=out)
    return out.getvalue()


def test_ecs_apply_notifies_a_change_and_not_a_reapply(
    edn, subscribe, receiver, tmp_path, private_callbacks
):
    subscription = sub_id(subscribe(serv_prov_subscription(receiver.url)))
    same = site_config(ees_info("ees-conf", "https://ees-conf.example/eees"))
    assert "ees unchanged: 1" in apply(tmp_path, same)
    assert deliver() == []

    moved = site_config(ees_info("ees-conf", "https://ees-conf.moved.example/eees"))
    assert "ees updated: 1" in apply(tmp_path, moved)
    deliver()
    [delivery] = receiver.wait_for(1)
    assert delivery["body"]["subId"] == subscription
    assert notified_eess(delivery["body"]) == ["ees-conf"]
    assert delivery["body"]["ednCnfgInfo"][0]["eess"][0]["endPt"] == {
        "uri": "https://ees-conf.moved.example/eees"
    }

    apply(tmp_path, moved)
    assert len(deliver()) == 1
    assert len(receiver.deliveries) == 1


def test_ecs_apply_changing_several_eess_notifies_once_with_the_result(
    edn, subscribe, receiver, tmp_path, private_callbacks
):
    subscribe(serv_prov_subscription(receiver.url))
    apply(
        tmp_path,
        site_config(
            ees_info("ees-conf", "https://ees-conf.v2.example/eees"),
            ees_info("ees-second", "https://ees-second.example/eees"),
        ),
    )
    outbox = deliver()
    assert len(outbox) == 1, [n.payload for n in outbox]
    assert notified_eess(receiver.wait_for(1)[0]["body"]) == ["ees-conf", "ees-second"]


def test_a_later_update_does_not_repeat_the_test_notification(
    edn, subscribe, client, receiver, private_callbacks
):
    created = subscribe(serv_prov_subscription(receiver.url, requestTestNotification=True))
    deliver()
    assert len(receiver.deliveries) == 1
    path = item_path(created)
    patched = call_item(client, "PATCH", path, {"expTime": in_seconds(900)}, MERGE_PATCH)
    assert patched.status_code == 200
    put = call_item(client, "PUT", path, serv_prov_subscription(receiver.url))
    assert put.status_code == 200
    assert deliver()[1:] == []
    assert len(receiver.deliveries) == 1


# --- quota and date-time forms ----------------------------------------------------------------


@override_settings(ECS_MAX_SUBSCRIPTIONS_PER_EEC=2)
def test_an_eec_holds_at_most_its_quota_of_live_subscriptions(
    edn, subscribe, client, receiver, private_callbacks
):
    first = subscribe(serv_prov_subscription(receiver.url))
    assert subscribe(serv_prov_subscription(receiver.url)).status_code == 201
    refused = subscribe(serv_prov_subscription(receiver.url))
    assert refused.status_code == 403  # 3GPP declares 403 for this operation, not 507
    assert refused.json()["cause"] == "SUBSCRIPTION_QUOTA_EXCEEDED"
    # Another EEC has its own quota; an expired subscription no longer counts; nor does a
    # deleted one.
    assert subscribe(serv_prov_subscription(receiver.url, eec_id="eec-other")).status_code == 201
    EECSubscription.objects.filter(subscription_id=sub_id(first)).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert subscribe(serv_prov_subscription(receiver.url)).status_code == 201
    assert subscribe(serv_prov_subscription(receiver.url)).status_code == 403
    live = EECSubscription.objects.filter(eec_id="eec-sub-1", expires_at__gt=timezone.now())
    assert call_item(client, "DELETE", item_path_of(live.first())).status_code == 204
    assert subscribe(serv_prov_subscription(receiver.url)).status_code == 201


def item_path_of(sub: EECSubscription) -> str:
    return f"{SUBSCRIPTIONS}/{sub.subscription_id}"


def test_the_quota_count_reads_only_the_eecs_own_rows(edn, subscribe, receiver, private_callbacks):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert subscribe(serv_prov_subscription(receiver.url)).status_code == 201
    [count] = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    assert '"eec_id" =' in count  # through the eec_id index, never the whole table


def test_lowercase_t_and_z_are_an_rfc_3339_date_time(edn, subscribe, receiver, private_callbacks):
    proposed = in_seconds(300).replace("T", "t").replace("Z", "z")
    response = subscribe(serv_prov_subscription(receiver.url, expTime=proposed))
    assert response.status_code == 201
    granted = parse_datetime(response.json()["expTime"])
    assert granted == parse_datetime(proposed.upper())
