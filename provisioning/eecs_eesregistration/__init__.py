"""EDGE-6 EES registration (TS 29.558, ``Eecs_EESRegistration``): the API EESs call."""

from ecscore.apis import ServedAPI

API = ServedAPI(
    name="eecs-eesregistration",
    version="v1",
    schema_file="TS29558_Eecs_EESRegistration.yaml",
    scope_description="EDGE-6 EES registration (EESs)",
    urls="provisioning.eecs_eesregistration.urls",
)
