"""Roaming by redirection (TS 24.558 clause 7): a partner in ``roamingMode: redirect``.

"home" (001-01) has two partners: "visited" (002-02) in redirect mode, and "third" (003-03)
in retrieve mode, as today.  Each is a real ECS Portal process (tests/federation.py), the
EEC speaks HTTP to home, and what crossed between the instances is read from their audit
logs.  A UE roaming in 002-02 is answered with ``redirectedECS`` -- visited's API root, the
DNN and S-NSSAI of the PDU session that reaches it -- and visited is never asked; the EEC
can then ask visited itself.  A UE roaming in 003-03 is answered with what home retrieves
from third.  T-EES discovery (EDGE-6) cannot redirect, so it still retrieves from visited.
A subscription whose UE moves into 002-02 is notified with the redirect.

Every body is validated against 3GPP's file with one relaxation (tests/openapi.py,
docs/design-decisions.md): ``ednCnfgInfo`` or ``redirectedECS``.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import pytest
import requests

from notifications import worker
from partners.models import PartnerECS
from provisioning import changes
from provisioning.models import InventoryChange
from tests.builders import (
    DISCOVERY,
    EDGE4_FILE,
    EDGE4_REQUEST,
    MERGE_PATCH,
    SUBSCRIPTIONS,
    Receiver,
    area,
    configure_ecs,
    edge4_request,
    make_edn,
    make_ees,
    make_partner,
    ncgi,
    plmn,
    post_json,
    serv_prov_subscription,
    tai,
    ue_at,
)
from tests.openapi import assert_valid, errors_for

if TYPE_CHECKING:
    from tests.federation import Instance

pytest_plugins = ["tests.federation"]

HOME_PLMN = plmn("001", "01")
VISITED_PLMN = plmn("002", "02")
THIRD_PLMN = plmn("003", "03")
HOME_TO_VISITED = "tok-home-to-visited-" + uuid.uuid4().hex
VISITED_TO_HOME = "tok-visited-to-home-" + uuid.uuid4().hex
HOME_TO_THIRD = "tok-home-to-third-" + uuid.uuid4().hex
THIRD_TO_HOME = "tok-third-to-home-" + uuid.uuid4().hex
REDIRECT_DNN = "edge.visited.lbo"
REDIRECT_SNSSAI = {"sst": 1, "sd": "0000A1"}

# EECs call without OAuth 2.0 tokens; callbacks go to a receiver on 127.0.0.1.
SETTINGS = {"ECS_REQUIRE_AUTH": "0", "ECS_ALLOW_PRIVATE_CALLBACKS": "1"}


def ees(ees_id: str, app: str = "app.game") -> dict[str, Any]:
    return {
        "eesId": ees_id,
        "endPt": {"uri": f"https://{ees_id}.example"},
        "easIds": [app],
        "eecRegConf": False,
    }


def partner_ecs(peer: Instance, partner_id: str, plmn_: dict, out: str, into: str, **mode):
    return {
        "id": partner_id,
        "apiRoot": peer.url,
        "plmns": [plmn_],
        "outboundToken": out,
        "inboundToken": into,
        "consult": "roaming_only",
        "timeout": 2,
        **mode,
    }


def home_config(visited: Instance, third: Instance | None = None) -> dict[str, Any]:
    partners = [
        partner_ecs(
            visited,
            "ecs.visited",
            VISITED_PLMN,
            HOME_TO_VISITED,
            VISITED_TO_HOME,
            roamingMode="redirect",
            redirectDnn=REDIRECT_DNN,
            redirectSnssai=REDIRECT_SNSSAI,
        )
    ]
    if third is not None:
        partners.append(partner_ecs(third, "ecs.third", THIRD_PLMN, HOME_TO_THIRD, THIRD_TO_HOME))
    return {
        "ecs": {"id": "ecs.home", "homePlmns": [HOME_PLMN], "provisioningLifetime": 3600},
        "edns": [
            {
                # app.game at home and in 003-03, not in 002-02.
                "id": "edn-home",
                "ednConInfo": {"dnn": "edge.home", "snssai": {"sst": 1}},
                "plmns": [HOME_PLMN, THIRD_PLMN],
                "eess": [ees("ees-home-1")],
            },
            {
                # app.map in 002-02 too: there the answer has EDNs beside the redirect.
                "id": "edn-map",
                "ednConInfo": {"dnn": "edge.map", "snssai": {"sst": 1}},
                "plmns": [HOME_PLMN, VISITED_PLMN],
                "eess": [ees("ees-home-map", "app.map")],
            },
        ],
        "partners": partners,
        "policies": [{"partner": p["id"], "easIds": ["*"]} for p in partners],
    }


def partner_config(ecs_id: str, plmn_: dict, out: str, into: str, home: Instance) -> dict:
    return {
        "ecs": {"id": ecs_id, "homePlmns": [plmn_], "provisioningLifetime": 3600},
        "edns": [
            {
                "id": f"edn-{ecs_id}",
                "ednConInfo": {"dnn": f"edge.{ecs_id}", "snssai": {"sst": 1}},
                "eess": [ees(f"ees-{ecs_id}")],
            }
        ],
        "partners": [
            {
                "id": "ecs.home",
                "apiRoot": home.url,
                "plmns": [HOME_PLMN],
                "outboundToken": out,
                "inboundToken": into,
                "timeout": 2,
            }
        ],
        "policies": [{"partner": "ecs.home", "easIds": ["*"], "lifetime": 60}],
    }


def start(federation, with_third: bool = False) -> tuple[Instance, ...]:
    names = ("home", "visited", "third") if with_third else ("home", "visited")
    started = federation.start(*names, env=SETTINGS)
    home, visited = started[:2]
    third = started[2] if with_third else None
    configs = {
        home: home_config(visited, third),
        visited: partner_config("visited", VISITED_PLMN, VISITED_TO_HOME, HOME_TO_VISITED, home),
    }
    if third is not None:
        configs[third] = partner_config("third", THIRD_PLMN, THIRD_TO_HOME, HOME_TO_THIRD, home)
    federation.apply(configs)
    return started


def roaming_request(serving: dict, app: str = "app.game") -> dict[str, Any]:
    loc = ue_at(tai("0001", serving), ncgi("000000001", serving))
    return edge4_request(eas_ids=[app], loc=loc, plmns=[serving])


def provision(ecs: Instance | str, body: dict[str, Any], request_id: str) -> dict[str, Any]:
    """The EEC's request to an ECS (an instance, or the URI a redirect names)."""
    root = ecs if isinstance(ecs, str) else ecs.url
    response = requests.post(
        root + EDGE4_REQUEST, json=body, headers={"X-Request-ID": request_id}, timeout=30
    )
    assert response.status_code == 200, response.text
    assert_valid(response.json(), EDGE4_FILE, "ECSServProvResp")
    return response.json()


