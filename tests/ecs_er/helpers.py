"""Builders for the ECS-ER's tests: an ECS-ER, member ECS clients, their tokens, bodies."""

from __future__ import annotations

import base64
import json
from typing import Any

from django.test import Client

from access.clients import create_api_client, new_secret
from access.models import APIClient
from federation.models import RepositoryConfiguration
from tests.builders import configure_ecs, plmn

REGISTRATIONS = "/eecs-ecsregistration/v1/registrations"
DISCOVERY = "/eecs-ecsdiscovery/v1/ecs-info/request"
SUBSCRIPTIONS = "/eecs-ecsdiscovery/v1/subscriptions"
TOKEN = "/oauth2/token/"
ER_ID = "ecs.er.example"
REGISTRATION_SCOPE = "eecs-ecsregistration"
DISCOVERY_SCOPE = "eecs-ecsdiscovery"
FEDERATION_SCOPE = "eecs-ecsserviceprovisioning"
ALL_SCOPES = [REGISTRATION_SCOPE, DISCOVERY_SCOPE, FEDERATION_SCOPE]


def make_er(**fields: Any) -> RepositoryConfiguration:
    configure_ecs(ecs_id=ER_ID)
    config = RepositoryConfiguration(pk=1, enabled=True, **fields)
    config.save()
    return config


def member(ecs_id: str, scopes: list[str] | None = None, kind: str = "ecs") -> tuple[str, str]:
    """An API client for a member ECS: (client id, secret); an existing one gets a new
    secret."""
    existing = APIClient.objects.filter(kind=kind, identity=ecs_id).first()
    if existing is not None:
        secret = new_secret(existing.application)
        existing.application.save()
        return existing.application.client_id, secret
    client, secret = create_api_client(kind, ecs_id, scopes or ALL_SCOPES)
    return client.application.client_id, secret


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def token_response(client: Client, credentials: tuple[str, str], scope: str, **extra: str):
    data = {"grant_type": "client_credentials", "scope": scope, **extra}
    return client.post(TOKEN, data, HTTP_AUTHORIZATION=basic(*credentials))


def bearer(client: Client, credentials: tuple[str, str], scope: str) -> dict[str, str]:
    response = token_response(client, credentials, scope)
    assert response.status_code == 200, response.content
    return {"HTTP_AUTHORIZATION": f"Bearer {response.json()['access_token']}"}


def ecs_profile(
    ecs_id: str,
    api_root: str | None = None,
    ecsp: str | None = None,
    plmns: tuple[tuple[dict[str, str], tuple[str, ...]], ...] = ((plmn("002", "02"), ()),),
    area: dict[str, Any] | None = None,
) -> dict[str, Any]:
    profile: dict[str, Any] = {
        "ecsId": ecs_id,
        "ecsAddr": {"uri": api_root or f"https://{ecs_id}/api"},
    }
    if ecsp:
        profile["ecspId"] = ecsp
    if plmns:
        profile["supportedPlmns"] = [
            {"plmnId": p, **({"ecspIds": list(e)} if e else {})} for p, e in plmns
        ]
    if area:
        profile["spatialValidity"] = area
    return profile


def send(client: Client, method: str, path: str, body: Any = None, content_type=None, **headers):
    call = getattr(client, method.lower())
    if body is None:
        return call(path, **headers)
    return call(path, json.dumps(body), content_type=content_type or "application/json", **headers)
