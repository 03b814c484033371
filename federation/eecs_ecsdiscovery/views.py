"""ECS discovery as member ECSs call it: thin views over ``federation.repository``.

Only API clients of kind ``ecs`` with this API's scope, each only as its own ECS id (the
``requestorId`` of a request or subscription); another ECS's subscription is 403.
"""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from access.authentication import check_identity
from access.models import APIClient
from ecscore import apidoc, schemas
from ecscore.views import ThreeGPPAPIView

from .. import repository
from ..models import DiscoverySubscription
from . import API, wire

TAGS = ["ECS-ER discovery"]


class DiscoveryView(ThreeGPPAPIView):
    required_scope = API.scope
    anonymous_allowed = False


class EcsInfoRequestView(DiscoveryView):
    """``POST {apiRoot}/eecs-ecsdiscovery/v1/ecs-info/request``."""

    request_schema = wire.REQUEST_SCHEMA

    @extend_schema(
        operation_id="RequestEcsInfo",
        summary="Discover the ECSs matching the filters.",
        request=apidoc.body(*wire.REQUEST_SCHEMA),
        responses={
            (200, apidoc.JSON): apidoc.answer(*wire.RESPONSE_SCHEMA, "The matching ECSs."),
            **apidoc.problems(*apidoc.BODY_ERRORS, *apidoc.CALL_ERRORS, 404),
        },
        parameters=[apidoc.retry_after(429)],
        auth=apidoc.token_security(API.scope),
        tags=TAGS,
    )
    def post(self, request: Request) -> Response:
        config = repository.enabled_configuration()
        body = self.validated_body(request)
        check_identity(request, APIClient.KIND_ECS, body["requestorId"])
        found = repository.discover(wire.filters(body), body["requestorId"])
        return Response(wire.response(found, config.discovery_lifetime), status=200)


class SubscriptionView(DiscoveryView):
    def answer(self, sub: DiscoverySubscription, status: int, **headers: str) -> Response:
        return Response(wire.representation(sub), status=status, headers=headers)

    def owned(self, request: Request, subscription_id: str) -> DiscoverySubscription:
        sub = repository.subscription(subscription_id)
        check_identity(request, APIClient.KIND_ECS, sub.requestor_id)
        return sub

    def checked(self, request: Request, body: dict) -> dict:
        check_identity(request, APIClient.KIND_ECS, body["requestorId"])
        return body


class SubscriptionCollectionView(SubscriptionView):
    """``POST {apiRoot}/eecs-ecsdiscovery/v1/subscriptions``."""

    request_schema = wire.SUBSCRIPTION_SCHEMA

    @extend_schema(
        operation_id="CreateEcsInfoDiscSubscription",
        summary="Subscribe to changes of the ECSs matching the filters.",
        description="Notifications EcsInfoDiscNotif go to notificationDestination.",
        request=apidoc.body(*wire.SUBSCRIPTION_SCHEMA),
        responses={
            (201, apidoc.JSON): apidoc.answer(
                *wire.SUBSCRIPTION_SCHEMA, "The subscription, created."
            ),
            **apidoc.problems(*apidoc.BODY_ERRORS, *apidoc.CALL_ERRORS, 404),
        },
        parameters=[apidoc.location(201), apidoc.retry_after(429)],
        auth=apidoc.token_security(API.scope),
        tags=TAGS,
    )
    def post(self, request: Request) -> Response:
        repository.enabled_configuration()
        body = self.checked(request, self.validated_body(request))
        sub = repository.subscribe(wire.subscription(body))
        location = request.build_absolute_uri(
            reverse(f"{API.name}:subscription", args=[sub.subscription_id])
        )
        return self.answer(sub, 201, Location=location)


class SubscriptionItemView(SubscriptionView):
    """``{apiRoot}/eecs-ecsdiscovery/v1/subscriptions/{subscriptionId}``."""

    merge_patch = True

    @extend_schema(
        operation_id="UpdateEcsInfoDiscSubscription",
        request=apidoc.body(*wire.SUBSCRIPTION_SCHEMA),
        responses={
            (200, apidoc.JSON): apidoc.answer(
                *wire.SUBSCRIPTION_SCHEMA, "The subscription, replaced."
            ),
            **apidoc.problems(*apidoc.BODY_ERRORS, *apidoc.CALL_ERRORS, 404),
        },
        parameters=[apidoc.retry_after(429)],
        auth=apidoc.token_security(API.scope),
        tags=TAGS,
    )
    def put(self, request: Request, subscription_id: str) -> Response:
        sub = self.owned(request, subscription_id)
        self.request_schema = wire.SUBSCRIPTION_SCHEMA
        body = self.checked(request, self.validated_body(request))
        return self.answer(repository.resubscribe(sub, wire.subscription(body)), 200)

    @extend_schema(
        operation_id="ModifyEcsInfoDiscSubscription",
        request=apidoc.body(*wire.PATCH_SCHEMA, apidoc.MERGE_PATCH_JSON),
        responses={
            (200, apidoc.JSON): apidoc.answer(
                *wire.SUBSCRIPTION_SCHEMA, "The subscription, modified."
            ),
            **apidoc.problems(*apidoc.BODY_ERRORS, *apidoc.CALL_ERRORS, 404),
        },
        parameters=[apidoc.retry_after(429)],
        auth=apidoc.token_security(API.scope),
        tags=TAGS,
    )
    def patch(self, request: Request, subscription_id: str) -> Response:
        self.require_merge_patch(request)
        sub = self.owned(request, subscription_id)
        self.request_schema = wire.PATCH_SCHEMA
        merged = wire.patched(sub, self.validated_body(request))
        schemas.check(merged, *wire.SUBSCRIPTION_SCHEMA)
        return self.answer(repository.resubscribe(sub, wire.subscription(merged)), 200)

    @extend_schema(
        operation_id="DeleteEcsInfoDiscSubscription",
        responses={
            204: OpenApiResponse(description="The subscription is deleted."),
            **apidoc.problems(*apidoc.CALL_ERRORS, 404),
        },
        parameters=[apidoc.retry_after(429)],
        auth=apidoc.token_security(API.scope),
        tags=TAGS,
    )
    def delete(self, request: Request, subscription_id: str) -> Response:
        repository.unsubscribe(self.owned(request, subscription_id))
        return Response(status=204)
