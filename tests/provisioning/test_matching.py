"""EDGE-4 matching: which EDNs and EESs an EEC is provisioned with, and in which order.

Every request goes through the ``edge4`` fixture, so every answer is also checked against
3GPP's own definition of the operation (TS24558_Eecs_ServiceProvisioning.yaml).
"""

import datetime as dt
import math

import pytest
from django.utils import timezone

from ecscore.datetimes import parse_datetime
from provisioning.areas import EARTH_RADIUS_M
from tests.builders import (
    HOME,
    ac_prof,
    area,
    circle,
    civic_area,
    configure_ecs,
    ecgi,
    edge4_request,
    ees_ids,
    eess_by_edn,
    make_edn,
    make_ees,
    ncgi,
    plmn,
    polygon,
    tai,
    ue_at,
    ue_eutra_at,
    ue_in_circle,
)

pytestmark = pytest.mark.django_db

# A right triangle: its hypotenuse runs from (49, 11) to (48, 12), i.e. lat + lon = 60.
TRIANGLE = polygon((48.0, 11.0), (49.0, 11.0), (48.0, 12.0))
# A circle of 50 km around (60 N, 10 E): far enough north that degrees of longitude are short.
CENTRE = (60.0, 10.0)
RADIUS_M = 50_000.0
VISITED = plmn("002", "02")
OTHER = plmn("003", "03")


@pytest.fixture(autouse=True)
def ecs():
    return configure_ecs(home=(HOME,), lifetime=3600)


def _rim_north() -> tuple[float, float]:
    """The point of the circle's rim due north of its centre (on the sphere the code uses)."""
    return CENTRE[0] + math.degrees(RADIUS_M / EARTH_RADIUS_M), CENTRE[1]


def _rim_east() -> tuple[float, float]:
    """The point of the rim at the centre's own latitude, east of it: exactly RADIUS_M away."""
    half = math.sin(RADIUS_M / EARTH_RADIUS_M / 2) / math.cos(math.radians(CENTRE[0]))
    return CENTRE[0], CENTRE[1] + math.degrees(2 * math.asin(half))


def _rim_easternmost() -> tuple[float, float]:
    """The rim's easternmost point: on a sphere it lies poleward of the centre's latitude."""
    d, lat = RADIUS_M / EARTH_RADIUS_M, math.radians(CENTRE[0])
    return (
        math.degrees(math.asin(math.sin(lat) / math.cos(d))),
        CENTRE[1] + math.degrees(math.asin(math.sin(d) / math.cos(lat))),
    )


# --- Location: TAIs and cells ------------------------------------------------------------------


def test_ue_tai_listed_in_an_ees_area_matches_that_ees_only(edge4):
    edn = make_edn("edn-1", dnn="edn1.example")
    make_ees(edn, "ees-here", area_=area(tais=[tai("0001")]))
    make_ees(edn, "ees-there", area_=area(tais=[tai("0002")]))
    response = edge4(edge4_request(loc=ue_at(tai("0001"))))
    assert response.status_code == 200
    assert ees_ids(response) == ["ees-here"]


def test_ue_tai_listed_nowhere_matches_nothing(edge4):
    edn = make_edn("edn-1", dnn="edn1.example")
    make_ees(edn, "ees-here", area_=area(tais=[tai("0001")]))
    # Same TAC in another PLMN is another TAI.
    response = edge4(edge4_request(loc=ue_at(tai("0001", VISITED))))
    assert response.status_code == 204
    response = edge4(edge4_request(loc=ue_at(tai("0003"))))
    assert response.status_code == 204


def test_ue_nr_cell_listed_in_an_ees_area_matches(edge4):
    edn = make_edn("edn-1", dnn="edn1.example")
    make_ees(edn, "ees-cell", area_=area(ncgis=[ncgi("00000A1B2")]))
    make_ees(edn, "ees-other-cell", area_=area(ncgis=[ncgi("00000A1B3")]))
    response = edge4(edge4_request(loc=ue_at(cell=ncgi("00000A1B2"))))
    assert response.status_code == 200
    assert ees_ids(response) == ["ees-cell"]


