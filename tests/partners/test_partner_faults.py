"""Asking partner ECSs, including ones that misbehave (TS 23.558 clause 8.17.2.4.2.2).

Every partner here is a real HTTP server on 127.0.0.1 (``PartnerServer``), told per test how
to answer: validly, too slowly, dripping its body, with an error status, with something that
is not JSON or breaks the schema, with more than 1 MiB, refusing, with nothing, or by hanging
up; a closed port stands for a partner that is down.  Our ECS is configured in the test
database and asked over EDGE-4 as an EEC would (the ``edge4`` fixture checks every answer
against 3GPP's YAML).  Each test checks what an operator would: the EEC's status and EESs,
how long the EEC waited, what was cached, and what the audit log says.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.utils import timezone

from ecscore.datetimes import format_datetime, parse_datetime
from partners.eecs_ecsserviceprovisioning import client as partner_client
from partners.models import PartnerECS, ProvisioningCacheEntry, RetrievalAudit
from tests.builders import (
    EDGE4_FILE,
    EDGE10_REQUEST,
    ac_prof,
    configure_ecs,
    edge4_request,
    edn_config_json,
    ees_ids,
    ees_info_json,
    eess_by_edn,
    make_edn,
    make_ees,
    make_partner,
    plmn,
    tai,
    ue_at,
)
from tests.openapi import EDGE10_FILE, assert_valid, errors_for

pytestmark = pytest.mark.django_db

OUR_ECS = "ecs.home.example"
VISITED = plmn("002", "02")
OTHER_VISITED = plmn("003", "03")
GPSI = "msisdn-491700000001"
TIMEOUT = 0.5  # a partner too slow for us: cut off after this
PATIENCE = 2.0  # the timeout of a partner expected to answer (generous for loaded machines)
# How much longer than its deadline an EEC may wait for our answer (request handling, audit).
MARGIN = 0.5


# --- a partner ECS that answers as the test says ---------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any


class PartnerHandler(BaseHTTPRequestHandler):
    """Answers POSTs the way ``self.server.behaviour`` names (one handler, set per test)."""

    server: PartnerServer

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw
        self.server.received.append(Received(self.path, dict(self.headers), body))
        getattr(self, "_" + self.server.behaviour.replace("-", "_"))()

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _valid(self) -> None:
        if self.server.delay and self.server.stopped.wait(self.server.delay):
            return
        self._send(200, json.dumps(self.server.answer).encode())

    _slow = _valid  # with a delay beyond the partner's timeout

    def _drip(self) -> None:
        """A valid answer, one byte every 50 ms: never idle for a timeout, never done in time."""
        body = json.dumps(self.server.answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        for index in range(len(body)):
            if self.server.stopped.wait(0.05):
                return
            self.wfile.write(body[index : index + 1])

    def _status(self) -> None:
        status = self.server.status
        problem = {"title": "error", "status": status, "cause": "SYSTEM_FAILURE"}
        self._send(status, json.dumps(problem).encode(), "application/problem+json")

    def _no_content(self) -> None:
        self.send_response(204)
        self.end_headers()

    def _not_json(self) -> None:
        self._send(200, b"<html><body>Service provisioning</body></html>", "text/html")

    def _bad_schema(self) -> None:
        # An EDNConfigInfo without its mandatory eess.
        self._send(200, json.dumps({"ednCnfgInfo": [{"ednConInfo": {"dnn": "x"}}]}).encode())

    def _huge(self) -> None:
        # Valid in every other way: only its size makes it unacceptable.
        padding = "x" * partner_client.MAX_ANSWER_BYTES
        self._send(200, json.dumps({**self.server.answer, "padding": padding}).encode())

    def _hang_up(self) -> None:
        self.close_connection = True  # the request was read; close without a word

    def log_message(self, format: str, *args: Any) -> None:
        pass


class PartnerServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, behaviour: str, answer=None, delay: float = 0.0, status: int = 500):
        super().__init__(("127.0.0.1", 0), PartnerHandler)
        self.behaviour = behaviour
        self.answer = answer if answer is not None else partner_answer("ees-partner")
        self.delay = delay
        self.status = status
        self.received: list[Received] = []
        self.stopped = threading.Event()
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def api_root(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the client hung up on an answer it did not want (too large, too slow)

    def stop(self) -> None:
        self.stopped.set()
        self.shutdown()
        self.server_close()


def closed_port_root() -> str:
    """The API root of a partner that is down: a port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


