"""The 3GPP APIs this ECS serves to EECs (EDGE-4) and EESs (EDGE-6)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from access.authentication import check_identity
from access.models import APIClient
from ecsportal.api import ProblemException, ThreeGPPAPIView, problem_response

from .. import discovery, registration, service, subscriptions
from ..wire import EDGE4_FILE


class ServiceProvisioningRequestView(ThreeGPPAPIView):
    """``POST {apiRoot}/eecs-serviceprovisioning/v1/request`` -- operation RequestServProv."""

    request_schema = (EDGE4_FILE, "ECSServProvReq")
    required_scope = "eecs-serviceprovisioning"

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
        body = self.validated_body(request)
        check_identity(request, APIClient.KIND_EEC, body["eecId"])
        answer = service.provision(body)
        if answer.status == 503:
            return problem_response(
                503,
                "No local EDN matches and a partner ECS that should answer could not.",
                "SERVICE_UNAVAILABLE",
                headers=answer.headers,
            )
        return Response(answer.body, status=answer.status, headers=answer.headers)


class EESRegistrationMixin:
    """Shared by the collection and the individual EES registration resources."""

    required_scope = "eecs-eesregistration"

    def owned_registration(self, request: Request, registration_id: str):
        """The registration, if the caller may act on it (an EES only on its own)."""
        ees = registration.get(registration_id)
        check_identity(request, APIClient.KIND_EES, ees.ees_id)
        return ees

    def registration_response(self, ees, status: int, **headers: str) -> Response:
        return Response(registration.representation(ees), status=status, headers=headers)


class EESRegistrationCollectionView(EESRegistrationMixin, ThreeGPPAPIView):
    """``POST {apiRoot}/eecs-eesregistration/v1/registrations`` (CreateEESRegistration)."""

    request_schema = (registration.FILE, "EESRegistration")

    @extend_schema(
        operation_id="CreateEESRegistration",
        summary="Register an EES (EDGE-6).",
        request=OpenApiTypes.OBJECT,
        responses={201: OpenApiResponse(OpenApiTypes.OBJECT, description="EESRegistration")},
        tags=["EDGE-6 EES registration"],
    )
    def post(self, request: Request) -> Response:
        body = self.validated_body(request)
        check_identity(request, APIClient.KIND_EES, body["eesProf"]["eesId"])
        ees = registration.create(body)
        location = request.build_absolute_uri(
            reverse("eecs-eesregistration:registration", args=[ees.registration_id])
        )
        return self.registration_response(ees, 201, Location=location)


class EESRegistrationView(EESRegistrationMixin, ThreeGPPAPIView):
    """``{apiRoot}/eecs-eesregistration/v1/registrations/{registrationId}``."""

    def extra_content_types(self) -> tuple[str, ...]:
        return ("application/merge-patch+json",) if self.request.method == "PATCH" else ()

    @extend_schema(
        operation_id="GetIndEESReg",
        responses={200: OpenApiTypes.OBJECT},
        tags=["EDGE-6 EES registration"],
    )
    def get(self, request: Request, registration_id: str) -> Response:
        return self.registration_response(self.owned_registration(request, registration_id), 200)

    @extend_schema(
        operation_id="UpdateIndEESReg",
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT},
        tags=["EDGE-6 EES registration"],
    )
    def put(self, request: Request, registration_id: str) -> Response:
        self.owned_registration(request, registration_id)
        self.request_schema = (registration.FILE, "EESRegistration")
        body = self.validated_body(request)
        return self.registration_response(registration.replace(registration_id, body), 200)

    @extend_schema(
        operation_id="ModifyIndEESReg",
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT},
        tags=["EDGE-6 EES registration"],
    )
    def patch(self, request: Request, registration_id: str) -> Response:
        if request.content_type.split(";")[0].strip() != "application/merge-patch+json":
            raise ProblemException(415, "PATCH needs application/merge-patch+json.")
        self.owned_registration(request, registration_id)
        self.request_schema = (registration.FILE, "EESRegistrationPatch")
        body = self.validated_body(request)
        return self.registration_response(registration.patch(registration_id, body), 200)

    @extend_schema(
        operation_id="DeleteIndEESReg", responses={204: None}, tags=["EDGE-6 EES registration"]
    )
    def delete(self, request: Request, registration_id: str) -> Response:
        self.owned_registration(request, registration_id)
        registration.delete(registration_id)
        return Response(status=204)


class TargetEESDiscoveryView(ThreeGPPAPIView):
    """``GET {apiRoot}/eecs-targeteesdiscovery/v1/ees-profiles`` (GetEESProfiles)."""

    required_scope = "eecs-targeteesdiscovery"

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


def _subscription_link(request: Request):
    def link(sub) -> str:
        return request.build_absolute_uri(
            reverse("eecs-serviceprovisioning:subscription", args=[sub.subscription_id])
        )

    return link


class ServiceProvisioningSubscriptionsView(ThreeGPPAPIView):
    """``POST {apiRoot}/eecs-serviceprovisioning/v1/subscriptions`` (CreateServProvSub)."""

    request_schema = (EDGE4_FILE, "ECSServProvSubscription")
    required_scope = "eecs-serviceprovisioning"

    @extend_schema(
        operation_id="CreateServProvSub",
        request=OpenApiTypes.OBJECT,
        responses={201: OpenApiTypes.OBJECT},
        tags=["EDGE-4 subscriptions"],
    )
    def post(self, request: Request) -> Response:
        link = _subscription_link(request)
        body = self.validated_body(request)
        check_identity(request, APIClient.KIND_EEC, body["eecId"])
        sub = subscriptions.create(body, link)
        return Response(
            subscriptions.representation(sub), status=201, headers={"Location": link(sub)}
        )


class ServiceProvisioningSubscriptionView(ThreeGPPAPIView):
    """``{apiRoot}/eecs-serviceprovisioning/v1/subscriptions/{subscriptionId}``."""

    required_scope = "eecs-serviceprovisioning"

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        # An EEC acts only on its own subscriptions.
        sub = subscriptions.get(kwargs["subscription_id"])
        check_identity(request, APIClient.KIND_EEC, sub.eec_id)

    def extra_content_types(self) -> tuple[str, ...]:
        return ("application/merge-patch+json",) if self.request.method == "PATCH" else ()

    @extend_schema(
        operation_id="UpdateIndServProvSub",
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT},
        tags=["EDGE-4 subscriptions"],
    )
    def put(self, request: Request, subscription_id: str) -> Response:
        self.request_schema = (EDGE4_FILE, "ECSServProvSubscription")
        body = self.validated_body(request)
        sub = subscriptions.replace(subscription_id, body, _subscription_link(request))
        return Response(subscriptions.representation(sub))

    @extend_schema(
        operation_id="ModifyIndServProvSub",
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT},
        tags=["EDGE-4 subscriptions"],
    )
    def patch(self, request: Request, subscription_id: str) -> Response:
        if request.content_type.split(";")[0].strip() != "application/merge-patch+json":
            raise ProblemException(415, "PATCH needs application/merge-patch+json.")
        self.request_schema = (EDGE4_FILE, "ECSServProvSubscriptionPatch")
        changes = self.validated_body(request)
        sub = subscriptions.patch(subscription_id, changes, _subscription_link(request))
        return Response(subscriptions.representation(sub))

    @extend_schema(
        operation_id="DeleteIndServProvSub", responses={204: None}, tags=["EDGE-4 subscriptions"]
    )
    def delete(self, request: Request, subscription_id: str) -> Response:
        subscriptions.delete(subscription_id)
        return Response(status=204)
