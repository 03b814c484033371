"""Subscribe-notify between partner ECSs (TS 23.558 clause 8.17.2.4.2.3), in one process.

As the partner ECS: a partner subscribes (``POST .../subscriptions``, authorized exactly like
the request operation), only it can update, patch or delete its subscription, and a change
to our EESs that it may see is notified (``ServProvNotif``, with the credential we present
to it) to a real HTTP receiver when the worker delivers the outbox.

As the subscribing ECS: the worker chore subscribes at a partner for a cached answer, and a
partner's notification replaces that answer -- an EEC is then served the new answer from the
cache.  Every answer is checked against our EDGE-10 file, every body we send or receive
against its ServProvSubsc / ServProvNotif.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from ecscore import ratelimit
from notifications import worker
from notifications.models import Notification
from partners import cache
from partners.models import PartnerSubscription, ProvisioningCacheEntry, RetrievalAudit
from provisioning import changes, datamodel
from provisioning.models import EES
from tests.builders import (
    EDGE4_FILE,
    MERGE_PATCH,
    Receiver,
    configure_ecs,
    edge4_request,
    edn_config_json,
    ees_ids,
    ees_info_json,
    in_seconds,
    make_edn,
    make_ees,
    make_partner,
    make_policy,
    post_json,
)
from tests.loopback import LoopbackServer, Received, Reply
from tests.openapi import EDGE10_FILE, assert_conforms, assert_valid

pytestmark = pytest.mark.django_db

PARTNER_ID = "ecs.partner.example"
OTHER_ID = "ecs.other.example"
TOKEN = "partner-token-5d0a7e3c91f24b68"
OTHER_TOKEN = "other-token-0b9e62d4c7a1f385"
OUTBOUND = "we-present-this-3f7c20a9e14d"
SUBS = "/eecs-ecsserviceprovisioning/v1/subscriptions"
ITEM = "/subscriptions/{subscriptionId}"
NOTIFICATIONS = "/eecs-ecsserviceprovisioning/v1/notifications"


@pytest.fixture(autouse=True)
def _fresh_rate_windows():
    ratelimit.reset_local()
    if settings.REDIS_URL:
        from django_redis import get_redis_connection

        connection = get_redis_connection("default")
        for key in connection.scan_iter(f"{settings.CACHE_KEY_PREFIX}:ratelimit:*"):
            connection.delete(key)
    yield
    ratelimit.reset_local()


@pytest.fixture(autouse=True)
def private_callbacks(monkeypatch):
    monkeypatch.setenv("ECS_ALLOW_PRIVATE_CALLBACKS", "1")


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def partner():
    """Our ECS: EDN edge.a (ees-a1, app.one) and EDN edge.b (ees-b1, app.one); one partner
    that may ask for anything but is disclosed edge.a only."""
    configure_ecs(lifetime=3600)
    make_ees(make_edn("edn-a", dnn="edge.a"), "ees-a1", eas_ids=["app.one"])
    make_ees(make_edn("edn-b", dnn="edge.b"), "ees-b1", eas_ids=["app.one"])
    partner = make_partner(PARTNER_ID, inbound_token=TOKEN, outbound_token=OUTBOUND)
    make_policy(partner, dnns=["edge.a"], lifetime=600)
    return partner


@pytest.fixture
def other():
    other = make_partner(OTHER_ID, inbound_token=OTHER_TOKEN)
    make_policy(other)
    return other


def subsc(destination: str, eas_ids=("app.one",), req_ecs_id=PARTNER_ID, **extra) -> dict:
    body: dict[str, Any] = {"reqEcsId": req_ecs_id, "notificationDestination": destination}
    if eas_ids:
        body["acProfs"] = [{"acId": "ac-1", "eass": [{"easId": e} for e in eas_ids]}]
    body.update(extra)
    return body


def call(client, method, path, body=None, token=TOKEN, content_type="application/json"):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    func = getattr(client, method.lower())
    if body is None:
        return func(path, **headers)
    return func(path, json.dumps(body), content_type=content_type, **headers)


def create(client, body, token=TOKEN):
    response = call(client, "POST", SUBS, body, token)
    assert_conforms(response, EDGE10_FILE, "/subscriptions", "post")
    return response


def item(client, method, sub_id, body=None, token=TOKEN, content_type="application/json"):
    response = call(client, method, f"{SUBS}/{sub_id}", body, token, content_type)
    assert_conforms(response, EDGE10_FILE, ITEM, method)
    return response


def created_id(response) -> str:
    assert response.status_code == 201, response.content
    return response["Location"].rsplit("/", 1)[1]


def deliver() -> None:
    """One pass of the worker: evaluate the change events, then deliver the outbox."""
    changes.process_pending()
    worker.deliver_due()


def notifications() -> list[Notification]:
    """The partner notifications in the outbox once the worker evaluated the changes."""
    changes.process_pending()
    return list(Notification.objects.filter(kind="partner-subscription").order_by("pk"))


# --- serving subscriptions to partners --------------------------------------------------------


def test_partner_subscribes_and_gets_the_resource_back(client, partner, receiver):
    response = create(client, subsc(receiver.url, expTime=in_seconds(300)))

    sub_id = created_id(response)
    assert response["Location"] == f"http://testserver{SUBS}/{sub_id}"
    body = response.json()
    assert body["reqEcsId"] == PARTNER_ID
    assert body["notificationDestination"] == receiver.url
    sub = PartnerSubscription.objects.get(subscription_id=sub_id)
    assert sub.partner == partner
    assert dt.timedelta(seconds=290) < sub.expires_at - timezone.now() <= dt.timedelta(seconds=300)
    # Subscribing notifies nothing by itself; it is audited like a request.
    assert notifications() == []
    row = RetrievalAudit.objects.get(direction=RetrievalAudit.INBOUND)
    assert (row.partner, row.decision, row.edn_count) == (partner, RetrievalAudit.ALLOWED, 1)
    assert sub_id in row.reason


@pytest.mark.parametrize(
    ("policy_fields", "body_fields", "cause"),
    [
        pytest.param(None, {}, "NO_POLICY", id="no-policy"),
        pytest.param({"eas_ids": ["app.two"]}, {}, "NOT_AUTHORIZED", id="eas-not-allowed"),
        pytest.param({}, {"req_ecs_id": OTHER_ID}, "REQUESTER_MISMATCH", id="not-its-id"),
        pytest.param({"enabled": False}, {}, "NO_POLICY", id="policy-disabled"),
    ],
)
def test_subscription_is_authorized_like_a_request(
    client, receiver, policy_fields, body_fields, cause
):
    configure_ecs()
    make_ees(make_edn("edn-a", dnn="edge.a"), "ees-a1")
    partner = make_partner(PARTNER_ID, inbound_token=TOKEN)
    if policy_fields is not None:
        make_policy(partner, **policy_fields)

    response = create(client, subsc(receiver.url, **body_fields))

    assert response.status_code == 403
    assert response.json()["cause"] == cause
    assert not PartnerSubscription.objects.exists()
    row = RetrievalAudit.objects.get(direction=RetrievalAudit.INBOUND)
    assert (row.decision, row.status) == (RetrievalAudit.DENIED, 403)


def test_subscription_over_the_rate_is_429(client, receiver):
    configure_ecs()
    partner = make_partner(PARTNER_ID, inbound_token=TOKEN)
    make_policy(partner, rate_per_minute=1)
    assert create(client, subsc(receiver.url)).status_code == 201

    response = create(client, subsc(receiver.url))

    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert PartnerSubscription.objects.count() == 1


@pytest.mark.parametrize("token", [None, "not-a-partner-token"])
def test_subscription_needs_partner_credentials(client, partner, receiver, token):
    response = create(client, subsc(receiver.url), token=token)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert not PartnerSubscription.objects.exists()


def test_subscription_without_destination_is_400(client, partner):
    body = subsc("x")
    del body["notificationDestination"]

    response = create(client, body)

    assert response.status_code == 400
    assert response.json()["cause"] == "MANDATORY_IE_MISSING"
    assert "/notificationDestination" in [p["param"] for p in response.json()["invalidParams"]]


def test_private_destination_is_refused_unless_allowed(client, partner, monkeypatch):
    monkeypatch.delenv("ECS_ALLOW_PRIVATE_CALLBACKS")

    response = create(client, subsc("http://127.0.0.1:9/cb"))

    assert response.status_code == 400
    assert not PartnerSubscription.objects.exists()


def test_owner_updates_patches_and_deletes(client, partner, receiver):
    sub_id = created_id(create(client, subsc(receiver.url)))

    replaced = item(client, "PUT", sub_id, subsc(receiver.url + "/v2", expTime=in_seconds(120)))
    assert replaced.status_code == 200
    assert replaced.json()["notificationDestination"] == receiver.url + "/v2"
    sub = PartnerSubscription.objects.get(subscription_id=sub_id)
    assert sub.notification_destination == receiver.url + "/v2"

    patched = item(
        client,
        "PATCH",
        sub_id,
        {"ecspIds": ["op-x"], "notificationDestination": receiver.url},
        content_type=MERGE_PATCH,
    )
    assert patched.status_code == 200
    assert patched.json()["ecspIds"] == ["op-x"]
    assert patched.json()["acProfs"][0]["eass"] == [{"easId": "app.one"}]  # kept
    assert patched.json()["expTime"] == replaced.json()["expTime"]  # kept

    assert item(client, "DELETE", sub_id).status_code == 204
    assert not PartnerSubscription.objects.exists()
    assert item(client, "DELETE", sub_id).status_code == 404


def test_patch_needs_merge_patch_and_stays_within_the_policy(client, receiver):
    configure_ecs()
    partner = make_partner(PARTNER_ID, inbound_token=TOKEN)
    make_policy(partner, eas_ids=["app.one"])
    sub_id = created_id(create(client, subsc(receiver.url)))
    asked = {"acProfs": [{"acId": "ac-1", "eass": [{"easId": "app.secret"}]}]}

    assert item(client, "PATCH", sub_id, asked).status_code == 415
    response = item(client, "PATCH", sub_id, asked, content_type=MERGE_PATCH)

    assert response.status_code == 403
    assert response.json()["cause"] == "NOT_AUTHORIZED"
    stored = PartnerSubscription.objects.get(subscription_id=sub_id).body
    assert stored["acProfs"][0]["eass"] == [{"easId": "app.one"}]


def test_another_partner_cannot_touch_a_subscription(client, partner, other, receiver):
    sub_id = created_id(create(client, subsc(receiver.url)))
    theirs = subsc(receiver.url, req_ecs_id=OTHER_ID)

    assert item(client, "PUT", sub_id, theirs, token=OTHER_TOKEN).status_code == 404
    patch = {"ecspIds": ["op-x"]}
    response = item(client, "PATCH", sub_id, patch, token=OTHER_TOKEN, content_type=MERGE_PATCH)
    assert response.status_code == 404
    assert item(client, "DELETE", sub_id, token=OTHER_TOKEN).status_code == 404

    sub = PartnerSubscription.objects.get(subscription_id=sub_id)
    assert (sub.partner, sub.body) == (partner, subsc(receiver.url))


def test_expired_subscription_is_gone(client, partner, receiver):
    sub_id = created_id(create(client, subsc(receiver.url)))
    PartnerSubscription.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))

    assert item(client, "DELETE", sub_id).status_code == 404
    worker.run_periodic(force=True)
    assert not PartnerSubscription.objects.exists()


# --- notifying partners --------------------------------------------------------------------------


def test_a_change_the_partner_may_see_is_notified_with_our_credential(client, partner, receiver):
    sub_id = created_id(create(client, subsc(receiver.url)))

    make_ees(make_edn("edn-a2", dnn="edge.a"), "ees-a2", eas_ids=["app.one"])
    deliver()

    (delivery,) = receiver.wait_for(1)
    assert delivery["headers"]["Authorization"] == f"Bearer {OUTBOUND}"
    # The credential is resolved when sending: the outbox never holds it.
    from notifications.models import Notification

    stored = json.dumps(list(Notification.objects.values("headers", "payload")))
    assert OUTBOUND not in stored
    body = delivery["body"]
    assert_valid(body, EDGE10_FILE, "ServProvNotif")
    assert body["subId"] == sub_id
    # Disclosed as the policy allows: edge.a only, with the policy's lifetime (600 s).
    assert [c["ednConInfo"]["dnn"] for c in body["ednCnfgInfo"]] == ["edge.a", "edge.a"]
    assert sorted(e["eesId"] for c in body["ednCnfgInfo"] for e in c["eess"]) == [
        "ees-a1",
        "ees-a2",
    ]
    lifetime = dt.datetime.fromisoformat(body["ednCnfgInfo"][0]["lifeTime"].replace("Z", "+00:00"))
    assert dt.timedelta(seconds=590) < lifetime - timezone.now() <= dt.timedelta(seconds=600)
    assert Notification.objects.get(kind="partner-subscription").state == Notification.DELIVERED


def test_an_endpoint_change_is_notified(client, partner, receiver):
    created_id(create(client, subsc(receiver.url)))
    ees = EES.objects.get(ees_id="ees-a1")
    ees.end_pt = {"uri": "https://ees-a1.moved.example/eees"}
    ees.save()
    deliver()

    (delivery,) = receiver.wait_for(1)
    (cfg,) = delivery["body"]["ednCnfgInfo"]
    assert cfg["eess"][0]["endPt"] == {"uri": "https://ees-a1.moved.example/eees"}


def test_what_the_partner_may_not_see_is_not_notified(client, partner, receiver):
    created_id(create(client, subsc(receiver.url)))

    make_ees(EES.objects.get(ees_id="ees-b1").edn, "ees-b2", eas_ids=["app.one"])  # edge.b
    make_ees(EES.objects.get(ees_id="ees-a1").edn, "ees-a9", eas_ids=["app.other"])  # not asked
    deliver()

    assert notifications() == []
    assert receiver.bodies() == []


def test_an_empty_answer_is_not_notified_but_the_next_one_is(client, partner, receiver):
    sub_id = created_id(create(client, subsc(receiver.url)))

    EES.objects.get(ees_id="ees-a1").delete()
    assert notifications() == []
    make_ees(EES.objects.get(ees_id="ees-b1").edn, "ees-b9")  # edge.b: still nothing visible
    assert notifications() == []
    make_ees(make_edn("edn-a3", dnn="edge.a"), "ees-a3")
    deliver()

    (delivery,) = receiver.wait_for(1)
    assert delivery["body"]["subId"] == sub_id
    assert [e["eesId"] for e in delivery["body"]["ednCnfgInfo"][0]["eess"]] == ["ees-a3"]


# --- subscribing at partners, and their notifications -------------------------------------------


PARTNER_EES = ees_info_json("ees-p1", eas_ids=["app.one"])


@pytest.fixture
def cached(client):
    """Our ECS (no EDN of its own) and a subscribing partner whose answer (ees-p1) is cached
    for an EEC's query, under our subscription ``sub-at-partner``."""
    configure_ecs(lifetime=3600)
    partner = make_partner(
        PARTNER_ID,
        inbound_token=TOKEN,
        outbound_token=OUTBOUND,
        consult="always",
        subscribe=True,
        max_lifetime=3600,
    )
    query = datamodel.provisioning_query(eec_request())
    canonical = cache.canonical_query(query, None, False)
    answer = [edn_config_json("edge.partner", PARTNER_EES, lifetime=in_seconds(300))]
    entry = cache.store(
        partner,
        cache.cache_key(canonical),
        canonical,
        {"reqEcsId": "ecs.home.example", "acProfs": eec_request()["acProfs"]},
        answer,
        timezone.now() + dt.timedelta(seconds=300),
    )
    ProvisioningCacheEntry.objects.filter(pk=entry.pk).update(
        partner_subscription_id="sub-at-partner",
        partner_subscription_expires=timezone.now() + dt.timedelta(hours=1),
    )
    return partner


