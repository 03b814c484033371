"""ECS discovery at the ECS-ER (TS 23.558 clause 8.17.2.3; TS 29.558 ``Eecs_ECSDiscovery``):
request/response and subscribe/notify for the ECSs that match a member ECS's filters.

3GPP's YAML (TS 29.558 Annex A.19) could not be obtained:
``openapi/ECSPortal_Eecs_ECSDiscovery.yaml`` is our description of it, and ``wire`` the one
module that knows its member names.
"""

from ecscore.apis import ServedAPI

API = ServedAPI(
    name="eecs-ecsdiscovery",
    version="v1",
    schema_file="ECSPortal_Eecs_ECSDiscovery.yaml",
    scope_description="ECS discovery at the ECS-ER (member ECSs)",
    urls="federation.eecs_ecsdiscovery.urls",
    own_openapi="openapi/ECSPortal_Eecs_ECSDiscovery.yaml",
)