def test_ue_eutra_tai_matches(edge4):
    edn = make_edn("edn-1", dnn="edn1.example")
    make_ees(edn, "ees-tai", area_=area(tais=[tai("0101")]))
    make_ees(edn, "ees-other", area_=area(tais=[tai("0102")]))
    response = edge4(edge4_request(loc=ue_eutra_at(tai_=tai("0101"))))
    assert response.status_code == 200
    assert ees_ids(response) == ["ees-tai"]


def test_ue_eutra_cell_matches(edge4):
    edn = make_edn("edn-1", dnn="edn1.example")
    make_ees(edn, "ees-ecgi", area_=area(ecgis=[ecgi("0000A01")]))
    make_ees(edn, "ees-other", area_=area(ecgis=[ecgi("0000A02")]))
    response = edge4(edge4_request(loc=ue_eutra_at(cell=ecgi("0000A01"))))
    assert response.status_code == 200
    assert ees_ids(response) == ["ees-ecgi"]


# --- Location: geographic points ---------------------------------------------------------------


@pytest.mark.parametrize(
    "point",
    [
        pytest.param((48.2, 11.2), id="inside"),
        pytest.param((48.5, 11.5), id="on-slanted-edge"),
        pytest.param((48.0, 11.4), id="on-horizontal-edge"),
        pytest.param((48.6, 11.0), id="on-vertical-edge"),
        pytest.param((49.0, 11.0), id="on-vertex"),
        pytest.param((48.0, 12.0), id="on-other-vertex"),
    ],
)
def test_point_inside_or_on_the_boundary_of_a_polygon_matches(edge4, point):
    edn = make_edn("edn-1", dnn="edn1.example")
    make_ees(edn, "ees-poly", area_=area(geo=[TRIANGLE]))
    make_ees(edn, "ees-far", area_=area(geo=[polygon((10.0, 10.0), (11.0, 10.0), (10.0, 11.0))]))
    response = edge4(edge4_request(loc=ue_at(point=point)))
    assert response.status_code == 200
    assert ees_ids(response) == ["ees-poly"]


@pytest.mark.parametrize(
    "point",
    [
        # Inside the triangle's bounding box, just beyond its hypotenuse.
        pytest.param((48.6, 11.6), id="beyond-hypotenuse"),
        pytest.param((48.5, 11.500001), id="just-beyond-hypotenuse"),
        pytest.param((50.0, 11.5), id="far-outside"),
    ],
)
def test_point_outside_a_polygon_does_not_match(edge4, point):
    edn = make_edn("edn-1", dnn="edn1.example")
    make_ees(edn, "ees-poly", area_=area(geo=[TRIANGLE]))
    response = edge4(edge4_request(loc=ue_at(point=point)))
    assert response.status_code == 204


def test_ue_uncertainty_circle_counts_by_its_centre(edge4):
    edn = make_edn("edn-1", dnn="edn1.example")
    make_ees(edn, "ees-poly", area_=area(geo=[TRIANGLE]))
    response = edge4(edge4_request(loc=ue_in_circle(48.2, 11.2, 10.0)))
    assert ees_ids(response) == ["ees-poly"]
    # A circle that overlaps the triangle but whose centre lies outside it does not match.
    response = edge4(edge4_request(loc=ue_in_circle(48.6, 11.6, 50_000.0)))
    assert response.status_code == 204


@pytest.mark.parametrize(
    "point",
    [
        pytest.param((60.1, 10.1), id="inside"),
        pytest.param(CENTRE, id="centre"),
        pytest.param(_rim_north(), id="on-rim-north"),
        pytest.param(_rim_east(), id="on-rim-east"),
        pytest.param(_rim_easternmost(), id="on-rim-easternmost"),
    ],
)
def test_point_inside_or_on_the_rim_of_a_circle_matches(edge4, point):
    edn = make_edn("edn-1", dnn="edn1.example")
    make_ees(edn, "ees-circle", area_=area(geo=[circle(*CENTRE, RADIUS_M)]))
    make_ees(edn, "ees-far", area_=area(geo=[circle(40.0, 10.0, RADIUS_M)]))
    response = edge4(edge4_request(loc=ue_at(point=point)))
    assert response.status_code == 200
    assert ees_ids(response) == ["ees-circle"]


