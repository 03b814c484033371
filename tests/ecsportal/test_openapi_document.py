"""The OpenAPI document at /api/schema/ describes what the portal really serves.

Every operation of every API in the registry (``ecsportal.apis.SERVED``) is there with the
bodies 3GPP's file (or, for EDGE-10, ours) gives it, resolved inside the document itself;
errors are ProblemDetails; the security schemes carry the registry's scopes; the token, health
and metrics endpoints are described, and what they answer fits the description.
"""

from __future__ import annotations

import base64
import re
from importlib import import_module
from typing import Any

import pytest
from django.test import override_settings
from oauth2_provider.models import Application
from openapi_schema_validator import OAS30Validator

from access.models import APIClient
from ecscore import apidoc
from ecscore.schemas import schema_of
from ecsportal import apis
from partners.eecs_ecsserviceprovisioning import wire as edge10
from tests import openapi as sources
from tests.builders import EDGE4_REQUEST, post_json

pytestmark = pytest.mark.django_db

EDGE4 = "TS24558_Eecs_ServiceProvisioning.yaml"
EES_REGISTRATION = "TS29558_Eecs_EESRegistration.yaml"
METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture
def document(client) -> dict[str, Any]:
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow ``$ref`` inside the document until a schema that is not a reference."""
    seen = set()
    while "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), f"{ref} points outside the document"
        assert ref not in seen, f"{ref} refers to itself"
        seen.add(ref)
        node = document
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def component_of(node: dict[str, Any]) -> str:
    ref = node["$ref"]
    assert ref.startswith("#/components/schemas/"), ref
    return ref.rsplit("/", 1)[1]


def names_schema(component: str, schema_name: str) -> bool:
    """Whether a component is that 3GPP schema (under its own name, or prefixed)."""
    return component == schema_name or component.endswith("_" + schema_name)


def served_operations() -> list[tuple[Any, str, str]]:
    """(API, path as the document writes it, method) for every route of every served API."""
    found = []
    for api in apis.SERVED:
        for pattern in import_module(api.urls).urlpatterns:
            route = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(pattern.pattern))
            view = pattern.callback.view_class
            for method in METHODS:
                if hasattr(view, method):
                    found.append((api, f"/{api.prefix}{route}", method))
    return found


def request_schema(operation: dict[str, Any], media_type: str = "application/json") -> dict:
    return operation["requestBody"]["content"][media_type]["schema"]


def response_schema(operation: dict[str, Any], status: str) -> dict:
    return operation["responses"][status]["content"]["application/json"]["schema"]


def validator(document: dict[str, Any], component: str) -> OAS30Validator:
    schema = {"$ref": f"#/components/schemas/{component}", "components": document["components"]}
    return OAS30Validator(schema)


# --- The served APIs -------------------------------------------------------------------------


def test_every_operation_of_every_served_api_is_documented_with_its_scope(document):
    operations = served_operations()
    assert {api.name for api, _, _ in operations} == {api.name for api in apis.SERVED}
    for api, path, method in operations:
        assert path in document["paths"], path
        operation = document["paths"][path].get(method)
        assert operation is not None, f"{method} {path}"
        assert operation["operationId"]
        assert {"oAuth2ClientCredentials": [api.scope]} in operation["security"], path


def test_the_operations_have_the_bodies_their_file_gives_them(document):
    """Per operationId: the request and each 2xx body name the schema that 3GPP's file (ours
    for EDGE-10) names, and every operation of that file is served."""
    ours = {
        op["operationId"]: (method, op)
        for item in document["paths"].values()
        for method, op in item.items()
        if method in METHODS
    }
    compared = 0
    for api in apis.SERVED:
        if not sources._path_of(api.schema_file).is_file():
            continue  # 3GPP's files are not beside this checkout
        for item in sources.document(api.schema_file)["paths"].values():
            for method, theirs in item.items():
                if method not in METHODS:
                    continue
                assert theirs["operationId"] in ours, f"{api.name}: {theirs['operationId']}"
                our_method, op = ours[theirs["operationId"]]
                assert our_method == method
                for media_type, content in theirs.get("requestBody", {}).get("content", {}).items():
                    expected = content["schema"]["$ref"].rsplit("/", 1)[1]
                    assert names_schema(component_of(request_schema(op, media_type)), expected)
                    assert op["requestBody"]["required"] is True
                for status, answer in op["responses"].items():
                    if not status.startswith("2"):
                        continue
                    assert status in theirs["responses"], f"{theirs['operationId']} {status}"
                    declared = theirs["responses"][status]
                    if "content" not in declared:
                        assert "content" not in answer
                        continue
                    expected = declared["content"]["application/json"]["schema"]["$ref"]
                    assert names_schema(
                        component_of(response_schema(op, status)), expected.rsplit("/", 1)[1]
                    )
                compared += 1
    if not compared:
        pytest.skip("no OpenAPI file of a served API is available")


def test_the_edge4_request_is_3gpps_ecsservprovreq_and_its_answer_ecsservprovresp(document):
    operation = document["paths"]["/eecs-serviceprovisioning/v1/request"]["post"]
    body = resolve(document, request_schema(operation))
    assert body["type"] == "object"
    assert "eecId" in body["required"]
    assert set(body["required"]) == set(schema_of(EDGE4, "ECSServProvReq")["required"])
    assert set(body["properties"]) == set(schema_of(EDGE4, "ECSServProvReq")["properties"])
    answer = resolve(document, response_schema(operation, "200"))
    assert set(answer["properties"]) == set(schema_of(EDGE4, "ECSServProvResp")["properties"])
    assert "204" in operation["responses"]


def test_the_edge6_registration_is_3gpps_eesregistration(document):
    operation = document["paths"]["/eecs-eesregistration/v1/registrations"]["post"]
    expected = schema_of(EES_REGISTRATION, "EESRegistration")
    for schema in (request_schema(operation), response_schema(operation, "201")):
        assert component_of(schema) == "EESRegistration"
        resolved = resolve(document, schema)
        assert set(resolved["required"]) == set(expected["required"])
        assert set(resolved["properties"]) == set(expected["properties"])
    assert operation["responses"]["201"]["headers"]["Location"]["required"] is True
    patch = document["paths"]["/eecs-eesregistration/v1/registrations/{registration_id}"]["patch"]
    assert list(patch["requestBody"]["content"]) == ["application/merge-patch+json"]
    schema = request_schema(patch, "application/merge-patch+json")
    assert component_of(schema) == "EESRegistrationPatch"


def test_the_edge10_request_references_our_servprovreq_and_servprovresp(document):
    operation = document["paths"]["/eecs-ecsserviceprovisioning/v1/request"]["post"]
    assert component_of(request_schema(operation)) == edge10.REQUEST_SCHEMA[1] == "ServProvReq"
    assert component_of(response_schema(operation, "200")) == "ServProvResp"
    body = resolve(document, request_schema(operation))
    assert body["required"] == ["reqEcsId"]
    # ... and what it reuses of EDGE-4 is 3GPP's, copied in.
    items = body["properties"]["connInfo"]["items"]
    assert component_of(items) == "ConnectivityInfo"
    reused = resolve(document, items)
    assert set(reused["properties"]) == set(schema_of(EDGE4, "ConnectivityInfo")["properties"])
    # A partner's static token is the other way in.
    assert {"partnerToken": []} in operation["security"]
    scheme = document["components"]["securitySchemes"]["partnerToken"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")


def test_the_t_ees_discovery_query_is_3gpps(document):
    operation = document["paths"]["/eecs-targeteesdiscovery/v1/ees-profiles"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}
    declared = sources._path_of("TS29558_Eecs_TargetEESDiscovery.yaml")
    if declared.is_file():
        theirs = sources.document(declared.name)["paths"]["/ees-profiles"]["get"]["parameters"]
        assert {p["name"] for p in theirs} <= set(parameters)
        for p in theirs:
            assert parameters[p["name"]].get("required", False) == p.get("required", False)
    # A structured value travels as JSON text.
    location = parameters["ue-location"]["content"]["application/json"]["schema"]
    assert component_of(location) == "LocationArea5G"
    assert component_of(response_schema(operation, "200")) == "ECSServProvResp"


def test_every_error_is_a_problem_details(document):
    problem = schema_of(*apidoc.PROBLEM_SCHEMA)
    for _, path, method in served_operations():
        operation = document["paths"][path][method]
        responses = operation["responses"]
        errors = {status: r for status, r in responses.items() if not status.startswith(("1", "2"))}
        expected = {str(code) for code in apidoc.CALL_ERRORS} | {"default"}
        if "requestBody" in operation:
            expected |= {str(code) for code in apidoc.BODY_ERRORS}
        assert expected <= set(errors), f"{method} {path}: {sorted(errors)}"
        for status, answer in errors.items():
            assert list(answer["content"]) == ["application/problem+json"], (path, status)
            schema = answer["content"]["application/problem+json"]["schema"]
            assert component_of(schema) == "ProblemDetails"
            assert set(resolve(document, schema)["properties"]) == set(problem["properties"])


def test_an_error_the_portal_answers_fits_the_document(client, document):
    response = post_json(client, EDGE4_REQUEST, {"eecId": 7})
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    errors = list(validator(document, "ProblemDetails").iter_errors(response.json()))
    assert not errors, errors


# --- The document as a whole -----------------------------------------------------------------


def walk_refs(node: Any, where: str = "") -> list[tuple[str, str]]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.append((where, value))
            elif key == "mapping" and isinstance(value, dict):  # discriminator mappings
                found += [(f"{where}/mapping/{k}", v) for k, v in value.items()]
            else:
                found += walk_refs(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            found += walk_refs(item, f"{where}/{i}")
    return found


def test_every_reference_resolves_inside_the_document(document):
    refs = walk_refs(document)
    assert len(refs) > 100
    for where, ref in refs:
        assert ref.startswith("#/"), f"{where}: {ref} points to another file"
        node: Any = document
        for part in ref[2:].split("/"):
            assert isinstance(node, dict) and part in node, f"{where}: {ref} is dangling"
            node = node[part]


def test_the_document_is_a_valid_openapi_document(document):
    validation = pytest.importorskip("openapi_spec_validator")
    validation.validate(document)


def test_the_security_schemes_carry_the_registrys_scopes(document):
    schemes = document["components"]["securitySchemes"]
    oauth2 = schemes["oAuth2ClientCredentials"]
    assert oauth2["type"] == "oauth2"
    flow = oauth2["flows"]["clientCredentials"]
    assert flow["tokenUrl"].endswith("/oauth2/token/")
    assert flow["scopes"] == apis.scopes()
    assert set(flow["scopes"]) == {api.scope for api in apis.SERVED}
    for item in document["paths"].values():
        for method, operation in item.items():
            for requirement in operation.get("security", []) if method in METHODS else []:
                for name, scopes in requirement.items():
                    assert name in schemes
                    assert set(scopes) <= set(flow["scopes"])


# --- The endpoints that are not DRF views ----------------------------------------------------


def make_client(scopes: list[str]) -> tuple[str, str]:
    secret = "secret-for-the-openapi-document-0123456789"
    app = Application.objects.create(
        name="eec:eec-doc",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret=secret,
    )
    APIClient.objects.create(application=app, kind="eec", identity="eec-doc", scopes=scopes)
    return app.client_id, secret


def test_the_token_endpoint_is_documented_and_answers_as_documented(client, document):
    operation = document["paths"]["/oauth2/token/"]["post"]
    form = resolve(
        document,
        operation["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"],
    )
    assert form["properties"]["grant_type"]["enum"] == ["client_credentials"]
    assert "grant_type" in form["required"]
    token_schema = component_of(response_schema(operation, "200"))
    error_schema = component_of(
        operation["responses"]["401"]["content"]["application/json"]["schema"]
    )

    client_id, secret = make_client(["eecs-serviceprovisioning"])
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    data = {"grant_type": "client_credentials", "scope": "eecs-serviceprovisioning"}
    granted = client.post("/oauth2/token/", data, HTTP_AUTHORIZATION=f"Basic {basic}")
    assert granted.status_code == 200
    assert not list(validator(document, token_schema).iter_errors(granted.json()))
    wrong = base64.b64encode(f"{client_id}:wrong".encode()).decode()
    refused = client.post("/oauth2/token/", data, HTTP_AUTHORIZATION=f"Basic {wrong}")
    assert refused.status_code == 401
    assert not list(validator(document, error_schema).iter_errors(refused.json()))


def test_health_and_metrics_are_documented_and_answer_as_documented(client, document):
    health = document["paths"]["/healthz"]["get"]
    assert {"200", "503"} <= set(health["responses"])
    assert "head" in document["paths"]["/healthz"]
    schema = component_of(response_schema(health, "200"))
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert not list(validator(document, schema).iter_errors(answer.json()))

    metrics = document["paths"]["/metrics"]["get"]
    assert list(metrics["responses"]["200"]["content"]) == ["text/plain"]
    assert {"401", "403"} <= set(metrics["responses"])
    assert metrics["security"] == [{apidoc.METRICS_BEARER: []}, {}]
    assert client.get("/metrics").status_code == 403  # nothing configured: nobody
    with override_settings(ECS_METRICS_TOKEN="scrape-token"):
        assert client.get("/metrics").status_code == 401
        answer = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token")
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/plain")


# --- Component names -------------------------------------------------------------------------


def test_component_names_keep_3gpps_names_unless_two_files_share_one():
    documents = {
        "TS29571_CommonData.yaml": {"components": {"schemas": {"DateTime": {}, "Gpsi": {}}}},
        "TS29122_CommonData.yaml": {"components": {"schemas": {"DateTime": {}, "Link": {}}}},
        "TS29558_Eecs_A.yaml": {"components": {"schemas": {"Same": {}}}},
        "TS29558_Eees_B.yaml": {"components": {"schemas": {"Same": {}}}},
    }
    names = apidoc.component_names(documents, taken={"Link"})
    assert names == {
        ("TS29571_CommonData.yaml", "DateTime"): "TS29571_DateTime",
        ("TS29571_CommonData.yaml", "Gpsi"): "Gpsi",
        ("TS29122_CommonData.yaml", "DateTime"): "TS29122_DateTime",
        ("TS29122_CommonData.yaml", "Link"): "TS29122_Link",
        ("TS29558_Eecs_A.yaml", "Same"): "TS29558_Eecs_A_Same",
        ("TS29558_Eees_B.yaml", "Same"): "TS29558_Eees_B_Same",
    }
