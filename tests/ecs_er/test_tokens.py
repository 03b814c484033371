"""Federation tokens: the ECS-ER's /oauth2/token/ with an RFC 8707 ``resource``, verified as
a target ECS would, with PyJWT and the JWKS the ECS-ER publishes."""

from __future__ import annotations

import json
import logging
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.test import override_settings
from jwt import PyJWKSet

from federation.models import RepositoryConfiguration
from federation.signing import GENERATED_KEY_FILE, _loaded

from .helpers import (
    DISCOVERY_SCOPE,
    ER_ID,
    FEDERATION_SCOPE,
    REGISTRATION_SCOPE,
    REGISTRATIONS,
    bearer,
    ecs_profile,
    make_er,
    member,
    send,
    token_response,
)

pytestmark = pytest.mark.django_db

HOME_ID = "ecs.home.example"
VISITED_ID = "ecs.visited.example"


@pytest.fixture(autouse=True)
def fresh_keys(tmp_path):
    """Each test reads its keys afresh, the generated one under its own VAR_DIR."""
    _loaded.clear()
    with override_settings(VAR_DIR=tmp_path):
        yield tmp_path
    _loaded.clear()


@pytest.fixture
def federation(client):
    """An ECS-ER where visited is registered, and home's member client."""
    make_er()
    visited = bearer(client, member(VISITED_ID), REGISTRATION_SCOPE)
    registered = send(
        client, "POST", REGISTRATIONS, {"ecsProfile": ecs_profile(VISITED_ID)}, **visited
    )
    assert registered.status_code == 201
    return member(HOME_ID)


def published_keys(client) -> PyJWKSet:
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert "max-age=" in response["Cache-Control"]
    body = response.json()
    for key in body["keys"]:
        assert "d" not in key  # public keys only
    return PyJWKSet.from_dict(body)


def verify(client, token: str, audience: str = VISITED_ID) -> dict:
    """What a target ECS checks: signature by a published key, issuer, audience, expiry."""
    kid = jwt.get_unverified_header(token)["kid"]
    key = published_keys(client)[kid]
    return jwt.decode(
        token,
        key.key,
        algorithms=["ES256"],
        audience=audience,
        issuer=ER_ID,
        options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
    )


def test_a_federation_token_is_a_jwt_the_target_verifies_with_the_jwks(client, federation):
    response = token_response(client, federation, FEDERATION_SCOPE, resource=VISITED_ID)
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == FEDERATION_SCOPE
    assert 0 < body["expires_in"] <= 300
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "ES256"
    claims = verify(client, body["access_token"])
    assert claims["sub"] == HOME_ID
    assert claims["aud"] == VISITED_ID
    assert claims["scope"] == FEDERATION_SCOPE
    assert claims["exp"] - claims["iat"] == body["expires_in"]
    assert abs(claims["iat"] - time.time()) < 60
    # Another audience does not accept it.
    with pytest.raises(jwt.InvalidAudienceError):
        verify(client, body["access_token"], audience="ecs.other.example")


def test_the_form_may_carry_the_client_credentials(client, federation):
    client_id, secret = federation
    data = {
        "grant_type": "client_credentials",
        "scope": FEDERATION_SCOPE,
        "resource": VISITED_ID,
        "client_id": client_id,
        "client_secret": secret,
    }
    response = client.post("/oauth2/token/", data)
    assert response.status_code == 200, response.content
    verify(client, response.json()["access_token"])


def test_an_unknown_or_expired_target_is_invalid_target(client, federation):
    response = token_response(client, federation, FEDERATION_SCOPE, resource="ecs.nowhere.example")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"
    RepositoryConfiguration.objects.update(enabled=False)
    response = token_response(client, federation, FEDERATION_SCOPE, resource=VISITED_ID)
    assert response.json()["error"] == "invalid_target"


