"""OAuth 2.0 client credentials on every API: tokens, scopes, expiry and identities.

Each API refuses a call without a token (when authentication is required), with an expired
token, with a token of the wrong scope and with another client's identity -- each with the
right status and a ProblemDetails body.
"""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from django.test import override_settings
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application

from access.models import APIClient
from provisioning.models import EES
from tests.builders import (
    EDGE4_REQUEST,
    configure_ecs,
    edge4_request,
    make_edn,
    make_ees,
    make_partner,
    make_policy,
    post_json,
)
from tests.openapi import assert_valid

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("auth_required")]

REGISTRATIONS = "/eecs-eesregistration/v1/registrations"
DISCOVERY = "/eecs-targeteesdiscovery/v1/ees-profiles"
SUBSCRIPTIONS = "/eecs-serviceprovisioning/v1/subscriptions"
EDGE10 = "/eecs-ecsserviceprovisioning/v1/request"


@pytest.fixture
def auth_required():
    with override_settings(ECS_REQUIRE_AUTH=True):
        yield


def make_client(kind: str, identity: str, scopes: list[str]) -> tuple[str, str]:
    """An API client as the admin creates it; returns (client id, secret)."""
    secret = f"secret-{kind}-{identity}-0123456789abcdef"
    app = Application.objects.create(
        name=f"{kind}:{identity}",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret=secret,
    )
    APIClient.objects.create(application=app, kind=kind, identity=identity, scopes=scopes)
    return app.client_id, secret


def get_token(client, client_id: str, secret: str, scope: str | None = None) -> dict:
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    data = {"grant_type": "client_credentials"}
    if scope:
        data["scope"] = scope
    response = client.post("/oauth2/token/", data, HTTP_AUTHORIZATION=f"Basic {basic}")
    return {"status": response.status_code, **response.json()}


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert_valid(body, "TS29122_CommonData.yaml", "ProblemDetails")
    return body


@pytest.fixture
def inventory():
    configure_ecs()
    edn = make_edn("edn-a", dnn="edge.a")
    make_ees(edn, "ees-1", eas_ids=["app.x"])
    return edn


def test_token_endpoint_issues_expiring_tokens_with_the_clients_scopes(client):
    client_id, secret = make_client("eec", "eec-1", ["eecs-serviceprovisioning"])
    token = get_token(client, client_id, secret)
    assert token["status"] == 200
    assert token["token_type"] == "Bearer"
    assert token["scope"] == "eecs-serviceprovisioning"
    assert 0 < token["expires_in"] <= 3600


def test_a_client_cannot_obtain_a_scope_it_was_not_given(client):
    client_id, secret = make_client("eec", "eec-1", ["eecs-serviceprovisioning"])
    token = get_token(client, client_id, secret, scope="eecs-eesregistration")
    assert token["status"] == 400
    assert token["error"] == "invalid_scope"


def test_a_wrong_secret_gets_no_token(client):
    client_id, _ = make_client("eec", "eec-1", ["eecs-serviceprovisioning"])
    assert get_token(client, client_id, "wrong")["status"] == 401


def test_client_secrets_are_stored_hashed():
    client_id, secret = make_client("ees", "ees-1", ["eecs-eesregistration"])
    stored = Application.objects.get(client_id=client_id).client_secret
    assert secret not in stored
    assert stored.startswith("pbkdf2_") or "$" in stored


def test_edge4_with_a_valid_token_answers(client, inventory):
    client_id, secret = make_client("eec", "eec-test-1", ["eecs-serviceprovisioning"])
    token = get_token(client, client_id, secret)["access_token"]
    response = post_json(client, EDGE4_REQUEST, edge4_request(eas_ids=["app.x"]), **bearer(token))
    assert response.status_code == 200
    assert [e["eesId"] for c in response.json()["ednCnfgInfo"] for e in c["eess"]] == ["ees-1"]


def test_edge4_without_a_token_is_refused_when_authentication_is_required(client, inventory):
    body = assert_problem(post_json(client, EDGE4_REQUEST, edge4_request()), 401)
    assert body["cause"] == "UNAUTHORIZED"


def test_edge4_without_a_token_is_allowed_when_authentication_is_off(client, inventory):
    with override_settings(ECS_REQUIRE_AUTH=False):
        response = post_json(client, EDGE4_REQUEST, edge4_request(eas_ids=["app.x"]))
    assert response.status_code == 200


def test_an_unknown_token_is_refused_even_when_authentication_is_off(client, inventory):
    with override_settings(ECS_REQUIRE_AUTH=False):
        response = post_json(client, EDGE4_REQUEST, edge4_request(), **bearer("no-such-token"))
    assert_problem(response, 401)
    assert "Bearer" in response["WWW-Authenticate"]


def test_an_expired_token_is_refused(client, inventory):
    client_id, secret = make_client("eec", "eec-test-1", ["eecs-serviceprovisioning"])
    token = get_token(client, client_id, secret)["access_token"]
    AccessToken.objects.update(expires=timezone.now() - dt.timedelta(seconds=1))
    assert_problem(post_json(client, EDGE4_REQUEST, edge4_request(), **bearer(token)), 401)