@pytest.mark.parametrize(
    "point",
    [
        # 50 m beyond the northern rim.
        pytest.param(
            (CENTRE[0] + math.degrees((RADIUS_M + 50) / EARTH_RADIUS_M), CENTRE[1]),
            id="just-beyond-rim",
        ),
        # Inside the circle's bounding box, but about 63 km from the centre.
        pytest.param((60.4, 10.8), id="bounding-box-corner"),
        pytest.param((62.0, 10.0), id="far-outside"),
    ],
)
def test_point_outside_a_circle_does_not_match(edge4, point):
    edn = make_edn("edn-1", dnn="edn1.example")
    make_ees(edn, "ees-circle", area_=area(geo=[circle(*CENTRE, RADIUS_M)]))
    response = edge4(edge4_request(loc=ue_at(point=point)))
    assert response.status_code == 204


# --- Location: whose area counts ---------------------------------------------------------------


def test_ees_without_svc_area_takes_its_edn_area(edge4):
    edn = make_edn("edn-1", dnn="edn1.example", area_=area(tais=[tai("0001")]))
    make_ees(edn, "ees-inherits")
    make_ees(edn, "ees-own", area_=area(tais=[tai("0002")]))
    # The EDN's area is the area of the EES without one, and only of that EES.
    assert ees_ids(edge4(edge4_request(loc=ue_at(tai("0001"))))) == ["ees-inherits"]
    assert ees_ids(edge4(edge4_request(loc=ue_at(tai("0002"))))) == ["ees-own"]
    assert edge4(edge4_request(loc=ue_at(tai("0003")))).status_code == 204


def test_ees_without_svc_area_takes_its_edn_geographic_area(edge4):
    edn = make_edn("edn-1", dnn="edn1.example", area_=area(geo=[TRIANGLE]))
    make_ees(edn, "ees-inherits")
    assert ees_ids(edge4(edge4_request(loc=ue_at(point=(48.2, 11.2))))) == ["ees-inherits"]
    assert edge4(edge4_request(loc=ue_at(point=(48.6, 11.6)))).status_code == 204


@pytest.mark.parametrize(
    "loc",
    [
        pytest.param(ue_at(tai("0042", VISITED)), id="tai"),
        pytest.param(ue_eutra_at(cell=ecgi("0000B01")), id="ecgi"),
        pytest.param(ue_at(point=(-33.9, 18.4)), id="point"),
    ],
)
def test_no_area_at_either_level_serves_every_location(edge4, loc):
    edn = make_edn("edn-1", dnn="edn1.example")
    make_ees(edn, "ees-anywhere")
    make_ees(edn, "ees-elsewhere", area_=area(tais=[tai("0001")]))
    response = edge4(edge4_request(loc=loc))
    assert response.status_code == 200
    assert ees_ids(response) == ["ees-anywhere"]


def test_civic_address_only_area_restricts_nothing_and_is_returned_as_stored(edge4):
    ees_area = civic_area("DE", A1="Bayern", A3="München")
    edn_area = civic_area("DE", A1="Bayern")
    edn = make_edn("edn-1", dnn="edn1.example", area_=edn_area)
    make_ees(edn, "ees-civic", area_=ees_area)
    response = edge4(edge4_request(loc=ue_at(tai("0042"), point=(48.2, 11.2))))
    assert response.status_code == 200
    [config] = response.json()["ednCnfgInfo"]
    assert config["ednConInfo"]["ednTopoSrvArea"] == edn_area
    assert [e["eesId"] for e in config["eess"]] == ["ees-civic"]
    assert config["eess"][0]["svcArea"] == ees_area


def test_civic_address_only_ees_area_does_not_hide_its_edn_area(edge4):
    # A civic-only svcArea is not an area for matching, so the EDN's area applies.
    edn = make_edn("edn-1", dnn="edn1.example", area_=area(tais=[tai("0001")]))
    make_ees(edn, "ees-civic", area_=civic_area("DE"))
    response = edge4(edge4_request(loc=ue_at(tai("0001"))))
    assert ees_ids(response) == ["ees-civic"]
    assert response.json()["ednCnfgInfo"][0]["eess"][0]["svcArea"] == civic_area("DE")
    assert edge4(edge4_request(loc=ue_at(tai("0002")))).status_code == 204