_WARM: list[bool] = []


@pytest.fixture(autouse=True)
def _warm(edge4):
    """Read the schemas and answer once before the test, so no test's timing pays for it."""
    if not _WARM:
        problem = {"title": "Service Unavailable", "status": 503, "cause": "SERVICE_UNAVAILABLE"}
        errors_for(partner_answer("ees-1", lifetime=in_seconds(1)), EDGE4_FILE, "ECSServProvResp")
        errors_for(problem, "TS29122_CommonData.yaml", "ProblemDetails")
        _WARM.append(True)
    edge4(edge4_request(eas_ids=["warm.up"]))


# --- builders ----------------------------------------------------------------------------------


def partner_answer(*ids: str, lifetime: str | None = None, dnn: str = "edge.partner") -> dict:
    return {
        "ednCnfgInfo": [edn_config_json(dnn, *(ees_info_json(i) for i in ids), lifetime=lifetime)]
    }


def in_seconds(seconds: int) -> str:
    return format_datetime(timezone.now() + dt.timedelta(seconds=seconds))


def our_ecs(local: bool = True) -> None:
    """Our ECS at home PLMN 001-01; with ``local``, an EES of ours serving app.one anywhere."""
    configure_ecs(lifetime=3600, ecs_id=OUR_ECS)
    if local:
        make_ees(make_edn("edn-local", dnn="edge.local"), "ees-local", eas_ids=["app.one"])


def partner_at(api_root: str, partner_id: str = "ecs.partner.example", **fields: Any):
    fields.setdefault("consult", PartnerECS.CONSULT_ALWAYS)
    fields.setdefault("timeout", PATIENCE)
    fields.setdefault("outbound_token", "token-we-present")
    return make_partner(partner_id, api_root, **fields)


def eec_request(**extra: Any) -> dict:
    return edge4_request(eas_ids=["app.one"], loc=ue_at(tai("0001")), **extra)


def timed(edge4, body: dict):
    started = time.monotonic()
    response = edge4(body)
    return response, time.monotonic() - started


def outbound_rows(partner: PartnerECS) -> list[RetrievalAudit]:
    return list(
        RetrievalAudit.objects.filter(direction=RetrievalAudit.OUTBOUND, partner=partner).order_by(
            "pk"
        )
    )


def lifetimes(response) -> dict[str, dt.datetime]:
    """lifeTime per EES id of an answer."""
    return {
        ees["eesId"]: parse_datetime(cfg["lifeTime"])
        for cfg in response.json()["ednCnfgInfo"]
        for ees in cfg["eess"]
    }


def assert_unavailable(response) -> None:
    """503 with Retry-After and a ProblemDetails body (the edge4 fixture checked its schema)."""
    assert response.status_code == 503
    assert int(response["Retry-After"]) >= 1
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["cause"] == "SERVICE_UNAVAILABLE"


# --- faults ------------------------------------------------------------------------------------

# behaviour, server options, the partner's timeout, what the audit row's reason says, the HTTP
# statuses it may record (a partner too slow is cut off by its own timeout or by the deadline,
# whichever comes first)
FAULTS = [
    pytest.param("slow", {"delay": 5.0}, TIMEOUT, r"timed out|no answer within", {None}, id="slow"),
    pytest.param(
        "drip", {}, TIMEOUT, r"timed out|no answer within|not complete", {None, 200}, id="slow-drip"
    ),
    pytest.param("status", {"status": 500}, PATIENCE, r"HTTP 500", {500}, id="500"),
    pytest.param("status", {"status": 404}, PATIENCE, r"HTTP 404", {404}, id="404"),
    pytest.param("not-json", {}, PATIENCE, r"not JSON", {200}, id="non-json"),
    pytest.param(
        "bad-schema", {}, PATIENCE, r"breaks the schema at /ednCnfgInfo/0/eess", {200}, id="schema"
    ),
    pytest.param("huge", {}, PATIENCE, r"larger than 1048576 bytes", {200}, id="over-1MiB"),
    pytest.param("hang-up", {}, PATIENCE, r"unreachable", {None}, id="hang-up"),
    pytest.param(None, {}, PATIENCE, r"unreachable", {None}, id="connection-refused"),
]