def eec_request() -> dict:
    return edge4_request(eas_ids=["app.one"])


def notify(client, body, token=TOKEN):
    return call(client, "POST", NOTIFICATIONS, body, token)


def test_a_partner_notification_replaces_the_cached_answer(client, cached, edge4):
    moved = ees_info_json("ees-p2", eas_ids=["app.one"])
    body = {
        "subId": "sub-at-partner",
        "ednCnfgInfo": [edn_config_json("edge.partner", moved, lifetime=in_seconds(900))],
    }
    assert_valid(body, EDGE10_FILE, "ServProvNotif")
    before = RetrievalAudit.objects.count()

    response = notify(client, body)

    assert response.status_code == 204
    entry = ProvisioningCacheEntry.objects.get()
    assert [e["eesId"] for e in entry.answer[0]["eess"]] == ["ees-p2"]
    assert (
        dt.timedelta(seconds=890) < entry.expires_at - timezone.now() <= dt.timedelta(seconds=900)
    )
    row = RetrievalAudit.objects.order_by("-pk").first()
    assert RetrievalAudit.objects.count() == before + 1
    assert (row.direction, row.partner, row.reason, row.edn_count) == (
        RetrievalAudit.OUTBOUND,
        cached,
        "partner notification",
        1,
    )
    # An EEC asking now is answered from the cache with the notified answer.
    answer = edge4(eec_request())
    assert answer.status_code == 200
    assert_valid(answer.json(), EDGE4_FILE, "ECSServProvResp")
    assert ees_ids(answer) == ["ees-p2"]


