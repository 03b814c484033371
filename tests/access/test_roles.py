"""Admin roles: an operator edits profiles, partners and policies; an auditor only reads the
cache and the audit log. Each sees exactly that."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from access.roles import AUDITOR, OPERATOR
from partners.models import ProvisioningCacheEntry
from tests.builders import make_edn, make_partner

pytestmark = pytest.mark.django_db


def login_as(client, role: str) -> User:
    user = User.objects.create_user(f"{role}-user", password="pw-for-tests", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client.force_login(user)
    return user


@pytest.fixture
def cache_entry():
    partner = make_partner("ecs.partner", api_root="http://127.0.0.1:9")
    return ProvisioningCacheEntry.objects.create(
        partner=partner,
        key="k" * 64,
        query={},
        request={},
        answer=[],
        expires_at=timezone.now() + dt.timedelta(hours=1),
    )


def test_roles_exist_after_migrate():
    assert set(Group.objects.values_list("name", flat=True)) >= {OPERATOR, AUDITOR}


def test_operator_edits_profiles_partners_and_policies(client):
    login_as(client, OPERATOR)
    for url in (
        "/admin/provisioning/edn/add/",
        "/admin/provisioning/ees/add/",
        "/admin/partners/partnerecs/add/",
        "/admin/partners/authorizationpolicy/add/",
    ):
        assert client.get(url).status_code == 200, url
    edn = make_edn("edn-a", dnn="edge.a")
    response = client.post(
        f"/admin/provisioning/edn/{edn.pk}/change/",
        {
            "edn_id": "edn-a",
            "dnn": "edge.b",
            "snssai_sst": "1",
            "snssai_sd": "",
            "edn_topo_srv_area": "",
            "plmns": "[]",
            # The (read-only) inline of the EDN's EESs: none here.
            "eess-TOTAL_FORMS": "0",
            "eess-INITIAL_FORMS": "0",
            "eess-MIN_NUM_FORMS": "0",
            "eess-MAX_NUM_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    edn.refresh_from_db()
    assert edn.dnn == "edge.b"


def test_operator_reads_but_cannot_edit_the_audit_log(client):
    login_as(client, OPERATOR)
    assert client.get("/admin/partners/retrievalaudit/").status_code == 200
    assert client.get("/admin/partners/retrievalaudit/add/").status_code == 403


def test_auditor_reads_cache_and_audit_and_edits_nothing(client, cache_entry):
    login_as(client, AUDITOR)
    assert client.get("/admin/partners/provisioningcacheentry/").status_code == 200
    assert (
        client.get(f"/admin/partners/provisioningcacheentry/{cache_entry.pk}/change/").status_code
        == 200
    )
    assert client.get("/admin/partners/retrievalaudit/").status_code == 200
    for url in (
        "/admin/provisioning/edn/",
        "/admin/provisioning/ees/add/",
        "/admin/partners/partnerecs/",
        "/admin/partners/authorizationpolicy/",
    ):
        assert client.get(url).status_code == 403, url
    # The cache actions are not offered to an auditor, and posting one changes nothing.
    page = client.get("/admin/partners/provisioningcacheentry/").content.decode()
    assert "invalidate" not in page
    client.post(
        "/admin/partners/provisioningcacheentry/",
        {
            "action": "invalidate",
            "_selected_action": [cache_entry.pk],
        },
    )
    cache_entry.refresh_from_db()
    assert cache_entry.fresh


def test_operator_may_invalidate_a_cache_entry(client, cache_entry):
    login_as(client, OPERATOR)
    client.post(
        "/admin/partners/provisioningcacheentry/",
        {
            "action": "invalidate",
            "_selected_action": [cache_entry.pk],
        },
    )
    cache_entry.refresh_from_db()
    assert not cache_entry.fresh
