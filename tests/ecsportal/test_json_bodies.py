"""JSON that is valid but that no database stores is a 400 naming the member, on every API.

``1e999`` and ``-1e999`` parse to infinity, Python's parser takes ``NaN`` and ``Infinity``,
and ``"\\ud800"`` is a lone UTF-16 surrogate: PostgreSQL refuses all of them in a ``json``
column (``DataError``, a 500 before this was fixed).  Every API parses its body in one place
(``ThreeGPPAPIView.validated_body``, and the T-EES discovery's JSON query parameters in its
wire module): each of these values is refused there with a ProblemDetails whose
``invalidParams`` is the JSON pointer of the member, and nothing is written.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.test import Client

from ecscore import jsontext, ratelimit
from notifications.models import DeliveryAttempt, Notification
from partners.models import (
    PartnerSubscription,
    PartnerSubscriptionKey,
    ProvisioningCacheEntry,
    RetrievalAudit,
)
from provisioning.models import (
    EDN,
    EES,
    EECSubscription,
    EECSubscriptionKey,
    EESApplication,
    InventoryChange,
)
from tests.builders import (
    DISCOVERY,
    DISCOVERY_FILE,
    EDGE4_FILE,
    EDGE4_REQUEST,
    EDGE10_REQUEST,
    MERGE_PATCH,
    REGISTRATION_FILE,
    REGISTRATIONS,
    SUBSCRIPTIONS,
    configure_ecs,
    edge4_request,
    ees_profile,
    ees_registration,
    make_edn,
    make_ees,
    make_partner,
    make_policy,
    serv_prov_subscription,
)
from tests.openapi import EDGE10_FILE, assert_conforms

pytestmark = pytest.mark.django_db

PARTNER_ID = "ecs.partner.example"
TOKEN = "partner-token-1f6c9a3e7b2d4058"
EDGE10_SUBS = "/eecs-ecsserviceprovisioning/v1/subscriptions"
EDGE10_NOTIFICATIONS = "/eecs-ecsserviceprovisioning/v1/notifications"
PUBLIC_CALLBACK = "http://93.184.216.34/cb"  # an address literal: accepted without DNS

MARKER = "@@unstorable@@"
# (JSON text of the value, where in it the bad value is, the reason invalidParams gives)
UNSTORABLE = {
    "1e999": ("1e999", "", jsontext.NOT_FINITE),
    "-1e999": ("-1e999", "", jsontext.NOT_FINITE),
    "1e400 in an array": ("[1, 1e400]", "/1", jsontext.NOT_FINITE),
    "NaN": ("NaN", "", jsontext.NOT_FINITE),
    "Infinity": ("Infinity", "", jsontext.NOT_FINITE),
    "-Infinity": ("-Infinity", "", jsontext.NOT_FINITE),
    "lone high surrogate": ('"\\ud800"', "", jsontext.LONE_SURROGATE),
    "lone low surrogate": ('"x\\udfffy"', "", jsontext.LONE_SURROGATE),
    "reversed pair": ('"\\udc00\\ud800"', "", jsontext.LONE_SURROGATE),
}
EXTENSION = ("vendorExt", "a/b~c")  # an extension member; its pointer needs RFC 6901 escapes
EXTENSION_POINTER = "/vendorExt/a~1b~0c"


@pytest.fixture(autouse=True)
def _fresh_rate_windows():
    ratelimit.reset_local()
    if settings.REDIS_URL:
        from django_redis import get_redis_connection

        connection = get_redis_connection("default")
        for key in connection.scan_iter(f"{settings.CACHE_KEY_PREFIX}:ratelimit:*"):
            connection.delete(key)
    yield
    ratelimit.reset_local()


@pytest.fixture
def ecs():
    """Our ECS with one EDN and EES for app.one, and a partner that may ask anything."""
    configure_ecs()
    make_ees(make_edn("edn-a", dnn="edge.example"), "ees-conf", eas_ids=["app.one"])
    partner = make_partner(PARTNER_ID, inbound_token=TOKEN)
    make_policy(partner)
    return partner


def with_value(body: dict[str, Any], path: tuple[str, ...], literal: str) -> str:
    """``body`` as JSON text with the raw JSON ``literal`` at ``path`` (created as needed)."""
    node = body
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = MARKER
    text = json.dumps(body)
    assert text.count(json.dumps(MARKER)) == 1
    return text.replace(json.dumps(MARKER), literal)


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every row a refused body could have written (audit rows of refusals are not here)."""
    models = [
        EDN,
        EES,
        EESApplication,
        EECSubscription,
        EECSubscriptionKey,
        InventoryChange,
        PartnerSubscription,
        PartnerSubscriptionKey,
        ProvisioningCacheEntry,
        Notification,
        DeliveryAttempt,
    ]
    return {m.__name__: list(m.objects.order_by("pk").values()) for m in models}


