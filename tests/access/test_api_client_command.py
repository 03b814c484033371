"""``ecs_api_client``: a script gets a working client id and secret, and clear refusals."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from access.models import APIClient

pytestmark = pytest.mark.django_db


def _create(*args: str) -> dict[str, str]:
    out = io.StringIO()
    call_command("ecs_api_client", *args, stdout=out)
    return json.loads(out.getvalue().strip().splitlines()[-1])


def test_printed_credentials_obtain_a_token_with_the_scope(client) -> None:
    creds = _create("ecs", "ecs.visited.example", "--scope", "eecs-ecsserviceprovisioning")
    stored = APIClient.objects.get(kind="ecs", identity="ecs.visited.example")
    assert stored.scopes == ["eecs-ecsserviceprovisioning"]
    assert stored.application.client_secret != creds["clientSecret"]  # only the hash is kept
    answer = client.post(
        "/oauth2/token/",
        {
            "grant_type": "client_credentials",
            "client_id": creds["clientId"],
            "client_secret": creds["clientSecret"],
        },
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["scope"] == "eecs-ecsserviceprovisioning"


def test_unknown_scope_and_duplicate_identity_are_refused() -> None:
    with pytest.raises(CommandError, match="Unknown scope"):
        _create("eec", "eec-1", "--scope", "no-such-api")
    _create("eec", "eec-1", "--scope", "eecs-serviceprovisioning")
    with pytest.raises(CommandError, match="exists already"):
        _create("eec", "eec-1", "--scope", "eecs-serviceprovisioning")
    assert APIClient.objects.filter(identity="eec-1").count() == 1
