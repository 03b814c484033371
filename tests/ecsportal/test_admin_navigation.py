"""The admin by task (``ecsportal.adminsite``): Provisioning, Partners, Audit, Access in that
order; the OAuth toolkit's internals for superusers only; "View site" leads to a page that
links to the admin, the API docs and the health endpoint."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static_files")]

SECTIONS = ["Provisioning", "Partners", "Audit", "Access"]


def operator(client, *extra_permissions: str):
    user = get_user_model().objects.create_user("operator-1", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="operator"))
    for codename in extra_permissions:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client.force_login(user)
    return client


def sections(response) -> list[tuple[str, list[str]]]:
    return [
        (app["name"], [m["name"] for m in app["models"]]) for app in response.context["app_list"]
    ]


def test_a_superuser_sees_the_sections_in_task_order_then_the_oauth_internals(client):
    client.force_login(get_user_model().objects.create_superuser("root", "r@example.org", "pw"))
    listed = sections(client.get("/admin/"))
    assert [name for name, _ in listed][:4] == SECTIONS
    by_name = dict(listed)
    assert by_name["Provisioning"][:4] == ["ECS configuration", "EDNs", "EESs", "EEC subscriptions"]
    assert by_name["Partners"][:2] == ["Partner ECSs", "Authorization policies"]
    assert by_name["Audit"] == ["Retrieval audit log", "Notifications"]
    assert by_name["Access"] == ["API clients", "OAM API tokens", "Users", "Groups"]
    assert "Django OAuth Toolkit" in by_name  # after the sections, for the superuser
    assert client.get("/admin/oauth2_provider/accesstoken/").status_code == 200


def test_an_operator_sees_no_oauth_internals_even_with_their_permissions(client):
    operator(client, "view_accesstoken", "view_application")
    listed = sections(client.get("/admin/"))
    assert [name for name, _ in listed] == SECTIONS
    assert all("token" not in m.lower() or m == "OAM API tokens" for _, ms in listed for m in ms)
    assert client.get("/admin/oauth2_provider/accesstoken/").status_code == 403
    assert client.get("/admin/oauth2_provider/").status_code == 404
    # The navigation beside every page lists the same sections.
    page = client.get("/admin/provisioning/edn/")
    assert [app["name"] for app in page.context["available_apps"]] == SECTIONS


def test_each_section_has_its_own_page(client):
    operator(client)
    audit = client.get("/admin/sections/audit/")
    assert audit.status_code == 200
    assert sections(audit) == [("Audit", ["Retrieval audit log", "Notifications"])]
    assert client.get("/admin/sections/nothing/").status_code == 404


def test_view_site_leads_to_a_page_linking_the_admin_the_api_docs_and_health(client):
    operator(client)
    index = client.get("/admin/").content.decode()
    view_site = re.search(r'<a href="([^"]+)">View site</a>', index).group(1)
    home = client.get(view_site)
    assert home.status_code == 200
    links = set(re.findall(r'href="([^"]+)"', home.content.decode()))
    assert {"/admin/", "/api/docs/", "/healthz"} <= links


@pytest.mark.parametrize(
    "changelist",
    [
        "/admin/provisioning/edn/",
        "/admin/provisioning/ees/",
        "/admin/provisioning/eecsubscription/",
        "/admin/partners/partnerecs/",
        "/admin/partners/authorizationpolicy/",
        "/admin/partners/provisioningcacheentry/",
        "/admin/partners/retrievalaudit/",
        "/admin/partners/partnersubscription/",
        "/admin/notifications/notification/",
        "/admin/access/apiclient/",
        "/admin/oam/oamtoken/",
    ],
)
def test_every_list_with_an_identifier_has_a_search_box(client, changelist):
    client.force_login(get_user_model().objects.create_superuser("root", "r@example.org", "pw"))
    assert 'id="searchbar"' in client.get(changelist).content.decode()
