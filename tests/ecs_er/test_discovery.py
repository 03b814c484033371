"""ECS discovery at the ECS-ER: matching by PLMN, ECSP and location; the lifetime; and
subscriptions notified over real HTTP (a loopback receiver) when the matching set changes.

Every answer, and every notification received, is checked against our OpenAPI file
(``federation/eecs_ecsdiscovery/openapi/``).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from federation import repository
from federation.models import DiscoverySubscription, ECSRegistration
from notifications import worker
from notifications.models import Notification
from tests.builders import Receiver, circle, in_seconds, plmn, tai, ue_at
from tests.openapi import ECS_DISCOVERY_FILE, assert_conforms, assert_valid

from .helpers import (
    DISCOVERY,
    DISCOVERY_SCOPE,
    REGISTRATION_SCOPE,
    REGISTRATIONS,
    SUBSCRIPTIONS,
    bearer,
    ecs_profile,
    make_er,
    member,
    send,
)

pytestmark = pytest.mark.django_db

HOME_ID = "ecs.home.example"
V = plmn("002", "02")
W = plmn("003", "03")
ITEM = "/subscriptions/{subscriptionId}"


@pytest.fixture(autouse=True)
def private_callbacks(monkeypatch):
    monkeypatch.setenv("ECS_ALLOW_PRIVATE_CALLBACKS", "1")


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def er():
    return make_er(discovery_lifetime=120)


@pytest.fixture
def home(client, er):
    return bearer(client, member(HOME_ID), DISCOVERY_SCOPE)


def register(client, profile: dict) -> str:
    """Register a profile as its own ECS would; returns the registration's path."""
    auth = bearer(client, member(profile["ecsId"]), REGISTRATION_SCOPE)
    response = send(client, "POST", REGISTRATIONS, {"ecsProfile": profile}, **auth)
    assert response.status_code == 201, response.content
    return response["Location"].removeprefix("http://testserver"), auth


def discover(client, auth, **filters) -> dict:
    body = {"requestorId": HOME_ID, **filters}
    assert_valid(body, ECS_DISCOVERY_FILE, "EcsInfoDiscoveryReq")
    response = send(client, "POST", DISCOVERY, body, **auth)
    assert_conforms(response, ECS_DISCOVERY_FILE, "/ecs-info/request", "post")
    assert response.status_code == 200, response.content
    return response.json()


def ids(answer: dict) -> list[str]:
    return [info["ecsProfile"]["ecsId"] for info in answer["ecsInfo"]]


@pytest.fixture
def registered(client, er):
    """Three member ECSs: visited (PLMN V, ECSP ecsp-v, TAI 0001 of V), west (PLMN W,
    ECSP ecsp-w there, a circle around Berlin) and home itself (PLMN V)."""
    register(
        client,
        ecs_profile(
            "ecs.visited.example",
            ecsp="ecsp-v",
            plmns=((V, ()),),
            area={"topServAr": {"tais": [tai("0001", V)]}},
        ),
    )
    register(
        client,
        ecs_profile(
            "ecs.west.example",
            plmns=((W, ("ecsp-w",)),),
            area={"geoServAr": {"geoArs": [circle(52.52, 13.40, 5000)]}},
        ),
    )
    register(client, ecs_profile(HOME_ID, plmns=((V, ()),)))


