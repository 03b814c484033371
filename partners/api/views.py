"""EDGE-10 as we serve it to partner ECSs (see partners/openapi/)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response

from access.authentication import OAuth2ClientAuthentication
from ecsportal.api import ProblemException, ThreeGPPAPIView, problem_response

from .. import edge10, inbound
from .authentication import IsPartner, PartnerTokenAuthentication, partner_of


class PartnerProvisioningRequestView(ThreeGPPAPIView):
    """``POST {apiRoot}/eecs-ecsserviceprovisioning/v1/request``: a partner ECS asks us."""

    # A partner's static token, or an OAuth 2.0 token of a client that speaks for it.
    authentication_classes = [OAuth2ClientAuthentication, PartnerTokenAuthentication]
    permission_classes = [IsPartner]
    required_scope = "eecs-ecsserviceprovisioning"
    anonymous_allowed = False
    request_schema = edge10.REQUEST_SCHEMA

    @extend_schema(
        operation_id="RequestEcsServProv",
        summary="Service provisioning information retrieval by a partner ECS (EDGE-10).",
        description="Body ServProvReq, answer ServProvResp; see "
        "partners/openapi/ECSPortal_Eecs_ECSServiceProvisioning.yaml. "
        "Credentials: Authorization: Bearer <token>.",
        request=OpenApiTypes.OBJECT,
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="ServProvResp"),
            204: OpenApiResponse(description="No EDN matches."),
            401: OpenApiResponse(OpenApiTypes.OBJECT, description="ProblemDetails"),
            403: OpenApiResponse(OpenApiTypes.OBJECT, description="ProblemDetails"),
            429: OpenApiResponse(OpenApiTypes.OBJECT, description="ProblemDetails"),
        },
        tags=["EDGE-10 partner ECS"],
    )
    def post(self, request: Request) -> Response:
        partner = partner_of(request)
        try:
            body = self.validated_body(request)
        except ProblemException as exc:
            inbound.record_rejection(partner, exc.status_code, f"invalid request: {exc.cause}")
            raise
        result = inbound.answer(partner, body)
        if result.status >= 400:
            return problem_response(
                result.status, result.detail, result.cause, headers=result.headers
            )
        return Response(result.body, status=result.status)

    def permission_denied(self, request: Request, message=None, code=None) -> None:
        if request.auth is None or partner_of(request) is None:
            inbound.record_rejection(None, 401, "no or unknown credentials")
            raise exceptions.NotAuthenticated("Partner credentials are required.")
        super().permission_denied(request, message, code)

    def perform_authentication(self, request: Request) -> None:
        try:
            super().perform_authentication(request)
        except exceptions.AuthenticationFailed:
            inbound.record_rejection(None, 401, "unknown credentials")
            raise
