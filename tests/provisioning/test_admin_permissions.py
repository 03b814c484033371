"""Who may see and change what in the OAM admin (Django test client)."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from provisioning.models import EES
from tests.builders import make_edn, make_ees

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static_files")]

EES_LIST = "/admin/provisioning/ees/"
EES_ADD = "/admin/provisioning/ees/add/"
EDN_LIST = "/admin/provisioning/edn/"


@pytest.fixture
def ees():
    return make_ees(make_edn("edn-a"), "ees-a", eas_ids=["com.example.game"])


def ees_form(ees: EES, **changes) -> dict[str, str]:
    """A complete, valid EES admin form, as the browser would post it."""
    data = {
        "ees_id": ees.ees_id,
        "edn": str(ees.edn_id),
        "end_pt": json.dumps(ees.end_pt),
        "ecsp_info": ees.ecsp_info,
        "eas_ids": json.dumps(ees.eas_ids),
        "app_group_ids": "",
        "eas_inst_infos": "",
        "eas_bundle_infos": "",
        "svc_area": "",
        "dnais": "",
        "ees_svc_cont_supp": "",
        "ees_auth_methods": "",
    }
    data.update(changes)
    return data


def logged_in(username: str, *, staff: bool = True, superuser: bool = False, perms=()) -> Client:
    user = get_user_model().objects.create_user(
        username, f"{username}@example.org", "pw", is_staff=staff, is_superuser=superuser
    )
    for codename in perms:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client = Client()
    client.force_login(user)
    return client


def test_anonymous_is_sent_to_the_login_page(client, ees):
    for path in (EES_LIST, EES_ADD, f"{EES_LIST}{ees.pk}/change/", EDN_LIST):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"] == f"/admin/login/?next={path}"

    response = client.post(EES_ADD, ees_form(ees, ees_id="ees-anonymous"))
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert not EES.objects.filter(ees_id="ees-anonymous").exists()


def test_a_user_who_is_not_staff_cannot_use_the_admin_even_with_permissions(ees):
    client = logged_in("not-staff", staff=False, perms=["view_ees", "change_ees"])
    response = client.get(EES_LIST)
    assert response.status_code == 302
    assert response["Location"] == f"/admin/login/?next={EES_LIST}"


def test_superuser_can_add_with_the_same_form_the_viewer_is_refused(ees):
    """The control for the viewer test: the form posted there is valid."""
    client = logged_in("admin", superuser=True)
    response = client.post(EES_ADD, ees_form(ees, ees_id="ees-b"))
    assert response.status_code == 302
    assert response["Location"] == EES_LIST
    assert EES.objects.get(ees_id="ees-b").eas_ids == ["com.example.game"]


def test_viewer_sees_the_ees_list_but_cannot_add_or_change(ees):
    client = logged_in("viewer", perms=["view_ees"])

    listing = client.get(EES_LIST)
    assert listing.status_code == 200
    assert "ees-a" in listing.content.decode()
    assert "com.example.game" in listing.content.decode()
    assert f'href="{EES_ADD}"' not in listing.content.decode()

    detail = client.get(f"{EES_LIST}{ees.pk}/change/")
    assert detail.status_code == 200
    assert "View EES" in detail.content.decode()
    assert 'name="_save"' not in detail.content.decode()

    assert client.get(EES_ADD).status_code == 403
    assert client.post(EES_ADD, ees_form(ees, ees_id="ees-b")).status_code == 403
    assert not EES.objects.filter(ees_id="ees-b").exists()

    changed = ees_form(ees, eas_ids=json.dumps(["com.example.other"]))
    assert client.post(f"{EES_LIST}{ees.pk}/change/", changed).status_code == 403
    assert EES.objects.get(pk=ees.pk).eas_ids == ["com.example.game"]

    assert client.post(f"{EES_LIST}{ees.pk}/delete/", {"post": "yes"}).status_code == 403
    assert EES.objects.filter(pk=ees.pk).exists()


def test_viewer_of_eess_does_not_see_the_edn_admin(ees):
    client = logged_in("viewer", perms=["view_ees"])

    index = client.get("/admin/").content.decode()
    assert f'href="{EES_LIST}"' in index
    assert f'href="{EDN_LIST}"' not in index

    assert client.get(EDN_LIST).status_code == 403
    assert client.get(f"{EDN_LIST}{ees.edn_id}/change/").status_code == 403


def test_viewer_can_read_the_change_history(ees):
    client = logged_in("viewer", perms=["view_ees"])
    response = client.get(f"{EES_LIST}{ees.pk}/history/")
    assert response.status_code == 200
    assert "Created" in response.content.decode()


def test_staff_without_permissions_is_refused_the_ees_list(ees):
    client = logged_in("nobody")
    assert client.get(EES_LIST).status_code == 403
    assert client.get(f"{EES_LIST}{ees.pk}/change/").status_code == 403
    index = client.get("/admin/").content.decode()
    assert f'href="{EES_LIST}"' not in index
    assert "You don\u2019t have permission to view or edit anything." in index
