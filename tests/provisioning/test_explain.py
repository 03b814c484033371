"""Explaining an answer (provisioning.explain): each rule's verdict, agreement with EDGE-4, cost.

Each test builds a small inventory, asks for the explanation of a request, and checks what an
engineer reads: which EESs are admitted (exactly the ones EDGE-4 answers, in its order) and
which rule excluded each of the others.
"""

from __future__ import annotations

import datetime as dt

import pytest
from cachalot.api import invalidate as cachalot_invalidate
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from provisioning import explain
from tests.builders import (
    HOME,
    area,
    configure_ecs,
    edge4_request,
    ees_ids,
    make_edn,
    make_ees,
    ncgi,
    plmn,
    polygon,
    tai,
    ue_at,
)
from tests.conftest import clear_cache

pytestmark = pytest.mark.django_db

VISITED = plmn("002", "02")
GAME = "com.example.game"


def verdicts(result: dict) -> dict[str, tuple[str, str | None]]:
    return {v["eesId"]: (v["verdict"], v["rule"]) for v in result["eess"]}


def answered(result: dict) -> list[str]:
    body = result["answer"]["body"] or {}
    return [e["eesId"] for cfg in body.get("ednCnfgInfo", []) for e in cfg["eess"]]


def admitted(result: dict) -> list[str]:
    rows = [v for v in result["eess"] if v["verdict"] == "admitted"]
    return [v["eesId"] for v in sorted(rows, key=lambda v: v["position"])]


def check(result: dict, ees_id: str, rule: str) -> dict:
    row = next(v for v in result["eess"] if v["eesId"] == ees_id)
    return next(c for c in row["checks"] if c["rule"] == rule)


def run(body: dict, **options) -> dict:
    explain.check_request(body)
    return explain.explain(body, **options)


@pytest.fixture
def city():
    """EDN north (area TAI 0001) with a game EES and a video EES; EDN south (TAI 0002) with
    a game EES."""
    configure_ecs(home=(HOME,))
    north = make_edn("edn-north", dnn="north.example", area_=area(tais=[tai("0001")]))
    south = make_edn("edn-south", dnn="south.example", area_=area(tais=[tai("0002")]))
    make_ees(north, "ees-north-game", eas_ids=[GAME])
    make_ees(north, "ees-north-video", eas_ids=["com.example.video"])
    make_ees(south, "ees-south-game", eas_ids=[GAME])
    return north, south


def test_an_ees_elsewhere_is_excluded_by_area_and_a_near_one_by_eas_id(city, edge4):
    body = edge4_request(eas_ids=[GAME], loc=ue_at(tai("0001")))
    result = run(body)
    assert verdicts(result) == {
        "ees-north-game": ("admitted", None),
        "ees-north-video": ("excluded", "easId"),
        "ees-south-game": ("excluded", "area"),
    }
    assert "does not contain the UE's location" in check(result, "ees-south-game", "area")["detail"]
    assert "com.example.video" in check(result, "ees-north-video", "easId")["detail"]
    response = edge4(body)
    assert admitted(result) == answered(result) == ees_ids(response) == ["ees-north-game"]
    assert result["answer"]["status"] == response.status_code == 200
    assert result["answer"]["complete"] is True


def test_a_point_in_the_bounding_box_but_outside_the_shape_is_excluded_by_area():
    configure_ecs(home=(HOME,))
    edn = make_edn("edn-tri", dnn="tri.example")
    triangle = area(geo=[polygon((48.0, 11.0), (49.0, 11.0), (48.0, 12.0))])
    make_ees(edn, "ees-triangle", eas_ids=[GAME], area_=triangle)
    result = run(edge4_request(eas_ids=[GAME], loc=ue_at(point=(48.9, 11.9))))
    assert verdicts(result) == {"ees-triangle": ("excluded", "area")}
    assert "bounding box" in check(result, "ees-triangle", "area")["detail"]
    assert result["answer"]["status"] == 204


def test_an_edn_serving_other_plmns_is_excluded_by_serving_plmn(edge4):
    configure_ecs(home=(HOME,))
    visited_only = make_edn("edn-visited", dnn="visited.example", plmns=[VISITED])
    home_area = make_edn("edn-home", dnn="home.example", area_=area(tais=[tai("0001")]))
    make_ees(visited_only, "ees-visited", eas_ids=[GAME])
    make_ees(home_area, "ees-home", eas_ids=[GAME])
    body = edge4_request(eas_ids=[GAME], loc=ue_at(tai("0001")), plmns=[HOME])
    result = run(body)
    assert verdicts(result) == {
        "ees-home": ("admitted", None),
        "ees-visited": ("excluded", "servingPlmn"),
    }
    assert "002-02" in check(result, "ees-visited", "servingPlmn")["detail"]
    assert admitted(result) == ees_ids(edge4(body))


