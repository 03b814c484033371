"""Registered ECSs for operators: the OAM API's read-only ``ecs-registrations/`` and the
admin's read-only list (with expiry), where a delete is a de-registration subscribers hear
of."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from federation import repository
from federation.eecs_ecsregistration import wire
from federation.models import DiscoverySubscription, ECSRegistration
from federation.records import Filters, Subscription
from notifications.models import Notification
from tests.oam import base
from tests.oam.base import assert_problem

from .helpers import ecs_profile, make_er

pytestmark = pytest.mark.django_db


def registered(ecs_id: str, ecsp: str = "", expired: bool = False) -> ECSRegistration:
    if not repository.configuration().enabled:
        make_er()
    registration = repository.register(wire.profile(ecs_profile(ecs_id, ecsp=ecsp or None)), None)
    if expired:
        ECSRegistration.objects.filter(pk=registration.pk).update(
            expires_at=timezone.now() - dt.timedelta(seconds=1)
        )
    return registration


class TestECSRegistrations(base.List, base.Get, base.Filters):
    resource = "ecs-registrations/"
    model = ECSRegistration
    lookup_key = "ecsId"
    reader_group = "auditor"
    filters = [
        ({"ecsp": "ecsp-a"}, {"ecs.a.example", "ecs.old.example"}),
        ({"live": "true"}, {"ecs.a.example", "ecs.b.example"}),
        ({"live": "false"}, {"ecs.old.example"}),
        ({"ecs_id": "ecs.b.example"}, {"ecs.b.example"}),
    ]

    def make(self, count: int, start: int = 0) -> list[str]:
        return [registered(f"ecs.{n}.example").ecs_id for n in range(start, start + count)]

    def make_filtered(self) -> None:
        registered("ecs.a.example", "ecsp-a")
        registered("ecs.b.example", "ecsp-b")
        registered("ecs.old.example", "ecsp-a", expired=True)

    def test_get_unknown_is_404(self, reader):
        assert_problem(reader.get(self.detail("ecs.nowhere.example")), 404)

    def test_a_registration_shows_its_profile_and_expiry(self, reader):
        registration = registered("ecs.a.example")
        body = reader.get(self.detail("ecs.a.example")).json()
        assert body["ecsProfile"] == registration.profile
        assert body["expTime"] is not None
        assert body["apiRoot"] == "https://ecs.a.example/api"

    def test_it_is_read_only(self, writer):
        registered("ecs.a.example")
        body = {"ecsId": "ecs.x.example"}
        assert writer.post(self.resource, body).status_code == 405
        assert writer.delete(self.detail("ecs.a.example")).status_code == 405
        assert ECSRegistration.objects.count() == 1


@pytest.fixture
def operator_client(client):
    user = get_user_model().objects.create_user("op", password="pw-0123456789", is_staff=True)
    user.groups.add(Group.objects.get(name="operator"))
    client.force_login(user)
    return client


def test_the_admin_lists_registrations_read_only_and_a_delete_notifies(
    operator_client, monkeypatch
):
    monkeypatch.setenv("ECS_ALLOW_PRIVATE_CALLBACKS", "1")
    registration = registered("ecs.visited.example")
    repository.subscribe(
        Subscription(
            requestor_id="ecs.home.example",
            destination="http://127.0.0.1:9/notify",
            filters=Filters.of(None, (), None),
            proposed_expiry=None,
            test_notification=False,
            document={"requestorId": "ecs.home.example"},
        )
    )
    listing = operator_client.get("/admin/federation/ecsregistration/?expiry=live")
    assert listing.status_code == 200
    assert b"ecs.visited.example" in listing.content
    page = operator_client.get(f"/admin/federation/ecsregistration/{registration.pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content  # nothing to edit
    assert operator_client.get("/admin/federation/ecsregistration/add/").status_code == 403

    deleted = operator_client.post(
        f"/admin/federation/ecsregistration/{registration.pk}/delete/", {"post": "yes"}
    )
    assert deleted.status_code == 302
    assert not ECSRegistration.objects.exists()
    [note] = Notification.objects.filter(kind=repository.KIND)
    assert note.payload["ecsInfo"] == []
    assert DiscoverySubscription.objects.count() == 1


def test_an_auditor_sees_registrations_but_cannot_delete(client):
    registration = registered("ecs.visited.example")
    user = get_user_model().objects.create_user("aud", password="pw-0123456789", is_staff=True)
    user.groups.add(Group.objects.get(name="auditor"))
    client.force_login(user)
    assert client.get("/admin/federation/ecsregistration/").status_code == 200
    url = f"/admin/federation/ecsregistration/{registration.pk}/delete/"
    assert client.post(url, {"post": "yes"}).status_code == 403
    assert ECSRegistration.objects.count() == 1


def test_the_dashboard_counts_ecs_registrations_on_an_ecs_er(operator_client):
    registered("ecs.a.example")
    registered("ecs.old.example", expired=True)
    page = operator_client.get("/admin/").content.decode()
    assert 'id="health-ecs-registrations"' in page
    live = page.split('id="health-ecs-registrations"', 1)[1].split("</div>", 1)[0]
    assert 'class="live"><a href="/admin/federation/ecsregistration/?expiry=live">1</a>' in live
    assert 'class="expired"><a href="/admin/federation/ecsregistration/?expiry=expired">1</a>' in (
        live
    )
    repository.configuration().__class__.objects.update(enabled=False)
    assert 'id="health-ecs-registrations"' not in operator_client.get("/admin/").content.decode()
