"""A member ECS discovers partner ECSs at a real ECS-ER and asks them with federation tokens.

The ECS-ER is a real ECS Portal process (tests/federation.py) with its own database; the
member is the ECS under test here (its ``ecsEr`` section with ``discover: true``), asked over
EDGE-4 for a UE roaming in 002-02, which no configured partner serves.  The visited ECS is
registered at the ECS-ER over its API; it is played by a loopback stand-in (tests/loopback.py)
that checks the federation token it is shown against the ECS-ER's JWKS -- as the real target
will, once it verifies federation tokens itself -- and answers EDGE-10.  What an operator
would check: what the EEC gets, who was asked how often (the stand-in's requests, the
member's audit log), the discovered partner's row, and that discovery never leads into our
own network.  Discovery bodies are checked against our discovery OpenAPI file.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from typing import Any

import jwt
import pytest
import requests
from django.utils import timezone

from ecscore import outbound
from federation import discovery
from federation.models import DiscoveryCacheEntry, ECSERMembership
from partners.models import PartnerECS, ProvisioningCacheEntry, RetrievalAudit
from tests.builders import (
    EDGE10_REQUEST,
    configure_ecs,
    edge4_request,
    edn_config_json,
    ees_ids,
    ees_info_json,
    in_seconds,
    make_edn,
    make_ees,
    make_partner,
    plmn,
    tai,
    ue_at,
)
from tests.loopback import LoopbackServer, Received, Reply
from tests.openapi import ECS_DISCOVERY_FILE, EDGE10_FILE, assert_valid

from .helpers import ecs_profile

pytest_plugins = ["tests.federation"]
pytestmark = pytest.mark.django_db

ER_ID = "ecs.er.example"
HOME_ID = "ecs.home.example"
VISITED_ID = "ecs.visited.example"
HOME = plmn("001", "01")
VISITED = plmn("002", "02")
THIRD = plmn("003", "03")
SCOPES = ["eecs-ecsregistration", "eecs-ecsdiscovery", "eecs-ecsserviceprovisioning"]
TIMEOUT = 10
DISCOVERY_PATH = "/eecs-ecsdiscovery/v1/ecs-info/request"


# --- the ECS-ER -------------------------------------------------------------------------------


def api_client(er, ecs_id: str) -> tuple[str, str]:
    args = ["ecs_api_client", "ecs", ecs_id]
    for scope in SCOPES:
        args += ["--scope", scope]
    printed = json.loads(er.manage(*args).stdout.strip().splitlines()[-1])
    return printed["clientId"], printed["clientSecret"]


def bearer(er, creds: tuple[str, str], scope: str) -> dict[str, str]:
    data = {"grant_type": "client_credentials", "scope": scope}
    answer = requests.post(er.url + "/oauth2/token/", data=data, auth=creds, timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def start_er(federation):
    (er,) = federation.start("er")
    er.apply(
        {
            "ecs": {"id": ER_ID, "homePlmns": [plmn("009", "09")]},
            "repository": {"enabled": True, "discoveryLifetime": 60},
        }
    )
    return er


def register_visited(er, api_root: str) -> str:
    """The visited ECS registers its profile at the ECS-ER; its registration's URL."""
    creds = api_client(er, VISITED_ID)
    profile = ecs_profile(
        VISITED_ID, api_root=api_root, ecsp="ecsp.visited", plmns=((VISITED, ()),)
    )
    registered = requests.post(
        er.url + "/eecs-ecsregistration/v1/registrations",
        json={"ecsProfile": profile, "expTime": in_seconds(3600)},
        headers=bearer(er, creds, "eecs-ecsregistration"),
        timeout=TIMEOUT,
    )
    assert registered.status_code == 201, registered.text
    return registered.headers["Location"], creds


def member_of(api_root: str, creds: tuple[str, str], token_url: str = "") -> ECSERMembership:
    return ECSERMembership.objects.create(
        pk=1,
        api_root=api_root,
        token_url=token_url or api_root + "/oauth2/token/",
        client_id=creds[0],
        client_secret=creds[1],
        issuer=ER_ID,
        discover=True,
    )


