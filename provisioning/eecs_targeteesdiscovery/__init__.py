"""EDGE-6 T-EES discovery (TS 29.558, ``Eecs_TargetEESDiscovery``): the API S-EESs call."""

from ecscore.apis import ServedAPI

API = ServedAPI(
    name="eecs-targeteesdiscovery",
    version="v1",
    schema_file="TS29558_Eecs_TargetEESDiscovery.yaml",
    scope_description="EDGE-6 T-EES discovery (EESs)",
    urls="provisioning.eecs_targeteesdiscovery.urls",
)
