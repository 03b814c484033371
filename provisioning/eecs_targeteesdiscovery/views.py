"""EDGE-6 T-EES discovery as S-EESs call it (TS 29.558 clause 8.8.3.3)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from access.authentication import check_identity
from access.models import APIClient
from ecscore import apidoc
from ecscore.problems import problem_response
from ecscore.views import ThreeGPPAPIView

from .. import service
from . import API
from . import wire as discovery


class TargetEESDiscoveryView(ThreeGPPAPIView):
    """``GET {apiRoot}/eecs-targeteesdiscovery/v1/ees-profiles`` (GetEESProfiles)."""

    required_scope = API.scope

    @extend_schema(
        operation_id="GetEESProfiles",
        summary="T-EES discovery (EDGE-6): EESs that can serve the UE's application.",
        # The query parameters and the answer as TS29558_Eecs_TargetEESDiscovery.yaml has them
        # (the answer is EDGE-4's ECSServProvResp), and supported-features.
        parameters=[
            apidoc.query("ees-id", str, "The source EES.", required=True),
            apidoc.query("eas-id", str, "The source EAS.", required=True),
            apidoc.query(
                "target-dnai",
                apidoc.schema("TS29571_CommonData.yaml", "Dnai"),
                "Only EESs serving this DNAI.",
            ),
            apidoc.query("ue-id", apidoc.schema("TS29571_CommonData.yaml", "Gpsi"), "The UE."),
            apidoc.query(
                "ue-location",
                apidoc.schema("TS29122_CommonData.yaml", "LocationArea5G"),
                "Where the UE is.",
                json_encoded=True,
            ),
            apidoc.query(
                "eec-srv-cont-supp",
                apidoc.schema("TS29558_Eees_EECContextRelocation.yaml", "EECSrvContinuitySupport"),
                "The EEC's service continuity support.",
                json_encoded=True,
            ),
            apidoc.query(
                "ac-svc-cont-supp",
                {
                    "type": "array",
                    "items": apidoc.schema("TS29558_Eecs_EESRegistration.yaml", "ACRScenario"),
                    "minItems": 1,
                },
                "The ACR scenarios the AC supports.",
            ),
            apidoc.query("bdl-id", str, "EAS bundle identifier."),
            apidoc.query(
                "bdl-type",
                apidoc.schema("TS29558_Eees_EASRegistration.yaml", "BdlType"),
                "EAS bundle type.",
            ),
            apidoc.query("ens-ind", bool, "Whether edge node sharing is requested."),
            apidoc.query("app-grp-id", str, "Application group identifier."),
            apidoc.query(
                "supported-features",
                apidoc.schema("TS29571_CommonData.yaml", "SupportedFeatures"),
                "Features the S-EES supports.",
            ),
            apidoc.retry_after(429, 503),
        ],
        responses={
            (200, apidoc.JSON): apidoc.answer(
                "TS24558_Eecs_ServiceProvisioning.yaml",
                "ECSServProvResp",
                "The EDN configurations with the target EESs.",
            ),
            **apidoc.problems(*apidoc.CALL_ERRORS, 400, 404, 503),
        },
        auth=apidoc.token_security(API.scope),
        tags=["EDGE-6 T-EES discovery"],
    )
    def get(self, request: Request) -> Response:
        body, query, options = discovery.parse(request.query_params)
        check_identity(request, APIClient.KIND_EES, options["source_ees"])
        answer = service.provision(query, body)
        configs = discovery.targets_only(answer.edn_configs, options)
        if configs:
            return Response({"ednCnfgInfo": configs})
        if answer.status == 503:
            return problem_response(
                503,
                "No local EES matches and a partner ECS that should answer could not.",
                "SERVICE_UNAVAILABLE",
                headers={"Retry-After": str(answer.retry_after)},
            )
        return problem_response(
            404, "No target EES serves this UE and application.", "TARGET_EES_NOT_FOUND"
        )
