"""A real ECS-ER (``manage.py runserver`` and ``run_worker``, its own database) used over
HTTP, as member ECSs use it: clients made with ``ecs_api_client``, tokens from its
``/oauth2/token/``, registration, discovery, a subscription notified at a loopback receiver,
and a federation token verified with the JWKS fetched from it.
"""

from __future__ import annotations

import json

import jwt
import pytest
import requests

from tests.builders import Receiver, in_seconds, plmn
from tests.openapi import ECS_DISCOVERY_FILE, ECS_REGISTRATION_FILE, assert_valid
from tests.partners.test_partner_subscriptions_two_instances import Workers

from .helpers import ecs_profile

pytest_plugins = ["tests.federation"]

ER_ID = "ecs.er.example"
VISITED = plmn("002", "02")
SCOPES = ["eecs-ecsregistration", "eecs-ecsdiscovery", "eecs-ecsserviceprovisioning"]
TIMEOUT = 10


@pytest.fixture
def workers(tmp_path):
    running = Workers(tmp_path)
    yield running
    running.stop()


def credentials(er, ecs_id: str) -> tuple[str, str]:
    args = ["ecs_api_client", "ecs", ecs_id]
    for scope in SCOPES:
        args += ["--scope", scope]
    printed = json.loads(er.manage(*args).stdout.strip().splitlines()[-1])
    return printed["clientId"], printed["clientSecret"]


def token(er, creds: tuple[str, str], scope: str, **extra: str) -> dict:
    data = {"grant_type": "client_credentials", "scope": scope, **extra}
    response = requests.post(er.url + "/oauth2/token/", data=data, auth=creds, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return response.json()


def auth(er, creds, scope) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(er, creds, scope)['access_token']}"}


def test_members_register_discover_subscribe_and_get_federation_tokens(federation, workers):
    (er,) = federation.start("er", env={"ECS_ALLOW_PRIVATE_CALLBACKS": "1"})
    er.apply(
        {
            "ecs": {"id": ER_ID, "homePlmns": [plmn("009", "09")]},
            "repository": {"enabled": True, "discoveryLifetime": 60},
        }
    )
    workers.start(er)
    home, visited = credentials(er, "ecs.home.example"), credentials(er, "ecs.visited.example")
    receiver = Receiver()
    try:
        subscription = {
            "requestorId": "ecs.home.example",
            "notificationDestination": receiver.url,
            "discoveryFilters": {"targetPlmn": VISITED},
            "expTime": in_seconds(600),
        }
        created = requests.post(
            er.url + "/eecs-ecsdiscovery/v1/subscriptions",
            json=subscription,
            headers=auth(er, home, "eecs-ecsdiscovery"),
            timeout=TIMEOUT,
        )
        assert created.status_code == 201, created.text
        assert_valid(created.json(), ECS_DISCOVERY_FILE, "EcsInfoDiscSubscription")

        profile = ecs_profile("ecs.visited.example", api_root="https://visited.example/api")
        registration = {"ecsProfile": profile, "expTime": in_seconds(3600)}
        registered = requests.post(
            er.url + "/eecs-ecsregistration/v1/registrations",
            json=registration,
            headers=auth(er, visited, "eecs-ecsregistration"),
            timeout=TIMEOUT,
        )
        assert registered.status_code == 201, registered.text
        assert_valid(registered.json(), ECS_REGISTRATION_FILE, "ECSRegistration")
        assert registered.headers["Location"].startswith(er.url + "/eecs-ecsregistration/v1/")

        found = requests.post(
            er.url + "/eecs-ecsdiscovery/v1/ecs-info/request",
            json={"requestorId": "ecs.home.example", "targetPlmn": VISITED},
            headers=auth(er, home, "eecs-ecsdiscovery"),
            timeout=TIMEOUT,
        )
        assert found.status_code == 200, found.text
        assert_valid(found.json(), ECS_DISCOVERY_FILE, "EcsInfoDiscoveryResp")
        assert found.json() == {"ecsInfo": [{"ecsProfile": profile}], "lifetime": 60}

        # The ER's worker tells the subscriber, over HTTP.
        [note] = [d["body"] for d in receiver.wait_for(1, timeout=30)]
        assert_valid(note, ECS_DISCOVERY_FILE, "EcsInfoDiscNotif")
        assert note["ecsInfo"] == [{"ecsProfile": profile}]
    finally:
        receiver.close()

    # Home asks the ER for a token to call visited, and verifies it as visited would.
    issued = token(er, home, "eecs-ecsserviceprovisioning", resource="ecs.visited.example")
    keys = requests.get(er.url + "/.well-known/jwks.json", timeout=TIMEOUT)
    assert keys.status_code == 200
    key = jwt.PyJWKSet.from_dict(keys.json())[
        jwt.get_unverified_header(issued["access_token"])["kid"]
    ]
    claims = jwt.decode(
        issued["access_token"],
        key.key,
        algorithms=["ES256"],
        audience="ecs.visited.example",
        issuer=ER_ID,
    )
    assert claims["sub"] == "ecs.home.example"
    assert claims["scope"] == "eecs-ecsserviceprovisioning"