def test_discovery_matches_plmn_ecsp_and_location(client, home, registered):
    everything = discover(client, home)
    assert ids(everything) == ["ecs.visited.example", "ecs.west.example"]  # never home itself
    assert everything["lifetime"] == 120

    assert ids(discover(client, home, targetPlmn=V)) == ["ecs.visited.example"]
    assert ids(discover(client, home, targetPlmn=W)) == ["ecs.west.example"]
    assert ids(discover(client, home, targetPlmn=plmn("999", "99"))) == []

    # ECSP: the profile's own, or one its matched SupportedPlmn names.
    assert ids(discover(client, home, ecspIds=["ecsp-v"])) == ["ecs.visited.example"]
    assert ids(discover(client, home, ecspIds=["ecsp-w"])) == ["ecs.west.example"]
    assert ids(discover(client, home, targetPlmn=V, ecspIds=["ecsp-w"])) == []
    assert ids(discover(client, home, ecspIds=["nobody"])) == []

    # Location: within the spatial validity, or no spatial validity to say otherwise.
    inside = ue_at(tai("0001", V))
    outside = ue_at(tai("0002", V))
    assert ids(discover(client, home, targetPlmn=V, ueLocation=inside)) == ["ecs.visited.example"]
    assert ids(discover(client, home, targetPlmn=V, ueLocation=outside)) == []
    berlin = {"geographicArea": {"shape": "POINT", "point": {"lat": 52.52, "lon": 13.41}}}
    paris = {"geographicArea": {"shape": "POINT", "point": {"lat": 48.85, "lon": 2.35}}}
    assert ids(discover(client, home, targetPlmn=W, ueLocation=berlin)) == ["ecs.west.example"]
    assert ids(discover(client, home, targetPlmn=W, ueLocation=paris)) == []


def test_an_expired_registration_is_never_discovered(client, home, registered):
    ECSRegistration.objects.filter(ecs_id="ecs.visited.example").update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert ids(discover(client, home)) == ["ecs.west.example"]


def test_discovery_only_as_its_own_ecs_id_and_with_a_token(client, home, registered):
    other = bearer(client, member("ecs.other.example"), DISCOVERY_SCOPE)
    response = send(client, "POST", DISCOVERY, {"requestorId": HOME_ID}, **other)
    assert_conforms(response, ECS_DISCOVERY_FILE, "/ecs-info/request", "post")
    assert response.status_code == 403
    anonymous = send(client, "POST", DISCOVERY, {"requestorId": HOME_ID})
    assert_conforms(anonymous, ECS_DISCOVERY_FILE, "/ecs-info/request", "post")
    assert anonymous.status_code == 401
    invalid = send(client, "POST", DISCOVERY, {"targetPlmn": V}, **home)
    assert_conforms(invalid, ECS_DISCOVERY_FILE, "/ecs-info/request", "post")
    assert invalid.status_code == 400
    assert invalid.json()["invalidParams"][0]["param"] == "/requestorId"


def subscribe(client, auth, destination, **filters):
    body = {
        "requestorId": HOME_ID,
        "notificationDestination": destination,
        "discoveryFilters": filters,
        "expTime": in_seconds(600),
    }
    response = send(client, "POST", SUBSCRIPTIONS, body, **auth)
    assert_conforms(response, ECS_DISCOVERY_FILE, "/subscriptions", "post")
    assert response.status_code == 201, response.content
    return response


def delivered(receiver, count: int) -> list[dict]:
    """The notifications received once the worker delivered ``count`` (one of a
    subscription at a time, in order, as the outbox delivers them)."""
    for _ in range(count):
        worker.deliver_due()
    bodies = [d["body"] for d in receiver.wait_for(count)]
    for body in bodies:
        assert_valid(body, ECS_DISCOVERY_FILE, "EcsInfoDiscNotif")
    return bodies


def test_a_subscription_is_notified_after_a_registration_and_a_deregistration(
    client, home, receiver
):
    created = subscribe(client, home, receiver.url, targetPlmn=V)
    sub_id = created["Location"].rsplit("/", 1)[1]
    assert created.json()["discoveryFilters"] == {"targetPlmn": V}

    path, visited = register(client, ecs_profile("ecs.visited.example", plmns=((V, ()),)))
    [first] = delivered(receiver, 1)
    assert first["subscriptionId"] == sub_id
    assert [i["ecsProfile"]["ecsId"] for i in first["ecsInfo"]] == ["ecs.visited.example"]

    # Changes the subscription cannot see notify nothing: another PLMN, a mere refresh.
    register(client, ecs_profile("ecs.west.example", plmns=((W, ()),)))
    profile = ecs_profile("ecs.visited.example", plmns=((V, ()),))
    send(client, "PUT", path, {"ecsProfile": profile, "expTime": in_seconds(900)}, **visited)
    assert Notification.objects.filter(kind=repository.KIND).count() == 1

    assert send(client, "DELETE", path, **visited).status_code == 204
    _, second = delivered(receiver, 2)
    assert second == {"subscriptionId": sub_id, "ecsInfo": []}


