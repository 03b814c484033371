"""EDGE-4 end to end: a configured EDN and EES are provisioned to an EEC."""

import pytest

from tests.builders import configure_ecs, edge4_request, ees_ids, make_edn, make_ees, tai, ue_at

pytestmark = pytest.mark.django_db


def test_matching_ees_is_returned_with_lifetime(edge4):
    configure_ecs(lifetime=600)
    edn = make_edn("edn-a", area_={"nwAreaInfo": {"tais": [tai("0001")]}})
    make_ees(edn, "ees-a", eas_ids=["app.one"])
    response = edge4(edge4_request(eas_ids=["app.one"], loc=ue_at(tai("0001"))))
    assert response.status_code == 200
    assert ees_ids(response) == ["ees-a"]
    assert response.json()["ednCnfgInfo"][0]["lifeTime"].endswith("Z")
    assert response["X-Request-ID"]


def test_nothing_matches_gives_204(edge4):
    configure_ecs()
    edn = make_edn("edn-a")
    make_ees(edn, "ees-a", eas_ids=["app.one"])
    response = edge4(edge4_request(eas_ids=["app.other"]))
    assert response.status_code == 204
    assert response.content == b""