def assert_refused(response, pointer: str, reason: str) -> None:
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["cause"] in ("INVALID_MSG_FORMAT", "INVALID_QUERY_PARAM")
    assert problem["invalidParams"] == [{"param": pointer, "reason": reason}]


def partner_headers() -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}


# --- the operations --------------------------------------------------------------------------
#
# Each operation: (prepare, send).  ``prepare(client)`` creates what the operation works on
# and returns its path; ``send(client, path, raw)`` sends the raw body and checks the answer
# against the operation's OpenAPI definition; ``base()`` is the valid body the value goes into.


def _created(response) -> str:
    assert response.status_code == 201, response.content
    return response["Location"].removeprefix("http://testserver")


def _edge4_sub(client: Client) -> str:
    body = json.dumps(serv_prov_subscription(PUBLIC_CALLBACK))
    return _created(client.post(SUBSCRIPTIONS, body, content_type="application/json"))


def _registration(client: Client) -> str:
    body = json.dumps(ees_registration(ees_profile("ees-reg")))
    return _created(client.post(REGISTRATIONS, body, content_type="application/json"))


def _edge10_subsc() -> dict[str, Any]:
    return {
        "reqEcsId": PARTNER_ID,
        "notificationDestination": PUBLIC_CALLBACK,
        "acProfs": [{"acId": "ac-1", "eass": [{"easId": "app.one"}]}],
    }


def _edge10_sub(client: Client) -> str:
    body = json.dumps(_edge10_subsc())
    response = client.post(EDGE10_SUBS, body, content_type="application/json", **partner_headers())
    return _created(response)


def _sender(
    method: str,
    file: str,
    template: str | None,
    content_type: str = "application/json",
    **headers: str,
) -> Callable[[Client, str, str], Any]:
    def send(client: Client, path: str, raw: str):
        call = getattr(client, method.lower())
        response = call(path, raw, content_type=content_type, **headers)
        if template is not None:  # a callback (notifications) is not among the file's paths
            assert_conforms(response, file, template, method.lower())
        return response

    return send


OPERATIONS: dict[str, tuple[Callable[[Client], str], Callable, Callable[[], dict]]] = {
    "EDGE-4 request": (
        lambda client: EDGE4_REQUEST,
        _sender("POST", EDGE4_FILE, "/request"),
        lambda: edge4_request(eas_ids=["app.one"]),
    ),
    "EDGE-4 subscription create": (
        lambda client: SUBSCRIPTIONS,
        _sender("POST", EDGE4_FILE, "/subscriptions"),
        lambda: serv_prov_subscription(PUBLIC_CALLBACK),
    ),
    "EDGE-4 subscription replace": (
        _edge4_sub,
        _sender("PUT", EDGE4_FILE, "/subscriptions/{subscriptionId}"),
        lambda: serv_prov_subscription(PUBLIC_CALLBACK),
    ),
    "EDGE-4 subscription patch": (
        _edge4_sub,
        _sender("PATCH", EDGE4_FILE, "/subscriptions/{subscriptionId}", MERGE_PATCH),
        lambda: {"eecId": "eec-sub-1"},
    ),
    "EDGE-6 registration create": (
        lambda client: REGISTRATIONS,
        _sender("POST", REGISTRATION_FILE, "/registrations"),
        lambda: ees_registration(ees_profile("ees-new")),
    ),
    "EDGE-6 registration update": (
        _registration,
        _sender("PUT", REGISTRATION_FILE, "/registrations/{registrationId}"),
        lambda: ees_registration(ees_profile("ees-reg")),
    ),
    "EDGE-6 registration patch": (
        _registration,
        _sender("PATCH", REGISTRATION_FILE, "/registrations/{registrationId}", MERGE_PATCH),
        lambda: {"eesProf": {"easIds": ["app.two"]}},
    ),
    "EDGE-10 request": (
        lambda client: EDGE10_REQUEST,
        _sender("POST", EDGE10_FILE, "/request", **partner_headers()),
        lambda: {"reqEcsId": PARTNER_ID, **edge4_request(eas_ids=["app.one"])},
    ),
    "EDGE-10 subscription create": (
        lambda client: EDGE10_SUBS,
        _sender("POST", EDGE10_FILE, "/subscriptions", **partner_headers()),
        _edge10_subsc,
    ),
    "EDGE-10 subscription replace": (
        _edge10_sub,
        _sender("PUT", EDGE10_FILE, "/subscriptions/{subscriptionId}", **partner_headers()),
        _edge10_subsc,
    ),
    "EDGE-10 subscription patch": (
        _edge10_sub,
        _sender(
            "PATCH",
            EDGE10_FILE,
            "/subscriptions/{subscriptionId}",
            MERGE_PATCH,
            **partner_headers(),
        ),
        lambda: {"ecspIds": ["op-x"]},
    ),
    "EDGE-10 notification": (
        lambda client: EDGE10_NOTIFICATIONS,
        _sender("POST", EDGE10_FILE, None, **partner_headers()),
        lambda: {"subscriptionId": "sub-at-partner", "ednCnfgInfo": []},
    ),
}