def ees_ids(answer: dict[str, Any]) -> list[str]:
    return [e["eesId"] for cfg in answer.get("ednCnfgInfo", []) for e in cfg["eess"]]


def redirect_to(visited: Instance) -> dict[str, Any]:
    return {"ecsEndPt": {"uri": visited.url}, "dnn": REDIRECT_DNN, "snssai": REDIRECT_SNSSAI}


def new_id() -> str:
    return "eec-" + uuid.uuid4().hex


# --- EDGE-4 -------------------------------------------------------------------------------------


def test_a_roaming_ue_is_redirected_to_a_redirect_partner_and_retrieved_for_by_the_other(
    federation,
):
    home, visited, third = start(federation, with_third=True)
    game_id, map_id, third_id = new_id(), new_id(), new_id()

    # At home the UE is neither redirected nor the partners asked (the audit below has no
    # row for it). This first request also warms home up for the timings.
    at_home = provision(home, roaming_request(HOME_PLMN), new_id())
    assert set(at_home) == {"ednCnfgInfo"}
    assert ees_ids(at_home) == ["ees-home-1"]

    # In 002-02 no EDN of ours serves app.game: the answer is the redirect alone.
    started = time.perf_counter()
    game = provision(home, roaming_request(VISITED_PLMN), game_id)
    redirect_ms = (time.perf_counter() - started) * 1000
    assert game == {"redirectedECS": [redirect_to(visited)]}
    # app.map is served by our EDN there too: both.
    on_map = provision(home, roaming_request(VISITED_PLMN, "app.map"), map_id)
    assert ees_ids(on_map) == ["ees-home-map"]
    assert on_map["redirectedECS"] == [redirect_to(visited)]
    # The retrieve-mode partner of 003-03 is asked, as before; no redirect.
    started = time.perf_counter()
    retrieved = provision(home, roaming_request(THIRD_PLMN), third_id)
    retrieve_ms = (time.perf_counter() - started) * 1000
    print(
        f"\nEDGE-4 as the EEC saw it: redirect {redirect_ms:.1f} ms, retrieval {retrieve_ms:.1f} ms"
    )
    assert ees_ids(retrieved) == ["ees-home-1", "ees-third"]
    assert "redirectedECS" not in retrieved

    visited_in, third_in, home_out = federation.parallel(
        lambda: visited.audit(direction="in"),
        lambda: third.audit(direction="in"),
        lambda: home.audit(direction="out"),
    )
    assert visited_in == []  # no EDGE-10 call to the redirect partner
    assert [(r["requestId"], r["status"]) for r in third_in] == [(third_id, 200)]
    assert [(r["requestId"], r["partner"], r["decision"], r["status"]) for r in home_out] == [
        (game_id, "ecs.visited", "redirect", None),
        (map_id, "ecs.visited", "redirect", None),
        (third_id, "ecs.third", "allowed", 200),
    ]
    # The redirect's audit row holds the query we would have asked visited.
    assert home_out[0]["query"]["servingPlmn"] == "002-02"

    # The EEC follows the redirect: visited, where the UE is at home, answers it itself.
    followed = provision(
        game["redirectedECS"][0]["ecsEndPt"]["uri"], roaming_request(VISITED_PLMN), new_id()
    )
    assert ees_ids(followed) == ["ees-visited"]


