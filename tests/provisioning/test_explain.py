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
from hypothesis import given
from hypothesis import strategies as st

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
from tests.provisioning.test_matching_properties import asks, build, request_body, worlds

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


# --- agreement with EDGE-4 on random small inventories (the matching properties' worlds) ---


def _agrees(client, body: dict) -> None:
    from tests.builders import EDGE4_REQUEST, post_json

    result = run(body)
    response = post_json(client, EDGE4_REQUEST, body)
    assert response.status_code in (200, 204), response.content
    assert admitted(result) == answered(result) == ees_ids(response), body
    assert result["answer"]["status"] == response.status_code
    for row in result["eess"]:
        assert row["rule"] != "changed", row
        failed = [c for c in row["checks"] if c["kind"] == "filter" and not c["passed"]]
        # Admitted: no filter fails; excluded: the first failing filter is the verdict.
        assert (row["verdict"] == "admitted") == (not failed), row
        if failed:
            assert row["rule"] == failed[0]["rule"]
    wanted = set(result["query"]["easIds"])
    if wanted and result["query"]["location"]["keys"] + result["query"]["location"]["points"]:
        # Small worlds: every EES serving a requested application is considered.
        from provisioning.models import EES

        serving = {e.ees_id for e in EES.objects.all() if wanted & set(e.eas_ids)}
        assert serving <= {row["eesId"] for row in result["eess"]}


def _property_settings(examples: int):
    import os

    from hypothesis import HealthCheck, settings

    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=os.environ.get("ECS_PROPERTY_RANDOM") != "1",
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


@_property_settings(30)
@given(world=worlds, requests=st.lists(asks, min_size=1, max_size=4))
def test_the_admitted_eess_are_exactly_edge4s_answer_sql(client, world, requests):
    from provisioning.models import EDN

    try:
        build(world)
        for ask in requests:
            _agrees(client, request_body(ask))
    finally:
        EDN.objects.all().delete()


@_property_settings(15)
@given(world=worlds, requests=st.lists(asks, min_size=1, max_size=4))
@pytest.mark.django_db(transaction=True)
def test_the_admitted_eess_are_exactly_edge4s_answer_in_memory_index(client, world, requests):
    """Outside a transaction both answer from the in-memory index (``Snapshot``)."""
    from provisioning import inventory
    from provisioning.models import EDN

    inventory.index.reset()
    try:
        build(world)
        assert inventory.index.wait_built() is not None
        for ask in requests:
            _agrees(client, request_body(ask))
    finally:
        EDN.objects.all().delete()
        inventory.index.reset()


# --- manage.py ecs_explain ---------------------------------------------------------------


def test_the_command_prints_the_explanation_as_json(city, tmp_path):
    import io
    import json

    from django.core.management import call_command

    path = tmp_path / "request.json"
    body = edge4_request(eas_ids=[GAME], loc=ue_at(tai("0001")))
    path.write_text(json.dumps(body))
    out = io.StringIO()
    call_command("ecs_explain", str(path), stdout=out)
    printed = json.loads(out.getvalue())
    assert printed["answer"]["status"] == 200
    assert verdicts(printed) == verdicts(run(body))
    assert printed["requestId"]


def test_the_command_reads_stdin_and_refuses_what_edge4_refuses(city, monkeypatch):
    import io
    import json

    from django.core.management import call_command
    from django.core.management.base import CommandError

    body = edge4_request(eas_ids=[GAME], loc=ue_at(tai("0002")))
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(body)))
    out = io.StringIO()
    call_command("ecs_explain", "-", stdout=out)
    assert admitted(json.loads(out.getvalue())) == ["ees-south-game"]

    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps({"acProfs": 1})))
    with pytest.raises(CommandError, match="/eecId: is required"):
        call_command("ecs_explain", "-", stdout=io.StringIO())
    monkeypatch.setattr("sys.stdin", io.StringIO("{not json"))
    with pytest.raises(CommandError, match="not JSON"):
        call_command("ecs_explain", "-", stdout=io.StringIO())


@pytest.mark.django_db(transaction=True)
def test_from_the_in_memory_index_too_only_the_location_and_a_sample_are_examined(settings):
    from provisioning import inventory
    from provisioning.models import EDN

    # Caught up explicitly before each count: whether the index reads the change feed inside
    # the count would otherwise depend on how long the machine took since the last read.
    settings.ECS_FRESHNESS_SECONDS = 600
    inventory.index.reset()
    try:
        configure_ecs(home=(HOME,))
        body = edge4_request(eas_ids=[GAME], loc=ue_at(tai("0000")), plmns=[HOME])
        _located_inventory(20)
        assert inventory.index.wait_built() is not None
        assert inventory.index.current() is not None
        small, _ = _explained_queries(body)
        _located_inventory(50, start=20)
        assert inventory.index.current() is not None  # caught up with the new rows
        large, result = _explained_queries(body)
        assert large == small
        assert result["considered"] == 5 + explain.ELSEWHERE
        assert admitted(result) == ["ees-0000-1", "ees-0000-3"]
    finally:
        EDN.objects.all().delete()
        inventory.index.reset()
