"""EDGE-4 service provisioning (TS 24.558 clause 7.2.2; TS24558_Eecs_ServiceProvisioning.yaml)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from ecsportal.api import ThreeGPPAPIView, problem_response

from .. import service
from ..wire import EDGE4_FILE


class ServiceProvisioningRequestView(ThreeGPPAPIView):
    """``POST {apiRoot}/eecs-serviceprovisioning/v1/request`` -- operation RequestServProv."""

    request_schema = (EDGE4_FILE, "ECSServProvReq")

    @extend_schema(
        operation_id="RequestServProv",
        summary="Request service provisioning information (EDGE-4).",
        description="Body ECSServProvReq, answer ECSServProvResp, as 3GPP TS 24.558 defines "
        "them in TS24558_Eecs_ServiceProvisioning.yaml.",
        request=OpenApiTypes.OBJECT,
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="ECSServProvResp"),
            204: OpenApiResponse(description="Nothing matches the request."),
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="ProblemDetails"),
            503: OpenApiResponse(OpenApiTypes.OBJECT, description="ProblemDetails"),
        },
        tags=["EDGE-4 service provisioning"],
    )
    def post(self, request: Request) -> Response:
        answer = service.provision(self.validated_body(request))
        if answer.status == 503:
            return problem_response(
                503,
                "No local EDN matches and a partner ECS that should answer could not.",
                "SERVICE_UNAVAILABLE",
                headers=answer.headers,
            )
        return Response(answer.body, status=answer.status, headers=answer.headers)
