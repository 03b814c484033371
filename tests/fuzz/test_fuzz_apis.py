"""Fuzzing every API we serve with schemathesis, in-process, against a small inventory.

The three 3GPP files (EDGE-4 service provisioning and subscriptions, EDGE-6 EES registration
and T-EES discovery) and our EDGE-10 file (requests, subscriptions, and the notifications a
partner sends us, declared there as a callback) drive the generation: schema-valid and
invalid bodies, parameters and headers.  Whatever is sent, the portal must never answer 5xx,
every error must be a ``ProblemDetails`` served as ``application/problem+json``, and every
answer must be one the operation declares, with a body that validates against its schema.

So that cases get past the first check that refuses them, half of them (decided by the
generated data, so runs stay reproducible) address a live registration or subscription
instead of an unknown id, and carry what our rules want beyond the schema: the partner's
own reqEcsId, a callback URL, the EDN of a registration, an expiry in the future.

Bounded for CI: ``ECS_FUZZ_EXAMPLES`` cases per operation (default 30) in schemathesis'
fuzzing phase, derandomized (``ECS_FUZZ_RANDOM=1`` draws new cases).  Its coverage phase is
off: it enumerates every boundary of every member of 3GPP's bodies, thousands of cases per
operation.  ``test_hostile_requests`` sends what that phase would have added at the HTTP
level (bodies that are not JSON or hold NUL characters, other media types, methods the API
lacks).  The figures are printed at the end of the run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from django.core.handlers.wsgi import WSGIHandler
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, settings

from partners.eecs_ecsserviceprovisioning import wire as edge10
from partners.models import PartnerECS, ProvisioningCacheEntry
from tests import openapi
from tests.builders import (
    REGISTRATIONS,
    SUBSCRIPTIONS,
    area,
    circle,
    configure_ecs,
    ees_profile,
    ees_registration,
    in_seconds,
    make_edn,
    make_ees,
    make_partner,
    make_policy,
    ncgi,
    plmn,
    polygon,
    send_json,
    serv_prov_subscription,
    tai,
)
from tests.fuzz import in_this_transaction
from tests.openapi import SHARED_OPENAPI, assert_conforms, assert_valid

#: Cases per operation in the fuzzing phase (raise ECS_FUZZ_EXAMPLES for a longer run).
MAX_EXAMPLES = int(os.environ.get("ECS_FUZZ_EXAMPLES", "30"))
#: ECS_FUZZ_RANDOM=1: new cases on every run instead of the same derandomized ones.
RANDOM = os.environ.get("ECS_FUZZ_RANDOM") == "1"

PARTNER_ID = "ecs.partner.fuzz"
PARTNER_TOKEN = "fuzz-partner-token-0123456789abcdefghijklmnopqrstuv"
PARTNER_AUTH = {"Authorization": f"Bearer {PARTNER_TOKEN}"}
LIVE_EES_ID = "ees.registered.fuzz"
LIVE_EEC_ID = "eec-fuzz-1"
LIVE_PARTNER_SUBSCRIPTION = "sub-at-partner-fuzz"
CALLBACK = "http://127.0.0.1:9/callbacks"

FILES = {
    "edge4": "TS24558_Eecs_ServiceProvisioning.yaml",
    "registration": "TS29558_Eecs_EESRegistration.yaml",
    "discovery": "TS29558_Eecs_TargetEESDiscovery.yaml",
    "edge10": edge10.OPENAPI_FILE,
}
PATHS: dict[str, Any] = {
    "edge4": SHARED_OPENAPI / FILES["edge4"],
    "registration": SHARED_OPENAPI / FILES["registration"],
    "discovery": SHARED_OPENAPI / FILES["discovery"],
    "edge10": edge10.OPENAPI_PATH,
}


def _load(source: Path | dict[str, Any], name: str) -> schemathesis.BaseSchema:
    if isinstance(source, dict):
        schema = schemathesis.openapi.from_dict(source)
    else:
        with open(source, encoding="utf-8") as fh:
            schema = schemathesis.openapi.from_file(fh.read())
    # Relative $refs (3GPP's common data files, also those of our EDGE-10 file) resolve in
    # 3GPP's folder.  The files' servers ("{apiRoot}/<apiName>/v1") give our routes' paths.
    schema.location = (SHARED_OPENAPI / name).as_uri()
    schema.app = WSGIHandler()
    schema.config.phases.coverage.enabled = False
    schema.config.generation.update(
        max_examples=MAX_EXAMPLES,
        database="none",
        deterministic=not RANDOM,
        with_security_parameters=False,
        # Both are refused up front (400): test_hostile_requests sends them; the fuzzer's
        # cases get further without them.
        allow_x00=False,
        allow_extra_parameters=False,
    )
    return schema


def _edge10_callback() -> tuple[dict[str, Any], dict[str, Any]]:
    """Our EDGE-10 file declares the notifications a partner sends us only as the callback
    of its subscriptions; we serve them at {apiRoot}/eecs-ecsserviceprovisioning/v1/
    notifications.  A copy of the file with that callback as an operation at /notifications
    lets schemathesis fuzz it."""
    with open(edge10.OPENAPI_PATH, encoding="utf-8") as fh:
        document = yaml.safe_load(fh)
    (callback,) = [
        expression["post"]
        for path in document["paths"].values()
        for operation in path.values()
        if isinstance(operation, dict)
        for expression in (operation.get("callbacks") or {})
        .get("ServProvNotification", {})
        .values()
    ]
    notify_path = edge10.NOTIFICATIONS_PATH.rsplit("/", 1)[1]
    return {**document, "paths": {f"/{notify_path}": {"post": callback}}}, callback


NOTIFY_DOCUMENT, NOTIFY_OPERATION = _edge10_callback()


def _json_query_parameters(path: Path) -> dict[str, Any]:
    """3GPP's T-EES discovery file with its structured query parameters (a LocationArea5G,
    an EECSrvContinuitySupport) JSON-encoded, as TS 29.501 has them sent and we read them;
    the file names only their schema, which by OpenAPI's defaults spreads an object's
    members over the query string."""
    with open(path, encoding="utf-8") as fh:
        document = yaml.safe_load(fh)
    for operation in document["paths"]["/ees-profiles"].values():
        for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
            if parameter["name"] in ("ue-location", "eec-srv-cont-supp"):
                parameter["content"] = {"application/json": {"schema": parameter.pop("schema")}}
    return document


PATHS["discovery"] = _json_query_parameters(PATHS["discovery"])
APIS = {api: _load(PATHS[api], FILES[api]) for api in FILES}
APIS["edge10-notify"] = _load(NOTIFY_DOCUMENT, FILES["edge10"])
API_OF_BASE_PATH = {APIS[api].declared_base_path(): api for api in FILES}

CASES: Counter[str] = Counter()
PROBES: Counter[str] = Counter()


# --- the inventory ----------------------------------------------------------------------------


@pytest.fixture
def inventory(db, monkeypatch):
    """An ECS with two EDNs and three EESs, a partner allowed to ask anything, and the live
    resources the operations on individual resources act on (made on first use)."""
    # Subscriptions name callback URLs: accept any, and never resolve fuzzed host names.
    monkeypatch.setenv("ECS_ALLOW_PRIVATE_CALLBACKS", "1")
    configure_ecs()
    city = make_edn(
        "edn-city", "edge.example", area_=area(tais=[tai("0101")], geo=[circle(48.1, 11.5, 2000)])
    )
    make_ees(city, "ees.city.1", eas_ids=("app.one", "app.two"), ecsp="ecsp.one")
    make_ees(city, "ees.city.2", eas_ids=("app.two",), area_=area(ncgis=[ncgi("000000001")]))
    rural = make_edn("edn-rural", "rural.example", sst=2, plmns=[plmn("001", "02")])
    make_ees(
        rural,
        "ees.rural.1",
        eas_ids=("app.one",),
        area_=area(geo=[polygon((48.0, 11.0), (48.0, 12.0), (49.0, 12.0))]),
        acr=("EEC_INITIATED",),
    )
    # Never consulted (roaming only, no PLMNs): the fuzzer talks to us, we talk to nobody.
    partner = make_partner(PARTNER_ID, inbound_token=PARTNER_TOKEN, consult="roaming_only")
    make_policy(partner)
    return {"client": Client(), "live": {}}


def _created_id(response) -> str:
    assert response.status_code == 201, response.content
    return response["Location"].rstrip("/").rsplit("/", 1)[1]


def _new_registration(client: Client) -> str:
    profile = ees_profile(LIVE_EES_ID, dnn="edge.example", tais=[tai("0101")])
    return _created_id(send_json(client, "POST", REGISTRATIONS, ees_registration(profile)))


def _new_eec_subscription(client: Client) -> str:
    body = serv_prov_subscription(CALLBACK, eec_id=LIVE_EEC_ID)
    return _created_id(send_json(client, "POST", SUBSCRIPTIONS, body))


def _new_partner_subscription(client: Client) -> str:
    body = {"reqEcsId": PARTNER_ID, "notificationDestination": CALLBACK}
    path = edge10.REQUEST_PATH.rsplit("/", 1)[0] + "/subscriptions"
    response = client.post(
        path,
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=PARTNER_AUTH["Authorization"],
    )
    return _created_id(response)


#: (API, path parameter) -> how to make the live resource it names.
LIVE: dict[tuple[str, str], Callable[[Client], str]] = {
    ("registration", "registrationId"): _new_registration,
    ("edge4", "subscriptionId"): _new_eec_subscription,
    ("edge10", "subscriptionId"): _new_partner_subscription,
}


def _aim_at_live_resource(api: str, case: schemathesis.Case, resources: dict) -> str | None:
    """Half the cases on an individual resource address the live one, the others an unknown
    id."""
    for name, value in (case.path_parameters or {}).items():
        make = LIVE.get((api, name))
        if make is not None and _coin(value):
            live = resources["live"]
            if (api, name) not in live:
                live[(api, name)] = make(resources["client"])
            case.path_parameters[name] = live[(api, name)]
            return name
    return None


def _coin(value: Any) -> bool:
    """Heads or tails, decided by the generated data itself (so runs stay reproducible)."""
    return zlib.crc32(json.dumps(value, sort_keys=True, default=str).encode()) % 2 == 0


def _steer(api: str, case: schemathesis.Case, live_param: str | None) -> None:
    """Half the bodies get what our business rules want beyond the schema (the partner's own
    reqEcsId, a callback URL, the EDN of a registration, an expiry in the future), so that
    the fuzzer's cases reach past those checks; on the live resource, the ids that must
    not change stay."""
    body = case.body
    if not isinstance(body, dict) or not _coin(body):
        return
    path = case.operation.path
    subscription = "/subscriptions" in path
    if subscription or "/registrations" in path:
        body["expTime"] = in_seconds(3600)
    if subscription:
        body["notificationDestination"] = CALLBACK
        body.pop("eecTriggerRequest", None)
    if api == "edge10" and ("reqEcsId" in body or case.method != "PATCH"):
        body["reqEcsId"] = PARTNER_ID
    if api == "edge4" and subscription and live_param and ("eecId" in body or "ueId" in body):
        body["eecId"] = LIVE_EEC_ID
        body.pop("ueId", None)
    if api == "registration" and isinstance(body.get("eesProf"), dict):
        body["eesProf"]["ednInfoSets"] = {"dnn": "edge.example"}
        if live_param:
            body["eesProf"]["eesId"] = LIVE_EES_ID


def _aim_at_live_partner_subscription(case: schemathesis.Case) -> None:
    """Half the notifications are for our live subscription at the partner (an answer of
    the partner's that we cache under it: what its notifications replace), the others for
    an unknown one."""
    if isinstance(case.body, dict) and _coin(case.body):
        case.body["subId"] = LIVE_PARTNER_SUBSCRIPTION
        # A notified answer that may not be cached (a lifetime already past) removes it.
        ProvisioningCacheEntry.objects.get_or_create(
            partner=PartnerECS.objects.get(partner_id=PARTNER_ID),
            key="0" * 64,
            defaults={
                "query": {},
                "answer": [],
                "expires_at": timezone.now() + dt.timedelta(hours=1),
                "partner_subscription_id": LIVE_PARTNER_SUBSCRIPTION,
            },
        )


def _steer_query(case: schemathesis.Case) -> None:
    """Half the T-EES discoveries are for an application our EESs serve."""
    if isinstance(case.query, dict) and _coin(case.query):
        case.query["eas-id"] = "app.one"


def _assert_conforms_to(answer: _Answer, file_name: str, operation: dict[str, Any]) -> None:
    """tests.openapi.assert_conforms for an operation given as such (a callback)."""
    status = str(answer.status_code)
    declared = operation["responses"].get(status) or operation["responses"].get("default")
    assert declared is not None, f"status {status} is not declared"
    declared, where = openapi._resolve(declared, file_name)
    content = declared.get("content") or {}
    if not content:
        assert not answer.content, f"status {status} must have no body"
        return
    media_type = answer["Content-Type"].split(";")[0].strip()
    assert media_type in content, f"{media_type} is not declared for {status}"
    schema = {**content[media_type]["schema"], "components": openapi.document(where)["components"]}
    errors = list(openapi._validator(schema, where).iter_errors(json.loads(answer.content)))
    assert not errors, f"{status} body does not conform: {errors[:3]}"


class _Answer:
    """A schemathesis response as tests.openapi.assert_conforms reads Django's."""

    def __init__(self, response: schemathesis.Response) -> None:
        self.status_code = response.status_code
        self.content = response.content
        self.headers = {k.lower(): v[0] for k, v in response.headers.items()}

    def __getitem__(self, name: str) -> str:
        return self.headers[name.lower()]

    def get(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


def _assert_safe(where: str, response) -> None:
    """No 5xx; every error a ProblemDetails served as application/problem+json."""
    status, content = response.status_code, response.content
    content_type = response.get("Content-Type", "")
    assert status < 500, f"{where} -> {status}: {content[:2000]!r}"
    if status >= 400:
        assert content_type.split(";")[0].strip() == "application/problem+json", (
            f"{where} -> {status} served as {content_type!r}: {content[:500]!r}"
        )
        assert_valid(json.loads(content), "TS29122_CommonData.yaml", "ProblemDetails")


# --- schemathesis -----------------------------------------------------------------------------


@schemathesis.pytest.parametrize(**APIS)
# One inventory serves all the cases of an operation (it is made again for the next one).
@settings(suppress_health_check=list(HealthCheck), deadline=None)
def test_fuzz(case: schemathesis.Case, inventory: dict) -> None:
    api = API_OF_BASE_PATH[case.operation.schema.declared_base_path()]
    # The notifications share EDGE-10's base path; their operation is the callback.
    notify = api == "edge10" and case.operation.path not in APIS["edge10"].raw_schema["paths"]
    live_param = _aim_at_live_resource(api, case, inventory)
    if notify:
        _aim_at_live_partner_subscription(case)
    elif case.method in ("POST", "PUT", "PATCH"):
        _steer(api, case, live_param)
    elif api == "discovery":
        _steer_query(case)
    with in_this_transaction():
        response = case.call(headers=PARTNER_AUTH if api == "edge10" else None)
    CASES["edge10-notify" if notify else api] += 1
    if live_param and (response.status_code == 404 or case.method == "DELETE"):
        inventory["live"].pop((api, live_param), None)  # gone (or expired): make a new one
    answer = _Answer(response)
    where = f"{api}: {case.method} {case.formatted_path}"
    _assert_safe(where, answer)
    if notify:
        _assert_conforms_to(answer, FILES[api], NOTIFY_OPERATION)
    else:
        assert_conforms(answer, FILES[api], case.operation.path, case.method)


# --- requests below the schema: media types, broken bodies, methods ---------------------------


def _operations() -> list[tuple[str, str, str]]:
    return [
        (api, result.ok().method.upper(), result.ok().path)
        for api, schema in APIS.items()
        for result in schema.get_all_operations()
    ]


HOSTILE_BODIES = [
    ("multipart/form-data", b'{"a": 1}'),  # no boundary
    ("multipart/form-data; boundary=xyz", b"--xyz\r\nContent-Disposition: form-data"),
    ("application/x-www-form-urlencoded", b"a=1&" * 2000),
    ("text/plain", b"hello"),
    ("application/json", b'{"eecId": "\xff\xfe"}'),  # not UTF-8
    ("application/json", b'{"a": NaN}'),
    ("application/json", b"[" * 5000 + b"]" * 5000),
    ("application/json; charset=latin-1", b"{}"),
    ("application/json", b'{"eecId": "eec\\u0000-1", "reqEcsId": "a\\u0000"}'),  # NUL
    ("application/json", b'{"eecId": "eec-1", "a\\u0000b": 1}'),  # NUL in a member name
]


@pytest.mark.parametrize(("api", "method", "path"), _operations())
def test_hostile_requests(inventory: dict, api: str, method: str, path: str) -> None:
    """Bodies that are not JSON, in media types we do not take, with a Bearer token (which
    makes the authenticators look at the body), and methods the API does not have."""
    client: Client = inventory["client"]
    base = APIS[api].declared_base_path()
    concrete = base + path.replace("{registrationId}", "0").replace("{subscriptionId}", "0")
    auth = PARTNER_AUTH["Authorization"] if api == "edge10" else "Bearer not-a-known-token"
    for token in (auth, None):
        headers = {"HTTP_AUTHORIZATION": token} if token else {}
        sends = HOSTILE_BODIES if method in ("POST", "PUT", "PATCH") else [("", b"")]
        for content_type, body in sends:
            response = client.generic(method, concrete, body, content_type, **headers)
            PROBES[api] += 1
            where = f"{api}: {method} {concrete} ({content_type}, {'token' if token else 'none'})"
            _assert_safe(where, response)
        for other in ("TRACE", "PUT", "DELETE"):
            if other == method or other.lower() in APIS[api].raw_schema["paths"][path]:
                continue
            response = client.generic(other, concrete, b"{}", "application/json", **headers)
            PROBES[api] += 1
            where = f"{api}: {other} {concrete}"
            _assert_safe(where, response)
            # 405; credentials and the resource are checked first (401, 404).
            assert response.status_code in (401, 404, 405), where


# --- the figures ------------------------------------------------------------------------------


class _Figures:
    """Prints how many cases were sent, once, in pytest's terminal summary."""

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not CASES and not PROBES:
            return
        per_api = ", ".join(f"{api} {CASES[api]}" for api in APIS)
        terminalreporter.write_line(f"fuzz cases run: {sum(CASES.values())} ({per_api})")
        per_api = ", ".join(f"{api} {PROBES[api]}" for api in APIS)
        terminalreporter.write_line(f"hostile requests sent: {sum(PROBES.values())} ({per_api})")


@pytest.fixture(autouse=True)
def _report_figures(request):
    plugins = request.config.pluginmanager
    if not plugins.has_plugin("ecs-fuzz-figures"):
        plugins.register(_Figures(), "ecs-fuzz-figures")


def test_every_api_was_fuzzed() -> None:
    """Runs after the fuzz tests (file order): each operation of each API got its cases."""
    if not CASES:
        pytest.skip("the fuzz tests were not selected")
    for api, schema in APIS.items():
        operations = sum(1 for _ in schema.get_all_operations())
        assert CASES[api] >= operations * MAX_EXAMPLES // 2, f"{api}: only {CASES[api]} cases"