def test_an_expiry_notifies_too_and_touches_only_what_expired(client, home, receiver):
    subscribe(client, home, receiver.url)
    register(client, ecs_profile("ecs.visited.example"))
    register(client, ecs_profile("ecs.west.example", plmns=((W, ()),)))
    delivered(receiver, 2)
    ECSRegistration.objects.filter(ecs_id="ecs.visited.example").update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    worker.run_periodic(force=True)  # the expiry chore
    bodies = delivered(receiver, 3)
    assert [i["ecsProfile"]["ecsId"] for i in bodies[2]["ecsInfo"]] == ["ecs.west.example"]
    assert list(ECSRegistration.objects.values_list("ecs_id", flat=True)) == ["ecs.west.example"]


def test_subscription_update_patch_delete_and_ownership(client, home, receiver):
    created = subscribe(client, home, receiver.url, targetPlmn=V)
    path = created["Location"].removeprefix("http://testserver")
    body = {**created.json(), "discoveryFilters": {"targetPlmn": W}}
    put = send(client, "PUT", path, body, **home)
    assert_conforms(put, ECS_DISCOVERY_FILE, ITEM, "put")
    assert put.status_code == 200
    assert DiscoverySubscription.objects.get().target_plmn == "003-03"

    patch = send(
        client,
        "PATCH",
        path,
        {"discoveryFilters": {"ecspIds": ["ecsp-v"]}},
        content_type="application/merge-patch+json",
        **home,
    )
    assert_conforms(patch, ECS_DISCOVERY_FILE, ITEM, "patch")
    assert patch.json()["discoveryFilters"] == {"ecspIds": ["ecsp-v"]}
    register(client, ecs_profile("ecs.visited.example", ecsp="ecsp-v"))
    [note] = delivered(receiver, 1)
    assert [i["ecsProfile"]["ecsId"] for i in note["ecsInfo"]] == ["ecs.visited.example"]

    other = bearer(client, member("ecs.other.example"), DISCOVERY_SCOPE)
    for method in ("PUT", "DELETE"):
        response = send(client, method, path, body if method == "PUT" else None, **other)
        assert_conforms(response, ECS_DISCOVERY_FILE, ITEM, method.lower())
        assert response.status_code == 403

    deleted = send(client, "DELETE", path, **home)
    assert_conforms(deleted, ECS_DISCOVERY_FILE, ITEM, "delete")
    assert deleted.status_code == 204
    assert not DiscoverySubscription.objects.exists()
    missing = send(client, "DELETE", path, **home)
    assert_conforms(missing, ECS_DISCOVERY_FILE, ITEM, "delete")
    assert missing.status_code == 404


def test_a_private_destination_is_refused_unless_allowed(client, home, monkeypatch):
    monkeypatch.delenv("ECS_ALLOW_PRIVATE_CALLBACKS")
    body = {
        "requestorId": HOME_ID,
        "notificationDestination": "http://127.0.0.1:9/callback",
        "discoveryFilters": {},
    }
    response = send(client, "POST", SUBSCRIPTIONS, body, **home)
    assert_conforms(response, ECS_DISCOVERY_FILE, "/subscriptions", "post")
    assert response.status_code == 400
    assert response.json()["invalidParams"][0]["param"] == "/notificationDestination"
    assert not DiscoverySubscription.objects.exists()


def test_a_test_notification_carries_the_current_set(client, home, receiver):
    register(client, ecs_profile("ecs.visited.example"))
    body = {
        "requestorId": HOME_ID,
        "notificationDestination": receiver.url,
        "discoveryFilters": {"targetPlmn": V},
        "requestTestNotification": True,
    }
    assert send(client, "POST", SUBSCRIPTIONS, body, **home).status_code == 201
    [note] = delivered(receiver, 1)
    assert [i["ecsProfile"]["ecsId"] for i in note["ecsInfo"]] == ["ecs.visited.example"]


def test_subscriptions_expire(client, home, receiver):
    subscribe(client, home, receiver.url)
    DiscoverySubscription.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    repository.expire()
    assert not DiscoverySubscription.objects.exists()
