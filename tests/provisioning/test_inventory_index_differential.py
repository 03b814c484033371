"""The in-memory inventory index answers exactly as the SQL matcher, its oracle.

Random inventories and requests (the strategies of the matching properties), then random
changes through the models' write paths (an EES moved, its area or applications replaced,
one deleted, an EDN's area or PLMNs replaced, EESs registered), each followed by the same
requests: the index must have caught up incrementally -- the same snapshot, not a rebuild --
and still agree with the SQL matcher on every answer.

Real commits (``transaction=True``): inside a transaction the index is never consulted.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioning import datamodel, inventory, matching
from provisioning.datamodel import provisioning_query
from provisioning.models import EDN, EES, ECSConfiguration
from tests.builders import make_ees
from tests.provisioning.test_matching_properties import (
    _plmn,
    asks,
    build,
    maybe_area,
    request_body,
    worlds,
)

pytestmark = pytest.mark.django_db(transaction=True)


def answer(query, home, from_sql: bool) -> list[dict]:
    """The EDNConfigInfo list EDGE-4 would send: the index's records build their wire form
    from kept values and stored JSON text, the oracle from model instances."""
    return datamodel.edn_config_infos(matching.match(query, home, from_sql=from_sql), None)


def assert_agree(bodies: list[dict]) -> None:
    home = ECSConfiguration.current().home_plmn_keys()
    for body in bodies:
        query = provisioning_query(body)
        assert answer(query, home, from_sql=False) == answer(query, home, from_sql=True), body


# One change: (what, the EES or EDN it picks by position, a new area, new EAS ids, PLMNs).
changes = st.tuples(
    st.sampled_from(["move", "area", "apps", "delete", "edn-area", "edn-plmns", "register"]),
    st.integers(0, 20),
    maybe_area,
    st.lists(st.sampled_from(["app.a", "app.b", "app.c"]), min_size=1, max_size=2, unique=True),
    st.lists(st.sampled_from([("001", "01"), ("002", "01")]), max_size=2, unique=True),
)


def apply(change: tuple, serial: int) -> None:
    what, pick, area, apps, plmns = change
    eess = list(EES.objects.order_by("pk").select_related("edn"))
    edns = list(EDN.objects.order_by("pk"))
    if what in ("move", "area", "apps", "delete") and eess:
        ees = eess[pick % len(eess)]
        if what == "move":
            ees.edn = edns[(pick + 1) % len(edns)]
        elif what == "area":
            ees.svc_area = area.as_3gpp() if area else None
        elif what == "apps":
            ees.eas_ids = apps
        if what == "delete":
            ees.delete()
        else:
            ees.save()
    elif what in ("edn-area", "edn-plmns"):
        edn = edns[pick % len(edns)]
        if what == "edn-area":
            edn.edn_topo_srv_area = area.as_3gpp() if area else None
        else:
            edn.plmns = [_plmn(p) for p in plmns]
        edn.save()
    elif what == "register":
        make_ees(
            edns[pick % len(edns)],
            f"ees-new-{serial}",
            eas_ids=apps,
            area_=area.as_3gpp() if area else None,
        )


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    derandomize=os.environ.get("ECS_PROPERTY_RANDOM") != "1",
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    world=worlds,
    requests=st.lists(asks, min_size=1, max_size=6),
    later=st.lists(changes, max_size=5),
)
def test_the_index_answers_as_the_sql_matcher_before_and_after_changes(world, requests, later):
    inventory.index.reset()
    try:
        build(world)
        bodies = [request_body(ask) for ask in requests]
        snapshot = inventory.index.wait_built()
        assert snapshot is not None
        assert len(snapshot.eess) == EES.objects.count()
        assert_agree(bodies)
        for serial, change in enumerate(later):
            apply(change, serial)
            assert_agree(bodies)
            # Caught up from the change rows, not built again.
            assert inventory.index.current() is snapshot
        assert set(snapshot.eess) == set(EES.objects.values_list("pk", flat=True))
    finally:
        EDN.objects.all().delete()
        inventory.index.reset()


def test_a_change_committed_out_of_order_is_still_read(monkeypatch):
    """An id skipped over (its transaction still open when a later one was read) is asked
    for again until it appears."""
    world = worlds.example()
    build(world)
    snapshot = inventory.index.wait_built()
    assert snapshot is not None
    edn = EDN.objects.order_by("pk").first()
    # Two changes, of which the index first sees only the later one.
    first = make_ees(edn, "ees-late-1", eas_ids=["app.z"])
    second = make_ees(edn, "ees-late-2", eas_ids=["app.z"])
    rows = inventory.index._changes()  # the rows of both registrations
    later = [row for row in rows if row[1] == second.pk]
    inventory.index._apply(later, 0.0)
    assert second.pk in snapshot.eess and first.pk not in snapshot.eess
    assert inventory.index.gaps  # the first one's rows are now asked for by id
    home = ECSConfiguration.current().home_plmn_keys()
    query = provisioning_query(request_body(asks.example()))
    inventory.index.current()
    assert first.pk in snapshot.eess
    assert answer(query, home, False) == answer(query, home, True)


def test_an_area_big_enough_to_skip_the_grid_is_still_found():
    """A circle of 2,000 km spans more grid cells than are listed: it is checked directly."""
    from tests.builders import configure_ecs, make_edn

    configure_ecs()
    edn = make_edn("wide", "wide.example")
    wide = {
        "geographicAreas": [
            {
                "shape": "POINT_UNCERTAINTY_CIRCLE",
                "point": {"lat": 48.0, "lon": 11.0},
                "uncertainty": 2_000_000,
            }
        ]
    }
    make_ees(edn, "ees-wide", eas_ids=["app.a"], area_=wide)
    snapshot = inventory.index.wait_built()
    assert snapshot is not None and snapshot.ees_areas.wide
    body = {
        "eecId": "eec-1",
        "locInf": {"geographicArea": {"shape": "POINT", "point": {"lat": 55.0, "lon": 20.0}}},
    }
    home = ECSConfiguration.current().home_plmn_keys()
    query = provisioning_query(body)
    for from_sql in (False, True):
        (config,) = answer(query, home, from_sql)
        assert [ees["eesId"] for ees in config["eess"]] == ["ees-wide"]


def test_the_setting_switches_the_index_off(settings):
    settings.ECS_INVENTORY_INDEX = False
    assert inventory.index.current() is None


def test_an_ees_with_every_member_answers_the_same_from_the_index():
    """Every EESInfo member survives the index's compact form, in 3GPP's order, and a dict
    handed out cannot change what the index answers next."""
    from tests.builders import make_edn, tai

    ECSConfiguration.objects.update_or_create(pk=1, defaults={"ecs_id": "ecs.home"})
    edn = make_edn(edn_id="edn-full", area_=None)
    area = {"nwAreaInfo": {"tais": [tai("00F1")]}}
    make_ees(
        edn,
        "ees-full",
        eas_ids=("app.a", "app.b"),
        area_=area,
        ecsp="op-a",
        acr=("EEC_INITIATED", "SOURCE_EAS_DECIDED"),
        app_group_ids=["grp-1"],
        dnais=["dnai-1"],
        eec_reg_conf=True,
        eas_inst_infos=[{"easId": "app.a", "instIds": ["i-1"]}],
        ees_auth_methods=["TLS_WITH_AKMA"],
        eas_bundle_infos=[{"easBdlId": "b-1", "easIds": ["app.a"]}],
    )
    inventory.index.reset()
    assert inventory.index.wait_built() is not None
    home = ECSConfiguration.current().home_plmn_keys()
    query = provisioning_query(
        {
            "locInf": {
                "userLocation": {
                    "nrLocation": {
                        "tai": tai("00F1"),
                        "ncgi": {"plmnId": {"mcc": "001", "mnc": "01"}, "nrCellId": "000000001"},
                    }
                }
            },
            "acProfs": [{"acId": "ac", "eass": [{"easId": "app.b"}]}],
        }
    )
    from_index = answer(query, home, from_sql=False)
    expected = answer(query, home, from_sql=True)
    assert from_index == expected
    info = from_index[0]["eess"][0]
    assert list(info) == [
        "eesId",
        "endPt",
        "easIds",
        "appGroupIdList",
        "ecspInfo",
        "svcArea",
        "dnais",
        "eesSvcContSupp",
        "eecRegConf",
        "easInstInfos",
        "eesAuthMethods",
        "easBundleInfos",
    ]
    assert info["svcArea"] == area and info["eecRegConf"] is True
    info["easIds"].append("tampered")
    info["svcArea"]["nwAreaInfo"]["tais"].clear()
    assert answer(query, home, from_sql=False) == expected
