"""T-EES discovery over EDGE-6 (TS 23.558 clause 8.8.3.3, TS29558_Eecs_TargetEESDiscovery.yaml).

An S-EES asks ``GET /eecs-targeteesdiscovery/v1/ees-profiles`` which EESs could serve a UE's
application elsewhere, and gets an ``ECSServProvResp``.  The answer comes the way an EEC's
EDGE-4 answer does: local matching, then partner ECSs and their cache.  The partner here is a
real HTTP server on 127.0.0.1 that counts the calls it gets.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest

from partners.models import PartnerECS, ProvisioningCacheEntry
from tests.builders import (
    DISCOVERY,
    DISCOVERY_FILE,
    REGISTRATIONS,
    area,
    configure_ecs,
    edge4_request,
    edn_config_json,
    ees_ids,
    ees_info_json,
    ees_profile,
    ees_registration,
    in_seconds,
    make_edn,
    make_ees,
    make_partner,
    ncgi,
    plmn,
    post_json,
    tai,
    ue_at,
)
from tests.loopback import LoopbackServer, Received, Reply
from tests.openapi import EDGE10_FILE, assert_conforms, assert_valid

pytestmark = pytest.mark.django_db

HOME_TAI = tai("0001")
OTHER_TAI = tai("0002")
VISITED = plmn("002", "02")
VISITED_TAI = tai("0201", VISITED)
VISITED_CELL = ncgi("000000201", VISITED)


@pytest.fixture
def discover(client):
    """GET ees-profiles with the given query parameters, checked against GetEESProfiles."""

    def call(**params: Any):
        query = []
        for name, value in params.items():
            name = name.replace("_", "-")
            values = value if isinstance(value, list) else [value]
            for v in values:
                query.append((name, json.dumps(v) if isinstance(v, dict) else v))
        response = client.get(DISCOVERY + "?" + urlencode(query))
        assert_conforms(response, DISCOVERY_FILE, "/ees-profiles", "get")
        return response

    return call


@pytest.fixture
def edge():
    """Home PLMN 001-01; one EDN whose EESs serve app.one at TAI 0001 (but ees-far at 0002)."""
    configure_ecs()
    edn = make_edn("edn-a", dnn="edge.example")
    at_home = area(tais=[HOME_TAI])
    make_ees(edn, "ees-source", area_=at_home, dnais=["dnai-s"])
    make_ees(edn, "ees-a", area_=at_home, dnais=["dnai-a"], acr=["EEC_INITIATED"])
    make_ees(edn, "ees-b", area_=at_home, dnais=["dnai-b", "dnai-x"], acr=["SOURCE_EAS_DECIDED"])
    make_ees(edn, "ees-far", area_=area(tais=[OTHER_TAI]), dnais=["dnai-b"])
    make_ees(edn, "ees-other-app", eas_ids=["app.two"], area_=at_home)
    return edn


def at(*tais: dict, cells=()) -> dict[str, Any]:
    """A LocationArea5G (the ue-location parameter)."""
    return area(tais=tais, ncgis=cells)


def problem(response) -> tuple[int, str, list[str]]:
    body = response.json()
    return (
        response.status_code,
        body["cause"],
        [p["param"] for p in body.get("invalidParams", [])],
    )


# --- local targets --------------------------------------------------------------------------


def test_targets_serving_the_ue_location_without_the_source_ees(edge, discover):
    response = discover(ees_id="ees-source", eas_id="app.one", ue_location=at(HOME_TAI))
    assert response.status_code == 200
    assert ees_ids(response) == ["ees-a", "ees-b"]
    eess = response.json()["ednCnfgInfo"][0]["eess"]
    assert eess[0]["endPt"] == {"uri": "https://ees-a.example/eees"}
    assert response.json()["ednCnfgInfo"][0]["ednConInfo"]["dnn"] == "edge.example"


def test_without_a_location_every_ees_of_the_application_is_a_target(edge, discover):
    response = discover(ees_id="ees-source", eas_id="app.one")
    assert ees_ids(response) == ["ees-a", "ees-b", "ees-far"]


def test_the_location_may_be_a_cell(edge, discover):
    edn = make_edn("edn-cells", dnn="edge.cells")
    make_ees(edn, "ees-cell", area_=area(ncgis=[ncgi("000000A01")]))
    response = discover(
        ees_id="ees-source", eas_id="app.one", ue_location=at(cells=[ncgi("000000A01")])
    )
    assert ees_ids(response) == ["ees-cell"]


def test_target_dnai_keeps_only_eess_at_that_dnai(edge, discover):
    response = discover(ees_id="ees-source", eas_id="app.one", target_dnai="dnai-b")
    assert ees_ids(response) == ["ees-b", "ees-far"]
    response = discover(
        ees_id="ees-source", eas_id="app.one", target_dnai="dnai-b", ue_location=at(HOME_TAI)
    )
    assert ees_ids(response) == ["ees-b"]


def test_target_dnai_no_ees_lists_is_404(edge, discover):
    response = discover(ees_id="ees-source", eas_id="app.one", target_dnai="dnai-none")
    assert problem(response) == (404, "TARGET_EES_NOT_FOUND", [])


def test_ac_svc_cont_supp_puts_eess_supporting_the_scenario_first(edge, discover):
    plain = discover(ees_id="ees-source", eas_id="app.one", ue_location=at(HOME_TAI))
    assert ees_ids(plain) == ["ees-a", "ees-b"]
    ordered = discover(
        ees_id="ees-source",
        eas_id="app.one",
        ue_location=at(HOME_TAI),
        ac_svc_cont_supp=["SOURCE_EAS_DECIDED"],
    )
    assert ees_ids(ordered) == ["ees-b", "ees-a"]


def test_eec_srv_cont_supp_scenarios_order_too_when_the_eec_supports_continuity(edge, discover):
    supported = {"srvContSupp": True, "acrScenarios": ["SOURCE_EAS_DECIDED"]}
    response = discover(
        ees_id="ees-source", eas_id="app.one", ue_location=at(HOME_TAI), eec_srv_cont_supp=supported
    )
    assert ees_ids(response) == ["ees-b", "ees-a"]
    unsupported = {"srvContSupp": False, "acrScenarios": ["SOURCE_EAS_DECIDED"]}
    response = discover(
        ees_id="ees-source",
        eas_id="app.one",
        ue_location=at(HOME_TAI),
        eec_srv_cont_supp=unsupported,
    )
    assert ees_ids(response) == ["ees-a", "ees-b"]


def test_a_registered_ees_is_a_target(edge, discover, client):
    profile = ees_profile("ees-registered", tais=[HOME_TAI], appLocs=["dnai-r"])
    created = post_json(client, REGISTRATIONS, ees_registration(profile, in_seconds(600)))
    assert created.status_code == 201
    response = discover(ees_id="ees-source", eas_id="app.one", target_dnai="dnai-r")
    assert ees_ids(response) == ["ees-registered"]


def test_the_source_ees_alone_is_no_target(edge, discover):
    response = discover(ees_id="ees-other-app", eas_id="app.two", ue_location=at(HOME_TAI))
    assert problem(response) == (404, "TARGET_EES_NOT_FOUND", [])


def test_an_application_no_ees_serves_is_404(edge, discover):
    response = discover(ees_id="ees-source", eas_id="app.unknown")
    assert problem(response) == (404, "TARGET_EES_NOT_FOUND", [])


# --- bad requests ------------------------------------------------------------------------------


def test_unknown_parameters_are_refused(edge, discover):
    response = discover(ees_id="ees-source", eas_id="app.one", ue_loc="x", foo="1")
    assert problem(response) == (400, "INVALID_QUERY_PARAM", ["foo", "ue-loc"])


@pytest.mark.parametrize(
    ("params", "missing"),
    [
        ({"eas_id": "app.one"}, ["ees-id"]),
        ({"ees_id": "ees-source"}, ["eas-id"]),
        ({"ees_id": "", "eas_id": "app.one"}, ["ees-id"]),
        ({}, ["ees-id", "eas-id"]),
    ],
)
def test_ees_id_and_eas_id_are_required(edge, discover, params, missing):
    response = discover(**params)
    status, _cause, names = problem(response)
    assert (status, names) == (400, missing)


def test_ue_location_that_is_not_json_is_400(edge, client):
    response = client.get(
        DISCOVERY + "?" + urlencode({"ees-id": "e", "eas-id": "app.one", "ue-location": "{tais"})
    )
    assert_conforms(response, DISCOVERY_FILE, "/ees-profiles", "get")
    assert problem(response) == (400, "INVALID_QUERY_PARAM", ["ue-location"])


def test_ue_location_that_is_not_a_location_area_is_400(edge, discover):
    response = discover(
        ees_id="ees-source", eas_id="app.one", ue_location={"nwAreaInfo": {"tais": "0001"}}
    )
    status, cause, names = problem(response)
    assert (status, cause) == (400, "INVALID_QUERY_PARAM")
    assert names and all(n.startswith("ue-location/nwAreaInfo/tais") for n in names), names


def test_eec_srv_cont_supp_must_conform(edge, discover):
    response = discover(ees_id="ees-source", eas_id="app.one", eec_srv_cont_supp={"acr": []})
    status, cause, names = problem(response)
    assert (status, cause) == (400, "INVALID_QUERY_PARAM")
    assert names and all(n.startswith("eec-srv-cont-supp") for n in names), names


# --- a roaming UE: the partner ECS and its cache ---------------------------------------------


class Partner:
    """A partner ECS on 127.0.0.1 answering EDGE-10 requests with a valid ServProvResp."""

    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer
        self.requests: list[dict[str, Any]] = []
        self.server = LoopbackServer(self._respond)
        self.url = self.server.url

    def _respond(self, request: Received) -> Reply:
        self.requests.append(request.json())
        return Reply(200, self.answer)

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def partner():
    answer = {
        "ednCnfgInfo": [
            edn_config_json(
                "edge.visited",
                ees_info_json("ees-visited-1"),
                ees_info_json("ees-visited-2"),
                lifetime=in_seconds(600),
            )
        ]
    }
    assert_valid(answer, EDGE10_FILE, "ServProvResp")
    server = Partner(answer)
    yield server
    server.close()


def test_a_roaming_ue_gets_the_partner_targets_through_the_shared_cache(
    edge, discover, partner, edge4
):
    make_partner(
        "ecs.visited",
        api_root=partner.url,
        plmns=[VISITED],
        consult=PartnerECS.CONSULT_ROAMING_ONLY,
    )
    roaming_at = at(VISITED_TAI, cells=[VISITED_CELL])

    first = discover(ees_id="ees-source", eas_id="app.one", ue_location=roaming_at)
    assert first.status_code == 200
    assert ees_ids(first) == ["ees-visited-1", "ees-visited-2"]
    assert len(partner.requests) == 1
    sent = partner.requests[0]
    assert_valid(sent, EDGE10_FILE, "ServProvReq")
    assert sent["servingPlmn"] == VISITED
    assert sent["acProfs"][0]["eass"] == [{"easId": "app.one"}]
    assert sent["locInf"]["userLocation"]["nrLocation"] == {
        "tai": VISITED_TAI,
        "ncgi": VISITED_CELL,
    }

    second = discover(ees_id="ees-source", eas_id="app.one", ue_location=roaming_at)
    assert ees_ids(second) == ["ees-visited-1", "ees-visited-2"]
    assert len(partner.requests) == 1

    # An EEC asking EDGE-4 the same thing (same EAS id, same TAI and cell) is served from
    # the entry the discovery stored.
    eec = edge4(
        edge4_request(eas_ids=["app.one"], loc=ue_at(VISITED_TAI, VISITED_CELL), plmns=[VISITED])
    )
    assert ees_ids(eec) == ["ees-visited-1", "ees-visited-2"]
    assert len(partner.requests) == 1
    [entry] = ProvisioningCacheEntry.objects.all()
    assert entry.hits == 2


def test_the_partner_targets_leave_out_the_source_ees(edge, discover, partner):
    make_partner("ecs.visited", api_root=partner.url, plmns=[VISITED])
    response = discover(
        ees_id="ees-visited-1", eas_id="app.one", ue_location=at(VISITED_TAI, cells=[VISITED_CELL])
    )
    assert ees_ids(response) == ["ees-visited-2"]


def test_a_ue_at_home_does_not_make_a_roaming_only_partner_call(edge, discover, partner):
    make_partner("ecs.visited", api_root=partner.url, plmns=[VISITED])
    response = discover(ees_id="ees-source", eas_id="app.one", ue_location=at(HOME_TAI))
    assert ees_ids(response) == ["ees-a", "ees-b"]
    assert partner.requests == []


def test_nothing_local_asks_a_when_no_local_match_partner(edge, discover, partner):
    make_partner(
        "ecs.neighbour",
        api_root=partner.url,
        consult=PartnerECS.CONSULT_WHEN_NO_LOCAL_MATCH,
        share_ue_id=True,
    )
    at_home = discover(ees_id="ees-source", eas_id="app.one", ue_location=at(HOME_TAI))
    assert ees_ids(at_home) == ["ees-a", "ees-b"]
    assert partner.requests == []

    nothing_local = discover(
        ees_id="ees-source", eas_id="app.elsewhere", ue_id="msisdn-491700000001"
    )
    assert ees_ids(nothing_local) == ["ees-visited-1", "ees-visited-2"]
    [sent] = partner.requests
    assert sent["acProfs"][0]["eass"] == [{"easId": "app.elsewhere"}]
    assert sent["ueId"] == "msisdn-491700000001"  # shared with a partner allowed to see it
