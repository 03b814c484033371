"""One EDGE-4 request costs the same number of database queries with 5 EESs or with 500."""

import pytest
from cachalot.api import invalidate as cachalot_invalidate
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.builders import (
    EDGE4_FILE,
    EDGE4_REQUEST,
    HOME,
    area,
    circle,
    configure_ecs,
    edge4_request,
    ees_ids,
    make_edn,
    make_ees,
    polygon,
    post_json,
    tai,
    ue_at,
)
from tests.conftest import clear_cache
from tests.openapi import assert_conforms

pytestmark = pytest.mark.django_db

EESS_PER_EDN = 5
# Every EES matches: a per-EES or per-EDN query would show up as a difference in the count.
REQUEST = edge4_request(
    eas_ids=["app.one", "app.two"],
    loc=ue_at(tai("0001"), point=(48.2, 11.2)),
    plmns=[HOME],
    ecsp_ids=["ecsp-x"],
    acr=["EEC_INITIATED"],
)


def _add_eess(start: int, stop: int) -> None:
    """EESs start..stop-1, EESS_PER_EDN to an EDN, with every kind of area."""
    assert start % EESS_PER_EDN == 0
    edn = None
    for n in range(start, stop):
        group = n // EESS_PER_EDN
        if n % EESS_PER_EDN == 0:
            # Every other EDN has an area of its own; the others restrict nothing.
            edn_area = area(tais=[tai("0001")]) if group % 2 else None
            edn = make_edn(f"edn-{group:03d}", dnn=f"edn{group:03d}.example", area_=edn_area)
        svc_area = (
            None,  # takes the EDN's area (or none at all)
            area(tais=[tai("0001")]),
            area(geo=[circle(48.2, 11.2, 1000.0)]),
            area(geo=[polygon((48.0, 11.0), (49.0, 11.0), (48.0, 12.0))]),
        )[n % 4]
        make_ees(
            edn,
            f"ees-{n:04d}",
            eas_ids=["app.one"] if n % 2 else ["app.two", "app.three"],
            area_=svc_area,
            ecsp="ecsp-x" if n % 5 == 0 else "",
            acr=["EEC_INITIATED"] if n % 7 == 0 else [],
            eas_inst_infos=[{"easId": "app.one", "status": "INSTANTIATED"}],
        )


def _queries(client, expected_eess: int) -> list[str]:
    """The SQL one EDGE-4 request runs, from a cold cache."""
    # cachalot must not answer from its cache: neither the shared cache nor, inside the
    # test's transaction, the per-transaction cache that cache.clear() does not reach.
    clear_cache()
    cachalot_invalidate()
    with CaptureQueriesContext(connection) as captured:
        response = post_json(client, EDGE4_REQUEST, REQUEST)
    assert_conforms(response, EDGE4_FILE, "/request", "post")
    assert response.status_code == 200
    assert len(ees_ids(response)) == expected_eess
    return [q["sql"] for q in captured.captured_queries]


def test_query_count_does_not_grow_with_the_number_of_eess(client):
    configure_ecs(home=(HOME,))
    _add_eess(0, 5)
    small = _queries(client, 5)
    _add_eess(5, 500)
    large = _queries(client, 500)
    print(f"\nEDGE-4 request: {len(small)} queries with 5 EESs, {len(large)} with 500")
    listing = "\n".join(q[:200] for q in large)
    assert len(small) == len(large), listing
    # Cold: the ECS configuration, the area keys of the location, the EDNs without an area,
    # the matching EESs with their EDNs, the partner ECSs.
    assert len(large) <= 5, listing


def _warm_queries(client, expected_eess: int) -> list[str]:
    """The SQL of a request after an identical one: what a busy ECS runs per request."""
    post_json(client, EDGE4_REQUEST, REQUEST)
    with CaptureQueriesContext(connection) as captured:
        response = post_json(client, EDGE4_REQUEST, REQUEST)
    assert response.status_code == 200
    assert len(ees_ids(response)) == expected_eess
    return [q["sql"] for q in captured.captured_queries]


def test_a_warm_request_runs_only_the_location_lookups(client):
    configure_ecs(home=(HOME,))
    _add_eess(0, 500)
    clear_cache()
    cachalot_invalidate()  # a known invalidation stamp: per-process copies may be kept
    queries = _warm_queries(client, 500)
    listing = "\n".join(q[:200] for q in queries)
    # Configuration, partners and EDNs without an area come from the per-process copies;
    # what is left depends on the UE: its area keys, then the EESs with their EDNs.
    assert len(queries) == 2, listing
    assert "provisioning_areakey" in queries[0] and "provisioning_ees" in queries[1], listing


def test_a_change_through_the_orm_reaches_the_next_request(client):
    """The per-process copies follow writes: a partner disabled, an EDN losing its area."""
    configure_ecs(home=(HOME,))
    _add_eess(0, 20)
    clear_cache()
    cachalot_invalidate()
    _warm_queries(client, 20)
    from provisioning.models import EDN

    # EDN 1 restricts to TAI 0001; without its area it serves everywhere: the same EESs
    # still match, now through the per-process list of EDNs without an area.
    edn = EDN.objects.get(edn_id="edn-001")
    edn.edn_topo_srv_area = None
    edn.save()
    from provisioning.models import reindex_edn

    reindex_edn(edn)
    assert len(ees_ids(post_json(client, EDGE4_REQUEST, REQUEST))) == 20
    # And an EDN whose EESs no longer serve any requested app drops out at once.
    from provisioning.models import EES

    for ees in EES.objects.filter(edn__edn_id="edn-002"):
        ees.eas_ids = ["app.other"]
        ees.save()
    assert len(ees_ids(post_json(client, EDGE4_REQUEST, REQUEST))) == 15
