"""EDGE-6 T-EES discovery as S-EESs call it (TS 29.558 clause 8.8.3.3)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from access.authentication import check_identity
from access.models import APIClient
from ecscore.problems import problem_response
from ecscore.views import ThreeGPPAPIView

from .. import discovery, service
from . import API


class TargetEESDiscoveryView(ThreeGPPAPIView):
    """``GET {apiRoot}/eecs-targeteesdiscovery/v1/ees-profiles`` (GetEESProfiles)."""

    required_scope = API.scope

    @extend_schema(
        operation_id="GetEESProfiles",
        summary="T-EES discovery (EDGE-6): EESs that can serve the UE's application.",
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="ECSServProvResp")},
        tags=["EDGE-6 T-EES discovery"],
    )
    def get(self, request: Request) -> Response:
        body, query, options = discovery.parse(request.query_params)
        check_identity(request, APIClient.KIND_EES, options["source_ees"])
        answer = service.provision(body, query)
        configs = discovery.targets_only((answer.body or {}).get("ednCnfgInfo", []), options)
        if configs:
            return Response({"ednCnfgInfo": configs})
        if answer.status == 503:
            return problem_response(
                503,
                "No local EES matches and a partner ECS that should answer could not.",
                "SERVICE_UNAVAILABLE",
                headers=answer.headers,
            )
        return problem_response(
            404, "No target EES serves this UE and application.", "TARGET_EES_NOT_FOUND"
        )
