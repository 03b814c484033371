"""EDGE-10 answered to an ECS that presents a federation token of our ECS-ER (issue 17).

The ECS-ER's JWKS is served by a loopback server with keys generated here; tokens are signed
here as the ECS-ER would.  Every answer is checked against our EDGE-10 OpenAPI file.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt
import pytest
from cachalot.api import cachalot_disabled
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from jwt.algorithms import ECAlgorithm
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from federation import verify
from federation.models import ECSERMembership
from partners.eecs_ecsserviceprovisioning.authentication import FederationTokenAuthentication
from partners.models import AuthorizationPolicy, PartnerECS, RetrievalAudit
from tests.builders import (
    EDGE10_REQUEST,
    HOME,
    configure_ecs,
    make_edn,
    make_ees,
    make_partner,
    make_policy,
    post_json,
)
from tests.loopback import LoopbackServer, Received, Reply
from tests.openapi import EDGE10_FILE, assert_conforms

pytestmark = pytest.mark.django_db

OUR_ID = "ecs.target.example"
ER_ID = "ecs-er.example"
CALLER = "ecs.caller.example"
SCOPE = "eecs-ecsserviceprovisioning"


class ECSER:
    """The ECS-ER's keys and its JWKS endpoint (a loopback server counting fetches)."""

    def __init__(self) -> None:
        self.keys: dict[str, ec.EllipticCurvePrivateKey] = {}
        self.fetches = 0
        self.add_key("k1")
        self.server = LoopbackServer(self.respond)

    def add_key(self, kid: str) -> None:
        self.keys[kid] = ec.generate_private_key(ec.SECP256R1())

    def respond(self, received: Received) -> Reply:
        if received.path != "/.well-known/jwks.json":
            return Reply(404)
        self.fetches += 1
        jwks = {
            "keys": [
                {
                    **ECAlgorithm.to_jwk(k.public_key(), as_dict=True),
                    "kid": kid,
                    "use": "sig",
                    "alg": "ES256",
                }
                for kid, k in self.keys.items()
            ]
        }
        return Reply(200, jwks, {"Cache-Control": "public, max-age=300"})

    def token(
        self, kid: str = "k1", key: Any = None, headers: dict | None = None, **claims: Any
    ) -> str:
        now = int(time.time())
        body = {
            "iss": ER_ID,
            "sub": CALLER,
            "aud": OUR_ID,
            "scope": SCOPE,
            "iat": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
            **claims,
        }
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(
            body, key or self.keys[kid], algorithm="ES256", headers={"kid": kid, **(headers or {})}
        )


@pytest.fixture
def er():
    """Our ECS (one EDN edge.a and one edge.b, both serving app.one), member of an ECS-ER."""
    verify.reset()
    configure_ecs(ecs_id=OUR_ID)
    make_ees(make_edn("edn-a", dnn="edge.a"), "ees-a1", eas_ids=["app.one"])
    make_ees(make_edn("edn-b", dnn="edge.b"), "ees-b1", eas_ids=["app.one"])
    server = ECSER()
    ECSERMembership.objects.create(
        pk=1,
        api_root=server.server.url,
        token_url=f"{server.server.url}/oauth2/token/",
        client_id="target",
        client_secret="env:UNUSED",
        issuer=ER_ID,
    )
    yield server
    server.server.close()
    url = verify.jwks_url(server.server.url)
    cache.delete_many([verify.CACHE_PREFIX + url, f"{verify.CACHE_PREFIX}refetch:{url}"])
    verify.reset()


def ask(client, token: str | None, req_ecs_id: str = CALLER):
    body = {
        "reqEcsId": req_ecs_id,
        "servingPlmn": dict(HOME),
        "acProfs": [{"acId": "ac-1", "eass": [{"easId": "app.one"}]}],
    }
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    response = post_json(client, EDGE10_REQUEST, body, **headers)
    assert_conforms(response, EDGE10_FILE, "/request", "post")
    return response