@pytest.mark.parametrize("local", [True, False], ids=["local-match", "no-local-match"])
@pytest.mark.parametrize(("behaviour", "options", "timeout", "reason", "statuses"), FAULTS)
def test_a_faulty_partner_contributes_nothing_and_is_audited(
    edge4, partner_server, local, behaviour, options, timeout, reason, statuses
):
    our_ecs(local=local)
    server = partner_server(behaviour, **options) if behaviour else None
    partner = partner_at(server.api_root if server else closed_port_root(), timeout=timeout)

    response, elapsed = timed(edge4, eec_request())

    if local:
        assert response.status_code == 200
        assert ees_ids(response) == ["ees-local"]
    else:
        assert_unavailable(response)
    assert elapsed < timeout + MARGIN
    if server is not None:
        assert len(server.received) == 1, "the partner was asked once"
    assert not ProvisioningCacheEntry.objects.exists()
    [row] = outbound_rows(partner)
    assert re.search(reason, row.reason), row.reason
    assert row.status in statuses
    assert row.cache == RetrievalAudit.MISS
    assert row.decision == RetrievalAudit.ALLOWED  # a fault, not a refusal
    assert row.edn_count == 0
    assert row.failed  # what the dashboard counts as the partner's failures


@pytest.mark.parametrize("status", [401, 403])
@pytest.mark.parametrize("local", [True, False], ids=["local-match", "no-local-match"])
def test_a_refusing_partner_is_no_fault(edge4, partner_server, local, status):
    our_ecs(local=local)
    server = partner_server("status", status=status)
    partner = partner_at(server.api_root)

    response, elapsed = timed(edge4, eec_request())

    # Every source answered (the partner said no): nothing matched is 204, not 503.
    assert response.status_code == (200 if local else 204)
    assert ees_ids(response) == (["ees-local"] if local else [])
    assert elapsed < PATIENCE + MARGIN
    assert not ProvisioningCacheEntry.objects.exists()
    [row] = outbound_rows(partner)
    assert row.decision == RetrievalAudit.DENIED
    assert row.status == status
    assert f"HTTP {status}" in row.reason
    assert row.cache == RetrievalAudit.MISS
    assert row.edn_count == 0
    assert not row.failed  # a refusal is an answer


@pytest.mark.parametrize("local", [True, False], ids=["local-match", "no-local-match"])
def test_a_partner_with_nothing_is_no_fault(edge4, partner_server, local):
    our_ecs(local=local)
    server = partner_server("no-content")
    partner = partner_at(server.api_root)

    response = edge4(eec_request())

    assert response.status_code == (200 if local else 204)
    assert ees_ids(response) == (["ees-local"] if local else [])
    [row] = outbound_rows(partner)
    assert (row.decision, row.status, row.edn_count) == (RetrievalAudit.ALLOWED, 204, 0)


def test_a_call_never_outlives_the_partners_timeout(partner_server):
    """The admin's "refresh now" calls a partner directly, with no deadline around it."""
    server = partner_server("drip")
    started = time.monotonic()
    reply = partner_client.request_provisioning(
        server.api_root, "token", {"reqEcsId": OUR_ECS}, TIMEOUT, "req-drip"
    )
    elapsed = time.monotonic() - started
    assert reply.kind == partner_client.FAULT
    assert elapsed < TIMEOUT + MARGIN, f"the call took {elapsed:.2f} s"


# --- valid answers and the cache ---------------------------------------------------------------


