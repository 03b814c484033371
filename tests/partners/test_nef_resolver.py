"""The NEF as the source of a UE's roaming status and location (issue 14, parts 2 and 3).

An EEC that sends a GPSI ``ueId`` but no ``connInfo`` PLMN is served by what the home network
says: our ECS asks a stand-in NEF -- a real HTTP server on 127.0.0.1 (``tests.loopback``)
with a token endpoint and the TS 29.122 MonitoringEvent subscription POST -- for a one-time
ROAMING_STATUS (and LOCATION_REPORTING) report.  Every subscription we send is validated
against 3GPP's ``TS29122_MonitoringEvent.yaml``.  Each test checks what an operator would: the
EESs the EEC gets, how long it waited, how often the NEF was asked, and the audit log.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from ecscore.testing.processes import free_port
from partners import breaker
from partners.models import NEFConfiguration, RetrievalAudit
from partners.nef import wire
from partners.nef.resolver import NEFResolver, ue_hash
from provisioning.roaming import RoamingStatus
from tests.builders import (
    EDGE4_FILE,
    HOME,
    area,
    configure_ecs,
    edge4_request,
    edn_config_json,
    ees_ids,
    ees_info_json,
    make_edn,
    make_ees,
    make_partner,
    ncgi,
    plmn,
    tai,
    ue_at,
)
from tests.ecsportal.configtools import (
    apply_config,
    export_config,
    refused_by_apply,
    write_config,
)
from tests.loopback import LoopbackServer, Received, Reply
from tests.openapi import errors_for

pytestmark = pytest.mark.django_db

NEF_FILE = "TS29122_MonitoringEvent.yaml"
VISITED = plmn("002", "02")
GPSI = "msisdn-491700000042"
MSISDN = "491700000042"
AF_ID = "ecs-home"
SUBSCRIPTIONS = f"/3gpp-monitoring-event/v1/{AF_ID}/subscriptions"
# The NEF's timeout: the EEC's answer may not wait longer (plus MARGIN). Generous enough for
# a loaded CI machine's first exchange (a token, then the subscription): 0.5 s was not.
TIMEOUT = 1.5
MARGIN = 0.5
CLIENT_ID, CLIENT_SECRET = "ecs-home-at-nef", "nef-client-secret-1"


def roaming_report(where: dict[str, str] | None) -> dict[str, Any]:
    report: dict[str, Any] = {"monitoringType": "ROAMING_STATUS"}
    if where is not None:
        report["plmnId"] = dict(where)
        report["roamingStatus"] = where != HOME
    return report


def location_report(tac: str, where: dict[str, str] = HOME) -> dict[str, Any]:
    return {
        "monitoringType": "LOCATION_REPORTING",
        "locationInfo": ue_at(tai(tac, where), ncgi("000000001", where)),
    }


@dataclass
class StandInNEF:
    """A NEF that answers the subscription POST as ``behaviour`` says; counts every call."""

    behaviour: str = "answer"  # answer | immediate | notify | slow | garbage | error
    serving: dict[str, str] | None = None  # None: at home
    tac: str | None = None  # the TAI the location report names; None: no location report
    notify_after: float = 0.1
    delay: float = 0.0  # seconds before any answer
    bad_notification: bool = False  # notify with a body that is not a MonitoringNotification
    subscriptions: list[Received] = field(default_factory=list)
    token_requests: int = 0
    invalid: list[str] = field(default_factory=list)
    notified: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.server = LoopbackServer(self.respond)
        self.url = self.server.url

    def reports(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        found = [roaming_report(self.serving or HOME)]
        if self.tac and "LOCATION_REPORTING" in body.get("addnMonTypes", []):
            found.append(location_report(self.tac, self.serving or HOME))
        return found

    def respond(self, received: Received) -> Reply:
        if received.path == "/token":
            self.token_requests += 1
            return Reply(200, {"access_token": "nef-token-1", "token_type": "Bearer"})
        if received.path != SUBSCRIPTIONS or received.method != "POST":
            return Reply(404, {"status": 404, "title": "Not Found"})
        body = received.json()
        self.subscriptions.append(received)
        time.sleep(self.delay)
        self.invalid += errors_for(body, NEF_FILE, "MonitoringEventSubscription")
        if received.headers.get("Authorization") != "Bearer nef-token-1":
            return Reply(401, {"status": 401, "title": "Unauthorized"})
        reports = self.reports(body)
        sub = {**body, "self": f"{self.url}{SUBSCRIPTIONS}/sub-1"}
        location = {"Location": sub["self"]}
        if self.behaviour == "answer":
            sub["monitoringEventReport"] = reports[0]
            if reports[1:]:
                sub["addnMonEventReports"] = reports[1:]
            return Reply(201, sub, location)
        if self.behaviour == "immediate":
            return Reply(200, {"monitoringEventReports": reports})
        if self.behaviour == "notify":
            notification = {"subscription": sub["self"], "monitoringEventReports": reports}
            self.invalid += errors_for(notification, NEF_FILE, "MonitoringNotification")
            if self.bad_notification:
                notification = {"monitoringEventReports": "not a list"}
            threading.Thread(
                target=self._notify, args=(body["notificationDestination"], notification)
            ).start()
            return Reply(201, sub, location)
        if self.behaviour == "slow":
            time.sleep(TIMEOUT * 4)
            return Reply(201, sub, location)
        if self.behaviour == "garbage":
            return Reply(201, {**sub, "monitoringEventReport": {"plmnId": "nope"}}, location)
        return Reply(500, b"<html>oops</html>", content_type="text/html")

    def _notify(self, url: str, notification: dict[str, Any]) -> None:
        time.sleep(self.notify_after)
        try:
            answer = requests.post(url, json=notification, timeout=5)
        except requests.ConnectionError:
            self.notified.append(0)  # nobody listens there (tests without a live server)
            return
        self.notified.append(answer.status_code)

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def nef(settings) -> Iterator[Any]:
    settings.ECS_PUBLIC_URL = "http://127.0.0.1:9"  # only the notification test is called back
    started: list[StandInNEF] = []

    def start(behaviour: str = "answer", **options: Any) -> StandInNEF:
        server = StandInNEF(behaviour, **options)
        started.append(server)
        configure_nef(server.url)
        return server

    yield start
    for server in started:
        server.close()


def configure_nef(url: str, **fields: Any) -> NEFConfiguration:
    values = {
        "api_root": url,
        "af_id": AF_ID,
        "token_url": url + "/token",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "timeout": TIMEOUT,
        "cache_seconds": 60,
        **fields,
    }
    config = NEFConfiguration(**values)
    config.save()
    return config


@pytest.fixture
def network(db):
    """Our two EDNs at home (TAIs 00A1 and 00B2) and a partner for the visited PLMN."""
    configure_ecs()
    north = make_edn("north", dnn="north.edge", area_=area(tais=[tai("00A1")]))
    make_ees(north, "ees-north")
    south = make_edn("south", dnn="south.edge", area_=area(tais=[tai("00B2")]))
    make_ees(south, "ees-south")
    partner_calls: list[Received] = []

    def partner(received: Received) -> Reply:
        partner_calls.append(received)
        answer = edn_config_json("visited.edge", ees_info_json("ees-visited"))
        return Reply(200, {"ednCnfgInfo": [answer]})

    server = LoopbackServer(partner)
    make_partner(
        "ecs.visited.example",
        api_root=server.url,
        plmns=[VISITED],
        consult="roaming_only",
        outbound_token="to-visited",
    )
    yield partner_calls
    server.close()


@pytest.fixture(autouse=True)
def _warm(edge4):
    """Compile the schemas once before the test (EDGE-4's, and the NEF reports' in
    ``wire.findings``), so that no test's timing pays for what a process pays once."""
    wire.findings([roaming_report(VISITED), location_report("00B2")], set())
    answer = {"ednCnfgInfo": [edn_config_json("warm.edge", ees_info_json("ees-warm"))]}
    errors_for(answer, EDGE4_FILE, "ECSServProvResp")  # what the edge4 fixture checks
    edge4(edge4_request(eas_ids=["warm.up"]))


