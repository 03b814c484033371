"""A member ECS keeps its own registration at its ECS-ER (``federation.member``).

The ECS-ER is this very process behind ``live_server``: the chore's calls (token, POST, PUT,
DELETE) go over real HTTP to the ER's views, and what the ER holds is checked through the
ER's discovery API, as another member would see us.  Time is not waited for: a refresh or a
retry is made due by moving ``next_attempt`` into the past, as the clock would.
"""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from federation import member
from federation.models import (
    ECSERMembership,
    ECSRegistration,
    MemberRegistration,
    RepositoryConfiguration,
)
from provisioning.models import ECSConfiguration
from tests.builders import area, configure_ecs, make_edn, plmn, tai
from tests.openapi import ECS_DISCOVERY_FILE, ECS_REGISTRATION_FILE, assert_valid

from . import helpers
from .helpers import DISCOVERY, DISCOVERY_SCOPE, REGISTRATION_SCOPE, bearer, send

api_client = helpers.member

pytestmark = pytest.mark.django_db(transaction=True)

OUR_ID = "ecs.member.example"
HOME = plmn("001", "01")
PUBLIC_URL = "https://ecs.member.example/api"
SECRET_ENV = "ECS_ER_TEST_SECRET"
CLOSED = "http://127.0.0.1:9"  # the discard port: nothing listens, the call is refused
METRICS_TOKEN = "scrape-token"


@pytest.fixture
def er(live_server, settings, monkeypatch):
    """This process as the ECS-ER, and the ecsEr section of a member pointing at it."""
    settings.ECS_PUBLIC_URL = PUBLIC_URL
    configure_ecs(home=(HOME,), ecs_id=OUR_ID)
    config = ECSConfiguration.load()
    config.ecsp = "ecsp-member"
    config.save()
    RepositoryConfiguration(pk=1, enabled=True, max_registration_seconds=3600).save()
    client_id, secret = api_client(OUR_ID, [REGISTRATION_SCOPE])
    monkeypatch.setenv(SECRET_ENV, secret)
    ECSERMembership.objects.create(
        pk=1,
        api_root=live_server.url,
        token_url=live_server.url + "/oauth2/token/",
        client_id=client_id,
        client_secret="env:" + SECRET_ENV,
        register=True,
    )
    return secret


def state() -> MemberRegistration:
    return MemberRegistration.objects.get(pk=1)


def make_due() -> None:
    MemberRegistration.objects.filter(pk=1).update(
        next_attempt=timezone.now() - dt.timedelta(seconds=1)
    )


def discovered(client: Client) -> list[dict]:
    """What another member finds at the ER for our home PLMN."""
    auth = bearer(client, api_client("ecs.other.example", [DISCOVERY_SCOPE]), DISCOVERY_SCOPE)
    body = {"requestorId": "ecs.other.example", "targetPlmn": HOME}
    response = send(client, "POST", DISCOVERY, body, **auth)
    assert response.status_code == 200, response.content
    assert_valid(response.json(), ECS_DISCOVERY_FILE, "EcsInfoDiscoveryResp")
    return [info["ecsProfile"] for info in response.json()["ecsInfo"]]


def health(client: Client) -> dict:
    response = client.get("/healthz")
    assert response.status_code == 200
    return response.json()


def metrics(client: Client) -> str:
    with override_settings(ECS_METRICS_TOKEN=METRICS_TOKEN):
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")
    assert response.status_code == 200
    return response.content.decode()


def test_registers_our_profile_and_discovery_finds_it(er, client, caplog):
    caplog.set_level(logging.DEBUG)
    member.tick()

    ours = state()
    assert ours.registration_id and not ours.last_error
    expected = {
        "ecsId": OUR_ID,
        "ecsAddr": {"uri": PUBLIC_URL},
        "ecspId": "ecsp-member",
        "supportedPlmns": [{"plmnId": HOME, "ecspIds": ["ecsp-member"]}],
    }
    assert ours.profile == expected
    assert_valid({"ecsProfile": ours.profile}, ECS_REGISTRATION_FILE, "ECSRegistration")
    assert discovered(client) == [expected]
    # Granted for the ER's maximum; refreshed at 2/3 of it.
    left = (ours.expires_at - timezone.now()).total_seconds()
    assert 3500 < left <= 3600
    refresh_in = (ours.next_attempt - timezone.now()).total_seconds()
    assert 2300 < refresh_in <= 2400

    detail = health(client)["ecsEr"]
    assert detail["registered"] is True
    assert detail["registrationId"] == ours.registration_id
    assert "lastError" not in detail
    text = metrics(client)
    assert "ecs_er_registration_attempts_total 1" in text
    assert "ecs_er_registration_failures_total 0" in text
    assert "ecs_er_registered 1" in text
    assert "ecs_er_registration_expiry_seconds 3" in text  # 35xx seconds

    # Nothing due: a tick calls nobody.
    member.tick()
    assert state().attempts_total == 1
    assert er not in caplog.text
    assert er not in str(detail) and er not in text


def test_a_profile_change_updates_the_registration(er, client):
    member.tick()
    registration_id = state().registration_id

    make_edn("edn-1", area_=area(tais=[tai("0001A1", HOME), tai("0001A2", HOME)]))
    member.tick()  # the change goes out at once, not at the refresh

    ours = state()
    assert ours.registration_id == registration_id
    assert ours.attempts_total == 2
    validity = {"topServAr": {"tais": [tai("0001A1", HOME), tai("0001A2", HOME)]}}
    assert ours.profile["spatialValidity"] == validity
    assert_valid({"ecsProfile": ours.profile}, ECS_REGISTRATION_FILE, "ECSRegistration")
    [found] = discovered(client)
    assert found["spatialValidity"] == validity
    assert ECSRegistration.objects.get().registration_id == registration_id


