"""The map of service areas' GeoJSON endpoint (/admin/service-map/data.json): who may read
it, what it draws, the overlaps it finds, and that it stays bounded; and the
``areaCoordinates`` section of the configuration file that places TAIs and cells."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ecscore import configfile
from provisioning import areas
from provisioning.areamap import Viewport, shapes_overlap
from provisioning.models import AreaCoordinates
from tests.builders import area, circle, make_edn, make_ees, polygon, tai
from tests.provisioning.test_admin_permissions import logged_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static_files")]

DATA = "/admin/service-map/data.json"
PAGE = "/admin/service-map/"


def square(lat: float, lon: float, size: float = 0.01) -> dict:
    return polygon((lat, lon), (lat, lon + size), (lat + size, lon + size), (lat + size, lon))


@pytest.fixture
def two_overlapping_edns():
    north = make_edn("edn-north", area_=area(geo=[square(59.93, 10.70, 0.02)]))
    south = make_edn("edn-south", dnn="edge.south", area_=area(geo=[square(59.94, 10.71, 0.02)]))
    far = make_edn("edn-far", dnn="edge.far", area_=area(geo=[square(48.0, 2.0)]))
    return north, south, far


def superuser():
    return logged_in("root", superuser=True)


def test_anonymous_and_non_staff_get_no_data(client, two_overlapping_edns):
    not_staff = logged_in("eve", staff=False)
    for path in (PAGE, DATA):
        response = client.get(path)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
        response = not_staff.get(path)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_staff_without_view_permission_is_refused(two_overlapping_edns):
    staff = logged_in("staff")
    assert staff.get(DATA).status_code == 403
    assert staff.get(PAGE).status_code == 403
    # Nor is the map linked from the index for them.
    assert b"service-map" not in staff.get("/admin/").content


def test_a_layer_is_shown_only_with_its_view_permission(two_overlapping_edns):
    north, _, _ = two_overlapping_edns
    make_ees(north, "ees-north", area_=area(geo=[circle(59.935, 10.705, 300)]))
    edn_viewer = logged_in("edns", perms=["view_edn"])
    layers = {f["properties"]["layer"] for f in edn_viewer.get(DATA).json()["features"]}
    assert layers == {"edn"}
    ees_viewer = logged_in("eess", perms=["view_ees"])
    features = ees_viewer.get(DATA).json()["features"]
    assert [(f["properties"]["layer"], f["properties"]["id"]) for f in features] == [
        ("ees", "ees-north")
    ]
    assert b'href="/admin/service-map/"' in edn_viewer.get("/admin/").content
    page = edn_viewer.get(PAGE)
    assert page.status_code == 200
    assert b"vendor/leaflet/leaflet.js" in page.content


def test_shapes_come_as_geojson_and_overlapping_edns_are_paired(two_overlapping_edns):
    response = superuser().get(DATA)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/geo+json"
    data = response.json()
    assert data["type"] == "FeatureCollection"
    by_id = {f["properties"]["id"]: f for f in data["features"]}
    assert set(by_id) == {"edn-north", "edn-south", "edn-far"}
    ring = by_id["edn-north"]["geometry"]["coordinates"][0]
    assert by_id["edn-north"]["geometry"]["type"] == "Polygon"
    assert ring[0] == ring[-1] == [10.70, 59.93]  # GeoJSON: [lon, lat], ring closed
    assert [(o["a"], o["b"]) for o in data["overlaps"]] == [("edn-north", "edn-south")]
    assert data["truncated"] is False
    assert data["bbox"][0] == pytest.approx(2.0, abs=1e-5)


def test_tais_are_drawn_where_coordinates_are_given_and_listed_where_not():
    AreaCoordinates.objects.create(kind="tai", area=tai("0101"), lat=59.9, lon=10.7, radius_m=800)
    make_edn("edn-tais", area_=area(tais=[tai("0101"), tai("0102")]))
    make_edn("edn-same-tai", dnn="edge.other", area_=area(tais=[tai("0101")]))
    data = superuser().get(DATA).json()
    placed = [f for f in data["features"] if f["properties"]["id"] == "edn-tais"]
    assert len(placed) == 1
    assert placed[0]["geometry"] == {"type": "Point", "coordinates": [10.7, 59.9]}
    assert placed[0]["properties"]["radius"] == 800
    assert placed[0]["properties"]["key"] == "tai:001-01:0101"
    unplaced = {u["id"]: u["keys"] for u in data["unplaced"]}
    assert unplaced == {"edn-tais": ["tai:001-01:0102"]}
    assert data["overlaps"] == [
        {
            "a": "edn-same-tai",
            "aPk": data["overlaps"][0]["aPk"],
            "b": "edn-tais",
            "bPk": data["overlaps"][0]["bPk"],
            "why": "both list tai:001-01:0101",
        }
    ]


def test_the_viewport_and_the_limit_bound_the_answer(two_overlapping_edns):
    admin = superuser()
    data = admin.get(DATA, {"bbox": "10.0,59.0,11.0,60.5"}).json()
    assert {f["properties"]["id"] for f in data["features"]} == {"edn-north", "edn-south"}
    data = admin.get(DATA, {"limit": "1"}).json()
    assert data["truncated"] is True and data["limit"] == 1
    assert data["areas"]["edns"] + data["areas"]["eess"] == 1


def test_the_query_count_does_not_grow_with_the_inventory(two_overlapping_edns):
    admin = superuser()
    admin.get(DATA)  # sessions, permissions cached
    with CaptureQueriesContext(connection) as few:
        admin.get(DATA)
    for n in range(30):
        make_edn(f"edn-{n}", dnn=f"edge.n{n}", area_=area(geo=[square(50 + n * 0.1, 5.0)]))
    with CaptureQueriesContext(connection) as many:
        assert len(admin.get(DATA).json()["features"]) == 33
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"bbox": "1,2,3"}, "bbox is west,south,east,north"),
        ({"bbox": "a,b,c,d"}, "bbox is west,south,east,north"),
        ({"bbox": "10,60,11,59"}, "south <= north"),
        ({"bbox": "nan,1,2,3"}, "finite"),
        ({"limit": "0"}, "limit is a whole number"),
        ({"limit": "100000"}, "limit is a whole number"),
    ],
)
def test_a_bad_viewport_or_limit_is_a_400_problem(params, detail):
    response = superuser().get(DATA, params)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert detail in response.json()["detail"]


def test_viewport_parsing_clamps_to_the_world():
    assert Viewport.parse("-400,-100,400,100") == Viewport()


@pytest.mark.parametrize(
    ("a", "b", "meet"),
    [
        (areas.Circle(0, 0, 1000), areas.Circle(0, 0.017, 1000), True),  # ~1.9 km apart
        (areas.Circle(0, 0, 1000), areas.Circle(0, 0.02, 1000), False),  # ~2.2 km apart
        (areas.Polygon(((0, 0), (0, 1), (1, 1), (1, 0))), areas.Circle(0.5, 1.005, 1000), True),
        (areas.Polygon(((0, 0), (0, 1), (1, 1), (1, 0))), areas.Circle(0.5, 1.02, 1000), False),
        # Two bars crossing: no vertex of either lies in the other.
        (
            areas.Polygon(((0, -1), (0, 2), (1, 2), (1, -1))),
            areas.Polygon(((-1, 0), (-1, 1), (2, 1), (2, 0))),
            True,
        ),
    ],
)
def test_shapes_overlap(a, b, meet):
    assert shapes_overlap(a, b) is meet
    assert shapes_overlap(b, a) is meet


# --- areaCoordinates in the configuration file ----------------------------------------------


def test_area_coordinates_apply_export_and_prune():
    document = {
        "areaCoordinates": [
            {"tai": tai("0101"), "lat": 59.9, "lon": 10.7, "radius": 800, "name": "centre"},
            {
                "ncgi": {"plmnId": {"mcc": "001", "mnc": "01"}, "nrCellId": "00000020A"},
                "lat": 59.91,
                "lon": 10.76,
            },
        ]
    }
    stats = configfile.apply_document(document)
    assert stats["area coordinates created"] == 2
    row = AreaCoordinates.objects.get(key="ncgi:001-01:00000020a")
    assert row.radius_m == 1000  # the default
    assert configfile.apply_document(document)["area coordinates unchanged"] == 2
    exported = configfile.export_document()["areaCoordinates"]
    assert exported[0]["ncgi"]["nrCellId"] == "00000020A"
    assert exported[1] == {
        "tai": tai("0101"),
        "name": "centre",
        "lat": 59.9,
        "lon": 10.7,
        "radius": 800,
    }
    configfile.apply_document({"areaCoordinates": document["areaCoordinates"][:1]}, prune=True)
    assert list(AreaCoordinates.objects.values_list("key", flat=True)) == ["tai:001-01:0101"]


def test_area_coordinates_errors_name_the_entry_and_the_key():
    errors = configfile.validate_document(
        {
            "areaCoordinates": [
                {"tai": {"plmnId": {"mcc": "001", "mnc": "01"}, "tac": "zz"}, "lat": 1, "lon": 2},
                {"lat": 1, "lon": 2},
                {"tai": tai("0101"), "lat": 91, "lon": 2, "colour": "red"},
                {"tai": tai("0101"), "lon": "east"},
                {"tai": tai("0101"), "lat": 1, "lon": 2},
            ]
        }
    )
    text = "\n".join(errors)
    assert "areaCoordinates[0].tai/tac:" in text
    assert "areaCoordinates[1]: give exactly one of tai, ncgi, ecgi" in text
    assert "areaCoordinates[2].colour: unknown key" in text
    assert "areaCoordinates[2].lat: at most 90.0, not 91" in text
    assert "areaCoordinates[3].lat: required" in text
    assert "areaCoordinates[3].lon: must be a number" in text
    assert "areaCoordinates[4]: same tai as areaCoordinates[2]" in text
    assert not AreaCoordinates.objects.exists()


# --- TAI/cell coordinates in the admin -------------------------------------------------------

COORDS_ADD = "/admin/provisioning/areacoordinates/add/"


def coordinates_form(**changes: str) -> dict[str, str]:
    data = {
        "kind": "tai",
        "area": '{"plmnId": {"mcc": "001", "mnc": "01"}, "tac": "0A01"}',
        "name": "harbour",
        "lat": "59.9",
        "lon": "10.7",
        "radius_m": "900",
    }
    data.update(changes)
    return data


def test_the_admin_places_a_tai_and_refuses_one_that_is_no_tai():
    admin = superuser()
    refused = admin.post(COORDS_ADD, coordinates_form(area='{"plmnId": {"mcc": "001"}, "tac": 1}'))
    assert refused.status_code == 200
    assert not AreaCoordinates.objects.exists()
    assert b"errorlist" in refused.content
    saved = admin.post(COORDS_ADD, coordinates_form())
    assert saved.status_code == 302, saved.content.decode()[:2000]
    row = AreaCoordinates.objects.get()
    assert (row.key, row.radius_m) == ("tai:001-01:0a01", 900)
    make_edn("edn-harbour", area_=area(tais=[tai("0a01")]))
    (feature,) = admin.get(DATA).json()["features"]
    assert feature["properties"]["name"] == "harbour"