def ue_request(**extra: Any) -> dict[str, Any]:
    return edge4_request(eas_ids=["app.one"], ueId=GPSI, **extra)


def nef_audit() -> list[RetrievalAudit]:
    return list(RetrievalAudit.objects.filter(direction=RetrievalAudit.NEF).order_by("pk"))


def timed(edge4, body: dict[str, Any]):
    started = time.monotonic()
    response = edge4(body)
    return response, time.monotonic() - started


# --- the NEF changes the answer ---------------------------------------------------------------


@pytest.mark.parametrize("behaviour", ["answer", "immediate"])
def test_roaming_status_from_the_nef_makes_the_ue_roaming(edge4, nef, network, behaviour):
    stand_in = nef(behaviour, serving=VISITED)
    response = edge4(ue_request())
    assert response.status_code == 200
    assert ees_ids(response) == ["ees-visited"]  # the visited partner's, as for connInfo
    assert len(network) == 1
    assert network[0].json()["servingPlmn"] == VISITED
    assert stand_in.invalid == []
    sent = stand_in.subscriptions[0].json()
    assert sent["msisdn"] == MSISDN
    assert sent["monitoringType"] == "ROAMING_STATUS"
    assert sent["maximumNumberOfReports"] == 1
    assert sent["addnMonTypes"] == ["LOCATION_REPORTING"]  # the request had no location
    assert stand_in.token_requests == 1
    [row] = nef_audit()
    assert row.reason.startswith("roaming in 002-02")
    assert row.status == (201 if behaviour == "answer" else 200)


