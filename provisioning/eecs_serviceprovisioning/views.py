"""EDGE-4 service provisioning as EECs call it (TS 24.558 clause 7): request and subscriptions."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from access.authentication import check_identity
from access.models import APIClient
from ecscore import apidoc
from ecscore.problems import problem_response
from ecscore.views import ThreeGPPAPIView

from .. import datamodel, service
from .. import eec_subscriptions as subscriptions
from . import API

EDGE4_FILE = API.schema_file


class ServiceProvisioningRequestView(ThreeGPPAPIView):
    """``POST {apiRoot}/eecs-serviceprovisioning/v1/request`` -- operation RequestServProv."""

    request_schema = (EDGE4_FILE, "ECSServProvReq")
    required_scope = API.scope

    @extend_schema(
        operation_id="RequestServProv",
        summary="Request service provisioning information (EDGE-4).",
        description="Body ECSServProvReq, answer ECSServProvResp, as 3GPP TS 24.558 defines "
        "them in TS24558_Eecs_ServiceProvisioning.yaml. A UE roaming in the PLMN of a partner "
        "ECS in redirect mode gets redirectedECS, and ednCnfgInfo only when other EDNs serve it "
        "too (TS 24.558 V20 clause 7; the Rel-18 file still requires ednCnfgInfo).",
        request=apidoc.body(EDGE4_FILE, "ECSServProvReq"),
        responses={
            (200, apidoc.JSON): apidoc.answer(
                EDGE4_FILE, "ECSServProvResp", "The service provisioning information."
            ),
            204: OpenApiResponse(description="Nothing matches the request."),
            **apidoc.problems(*apidoc.BODY_ERRORS, *apidoc.CALL_ERRORS, 503),
        },
        parameters=[apidoc.retry_after(429, 503)],
        auth=apidoc.token_security(API.scope),
        tags=["EDGE-4 service provisioning"],
    )
    def post(self, request: Request) -> Response:
        body = self.validated_body(request)
        check_identity(request, APIClient.KIND_EEC, body["eecId"])
        answer = service.provision(datamodel.provisioning_query(body), body, redirect=True)
        if answer.status == 503:
            return problem_response(
                503,
                "No local EDN matches and a partner ECS that should answer could not.",
                "SERVICE_UNAVAILABLE",
                headers={"Retry-After": str(answer.retry_after)},
            )
        if answer.status == 204:
            return Response(status=204)
        return Response(answer.body())


def _subscription_link(request: Request):
    def link(sub) -> str:
        return request.build_absolute_uri(
            reverse(f"{API.name}:subscription", args=[sub.subscription_id])
        )

    return link


class ServiceProvisioningSubscriptionsView(ThreeGPPAPIView):
    """``POST {apiRoot}/eecs-serviceprovisioning/v1/subscriptions`` (CreateServProvSub)."""

    request_schema = (EDGE4_FILE, "ECSServProvSubscription")
    required_scope = API.scope

    @extend_schema(
        operation_id="CreateServProvSub",
        request=apidoc.body(EDGE4_FILE, "ECSServProvSubscription"),
        responses={
            (201, apidoc.JSON): apidoc.answer(
                EDGE4_FILE, "ECSServProvSubscription", "The subscription, created."
            ),
            **apidoc.problems(*apidoc.BODY_ERRORS, *apidoc.CALL_ERRORS),
        },
        parameters=[apidoc.location(201), apidoc.retry_after(429)],
        auth=apidoc.token_security(API.scope),
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

    required_scope = API.scope

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        # An EEC acts only on its own subscriptions.
        sub = subscriptions.get(kwargs["subscription_id"])
        check_identity(request, APIClient.KIND_EEC, sub.eec_id)

    merge_patch = True

    @extend_schema(
        operation_id="UpdateIndServProvSub",
        request=apidoc.body(EDGE4_FILE, "ECSServProvSubscription"),
        responses={
            (200, apidoc.JSON): apidoc.answer(
                EDGE4_FILE, "ECSServProvSubscription", "The subscription, replaced."
            ),
            **apidoc.problems(*apidoc.BODY_ERRORS, *apidoc.CALL_ERRORS, 404),
        },
        parameters=[apidoc.retry_after(429)],
        auth=apidoc.token_security(API.scope),
        tags=["EDGE-4 subscriptions"],
    )
    def put(self, request: Request, subscription_id: str) -> Response:
        self.request_schema = (EDGE4_FILE, "ECSServProvSubscription")
        body = self.validated_body(request)
        sub = subscriptions.replace(subscription_id, body, _subscription_link(request))
        return Response(subscriptions.representation(sub))

    @extend_schema(
        operation_id="ModifyIndServProvSub",
        request=apidoc.body(EDGE4_FILE, "ECSServProvSubscriptionPatch", apidoc.MERGE_PATCH_JSON),
        responses={
            (200, apidoc.JSON): apidoc.answer(
                EDGE4_FILE, "ECSServProvSubscription", "The subscription, modified."
            ),
            **apidoc.problems(*apidoc.BODY_ERRORS, *apidoc.CALL_ERRORS, 404),
        },
        parameters=[apidoc.retry_after(429)],
        auth=apidoc.token_security(API.scope),
        tags=["EDGE-4 subscriptions"],
    )
    def patch(self, request: Request, subscription_id: str) -> Response:
        self.require_merge_patch(request)
        self.request_schema = (EDGE4_FILE, "ECSServProvSubscriptionPatch")
        changes = self.validated_body(request)
        sub = subscriptions.patch(subscription_id, changes, _subscription_link(request))
        return Response(subscriptions.representation(sub))

    @extend_schema(
        operation_id="DeleteIndServProvSub",
        responses={
            204: OpenApiResponse(description="The subscription was deleted."),
            **apidoc.problems(*apidoc.CALL_ERRORS, 404),
        },
        parameters=[apidoc.retry_after(429)],
        auth=apidoc.token_security(API.scope),
        tags=["EDGE-4 subscriptions"],
    )
    def delete(self, request: Request, subscription_id: str) -> Response:
        subscriptions.delete(subscription_id)
        return Response(status=204)