def dnns(response) -> list[str]:
    return sorted(i["ednConInfo"]["dnn"] for i in response.json()["ednCnfgInfo"])


def last_audit() -> RetrievalAudit:
    return RetrievalAudit.objects.filter(direction=RetrievalAudit.INBOUND).latest("pk")


def ecs_policy(ecs_id: str = CALLER, **fields: Any) -> AuthorizationPolicy:
    fields.setdefault("eas_ids", ["*"])
    return AuthorizationPolicy.objects.create(partner_ecs_id=ecs_id, **fields)


def test_an_ecs_known_only_through_the_er_is_answered_as_its_policy_discloses(client, er):
    ecs_policy(dnns=["edge.a"], lifetime=120)
    response = ask(client, er.token())
    assert response.status_code == 200, response.content
    assert dnns(response) == ["edge.a"]  # the policy discloses edge.a only
    row = last_audit()
    assert (row.decision, row.status, row.partner, row.partner_label) == (
        RetrievalAudit.ALLOWED,
        200,
        None,
        CALLER,
    )
    assert not PartnerECS.objects.exists()  # no partner row made for it


def test_a_configured_partner_of_that_id_is_that_partner(client, er):
    partner = make_partner(CALLER)
    make_policy(partner, dnns=["edge.b"])
    response = ask(client, er.token())
    assert response.status_code == 200, response.content
    assert dnns(response) == ["edge.b"]
    assert last_audit().partner == partner
    partner.enabled = False
    partner.save()
    assert ask(client, er.token()).status_code == 403


def _other_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda er: er.token(key=_other_key()), id="another-key"),
        pytest.param(
            lambda er: er.token(iat=int(time.time()) - 900, exp=int(time.time()) - 600),
            id="expired",
        ),
        pytest.param(lambda er: er.token(aud="ecs.other.example"), id="another-audience"),
        pytest.param(lambda er: er.token(scope="eecs-ecsdiscovery"), id="another-scope"),
        pytest.param(lambda er: er.token(scope=None), id="no-scope"),
        pytest.param(lambda er: er.token(iss="ecs-er.forged.example"), id="another-issuer"),
        pytest.param(lambda er: er.token(sub=None), id="no-sub"),
        pytest.param(
            lambda er: jwt.encode(
                {"sub": CALLER, "aud": OUR_ID, "iss": ER_ID, "scope": SCOPE, "exp": 2**31},
                "secret",
                algorithm="HS256",
                headers={"kid": "k1"},
            ),
            id="hmac",
        ),
    ],
)
def test_a_token_failing_a_check_is_401_invalid_token(client, er, make_token):
    ecs_policy()
    response = ask(client, make_token(er))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response["WWW-Authenticate"]
    assert response["Content-Type"].startswith("application/problem+json")
    row = last_audit()
    assert (row.decision, row.status, row.partner) == (RetrievalAudit.DENIED, 401, None)
    assert "federation token" in row.reason


def test_req_ecs_id_must_be_the_tokens_sub(client, er):
    ecs_policy()
    response = ask(client, er.token(), req_ecs_id="ecs.someone-else.example")
    assert response.status_code == 403
    assert response.json()["cause"] == "REQUESTER_MISMATCH"


def test_a_verified_ecs_no_policy_covers_is_403_and_audited(client, er):
    ecs_policy("ecs.another.example")
    response = ask(client, er.token())
    assert response.status_code == 403
    row = last_audit()
    assert (row.decision, row.status, row.partner_label) == (RetrievalAudit.DENIED, 403, CALLER)