def test_a_notification_of_an_eec_visible_change_notifies_subscribed_eecs(client, cached, receiver):
    from tests.builders import SUBSCRIPTIONS, serv_prov_subscription

    response = post_json(client, SUBSCRIPTIONS, serv_prov_subscription(receiver.url))
    assert response.status_code == 201, response.content
    moved = ees_info_json("ees-p2", eas_ids=["app.one"])

    assert (
        notify(
            client,
            {
                "subId": "sub-at-partner",
                "ednCnfgInfo": [edn_config_json("edge.partner", moved, lifetime=in_seconds(900))],
            },
        ).status_code
        == 204
    )
    deliver()

    (delivery,) = receiver.wait_for(1)
    assert_valid(delivery["body"], EDGE4_FILE, "ServProvNotification")
    assert [e["eesId"] for e in delivery["body"]["ednCnfgInfo"][0]["eess"]] == ["ees-p2"]


def test_notification_checks(client, cached, other):
    valid = {"subId": "sub-at-partner", "ednCnfgInfo": [edn_config_json("edge.x", PARTNER_EES)]}

    assert notify(client, valid, token=None).status_code == 401
    assert notify(client, valid, token=OTHER_TOKEN).status_code == 404  # not its subscription
    assert notify(client, {**valid, "subId": "unknown"}).status_code == 404
    invalid = notify(client, {"subId": "sub-at-partner", "ednCnfgInfo": []})
    assert invalid.status_code == 400
    entry = ProvisioningCacheEntry.objects.get()
    assert [e["eesId"] for e in entry.answer[0]["eess"]] == ["ees-p1"]


