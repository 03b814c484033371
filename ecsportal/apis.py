"""The 3GPP APIs this ECS serves: one line per API package.

Each package declares its ``ServedAPI`` (name, version, schema file, scope, URL module) in its
``__init__``. From this list come the URL table (``ecsportal.urls``), the OAuth 2.0 scopes
(``settings.OAUTH2_PROVIDER["SCOPES"]``), the schema bundle's root files
(``scripts/bundle_3gpp_schemas.py``) and the OpenAPI document. Adding a 3GPP API is a
package and a line here. This module imports no Django, so settings can read it.
"""

from __future__ import annotations

from ecscore.apis import ServedAPI, declared

PACKAGES = (
    "provisioning.eecs_serviceprovisioning",  # EDGE-4
    "provisioning.eecs_eesregistration",  # EDGE-6
    "provisioning.eecs_targeteesdiscovery",  # EDGE-6
    "partners.eecs_ecsserviceprovisioning",  # EDGE-10
    "federation.eecs_ecsregistration",  # ECS-ER: ECS registration
    "federation.eecs_ecsdiscovery",  # ECS-ER: ECS discovery
)

SERVED: tuple[ServedAPI, ...] = tuple(declared(package) for package in PACKAGES)


def scopes() -> dict[str, str]:
    """OAuth 2.0 scope -> what it grants, one per API."""
    return {api.scope: api.scope_description for api in SERVED}


def bundled_schema_files() -> tuple[str, ...]:
    """The 3GPP files whose schemas the bundle holds (not our own files)."""
    return tuple(api.schema_file for api in SERVED if api.own_openapi is None)