@pytest.mark.parametrize("value", list(UNSTORABLE), ids=list(UNSTORABLE))
@pytest.mark.parametrize("operation", list(OPERATIONS), ids=list(OPERATIONS))
def test_an_unstorable_value_is_a_400_naming_the_member(client, ecs, operation, value):
    prepare, send, base = OPERATIONS[operation]
    path = prepare(client)
    literal, within, reason = UNSTORABLE[value]
    before = snapshot()

    response = send(client, path, with_value(base(), EXTENSION, literal))

    assert_refused(response, EXTENSION_POINTER + within, reason)
    assert snapshot() == before


@pytest.mark.parametrize("operation", list(OPERATIONS), ids=list(OPERATIONS))
def test_a_member_name_with_a_lone_surrogate_is_named_by_its_object(client, ecs, operation):
    prepare, send, base = OPERATIONS[operation]
    path = prepare(client)
    before = snapshot()
    raw = with_value(base(), ("vendorExt", "inner"), '{"ok": 1, "\\ud83d": 2}')

    response = send(client, path, raw)

    assert_refused(response, "/vendorExt/inner", f"a member name {jsontext.LONE_SURROGATE}")
    assert snapshot() == before


@pytest.mark.parametrize(
    ("path", "literal", "pointer", "reason"),
    [
        (("eecId",), '"eec\\udbff"', "/eecId", jsontext.LONE_SURROGATE),
        (
            ("locInf", "geographicArea"),
            '{"shape": "POINT", "point": {"lat": 1e999, "lon": 0}}',
            "/locInf/geographicArea/point/lat",
            jsontext.NOT_FINITE,
        ),
        (("ueId",), "NaN", "/ueId", jsontext.NOT_FINITE),
    ],
)
def test_members_of_the_3gpp_body_are_named_too(client, ecs, path, literal, pointer, reason):
    before = snapshot()
    body = serv_prov_subscription(PUBLIC_CALLBACK)
    response = _sender("POST", EDGE4_FILE, "/subscriptions")(
        client, SUBSCRIPTIONS, with_value(body, path, literal)
    )
    assert_refused(response, pointer, reason)
    assert snapshot() == before


def test_the_edge10_refusal_is_audited_as_an_invalid_request(client, ecs):
    raw = with_value(_edge10_subsc(), EXTENSION, "1e999")
    response = client.post(
        EDGE10_REQUEST, raw, content_type="application/json", **partner_headers()
    )
    assert response.status_code == 400
    [row] = RetrievalAudit.objects.all()
    assert "INVALID_MSG_FORMAT" in row.reason


@pytest.mark.parametrize("value", list(UNSTORABLE), ids=list(UNSTORABLE))
def test_tees_discovery_json_parameters_refuse_unstorable_values(client, ecs, value):
    literal, within, reason = UNSTORABLE[value]
    location = with_value({"nwAreaInfo": {"tais": []}}, ("civicAddresses",), f"[{literal}]")
    before = snapshot()
    query = {"ees-id": "ees-source", "eas-id": "app.one", "ue-location": location}

    response = client.get(DISCOVERY + "?" + urlencode(query))

    assert_conforms(response, DISCOVERY_FILE, "/ees-profiles", "get")
    assert_refused(response, "ue-location/civicAddresses/0" + within, reason)
    assert snapshot() == before


def test_finite_numbers_and_surrogate_pairs_are_accepted(client, ecs):
    raw = with_value(
        serv_prov_subscription(PUBLIC_CALLBACK), EXTENSION, '[1e308, -0.0, "\\ud83d\\ude00"]'
    )
    response = client.post(SUBSCRIPTIONS, raw, content_type="application/json")
    assert response.status_code == 201, response.content
    large, zero, emoji = EECSubscription.objects.get().body["vendorExt"]["a/b~c"]
    # PostgreSQL's jsonb keeps numbers as numeric: 1e308 comes back as its integer digits.
    assert (float(large), float(zero), emoji) == (1e308, 0.0, "\U0001f600")
