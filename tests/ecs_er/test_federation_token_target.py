"""A real ECS-ER and a real target ECS (``runserver`` each, their own databases): a member
known to the target only through the ECS-ER gets a federation token there and is answered
over EDGE-10 by the target, which verifies the token with the JWKS it fetches from the ER."""

from __future__ import annotations

import requests

from tests.builders import in_seconds, plmn
from tests.openapi import EDGE10_FILE, assert_valid

from .helpers import ecs_profile
from .test_er_instance import auth, credentials, token

pytest_plugins = ["tests.federation"]

ER_ID = "ecs.er.example"
TARGET_ID = "ecs.target.example"
CALLER_ID = "ecs.caller.example"
PLMN = plmn("001", "01")
TIMEOUT = 10


def register(er, creds, ecs_id: str, ecsp: str) -> None:
    body = {"ecsProfile": ecs_profile(ecs_id, ecsp=ecsp), "expTime": in_seconds(3600)}
    registered = requests.post(
        er.url + "/eecs-ecsregistration/v1/registrations",
        json=body,
        headers=auth(er, creds, "eecs-ecsregistration"),
        timeout=TIMEOUT,
    )
    assert registered.status_code == 201, registered.text


def test_an_ecs_known_only_through_the_er_is_answered_with_its_federation_token(federation):
    er, target = federation.start("er", "target")
    er.apply(
        {"ecs": {"id": ER_ID, "homePlmns": [plmn("009", "09")]}, "repository": {"enabled": True}}
    )
    caller, target_creds = credentials(er, CALLER_ID), credentials(er, TARGET_ID)
    register(er, target_creds, TARGET_ID, "ecsp.target.example")
    register(er, caller, CALLER_ID, "ecsp.friend.example")
    target.apply(
        {
            "ecs": {"id": TARGET_ID, "homePlmns": [PLMN], "provisioningLifetime": 3600},
            "edns": [
                {
                    "id": "edn-t",
                    "ednConInfo": {"dnn": "edge.target", "snssai": {"sst": 1}},
                    "eess": [
                        {
                            "eesId": "ees-t1",
                            "endPt": {"uri": "https://ees-t1.target.example"},
                            "easIds": ["app.one"],
                            "eecRegConf": False,
                        }
                    ],
                }
            ],
            "ecsEr": {
                "apiRoot": er.url,
                "tokenUrl": er.url + "/oauth2/token/",
                "clientId": target_creds[0],
                "clientSecret": target_creds[1],
                "issuer": ER_ID,
            },
            "policies": [
                {
                    "id": "friends",
                    "partner": "*",
                    "requesterEcsps": ["ecsp.friend.example"],
                    "easIds": ["*"],
                    "lifetime": 120,
                }
            ],
        }
    )
    issued = token(er, caller, "eecs-ecsserviceprovisioning", resource=TARGET_ID)
    body = {
        "reqEcsId": CALLER_ID,
        "servingPlmn": PLMN,
        "acProfs": [{"acId": "ac-1", "eass": [{"easId": "app.one"}]}],
    }
    headers = {"Authorization": f"Bearer {issued['access_token']}"}
    answered = requests.post(
        target.url + "/eecs-ecsserviceprovisioning/v1/request",
        json=body,
        headers=headers,
        timeout=TIMEOUT,
    )
    assert answered.status_code == 200, answered.text
    assert_valid(answered.json(), EDGE10_FILE, "ServProvResp")
    [info] = answered.json()["ednCnfgInfo"]
    assert info["ednConInfo"]["dnn"] == "edge.target"

    # The same token, another reqEcsId: refused; a token for another audience: 401.
    refused = requests.post(
        target.url + "/eecs-ecsserviceprovisioning/v1/request",
        json={**body, "reqEcsId": "ecs.someone.example"},
        headers=headers,
        timeout=TIMEOUT,
    )
    assert refused.status_code == 403
    other = token(er, caller, "eecs-ecsserviceprovisioning", resource=CALLER_ID)
    wrong_audience = requests.post(
        target.url + "/eecs-ecsserviceprovisioning/v1/request",
        json=body,
        headers={"Authorization": f"Bearer {other['access_token']}"},
        timeout=TIMEOUT,
    )
    assert wrong_audience.status_code == 401
    assert 'error="invalid_token"' in wrong_audience.headers["WWW-Authenticate"]