def test_refusals(client, federation):
    client_id, _ = federation
    wrong_secret = token_response(
        client, (client_id, "wrong"), FEDERATION_SCOPE, resource=VISITED_ID
    )
    assert wrong_secret.status_code == 401
    assert wrong_secret.json()["error"] == "invalid_client"
    unknown = token_response(client, ("nobody", "x"), FEDERATION_SCOPE, resource=VISITED_ID)
    assert unknown.status_code == 401
    other_scope = token_response(client, federation, DISCOVERY_SCOPE, resource=VISITED_ID)
    assert other_scope.json()["error"] == "invalid_scope"
    no_scope = member("ecs.limited.example", [DISCOVERY_SCOPE])
    refused = token_response(client, no_scope, FEDERATION_SCOPE, resource=VISITED_ID)
    assert refused.json()["error"] == "invalid_scope"
    eec = member("eec-1", ["eecs-ecsserviceprovisioning"], kind="partner")
    assert token_response(client, eec, FEDERATION_SCOPE, resource=VISITED_ID).json()["error"] == (
        "unauthorized_client"
    )
    grant = client.post(
        "/oauth2/token/",
        {"grant_type": "password", "resource": VISITED_ID},
    )
    assert grant.json()["error"] == "unsupported_grant_type"


def test_without_resource_the_endpoint_issues_ordinary_tokens(client, federation):
    response = token_response(client, federation, DISCOVERY_SCOPE)
    assert response.status_code == 200
    token = response.json()["access_token"]
    with pytest.raises(jwt.DecodeError):
        jwt.get_unverified_header(token)  # an opaque token, stored hashed as before


def test_configured_keys_rotate_without_downtime(client, federation, fresh_keys, monkeypatch):
    def pem() -> str:
        key = ec.generate_private_key(ec.SECP256R1())
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    old_file = fresh_keys / "old.pem"
    old_file.write_text(pem())
    monkeypatch.setenv("ECS_ER_NEW_KEY", pem())
    config = RepositoryConfiguration.objects.get()
    config.signing_keys = [
        {"kid": "old", "privateKey": f"file:{old_file}"},
        {"kid": "new", "privateKey": "env:ECS_ER_NEW_KEY"},
    ]
    config.save()
    first = token_response(client, federation, FEDERATION_SCOPE, resource=VISITED_ID).json()
    assert jwt.get_unverified_header(first["access_token"])["kid"] == "old"
    assert {k.key_id for k in published_keys(client).keys} == {"old", "new"}

    config.signing_keys = list(reversed(config.signing_keys))  # the new one now signs
    config.save()
    second = token_response(client, federation, FEDERATION_SCOPE, resource=VISITED_ID).json()
    assert jwt.get_unverified_header(second["access_token"])["kid"] == "new"
    verify(client, first["access_token"])  # tokens of the old key still verify
    verify(client, second["access_token"])
    assert not (fresh_keys / GENERATED_KEY_FILE).exists()


def test_a_generated_key_is_kept_in_var_dir(client, federation, fresh_keys):
    first = token_response(client, federation, FEDERATION_SCOPE, resource=VISITED_ID).json()
    path = fresh_keys / GENERATED_KEY_FILE
    assert path.exists()
    assert path.stat().st_mode & 0o077 == 0
    _loaded.clear()  # as a restarted process
    second = token_response(client, federation, FEDERATION_SCOPE, resource=VISITED_ID).json()
    kid = jwt.get_unverified_header(first["access_token"])["kid"]
    assert kid == jwt.get_unverified_header(second["access_token"])["kid"]
    verify(client, first["access_token"])


def test_no_jwks_unless_an_ecs_er(client):
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/problem+json")


def test_tokens_and_keys_are_never_logged(client, federation, caplog):
    caplog.set_level(logging.DEBUG)
    body = token_response(client, federation, FEDERATION_SCOPE, resource=VISITED_ID).json()
    text = caplog.text + json.dumps([r.__dict__ for r in caplog.records], default=str)
    assert body["access_token"] not in text
    assert "PRIVATE KEY" not in text


def test_the_token_names_the_requesters_ecsp_when_it_is_registered(client, federation):
    """Targets authorize ECSs they know only through us by their ECSP (the ecspId claim)."""
    body = token_response(client, federation, FEDERATION_SCOPE, resource=VISITED_ID).json()
    assert "ecspId" not in verify(client, body["access_token"])  # home is not registered

    home = bearer(client, federation, REGISTRATION_SCOPE)
    registered = send(
        client,
        "POST",
        REGISTRATIONS,
        {"ecsProfile": ecs_profile(HOME_ID, ecsp="ecsp.home.example")},
        **home,
    )
    assert registered.status_code == 201, registered.content
    body = token_response(client, federation, FEDERATION_SCOPE, resource=VISITED_ID).json()
    assert verify(client, body["access_token"])["ecspId"] == "ecsp.home.example"