def test_a_valid_answer_is_merged_after_ours(edge4, partner_server):
    our_ecs()
    server = partner_server("valid", answer=partner_answer("ees-p1", "ees-p2"))
    partner = partner_at(server.api_root)

    response = edge4(eec_request())

    assert response.status_code == 200
    assert ees_ids(response) == ["ees-local", "ees-p1", "ees-p2"]
    [row] = outbound_rows(partner)
    assert (row.decision, row.status, row.edn_count, row.cache) == (
        RetrievalAudit.ALLOWED,
        200,
        1,
        RetrievalAudit.MISS,
    )


# partner settings, the answer's lifeTimes (seconds from now), expected expiry (seconds from now;
# None: not cached)
CACHING = [
    pytest.param({}, [600, 300], 300, id="earliest-lifetime"),
    pytest.param({"max_lifetime": 120}, [600], 120, id="capped-by-max-lifetime"),
    pytest.param({"default_lifetime": 90}, [None], 90, id="default-lifetime-without-one"),
    pytest.param({"default_lifetime": 0}, [None], None, id="default-lifetime-0"),
    pytest.param({"max_lifetime": 0}, [600], None, id="max-lifetime-0"),
    pytest.param({"max_lifetime": 0, "default_lifetime": 90}, [None], None, id="max-0-default"),
]


@pytest.mark.parametrize(("settings", "given", "expected"), CACHING)
def test_a_valid_answer_is_cached_for_its_lifetime(
    edge4, partner_server, settings, given, expected
):
    our_ecs(local=False)
    answer = {
        "ednCnfgInfo": [
            edn_config_json(
                f"edge.partner{n}",
                ees_info_json(f"ees-p{n}"),
                lifetime=in_seconds(seconds) if seconds is not None else None,
            )
            for n, seconds in enumerate(given)
        ]
    }
    server = partner_server("valid", answer=answer)
    partner = partner_at(server.api_root, **settings)

    before = timezone.now()
    response = edge4(eec_request())
    after = timezone.now()

    assert response.status_code == 200
    assert sorted(ees_ids(response)) == [f"ees-p{n}" for n in range(len(given))]
    entries = list(ProvisioningCacheEntry.objects.filter(partner=partner))
    handed_out = lifetimes(response)
    for n, seconds in enumerate(given):  # never later than the partner allows
        if seconds is not None:
            assert handed_out[f"ees-p{n}"] <= parse_datetime(answer["ednCnfgInfo"][n]["lifeTime"])
    if expected is None:
        assert entries == []
        if None in given:  # no lifetime from the partner and none of ours to give
            assert all(t <= after for t in handed_out.values()), handed_out
        return
    [entry] = entries
    low = before.replace(microsecond=0) + dt.timedelta(seconds=expected - 1)
    assert low <= entry.expires_at <= after + dt.timedelta(seconds=expected)
    assert entry.answer == answer["ednCnfgInfo"]
    assert all(t <= entry.expires_at for t in handed_out.values()), (handed_out, entry)
    [row] = outbound_rows(partner)
    assert row.cache == RetrievalAudit.MISS


def test_a_partner_lifetime_in_the_past_is_never_handed_out(edge4, partner_server):
    our_ecs(local=False)
    answer = {
        "ednCnfgInfo": [
            edn_config_json("edge.stale", ees_info_json("ees-stale"), lifetime=in_seconds(-60)),
            edn_config_json("edge.fresh", ees_info_json("ees-fresh"), lifetime=in_seconds(600)),
        ]
    }
    partner = partner_at(partner_server("valid", answer=answer).api_root)
    before = timezone.now()
    for _ in range(2):  # the miss, then the cache hit
        response = edge4(eec_request())
        assert response.status_code == 200
        assert ees_ids(response) == ["ees-fresh"]
        assert all(t > before for t in lifetimes(response).values())
    # The expired config neither reaches the cache nor drags the rest's expiry into the past.
    [entry] = ProvisioningCacheEntry.objects.filter(partner=partner)
    assert [c["eess"][0]["eesId"] for c in entry.answer] == ["ees-fresh"]
    assert entry.expires_at > before + dt.timedelta(seconds=590)


