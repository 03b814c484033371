"""EDGE-10 as we serve it: a partner ECS asks us (TS 23.558 clause 8.17.2.4.2.2, partner side).

Authenticate (Bearer token, kept only as a hash), authorize (deny by default), match, disclose
only what the policy allows, and audit every decision.  Every answer is checked against our
EDGE-10 OpenAPI file (partners/eecs_ecsserviceprovisioning/openapi/), whose error bodies are
3GPP's ProblemDetails.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.utils import timezone

from ecscore import ratelimit
from ecscore.datetimes import parse_datetime
from partners.models import PartnerECS, RetrievalAudit
from provisioning.models import EES
from tests.builders import (
    EDGE10_REQUEST,
    HOME,
    configure_ecs,
    eess_by_edn,
    make_edn,
    make_ees,
    make_partner,
    make_policy,
    plmn,
    post_json,
    tai,
    ue_at,
)
from tests.openapi import EDGE10_FILE, assert_conforms

pytestmark = pytest.mark.django_db

PARTNER_ID = "ecs.partner.example"
TOKEN = "partner-token-8c4f0e2a9d1b47a6"
VISITED = plmn("002", "02")
LIFETIME = 3600  # our provisioningLifetime


@pytest.fixture(autouse=True)
def _fresh_rate_windows():
    """Rate windows start empty: per process locally; on Redis, this run's keys."""
    ratelimit.reset_local()
    if settings.REDIS_URL:
        from django_redis import get_redis_connection

        connection = get_redis_connection("default")
        for key in connection.scan_iter(f"{settings.CACHE_KEY_PREFIX}:ratelimit:*"):
            connection.delete(key)
    yield
    ratelimit.reset_local()


@pytest.fixture
def partner() -> PartnerECS:
    """Our ECS with one EDN (edge.a) whose EES ees-a1 serves app.one, and one partner."""
    configure_ecs(lifetime=LIFETIME)
    make_ees(make_edn("edn-a", dnn="edge.a"), "ees-a1", eas_ids=["app.one"])
    return make_partner(PARTNER_ID, inbound_token=TOKEN)


def ask(client, body: dict, authorization: str | None = f"Bearer {TOKEN}"):
    """POST a ServProvReq and check the answer against our EDGE-10 file."""
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    response = post_json(client, EDGE10_REQUEST, body, **headers)
    assert_conforms(response, EDGE10_FILE, "/request", "post")
    return response


def request(eas_ids=("app.one",), serving=HOME, req_ecs_id=PARTNER_ID, **extra) -> dict:
    body: dict = {"reqEcsId": req_ecs_id} if req_ecs_id else {}
    if serving is not None:
        body["servingPlmn"] = dict(serving)
    if eas_ids:
        body["acProfs"] = [{"acId": "ac-1", "eass": [{"easId": e} for e in eas_ids]}]
    body.update(extra)
    return body


def inbound_rows() -> list[RetrievalAudit]:
    return list(RetrievalAudit.objects.filter(direction=RetrievalAudit.INBOUND).order_by("pk"))


def the_audit_row() -> RetrievalAudit:
    rows = inbound_rows()
    assert len(rows) == 1, [(r.decision, r.status, r.reason) for r in rows]
    return rows[0]


# --- authentication -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="no-credentials"),
        pytest.param("Bearer not-the-token", id="unknown-token"),
        pytest.param(f"Basic {TOKEN}", id="other-scheme"),
        pytest.param(f"Token {TOKEN}", id="token-scheme"),
        pytest.param("Bearer", id="bearer-without-token"),
        pytest.param("Bearer    ", id="bearer-blank-token"),
        pytest.param(TOKEN, id="token-without-scheme"),
    ],
)
def test_without_valid_credentials_401(client, partner, authorization):
    make_policy(partner)
    response = ask(client, request(), authorization)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "ednCnfgInfo" not in response.json()
    row = the_audit_row()
    assert row.partner is None
    assert (row.decision, row.status) == (RetrievalAudit.DENIED, 401)
    assert "credentials" in row.reason


def test_a_token_is_known_only_by_its_hash(client, partner):
    """The partner's token works; its hash does not (it is what the database holds)."""
    make_policy(partner)
    assert ask(client, request()).status_code == 200
    hashed = partner.inbound_token_hash
    assert TOKEN not in hashed
    assert ask(client, request(), f"Bearer {hashed}").status_code == 401


# --- validation -------------------------------------------------------------------------------


def test_missing_req_ecs_id_400(client, partner):
    make_policy(partner)
    response = ask(client, request(req_ecs_id=None))
    assert response.status_code == 400
    body = response.json()
    assert {"param": "/reqEcsId", "reason": "is required"} in body["invalidParams"]
    row = the_audit_row()
    assert row.partner == partner
    assert (row.decision, row.status) == (RetrievalAudit.DENIED, 400)


