"""The token endpoint: the client credentials grant only, no client-id oracle, rate limits,
tokens kept hashed."""

from __future__ import annotations

import base64
import hashlib

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.contrib.auth.models import User
from django.test import override_settings
from oauth2_provider.models import AccessToken

from ecscore import ratelimit
from tests.access.test_oauth import bearer, get_token, make_client
from tests.builders import EDGE4_REQUEST, configure_ecs, edge4_request, post_json

pytestmark = pytest.mark.django_db

TOKEN = "/oauth2/token/"


@pytest.fixture(autouse=True)
def fresh_windows():
    ratelimit.reset()
    yield
    ratelimit.reset()


def basic(client_id: str, secret: str) -> dict[str, str]:
    value = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {value}"}


def test_the_password_grant_is_no_password_oracle(client):
    User.objects.create_superuser("admin", "admin@example.net", "right-password-123")
    client_id, secret = make_client("eec", "eec-1", ["eecs-serviceprovisioning"])
    answers = []
    for password in ("right-password-123", "wrong-password"):
        form = {"grant_type": "password", "username": "admin", "password": password}
        with_client = client.post(TOKEN, form, **basic(client_id, secret))
        without = client.post(TOKEN, form)
        answers += [(r.status_code, r.json()) for r in (with_client, without)]
    # The same refusal whatever the password, and whether or not a client authenticated.
    assert {status for status, _ in answers} == {400}
    assert {body["error"] for _, body in answers} == {"unsupported_grant_type"}
    assert len({str(body) for _, body in answers}) == 1


@pytest.mark.parametrize(
    "grant_type",
    ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
)
def test_every_other_grant_type_is_unsupported(client, grant_type):
    client_id, secret = make_client("eec", "eec-1", ["eecs-serviceprovisioning"])
    response = client.post(TOKEN, {"grant_type": grant_type}, **basic(client_id, secret))
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


class CountingHasher(MD5PasswordHasher):
    """Counts the secret hashes computed (a fast hasher: the count is what matters)."""

    algorithm = "counting_md5"
    hashes = 0

    def encode(self, password, salt):
        CountingHasher.hashes += 1
        return super().encode(password, salt)


@override_settings(PASSWORD_HASHERS=["tests.access.test_token_endpoint.CountingHasher"])
@pytest.mark.parametrize("form_credentials", [False, True], ids=["basic", "form"])
def test_an_unknown_client_costs_what_a_wrong_secret_costs(client, form_credentials):
    client_id, _ = make_client("eec", "eec-1", ["eecs-serviceprovisioning"])

    def ask(cid: str, secret: str):
        CountingHasher.hashes = 0
        form = {"grant_type": "client_credentials"}
        if form_credentials:
            response = client.post(TOKEN, {**form, "client_id": cid, "client_secret": secret})
        else:
            response = client.post(TOKEN, form, **basic(cid, secret))
        return response.status_code, response.json(), CountingHasher.hashes

    wrong_secret = ask(client_id, "not-the-secret")
    unknown = ask("no-such-client-id", "not-the-secret")
    assert wrong_secret[:2] == unknown[:2] == (401, {"error": "invalid_client"})
    assert wrong_secret[2] == unknown[2] == 1  # one hash each: the same time


def test_access_tokens_are_stored_as_their_checksum_only(client):
    configure_ecs()
    client_id, secret = make_client("eec", "eec-test-1", ["eecs-serviceprovisioning"])
    token = get_token(client, client_id, secret)["access_token"]
    [row] = AccessToken.objects.all()
    assert row.token == ""
    assert row.token_checksum == hashlib.sha256(token.encode()).hexdigest()
    with override_settings(ECS_REQUIRE_AUTH=True):
        response = post_json(client, EDGE4_REQUEST, edge4_request(), **bearer(token))
    assert response.status_code == 204


@override_settings(ECS_TOKEN_PER_CLIENT_PER_MINUTE=3)
def test_token_requests_are_limited_per_client_id(client):
    one_id, one_secret = make_client("eec", "eec-1", ["eecs-serviceprovisioning"])
    two_id, two_secret = make_client("eec", "eec-2", ["eecs-serviceprovisioning"])
    assert [get_token(client, one_id, one_secret)["status"] for _ in range(3)] == [200] * 3
    refused = client.post(TOKEN, {"grant_type": "client_credentials"}, **basic(one_id, one_secret))
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused.json()["error"] == "temporarily_unavailable"
    # The same client id in the form counts the same; another client is not held back.
    form = {"grant_type": "client_credentials", "client_id": one_id, "client_secret": one_secret}
    assert client.post(TOKEN, form).status_code == 429
    assert get_token(client, two_id, two_secret)["status"] == 200


@override_settings(ECS_TOKEN_FAILURES_PER_ADDRESS_PER_MINUTE=3)
def test_failed_authentications_are_limited_per_address_and_successes_are_not(client):
    client_id, secret = make_client("eec", "eec-1", ["eecs-serviceprovisioning"])
    # Successes never count: many EECs behind one carrier NAT share an address.
    assert [get_token(client, client_id, secret)["status"] for _ in range(6)] == [200] * 6
    statuses = [get_token(client, f"guess-{n}", "x")["status"] for n in range(3)]
    assert statuses == [401, 401, 401]
    # Over the limit, the address gets nothing, right secret or wrong: no more guesses.
    refused = client.post(TOKEN, {"grant_type": "client_credentials"}, **basic(client_id, secret))
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    other = client.post(
        TOKEN,
        {"grant_type": "client_credentials"},
        REMOTE_ADDR="192.0.2.9",
        **basic(client_id, secret),
    )
    assert other.status_code == 200