def test_an_answer_whose_lifetimes_all_passed_contributes_nothing(edge4, partner_server):
    our_ecs(local=False)
    stale = edn_config_json("edge.stale", ees_info_json("ees-stale"), lifetime=in_seconds(-1))
    partner = partner_at(partner_server("valid", answer={"ednCnfgInfo": [stale]}).api_root)
    assert edge4(eec_request()).status_code == 204
    assert not ProvisioningCacheEntry.objects.filter(partner=partner).exists()


def test_a_cached_answer_is_reused_without_asking_again(edge4, partner_server):
    our_ecs(local=False)
    server = partner_server("valid", answer=partner_answer("ees-p1", lifetime=in_seconds(600)))
    partner = partner_at(server.api_root)

    first = edge4(eec_request())
    second = edge4(eec_request())

    assert ees_ids(first) == ees_ids(second) == ["ees-p1"]
    assert len(server.received) == 1
    entry = ProvisioningCacheEntry.objects.get(partner=partner)
    assert entry.hits == 1
    assert lifetimes(second)["ees-p1"] <= entry.expires_at
    assert [r.cache for r in outbound_rows(partner)] == [RetrievalAudit.MISS, RetrievalAudit.HIT]


def test_an_expired_entry_is_not_served(edge4, partner_server):
    our_ecs(local=False)
    server = partner_server("valid", answer=partner_answer("ees-p1", lifetime=in_seconds(600)))
    partner = partner_at(server.api_root)
    edge4(eec_request())
    ProvisioningCacheEntry.objects.filter(partner=partner).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    server.behaviour = "status"  # the partner is now broken: the stale entry must not help

    response = edge4(eec_request())

    assert_unavailable(response)
    assert len(server.received) == 2


# --- the request a partner receives ------------------------------------------------------------


@pytest.mark.parametrize("share", [False, True], ids=["no-share", "share-ue-id"])
def test_the_partner_receives_our_filters_token_and_serving_plmn(
    edge4, partner_server, monkeypatch, share
):
    our_ecs(local=False)
    monkeypatch.setenv("ECS_TEST_PARTNER_TOKEN", "s3cret-from-env")
    server = partner_server("no-content")
    partner_at(
        server.api_root,
        consult=PartnerECS.CONSULT_ROAMING_ONLY,
        plmns=[VISITED],
        outbound_token="env:ECS_TEST_PARTNER_TOKEN",
        share_ue_id=share,
    )
    body = edge4_request(
        eas_ids=["app.one"],
        loc=ue_at(tai("0001", VISITED)),
        plmns=[VISITED],
        acr=["EEC_INITIATED"],
        ueId=GPSI,
    )

    edge4(body)

    [received] = server.received
    assert received.path == EDGE10_REQUEST
    assert_valid(received.body, EDGE10_FILE, "ServProvReq")
    assert received.headers["Authorization"] == "Bearer s3cret-from-env"
    assert received.headers["Content-Type"] == "application/json"
    assert received.body["reqEcsId"] == OUR_ECS
    assert received.body["servingPlmn"] == VISITED
    assert received.body["acProfs"] == body["acProfs"]
    assert received.body["locInf"] == body["locInf"]
    assert received.body["eecSvcContSupp"] == ["EEC_INITIATED"]
    if share:
        assert received.body["ueId"] == GPSI
    else:
        assert "ueId" not in received.body
        assert GPSI not in json.dumps(received.body)


def test_a_literal_outbound_token_is_presented(edge4, partner_server):
    our_ecs()
    server = partner_server("no-content")
    partner_at(server.api_root, outbound_token="literal-token")
    edge4(eec_request())
    [received] = server.received
    assert received.headers["Authorization"] == "Bearer literal-token"
    assert "servingPlmn" not in received.body  # at home: no visited PLMN to tell
    assert_valid(received.body, EDGE10_FILE, "ServProvReq")


# --- several partners --------------------------------------------------------------------------


