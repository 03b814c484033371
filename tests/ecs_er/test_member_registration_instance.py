"""Our registration at a real ECS-ER (``manage.py runserver``, its own database), as in
production: the chore in this process, the ER another one, over HTTP."""

from __future__ import annotations

import pytest
import requests

from federation import member
from federation.models import ECSERMembership, MemberRegistration
from tests.builders import configure_ecs, plmn
from tests.openapi import ECS_DISCOVERY_FILE, assert_valid

from .test_er_instance import ER_ID, TIMEOUT, auth, credentials

pytest_plugins = ["tests.federation"]

pytestmark = pytest.mark.django_db

OUR_ID = "ecs.visited.example"
VISITED = plmn("002", "02")
PUBLIC_URL = "https://ecs.visited.example/api"


def discovered(er, home) -> list[dict]:
    found = requests.post(
        er.url + "/eecs-ecsdiscovery/v1/ecs-info/request",
        json={"requestorId": "ecs.home.example", "targetPlmn": VISITED},
        headers=auth(er, home, "eecs-ecsdiscovery"),
        timeout=TIMEOUT,
    )
    assert found.status_code == 200, found.text
    assert_valid(found.json(), ECS_DISCOVERY_FILE, "EcsInfoDiscoveryResp")
    return [info["ecsProfile"] for info in found.json()["ecsInfo"]]


def test_registers_at_a_real_er_and_de_registers(federation, settings):
    (er,) = federation.start("er")
    er.apply({"ecs": {"id": ER_ID}, "repository": {"enabled": True}})
    client_id, secret = credentials(er, OUR_ID)
    home = credentials(er, "ecs.home.example")

    settings.ECS_PUBLIC_URL = PUBLIC_URL
    configure_ecs(home=(VISITED,), ecs_id=OUR_ID)
    ECSERMembership.objects.create(
        pk=1,
        api_root=er.url,
        token_url=er.url + "/oauth2/token/",
        client_id=client_id,
        client_secret=secret,
        register=True,
    )
    member.tick()
    ours = MemberRegistration.objects.get()
    assert ours.registration_id and not ours.last_error
    assert discovered(er, home) == [
        {"ecsId": OUR_ID, "ecsAddr": {"uri": PUBLIC_URL}, "supportedPlmns": [{"plmnId": VISITED}]}
    ]

    ECSERMembership.objects.filter(pk=1).update(register=False)
    member.tick()
    assert not MemberRegistration.objects.get().registration_id
    assert discovered(er, home) == []
