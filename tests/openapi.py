"""Validate bodies against 3GPP's own OpenAPI files in ../shared/3gpp-openapi.

Used by every API test: ``assert_conforms(response, FILE, "/request", "post")`` checks that
the response's status is one the operation declares and that its body validates against
the schema 3GPP gives for that status and media type; ``assert_valid`` checks any body
(a request we send, a notification we receive) against a named schema.  Our own files
(``partners/eecs_ecsserviceprovisioning/openapi/``, e.g. ``EDGE10_FILE``, and the ECS-ER's
two in ``federation/*/openapi/``) are found the same
way, by name.

One relaxation, recorded in docs/design-decisions.md: the Rel-18 file we hold requires
``ednCnfgInfo`` in ``ECSServProvResp`` and ``ServProvNotification``, while TS 24.558 V20
clause 7 answers a roaming UE with ``redirectedECS``.  In those two schemas ``required`` is
read as "``ednCnfgInfo`` or ``redirectedECS``"; every other rule of the file holds (both
members keep ``minItems: 1``, ``subId`` stays required).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SHARED_OPENAPI = Path(__file__).resolve().parent.parent.parent / "shared" / "3gpp-openapi"
# Our own OpenAPI files (EDGE-10 as we serve it); they $ref 3GPP's files by name.
_REPO = Path(__file__).resolve().parent.parent
OUR_OPENAPI = (
    _REPO / "partners" / "eecs_ecsserviceprovisioning" / "openapi",
    _REPO / "federation" / "eecs_ecsregistration" / "openapi",
    _REPO / "federation" / "eecs_ecsdiscovery" / "openapi",
)
EDGE10_FILE = "ECSPortal_Eecs_ECSServiceProvisioning.yaml"
ECS_REGISTRATION_FILE = "ECSPortal_Eecs_ECSRegistration.yaml"
ECS_DISCOVERY_FILE = "ECSPortal_Eecs_ECSDiscovery.yaml"
BASE = "file:///3gpp/"


def _path_of(name: str) -> Path:
    """Where an OpenAPI file lives: 3GPP's folder first, then ours."""
    for folder in (SHARED_OPENAPI, *OUR_OPENAPI):
        if (folder / name).is_file():
            return folder / name
    return SHARED_OPENAPI / name


EDGE4_FILE = "TS24558_Eecs_ServiceProvisioning.yaml"
# Schemas whose required ednCnfgInfo may be redirectedECS instead (see the module docstring).
EDN_OR_REDIRECT = ("ECSServProvResp", "ServProvNotification")


def _relax(name: str, loaded: dict[str, Any]) -> dict[str, Any]:
    if name != EDGE4_FILE:
        return loaded
    schemas = loaded["components"]["schemas"]
    for schema_name in EDN_OR_REDIRECT:
        schema = schemas[schema_name]
        assert "ednCnfgInfo" in schema["required"], f"{schema_name}: the file changed"
        schema["required"] = [m for m in schema["required"] if m != "ednCnfgInfo"] or None
        if schema["required"] is None:
            del schema["required"]
        schema["anyOf"] = [{"required": ["ednCnfgInfo"]}, {"required": ["redirectedECS"]}]
    return loaded


@cache
def document(name: str) -> dict[str, Any]:
    with open(_path_of(name), encoding="utf-8") as fh:
        return _relax(name, yaml.safe_load(fh))


def _retrieve(uri: str) -> Resource:
    name = uri[len(BASE) :] if uri.startswith(BASE) else uri
    return Resource.from_contents(document(name), default_specification=DRAFT4)


@cache
def _registry() -> Registry:
    return Registry(retrieve=_retrieve)


def _validator(schema: dict[str, Any], file_name: str) -> OAS30Validator:
    # Wrap the schema so that its relative $refs resolve against its own file.
    wrapped = {"id": BASE + file_name, **schema}
    return OAS30Validator(wrapped, registry=_registry(), format_checker=oas30_format_checker)


def errors_for(body: Any, file_name: str, schema_name: str) -> list[str]:
    schema = {"$ref": f"#/components/schemas/{schema_name}"}
    validator = _validator({**schema, "components": document(file_name)["components"]}, file_name)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)
    ]


def assert_valid(body: Any, file_name: str, schema_name: str) -> None:
    errors = errors_for(body, file_name, schema_name)
    assert not errors, f"body does not conform to {schema_name}: {errors}\n{json.dumps(body)}"


def _resolve(node: dict[str, Any], file_name: str) -> tuple[dict[str, Any], str]:
    """Follow a $ref to a response object, possibly in another file."""
    while "$ref" in node:
        target, _, pointer = node["$ref"].partition("#")
        file_name = target or file_name
        node = document(file_name)
        for part in pointer.strip("/").split("/"):
            node = node[part]
    return node, file_name


def assert_conforms(response: Any, file_name: str, path: str, method: str) -> None:
    """The response is one the 3GPP operation declares, with a body that validates."""
    operation = document(file_name)["paths"][path][method.lower()]
    status = str(response.status_code)
    declared = operation["responses"].get(status) or operation["responses"].get("default")
    assert declared is not None, f"{method} {path} does not declare status {status}"
    declared, where = _resolve(declared, file_name)
    content = declared.get("content") or {}
    body = response.content
    if not content:
        assert body in (b"", None), f"status {status} must have no body, got {body[:200]!r}"
        return
    media_type = response["Content-Type"].split(";")[0].strip()
    assert media_type in content, f"{media_type} is not declared for {status}: {list(content)}"
    schema = content[media_type]["schema"]
    validator = _validator({**schema, "components": document(where)["components"]}, where)
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(json.loads(body))
    ]
    assert not errors, f"{status} body does not conform: {errors}\n{body[:2000]!r}"