def test_partners_are_asked_in_parallel(edge4, partner_server):
    our_ecs(local=False)
    delay = 0.8
    slow_a = partner_server("valid", answer=partner_answer("ees-a"), delay=delay)
    slow_b = partner_server("valid", answer=partner_answer("ees-b", dnn="edge.b"), delay=delay)
    partner_at(slow_a.api_root, "ecs.a.example", timeout=3.0)
    partner_at(slow_b.api_root, "ecs.b.example", timeout=3.0)

    response, elapsed = timed(edge4, eec_request())

    assert sorted(ees_ids(response)) == ["ees-a", "ees-b"]
    assert delay <= elapsed < 2 * delay - 0.2, f"{elapsed:.2f} s: not in parallel"


def test_the_deadline_is_the_largest_timeout_not_the_sum(edge4, partner_server):
    our_ecs()
    # Timeouts far enough apart that a loaded CI machine's scheduling delays cannot make
    # "the largest" look like "the sum" (or the other way round).
    slow_a = partner_server("slow", delay=8.0)
    slow_b = partner_server("slow", delay=8.0)
    a = partner_at(slow_a.api_root, "ecs.a.example", timeout=1.0)
    b = partner_at(slow_b.api_root, "ecs.b.example", timeout=3.0)

    response, elapsed = timed(edge4, eec_request())

    assert ees_ids(response) == ["ees-local"]
    assert 3.0 - 0.05 <= elapsed < 4.0 - 0.1, f"{elapsed:.2f} s (the largest is 3 s, the sum 4 s)"
    assert [len(outbound_rows(p)) for p in (a, b)] == [1, 1]
    assert not ProvisioningCacheEntry.objects.exists()


def test_what_is_available_is_answered_when_one_partner_fails(edge4, partner_server):
    our_ecs(local=False)
    good = partner_server("valid", answer=partner_answer("ees-good", lifetime=in_seconds(600)))
    slow = partner_server("slow", delay=5.0)
    good_partner = partner_at(good.api_root, "ecs.good.example")
    slow_partner = partner_at(slow.api_root, "ecs.slow.example", timeout=TIMEOUT)

    response, elapsed = timed(edge4, eec_request())

    assert response.status_code == 200
    assert ees_ids(response) == ["ees-good"]
    assert elapsed < TIMEOUT + MARGIN
    assert list(ProvisioningCacheEntry.objects.values_list("partner", flat=True)) == [
        good_partner.pk
    ]
    [row] = outbound_rows(slow_partner)
    assert row.status is None and row.cache == RetrievalAudit.MISS


def test_a_refusal_does_not_hide_another_partners_fault(edge4, partner_server):
    our_ecs(local=False)
    refusing = partner_server("status", status=403)
    empty = partner_server("no-content")
    broken = partner_server("status", status=500)
    for n, server in enumerate((refusing, empty, broken)):
        partner_at(server.api_root, f"ecs.{n}.example")

    response = edge4(eec_request())

    assert_unavailable(response)
    assert RetrievalAudit.objects.filter(direction=RetrievalAudit.OUTBOUND).count() == 3


def test_duplicate_ees_ids_from_a_partner_are_dropped(edge4, partner_server):
    our_ecs()
    answer = {
        "ednCnfgInfo": [
            edn_config_json("edge.p1", ees_info_json("ees-local"), ees_info_json("ees-p1")),
            edn_config_json("edge.p2", ees_info_json("ees-p1"), ees_info_json("ees-p2")),
            edn_config_json("edge.p3", ees_info_json("ees-local")),
        ]
    }
    server = partner_server("valid", answer=answer)
    partner_at(server.api_root)

    response = edge4(eec_request())

    assert ees_ids(response) == ["ees-local", "ees-p1", "ees-p2"]
    # The first copy wins: ours over the partner's, the partner's first EDN over its second.
    assert eess_by_edn(response) == [
        ("edge.local", ["ees-local"]),
        ("edge.p1", ["ees-p1"]),
        ("edge.p2", ["ees-p2"]),
    ]