# --- authorization (deny by default) ----------------------------------------------------------

# policy fields (None: no policy at all; valid_from/valid_until in seconds from now), request
# members, expected cause
DENIALS = [
    pytest.param(None, {}, "NO_POLICY", id="no-policy"),
    pytest.param({"enabled": False}, {}, "NO_POLICY", id="disabled-policy"),
    pytest.param({"valid_until": -60}, {}, "NO_POLICY", id="expired-policy"),
    pytest.param({"valid_from": 3600}, {}, "NO_POLICY", id="not-yet-valid-policy"),
    pytest.param(
        {"serving_plmns": [HOME]}, {"serving": VISITED}, "NOT_AUTHORIZED", id="serving-plmn"
    ),
    pytest.param(
        {"serving_plmns": [HOME]}, {"serving": None}, "NOT_AUTHORIZED", id="no-serving-plmn"
    ),
    pytest.param({"eas_ids": ["app.one"]}, {"eas_ids": ["app.two"]}, "NOT_AUTHORIZED", id="eas-id"),
    pytest.param(
        {"eas_ids": ["app.one"]},
        {"eas_ids": ["app.one", "app.two"]},
        "NOT_AUTHORIZED",
        id="one-eas-id-of-two",
    ),
    pytest.param(
        {"eas_ids": ["app.one"]}, {"eas_ids": ()}, "NOT_AUTHORIZED", id="no-eas-ids-without-*"
    ),
    pytest.param({}, {"req_ecs_id": "ecs.other.example"}, "REQUESTER_MISMATCH", id="other-id"),
]


def _policy_fields(fields: dict) -> dict:
    fields = dict(fields)
    now = timezone.now()
    for key in ("valid_from", "valid_until"):
        if key in fields:
            fields[key] = now + dt.timedelta(seconds=fields[key])
    return fields


@pytest.mark.parametrize(("policy", "members", "cause"), DENIALS)
def test_a_request_no_policy_covers_403(client, partner, policy, members, cause):
    make_partner("ecs.other.example", inbound_token="other-partner-token")
    if policy is not None:
        make_policy(partner, **_policy_fields(policy))
    response = ask(client, request(**members))
    assert response.status_code == 403
    assert response.json()["cause"] == cause
    row = the_audit_row()
    assert row.partner == partner
    assert (row.decision, row.status) == (RetrievalAudit.DENIED, 403)
    assert row.reason.startswith(cause)


def test_a_disabled_partner_403(client, partner):
    make_policy(partner)
    PartnerECS.objects.filter(pk=partner.pk).update(enabled=False)
    response = ask(client, request())
    assert response.status_code == 403
    assert response.json()["cause"] == "PARTNER_DISABLED"
    row = the_audit_row()
    assert (row.decision, row.status) == (RetrievalAudit.DENIED, 403)
    assert row.reason.startswith("PARTNER_DISABLED")


def test_a_partner_may_not_use_another_partners_policy(client, partner):
    other = make_partner("ecs.other.example", inbound_token="other-partner-token")
    make_policy(other)
    response = ask(client, request())
    assert response.status_code == 403
    assert response.json()["cause"] == "NO_POLICY"


@pytest.mark.parametrize(
    ("policy", "members"),
    [
        pytest.param({"valid_from": -60, "valid_until": 3600}, {}, id="in-its-window"),
        pytest.param({"serving_plmns": [HOME]}, {}, id="serving-plmn-listed"),
        pytest.param({"eas_ids": ["app.one", "app.two"]}, {}, id="eas-id-listed"),
        pytest.param({}, {"eas_ids": ()}, id="no-eas-ids-under-*"),
    ],
)
def test_a_covered_request_is_answered(client, partner, policy, members):
    make_policy(partner, **_policy_fields(policy))
    response = ask(client, request(**members))
    assert response.status_code == 200
    assert eess_by_edn(response) == [("edge.a", ["ees-a1"])]


def test_a_second_policy_can_cover_what_the_first_does_not(client, partner):
    make_policy(partner, policy_id="a-first", eas_ids=["app.two"])
    make_policy(partner, policy_id="b-second", eas_ids=["app.one"], lifetime=60)
    before = timezone.now()
    response = ask(client, request())
    assert response.status_code == 200
    [cfg] = response.json()["ednCnfgInfo"]
    assert parse_datetime(cfg["lifeTime"]) <= before + dt.timedelta(seconds=61)
    assert "b-second" in the_audit_row().reason


# --- rate limit -------------------------------------------------------------------------------


