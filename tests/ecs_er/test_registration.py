"""ECS registration at the ECS-ER: lifecycle, expiry, authorization, ProblemDetails.

Every answer is checked against our OpenAPI file for the operation
(``federation/eecs_ecsregistration/openapi/``), as a member ECS would read it.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from federation import repository
from federation.models import ECSRegistration
from tests.builders import in_seconds, plmn
from tests.openapi import ECS_REGISTRATION_FILE, assert_conforms, assert_valid

from .helpers import (
    DISCOVERY_SCOPE,
    REGISTRATION_SCOPE,
    REGISTRATIONS,
    bearer,
    ecs_profile,
    make_er,
    member,
    send,
)

pytestmark = pytest.mark.django_db

ITEM = "/registrations/{registrationId}"


def conforms(response, path: str, method: str):
    assert_conforms(response, ECS_REGISTRATION_FILE, path, method)
    return response


@pytest.fixture
def visited(client):
    make_er(max_registration_seconds=3600)
    return bearer(client, member("ecs.visited.example"), REGISTRATION_SCOPE)


def register(client, auth, profile, exp_time=None):
    body = {"ecsProfile": profile, **({"expTime": exp_time} if exp_time else {})}
    return conforms(send(client, "POST", REGISTRATIONS, body, **auth), "/registrations", "post")


def test_register_refresh_update_and_deregister(client, visited):
    profile = ecs_profile("ecs.visited.example", ecsp="ecsp-v")
    created = register(client, visited, profile, in_seconds(600))
    assert created.status_code == 201
    body = created.json()
    assert body["ecsProfile"] == profile
    granted = dt.datetime.fromisoformat(body["expTime"])
    assert 590 <= (granted - timezone.now()).total_seconds() <= 601
    location = created["Location"]
    assert location.startswith("http://testserver/eecs-ecsregistration/v1/registrations/")
    item = location.removeprefix("http://testserver")

    # Refresh (PUT with a new proposal) and a profile change.
    moved = ecs_profile("ecs.visited.example", api_root="https://new.visited.example/api")
    put = send(client, "PUT", item, {"ecsProfile": moved, "expTime": in_seconds(1200)}, **visited)
    conforms(put, ITEM, "put")
    assert put.status_code == 200
    assert put.json()["ecsProfile"]["ecsAddr"]["uri"] == "https://new.visited.example/api"
    assert ECSRegistration.objects.get().api_root == "https://new.visited.example/api"

    patch = send(
        client,
        "PATCH",
        item,
        {"expTime": in_seconds(60)},
        content_type="application/merge-patch+json",
        **visited,
    )
    conforms(patch, ITEM, "patch")
    assert patch.status_code == 200
    left = dt.datetime.fromisoformat(patch.json()["expTime"]) - timezone.now()
    assert 50 <= left.total_seconds() <= 61
    assert patch.json()["ecsProfile"] == moved  # the profile is kept

    deleted = conforms(send(client, "DELETE", item, **visited), ITEM, "delete")
    assert deleted.status_code == 204
    assert not ECSRegistration.objects.exists()
    gone = conforms(send(client, "DELETE", item, **visited), ITEM, "delete")
    assert gone.status_code == 404
    assert gone["Content-Type"].startswith("application/problem+json")


def test_expiry_is_capped_and_enforced(client, visited):
    created = register(client, visited, ecs_profile("ecs.visited.example"), in_seconds(86400 * 7))
    granted = dt.datetime.fromisoformat(created.json()["expTime"])
    assert (granted - timezone.now()).total_seconds() <= 3600  # maxRegistrationSeconds
    # Without a proposal: the maximum.
    item = created["Location"].removeprefix("http://testserver")
    plain = send(client, "PUT", item, {"ecsProfile": ecs_profile("ecs.visited.example")}, **visited)
    assert (dt.datetime.fromisoformat(plain.json()["expTime"]) - timezone.now()).seconds >= 3590

    # Once the expiry has passed it is gone for the API at once, and the worker deletes it.
    ECSRegistration.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert conforms(send(client, "DELETE", item, **visited), ITEM, "delete").status_code == 404
    assert repository.expire() == 1
    assert not ECSRegistration.objects.exists()


def test_without_a_cap_a_registration_may_never_expire(client):
    make_er(max_registration_seconds=0)
    auth = bearer(client, member("ecs.visited.example"), REGISTRATION_SCOPE)
    created = register(client, auth, ecs_profile("ecs.visited.example"))
    assert created.status_code == 201
    assert "expTime" not in created.json()
    assert ECSRegistration.objects.get().expires_at is None


def test_registering_again_replaces_the_earlier_registration(client, visited):
    first = register(client, visited, ecs_profile("ecs.visited.example", ecsp="a"))
    second = register(client, visited, ecs_profile("ecs.visited.example", ecsp="b"))
    assert first["Location"] != second["Location"]
    assert list(ECSRegistration.objects.values_list("ecsp_id", flat=True)) == ["b"]
    old = first["Location"].removeprefix("http://testserver")
    assert send(client, "DELETE", old, **visited).status_code == 404


def test_only_as_its_own_ecs_id(client, visited):
    other = bearer(client, member("ecs.other.example"), REGISTRATION_SCOPE)
    refused = register(client, other, ecs_profile("ecs.visited.example"))
    assert refused.status_code == 403
    assert_valid(refused.json(), "TS29122_CommonData.yaml", "ProblemDetails")
    assert refused.json()["cause"] == "IDENTITY_MISMATCH"

    created = register(client, visited, ecs_profile("ecs.visited.example"))
    item = created["Location"].removeprefix("http://testserver")
    for method, body in (
        ("PUT", {"ecsProfile": ecs_profile("ecs.other.example")}),
        ("DELETE", None),
    ):
        response = conforms(send(client, method, item, body, **other), ITEM, method.lower())
        assert response.status_code == 403
    # An ECS cannot move its registration to another ECS id either.
    moved = send(client, "PUT", item, {"ecsProfile": ecs_profile("ecs.other.example")}, **visited)
    assert conforms(moved, ITEM, "put").status_code == 403
    assert ECSRegistration.objects.get().ecs_id == "ecs.visited.example"


def test_authentication_and_scope_are_required(client, visited):
    body = {"ecsProfile": ecs_profile("ecs.visited.example")}
    anonymous = conforms(send(client, "POST", REGISTRATIONS, body), "/registrations", "post")
    assert anonymous.status_code == 401
    assert anonymous["Content-Type"].startswith("application/problem+json")
    assert "Bearer" in anonymous["WWW-Authenticate"]
    wrong = {"HTTP_AUTHORIZATION": "Bearer not-a-token"}
    assert send(client, "POST", REGISTRATIONS, body, **wrong).status_code == 401
    discovery_only = bearer(client, member("ecs.d.example", [DISCOVERY_SCOPE]), DISCOVERY_SCOPE)
    body = {"ecsProfile": ecs_profile("ecs.d.example")}
    response = send(client, "POST", REGISTRATIONS, body, **discovery_only)
    assert conforms(response, "/registrations", "post").status_code == 403


def test_other_kinds_of_client_may_not_register(client, visited):
    ees = bearer(client, member("ecs.visited.example", kind="ees"), REGISTRATION_SCOPE)
    response = register(client, ees, ecs_profile("ecs.visited.example"))
    assert response.status_code == 403


def test_invalid_bodies_are_problem_details_and_write_nothing(client, visited):
    cases = [
        ({"ecsProfile": {"ecsAddr": {"uri": "https://x"}}}, "/ecsProfile/ecsId"),
        (
            {"ecsProfile": {"ecsId": "ecs.visited.example", "ecsAddr": {"fqdn": "x.example"}}},
            "/ecsProfile/ecsAddr/uri",
        ),
        (
            {"ecsProfile": ecs_profile("ecs.visited.example"), "expTime": "2001-01-01T00:00:00Z"},
            "/expTime",
        ),
        (
            {"ecsProfile": {**ecs_profile("ecs.visited.example"), "supportedPlmns": [{}]}},
            "/ecsProfile/supportedPlmns/0/plmnId",
        ),
    ]
    for body, pointer in cases:
        response = conforms(
            send(client, "POST", REGISTRATIONS, body, **visited), "/registrations", "post"
        )
        assert response.status_code == 400, body
        assert pointer in [p["param"] for p in response.json()["invalidParams"]], response.json()
    assert not ECSRegistration.objects.exists()


def test_not_an_ecs_er_answers_404(client):
    make_er()
    auth = bearer(client, member("ecs.visited.example"), REGISTRATION_SCOPE)
    repository.configuration().__class__.objects.update(enabled=False)
    response = register(client, auth, ecs_profile("ecs.visited.example"))
    assert response.status_code == 404
    assert not ECSRegistration.objects.exists()


def test_discovery_keys_follow_the_profile(client, visited):
    profile = ecs_profile(
        "ecs.visited.example",
        ecsp="ecsp-v",
        plmns=((plmn("002", "02"), ("ecsp-a",)), (plmn("003", "03"), ())),
    )
    register(client, visited, profile)
    keys = {(k.plmn, k.ecsp) for k in ECSRegistration.objects.get().keys.all()}
    assert keys == {("002-02", ""), ("002-02", "ecsp-a"), ("003-03", ""), ("", "ecsp-v")}


def test_addresses_that_are_no_url_and_members_beyond_their_columns_are_400(client, visited):
    long_ecsp = {**ecs_profile("ecs.visited.example"), "ecspId": "e" * 256}
    long_uri = ecs_profile("ecs.visited.example", api_root="https://x.example/" + "a" * 1000)
    not_http = ecs_profile("ecs.visited.example", api_root="ftp://visited.example/api")
    for profile, pointer in (
        (not_http, "/ecsProfile/ecsAddr/uri"),
        (long_ecsp, "/ecsProfile/ecspId"),
        (long_uri, "/ecsProfile/ecsAddr/uri"),
    ):
        response = register(client, visited, profile)
        assert response.status_code == 400
        assert pointer in [p["param"] for p in response.json()["invalidParams"]]
    assert not ECSRegistration.objects.exists()