def test_an_edn_naming_no_plmn_serves_the_home_and_is_excluded_for_a_roaming_ue(edge4):
    configure_ecs(home=(HOME,))
    plain = make_edn("edn-plain", dnn="plain.example")  # no area, no PLMN: the home's
    roaming = make_edn("edn-roaming", dnn="roaming.example", plmns=[VISITED])
    make_ees(plain, "ees-plain", eas_ids=[GAME])
    make_ees(roaming, "ees-roaming", eas_ids=[GAME])
    body = edge4_request(eas_ids=[GAME], plmns=[VISITED])
    result = run(body)
    assert verdicts(result) == {
        "ees-roaming": ("admitted", None),
        "ees-plain": ("excluded", "ednPlmns"),
    }
    detail = check(result, "ees-plain", "ednPlmns")["detail"]
    assert "home PLMNs (001-01)" in detail and "002-02" in detail
    assert admitted(result) == ees_ids(edge4(body))


def test_an_expired_registration_is_excluded_by_registration():
    configure_ecs(home=(HOME,))
    edn = make_edn("edn-a", dnn="a.example")
    past = timezone.now() - dt.timedelta(minutes=5)
    make_ees(edn, "ees-lapsed", eas_ids=[GAME], expires_at=past)
    result = run(edge4_request(eas_ids=[GAME], loc=ue_at(tai("0001"))))
    assert verdicts(result) == {"ees-lapsed": ("excluded", "registration")}


def test_ecsp_and_acr_order_the_answer_and_never_exclude(edge4):
    """docs/matching.md: ECSP and ACR support are preferences. The explanation shows the EES
    that is not preferred ranked after the others, with the preference that did it."""
    configure_ecs(home=(HOME,))
    edn = make_edn("edn-a", dnn="a.example")
    make_ees(edn, "ees-1-plain", eas_ids=[GAME])
    make_ees(edn, "ees-2-acr", eas_ids=[GAME], acr=["EEC_INITIATED"])
    make_ees(edn, "ees-3-ecsp", eas_ids=[GAME], ecsp="ecsp-x")
    body = edge4_request(eas_ids=[GAME], ecsp_ids=["ecsp-x"], acr=["EEC_INITIATED"])
    result = run(body)
    assert admitted(result) == ["ees-3-ecsp", "ees-2-acr", "ees-1-plain"]
    assert admitted(result) == ees_ids(edge4(body))
    assert all(v == "admitted" for v, _ in verdicts(result).values())
    ecsp = check(result, "ees-2-acr", "ecsp")
    assert ecsp["kind"] == "preference" and not ecsp["passed"]
    assert "ranks after" in ecsp["detail"]
    assert check(result, "ees-3-ecsp", "ecsp")["passed"]
    acr = check(result, "ees-1-plain", "acr")
    assert not acr["passed"] and "EEC_INITIATED" in acr["detail"]
    assert check(result, "ees-2-acr", "acr")["passed"]


def test_the_explanation_of_a_cell_matches_edge4_and_lists_the_ees_of_the_cell(edge4):
    configure_ecs(home=(HOME,))
    edn = make_edn("edn-cells", dnn="cells.example")
    make_ees(edn, "ees-cell", eas_ids=[GAME], area_=area(ncgis=[ncgi("000000001")]))
    make_ees(edn, "ees-other-cell", eas_ids=[GAME], area_=area(ncgis=[ncgi("000000002")]))
    body = edge4_request(eas_ids=[GAME], loc=ue_at(cell=ncgi("000000001")))
    result = run(body)
    assert verdicts(result) == {
        "ees-cell": ("admitted", None),
        "ees-other-cell": ("excluded", "area"),
    }
    assert admitted(result) == ees_ids(edge4(body))


def test_an_invalid_request_is_refused_as_edge4_refuses_it():
    from ecscore.errors import InvalidRequest

    with pytest.raises(InvalidRequest) as refused:
        explain.check_request({"acProfs": "not a list"})
    pointers = {p["param"] for p in refused.value.invalid_params}
    assert "/eecId" in pointers and "/acProfs" in pointers


def _located_inventory(edns: int, start: int = 0) -> None:
    """``edns`` EDNs of 5 EESs, every one at its own TAI; only edn-0000's TAI is asked for."""
    for n in range(start, edns):
        edn = make_edn(f"edn-{n:04d}", dnn=f"e{n:04d}.example", area_=area(tais=[tai(f"{n:04X}")]))
        for k in range(5):
            make_ees(edn, f"ees-{n:04d}-{k}", eas_ids=[GAME] if k % 2 else ["app.other"])


def _explained_queries(body: dict) -> tuple[int, dict]:
    clear_cache()
    cachalot_invalidate()
    with CaptureQueriesContext(connection) as captured:
        result = explain.explain(body)
    return len(captured.captured_queries), result


def test_the_explanation_examines_the_location_not_the_whole_table():
    configure_ecs(home=(HOME,))
    body = edge4_request(eas_ids=[GAME], loc=ue_at(tai("0000")), plmns=[HOME])
    _located_inventory(2)
    small, first = _explained_queries(body)
    _located_inventory(120, start=2)
    large, result = _explained_queries(body)
    assert small == large, (small, large)
    # The location's five EESs, and a bounded sample of the game's EESs elsewhere.
    near = {v["eesId"] for v in result["eess"] if v["rule"] != "area"}
    assert near == {f"ees-0000-{k}" for k in range(5)}
    elsewhere = [v for v in result["eess"] if v["rule"] == "area"]
    assert len(elsewhere) == explain.ELSEWHERE
    assert result["considered"] == 5 + explain.ELSEWHERE
    assert admitted(result) == ["ees-0000-1", "ees-0000-3"] == admitted(first)
