"""EDGE-10 (TS 29.558, ``Eecs_ECSServiceProvisioning``): the API partner ECSs call, and our
client of it.

3GPP's YAML could not be obtained: ``openapi/ECSPortal_Eecs_ECSServiceProvisioning.yaml`` is our
description of it, and ``wire`` the one module that knows its paths and member names.
"""

from ecscore.apis import ServedAPI

API = ServedAPI(
    name="eecs-ecsserviceprovisioning",
    version="v1",
    schema_file="ECSPortal_Eecs_ECSServiceProvisioning.yaml",
    scope_description="EDGE-10 provisioning retrieval (partner ECSs)",
    urls="partners.eecs_ecsserviceprovisioning.urls",
    own_openapi="openapi/ECSPortal_Eecs_ECSServiceProvisioning.yaml",
)