class FakePartner:
    """A partner ECS's subscription endpoint on 127.0.0.1: records POSTs, answers 201."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.server = LoopbackServer(self._respond)
        self.url = self.server.url

    def _respond(self, request: Received) -> Reply:
        body = request.json()
        self.received.append({"path": request.path, "headers": request.headers, "body": body})
        location = f"http://127.0.0.1{request.path}/sub-{len(self.received)}"
        return Reply(201, {**body, "expTime": in_seconds(3600)}, {"Location": location})

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def fake_partner():
    server = FakePartner()
    yield server
    server.close()


@override_settings(ECS_PUBLIC_URL="https://ecs.home.example")
def test_the_worker_subscribes_at_the_partner_for_a_cached_answer(cached, fake_partner):
    ProvisioningCacheEntry.objects.update(
        partner_subscription_id="", partner_subscription_expires=None
    )
    cached.api_root = fake_partner.url
    cached.save()

    worker.run_periodic(force=True)

    (call_,) = fake_partner.received
    assert call_["path"] == SUBS
    assert call_["headers"]["Authorization"] == f"Bearer {OUTBOUND}"
    assert_valid(call_["body"], EDGE10_FILE, "ServProvSubsc")
    assert call_["body"]["notificationDestination"] == ("https://ecs.home.example" + NOTIFICATIONS)
    assert call_["body"]["acProfs"] == eec_request()["acProfs"]
    entry = ProvisioningCacheEntry.objects.get()
    assert entry.partner_subscription_id == "sub-1"
    assert entry.partner_subscription_expires > timezone.now() + dt.timedelta(minutes=59)
    # Subscribed once: the next round has nothing to do.
    worker.run_periodic(force=True)
    assert len(fake_partner.received) == 1


@override_settings(ECS_PUBLIC_URL="https://ecs.home.example")
def test_no_subscription_for_a_partner_without_subscribe(cached, fake_partner):
    ProvisioningCacheEntry.objects.update(
        partner_subscription_id="", partner_subscription_expires=None
    )
    cached.api_root = fake_partner.url
    cached.subscribe = False
    cached.save()

    worker.run_periodic(force=True)

    assert fake_partner.received == []
    assert ProvisioningCacheEntry.objects.get().partner_subscription_id == ""


# --- quota ------------------------------------------------------------------------------------


@override_settings(ECS_MAX_SUBSCRIPTIONS_PER_PARTNER=2)
def test_a_partner_holds_at_most_its_quota_of_live_subscriptions(client, partner, other, receiver):
    first = create(client, subsc(receiver.url))
    assert first.status_code == 201
    assert create(client, subsc(receiver.url)).status_code == 201
    refused = create(client, subsc(receiver.url))
    assert refused.status_code == 403  # our EDGE-10 file, as 3GPP's, declares 403, not 507
    assert refused.json()["cause"] == "PARTNER_SUBSCRIPTION_QUOTA_EXCEEDED"
    assert PartnerSubscription.objects.filter(partner=partner).count() == 2
    # Another partner has its own quota; an expired subscription does not count.
    other_body = subsc(receiver.url, req_ecs_id=OTHER_ID)
    assert create(client, other_body, token=OTHER_TOKEN).status_code == 201
    PartnerSubscription.objects.filter(partner=partner).update(expires_at=timezone.now())
    assert create(client, subsc(receiver.url)).status_code == 201