def test_star_covers_the_ecss_of_the_listed_ecsps_only(client, er):
    ecs_policy("*", requester_ecsps=["ecsp.friend.example"], dnns=["edge.a"])
    allowed = ask(client, er.token(ecspId="ecsp.friend.example"))
    assert allowed.status_code == 200, allowed.content
    assert dnns(allowed) == ["edge.a"]
    assert ask(client, er.token(ecspId="ecsp.stranger.example")).status_code == 403
    assert ask(client, er.token()).status_code == 403  # no ecspId: not registered at the ER
    # A configured partner is the operator's decision: "*" does not cover it.
    make_partner(CALLER)
    assert ask(client, er.token(ecspId="ecsp.friend.example")).status_code == 403


def test_a_new_key_is_accepted_after_one_refetch(client, er):
    ecs_policy()
    assert ask(client, er.token()).status_code == 200
    assert er.fetches == 1
    assert ask(client, er.token()).status_code == 200
    assert er.fetches == 1  # cached for its max-age

    er.add_key("k2")  # the ECS-ER rotates: a new kid in its JWKS
    response = ask(client, er.token("k2"))
    assert response.status_code == 200, response.content
    assert er.fetches == 2
    # An unknown kid again at once: no second refetch (at most one per 30 s).
    er.add_key("k3")
    assert ask(client, er.token("k3")).status_code == 401
    assert er.fetches == 2


def test_keys_that_cannot_be_fetched_are_503_with_retry_after(client, er):
    ecs_policy()
    er.server.close()
    response = ask(client, er.token())
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    assert response["Content-Type"].startswith("application/problem+json")
    assert (last_audit().decision, last_audit().status) == (RetrievalAudit.DENIED, 503)


def test_a_cached_jwks_outlives_the_ers_outage(client, er):
    ecs_policy()
    assert ask(client, er.token()).status_code == 200
    er.server.close()
    assert ask(client, er.token()).status_code == 200


def test_no_ecs_er_trusted_means_no_federation_token_accepted(client, er):
    ecs_policy()
    ECSERMembership.objects.all().delete()
    verify.reset()
    assert ask(client, er.token()).status_code == 401


def test_static_partner_tokens_still_work(client, er):
    partner = make_partner(CALLER, inbound_token="static-token-0f3e9a2b7c")
    make_policy(partner)
    assert ask(client, "static-token-0f3e9a2b7c").status_code == 200


def test_verifying_with_a_warm_jwks_queries_only_the_partner(client, er):
    ecs_policy()
    token = er.token()
    assert ask(client, token).status_code == 200  # warms the JWKS and the memos
    request = Request(
        APIRequestFactory().post(EDGE10_REQUEST, HTTP_AUTHORIZATION=f"Bearer {token}")
    )
    # cachalot off: the partner lookup must reach the database, so it is counted.
    with cachalot_disabled(), CaptureQueriesContext(connection) as queries:
        _principal, requester = FederationTokenAuthentication().authenticate(request)
    assert requester.ecs_id == CALLER
    tables = [q["sql"] for q in queries.captured_queries]
    assert len(tables) == 1, json.dumps(tables, indent=1)
    assert "partners_partnerecs" in tables[0]


def test_only_a_configured_partner_subscribes_with_a_federation_token(client, er, monkeypatch):
    monkeypatch.setenv("ECS_ALLOW_PRIVATE_CALLBACKS", "1")  # the destination is on loopback
    ecs_policy()
    body = {
        "reqEcsId": CALLER,
        "notificationDestination": f"{er.server.url}/notify",
        "acProfs": [{"acId": "ac-1", "eass": [{"easId": "app.one"}]}],
    }
    subscriptions = "/eecs-ecsserviceprovisioning/v1/subscriptions"
    headers = {"HTTP_AUTHORIZATION": f"Bearer {er.token()}"}
    refused = post_json(client, subscriptions, body, **headers)
    assert_conforms(refused, EDGE10_FILE, "/subscriptions", "post")
    assert refused.status_code == 403
    assert "configured partner" in refused.json()["detail"]

    make_policy(make_partner(CALLER))
    created = post_json(client, subscriptions, body, **headers)
    assert_conforms(created, EDGE10_FILE, "/subscriptions", "post")
    assert created.status_code == 201, created.content
