"""ECS registration at the ECS-ER (TS 23.558 clauses 8.17.2.2, 8.17.4.2): the API member ECSs
call to register, update, refresh and withdraw their ECS profile.

3GPP defines the procedure at stage 2 only: ``openapi/ECSPortal_Eecs_ECSRegistration.yaml`` is
our description of it, and ``wire`` the one module that knows its member names.
"""

from ecscore.apis import ServedAPI

API = ServedAPI(
    name="eecs-ecsregistration",
    version="v1",
    schema_file="ECSPortal_Eecs_ECSRegistration.yaml",
    scope_description="ECS registration at the ECS-ER (member ECSs)",
    urls="federation.eecs_ecsregistration.urls",
    own_openapi="openapi/ECSPortal_Eecs_ECSRegistration.yaml",
)