@pytest.mark.parametrize(
    "loc",
    [
        pytest.param(None, id="no-locInf"),
        pytest.param({}, id="empty-locInf"),
        pytest.param({"civicAddress": {"country": "DE"}}, id="civic-address-only"),
    ],
)
def test_without_ue_location_location_restricts_nothing(edge4, loc):
    edn_a = make_edn("edn-a", dnn="edna.example", area_=area(tais=[tai("0001")]))
    make_ees(edn_a, "ees-edn-area")
    edn_b = make_edn("edn-b", dnn="ednb.example")
    make_ees(edn_b, "ees-tai", area_=area(tais=[tai("0002")]))
    make_ees(edn_b, "ees-geo", area_=area(geo=[TRIANGLE]))
    response = edge4(edge4_request(loc=loc))
    assert response.status_code == 200
    assert sorted(ees_ids(response)) == ["ees-edn-area", "ees-geo", "ees-tai"]


# --- Applications ------------------------------------------------------------------------------


def test_eas_ids_select_the_eess_that_serve_any_of_them(edge4):
    edn = make_edn("edn-1", dnn="edn1.example")
    make_ees(edn, "ees-1", eas_ids=["app.one"])
    make_ees(edn, "ees-2", eas_ids=["app.two"])
    make_ees(edn, "ees-3", eas_ids=["app.three"])
    make_ees(edn, "ees-4", eas_ids=["app.four", "app.two"])
    response = edge4(edge4_request(eas_ids=["app.one", "app.two"]))
    assert ees_ids(response) == ["ees-1", "ees-2", "ees-4"]
    # easIds spread over several AC profiles count together.
    body = edge4_request(acProfs=[ac_prof("ac-1", ["app.one"]), ac_prof("ac-2", ["app.three"])])
    assert ees_ids(edge4(body)) == ["ees-1", "ees-3"]
    assert edge4(edge4_request(eas_ids=["app.five"])).status_code == 204


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({}, id="no-acProfs"),
        pytest.param({"acProfs": [ac_prof("ac-1")]}, id="acProf-without-eass"),
    ],
)
def test_without_eas_ids_applications_restrict_nothing(edge4, extra):
    edn = make_edn("edn-1", dnn="edn1.example")
    make_ees(edn, "ees-1", eas_ids=["app.one"])
    make_ees(edn, "ees-2", eas_ids=["app.two"])
    make_ees(edn, "ees-none", eas_ids=[])
    assert ees_ids(edge4(edge4_request(**extra))) == ["ees-1", "ees-2", "ees-none"]


# --- PLMN --------------------------------------------------------------------------------------


def test_several_plmns_in_conn_info_match_edns_serving_any_of_them(edge4):
    home = make_edn("edn-home", dnn="home.example", area_=area(tais=[tai("0001")]))
    make_ees(home, "ees-home")
    visited = make_edn(
        "edn-visited", dnn="visited.example", area_=area(tais=[tai("0001", VISITED)])
    )
    make_ees(visited, "ees-visited")
    other = make_edn("edn-other", dnn="other.example", area_=area(ncgis=[ncgi("000000001", OTHER)]))
    make_ees(other, "ees-other")
    response = edge4(edge4_request(plmns=[VISITED, OTHER]))
    assert eess_by_edn(response) == [
        ("other.example", ["ees-other"]),
        ("visited.example", ["ees-visited"]),
    ]


def test_edn_naming_no_plmn_serves_the_home_plmns(edge4):
    plain = make_edn("edn-plain", dnn="plain.example")
    make_ees(plain, "ees-plain")
    visited = make_edn(
        "edn-visited", dnn="visited.example", area_=area(tais=[tai("0001", VISITED)])
    )
    make_ees(visited, "ees-visited")
    assert ees_ids(edge4(edge4_request(plmns=[HOME]))) == ["ees-plain"]
    assert ees_ids(edge4(edge4_request(plmns=[VISITED]))) == ["ees-visited"]