def test_over_the_rate_per_minute_429(client, partner):
    make_policy(partner, rate_per_minute=2)
    other = make_partner("ecs.other.example", inbound_token="other-partner-token")
    make_policy(other, rate_per_minute=2)

    statuses = [ask(client, request()).status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
    response = ask(client, request())
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response.json()["cause"] == "TOO_MANY_REQUESTS"
    rows = inbound_rows()
    assert [(r.decision, r.status) for r in rows] == [
        (RetrievalAudit.ALLOWED, 200),
        (RetrievalAudit.ALLOWED, 200),
        (RetrievalAudit.DENIED, 429),
        (RetrievalAudit.DENIED, 429),
    ]
    # The limit counts per partner: another partner is not held back.
    other_response = ask(
        client, request(req_ecs_id="ecs.other.example"), "Bearer other-partner-token"
    )
    assert other_response.status_code == 200


def test_denied_requests_do_not_use_up_the_rate(client, partner):
    make_policy(partner, rate_per_minute=1, eas_ids=["app.one"])
    assert ask(client, request(eas_ids=["app.two"])).status_code == 403
    assert ask(client, request(eas_ids=["app.two"])).status_code == 403
    assert ask(client, request()).status_code == 200


# --- what we answer ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy_lifetime", "granted"),
    [pytest.param(600, 600, id="policy-lifetime"), pytest.param(None, LIFETIME, id="ours")],
)
def test_an_allowed_request_gets_our_edns_with_a_lifetime(
    client, partner, policy_lifetime, granted
):
    make_policy(partner, lifetime=policy_lifetime)
    before = timezone.now()
    response = ask(client, request(locInf=ue_at(tai("0001"))))
    after = timezone.now()
    assert response.status_code == 200
    [cfg] = response.json()["ednCnfgInfo"]
    assert [e["eesId"] for e in cfg["eess"]] == ["ees-a1"]
    lifetime = parse_datetime(cfg["lifeTime"])
    low = before.replace(microsecond=0) + dt.timedelta(seconds=granted)
    assert low <= lifetime <= after + dt.timedelta(seconds=granted)
    row = the_audit_row()
    assert (row.decision, row.status, row.edn_count) == (RetrievalAudit.ALLOWED, 200, 1)
    assert row.reason.startswith("policy")


def test_nothing_matching_204(client, partner):
    make_policy(partner)
    response = ask(client, request(eas_ids=["app.nobody.serves"]))
    assert response.status_code == 204
    row = the_audit_row()
    assert (row.decision, row.status, row.edn_count) == (RetrievalAudit.ALLOWED, 204, 0)


def test_nothing_for_a_serving_plmn_we_do_not_serve_204(client, partner):
    make_policy(partner)
    assert ask(client, request(serving=VISITED)).status_code == 204


@pytest.mark.parametrize(
    ("dnns", "ecsps", "expected"),
    [
        pytest.param(
            None,
            None,
            [("edge.a", ["ees-a1", "ees-a2"]), ("edge.b", ["ees-b1"])],
            id="all",
        ),
        pytest.param(["edge.a"], None, [("edge.a", ["ees-a1", "ees-a2"])], id="dnns"),
        pytest.param(
            None, ["ecsp.one"], [("edge.a", ["ees-a1"]), ("edge.b", ["ees-b1"])], id="ecsps"
        ),
        pytest.param(["edge.a"], ["ecsp.one"], [("edge.a", ["ees-a1"])], id="both"),
        pytest.param(["edge.b"], ["ecsp.two"], [], id="nothing-left"),
    ],
)
def test_disclosure_is_limited_to_the_policy(client, partner, dnns, ecsps, expected):
    ees_a1 = EES.objects.get(ees_id="ees-a1")
    ees_a1.ecsp_info = "ecsp.one"
    ees_a1.save()
    make_ees(ees_a1.edn, "ees-a2", ecsp="ecsp.two")
    make_ees(make_edn("edn-b", dnn="edge.b"), "ees-b1", ecsp="ecsp.one")
    make_policy(partner, dnns=dnns, ecsps=ecsps)

    response = ask(client, request())

    assert sorted(eess_by_edn(response)) == expected
    row = the_audit_row()
    assert row.status == (200 if expected else 204)
    assert row.edn_count == len(expected)


def test_a_partners_request_never_makes_us_ask_our_partners(client, partner):
    """Two ECSs asking each other must not loop: EDGE-10 answers from local EDNs only."""
    make_policy(partner)
    PartnerECS.objects.filter(pk=partner.pk).update(
        consult=PartnerECS.CONSULT_ALWAYS, api_root="http://127.0.0.1:9"
    )
    response = ask(client, request(eas_ids=["app.nobody.serves"]))
    assert response.status_code == 204
    assert not RetrievalAudit.objects.filter(direction=RetrievalAudit.OUTBOUND).exists()


def test_a_rate_of_zero_refuses_every_request(client, partner):
    make_policy(partner, rate_per_minute=0)
    response = ask(client, request())
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    row = the_audit_row()
    assert (row.decision, row.status) == (RetrievalAudit.DENIED, 429)
