"""The OpenAPI document at ``/api/schema/``: each operation with its real schemas.

The views of the 3GPP APIs name their bodies in ``@extend_schema`` with the helpers below:
``body()`` and ``answer()`` refer to a schema of a 3GPP file of the bundle
(``ecscore/openapi/3gpp-bundle.json``) or of one of our own files
(``schemas.add_document``), as 3GPP writes a reference
(``TS24558_Eecs_ServiceProvisioning.yaml#/components/schemas/ECSServProvReq``);
``problems()`` answers ProblemDetails as ``application/problem+json``; ``token_security()``
and ``partner_security()`` say which credentials, with which scope, an operation takes.

``postprocess`` (a drf-spectacular postprocessing hook, after the enum hook, which rebuilds
the components) then

* copies every schema so named, and every schema those reach, into ``components.schemas``
  and points each reference there: a schema keeps its 3GPP name where no other file of the
  bundle or of ours uses that name, else it is prefixed with its specification
  (``TS29571_DateTime``), or, should that still clash, with its file (``TS29571_CommonData_``);
* declares the security schemes: OAuth 2.0 client credentials (3GPP's name,
  ``oAuth2ClientCredentials``) with the token endpoint and the scopes the token endpoint grants
  (``OAUTH2_PROVIDER["SCOPES"]``, one per served API), a partner ECS's static bearer token, and
  HTTP Basic for the token endpoint's client authentication;
* documents the endpoints that are not DRF views, found by their URL names: the token
  endpoint (``oauth2-token``), ``healthz`` and ``metrics``.

A reference the bundle cannot resolve, or a security scheme no one declares, is a
programming error: the hook raises, and the tests that fetch the document fail.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.conf import settings
from django.urls import NoReverseMatch, get_script_prefix, reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from . import schemas
from .problems import PROBLEM_JSON, TITLES

JSON = "application/json"
MERGE_PATCH_JSON = "application/merge-patch+json"
FORM = "application/x-www-form-urlencoded"

#: Where ProblemDetails is defined (TS 29.122).
PROBLEM_SCHEMA = ("TS29122_CommonData.yaml", "ProblemDetails")

#: Security scheme names: 3GPP's for OAuth 2.0 (as in every TS 29.558/24.558 file), ours else.
OAUTH2 = "oAuth2ClientCredentials"
PARTNER_TOKEN = "partnerToken"
CLIENT_BASIC = "oAuth2ClientSecretBasic"
METRICS_BEARER = "metricsToken"

#: What ``ThreeGPPAPIView`` answers before or around any operation: no or unknown token (401),
#: a token without the scope or speaking for someone else (403), the client's rate (429), an
#: unexpected failure (500).
CALL_ERRORS = (401, 403, 429, 500)
#: What ``ThreeGPPAPIView.validated_body`` refuses: a body that breaks its schema (400), no
#: Content-Length (411), too large (413), not JSON (415).
BODY_ERRORS = (400, 411, 413, 415)

COMPONENTS = "#/components/schemas/"
#: On a parameter from ``json_query()``: the media type its value is encoded in.
_MEDIA_TYPE_MARK = "x-ecs-media-type"
#: Schema keywords whose values are data, not schemas (nothing to rewrite inside).
_DATA_KEYWORDS = frozenset({"enum", "default", "example"})
#: Schema keywords whose values map names to schemas (the names are not keywords).
_NAMED_SCHEMAS = frozenset({"properties"})


# --- What the views use in @extend_schema ------------------------------------------------


def schema(file_name: str, schema_name: str) -> dict[str, str]:
    """A reference to a named schema of a bundled 3GPP file or of one of our files."""
    return {"$ref": f"{file_name}#/components/schemas/{schema_name}"}


def body(file_name: str, schema_name: str, media_type: str = JSON) -> dict[str, Any]:
    """``request=`` for a body of that schema (``media_type``: e.g. merge-patch for PATCH)."""
    return {media_type: schema(file_name, schema_name)}


def answer(file_name: str, schema_name: str, description: str) -> OpenApiResponse:
    """A response whose body has that schema; use it under the key ``(status, JSON)``."""
    return OpenApiResponse(schema(file_name, schema_name), description=description)


def problems(*codes: int) -> dict[Any, OpenApiResponse]:
    """``responses=`` entries: ProblemDetails as application/problem+json for each status,
    and for any other (``default``): every error of ours is one."""
    problem = schema(*PROBLEM_SCHEMA)
    entries: dict[Any, OpenApiResponse] = {
        (code, PROBLEM_JSON): OpenApiResponse(problem, description=TITLES.get(code, "Error"))
        for code in sorted(set(codes))
    }
    entries[("default", PROBLEM_JSON)] = OpenApiResponse(problem, description="Any other error.")
    return entries


def location(*codes: int) -> OpenApiParameter:
    """The ``Location`` header of a created resource."""
    return OpenApiParameter(
        "Location",
        str,
        OpenApiParameter.HEADER,
        required=True,
        description="URI of the created resource.",
        response=list(codes or (201,)),
    )


def retry_after(*codes: int) -> OpenApiParameter:
    """The ``Retry-After`` header (seconds) of a 429 or 503."""
    return OpenApiParameter(
        "Retry-After",
        int,
        OpenApiParameter.HEADER,
        description="Seconds after which the request may be repeated.",
        response=list(codes or (429, 503)),
    )


def query(
    name: str,
    type_: Any,
    description: str,
    *,
    required: bool = False,
    json_encoded: bool = False,
) -> OpenApiParameter:
    """A query parameter; a 3GPP structured one (``json_encoded``) is a JSON text (TS 29.501
    clause 5.2.3.2), documented as ``content: {application/json: {schema}}``."""
    return OpenApiParameter(
        name,
        type_,
        OpenApiParameter.QUERY,
        required=required,
        description=description,
        extensions={_MEDIA_TYPE_MARK: JSON} if json_encoded else None,
    )


def token_security(scope: str) -> list[dict[str, list[str]]]:
    """``auth=``: an OAuth 2.0 access token with the API's scope."""
    return [{OAUTH2: [scope]}]


