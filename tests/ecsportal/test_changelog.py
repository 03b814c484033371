"""One change log for every write path, with the acting user and the request id."""

from __future__ import annotations

import pytest
from django import forms
from django.contrib.auth import get_user_model

from provisioning.models import EDN, EES, ECSConfiguration
from tests.builders import make_edn, make_ees
from tests.ecsportal.configtools import (
    DEMO_FILE,
    apply_config,
    demo_document,
    history_count,
    write_config,
)

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-test-password"


@pytest.fixture
def admin_client(client):
    get_user_model().objects.create_superuser("operator", "op@example.org", PASSWORD)
    assert client.login(username="operator", password=PASSWORD)
    return client


def change_form_data(client, url: str) -> dict[str, str]:
    """What the browser would post back from the change form, unchanged."""
    response = client.get(url)
    assert response.status_code == 200
    form = response.context["adminform"].form
    data: dict[str, str] = {}
    for name, field in form.fields.items():
        value = form[name].value()  # JSON fields come as the JSON text the widget shows
        if isinstance(field, forms.BooleanField):
            if value:
                data[name] = "on"
            continue
        data[name] = "" if value is None else str(value)
    return data


def test_admin_change_is_logged_with_the_user_and_the_request_id(admin_client):
    edn = make_edn("edn-a")
    ees = make_ees(edn, "ees-a", eas_ids=["app.one"], ecsp="old-ecsp")
    url = f"/admin/provisioning/ees/{ees.pk}/change/"
    data = change_form_data(admin_client, url)
    data["ecsp_info"] = "new-ecsp"
    data["_save"] = "Save"

    response = admin_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    ees.refresh_from_db()
    assert ees.ecsp_info == "new-ecsp"
    latest = ees.history.latest()
    assert latest.history_type == "~"
    assert latest.ecsp_info == "new-ecsp"
    assert latest.history_user.username == "operator"
    assert latest.request_id == response["X-Request-ID"]
    assert latest.request_id
    assert latest.prev_record.ecsp_info == "old-ecsp"


def test_admin_change_keeps_the_callers_request_id(admin_client):
    edn = make_edn("edn-a")
    ees = make_ees(edn, "ees-a")
    url = f"/admin/provisioning/ees/{ees.pk}/change/"
    data = {**change_form_data(admin_client, url), "ecsp_info": "x", "_save": "Save"}

    response = admin_client.post(url, data, HTTP_X_REQUEST_ID="support-ticket-42")

    assert response.status_code == 302
    assert response["X-Request-ID"] == "support-ticket-42"
    assert ees.history.latest().request_id == "support-ticket-42"


def test_admin_delete_is_logged_with_the_user_and_the_request_id(admin_client):
    edn = make_edn("edn-a")
    ees = make_ees(edn, "ees-a")
    pk = ees.pk

    response = admin_client.post(f"/admin/provisioning/ees/{pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not EES.objects.filter(pk=pk).exists()
    deleted = EES.history.filter(id=pk).latest()
    assert deleted.history_type == "-"
    assert deleted.history_user.username == "operator"
    assert deleted.request_id == response["X-Request-ID"]


def test_apply_is_logged_under_one_apply_request_id():
    apply_config(DEMO_FILE)

    rows = [
        *ECSConfiguration.history.all(),
        *EDN.history.all(),
        *EES.history.all(),
    ]
    assert len(rows) == 1 + 3 + 4
    assert {row.history_type for row in rows} == {"+"}
    assert {row.history_change_reason for row in rows} == {"ecs_apply"}
    assert {row.history_user for row in rows} == {None}
    request_ids = {row.request_id for row in rows}
    assert len(request_ids) == 1
    (request_id,) = request_ids
    assert request_id.startswith("apply-")
    assert len(request_id) > len("apply-")


def test_each_apply_has_its_own_request_id_and_prune_deletions_are_logged(tmp_path):
    apply_config(DEMO_FILE)
    first_id = EES.history.latest().request_id
    doc = demo_document()
    doc["edns"] = [e for e in doc["edns"] if e["id"] != "edn-stadium"]
    doc["edns"][0]["eess"][0]["easIds"] = ["com.example.only-app"]
    before = history_count()

    apply_config(write_config(tmp_path, doc), "--prune")

    edn_rows = list(EDN.history.order_by("-history_id")[:1])
    ees_rows = list(EES.history.order_by("-history_id")[:2])
    new_rows = edn_rows + ees_rows
    assert history_count() == before + 3  # EES updated, EES deleted, EDN deleted
    assert [(r.history_type, r.edn_id) for r in edn_rows] == [("-", "edn-stadium")]
    assert sorted((r.history_type, r.ees_id) for r in ees_rows) == [
        ("-", "ees-stadium"),
        ("~", "ees-north-1"),
    ]
    assert {r.history_change_reason for r in new_rows} == {"ecs_apply"}
    request_ids = {r.request_id for r in new_rows}
    assert len(request_ids) == 1
    assert request_ids.pop().startswith("apply-")
    assert first_id not in {r.request_id for r in new_rows}
