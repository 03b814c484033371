"""Fuzzing the OAM API with schemathesis, from its own OpenAPI document, with an operator
token: whatever is sent, no 5xx, every error a ProblemDetails served as
``application/problem+json``, and every answer one the operation declares, with a body that
its schema takes.

Bounded as ``tests/fuzz``: ``ECS_FUZZ_EXAMPLES`` cases per operation (default 30),
derandomized unless ``ECS_FUZZ_RANDOM=1``; the coverage phase is off.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from openapi_schema_validator import OAS30Validator

from oam.models import OAMToken
from partners.models import ProvisioningCacheEntry, RetrievalAudit
from tests.builders import make_edn, make_ees, make_partner, make_policy
from tests.fuzz import in_this_transaction
from tests.oam.base import make_user

MAX_EXAMPLES = int(os.environ.get("ECS_FUZZ_EXAMPLES", "30"))
RANDOM = os.environ.get("ECS_FUZZ_RANDOM") == "1"
PREFIX = "/api/oam/v1/"


def _document() -> dict[str, Any]:
    """The portal's document (as /api/schema/ serves it), its OAM operations only."""
    document = SchemaGenerator().get_schema(request=None, public=True)
    document = json.loads(OpenApiJsonRenderer().render(document))
    document["paths"] = {p: v for p, v in document["paths"].items() if p.startswith(PREFIX)}
    return document


DOCUMENT = _document()
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
SCHEMA.app = WSGIHandler()
SCHEMA.config.phases.coverage.enabled = False
SCHEMA.config.generation.update(
    max_examples=MAX_EXAMPLES,
    database="none",
    deterministic=not RANDOM,
    with_security_parameters=False,
    allow_x00=False,
)


@pytest.fixture
def operator(db) -> dict[str, str]:
    """An operator token's header, and one object of each resource for ids to hit."""
    partner = make_partner("ecs.fuzz.example")
    make_policy(partner, policy_id="pol-fuzz")
    make_ees(make_edn("edn-fuzz"), "ees-fuzz")
    ProvisioningCacheEntry.objects.create(
        partner=partner,
        key="f" * 64,
        query={},
        request={},
        answer=[],
        expires_at=timezone.now() + dt.timedelta(hours=1),
    )
    RetrievalAudit.objects.create(direction="in", partner_label=partner.partner_id, request_id="r")
    _, key = OAMToken.objects.issue(make_user("fuzz-operator", "operator"))
    return {"Authorization": f"Token {key}"}


def _check(case: schemathesis.Case, response: Any) -> None:
    where = f"{case.method} {case.formatted_path}"
    status, content = response.status_code, response.content
    headers = {name.lower(): values for name, values in response.headers.items()}
    content_type = headers.get("content-type", [""])[0].split(";")[0].strip()
    assert status < 500, f"{where} -> {status}: {content[:2000]!r}"
    if status >= 400:
        assert content_type == "application/problem+json", (where, status, content[:500])
    operation = DOCUMENT["paths"][case.operation.path][case.method.lower()]
    declared = operation["responses"].get(str(status)) or operation["responses"].get("default")
    if status in (404, 405):
        return  # any resource may not be there, any method may be refused: ProblemDetails
    assert declared is not None, f"{where} -> {status} is not declared"
    media = (declared.get("content") or {}).get(content_type)
    if media is None:
        assert not content or status == 204, f"{where} -> {status} {content_type} undeclared"
        return
    schema = {**media["schema"], "components": DOCUMENT["components"]}
    problems = list(OAS30Validator(schema).iter_errors(json.loads(content)))
    assert not problems, f"{where} -> {status}: {problems[:3]}"


@SCHEMA.parametrize()
@settings(suppress_health_check=list(HealthCheck), deadline=None)
def test_fuzz_the_oam_api(case: schemathesis.Case, operator: dict[str, str]) -> None:
    with in_this_transaction():
        response = case.call(headers=operator)
    _check(case, response)