def test_edn_serves_the_plmn_of_its_ees_area(edge4):
    edn = make_edn("edn-1", dnn="edn1.example")
    make_ees(edn, "ees-visited-area", area_=area(tais=[tai("0001", VISITED)]))
    make_ees(edn, "ees-no-area")
    # PLMNs are served by the EDN: its EES without an area matches too.
    response = edge4(edge4_request(plmns=[VISITED]))
    assert eess_by_edn(response) == [("edn1.example", ["ees-no-area", "ees-visited-area"])]
    # The EDN names a PLMN now, so it no longer serves the home PLMNs by default.
    assert edge4(edge4_request(plmns=[HOME])).status_code == 204


def test_edn_serves_its_listed_plmns(edge4):
    edn = make_edn("edn-1", dnn="edn1.example", plmns=[VISITED])
    make_ees(edn, "ees-1")
    assert ees_ids(edge4(edge4_request(plmns=[VISITED]))) == ["ees-1"]
    assert edge4(edge4_request(plmns=[HOME])).status_code == 204
    assert edge4(edge4_request(plmns=[OTHER])).status_code == 204


def test_roaming_plmn_that_no_edn_serves_matches_nothing(edge4):
    plain = make_edn("edn-plain", dnn="plain.example")
    make_ees(plain, "ees-plain")
    home = make_edn("edn-home", dnn="home.example", area_=area(tais=[tai("0001")]))
    make_ees(home, "ees-home")
    assert edge4(edge4_request(plmns=[plmn("999", "99")])).status_code == 204
    assert ees_ids(edge4(edge4_request(plmns=[HOME]))) == ["ees-home", "ees-plain"]


# --- Preferences: order, never filter ----------------------------------------------------------


def test_eess_of_ecsps_in_ecsp_ids_come_first(edge4):
    edn = make_edn("edn-1", dnn="edn1.example")
    make_ees(edn, "ees-a")
    make_ees(edn, "ees-b", ecsp="ecsp-y")
    make_ees(edn, "ees-c", ecsp="ecsp-x")
    assert ees_ids(edge4(edge4_request())) == ["ees-a", "ees-b", "ees-c"]
    assert ees_ids(edge4(edge4_request(ecsp_ids=["ecsp-x"]))) == ["ees-c", "ees-a", "ees-b"]


def test_eess_of_ecsps_in_pref_ecsps_come_first(edge4):
    edn = make_edn("edn-1", dnn="edn1.example")
    make_ees(edn, "ees-a")
    make_ees(edn, "ees-b", ecsp="ecsp-y")
    make_ees(edn, "ees-c", ecsp="ecsp-x")
    body = edge4_request(acProfs=[ac_prof("ac-1", ["app.one"], pref_ecsps=["ecsp-y"])])
    assert ees_ids(edge4(body)) == ["ees-b", "ees-a", "ees-c"]
    # Both lists count, each preferred EES before the others, ties by EES id.
    body["ecspIds"] = ["ecsp-x"]
    assert ees_ids(edge4(body)) == ["ees-b", "ees-c", "ees-a"]


def test_eess_supporting_a_requested_acr_scenario_come_next(edge4):
    edn = make_edn("edn-1", dnn="edn1.example")
    make_ees(edn, "ees-a")
    make_ees(edn, "ees-b", acr=["SOURCE_EAS_DECIDED"])
    make_ees(edn, "ees-c", acr=["EEC_INITIATED", "EEC_EXECUTED_VIA_SOURCE_EES"])
    assert ees_ids(edge4(edge4_request(acr=["EEC_INITIATED"]))) == ["ees-c", "ees-a", "ees-b"]
    body = edge4_request(acProfs=[ac_prof("ac-1", acr=["SOURCE_EAS_DECIDED"])])
    assert ees_ids(edge4(body)) == ["ees-b", "ees-a", "ees-c"]
    body["eecSvcContSupp"] = ["EEC_EXECUTED_VIA_SOURCE_EES"]
    assert ees_ids(edge4(body)) == ["ees-b", "ees-c", "ees-a"]


