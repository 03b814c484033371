"""Limits every API applies: JSON depth and array length, per-client rates, admin logins."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

from ecscore import ratelimit
from tests.builders import EDGE4_FILE, EDGE4_REQUEST, configure_ecs, edge4_request, post_json
from tests.conftest import clear_cache
from tests.openapi import assert_conforms

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_windows():
    ratelimit.reset()
    clear_cache()
    yield
    ratelimit.reset()


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth - 1):
        value = {"x": value}
    return value


def test_a_body_nested_deeper_than_allowed_is_refused(client):
    body = edge4_request(futureMember=nested(40))
    response = post_json(client, EDGE4_REQUEST, body)
    assert_conforms(response, EDGE4_FILE, "/request", "post")
    assert response.status_code == 400
    assert "nested" in response.json()["detail"]


def test_a_pathologically_deep_body_is_a_400_not_a_crash(client):
    raw = "[" * 100_000 + "]" * 100_000
    response = client.post(EDGE4_REQUEST, raw, content_type="application/json")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")


def test_an_array_longer_than_allowed_is_refused_and_named(client):
    body = edge4_request(ecsp_ids=[f"ecsp-{i}" for i in range(1001)])
    response = post_json(client, EDGE4_REQUEST, body)
    assert response.status_code == 400
    assert response.json()["invalidParams"][0]["param"] == "/ecspIds"


def test_bodies_within_the_limits_are_served(client):
    configure_ecs()
    body = edge4_request(ecsp_ids=[f"ecsp-{i}" for i in range(1000)], futureMember=nested(20))
    assert post_json(client, EDGE4_REQUEST, body).status_code == 204


@override_settings(ECS_CLIENT_RATE_PER_MINUTE=3)
def test_a_client_over_its_rate_gets_429_with_retry_after(client):
    configure_ecs()
    statuses = [post_json(client, EDGE4_REQUEST, edge4_request()).status_code for _ in range(3)]
    assert statuses == [204, 204, 204]
    response = post_json(client, EDGE4_REQUEST, edge4_request())
    assert_conforms(response, EDGE4_FILE, "/request", "post")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    # Another client (another address) is not held back by the first.
    other = post_json(client, EDGE4_REQUEST, edge4_request(), REMOTE_ADDR="192.0.2.7")
    assert other.status_code == 204


@override_settings(ECS_ADMIN_LOGIN_PER_MINUTE=3)
def test_admin_login_attempts_are_throttled(client):
    for _ in range(3):
        response = client.post("/admin/login/", {"username": "x", "password": "wrong"})
        assert response.status_code == 200  # the form again, with an error
    response = client.post("/admin/login/", {"username": "x", "password": "wrong"})
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert json.dumps(response.content.decode())  # a plain message, no stack trace
    assert "Traceback" not in response.content.decode()


@override_settings(ECS_ADMIN_LOGIN_PER_MINUTE=3)
def test_admin_login_attempts_are_counted_per_address_and_username(client):
    def attempt(username: str, address: str = "127.0.0.1") -> int:
        form = {"username": username, "password": "wrong"}
        return client.post("/admin/login/", form, REMOTE_ADDR=address).status_code

    assert [attempt("mallory") for _ in range(3)] == [200, 200, 200]
    assert attempt("mallory") == 429
    # The same name with other case or spaces is the same account's window...
    assert attempt(" MALLORY ") == 429
    # ... but another user behind the same proxy can still log in, and the same user
    # from elsewhere has its own window.
    assert attempt("alice") == 200
    assert attempt("mallory", address="192.0.2.44") == 200


def test_a_nul_character_is_a_400_not_a_database_error(client):
    # PostgreSQL cannot store NUL in text or jsonb; found by fuzzing the subscriptions API.
    body = edge4_request(eecId="eec\u0000one")
    response = post_json(client, EDGE4_REQUEST, body)
    assert response.status_code == 400
    assert response.json()["invalidParams"] == [
        {"param": "/eecId", "reason": "holds a NUL character"}
    ]
