"""The admin's "Why this answer" page through the Django test client: who may open it, the
request built from the fields, errors worded as EDGE-4's invalidParams, nothing written."""

from __future__ import annotations

import json

import pytest

from partners.models import ProvisioningCacheEntry, RetrievalAudit
from provisioning.models import EES
from tests.builders import HOME, area, configure_ecs, make_edn, make_ees, tai
from tests.provisioning.test_admin_permissions import logged_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static_files")]

EXPLAIN = "/admin/provisioning/ees/explain/"
GAME = "com.example.game"


@pytest.fixture
def inventory():
    configure_ecs(home=(HOME,))
    north = make_edn("edn-north", dnn="north.example", area_=area(tais=[tai("0001")]))
    make_ees(north, "ees-north-game", eas_ids=[GAME])
    make_ees(north, "ees-north-video", eas_ids=["com.example.video"])


def test_only_staff_with_view_ees_may_open_it(client, inventory):
    assert client.get(EXPLAIN).status_code == 302  # to the login
    assert logged_in("nobody").get(EXPLAIN).status_code == 403
    assert logged_in("outsider", staff=False, perms=["view_ees"]).get(EXPLAIN).status_code == 302
    viewer = logged_in("viewer", perms=["view_ees"])
    page = viewer.get(EXPLAIN)
    assert page.status_code == 200 and b"Why this answer" in page.content
    # Linked from the EES list and the admin index.
    assert EXPLAIN.encode() in viewer.get("/admin/provisioning/ees/").content
    assert EXPLAIN.encode() in viewer.get("/admin/").content


def test_fields_build_the_request_and_the_page_explains_it(inventory):
    admin = logged_in("viewer", perms=["view_ees"])
    before = (RetrievalAudit.objects.count(), ProvisioningCacheEntry.objects.count())
    page = admin.post(
        EXPLAIN, {"eas_id": GAME, "tac": "0001", "nr_cell": "000000001", "serving_plmn": "001-01"}
    )
    assert page.status_code == 200
    result = page.context["result"]
    assert result["request"]["locInf"]["userLocation"]["nrLocation"]["tai"] == tai("0001")
    assert {v["eesId"]: v["rule"] for v in result["eess"]} == {
        "ees-north-game": None,
        "ees-north-video": "easId",
    }
    text = page.content.decode()
    assert "ees-north-game" in text and "passes every filter" in text
    assert (RetrievalAudit.objects.count(), ProvisioningCacheEntry.objects.count()) == before
    assert EES.objects.count() == 2


def test_a_pasted_request_edge4_would_refuse_shows_its_invalid_params(inventory):
    admin = logged_in("viewer", perms=["view_ees"])
    page = admin.post(EXPLAIN, {"request_json": json.dumps({"acProfs": [{"eass": []}]})})
    assert page.context["result"] is None
    errors = page.context["form"].non_field_errors()
    assert "/eecId: is required" in errors
    assert any(e.startswith("/acProfs/0") for e in errors)
    assert admin.post(EXPLAIN, {"request_json": "{oops"}).context["form"].non_field_errors()


def test_a_tac_without_a_cell_is_refused_in_words(inventory):
    admin = logged_in("viewer", perms=["view_ees"])
    page = admin.post(EXPLAIN, {"tac": "0001"})
    assert "NR cell id together" in " ".join(page.context["form"].non_field_errors())
    page = admin.post(EXPLAIN, {"serving_plmn": "1-1"})
    assert "MCC-MNC" in " ".join(page.context["form"].non_field_errors())
