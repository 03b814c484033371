"""Fuzzing the ECS-ER's two APIs with schemathesis, in-process, as tests/fuzz does the others.

Whatever a member ECS sends -- schema-valid or not, for a live or an unknown registration or
subscription -- the ECS-ER never answers 5xx, every error is a ProblemDetails served as
``application/problem+json``, and every answer is one our OpenAPI file declares for the
operation, with a body that validates.  Half of the cases (decided by the generated data, so
runs stay reproducible) carry the member's own ids and address a live resource, so that they
get past the identity check.  ``ECS_FUZZ_EXAMPLES`` cases per operation (default 30).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import zlib
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.test import Client
from hypothesis import HealthCheck, settings

from ecscore import errors
from federation import repository
from federation.eecs_ecsdiscovery import wire as discovery_wire
from federation.eecs_ecsregistration import wire as registration_wire
from federation.records import Filters, Subscription
from tests.builders import in_seconds
from tests.fuzz import in_this_transaction
from tests.openapi import SHARED_OPENAPI, assert_conforms, assert_valid

from .helpers import ALL_SCOPES, ecs_profile, make_er, member, token_response

MAX_EXAMPLES = int(os.environ.get("ECS_FUZZ_EXAMPLES", "30"))
MEMBER_ID = "ecs.member.fuzz"
CALLBACK = "http://127.0.0.1:9/callbacks"


def _folder() -> Path:
    """3GPP's files and ours side by side, so that every relative $ref resolves."""
    folder = Path(tempfile.mkdtemp(prefix="ecs-er-fuzz-"))
    atexit.register(shutil.rmtree, folder, True)
    for source in SHARED_OPENAPI.iterdir():
        (folder / source.name).symlink_to(source)
    for path in (registration_wire.OPENAPI_PATH, discovery_wire.OPENAPI_PATH):
        (folder / path.name).symlink_to(path)
    return folder


FOLDER = _folder()
FILES = {"registration": registration_wire.OPENAPI_FILE, "discovery": discovery_wire.OPENAPI_FILE}


def _load(name: str) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_file((FOLDER / name).read_text(encoding="utf-8"))
    schema.location = (FOLDER / name).as_uri()
    schema.app = WSGIHandler()
    schema.config.phases.coverage.enabled = False
    schema.config.generation.update(
        max_examples=MAX_EXAMPLES,
        database="none",
        deterministic=True,
        with_security_parameters=False,
        allow_x00=False,
        allow_extra_parameters=False,
    )
    return schema


APIS = {api: _load(name) for api, name in FILES.items()}
API_OF_BASE_PATH = {APIS[api].declared_base_path(): api for api in FILES}


def _make_live(world: dict[str, Any]) -> None:
    """The member's registration and subscription, made again when they are gone."""
    if not repository.live_registrations().filter(ecs_id=MEMBER_ID).exists():
        profile = registration_wire.profile(ecs_profile(MEMBER_ID))
        world["registrationId"] = repository.register(profile, None).registration_id
    try:
        repository.subscription(world.get("subscriptionId", ""))
    except errors.NotFound:
        body = {"requestorId": MEMBER_ID, "notificationDestination": CALLBACK}
        request = Subscription(
            MEMBER_ID,
            CALLBACK,
            Filters.of(None, (), None),
            None,
            False,
            {**body, "discoveryFilters": {}},
        )
        world["subscriptionId"] = repository.subscribe(request).subscription_id


@pytest.fixture
def world(db, monkeypatch) -> dict[str, Any]:
    """An ECS-ER with the member's registration and subscription, and its token."""
    monkeypatch.setenv("ECS_ALLOW_PRIVATE_CALLBACKS", "1")
    make_er()
    response = token_response(Client(), member(MEMBER_ID), " ".join(ALL_SCOPES[:2]))
    assert response.status_code == 200, response.content
    world = {"auth": {"Authorization": f"Bearer {response.json()['access_token']}"}}
    _make_live(world)
    return world


def _coin(value: Any) -> bool:
    return zlib.crc32(repr(value).encode()) % 2 == 0


def _steer(case: schemathesis.Case, world: dict[str, Any]) -> None:
    for name in ("registrationId", "subscriptionId"):
        if case.path_parameters and name in case.path_parameters and _coin(case.path_parameters):
            case.path_parameters[name] = world[name]
    body = case.body
    if not isinstance(body, dict) or not _coin(body):
        return
    if "requestorId" in body or case.operation.path.startswith("/subscriptions"):
        body["requestorId"] = MEMBER_ID
    if "notificationDestination" in body:
        body["notificationDestination"] = CALLBACK
    if isinstance(body.get("expTime"), str):
        body["expTime"] = in_seconds(600)
    profile = body.get("ecsProfile")
    if isinstance(profile, dict):
        profile["ecsId"] = MEMBER_ID
        profile["ecsAddr"] = {"uri": "https://member.fuzz/api"}


@schemathesis.pytest.parametrize(**APIS)
@settings(suppress_health_check=list(HealthCheck), deadline=None)
def test_fuzz(case: schemathesis.Case, world: dict[str, Any]) -> None:
    api = API_OF_BASE_PATH[case.operation.schema.declared_base_path()]
    _steer(case, world)
    with in_this_transaction():
        response = case.call(headers=world["auth"])
    status, content = response.status_code, response.content
    where = f"{api}: {case.method} {case.formatted_path}"
    assert status < 500, f"{where} -> {status}: {content[:2000]!r}"
    headers = {k.lower(): v[0] for k, v in response.headers.items()}
    if status >= 400:
        assert headers.get("content-type", "").startswith("application/problem+json"), where
        assert_valid(response.json(), "TS29122_CommonData.yaml", "ProblemDetails")
    if status == 404 or case.method == "DELETE":
        _make_live(world)  # the live resources may be gone: make them again

    class Answer:
        status_code = status

        def __init__(self) -> None:
            self.content = content

        def __getitem__(self, name: str) -> str:
            return headers[name.lower()]

    assert_conforms(Answer(), FILES[api], case.operation.path, case.method)