def test_without_the_nef_the_same_request_is_served_as_at_home(edge4, network):
    response = edge4(ue_request())
    assert sorted(ees_ids(response)) == ["ees-north", "ees-south"]
    assert network == []
    assert nef_audit() == []


def test_the_location_from_the_nef_selects_the_edn(edge4, nef, network):
    nef(serving=None, tac="00B2")
    response = edge4(ue_request())
    assert ees_ids(response) == ["ees-south"]
    assert network == []  # at home: the roaming-only partner is not asked
    assert "location reported" in nef_audit()[0].reason


def test_a_request_with_its_own_location_asks_only_for_roaming_status(edge4, nef, network):
    stand_in = nef(serving=None, tac="00B2")
    response = edge4(ue_request(loc=ue_at(tai("00A1"))))
    assert ees_ids(response) == ["ees-north"]  # the EEC's own location wins
    assert "addnMonTypes" not in stand_in.subscriptions[0].json()


def test_the_partner_is_told_the_location_the_nef_gave(edge4, nef, network):
    nef(serving=VISITED, tac="0C03")
    response = edge4(ue_request())
    assert ees_ids(response) == ["ees-visited"]
    sent = network[0].json()
    assert sent["locInf"] == location_report("0C03", VISITED)["locationInfo"]
    assert "ueId" not in sent  # the partner has no shareUeId


def test_an_answer_without_the_location_is_used_at_once(edge4, nef, network):
    nef(serving=VISITED)  # reports roaming status only, though we asked for the location
    response, waited = timed(edge4, ue_request())
    assert ees_ids(response) == ["ees-visited"]
    assert waited < TIMEOUT  # not waiting for a location notification that will not come
    assert nef_audit()[0].reason == "roaming in 002-02 (report in the answer)"


def test_conn_info_with_a_plmn_is_believed_without_asking(edge4, nef, network):
    stand_in = nef(serving=VISITED)
    response = edge4(ue_request(plmns=[HOME]))
    assert sorted(ees_ids(response)) == ["ees-north", "ees-south"]
    assert stand_in.subscriptions == []


def test_without_a_gpsi_the_nef_is_not_asked(edge4, nef, network):
    stand_in = nef(serving=VISITED)
    edge4(edge4_request(eas_ids=["app.one"]))
    assert stand_in.subscriptions == []


def test_the_same_ue_within_cache_seconds_makes_no_second_call(edge4, nef, network):
    stand_in = nef(serving=VISITED)
    first = edge4(ue_request())
    second = edge4(ue_request())
    assert ees_ids(first) == ees_ids(second) == ["ees-visited"]
    assert len(stand_in.subscriptions) == 1
    assert stand_in.token_requests == 1


def test_after_cache_seconds_the_nef_is_asked_again(edge4, nef, network):
    stand_in = nef(serving=VISITED)
    config = NEFConfiguration.objects.get()
    config.cache_seconds = 1
    config.save()
    edge4(ue_request())
    time.sleep(1.2)
    edge4(ue_request())
    assert len(stand_in.subscriptions) == 2