def partner_security(scope: str) -> list[dict[str, list[str]]]:
    """``auth=`` for EDGE-10: an access token with the scope, or a partner's static token."""
    return [{OAUTH2: [scope]}, {PARTNER_TOKEN: []}]


# --- The postprocessing hook --------------------------------------------------------------


def postprocess(result: dict[str, Any], generator: Any = None, **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular POSTPROCESSING_HOOKS entry (see the module's docstring)."""
    components = result.setdefault("components", {})
    components.setdefault("schemas", {})
    paths = result.setdefault("paths", {})
    token_url = _url_path("oauth2-token", with_script_prefix=True)
    if token_url is None:
        raise ValueError("no URL is named oauth2-token: where do clients get tokens?")
    scopes = dict(settings.OAUTH2_PROVIDER.get("SCOPES", {}))

    for url_name, (path_item, own_schemas) in _platform(scopes).items():
        path = _url_path(url_name)
        if path is not None:
            paths.setdefault(path, {}).update(path_item)
            _add_components(components["schemas"], own_schemas)
    for operation in _operations(paths):
        _encode_json_parameters(operation)
        _require_named_body(operation)

    import_schemas(result)  # rebuilds paths and components

    schemes = result["components"].setdefault("securitySchemes", {})
    schemes.update(security_schemes(scopes, token_url))
    for operation in _operations(result["paths"]):
        for requirement in operation.get("security", []):
            unknown = set(requirement) - set(schemes)
            if unknown:
                raise ValueError(f"{operation.get('operationId')}: no security scheme {unknown}")
    return result


def security_schemes(scopes: dict[str, str], token_url: str) -> dict[str, dict[str, Any]]:
    return {
        OAUTH2: {
            "type": "oauth2",
            "description": "OAuth 2.0 client credentials grant (3GPP TS 29.558 clause 7, "
            "TS 33.558): one scope per API. A client obtains only the scopes its registration "
            "allows, and a token that speaks for an EEC, an EES or a partner ECS acts only as "
            "that one. (With ECS_REQUIRE_AUTH=0, EDGE-4 and EDGE-6 also take calls without a "
            "token.)",
            "flows": {"clientCredentials": {"tokenUrl": token_url, "scopes": scopes}},
        },
        PARTNER_TOKEN: {
            "type": "http",
            "scheme": "bearer",
            "description": "The static token a partner ECS was given (EDGE-10 only), sent as "
            "Authorization: Bearer <token>.",
        },
        CLIENT_BASIC: {
            "type": "http",
            "scheme": "basic",
            "description": "The token endpoint's client authentication: client_id and "
            "client_secret as HTTP Basic credentials (RFC 6749 clause 2.3.1).",
        },
        METRICS_BEARER: {
            "type": "http",
            "scheme": "bearer",
            "description": "The metrics token (ECS_METRICS_TOKEN), sent as Authorization: "
            "Bearer <token>; a scraper in an ECS_METRICS_ALLOW network needs none.",
        },
    }


def import_schemas(result: dict[str, Any]) -> None:
    """Copy the schemas of files that the document's references name into its components,
    with everything they reach, and point every reference into the document."""
    # What ecscore.schemas validates with: 3GPP's bundle and our own files (add_document).
    documents = {**schemas._bundle(), **schemas._project_documents}
    generated = result["components"]["schemas"]
    names = component_names(documents, taken=set(generated))
    todo: list[tuple[str, str]] = []

    def target(ref: str, current_file: str) -> tuple[str, str]:
        file_part, _, pointer = ref.partition("#")
        parts = pointer.strip("/").split("/")
        if parts[:2] != ["components", "schemas"] or len(parts) != 3:
            raise ValueError(f"unsupported $ref {ref!r} (in {current_file or 'the document'})")
        return file_part or current_file, parts[2]

    def local(ref: str, current_file: str) -> str:
        key = target(ref, current_file)
        if key not in names:
            raise ValueError(f"no schema {key[1]!r} in {key[0]!r} (bundle or add_document)")
        todo.append(key)
        return COMPONENTS + names[key]

    def discriminator(value: dict[str, Any], file_name: str) -> dict[str, Any]:
        # A mapping may name subtypes the bundle left out (nothing of ours references them,
        # so no body of ours can hold them): those entries go, the others point here.
        mapping = {
            tag: local(ref, file_name)
            for tag, ref in value.get("mapping", {}).items()
            if target(ref, file_name) in names
        }
        return {**value, "mapping": mapping} if "mapping" in value else dict(value)

    def in_document(node: Any) -> Any:
        # Only references to files: the document's own (#/...) are drf-spectacular's.
        if isinstance(node, list):
            return [in_document(item) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            node = {**node, "$ref": local(ref, "")}
        return {key: value if key == "$ref" else in_document(value) for key, value in node.items()}

    def in_schema(node: Any, file_name: str) -> Any:
        if isinstance(node, list):
            return [in_schema(item, file_name) for item in node]
        if not isinstance(node, dict):
            return node
        copied: dict[str, Any] = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                copied[key] = local(value, file_name)
            elif key in _DATA_KEYWORDS:
                copied[key] = value
            elif key == "discriminator" and isinstance(value, dict):
                copied[key] = discriminator(value, file_name)
            elif key in _NAMED_SCHEMAS and isinstance(value, dict):
                copied[key] = {name: in_schema(sub, file_name) for name, sub in value.items()}
            else:
                copied[key] = in_schema(value, file_name)
        return copied

    for key in ("paths", "webhooks", "components"):
        if key in result:
            result[key] = in_document(result[key])
    generated = result["components"]["schemas"]
    done: set[tuple[str, str]] = set()
    while todo:
        file_name, schema_name = todo.pop()
        if (file_name, schema_name) in done:
            continue
        done.add((file_name, schema_name))
        source = documents[file_name]["components"]["schemas"][schema_name]
        generated[names[(file_name, schema_name)]] = in_schema(source, file_name)
    result["components"]["schemas"] = dict(sorted(generated.items()))


def component_names(
    documents: dict[str, Any], taken: Iterable[str] = ()
) -> dict[tuple[str, str], str]:
    """A component name for every schema of ``documents`` (file name -> OpenAPI document):
    3GPP's own where it is unique, else prefixed with its specification, else with its file.
    Names in ``taken`` (drf-spectacular's components) are avoided the same way."""
    avoid = set(taken)
    keys = [
        (file_name, schema_name)
        for file_name, document in sorted(documents.items())
        for schema_name in document.get("components", {}).get("schemas", {})
    ]

    def stem(file_name: str) -> str:
        return file_name.rsplit(".", 1)[0]

    def spec(file_name: str) -> str:
        return stem(file_name).split("_")[0]

    by_name = Counter(schema_name for _, schema_name in keys)
    by_spec = Counter((spec(f), schema_name) for f, schema_name in keys)
    names: dict[tuple[str, str], str] = {}
    for file_name, schema_name in keys:
        if by_name[schema_name] == 1 and schema_name not in avoid:
            name = schema_name
        elif by_spec[(spec(file_name), schema_name)] == 1:
            name = f"{spec(file_name)}_{schema_name}"
        else:
            name = f"{stem(file_name)}_{schema_name}"
        if name in avoid:
            name = f"{stem(file_name)}_{schema_name}"
        names[(file_name, schema_name)] = name
    clashes = [name for name, n in Counter(names.values()).items() if n > 1 or name in avoid]
    if clashes:
        raise ValueError(f"schema names that cannot be told apart: {sorted(clashes)}")
    return names


def _operations(paths: dict[str, Any]) -> Iterator[dict[str, Any]]:
    methods = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
    for item in paths.values():
        for method in methods:
            if method in item:
                yield item[method]


def _encode_json_parameters(operation: dict[str, Any]) -> None:
    for parameter in operation.get("parameters", []):
        media_type = parameter.pop(_MEDIA_TYPE_MARK, None)
        if media_type:
            parameter["content"] = {media_type: {"schema": parameter.pop("schema")}}


def _require_named_body(operation: dict[str, Any]) -> None:
    """A body named after a schema file is the one ``validated_body`` reads: it is required
    (drf-spectacular cannot tell for a raw schema)."""
    request_body = operation.get("requestBody")
    if not request_body:
        return
    refs = [media.get("schema", {}).get("$ref", "") for media in request_body["content"].values()]
    if refs and all(ref and not ref.startswith("#") for ref in refs):
        request_body["required"] = True


def _url_path(url_name: str, with_script_prefix: bool = False) -> str | None:
    """The path of a named URL: as the document's paths are written (below the script
    prefix), or as a URL a client may follow."""
    try:
        url = reverse(url_name)
    except NoReverseMatch:
        return None
    if with_script_prefix:
        return url
    prefix = get_script_prefix()
    return "/" + url[len(prefix) :] if url.startswith(prefix) else url


def _add_components(generated: dict[str, Any], own: dict[str, Any]) -> None:
    for name, value in own.items():
        if name in generated and generated[name] != value:
            raise ValueError(f"component {name!r} is defined twice")
        generated[name] = value


# --- The endpoints that are not DRF views -------------------------------------------------


def _platform(scopes: dict[str, str]) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """URL name -> (path item, the components it uses)."""
    builders: dict[str, Callable[[], tuple[dict[str, Any], dict[str, Any]]]] = {
        "oauth2-token": lambda: _token_endpoint(scopes),
        "healthz": _health_endpoint,
        "metrics": _metrics_endpoint,
        "jwks": _jwks_endpoint,
    }
    return {name: build() for name, build in builders.items()}


def _token_endpoint(scopes: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    scope_list = ", ".join(f"{name} ({what})" for name, what in scopes.items())
    own = {
        "OAuth2TokenRequest": {
            "type": "object",
            "description": "An access token request (RFC 6749 clause 4.4.2).",
            "properties": {
                "grant_type": {"type": "string", "enum": ["client_credentials"]},
                "scope": {
                    "type": "string",
                    "description": "Space-separated scopes, one per API: "
                    f"{scope_list}. Omitted: every scope the client was given.",
                },
                "client_id": {
                    "type": "string",
                    "description": "With client_secret, when the client does not "
                    "authenticate with HTTP Basic.",
                },
                "client_secret": {"type": "string", "writeOnly": True},
                "resource": {
                    "type": "string",
                    "description": "RFC 8707, on an ECS-ER only: the id of a registered "
                    "ECS, for a federation token (a JWT) to present there; scope must then be "
                    "eecs-ecsserviceprovisioning and the client a member ECS.",
                },
            },
            "required": ["grant_type"],
        },
        "OAuth2TokenResponse": {
            "type": "object",
            "description": "An access token (RFC 6749 clause 5.1); send it as "
            "Authorization: Bearer <access_token>.",
            "properties": {
                "access_token": {"type": "string"},
                "token_type": {"type": "string", "enum": ["Bearer"]},
                "expires_in": {"type": "integer", "minimum": 1},
                "scope": {"type": "string", "description": "The scopes granted."},
            },
            "required": ["access_token", "token_type", "expires_in", "scope"],
        },
        "OAuth2TokenError": {
            "type": "object",
            "description": "An access token error (RFC 6749 clause 5.2).",
            "properties": {
                "error": {
                    "type": "string",
                    "enum": [
                        "invalid_request",
                        "invalid_client",
                        "invalid_grant",
                        "unauthorized_client",
                        "unsupported_grant_type",
                        "invalid_scope",
                        "invalid_target",
                        "temporarily_unavailable",
                    ],
                },
                "error_description": {"type": "string"},
                "error_uri": {"type": "string"},
            },
            "required": ["error"],
        },
    }
    error = {"schema": {"$ref": COMPONENTS + "OAuth2TokenError"}}
    item = {
        "post": {
            "operationId": "ObtainAccessToken",
            "summary": "Obtain an OAuth 2.0 access token (client credentials grant).",
            "description": "RFC 6749 clause 4.4, the only grant offered. The client "
            "authenticates with HTTP Basic or with client_id and client_secret in the body, "
            "and names the scopes (APIs) it wants; it gets only those it was given. Rate-"
            "limited per client id (ECS_TOKEN_PER_CLIENT_PER_MINUTE) and, for failed client "
            "authentications, per address (ECS_TOKEN_FAILURES_PER_ADDRESS_PER_MINUTE).",
            "tags": ["OAuth 2.0"],
            "security": [{CLIENT_BASIC: []}, {}],
            "requestBody": {
                "required": True,
                "content": {FORM: {"schema": {"$ref": COMPONENTS + "OAuth2TokenRequest"}}},
            },
            "responses": {
                "200": {
                    "description": "The access token.",
                    "content": {JSON: {"schema": {"$ref": COMPONENTS + "OAuth2TokenResponse"}}},
                },
                "400": {
                    "description": "Refused: a malformed request, another grant type, or a "
                    "scope the client was not given.",
                    "content": {JSON: error},
                },
                "401": {"description": "Unknown client or wrong secret.", "content": {JSON: error}},
                "503": {
                    "description": "A federation token cannot be signed now (its key is "
                    "unavailable).",
                    "content": {JSON: error},
                },
                "429": {
                    "description": "Too many requests for this client id, or too many failed "
                    "ones from this address; Retry-After says when to try again.",
                    "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
                    "content": {JSON: error},
                },
            },
        }
    }
    return item, own


def _jwks_endpoint() -> tuple[dict[str, Any], dict[str, Any]]:
    own = {
        "JWKSet": {
            "type": "object",
            "description": "A JSON Web Key Set (RFC 7517 clause 5): public keys only.",
            "properties": {"keys": {"type": "array", "items": {"type": "object"}}},
            "required": ["keys"],
        }
    }
    item = {
        "get": {
            "operationId": "GetFederationSigningKeys",
            "summary": "The ECS-ER's public keys, which sign federation tokens.",
            "description": "No authentication. Cached for Cache-Control's max-age; a token "
            "whose kid is not in the cached set is the sign to fetch it again. 404 when this "
            "ECS is no ECS-ER.",
            "tags": ["OAuth 2.0"],
            "security": [{}],
            "responses": {
                "200": {
                    "description": "The key set.",
                    "content": {JSON: {"schema": {"$ref": COMPONENTS + "JWKSet"}}},
                },
                "404": {
                    "description": "This ECS is no ECS-ER.",
                    "content": {PROBLEM_JSON: {"schema": schema(*PROBLEM_SCHEMA)}},
                },
            },
        }
    }
    return item, own


def _health_endpoint() -> tuple[dict[str, Any], dict[str, Any]]:
    state = {"type": "string", "enum": ["ok", "failing"]}
    own = {
        "HealthStatus": {
            "type": "object",
            "properties": {
                "status": state,
                "checks": {
                    "type": "object",
                    "properties": {"database": state, "cache": state},
                    "required": ["database", "cache"],
                },
            },
            "required": ["status", "checks"],
        }
    }
    content = {JSON: {"schema": {"$ref": COMPONENTS + "HealthStatus"}}}
    responses = {
        "200": {"description": "The database and the cache answer.", "content": content},
        "503": {"description": "The database or the cache fails.", "content": content},
    }
    operation = {
        "summary": "Health of the portal: is the database reachable, does the cache answer.",
        "tags": ["operations"],
        "security": [],
    }
    item = {
        "get": {"operationId": "health", **operation, "responses": responses},
        "head": {
            "operationId": "healthHead",
            **operation,
            "description": "As GET, without a body (for load balancers).",
            "responses": {code: {"description": r["description"]} for code, r in responses.items()},
        },
    }
    return item, own


def _metrics_endpoint() -> tuple[dict[str, Any], dict[str, Any]]:
    item = {
        "get": {
            "operationId": "metrics",
            "summary": "Prometheus metrics (text exposition format 0.0.4).",
            "description": "For a scraper with the metrics token, or in an ECS_METRICS_ALLOW "
            "network (then without a token); with neither configured, only in debug mode.",
            "tags": ["operations"],
            "security": [{METRICS_BEARER: []}, {}],
            "responses": {
                "200": {
                    "description": "The metrics, as text/plain; version=0.0.4.",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                "401": {"description": "A metrics token is configured; none or a wrong one came."},
                "403": {"description": "No token is configured, and the address is not allowed."},
            },
        }
    }
    return item, {}