# --- the visited ECS's stand-in ---------------------------------------------------------------


class VisitedStandIn:
    """EDGE-10 at the visited ECS: checks the federation token against the ECS-ER's JWKS."""

    def __init__(self, er_url: str) -> None:
        self.er_url = er_url
        self.received: list[Received] = []
        self.claims: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.server = LoopbackServer(self.respond)

    @property
    def api_root(self) -> str:
        return self.server.url

    def respond(self, received: Received) -> Reply:
        with self.lock:
            self.received.append(received)
        if received.path != EDGE10_REQUEST:
            return Reply(404)
        token = received.headers.get("Authorization", "").removeprefix("Bearer ")
        keys = requests.get(self.er_url + "/.well-known/jwks.json", timeout=TIMEOUT).json()
        try:
            key = jwt.PyJWKSet.from_dict(keys)[jwt.get_unverified_header(token)["kid"]]
            claims = jwt.decode(
                token, key.key, algorithms=["ES256"], audience=VISITED_ID, issuer=ER_ID
            )
        except (jwt.PyJWTError, KeyError) as exc:
            return Reply(401, {"status": 401, "cause": str(exc)})
        with self.lock:
            self.claims.append(claims)
        answer = edn_config_json(
            "edge.visited", ees_info_json("ees-visited"), lifetime=in_seconds(600)
        )
        return Reply(200, {"ednCnfgInfo": [answer]})

    def edge10_calls(self) -> int:
        return sum(1 for r in self.received if r.path == EDGE10_REQUEST)

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def visited_standin(federation):
    made: list[VisitedStandIn] = []

    def start(er_url: str) -> VisitedStandIn:
        made.append(VisitedStandIn(er_url))
        return made[-1]

    yield start
    for standin in made:
        standin.close()


@pytest.fixture
def discovery_bodies(monkeypatch):
    """The discovery requests we send and the answers we get, as they cross the wire."""
    seen: list[tuple[dict, Any]] = []
    real = outbound.post

    def spy(url: str, deadline: float, **kwargs: Any) -> outbound.Reply:
        reply = real(url, deadline, **kwargs)
        if url.endswith(DISCOVERY_PATH):
            seen.append((json.loads(kwargs["data"]), reply.json()))
        return reply

    monkeypatch.setattr(discovery.outbound, "post", spy)
    return seen


# --- the member -------------------------------------------------------------------------------


def our_ecs(local: bool = True) -> None:
    """Our ECS at home; with ``local``, an EDN of ours that roaming UEs in 002-02 reach too."""
    configure_ecs(home=(HOME,), lifetime=3600, ecs_id=HOME_ID)
    if local:
        edn = make_edn("edn-local", dnn="edge.local", plmns=[HOME, VISITED])
        make_ees(edn, "ees-local", eas_ids=["app.one"])


def roaming_request(serving: dict = VISITED) -> dict:
    return edge4_request(eas_ids=["app.one"], loc=ue_at(tai("0001", serving)), plmns=[serving])


def er_rows() -> list[RetrievalAudit]:
    return list(RetrievalAudit.objects.filter(direction=RetrievalAudit.ECS_ER).order_by("pk"))


def er_calls() -> int:
    return sum(1 for r in er_rows() if r.cache == RetrievalAudit.MISS)


def lifetimes_pass(*models: Any) -> None:
    """Let the lifetimes of what is cached end (as if their time had come)."""
    past = timezone.now() - dt.timedelta(seconds=1)
    for model in models:
        model.objects.update(expires_at=past)


# --- the tests --------------------------------------------------------------------------------