def test_a_token_of_another_scope_is_refused(client, inventory):
    client_id, secret = make_client("eec", "eec-test-1", ["eecs-eesregistration"])
    token = get_token(client, client_id, secret)["access_token"]
    body = assert_problem(post_json(client, EDGE4_REQUEST, edge4_request(), **bearer(token)), 403)
    assert "eecs-serviceprovisioning" in body["detail"]


def test_an_eec_cannot_ask_as_another_eec(client, inventory):
    client_id, secret = make_client("eec", "eec-someone-else", ["eecs-serviceprovisioning"])
    token = get_token(client, client_id, secret)["access_token"]
    body = assert_problem(post_json(client, EDGE4_REQUEST, edge4_request(), **bearer(token)), 403)
    assert body["cause"] == "IDENTITY_MISMATCH"


def _registration(ees_id: str) -> dict:
    return {
        "eesProf": {
            "eesId": ees_id,
            "endPt": {"uri": f"https://{ees_id}.example"},
            "easIds": ["app.x"],
            "eecRegConf": False,
            "ednInfoSets": {"dnn": "edge.a"},
        }
    }


def test_an_ees_registers_itself_but_cannot_touch_another_ees_registration(client, inventory):
    one_id, one_secret = make_client("ees", "ees-r1", ["eecs-eesregistration"])
    two_id, two_secret = make_client("ees", "ees-r2", ["eecs-eesregistration"])
    one = bearer(get_token(client, one_id, one_secret)["access_token"])
    two = bearer(get_token(client, two_id, two_secret)["access_token"])
    created = post_json(client, REGISTRATIONS, _registration("ees-r1"), **one)
    assert created.status_code == 201
    location = created["Location"]
    # The change log names the API client that acted, and the request.
    change = EES.history.filter(ees_id="ees-r1").latest("history_date")
    assert change.actor == "EES ees-r1"
    assert change.request_id == created["X-Request-ID"]
    # Registering in another EES's name, reading, updating and deleting its registration:
    body = assert_problem(post_json(client, REGISTRATIONS, _registration("ees-r1"), **two), 403)
    assert body["cause"] == "IDENTITY_MISMATCH"
    assert_problem(client.get(location, **two), 403)
    assert_problem(
        client.put(
            location, json.dumps(_registration("ees-r1")), content_type="application/json", **two
        ),
        403,
    )
    assert_problem(client.delete(location, **two), 403)
    assert client.get(location, **one).status_code == 200
    assert client.delete(location, **one).status_code == 204


def test_discovery_needs_its_scope_and_the_callers_own_ees_id(client, inventory):
    ees_id, secret = make_client("ees", "ees-src", ["eecs-targeteesdiscovery"])
    token = bearer(get_token(client, ees_id, secret)["access_token"])
    ok = client.get(DISCOVERY, {"ees-id": "ees-src", "eas-id": "app.x"}, **token)
    assert ok.status_code == 200
    other = client.get(DISCOVERY, {"ees-id": "ees-other", "eas-id": "app.x"}, **token)
    assert assert_problem(other, 403)["cause"] == "IDENTITY_MISMATCH"
    assert_problem(client.get(DISCOVERY, {"ees-id": "ees-src", "eas-id": "app.x"}), 401)


def test_an_eec_cannot_change_another_eecs_subscription(client, inventory, monkeypatch):
    monkeypatch.setenv("ECS_ALLOW_PRIVATE_CALLBACKS", "1")
    mine_id, mine_secret = make_client("eec", "eec-1", ["eecs-serviceprovisioning"])
    theirs_id, theirs_secret = make_client("eec", "eec-2", ["eecs-serviceprovisioning"])
    mine = bearer(get_token(client, mine_id, mine_secret)["access_token"])
    theirs = bearer(get_token(client, theirs_id, theirs_secret)["access_token"])
    subscription = {"eecId": "eec-1", "notificationDestination": "http://127.0.0.1:9/cb"}
    created = post_json(client, SUBSCRIPTIONS, subscription, **mine)
    assert created.status_code == 201
    assert_problem(client.delete(created["Location"], **theirs), 403)
    assert client.delete(created["Location"], **mine).status_code == 204


def test_a_partner_may_use_an_oauth_token_instead_of_its_static_token(client, inventory):
    partner = make_partner("ecs.partner", api_root="http://127.0.0.1:9")
    make_policy(partner, eas_ids=["*"])
    client_id, secret = make_client("partner", "ecs.partner", ["eecs-ecsserviceprovisioning"])
    token = bearer(get_token(client, client_id, secret)["access_token"])
    response = post_json(client, EDGE10, {"reqEcsId": "ecs.partner"}, **token)
    assert response.status_code == 200
    # The same token, asking in another partner's name, is refused by the policy check.
    refused = post_json(client, EDGE10, {"reqEcsId": "ecs.other"}, **token)
    assert assert_problem(refused, 403)["cause"] == "REQUESTER_MISMATCH"


def test_an_eec_token_is_no_partner_credential(client, inventory):
    make_partner("ecs.partner", api_root="http://127.0.0.1:9")
    client_id, secret = make_client("eec", "ecs.partner", ["eecs-serviceprovisioning"])
    token = bearer(get_token(client, client_id, secret)["access_token"])
    assert_problem(post_json(client, EDGE10, {"reqEcsId": "ecs.partner"}, **token), 403)