def test_an_ees_a_partner_lists_twice_is_returned_and_cached_once(edge4, partner_server):
    our_ecs(local=False)
    p1, p2 = ees_info_json("ees-p1"), ees_info_json("ees-p2")
    answer = {
        "ednCnfgInfo": [
            edn_config_json("edge.p1", p1, p1, p2, lifetime=in_seconds(600)),
            edn_config_json("edge.p2", p2, lifetime=in_seconds(600)),
        ]
    }
    server = partner_server("valid", answer=answer)
    partner = partner_at(server.api_root)

    response = edge4(eec_request())

    assert eess_by_edn(response) == [("edge.p1", ["ees-p1", "ees-p2"])]
    entry = ProvisioningCacheEntry.objects.get(partner=partner)
    assert [[e["eesId"] for e in cfg["eess"]] for cfg in entry.answer] == [["ees-p1", "ees-p2"]]
    [row] = outbound_rows(partner)
    assert row.edn_count == 1


# --- whom we ask -------------------------------------------------------------------------------

HOME_UE = {"plmns": ()}
ROAMING_UE = {"plmns": (VISITED,)}
ROAMING_ELSEWHERE = {"plmns": (OTHER_VISITED,)}

# partner settings, our local EES serves the request?, EEC request members, asked?
CONSULT = [
    pytest.param({"consult": "always"}, True, HOME_UE, True, id="always"),
    pytest.param({"consult": "roaming_only"}, True, HOME_UE, False, id="roaming_only-home"),
    pytest.param({"consult": "roaming_only"}, True, ROAMING_UE, True, id="roaming_only-roaming"),
    pytest.param(
        {"consult": "roaming_only"}, True, ROAMING_ELSEWHERE, False, id="roaming_only-elsewhere"
    ),
    pytest.param(
        {"consult": "roaming_only"},
        True,
        {"plmns": (plmn("001", "01"),)},
        False,
        id="roaming_only-home-plmn-in-connInfo",
    ),
    pytest.param({"consult": "when_no_local_match"}, True, HOME_UE, False, id="no_local-matched"),
    pytest.param({"consult": "when_no_local_match"}, False, HOME_UE, True, id="no_local-none"),
    pytest.param(
        {"consult": "roaming_only", "ecsp": "ecsp.partner"},
        True,
        {"ecsp_ids": ("ecsp.partner",)},
        True,
        id="ecspIds-pull-in",
    ),
    pytest.param(
        {"consult": "roaming_only", "ecsp": "ecsp.partner"},
        True,
        {"ecsp_ids": ("ecsp.other",)},
        False,
        id="ecspIds-other",
    ),
    pytest.param(
        {"consult": "when_no_local_match", "ecsp": "ecsp.partner"},
        True,
        {"acProfs": [ac_prof(eas_ids=["app.one"], pref_ecsps=["ecsp.partner"])]},
        True,
        id="prefEcsps-pull-in",
    ),
    pytest.param({"consult": "always", "enabled": False}, True, HOME_UE, False, id="disabled"),
]


@pytest.mark.parametrize(("settings", "local", "members", "asked"), CONSULT)
def test_which_partners_are_asked(edge4, partner_server, settings, local, members, asked):
    our_ecs(local=False)
    if local:
        make_ees(make_edn("edn-local", dnn="edge.local", plmns=[plmn()]), "ees-local")
    server = partner_server("valid", answer=partner_answer("ees-partner"))
    partner = partner_at(server.api_root, plmns=[VISITED], **settings)
    members = dict(members)
    plmns = members.pop("plmns", ())
    ecsp_ids = members.pop("ecsp_ids", ())
    body = edge4_request(
        eas_ids=["app.one"], loc=ue_at(tai("0001")), plmns=plmns, ecsp_ids=ecsp_ids
    )
    body.update(members)

    response = edge4(body)

    assert len(server.received) == (1 if asked else 0)
    assert len(outbound_rows(partner)) == (1 if asked else 0)
    assert ("ees-partner" in ees_ids(response)) == asked