@pytest.mark.django_db(transaction=True)
def test_a_report_that_comes_as_a_notification_is_used(edge4, nef, network, live_server, settings):
    stand_in = nef("notify", serving=VISITED)
    settings.ECS_PUBLIC_URL = live_server.url
    response, waited = timed(edge4, ue_request())
    assert ees_ids(response) == ["ees-visited"]
    assert waited < TIMEOUT + MARGIN
    destination = stand_in.subscriptions[0].json()["notificationDestination"]
    assert destination.startswith(live_server.url + "/nef-notifications/v1/")
    assert stand_in.notified == [204]
    assert stand_in.invalid == []
    reasons = [row.reason for row in nef_audit()]
    assert any(r.startswith("notification: roaming in 002-02") for r in reasons)
    assert any("report in the notification" in r for r in reasons)


@pytest.mark.django_db(transaction=True)
def test_a_notification_that_is_not_one_is_refused_and_the_ue_stays_home(
    edge4, nef, network, live_server, settings
):
    stand_in = nef("notify", serving=VISITED, bad_notification=True)
    settings.ECS_PUBLIC_URL = live_server.url
    response, waited = timed(edge4, ue_request())
    assert sorted(ees_ids(response)) == ["ees-north", "ees-south"]
    assert waited < TIMEOUT + MARGIN
    assert stand_in.notified == [400]
    reasons = [row.reason for row in nef_audit()]
    assert "notification: not a MonitoringNotification" in reasons


@pytest.mark.django_db(transaction=True)
def test_the_notification_endpoint_wants_a_token_we_handed_out(live_server):
    answer = requests.post(
        live_server.url + "/nef-notifications/v1/not-a-token-of-ours",
        json={"subscription": "https://nef.example/x", "monitoringEventReports": []},
        timeout=5,
    )
    assert answer.status_code == 404
    assert answer.headers["Content-Type"] == "application/problem+json"
    not_json = requests.post(
        live_server.url + "/nef-notifications/v1/x",
        data=b"{oops",
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert not_json.status_code == 400
    assert not_json.json()["cause"] == "INVALID_MSG_FORMAT"


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_for_one_ue_make_one_call(nef, network):
    stand_in = nef(serving=VISITED, delay=0.2)
    body = ue_request()
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda _: NEFResolver().resolve(body, {"001-01"}), range(4)))
    assert len(stand_in.subscriptions) == 1
    assert all(a.serving_plmn == VISITED for a in answers)


def test_subscription_evaluation_uses_only_what_is_cached(nef, network):
    stand_in = nef(serving=VISITED)
    resolver = NEFResolver()
    assert resolver.resolve(ue_request(), {"001-01"}, offline=True).serving_plmn is None
    assert stand_in.subscriptions == []
    resolver.resolve(ue_request(), {"001-01"})
    assert resolver.resolve(ue_request(), {"001-01"}, offline=True).serving_plmn == VISITED
    assert len(stand_in.subscriptions) == 1


# --- an operator's own resolver -------------------------------------------------------------


class HSSGateway:
    """An operator's resolver: every UE roams in VISITED (what its HSS/UDM would say)."""

    def resolve(
        self, body: dict[str, Any], home_plmns: set[str], *, offline: bool = False
    ) -> RoamingStatus:
        return RoamingStatus(serving_plmn=dict(VISITED))


class BrokenGateway:
    def resolve(self, body: dict[str, Any], home_plmns: set[str], *, offline: bool = False):
        raise RuntimeError("gateway down")


def test_an_operator_resolver_named_in_the_settings_is_used(edge4, network, settings):
    settings.ECS_ROAMING_RESOLVER = f"{__name__}.HSSGateway"
    response = edge4(edge4_request(eas_ids=["app.one"]))
    assert ees_ids(response) == ["ees-visited"]
    assert network[0].json()["servingPlmn"] == VISITED


def test_a_resolver_that_raises_leaves_the_ue_as_connInfo_says(edge4, network, settings):
    settings.ECS_ROAMING_RESOLVER = f"{__name__}.BrokenGateway"
    response = edge4(edge4_request(eas_ids=["app.one"]))
    assert response.status_code == 200
    assert sorted(ees_ids(response)) == ["ees-north", "ees-south"]


# --- a NEF that fails leaves the UE at home, in time ---------------------------------------


