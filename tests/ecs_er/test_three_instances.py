"""Two operators that never exchanged a secret federate through an ECS-ER they both trust.

Three real ECS Portal instances (``runserver`` each, their own database; tests/federation.py)
and the visited ECS's worker: the visited ECS registers its profile at the ECS-ER by itself
(``ecsEr.register``); the home ECS has no ``partners`` entry for the visited PLMN, discovers
the visited ECS at the ECS-ER (``ecsEr.discover``) and asks it over EDGE-10 with a federation
token the ECS-ER signed; the visited ECS verifies it with the ECS-ER's JWKS and answers under a
policy naming the home ECS by its ECS id.  What the operators check: what the roaming UE's EEC
gets, who was asked how often (both audit logs), refusals, and the ECS-ER going away.
"""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec

from tests.builders import (
    EDGE4_FILE,
    EDGE4_REQUEST,
    EDGE10_REQUEST,
    edge4_request,
    plmn,
    tai,
    ue_at,
)
from tests.openapi import assert_valid
from tests.partners.test_partner_subscriptions_two_instances import Workers

from .test_er_instance import credentials, token

pytest_plugins = ["tests.federation"]

ER_ID = "ecs.er.example"
HOME_ID = "ecs.home.example"
VISITED_ID = "ecs.visited.example"
HOME = plmn("001", "01")
VISITED = plmn("002", "02")
DISCOVERY_LIFETIME = 4  # seconds the ECS-ER lets the home ECS keep a discovery answer
PARTNER_LIFETIME = 600  # seconds the visited ECS lets the home ECS keep its answer
TIMEOUT = 30
# EECs call without OAuth 2.0 tokens here; private addresses: every instance is on 127.0.0.1.
ENV = {"ECS_REQUIRE_AUTH": "0", "ECS_ALLOW_PRIVATE_CALLBACKS": "1"}


@pytest.fixture
def workers(tmp_path):
    running = Workers(tmp_path)
    yield running
    running.stop()


def ees(ees_id: str) -> dict[str, Any]:
    return {
        "eesId": ees_id,
        "endPt": {"uri": f"https://{ees_id}.example/eees"},
        "easIds": ["app.game"],
        "eecRegConf": False,
    }


def member(er, creds: tuple[str, str], **roles: bool) -> dict[str, Any]:
    return {
        "apiRoot": er.url,
        "tokenUrl": er.url + "/oauth2/token/",
        "clientId": creds[0],
        "clientSecret": creds[1],
        "issuer": ER_ID,
        **roles,
    }


def roaming_request() -> dict[str, Any]:
    return edge4_request(eas_ids=["app.game"], loc=ue_at(tai("0001", VISITED)), plmns=[VISITED])


def provision(home, body: dict[str, Any]) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = requests.post(home.url + EDGE4_REQUEST, json=body, timeout=TIMEOUT)
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert_valid(response.json(), EDGE4_FILE, "ECSServProvResp")
    return response, elapsed


def ees_ids(response: requests.Response) -> list[str]:
    return sorted(e["eesId"] for cfg in response.json()["ednCnfgInfo"] for e in cfg["eess"])


def er_misses(home) -> int:
    return sum(1 for row in home.audit(direction="er") if row["cache"] == "miss")


def answered_home(visited) -> list[dict]:
    return [
        row
        for row in visited.audit(direction="in")
        if row["partner"] == HOME_ID and row["decision"] == "allowed"
    ]


def registered_at(er, creds) -> list[str]:
    found = requests.post(
        er.url + "/eecs-ecsdiscovery/v1/ecs-info/request",
        json={"requestorId": HOME_ID, "targetPlmn": VISITED},
        headers={
            "Authorization": "Bearer " + token(er, creds, "eecs-ecsdiscovery")["access_token"]
        },
        timeout=TIMEOUT,
    )
    assert found.status_code == 200, found.text
    return [info["ecsProfile"]["ecsId"] for info in found.json()["ecsInfo"]]