# --- T-EES discovery (EDGE-6) has no redirect -----------------------------------------------------


def test_t_ees_discovery_still_retrieves_from_a_redirect_partner(federation):
    home, visited = start(federation)
    where = area(tais=[tai("0001", VISITED_PLMN)])
    query = urlencode(
        [("ees-id", "ees-home-1"), ("eas-id", "app.game"), ("ue-location", json.dumps(where))]
    )
    response = requests.get(home.url + DISCOVERY + "?" + query, timeout=30)

    assert response.status_code == 200, response.text
    assert_valid(response.json(), EDGE4_FILE, "ECSServProvResp")
    assert "redirectedECS" not in response.json()
    assert ees_ids(response.json()) == ["ees-visited"]
    visited_in, home_out = federation.parallel(
        lambda: visited.audit(direction="in"), lambda: home.audit(direction="out")
    )
    assert [(r["partner"], r["status"]) for r in visited_in] == [("ecs.home", 200)]
    assert [(r["decision"], r["status"]) for r in home_out] == [("allowed", 200)]


# --- subscriptions --------------------------------------------------------------------------------


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


def test_a_subscription_is_notified_of_the_redirect_when_its_ue_roams_in(federation, receiver):
    home, visited = start(federation)
    body = serv_prov_subscription(
        receiver.url, eas_ids=["app.game"], connInfo=[{"plmnId": HOME_PLMN}]
    )
    created = requests.post(home.url + SUBSCRIPTIONS, json=body, timeout=30)
    assert created.status_code == 201, created.text
    location = created.headers["Location"]
    sub_id = location.rsplit("/", 1)[1]

    # The UE moves into 002-02, whose partner takes roaming UEs: the EEC updates connInfo.
    moved = requests.patch(
        location,
        data=json.dumps({"connInfo": [{"plmnId": VISITED_PLMN}]}),
        headers={"Content-Type": MERGE_PATCH},
        timeout=30,
    )
    assert moved.status_code == 200, moved.text
    home.manage("run_worker", "--once")
    [delivery] = receiver.wait_for(1)
    assert_valid(delivery["body"], EDGE4_FILE, "ServProvNotification")
    assert delivery["body"] == {"subId": sub_id, "redirectedECS": [redirect_to(visited)]}

    # Back home: the EDNs again, and no redirect.
    back = requests.patch(
        location,
        data=json.dumps({"connInfo": [{"plmnId": HOME_PLMN}]}),
        headers={"Content-Type": MERGE_PATCH},
        timeout=30,
    )
    assert back.status_code == 200, back.text
    home.manage("run_worker", "--once")
    deliveries = receiver.wait_for(2)
    assert_valid(deliveries[1]["body"], EDGE4_FILE, "ServProvNotification")
    assert "redirectedECS" not in deliveries[1]["body"]
    assert ees_ids(deliveries[1]["body"]) == ["ees-home-1"]
    assert visited.audit(direction="in") == []


