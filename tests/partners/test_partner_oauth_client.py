"""We call partners with OAuth 2.0 access tokens obtained at their token endpoint (issue #6).

A partner whose configuration gives ``tokenUrl``/``clientId``/``clientSecret`` is called with
an access token from the client credentials grant, cached until shortly before it expires,
refreshed once when the partner answers 401, and every way the token endpoint can fail is a
refused or fault outcome of the call -- never an exception, never a 5xx to the EEC.

The first tests run two real instances (tests/federation.py): "visited" has an API client of
kind partner for "ecs.home" (and no static token for it), "home" has visited's token URL and
that client's credentials.  How many tokens visited issued is read from its own database
(django-oauth-toolkit's AccessToken rows).  The others run in-process against a tiny partner
on 127.0.0.1 (``TokenPartner``: a token endpoint and the EDGE-10 API, told per test how to
behave), where a real instance would be overkill: garbage, refusals, slowness, deadlines.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote_plus

import pytest
import yaml
from django.core.cache import cache

from partners import breaker, tokens
from partners import remote_subscriptions as partner_subscriptions
from partners import served_subscriptions as partner_subscriptions_served
from partners.eecs_ecsserviceprovisioning import client as partner_client
from partners.models import PartnerECS, RetrievalAudit
from tests.builders import (
    configure_ecs,
    edge4_request,
    edn_config_json,
    ees_info_json,
    make_partner,
    make_policy,
    tai,
    ue_at,
)
from tests.ecsportal.configtools import apply_config, export_config, write_config
from tests.partners.test_federation_two_instances import (
    HOME_EESS,
    HOME_PLMN,
    VISITED_EESS,
    VISITED_PLMN,
    ees,
    ees_ids,
    new_request_id,
    provision,
)

if TYPE_CHECKING:
    from tests.federation import Instance

pytest_plugins = ["tests.federation"]

CLIENT_ID = "home-at-visited"
CLIENT_SECRET = "home-client-secret-" + uuid.uuid4().hex
SECRET_ENV = "ECS_TEST_VISITED_CLIENT_SECRET"
# Hashing a client secret (PBKDF2) on a loaded machine takes a while: time for it.
PARTNER_TIMEOUT = 10
# EECs call without tokens: their authentication is not what these tests are about.
SETTINGS = {"ECS_REQUIRE_AUTH": "0", SECRET_ENV: CLIENT_SECRET}


# --- two real instances ------------------------------------------------------------------------

CREATE_PARTNER_CLIENT = """
from oauth2_provider.models import Application
from access.models import APIClient
app = Application.objects.create(
    name="partner:ecs.home",
    client_id={client_id!r},
    client_secret={secret!r},
    client_type=Application.CLIENT_CONFIDENTIAL,
    authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
)
APIClient.objects.create(
    application=app, kind="partner", identity="ecs.home", scopes=["eecs-ecsserviceprovisioning"]
)
"""
ISSUED_TOKENS = (
    "from oauth2_provider.models import AccessToken; "
    "print(list(AccessToken.objects.order_by('pk').values_list('pk', flat=True)))"
)
REVOKE_TOKENS = "from oauth2_provider.models import AccessToken; AccessToken.objects.all().delete()"


def home_config(visited: Instance, client_secret: str) -> dict[str, Any]:
    return {
        "ecs": {"id": "ecs.home", "homePlmns": [HOME_PLMN], "provisioningLifetime": 3600},
        "edns": [
            {
                "id": "edn-home",
                "ednConInfo": {"dnn": "edge.home", "snssai": {"sst": 1}},
                "plmns": [HOME_PLMN, VISITED_PLMN],
                "eess": [ees(e) for e in HOME_EESS],
            }
        ],
        "partners": [
            {
                "id": "ecs.visited",
                "apiRoot": visited.url,
                "plmns": [VISITED_PLMN],
                "consult": "roaming_only",
                "tokenUrl": visited.url + "/oauth2/token/",
                "clientId": CLIENT_ID,
                "clientSecret": client_secret,
                "timeout": PARTNER_TIMEOUT,
            }
        ],
        "policies": [{"partner": "ecs.visited", "easIds": ["*"]}],
    }


def visited_config(home: Instance) -> dict[str, Any]:
    return {
        "ecs": {"id": "ecs.visited", "homePlmns": [VISITED_PLMN], "provisioningLifetime": 3600},
        "edns": [
            {
                "id": "edn-visited",
                "ednConInfo": {"dnn": "edge.visited", "snssai": {"sst": 1}},
                "eess": [ees(e) for e in VISITED_EESS],
            }
        ],
        # No inbound token: home can only authenticate with an OAuth 2.0 access token.
        "partners": [{"id": "ecs.home", "apiRoot": home.url, "plmns": [HOME_PLMN]}],
        "policies": [{"partner": "ecs.home", "easIds": ["*"], "lifetime": 600}],
    }


def start_pair(
    federation, client_secret: str = "env:" + SECRET_ENV, visited_env: dict | None = None
) -> tuple[Instance, Instance]:
    (home,) = federation.start("home", env=SETTINGS)
    (visited,) = federation.start("visited", env={**SETTINGS, **(visited_env or {})})
    federation.apply({home: home_config(visited, client_secret), visited: visited_config(home)})
    visited.manage(
        "shell", "-c", CREATE_PARTNER_CLIENT.format(client_id=CLIENT_ID, secret=CLIENT_SECRET)
    )
    return home, visited


def issued(visited: Instance) -> list[int]:
    """The AccessToken rows visited holds now (one per token it issued and kept)."""
    return json.loads(visited.manage("shell", "-c", ISSUED_TOKENS).stdout.strip().splitlines()[-1])


def roaming_at(tac: str) -> dict[str, Any]:
    """A roaming UE in a cell of its own: a query the partner cache has not seen."""
    loc = ue_at(tai(tac, VISITED_PLMN))
    return edge4_request(eas_ids=["app.game"], loc=loc, plmns=[VISITED_PLMN])


def test_the_partner_answers_with_an_obtained_token_that_is_then_reused(federation):
    home, visited = start_pair(federation)  # the secret as env:NAME
    first_id, second_id = new_request_id(), new_request_id()

    first = provision(home, roaming_at("0001"), first_id)
    second = provision(home, roaming_at("0002"), second_id)

    assert ees_ids(first) == HOME_EESS + VISITED_EESS
    assert ees_ids(second) == HOME_EESS + VISITED_EESS
    # Visited authenticated both calls as ecs.home through the OAuth client (it holds no
    # static token for home) and issued one token only: the second call reused it.
    inbound = visited.audit(direction="in")
    assert [(r["partner"], r["status"], r["requestId"]) for r in inbound] == [
        ("ecs.home", 200, first_id),
        ("ecs.home", 200, second_id),
    ]
    assert len(issued(visited)) == 1
    outbound = home.audit(direction="out")
    assert [(r["status"], r["cache"], r["decision"]) for r in outbound] == [
        (200, "miss", "allowed"),
        (200, "miss", "allowed"),
    ]


def test_a_revoked_token_is_replaced_once_and_the_call_succeeds(federation):
    # Visited reads tokens without cachalot: a revocation by another process (the shell
    # below) must be seen at once even on SQLite with per-process caches.
    home, visited = start_pair(
        federation, client_secret=CLIENT_SECRET, visited_env={"CACHALOT_ENABLED": "0"}
    )
    first_id, second_id = new_request_id(), new_request_id()
    provision(home, roaming_at("0001"), first_id)
    before = issued(visited)
    assert len(before) == 1

    visited.manage("shell", "-c", REVOKE_TOKENS)
    second = provision(home, roaming_at("0002"), second_id)

    assert ees_ids(second) == HOME_EESS + VISITED_EESS
    after = issued(visited)
    assert len(after) == 1 and after[0] > before[0], (before, after)  # one new token
    inbound = visited.audit(direction="in")
    # The revoked token was refused once (an unauthenticated 401), the fresh one accepted.
    assert [(r["status"], r["decision"]) for r in inbound] == [
        (200, "allowed"),
        (401, "denied"),
        (200, "allowed"),
    ]
    outbound = home.audit(direction="out")
    assert [(r["requestId"], r["status"]) for r in outbound] == [
        (first_id, 200),
        (second_id, 200),
    ]


def test_a_wrong_client_secret_is_a_refusal_in_the_audit_and_no_5xx(federation):
    wrong = "not-the-secret-" + uuid.uuid4().hex
    home, visited = start_pair(federation, client_secret=wrong)
    request_id = new_request_id()

    response = provision(home, roaming_at("0001"), request_id)  # asserts 200

    assert ees_ids(response) == HOME_EESS  # what home has; visited contributed nothing
    outbound = home.audit(direction="out")
    assert len(outbound) == 1
    row = outbound[0]
    assert (row["decision"], row["status"], row["requestId"]) == ("denied", 401, request_id)
    assert "token endpoint refused our client credentials" in row["reason"]
    assert "invalid_client" in row["reason"]
    assert wrong not in json.dumps(outbound)
    assert visited.audit(direction="in") == []  # its EDGE-10 API was never called
    assert issued(visited) == []


# --- a partner on 127.0.0.1 ----------------------------------------------------------------------

GOOD_ID = "our id: at the partner"  # characters Basic must form-encode (RFC 6749 2.3.1)
GOOD_SECRET = "s3cret with spaces+plus:colon-" + uuid.uuid4().hex
TOKEN_PATH = "/oauth2/token/"
API_PATH = "/eecs-ecsserviceprovisioning/v1/request"
SUBSCRIPTIONS_PATH = "/eecs-ecsserviceprovisioning/v1/subscriptions"


@dataclass
class Seen:
    path: str
    authorization: str
    form: dict[str, list[str]]


class TokenPartnerHandler(BaseHTTPRequestHandler):
    server: TokenPartner

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        form = parse_qs(raw.decode("latin-1")) if self.path == TOKEN_PATH else {}
        self.server.seen.append(Seen(self.path, self.headers.get("Authorization", ""), form))
        if self.path == TOKEN_PATH:
            self._token(form)
        else:
            self._api()

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _token(self, form: dict[str, list[str]]) -> None:
        server = self.server
        if server.token_delay and server.stopped.wait(server.token_delay):
            return
        behaviour = server.token_behaviour
        if behaviour == "garbage":
            return self._send(200, b"<html>token service</html>", "text/html")
        if behaviour == "status":
            return self._send(500, b'{"error": "server_error"}')
        if behaviour == "huge":
            return self._send(200, b'{"access_token": "' + b"a" * tokens.MAX_TOKEN_ANSWER_BYTES)
        if behaviour == "no-token":
            return self._send(200, json.dumps({"token_type": "Bearer"}).encode())
        if behaviour == "bad-token":
            answer = {"access_token": "two\r\nlines", "token_type": "Bearer"}
            return self._send(200, json.dumps(answer).encode())
        if behaviour == "not-bearer":
            answer = {"access_token": "abc", "token_type": "mac"}
            return self._send(200, json.dumps(answer).encode())
        if behaviour == "drip":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            for _ in range(1000):
                if server.stopped.wait(0.05):
                    return
                self.wfile.write(b" ")
            return
        scheme, _, encoded = self.headers.get("Authorization", "").partition(" ")
        user, _, password = base64.b64decode(encoded or "").decode().partition(":")
        if scheme != "Basic" or (unquote_plus(user), unquote_plus(password)) != (
            GOOD_ID,
            GOOD_SECRET,
        ):
            return self._send(401, b'{"error": "invalid_client"}')
        if form.get("grant_type") != ["client_credentials"]:
            return self._send(400, b'{"error": "unsupported_grant_type"}')
        token = f"issued-{len(server.issued) + 1}-{uuid.uuid4().hex}"
        server.issued.append(token)
        answer: dict[str, Any] = {"access_token": token, "token_type": "Bearer"}
        if server.expires_in is not None:
            answer["expires_in"] = server.expires_in
        self._send(200, json.dumps(answer).encode())

    def _api(self) -> None:
        server = self.server
        authorization = self.headers.get("Authorization", "")
        valid = [f"Bearer {t}" for t in server.issued if t not in server.revoked]
        if authorization not in valid:
            return self._send(401, b'{"title": "Unauthorized", "status": 401}')
        if server.api_delay and server.stopped.wait(server.api_delay):
            return
        if self.path == SUBSCRIPTIONS_PATH:
            self.send_response(201)
            self.send_header("Location", f"{self.path}/sub-1")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")
            return
        answer = {"ednCnfgInfo": [edn_config_json("edge.partner", ees_info_json("ees-p"))]}
        self._send(200, json.dumps(answer).encode())

    def log_message(self, format: str, *args: Any) -> None:
        pass


class TokenPartner(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), TokenPartnerHandler)
        self.token_behaviour = "valid"
        self.token_delay = 0.0
        self.api_delay = 0.0
        self.expires_in: Any = 3600
        self.issued: list[str] = []
        self.revoked: set[str] = set()
        self.seen: list[Seen] = []
        self.stopped = threading.Event()
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def calls(self, path: str) -> int:
        return sum(1 for s in self.seen if s.path == path)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # we hung up on an answer we did not want

    def stop(self) -> None:
        self.stopped.set()
        self.shutdown()
        self.server_close()


@pytest.fixture
def token_partner() -> Iterator[TokenPartner]:
    server = TokenPartner()
    yield server
    server.stop()


def credentials(server: TokenPartner, secret: str = GOOD_SECRET, partner_pk: int = 1, **kw: Any):
    return tokens.ClientCredentials(
        partner_pk, server.url + TOKEN_PATH, GOOD_ID, secret, kw.get("scope", "s")
    )


def ask(
    credential: str | tokens.ClientCredentials, server: TokenPartner, timeout: float = 2.0
) -> partner_client.PartnerReply:
    return partner_client.request_provisioning(server.url, credential, {}, timeout, "req-1")


def test_the_token_is_obtained_with_basic_auth_and_reused_from_the_cache(token_partner):
    creds = credentials(token_partner, scope="eecs-ecsserviceprovisioning")
    first, second = ask(creds, token_partner), ask(creds, token_partner)

    assert (first.kind, second.kind) == (partner_client.OK, partner_client.OK)
    assert token_partner.calls(TOKEN_PATH) == 1 and token_partner.calls(API_PATH) == 2
    token_request = token_partner.seen[0]
    assert token_request.form == {
        "grant_type": ["client_credentials"],
        "scope": ["eecs-ecsserviceprovisioning"],
    }
    api_auth = {s.authorization for s in token_partner.seen if s.path == API_PATH}
    assert api_auth == {f"Bearer {token_partner.issued[0]}"}
    # The cache key names neither the secret nor the client id; the value is the token.
    assert GOOD_SECRET not in creds.cache_key and GOOD_ID not in creds.cache_key
    assert cache.get(creds.cache_key) == token_partner.issued[0]
    assert GOOD_SECRET not in repr(creds)


def test_callers_without_a_token_at_once_share_one_token_request(token_partner):
    # A slow endpoint: every caller arrives while the first request is still out.
    token_partner.token_delay = 0.3
    creds = credentials(token_partner)
    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(lambda _: ask(creds, token_partner), range(8)))

    assert [r.kind for r in replies] == [partner_client.OK] * 8
    assert token_partner.calls(TOKEN_PATH) == 1
    api_auth = {s.authorization for s in token_partner.seen if s.path == API_PATH}
    assert api_auth == {f"Bearer {token_partner.issued[0]}"}


def test_when_the_shared_token_request_fails_each_caller_asks_for_itself(token_partner):
    token_partner.token_delay = 0.3
    token_partner.token_behaviour = "status"  # 500 from the endpoint
    creds = credentials(token_partner)
    with ThreadPoolExecutor(max_workers=3) as pool:
        replies = list(pool.map(lambda _: ask(creds, token_partner, timeout=3.0), range(3)))

    assert [r.kind for r in replies] == [partner_client.FAULT] * 3
    assert {r.reason for r in replies} == {"token endpoint answered HTTP 500"}
    # The leader's request, then one of each waiter's own: none waits past its deadline.
    assert token_partner.calls(TOKEN_PATH) == 3


def test_a_changed_secret_or_scope_does_not_reuse_the_old_token(token_partner):
    ask(credentials(token_partner), token_partner)
    other_scope = credentials(token_partner, scope="another")
    assert ask(other_scope, token_partner).kind == partner_client.OK
    assert token_partner.calls(TOKEN_PATH) == 2
    wrong = ask(credentials(token_partner, secret="changed"), token_partner)
    assert wrong.kind == partner_client.REFUSED  # not the cached token of the old secret


def test_a_resource_is_asked_for_and_keys_its_own_token(token_partner):
    # RFC 8707: a federation token is for one target ECS; one for another is not reused.
    for_a = tokens.ClientCredentials(
        1, token_partner.url + TOKEN_PATH, GOOD_ID, GOOD_SECRET, "s", resource="ecs.a.example"
    )
    for_b = tokens.ClientCredentials(
        1, token_partner.url + TOKEN_PATH, GOOD_ID, GOOD_SECRET, "s", resource="ecs.b.example"
    )
    assert for_a.cache_key != for_b.cache_key
    for creds in (for_a, for_a, for_b):
        assert ask(creds, token_partner).kind == partner_client.OK
    assert token_partner.calls(TOKEN_PATH) == 2
    forms = [s.form for s in token_partner.seen if s.path == TOKEN_PATH]
    assert [f.get("resource") for f in forms] == [["ecs.a.example"], ["ecs.b.example"]]
    assert "ecs.a.example" not in for_a.cache_key


@pytest.mark.parametrize(
    ("expires_in", "kept"),
    [(3600, 3570), (40, 20), (None, tokens.DEFAULT_EXPIRES_IN - tokens.EXPIRY_MARGIN), (1, 0)],
)
def test_a_token_is_kept_until_shortly_before_it_expires(
    token_partner, monkeypatch, expires_in, kept
):
    token_partner.expires_in = expires_in
    creds = credentials(token_partner)
    stored: list[tuple[str, Any, int]] = []
    monkeypatch.setattr(tokens.cache, "set", lambda *args: stored.append(args))
    assert ask(creds, token_partner).kind == partner_client.OK
    assert [s[2] for s in stored if s[0] == creds.cache_key] == ([kept] if kept else [])


def test_a_401_to_a_cached_token_gets_one_fresh_token_and_one_retry(token_partner):
    creds = credentials(token_partner)
    ask(creds, token_partner)
    token_partner.revoked.add(token_partner.issued[0])  # the partner forgot it

    reply = ask(creds, token_partner)

    assert reply.kind == partner_client.OK
    assert token_partner.calls(TOKEN_PATH) == 2 and token_partner.calls(API_PATH) == 3
    assert cache.get(creds.cache_key) == token_partner.issued[1]


def test_a_fresh_token_refused_is_not_asked_for_again(token_partner):
    creds = credentials(token_partner)
    token_partner.revoked = _AlwaysRevoked()

    reply = ask(creds, token_partner)
    assert (reply.kind, reply.status) == (partner_client.REFUSED, 401)
    assert token_partner.calls(TOKEN_PATH) == 1 and token_partner.calls(API_PATH) == 1
    assert cache.get(creds.cache_key) is None  # a refused token is not kept

    # A cached one refused is replaced once, and no more.
    token_partner.revoked = set()
    ask(creds, token_partner)
    token_partner.revoked = _AlwaysRevoked()
    reply = ask(creds, token_partner)
    assert reply.kind == partner_client.REFUSED
    assert token_partner.calls(TOKEN_PATH) == 3 and token_partner.calls(API_PATH) == 4


class _AlwaysRevoked(set):
    def __contains__(self, item: object) -> bool:
        return True


@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [
        ("garbage", "token endpoint: answer is not a JSON object"),
        ("status", "token endpoint answered HTTP 500"),
        ("huge", f"token endpoint: answer larger than {tokens.MAX_TOKEN_ANSWER_BYTES} bytes"),
        ("no-token", "token endpoint: answer has no usable access_token"),
        ("bad-token", "token endpoint: answer has no usable access_token"),
        ("not-bearer", "token endpoint: token_type is not Bearer"),
    ],
)
def test_a_misbehaving_token_endpoint_is_a_fault_with_a_reason(token_partner, behaviour, reason):
    token_partner.token_behaviour = behaviour
    reply = ask(credentials(token_partner), token_partner)
    assert (reply.kind, reply.reason) == (partner_client.FAULT, reason)
    assert token_partner.calls(API_PATH) == 0


def test_an_unreachable_token_endpoint_is_a_fault(token_partner):
    creds = tokens.ClientCredentials(1, "http://127.0.0.1:1/token", GOOD_ID, GOOD_SECRET)
    reply = ask(creds, token_partner)
    assert reply.kind == partner_client.FAULT
    assert reply.reason.startswith("token endpoint: unreachable (")


def test_wrong_credentials_are_a_refusal_not_a_fault(token_partner):
    reply = ask(credentials(token_partner, secret="wrong"), token_partner)
    assert (reply.kind, reply.status) == (partner_client.REFUSED, 401)
    assert (
        reply.reason == "token endpoint refused our client credentials (invalid_client, HTTP 401)"
    )


@pytest.mark.parametrize("where", ["token", "drip", "api"])
def test_token_endpoint_and_api_share_one_deadline(token_partner, where):
    timeout = 1.0
    if where == "token":
        token_partner.token_delay = 3.0
    elif where == "drip":
        token_partner.token_behaviour = "drip"
    else:
        # Each takes over half the timeout: only the two together exceed it.
        token_partner.token_delay = token_partner.api_delay = 0.6 * timeout
    started = time.monotonic()
    reply = ask(credentials(token_partner), token_partner, timeout=timeout)
    elapsed = time.monotonic() - started
    assert reply.kind == partner_client.FAULT
    assert "timed out" in reply.reason or "not complete within the timeout" in reply.reason
    assert elapsed < timeout + 0.5


def test_an_unset_secret_variable_is_a_fault_without_a_request(token_partner, monkeypatch):
    monkeypatch.delenv("ECS_TEST_UNSET_SECRET", raising=False)
    partner = PartnerECS(
        pk=7,
        token_url=token_partner.url + TOKEN_PATH,
        client_id=GOOD_ID,
        client_secret="env:ECS_TEST_UNSET_SECRET",
    )
    reply = ask(partner.outbound_credential(), token_partner)
    assert reply.kind == partner_client.FAULT
    assert reply.reason == (
        "no client secret for the token endpoint (empty in env:ECS_TEST_UNSET_SECRET)"
    )
    assert token_partner.seen == []


@pytest.mark.django_db
def test_an_eec_gets_an_answer_and_the_breaker_counts_a_token_fault(edge4, token_partner):
    configure_ecs()
    partner = make_partner(
        "ecs.oauth.example",
        token_partner.url,
        consult=PartnerECS.CONSULT_ALWAYS,
        token_url=token_partner.url + TOKEN_PATH,
        client_id=GOOD_ID,
        client_secret=GOOD_SECRET,
        timeout=2,
        breaker_threshold=1,
    )
    make_policy(partner)
    answered = edge4(edge4_request(eas_ids=["app.one"]))
    assert answered.status_code == 200
    assert [e["eesId"] for c in answered.json()["ednCnfgInfo"] for e in c["eess"]] == ["ees-p"]

    cache.delete(partner.outbound_credential().cache_key)
    token_partner.token_behaviour = "garbage"
    failed = edge4(edge4_request(eas_ids=["app.two"]))
    assert failed.status_code == 503  # nothing local, the only partner failed
    row = RetrievalAudit.objects.filter(partner=partner).order_by("pk").last()
    assert row.reason == "token endpoint: answer is not a JSON object"
    assert breaker.state(partner) == breaker.OPEN  # a fault like any other: it counted


@pytest.mark.django_db
def test_subscribing_at_a_partner_presents_the_obtained_token(token_partner):
    partner = make_partner(
        "ecs.oauth.example",
        token_partner.url,
        token_url=token_partner.url + TOKEN_PATH,
        client_id=GOOD_ID,
        client_secret=GOOD_SECRET,
        timeout=2,
    )
    status, sub_id, _, problem = partner_subscriptions._post(partner, {"reqEcsId": "x"})
    assert (status, sub_id, problem) == (201, "sub-1", "")
    assert [s.authorization for s in token_partner.seen if s.path == SUBSCRIPTIONS_PATH] == [
        f"Bearer {token_partner.issued[0]}"
    ]

    partner.client_secret = "wrong"
    cache.clear()
    status, sub_id, _, problem = partner_subscriptions._post(partner, {"reqEcsId": "x"})
    assert (status, sub_id) == (401, "")
    assert problem.startswith("token endpoint refused our client credentials")


@pytest.mark.django_db
def test_notifications_to_a_partner_carry_an_obtained_token(token_partner):
    """Our notifications to a partner subscribed to us go with a token from its endpoint."""
    partner = make_partner(
        "ecs.notified.example",
        token_partner.url,
        token_url=token_partner.url + TOKEN_PATH,
        client_id=GOOD_ID,
        client_secret=GOOD_SECRET,
        timeout=2,
    )
    assert partner_subscriptions_served.bearer_for_partner(str(partner.pk)) == (
        f"Bearer {token_partner.issued[0]}"
    )
    # The next notification reuses it; with no token to be had, no header at all.
    assert partner_subscriptions_served.bearer_for_partner(str(partner.pk)).endswith(
        token_partner.issued[0]
    )
    assert token_partner.calls(TOKEN_PATH) == 1
    PartnerECS.objects.filter(pk=partner.pk).update(client_secret="wrong")
    cache.clear()
    assert partner_subscriptions_served.bearer_for_partner(str(partner.pk)) == ""


# --- the model and the configuration file ----------------------------------------------------


@pytest.mark.django_db
def test_a_token_url_needs_a_client_id_and_secret():
    from django.core.exceptions import ValidationError

    partner = PartnerECS(
        partner_id="p", api_root="https://p.example", token_url="https://token.example/x"
    )
    with pytest.raises(ValidationError) as caught:
        partner.full_clean()
    assert set(caught.value.message_dict) >= {"client_id", "client_secret"}
    partner.client_secret = "env:"
    with pytest.raises(ValidationError) as caught:
        partner.full_clean()
    assert caught.value.message_dict["client_secret"] == ["env: needs a variable name."]
    partner.client_id, partner.client_secret = "me", "env:SECRET"
    partner.full_clean()


def apply(tmp_path, partners: list[dict[str, Any]]) -> None:
    apply_config(write_config(tmp_path, {"partners": partners}))


def exported_partners() -> list[dict[str, Any]]:
    return yaml.safe_load(export_config())["partners"]


OAUTH_PARTNER = {
    "id": "ecs.oauth.example",
    "apiRoot": "https://ecs.oauth.example",
    "plmns": [],
    "consult": "roaming_only",
    "roamingMode": "retrieve",
    "tokenUrl": "https://ecs.oauth.example/oauth2/token/",
    "clientId": "home-ecs",
    "clientSecret": "env:ECS_OAUTH_SECRET",
    "scope": "eecs-ecsserviceprovisioning",
    "defaultLifetime": 300,
    "maxLifetime": 86400,
    "timeout": 2.0,
    "enabled": True,
    "shareUeId": False,
    "subscribe": False,
    "breakerThreshold": 5,
    "breakerCooldown": 30.0,
}


@pytest.mark.django_db
def test_the_oauth_keys_round_trip_through_the_configuration_file(tmp_path):
    apply(tmp_path, [OAUTH_PARTNER])
    assert exported_partners() == [OAUTH_PARTNER]

    literal = {**OAUTH_PARTNER, "clientSecret": "a-literal-client-secret", "scope": "other"}
    apply(tmp_path, [literal])
    exported = exported_partners()[0]
    assert "clientSecret" not in exported  # a literal secret is never exported
    assert exported["scope"] == "other"
    # Applying the export keeps the stored secret (and validates: the secret is stored).
    apply(tmp_path, [exported])
    partner = PartnerECS.objects.get(partner_id="ecs.oauth.example")
    assert partner.client_secret == "a-literal-client-secret"
    assert exported_partners() == [exported]
    # The change log has the other keys, never the secret.
    history = partner.history.all()
    assert history.count() >= 2
    assert not hasattr(history.first(), "client_secret")
    assert {h.token_url for h in history} == {OAUTH_PARTNER["tokenUrl"]}


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"clientId": ""}, "partners[0] (ecs.oauth.example).clientId: required with tokenUrl"),
        (
            {"clientSecret": ""},
            "partners[0] (ecs.oauth.example).clientSecret: required with tokenUrl",
        ),
        ({"tokenUrl": "ftp://x/y"}, "partners[0] (ecs.oauth.example).tokenUrl: must be an http"),
        ({"clientSecret": "env:"}, "clientSecret: env: needs a variable name"),
        ({"scope": 3}, "partners[0] (ecs.oauth.example).scope: must be a string"),
        ({"clientId": "x" * 300}, "clientId: at most 255 characters"),
    ],
)
@pytest.mark.django_db
def test_bad_oauth_keys_name_the_entry_and_key(tmp_path, change, error):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError) as caught:
        apply(tmp_path, [{**OAUTH_PARTNER, **change}])
    assert error in str(caught.value)
    assert not PartnerECS.objects.exists()
