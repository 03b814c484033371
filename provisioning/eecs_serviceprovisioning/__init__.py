"""EDGE-4 service provisioning (TS 24.558, ``Eecs_ServiceProvisioning``): the API EECs call."""

from ecscore.apis import ServedAPI

API = ServedAPI(
    name="eecs-serviceprovisioning",
    version="v1",
    schema_file="TS24558_Eecs_ServiceProvisioning.yaml",
    scope_description="EDGE-4 service provisioning and subscriptions (EECs)",
    urls="provisioning.eecs_serviceprovisioning.urls",
)