def test_preferred_ecsp_outranks_acr_scenario_which_outranks_ees_id(edge4):
    edn = make_edn("edn-1", dnn="edn1.example")
    make_ees(edn, "ees-a")
    make_ees(edn, "ees-b", acr=["EEC_INITIATED"])
    make_ees(edn, "ees-c", ecsp="ecsp-x")
    make_ees(edn, "ees-d", ecsp="ecsp-x", acr=["EEC_INITIATED"])
    response = edge4(edge4_request(ecsp_ids=["ecsp-x"], acr=["EEC_INITIATED"]))
    assert ees_ids(response) == ["ees-d", "ees-c", "ees-b", "ees-a"]


def test_edns_are_ordered_by_their_best_ees(edge4):
    edn_1 = make_edn("edn-1", dnn="edn1.example")
    make_ees(edn_1, "ees-b", ecsp="ecsp-x")
    make_ees(edn_1, "ees-d")
    edn_2 = make_edn("edn-2", dnn="edn2.example")
    make_ees(edn_2, "ees-a")
    make_ees(edn_2, "ees-c", ecsp="ecsp-x")
    edn_3 = make_edn("edn-3", dnn="edn3.example")
    make_ees(edn_3, "ees-0", acr=["EEC_INITIATED"])
    assert eess_by_edn(edge4(edge4_request())) == [
        ("edn3.example", ["ees-0"]),
        ("edn2.example", ["ees-a", "ees-c"]),
        ("edn1.example", ["ees-b", "ees-d"]),
    ]
    response = edge4(edge4_request(ecsp_ids=["ecsp-x"]))
    assert eess_by_edn(response) == [
        ("edn1.example", ["ees-b", "ees-d"]),
        ("edn2.example", ["ees-c", "ees-a"]),
        ("edn3.example", ["ees-0"]),
    ]
    response = edge4(edge4_request(acr=["EEC_INITIATED"]))
    assert eess_by_edn(response) == [
        ("edn3.example", ["ees-0"]),
        ("edn2.example", ["ees-a", "ees-c"]),
        ("edn1.example", ["ees-b", "ees-d"]),
    ]


def test_preferences_never_filter(edge4):
    edn = make_edn("edn-1", dnn="edn1.example")
    make_ees(edn, "ees-a", ecsp="ecsp-y")
    response = edge4(edge4_request(ecsp_ids=["ecsp-x"], acr=["EEC_INITIATED"]))
    assert ees_ids(response) == ["ees-a"]


# --- The answer --------------------------------------------------------------------------------


def test_an_edn_lists_only_its_matching_eess_and_edns_without_any_are_left_out(edge4):
    edn_1 = make_edn("edn-1", dnn="edn1.example")
    make_ees(edn_1, "ees-match", eas_ids=["app.one"], area_=area(tais=[tai("0001")]))
    make_ees(edn_1, "ees-other-app", eas_ids=["app.two"], area_=area(tais=[tai("0001")]))
    make_ees(edn_1, "ees-other-area", eas_ids=["app.one"], area_=area(tais=[tai("0002")]))
    edn_2 = make_edn("edn-2", dnn="edn2.example")
    make_ees(edn_2, "ees-edn2", eas_ids=["app.two"])
    response = edge4(edge4_request(eas_ids=["app.one"], loc=ue_at(tai("0001"))))
    assert eess_by_edn(response) == [("edn1.example", ["ees-match"])]


def test_every_edn_config_info_carries_now_plus_the_provisioning_lifetime(edge4):
    configure_ecs(lifetime=900)
    for name in ("edn1", "edn2"):
        make_ees(make_edn(name, dnn=f"{name}.example"), f"ees-{name}")
    before = timezone.now()
    response = edge4(edge4_request())
    after = timezone.now()
    configs = response.json()["ednCnfgInfo"]
    assert len(configs) == 2
    for config in configs:
        life_time = parse_datetime(config["lifeTime"])
        assert life_time is not None, config["lifeTime"]
        lifetime = dt.timedelta(seconds=900)
        assert before + lifetime - dt.timedelta(seconds=2) <= life_time
        assert life_time <= after + lifetime + dt.timedelta(seconds=2)