@pytest.mark.parametrize("behaviour", ["slow", "garbage", "error", "down"])
def test_a_failing_nef_leaves_the_ue_at_home_within_the_deadline(edge4, nef, network, behaviour):
    if behaviour == "down":
        nef()  # the settings fixture; then point at a port nobody listens on
        configure_nef(f"http://127.0.0.1:{free_port()}")
    else:
        nef(behaviour, serving=VISITED, tac="00B2")
    response, waited = timed(edge4, ue_request())
    assert response.status_code == 200
    assert sorted(ees_ids(response)) == ["ees-north", "ees-south"]  # as if at home, anywhere
    assert waited < TIMEOUT + MARGIN
    assert network == []
    [row] = nef_audit()
    assert row.reason.endswith("as if at home")
    assert row.latency_ms < (TIMEOUT + MARGIN) * 1000


def test_a_notification_that_never_comes_is_waited_for_only_until_the_deadline(edge4, nef, network):
    nef("notify", serving=VISITED, notify_after=TIMEOUT * 3)  # our URL does not answer anyway
    response, waited = timed(edge4, ue_request())
    assert sorted(ees_ids(response)) == ["ees-north", "ees-south"]
    assert TIMEOUT * 0.9 < waited < TIMEOUT + MARGIN
    assert "no report within" in nef_audit()[0].reason


def test_an_open_circuit_is_not_called(edge4, nef, network):
    stand_in = nef("error")
    config = NEFConfiguration.objects.get()
    config.breaker_threshold = 2
    config.save()
    for _ in range(3):
        edge4(ue_request())
    assert len(stand_in.subscriptions) == 2
    assert breaker.state(config) == breaker.OPEN
    assert nef_audit()[-1].reason == "circuit open: not called"


# --- the GPSI goes to the NEF only ----------------------------------------------------------


def test_the_gpsi_is_in_no_log_and_no_audit_row(edge4, nef, network, caplog):
    nef("garbage")
    caplog.set_level(logging.DEBUG)
    edge4(ue_request())
    configure_nef(nef("answer", serving=VISITED).url)
    edge4(ue_request(eecId="eec-test-2"))
    assert MSISDN not in caplog.text
    rows = nef_audit()
    assert len(rows) == 2
    for row in rows:
        text = json.dumps([row.query, row.reason, row.partner_label])
        assert MSISDN not in text
        assert row.query["ue"] == ue_hash(GPSI)
    outbound = RetrievalAudit.objects.filter(direction=RetrievalAudit.OUTBOUND)
    assert all(MSISDN not in json.dumps(r.query) for r in outbound)


# --- the nef section of the configuration file ---------------------------------------------


def test_the_nef_section_is_applied_exported_and_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("NEF_SECRET", "s3cret")
    section = {
        "apiRoot": "https://nef.home.example",
        "afId": AF_ID,
        "tokenUrl": "https://nef.home.example/token",
        "clientId": CLIENT_ID,
        "clientSecret": "env:NEF_SECRET",
        "timeout": 0.8,
        "cacheSeconds": 120,
    }
    apply_config(write_config(tmp_path, {"nef": section}))
    config = NEFConfiguration.objects.get()
    assert (config.api_root, config.af_id, config.timeout, config.cache_seconds) == (
        "https://nef.home.example",
        AF_ID,
        0.8,
        120,
    )
    assert config.credential().client_secret == "s3cret"
    assert "clientSecret: env:NEF_SECRET" in export_config()
    apply_config(write_config(tmp_path, {"nef": None}, "remove.yaml"))
    assert not NEFConfiguration.objects.exists()


def test_a_literal_secret_is_not_exported(tmp_path):
    section = {
        "apiRoot": "https://nef.home.example",
        "afId": AF_ID,
        "tokenUrl": "https://nef.home.example/token",
        "clientId": CLIENT_ID,
        "clientSecret": "lit",
    }
    apply_config(write_config(tmp_path, {"nef": section}))
    exported = export_config()
    assert "afId: ecs-home" in exported
    assert "lit" not in exported.split("nef:")[1]


def test_a_wrong_nef_section_is_refused_naming_the_key(tmp_path):
    message = refused_by_apply(
        tmp_path,
        {
            "nef": {
                "apiRoot": "ftp://nef.home.example",
                "afId": AF_ID,
                "tokenUrl": "https://nef.home.example/token",
                "timeout": 120,
                "colour": "blue",
            }
        },
    )
    for key in ("nef.apiRoot", "nef.clientId", "nef.timeout", "nef.colour: unknown key"):
        assert key in message
    assert not NEFConfiguration.objects.exists()