@pytest.mark.django_db
def test_switching_a_partner_to_redirect_notifies_its_roaming_ues_subscriptions(
    client, receiver, monkeypatch
):
    """In-process: an operator's edit, not a request, changes the answer."""
    monkeypatch.setenv("ECS_ALLOW_PRIVATE_CALLBACKS", "1")
    configure_ecs()
    # Our EDN serves roaming UEs in 002-02 too: their answer is never empty.
    edn = make_edn("edn-a", dnn="edge.example", plmns=[HOME_PLMN, VISITED_PLMN])
    make_ees(edn, "ees-conf", eas_ids=["app.game"])
    partner = make_partner(
        "ecs.visited", api_root="https://ecs.visited.example", plmns=[VISITED_PLMN]
    )
    body = serv_prov_subscription(
        receiver.url, eas_ids=["app.game"], connInfo=[{"plmnId": VISITED_PLMN}]
    )
    assert post_json(client, SUBSCRIPTIONS, body).status_code == 201
    InventoryChange.objects.all().delete()

    partner.roaming_mode = PartnerECS.ROAMING_REDIRECT
    partner.redirect_dnn = REDIRECT_DNN
    partner.save()
    changes.process_pending()
    worker.deliver_due()
    [delivery] = receiver.wait_for(1)
    assert_valid(delivery["body"], EDGE4_FILE, "ServProvNotification")
    assert delivery["body"]["redirectedECS"] == [
        {"ecsEndPt": {"uri": "https://ecs.visited.example"}, "dnn": REDIRECT_DNN}
    ]
    assert ees_ids(delivery["body"]) == ["ees-conf"]

    # An edit that leaves the redirect as it was is no change event; disabling the partner
    # ends the redirect, and that is notified.
    partner.timeout = 3
    partner.save()
    assert not InventoryChange.objects.exists()
    partner.enabled = False
    partner.save()
    changes.process_pending()
    worker.deliver_due()
    deliveries = receiver.wait_for(2)
    assert "redirectedECS" not in deliveries[1]["body"]
    assert ees_ids(deliveries[1]["body"]) == ["ees-conf"]

    # Redirecting again, then deleted as the admin's bulk action deletes: notified each time.
    partner.enabled = True
    partner.save()
    changes.process_pending()
    worker.deliver_due()
    assert "redirectedECS" in receiver.wait_for(3)[2]["body"]
    PartnerECS.objects.filter(pk=partner.pk).delete()
    changes.process_pending()
    worker.deliver_due()
    assert "redirectedECS" not in receiver.wait_for(4)[3]["body"]


# --- the one relaxation of 3GPP's schema ----------------------------------------------------------

REDIRECT = {"ecsEndPt": {"uri": "https://ecs.visited.example"}}


@pytest.mark.parametrize(
    ("schema", "body", "valid"),
    [
        ("ECSServProvResp", {"redirectedECS": [REDIRECT]}, True),
        ("ServProvNotification", {"subId": "s1", "redirectedECS": [REDIRECT]}, True),
        # Every other rule of the file holds.
        ("ECSServProvResp", {}, False),
        ("ECSServProvResp", {"redirectedECS": []}, False),
        ("ECSServProvResp", {"ednCnfgInfo": []}, False),
        ("ECSServProvResp", {"redirectedECS": [{"dnn": "edge.x"}]}, False),
        ("ECSServProvResp", {"redirectedECS": [{"ecsEndPt": {}}]}, False),
        ("ECSServProvResp", {"redirectedECS": [{**REDIRECT, "snssai": {"sst": 256}}]}, False),
        ("ServProvNotification", {"redirectedECS": [REDIRECT]}, False),
        ("ServProvNotification", {"subId": "s1"}, False),
    ],
)
def test_ednCnfgInfo_or_redirectedECS_and_every_other_rule(schema, body, valid):
    assert (errors_for(body, EDGE4_FILE, schema) == []) is valid