def wait_for(what: str, check, logs, timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"gave up waiting: {what}\n{logs()}"
        time.sleep(0.5)


def edge10(visited, bearer: str, req_ecs_id: str = HOME_ID) -> requests.Response:
    body = {"reqEcsId": req_ecs_id, "servingPlmn": VISITED, "easIds": ["app.game"]}
    return requests.post(
        visited.url + EDGE10_REQUEST,
        json=body,
        headers={"Authorization": f"Bearer {bearer}"},
        timeout=TIMEOUT,
    )


def test_home_finds_visited_through_the_ecs_er_without_a_shared_secret(federation, workers, capsys):
    er, home, visited = federation.start("er", "home", "visited", env=ENV)
    er.apply(
        {
            "ecs": {"id": ER_ID, "homePlmns": [plmn("009", "09")]},
            "repository": {"enabled": True, "discoveryLifetime": DISCOVERY_LIFETIME},
        }
    )
    home_creds, visited_creds = credentials(er, HOME_ID), credentials(er, VISITED_ID)
    stranger = credentials(er, "ecs.stranger.example")

    # The visited operator: its EESs, the ECS-ER it trusts, and a policy for the home ECS by
    # its ECS id (no partners entry, no secret of the home operator's).
    visited.apply(
        {
            "ecs": {"id": VISITED_ID, "ecsp": "ecsp.visited", "homePlmns": [VISITED]},
            "edns": [
                {
                    "id": "edn-visited",
                    "ednConInfo": {"dnn": "edge.visited", "snssai": {"sst": 1}},
                    "eess": [ees("ees-visited")],
                }
            ],
            "ecsEr": member(er, visited_creds, register=True),
            "policies": [
                {
                    "id": "home-operator",
                    "partner": HOME_ID,
                    "easIds": ["*"],
                    "lifetime": PARTNER_LIFETIME,
                }
            ],
        }
    )
    workers.start(visited, ECS_PUBLIC_URL=visited.url)  # its worker registers it
    wait_for(
        "visited registered", lambda: registered_at(er, home_creds) == [VISITED_ID], workers.logs
    )

    # The home operator: its own EDN (roaming UEs reach it too), no partner, discovery on.
    home.apply(
        {
            "ecs": {"id": HOME_ID, "homePlmns": [HOME], "provisioningLifetime": 3600},
            "edns": [
                {
                    "id": "edn-home",
                    "ednConInfo": {"dnn": "edge.home", "snssai": {"sst": 1}},
                    "plmns": [HOME, VISITED],
                    "eess": [ees("ees-home")],
                }
            ],
            "ecsEr": member(er, home_creds, discover=True),
        }
    )

    # A roaming UE: discovery, then retrieval from the discovered ECS; asked again at once
    # (within both lifetimes), neither the ECS-ER nor the visited ECS is asked again.
    body = roaming_request()
    response, cold = provision(home, body)
    discovered_at = time.monotonic()
    assert ees_ids(response) == ["ees-home", "ees-visited"]
    response, warm = provision(home, body)
    assert ees_ids(response) == ["ees-home", "ees-visited"]
    assert time.monotonic() - discovered_at < DISCOVERY_LIFETIME, "too slow to tell"
    assert er_misses(home) == 1
    [answered] = answered_home(visited)
    assert answered["status"] == 200 and answered["reason"] == "policy home-operator"

    # After the discovery lifetime: one new discovery; the visited answer is still fresh.
    time.sleep(max(0, DISCOVERY_LIFETIME + 0.5 - (time.monotonic() - discovered_at)))
    response, rediscovered = provision(home, body)
    assert ees_ids(response) == ["ees-home", "ees-visited"]
    assert (er_misses(home), len(answered_home(visited))) == (2, 1)

    # The visited ECS refuses what its policy and the ECS-ER do not vouch for.
    other_key = ec.generate_private_key(ec.SECP256R1())
    forged = jwt.encode(
        {
            "iss": ER_ID,
            "sub": HOME_ID,
            "aud": VISITED_ID,
            "scope": "eecs-ecsserviceprovisioning",
            "exp": int(time.time()) + 60,
        },
        other_key,
        algorithm="ES256",
        headers={"kid": "not-the-er"},
    )
    refused = edge10(visited, forged)
    assert refused.status_code == 401, refused.text
    assert refused.headers["Content-Type"] == "application/problem+json"
    requests.post(
        er.url + "/eecs-ecsregistration/v1/registrations",
        json={
            "ecsProfile": {
                "ecsId": "ecs.stranger.example",
                "ecsAddr": {"uri": "https://ecs.stranger.example"},
            }
        },
        headers={
            "Authorization": "Bearer " + token(er, stranger, "eecs-ecsregistration")["access_token"]
        },
        timeout=TIMEOUT,
    ).raise_for_status()
    strangers = token(er, stranger, "eecs-ecsserviceprovisioning", resource=VISITED_ID)
    uncovered = edge10(visited, strangers["access_token"], "ecs.stranger.example")
    assert uncovered.status_code == 403, uncovered.text
    assert_valid(uncovered.json(), "TS29122_CommonData.yaml", "ProblemDetails")
    assert_valid(refused.json(), "TS29122_CommonData.yaml", "ProblemDetails")

    # The visited ECS stops its registration: once the discovery lifetime has passed, the
    # home ECS no longer asks it nor serves its cached answer (a discovery that finds nobody).
    visited.apply({"ecsEr": member(er, visited_creds, register=False)})
    wait_for("visited de-registered", lambda: registered_at(er, home_creds) == [], workers.logs)
    time.sleep(DISCOVERY_LIFETIME + 0.5)
    response, _ = provision(home, body)
    assert ees_ids(response) == ["ees-home"]
    assert len(answered_home(visited)) == 1

    # The ECS-ER down: the EEC still gets the local answer, within the deadline.
    er.stop()
    time.sleep(DISCOVERY_LIFETIME + 0.5)
    response, without_er = provision(home, body)
    assert ees_ids(response) == ["ees-home"]
    assert without_er < 5

    with capsys.disabled():
        print(
            f"\nthree instances: cold (discovery + token + EDGE-10) {cold * 1000:.0f} ms, "
            f"warm {warm * 1000:.0f} ms, rediscovery {rediscovered * 1000:.0f} ms, "
            f"ECS-ER down {without_er * 1000:.0f} ms"
        )