def test_discovered_partner_is_asked_with_a_federation_token_and_follows_the_er(
    federation, visited_standin, discovery_bodies, edge4, admin_client, monkeypatch
):
    monkeypatch.setenv("ECS_ALLOW_PRIVATE_CALLBACKS", "1")  # the stand-in is on 127.0.0.1
    er = start_er(federation)
    visited = visited_standin(er.url)
    registration, visited_creds = register_visited(er, visited.api_root)
    our_ecs()
    make_partner("ecs.third.example", "https://ecs.third.example", plmns=[THIRD])
    member_of(er.url, api_client(er, HOME_ID))

    # Discovery -> the visited ECS is asked -> the EEC gets its EESs beside ours.
    body = roaming_request()
    response = edge4(body)
    assert response.status_code == 200, response.content
    assert sorted(ees_ids(response)) == ["ees-local", "ees-visited"]
    [(sent, answer)] = discovery_bodies
    assert_valid(sent, ECS_DISCOVERY_FILE, "EcsInfoDiscoveryReq")
    assert_valid(answer, ECS_DISCOVERY_FILE, "EcsInfoDiscoveryResp")
    assert sent == {"requestorId": HOME_ID, "targetPlmn": VISITED, "ueLocation": body["locInf"]}
    assert [c["ecsProfile"]["ecsId"] for c in answer["ecsInfo"]] == [VISITED_ID]

    partner = PartnerECS.objects.get(partner_id=VISITED_ID)
    assert partner.source == PartnerECS.SOURCE_DISCOVERED
    assert (partner.api_root, partner.ecsp, partner.plmns) == (
        visited.api_root,
        "ecsp.visited",
        [VISITED],
    )
    [edge10] = [r for r in visited.received if r.path == EDGE10_REQUEST]
    assert_valid(edge10.json(), EDGE10_FILE, "ServProvReq")
    [claims] = visited.claims
    assert claims["sub"] == HOME_ID
    assert claims["aud"] in (VISITED_ID, [VISITED_ID])
    assert claims["scope"] == "eecs-ecsserviceprovisioning"
    [row] = er_rows()
    assert (row.cache, row.failed, row.status) == (RetrievalAudit.MISS, False, 200)
    assert row.query == {"targetPlmn": VISITED, "ueLocation": body["locInf"]}
    assert RetrievalAudit.objects.filter(
        direction=RetrievalAudit.OUTBOUND, partner=partner, cache=RetrievalAudit.MISS
    ).exists()

    # Within both lifetimes: neither the ECS-ER nor the visited ECS is asked again.
    assert sorted(ees_ids(edge4(body))) == ["ees-local", "ees-visited"]
    assert (er_calls(), visited.edge10_calls(), len(discovery_bodies)) == (1, 1, 1)
    assert er_rows()[-1].cache == RetrievalAudit.HIT

    # The discovery lifetime passes: one new discovery (the partner's answer is still fresh).
    lifetimes_pass(DiscoveryCacheEntry)
    assert sorted(ees_ids(edge4(body))) == ["ees-local", "ees-visited"]
    assert (er_calls(), visited.edge10_calls()) == (2, 1)

    # Discovered partners are read-only in the admin apart from "enabled"; switched off,
    # discovery does not switch it on again, and it is not asked.
    page = admin_client.get(f"/admin/partners/partnerecs/{partner.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="enabled"' in html and 'name="api_root"' not in html
    saved = admin_client.post(f"/admin/partners/partnerecs/{partner.pk}/change/", {})
    assert saved.status_code == 302, saved.content
    partner.refresh_from_db()
    assert not partner.enabled and partner.api_root == visited.api_root
    lifetimes_pass(DiscoveryCacheEntry, ProvisioningCacheEntry)
    assert ees_ids(edge4(body)) == ["ees-local"]
    assert er_calls() == 3
    partner.refresh_from_db()
    assert not partner.enabled
    assert visited.edge10_calls() == 1

    # On again; then the ECS-ER stops returning it: not asked once the lifetime has passed.
    PartnerECS.objects.filter(pk=partner.pk).update(enabled=True)
    deleted = requests.delete(
        registration, headers=bearer(er, visited_creds, "eecs-ecsregistration"), timeout=TIMEOUT
    )
    assert deleted.status_code == 204, deleted.text
    assert sorted(ees_ids(edge4(body))) == ["ees-local", "ees-visited"]  # answer still fresh
    lifetimes_pass(DiscoveryCacheEntry, ProvisioningCacheEntry)
    assert ees_ids(edge4(body)) == ["ees-local"]
    assert visited.edge10_calls() == 2
    assert discovery_bodies[-1][1] == {"ecsInfo": [], "lifetime": 60}


def test_a_discovered_address_in_our_network_is_refused(
    federation, visited_standin, edge4, monkeypatch
):
    monkeypatch.delenv("ECS_ALLOW_PRIVATE_CALLBACKS", raising=False)
    er = start_er(federation)
    visited = visited_standin(er.url)
    register_visited(er, visited.api_root)  # http://127.0.0.1:...
    our_ecs()
    member_of(er.url, api_client(er, HOME_ID))

    response = edge4(roaming_request())

    assert response.status_code == 200
    assert ees_ids(response) == ["ees-local"]
    assert visited.received == []
    assert not PartnerECS.objects.filter(partner_id=VISITED_ID).exists()
    [row] = er_rows()
    assert "refused" in row.reason and VISITED_ID in row.reason


def test_no_discovery_when_a_configured_partner_serves_the_plmn(federation, edge4, monkeypatch):
    our_ecs()
    make_partner("ecs.configured.example", "http://127.0.0.1:9", plmns=[VISITED], timeout=0.2)
    member_of("http://127.0.0.1:9", ("id", "secret"))
    edge4(roaming_request())
    assert er_rows() == []


@pytest.fixture
def hanging_er():
    """An ECS-ER that never answers in time."""
    release = threading.Event()

    def respond(received: Received) -> Reply:
        release.wait(5)
        return Reply(503)

    server = LoopbackServer(respond)
    yield server
    release.set()
    server.close()


@pytest.mark.parametrize("local", [True, False], ids=["local-answer", "nothing-local"])
def test_er_down_or_slow_never_costs_more_than_the_discovery_deadline(
    hanging_er, edge4, monkeypatch, local
):
    monkeypatch.setattr(discovery, "DISCOVERY_TIMEOUT", 0.5)
    our_ecs(local=local)
    member_of(hanging_er.url, ("id", "secret"))

    started = time.monotonic()
    response = edge4(roaming_request())
    waited = time.monotonic() - started

    assert waited < 0.5 + 1.5  # the deadline, and generous room for a loaded machine
    if local:
        assert response.status_code == 200
        assert ees_ids(response) == ["ees-local"]
    else:
        assert response.status_code == 503
        assert int(response["Retry-After"]) >= 1
    [row] = er_rows()
    assert row.failed and row.cache == RetrievalAudit.MISS


def test_a_requested_ecsp_no_partner_serves_is_discovered_in_the_serving_plmn(edge4):
    our_ecs()
    make_partner("ecs.configured.example", "http://127.0.0.1:9", plmns=[VISITED], timeout=0.2)
    member_of("http://127.0.0.1:9", ("id", "secret"))  # nothing listens: the call fails
    body = edge4_request(
        eas_ids=["app.one"], loc=ue_at(tai("0001", VISITED)), plmns=[VISITED], ecsp_ids=["ecsp.x"]
    )

    edge4(body)

    [row] = er_rows()
    assert row.query == {"targetPlmn": VISITED, "ecspIds": ["ecsp.x"], "ueLocation": body["locInf"]}
    assert_valid({"requestorId": HOME_ID, **row.query}, ECS_DISCOVERY_FILE, "EcsInfoDiscoveryReq")
    assert row.failed


def test_an_er_that_keeps_failing_is_not_called_while_its_circuit_is_open(edge4):
    our_ecs()
    member_of("http://127.0.0.1:9", ("id", "secret"))
    threshold = ECSERMembership.breaker_threshold
    for _ in range(threshold + 1):
        assert ees_ids(edge4(roaming_request())) == ["ees-local"]
    reasons = [r.reason for r in er_rows()]
    assert "circuit open: not called" not in reasons[:threshold]
    assert reasons[threshold] == "circuit open: not called"
