"""EDGE-10 as we serve it to partner ECSs (our OpenAPI file is in openapi/ beside this module)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response

from access.authentication import OAuth2ClientAuthentication
from ecscore import apidoc, errors
from ecscore.problems import ProblemException, problem_response, status_of
from ecscore.views import ThreeGPPAPIView

from .. import federated, inbound, remote_subscriptions, served_subscriptions
from . import API
from . import wire as edge10
from .authentication import (
    FederationTokenAuthentication,
    InvalidFederationToken,
    IsPartner,
    PartnerTokenAuthentication,
    partner_of,
    requester_of,
)


class PartnerAPIView(ThreeGPPAPIView):
    """An EDGE-10 operation: only partner ECSs, authenticated as for the request operation."""

    # A federation token (a JWT from our ECS-ER), a partner's static token, or an OAuth 2.0
    # token of a client that speaks for it.
    authentication_classes = [
        FederationTokenAuthentication,
        OAuth2ClientAuthentication,
        PartnerTokenAuthentication,
    ]
    permission_classes = [IsPartner]
    required_scope = API.scope
    anonymous_allowed = False

    def permission_denied(self, request: Request, message=None, code=None) -> None:
        if request.auth is None or requester_of(request) is None:
            inbound.record_rejection(None, 401, "no or unknown credentials")
            raise exceptions.NotAuthenticated("Partner credentials are required.")
        super().permission_denied(request, message, code)

    def perform_authentication(self, request: Request) -> None:
        try:
            super().perform_authentication(request)
        except InvalidFederationToken:
            raise  # audited with its reason where it was refused
        except exceptions.AuthenticationFailed:
            inbound.record_rejection(None, 401, "unknown credentials")
            raise


class PartnerProvisioningRequestView(PartnerAPIView):
    """``POST {apiRoot}/eecs-ecsserviceprovisioning/v1/request``: a partner ECS asks us."""

    request_schema = edge10.REQUEST_SCHEMA

    @extend_schema(
        operation_id="RequestEcsServProv",
        summary="Service provisioning information retrieval by a partner ECS (EDGE-10).",
        description="Body ServProvReq, answer ServProvResp; see "
        "partners/eecs_ecsserviceprovisioning/openapi/ECSPortal_Eecs_ECSServiceProvisioning.yaml. "
        "Credentials: Authorization: Bearer <token> (a partner's token, or a federation "
        "token our ECS-ER signed).",
        request=apidoc.body(*edge10.REQUEST_SCHEMA),
        responses={
            (200, apidoc.JSON): apidoc.answer(
                *edge10.RESPONSE_SCHEMA, "The service provisioning information."
            ),
            204: OpenApiResponse(description="No EDN matches."),
            **apidoc.problems(*apidoc.BODY_ERRORS, *apidoc.CALL_ERRORS),
        },
        parameters=[apidoc.retry_after(429)],
        auth=apidoc.partner_security(API.scope),
        tags=["EDGE-10 partner ECS"],
    )
    def post(self, request: Request) -> Response:
        requester = requester_of(request)
        assert requester is not None  # IsPartner
        try:
            body = self.validated_body(request)
        except (ProblemException, errors.ECSError) as exc:
            inbound.record_rejection(
                federated.requester_row(requester),
                status_of(exc),
                f"invalid request: {exc.cause}",
                federated.requester_id(requester),
            )
            raise
        result = inbound.answer(requester, body)
        if result.status >= 400:
            return problem_response(
                result.status, result.detail, result.cause, headers=result.headers
            )
        return Response(result.body, status=result.status)


def _link(request: Request, sub: Any) -> str:
    return request.build_absolute_uri(
        reverse(f"{API.name}:subscription", args=[sub.subscription_id])
    )


TAGS = ["EDGE-10 partner ECS"]


class PartnerSubscriptionsView(PartnerAPIView):
    """``POST {apiRoot}/eecs-ecsserviceprovisioning/v1/subscriptions``: a partner subscribes."""

    request_schema = edge10.SUBSCRIPTION_SCHEMA

    @extend_schema(
        operation_id="CreateEcsServProvSubsc",
        summary="A partner ECS subscribes to service provisioning information (EDGE-10).",
        description="Body ServProvSubsc; notifications ServProvNotif to its "
        "notificationDestination. See partners/eecs_ecsserviceprovisioning/openapi/.",
        request=apidoc.body(*edge10.SUBSCRIPTION_SCHEMA),
        responses={
            (201, apidoc.JSON): apidoc.answer(
                *edge10.SUBSCRIPTION_SCHEMA, "The subscription, created."
            ),
            **apidoc.problems(*apidoc.BODY_ERRORS, *apidoc.CALL_ERRORS),
        },
        parameters=[apidoc.location(201), apidoc.retry_after(429)],
        auth=apidoc.partner_security(API.scope),
        tags=TAGS,
    )
    def post(self, request: Request) -> Response:
        body = self.validated_body(request)
        sub = served_subscriptions.create(partner_of(request), body)
        return Response(
            served_subscriptions.representation(sub),
            status=201,
            headers={"Location": _link(request, sub)},
        )


class PartnerSubscriptionView(PartnerAPIView):
    """``{apiRoot}/eecs-ecsserviceprovisioning/v1/subscriptions/{subscriptionId}``."""

    merge_patch = True

    @extend_schema(
        operation_id="UpdateIndEcsServProvSubsc",
        request=apidoc.body(*edge10.SUBSCRIPTION_SCHEMA),
        responses={
            (200, apidoc.JSON): apidoc.answer(
                *edge10.SUBSCRIPTION_SCHEMA, "The subscription, replaced."
            ),
            **apidoc.problems(*apidoc.BODY_ERRORS, *apidoc.CALL_ERRORS, 404),
        },
        parameters=[apidoc.retry_after(429)],
        auth=apidoc.partner_security(API.scope),
        tags=TAGS,
    )
    def put(self, request: Request, subscription_id: str) -> Response:
        partner = partner_of(request)
        served_subscriptions.get(partner, subscription_id)  # 404 before judging the body
        self.request_schema = edge10.SUBSCRIPTION_SCHEMA
        body = self.validated_body(request)
        sub = served_subscriptions.replace(partner, subscription_id, body)
        return Response(served_subscriptions.representation(sub))

    @extend_schema(
        operation_id="ModifyIndEcsServProvSubsc",
        request=apidoc.body(*edge10.SUBSCRIPTION_PATCH_SCHEMA, apidoc.MERGE_PATCH_JSON),
        responses={
            (200, apidoc.JSON): apidoc.answer(
                *edge10.SUBSCRIPTION_SCHEMA, "The subscription, modified."
            ),
            **apidoc.problems(*apidoc.BODY_ERRORS, *apidoc.CALL_ERRORS, 404),
        },
        parameters=[apidoc.retry_after(429)],
        auth=apidoc.partner_security(API.scope),
        tags=TAGS,
    )
    def patch(self, request: Request, subscription_id: str) -> Response:
        partner = partner_of(request)
        served_subscriptions.get(partner, subscription_id)
        self.require_merge_patch(request)
        self.request_schema = edge10.SUBSCRIPTION_PATCH_SCHEMA
        changes = self.validated_body(request)
        sub = served_subscriptions.patch(partner, subscription_id, changes)
        return Response(served_subscriptions.representation(sub))

    @extend_schema(
        operation_id="DeleteIndEcsServProvSubsc",
        responses={
            204: OpenApiResponse(description="The subscription was deleted."),
            **apidoc.problems(*apidoc.CALL_ERRORS, 404),
        },
        parameters=[apidoc.retry_after(429)],
        auth=apidoc.partner_security(API.scope),
        tags=TAGS,
    )
    def delete(self, request: Request, subscription_id: str) -> Response:
        served_subscriptions.delete(partner_of(request), subscription_id)
        return Response(status=204)


class PartnerNotificationsView(PartnerAPIView):
    """``POST {apiRoot}/eecs-ecsserviceprovisioning/v1/notifications``: a partner we
    subscribed at notifies us (ServProvNotif); the cached answer is replaced."""

    request_schema = edge10.NOTIFICATION_SCHEMA

    @extend_schema(
        operation_id="EcsServProvNotify",
        request=apidoc.body(*edge10.NOTIFICATION_SCHEMA),
        responses={
            204: OpenApiResponse(description="The cached answer was replaced."),
            **apidoc.problems(*apidoc.BODY_ERRORS, *apidoc.CALL_ERRORS, 404),
        },
        parameters=[apidoc.retry_after(429)],
        auth=apidoc.partner_security(API.scope),
        tags=TAGS,
    )
    def post(self, request: Request) -> Response:
        body = self.validated_body(request)
        remote_subscriptions.receive(partner_of(request), body)
        return Response(status=204)
