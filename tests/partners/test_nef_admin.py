"""The NEF configuration in the admin: an OAM engineer sets it without the configuration
file, the secret is never shown back and kept when left empty, there is only one, and the
resolver uses what was saved."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from partners.models import NEFConfiguration
from partners.nef import resolver

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static_files")]

ADD = "/admin/partners/nefconfiguration/add/"
CHANGE = "/admin/partners/nefconfiguration/1/change/"


def form(**changes: str) -> dict[str, str]:
    data = {
        "api_root": "https://nef.example",
        "af_id": "ecs-af",
        "token_url": "https://nef.example/oauth2/token",
        "client_id": "ecs",
        "client_secret": "s3cret-value",
        "scope": "nnef-monitoring",
        "timeout": "1.0",
        "cache_seconds": "300",
        "breaker_threshold": "5",
        "breaker_cooldown": "30",
    }
    data.update(changes)
    return data


@pytest.fixture
def operator(client):
    user = get_user_model().objects.create_user("op", "op@example.org", "pw", is_staff=True)
    user.groups.add(Group.objects.get(name="operator"))
    client.force_login(user)
    return client


def test_an_operator_sets_the_nef_and_the_resolver_uses_it(operator):
    response = operator.post(ADD, form())
    assert response.status_code == 302, response.content.decode()[:2000]
    config = NEFConfiguration.objects.get()
    assert config.pk == 1 and config.client_secret == "s3cret-value"
    assert resolver.configuration().api_root == "https://nef.example"

    page = operator.get(CHANGE).content.decode()
    assert "s3cret-value" not in page
    assert "secret stored in the database" in page
    assert operator.get(ADD).status_code == 403  # one NEF only

    response = operator.post(CHANGE, form(client_secret="", timeout="2.5"))
    assert response.status_code == 302
    config.refresh_from_db()
    assert config.client_secret == "s3cret-value" and config.timeout == 2.5


def test_half_an_oauth_setup_and_bad_values_are_refused_in_words(operator):
    response = operator.post(ADD, form(token_url="", client_secret="", timeout="99"))
    assert response.status_code == 200
    text = response.content.decode()
    assert "needs the token URL, the client id and the client secret together" in text
    assert "less than or equal to 30" in text
    assert not NEFConfiguration.objects.exists()


def test_env_secret_is_named_not_read(operator, monkeypatch):
    monkeypatch.setenv("NEF_SECRET", "from-env")
    assert operator.post(ADD, form(client_secret="env:NEF_SECRET")).status_code == 302
    page = operator.get(CHANGE).content.decode()
    assert "environment variable NEF_SECRET" in page and "from-env" not in page


def test_an_auditor_cannot_see_the_nef_page(client):
    user = get_user_model().objects.create_user("au", "au@example.org", "pw", is_staff=True)
    user.groups.add(Group.objects.get(name="auditor"))
    client.force_login(user)
    NEFConfiguration.objects.create(pk=1, api_root="https://nef.example", af_id="x")
    assert client.get(CHANGE).status_code == 403