def test_an_edn_serving_anywhere_leaves_the_spatial_validity_out(er):
    make_edn("edn-1", area_=area(tais=[tai("0001A1", HOME)]))
    make_edn("edn-2", dnn="anywhere.example")
    member.tick()
    assert "spatialValidity" not in state().profile


def test_refreshes_before_expiry(er, client):
    member.tick()
    # Near its end (as if 2/3 of its lifetime had passed), at the ER and in our state.
    soon = timezone.now() + dt.timedelta(seconds=100)
    ECSRegistration.objects.update(expires_at=soon)
    MemberRegistration.objects.filter(pk=1).update(expires_at=soon)
    member.tick()
    assert state().expires_at == soon  # not due yet: no call
    make_due()
    member.tick()

    ours = state()
    assert ours.attempts_total == 2 and not ours.last_error
    assert (ours.expires_at - timezone.now()).total_seconds() > 3500
    assert (ECSRegistration.objects.get().expires_at - timezone.now()).total_seconds() > 3500


def test_er_down_backs_off_shows_the_error_and_recovers(er, client, caplog, live_server):
    caplog.set_level(logging.DEBUG)
    ECSERMembership.objects.filter(pk=1).update(
        api_root=CLOSED, token_url=CLOSED + "/oauth2/token/"
    )
    member.tick()

    ours = state()
    assert not ours.registration_id
    assert ours.failures == 1
    assert "unreachable" in ours.last_error
    assert (ours.next_attempt - ours.last_attempt).total_seconds() == member.FIRST_RETRY_SECONDS
    detail = health(client)["ecsEr"]
    assert detail["registered"] is False
    assert "unreachable" in detail["lastError"]
    text = metrics(client)
    assert "ecs_er_registration_failures_total 1" in text
    assert "ecs_er_registered 0" in text
    assert "\necs_er_registration_expiry_seconds " not in text  # no sample: not registered

    member.tick()  # backing off: no new attempt
    assert state().attempts_total == 1
    make_due()
    member.tick()  # still down: the wait doubles
    ours = state()
    assert ours.failures == 2
    assert (ours.next_attempt - ours.last_attempt).total_seconds() == 2 * member.FIRST_RETRY_SECONDS

    # The ER is back: at the next attempt we register, and the error is gone.
    ECSERMembership.objects.filter(pk=1).update(
        api_root=live_server.url, token_url=live_server.url + "/oauth2/token/"
    )
    member.tick()
    assert not state().registration_id  # still backing off, even though the config changed
    make_due()
    member.tick()
    ours = state()
    assert ours.registration_id and ours.failures == 0 and not ours.last_error
    assert [p["ecsId"] for p in discovered(client)] == [OUR_ID]
    detail = health(client)["ecsEr"]
    assert detail["registered"] is True and "lastError" not in detail
    text = metrics(client)
    assert "ecs_er_registration_attempts_total 3" in text
    assert "ecs_er_registration_failures_total 2" in text
    assert er not in caplog.text


def test_a_refused_token_is_an_error_that_names_no_secret(er, client, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(SECRET_ENV, "not-the-secret")
    member.tick()
    ours = state()
    assert "refused our client credentials" in ours.last_error
    assert "not-the-secret" not in ours.last_error
    assert "not-the-secret" not in caplog.text
    assert "not-the-secret" not in str(health(client))


def test_without_a_public_url_nothing_is_registered_and_health_says_why(er, client, settings):
    settings.ECS_PUBLIC_URL = ""
    member.tick()
    assert "ECS_PUBLIC_URL is unset" in health(client)["ecsEr"]["lastError"]
    assert not ECSRegistration.objects.exists()


def test_switched_off_de_registers(er, client):
    member.tick()
    assert discovered(client)
    ECSERMembership.objects.filter(pk=1).update(register=False)
    member.tick()  # at once, not at the refresh
    assert discovered(client) == []
    assert not ECSRegistration.objects.exists()
    ours = state()
    assert not ours.registration_id and not ours.client_secret
    assert health(client)["ecsEr"]["registered"] is False
    member.tick()
    assert state().attempts_total == 2  # nothing more to do


def test_section_removed_de_registers_with_the_credentials_registered_with(er, client):
    member.tick()
    ECSERMembership.objects.all().delete()
    member.tick()
    assert discovered(client) == []
    assert not state().registration_id


def test_no_section_no_state_no_call(client):
    member.tick()
    assert not MemberRegistration.objects.exists()
    assert "ecsEr" not in health(client)
    assert "ecs_er_registration_attempts_total 0" in metrics(client)


def test_a_tick_with_nothing_due_reads_one_row(er, django_assert_max_num_queries):
    member.tick()
    member.profile()  # the memos are warm, as after any tick
    with django_assert_max_num_queries(1):
        member.tick()
    assert state().attempts_total == 1


def test_the_admin_shows_our_registration_read_only_without_the_secret(er, client):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    member.tick()
    user = get_user_model().objects.create_user("op", password="pw-0123456789", is_staff=True)
    user.groups.add(Group.objects.get(name="operator"))
    client.force_login(user)
    index = client.get("/admin/").content.decode()
    assert "/admin/federation/memberregistration/" in index
    page = client.get("/admin/federation/memberregistration/1/change/")
    assert page.status_code == 200
    text = page.content.decode()
    assert state().registration_id in text
    assert er not in text and SECRET_ENV not in text
    assert 'name="registration_id"' not in text  # read-only: no form field
    assert client.get("/admin/federation/memberregistration/add/").status_code == 403
    delete = client.post("/admin/federation/memberregistration/1/delete/", {"post": "yes"})
    assert delete.status_code == 403
    assert state().registration_id
