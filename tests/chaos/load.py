"""Mixed EDGE-4, EDGE-6 and EDGE-10 traffic for the chaos tests, and the books it keeps.

A few threads send what EECs, EESs and a partner ECS send: EDGE-4 service provisioning for
varying cells and applications (at home, roaming -- which makes home ask its partner over
EDGE-10 -- and at the partner for a UE roaming in home's network, which makes the partner
ask home), EDGE-10 requests straight from the partner's credential, T-EES discovery, EES
registrations that come, change and go, and EEC subscriptions whose notifications go to a
receiver on loopback.  Every answer is recorded with its timing, and every write that was
acknowledged (2xx) is remembered, so that the test can check afterwards that it is there.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

HOME = {"mcc": "001", "mnc": "01"}
VISITED = {"mcc": "002", "mnc": "02"}
DNN = "edge.chaos"
APP_STATIC = "app.static"  # served by the configured EESs: every EDGE-4 request matches locally
SUB_APPS = [f"app.sub.{i}" for i in range(4)]  # served by registered EESs; subscribed to
STATIC_EESS = ["ees-static-1", "ees-static-2"]
HOME_ID = "ecs.chaos.home"
PARTNER_ID = "ecs.chaos.visited"
HOME_TO_PARTNER = "chaos-home-to-visited-" + uuid.uuid4().hex
PARTNER_TO_HOME = "chaos-visited-to-home-" + uuid.uuid4().hex

EDGE4 = "/eecs-serviceprovisioning/v1/request"
SUBSCRIPTIONS = "/eecs-serviceprovisioning/v1/subscriptions"
REGISTRATIONS = "/eecs-eesregistration/v1/registrations"
DISCOVERY = "/eecs-targeteesdiscovery/v1/ees-profiles"
EDGE10 = "/eecs-ecsserviceprovisioning/v1/request"
MERGE_PATCH = "application/merge-patch+json"

DEADLINE = 10.0  # seconds: an answer later than this is a hung request
MAX_SUBSCRIPTIONS = 32  # each registration change notifies every subscription of its app
# At most one new subscription this often, so that they are made all through the run (during
# each fault too), not all in its first seconds.
SUBSCRIBE_EVERY_SECONDS = 1.5
THINK_SECONDS = 0.02  # between two requests of one thread: 2 shared cores


# --- configuration -------------------------------------------------------------------------------


def tai(tac: int, plmn: dict[str, str]) -> dict[str, Any]:
    return {"plmnId": dict(plmn), "tac": f"{tac:04X}"}


def ees(ees_id: str, eas_ids: list[str]) -> dict[str, Any]:
    return {
        "eesId": ees_id,
        "endPt": {"uri": f"https://{ees_id}.example"},
        "easIds": eas_ids,
        "eecRegConf": False,
    }


def home_config(partner_url: str) -> dict[str, Any]:
    """Home: one EDN over TACs 1-8 of both networks, its partner the visited ECS."""
    tais = [tai(n, plmn) for plmn in (HOME, VISITED) for n in range(1, 9)]
    return {
        "ecs": {"id": HOME_ID, "ecsp": "home-op", "homePlmns": [HOME], "provisioningLifetime": 600},
        "edns": [
            {
                "id": "edn-chaos",
                "ednConInfo": {
                    "dnn": DNN,
                    "snssai": {"sst": 1},
                    "ednTopoSrvArea": {"nwAreaInfo": {"tais": tais}},
                },
                "plmns": [HOME, VISITED],
                "eess": [ees(e, [APP_STATIC]) for e in STATIC_EESS],
            }
        ],
        "partners": [
            {
                "id": PARTNER_ID,
                "ecsp": "visited-op",
                "apiRoot": partner_url,
                "plmns": [VISITED],
                "consult": "roaming_only",
                "outboundToken": HOME_TO_PARTNER,
                "inboundToken": PARTNER_TO_HOME,
                "defaultLifetime": 3,
                "maxLifetime": 30,
                "timeout": 2,
            }
        ],
        "policies": [{"partner": PARTNER_ID, "easIds": ["*"]}],
    }


def partner_config(home_url: str) -> dict[str, Any]:
    """The visited ECS: an EDN of its own, home as its partner for UEs roaming in 001-01."""
    return {
        "ecs": {
            "id": PARTNER_ID,
            "ecsp": "visited-op",
            "homePlmns": [VISITED],
            "provisioningLifetime": 600,
        },
        "edns": [
            {
                "id": "edn-visited",
                "ednConInfo": {"dnn": "edge.visited", "snssai": {"sst": 1}},
                # It serves visitors from home too: the partner always has an answer of its
                # own, so its answers to us do not depend on home's health (its calls to
                # home still do, and home's access log shows how home answered them).
                "plmns": [VISITED, HOME],
                "eess": [ees("ees-visited-1", [APP_STATIC])],
            }
        ],
        "partners": [
            {
                "id": HOME_ID,
                "ecsp": "home-op",
                "apiRoot": home_url,
                "plmns": [HOME],
                "consult": "roaming_only",
                "outboundToken": PARTNER_TO_HOME,
                "inboundToken": HOME_TO_PARTNER,
                "timeout": 2,
            }
        ],
        # Short lifetimes: home's cached answers lapse often, so home keeps asking.
        "policies": [{"partner": HOME_ID, "easIds": ["*"], "lifetime": 3}],
    }


# --- records -----------------------------------------------------------------------------------


@dataclass
class Record:
    """One request and what came back (``status`` 0: no answer; ``error`` says why)."""

    kind: str
    method: str
    url: str
    request_id: str
    started: float  # time.monotonic()
    ended: float = 0.0
    status: int = 0
    error: str = ""
    content_type: str = ""
    retry_after: str | None = None
    excerpt: str = ""
    wrong: str = ""  # a 2xx whose content is not what it must be

    @property
    def elapsed(self) -> float:
        return self.ended - self.started

    def line(self, origin: float) -> str:
        what = self.error or f"{self.status} {self.content_type}"
        extra = f" Retry-After={self.retry_after}" if self.retry_after else ""
        wrong = f" WRONG: {self.wrong}" if self.wrong else ""
        return (
            f"t={self.started - origin:6.2f}s {self.elapsed:5.2f}s {self.kind:<18} "
            f"{self.method} {urlsplit(self.url).path} -> {what}{extra}{wrong} "
            f"rid={self.request_id} {self.excerpt[:200]!r}"
        )


@dataclass
class Registration:
    """An EES registration as its EES knows it: ``state`` present, deleted, or unknown
    (a write whose answer never came or was no 2xx: it may or may not have happened)."""

    ees_id: str
    app: str
    path: str
    endpoint: str | None  # the last acknowledged endpoint; None once a change is in doubt
    state: str = "present"


@dataclass
class Subscription:
    location: str
    sub_id: str
    app: str
    eec_id: str


@dataclass
class _Thread:
    rng: random.Random
    session: requests.Session
    registrations: list[Registration] = field(default_factory=list)


class Load:
    """``threads`` threads of mixed traffic from ``start`` until ``stop``."""

    def __init__(
        self, home_url: str, partner_url: str, receiver_url: str, threads: int = 5
    ) -> None:
        self.home = home_url
        self.partner = partner_url
        self.receiver_url = receiver_url
        self.threads = threads
        self.records: list[Record] = []
        self.registrations: list[Registration] = []
        self.subscriptions: list[Subscription] = []
        self.unknown_subscriptions: int = 0
        self._subscriptions_tried = 0
        self._last_subscribe = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self.origin = time.monotonic()
        self._ops: list[tuple[float, Callable[[_Thread], None]]] = [
            (30, self._edge4_local),
            (10, self._edge4_roaming),
            (5, self._edge4_at_partner),
            (10, self._edge10),
            (5, self._discovery),
            (30, self._registration),
            (10, self._subscription),
        ]

    # running ------------------------------------------------------------------------------------

    def start(self) -> None:
        self.origin = time.monotonic()
        for n in range(self.threads):
            worker = threading.Thread(target=self._run, args=(n,), name=f"chaos-load-{n}")
            worker.start()
            self._workers.append(worker)
        monitor = threading.Thread(target=self._watch_health, name="chaos-healthz")
        monitor.start()
        self._workers.append(monitor)

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=3 * DEADLINE)

    def smoke(self) -> None:
        """One request of each kind that writes nothing (the harness's own check)."""
        state = _Thread(random.Random(0), requests.Session())
        with state.session:
            for op in (self._edge4_local, self._edge4_roaming, self._edge4_at_partner):
                op(state)
            self._edge10(state)
            self._discovery(state)

    def _run(self, seed: int) -> None:
        state = _Thread(random.Random(seed), requests.Session())
        weights = [w for w, _ in self._ops]
        with state.session:
            while not self._stop.is_set():
                [op] = state.rng.choices([op for _, op in self._ops], weights)
                op(state)
                time.sleep(THINK_SECONDS)
        with self._lock:
            self.registrations.extend(state.registrations)

    def _watch_health(self) -> None:
        with requests.Session() as session:
            while not self._stop.is_set():
                self.send(session, "healthz", "GET", self.home + "/healthz")
                self._stop.wait(0.5)

    def send(
        self,
        session: requests.Session,
        kind: str,
        method: str,
        url: str,
        body: Any = None,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> tuple[Record, requests.Response | None]:
        """One request, recorded; the response, or None when none came in time."""
        request_id = f"chaos-{uuid.uuid4().hex[:16]}"
        all_headers = {"X-Request-ID": request_id, **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body)
            all_headers["Content-Type"] = content_type
        record = Record(kind, method, url, request_id, time.monotonic())
        response = None
        try:
            response = session.request(
                method,
                url,
                data=data,
                headers=all_headers,
                params=params,
                timeout=(DEADLINE, DEADLINE),
                allow_redirects=False,
            )
            record.status = response.status_code
            record.content_type = response.headers.get("Content-Type", "")
            record.retry_after = response.headers.get("Retry-After")
            if not 200 <= response.status_code < 300:
                record.excerpt = response.text[:300]
        except requests.RequestException as exc:
            record.error = f"{type(exc).__name__}: {str(exc)[:200]}"
        record.ended = time.monotonic()
        with self._lock:
            self.records.append(record)
        return record, response

    # the operations -------------------------------------------------------------------------------

    def _location(self, rng: random.Random, plmn: dict[str, str]) -> dict[str, Any]:
        cell = f"{rng.randrange(1, 2**36):09X}"
        nr = {"tai": tai(rng.randrange(1, 9), plmn), "ncgi": {"plmnId": plmn, "nrCellId": cell}}
        return {"userLocation": {"nrLocation": nr}}

    def _eass(self, rng: random.Random) -> list[dict[str, str]]:
        apps = [APP_STATIC, *rng.sample(SUB_APPS, rng.randrange(0, 3))]
        return [{"easId": a} for a in apps]

    def _check_static(self, record: Record, response: requests.Response | None) -> None:
        """A 200 EDGE-4/EDGE-10 answer must list home's configured EESs."""
        if response is None or response.status_code != 200:
            return
        try:
            found = ees_ids(response.json())
        except ValueError:
            record.wrong = "not JSON"
            return
        if not set(STATIC_EESS) <= set(found):
            record.wrong = f"EESs {found}, expected {STATIC_EESS} among them"

    def _edge4_local(self, t: _Thread) -> None:
        body = {
            "eecId": f"eec-chaos-{t.rng.randrange(1000)}",
            "acProfs": [{"acId": "ac-1", "eass": self._eass(t.rng)}],
            "locInf": self._location(t.rng, HOME),
        }
        record, response = self.send(t.session, "edge4-local", "POST", self.home + EDGE4, body)
        self._check_static(record, response)

    def _edge4_roaming(self, t: _Thread) -> None:
        body = {
            "eecId": f"eec-roamer-{t.rng.randrange(1000)}",
            "acProfs": [{"acId": "ac-1", "eass": [{"easId": APP_STATIC}]}],
            "connInfo": [{"plmnId": VISITED}],
            "locInf": self._location(t.rng, VISITED),
        }
        record, response = self.send(t.session, "edge4-roaming", "POST", self.home + EDGE4, body)
        self._check_static(record, response)

    def _edge4_at_partner(self, t: _Thread) -> None:
        # A UE roaming in home's network asks the visited ECS, which asks home over EDGE-10.
        body = {
            "eecId": f"eec-visitor-{t.rng.randrange(1000)}",
            "acProfs": [{"acId": "ac-1", "eass": [{"easId": APP_STATIC}]}],
            "connInfo": [{"plmnId": HOME}],
            "locInf": self._location(t.rng, HOME),
        }
        self.send(t.session, "partner-edge4", "POST", self.partner + EDGE4, body)

    def _edge10(self, t: _Thread) -> None:
        body = {
            "reqEcsId": PARTNER_ID,
            "servingPlmn": HOME,
            "acProfs": [{"acId": "ac-1", "eass": self._eass(t.rng)}],
        }
        headers = {"Authorization": f"Bearer {PARTNER_TO_HOME}"}
        record, response = self.send(
            t.session, "edge10-inbound", "POST", self.home + EDGE10, body, headers=headers
        )
        self._check_static(record, response)

    def _discovery(self, t: _Thread) -> None:
        area = json.dumps({"nwAreaInfo": {"tais": [tai(t.rng.randrange(1, 9), HOME)]}})
        params = {"ees-id": STATIC_EESS[0], "eas-id": APP_STATIC, "ue-location": area}
        self.send(t.session, "edge6-discovery", "GET", self.home + DISCOVERY, params=params)

    def _registration(self, t: _Thread) -> None:
        live = [r for r in t.registrations if r.state == "present"]
        if len(live) < 3 or t.rng.random() < 0.3:
            self._register(t)
            return
        registration = t.rng.choice(live)
        roll = t.rng.random()
        if roll < 0.4:
            self._read_registration(t, registration)
        elif roll < 0.75:
            self._move_registration(t, registration)
        else:
            self._deregister(t, registration)

    def _register(self, t: _Thread) -> None:
        ees_id = f"ees-chaos-{uuid.uuid4().hex[:12]}"
        app = t.rng.choice(SUB_APPS)
        endpoint = f"https://{ees_id}.example/v1"
        body = registration_body(ees_id, app, endpoint)
        record, response = self.send(
            t.session, "edge6-register", "POST", self.home + REGISTRATIONS, body
        )
        if response is not None and response.status_code == 201:
            path = urlsplit(response.headers.get("Location", "")).path
            if not path.startswith(REGISTRATIONS + "/"):
                record.wrong = f"Location {response.headers.get('Location')!r}"
                return
            t.registrations.append(Registration(ees_id, app, path, endpoint))
        else:
            # It may have been written before the answer was lost: its EES id stays in doubt.
            t.registrations.append(Registration(ees_id, app, "", None, state="unknown"))

    def _read_registration(self, t: _Thread, registration: Registration) -> None:
        record, response = self.send(t.session, "edge6-read", "GET", self.home + registration.path)
        if response is not None and response.status_code == 200:
            record.wrong = registration_mismatch(registration, response)

    def _move_registration(self, t: _Thread, registration: Registration) -> None:
        endpoint = f"https://{registration.ees_id}.example/v{t.rng.randrange(2, 10**6)}"
        body = {
            "eesProf": registration_body(registration.ees_id, registration.app, endpoint)["eesProf"]
        }
        record, response = self.send(
            t.session, "edge6-update", "PATCH", self.home + registration.path, body, MERGE_PATCH
        )
        if response is not None and response.status_code == 200:
            registration.endpoint = endpoint
            record.wrong = registration_mismatch(registration, response)
        else:
            registration.endpoint = None

    def _deregister(self, t: _Thread, registration: Registration) -> None:
        _, response = self.send(
            t.session, "edge6-deregister", "DELETE", self.home + registration.path
        )
        registration.state = (
            "deleted" if response is not None and response.status_code == 204 else "unknown"
        )

    def _subscription(self, t: _Thread) -> None:
        now = time.monotonic()
        with self._lock:
            number = None
            if (
                self._subscriptions_tried < MAX_SUBSCRIPTIONS
                and now - self._last_subscribe >= SUBSCRIBE_EVERY_SECONDS
            ):
                number = self._subscriptions_tried
                self._subscriptions_tried += 1
                self._last_subscribe = now
        if number is None:
            self._edge4_local(t)
            return
        app = SUB_APPS[number % len(SUB_APPS)]
        eec_id = f"eec-subscriber-{number}"
        body = subscription_body(self.receiver_url, app, eec_id)
        record, response = self.send(
            t.session, "edge4-subscribe", "POST", self.home + SUBSCRIPTIONS, body
        )
        if response is not None and response.status_code == 201:
            location = response.headers.get("Location", "")
            sub_id = urlsplit(location).path.rsplit("/", 1)[-1]
            if not urlsplit(location).path.startswith(SUBSCRIPTIONS + "/"):
                record.wrong = f"Location {location!r}"
                return
            with self._lock:
                self.subscriptions.append(Subscription(location, sub_id, app, eec_id))
        else:
            with self._lock:
                self.unknown_subscriptions += 1


# --- bodies and answers ------------------------------------------------------------------------


def registration_body(ees_id: str, app: str, endpoint: str) -> dict[str, Any]:
    return {
        "eesProf": {
            "eesId": ees_id,
            "endPt": {"uri": endpoint},
            "easIds": [app],
            "eecRegConf": False,
            "ednInfoSets": {"dnn": DNN},
        }
    }


def registration_mismatch(registration: Registration, response: requests.Response) -> str:
    """What in a registration's answer differs from the last acknowledged write ('': none)."""
    try:
        profile = response.json()["eesProf"]
    except (ValueError, KeyError, TypeError):
        return "no eesProf in the answer"
    if profile.get("eesId") != registration.ees_id:
        return f"eesId {profile.get('eesId')!r}, expected {registration.ees_id!r}"
    if registration.endpoint is not None and profile.get("endPt") != {"uri": registration.endpoint}:
        return f"endPt {profile.get('endPt')!r}, expected {registration.endpoint!r}"
    return ""


def subscription_body(destination: str, app: str, eec_id: str) -> dict[str, Any]:
    return {
        "eecId": eec_id,
        "notificationDestination": destination,
        "acProfs": [{"acId": "ac-1", "eass": [{"easId": app}]}],
        "requestTestNotification": True,
    }


def ees_ids(answer: dict[str, Any]) -> list[str]:
    """The EES ids of an ECSServProvResp or ServProvNotification, in order."""
    return [e["eesId"] for cfg in answer.get("ednCnfgInfo", []) for e in cfg.get("eess", [])]
