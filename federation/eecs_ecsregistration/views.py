"""ECS registration as member ECSs call it: thin views over ``federation.repository``.

Only API clients of kind ``ecs`` with this API's scope are served (no anonymous calls), and a
client acts only as the ECS id it was given: registering another ECS's profile, or touching
another ECS's registration, is 403.
"""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from access.authentication import check_identity
from access.models import APIClient
from ecscore import apidoc
from ecscore.views import ThreeGPPAPIView

from .. import repository
from ..models import ECSRegistration
from . import API, wire

TAGS = ["ECS-ER registration"]
ANSWER = (wire.OPENAPI_FILE, "ECSRegistration")


def _caller(request: Request) -> str:
    client = getattr(request.user, "client", None)
    return client.identity if client is not None else ""


class RegistrationView(ThreeGPPAPIView):
    required_scope = API.scope
    anonymous_allowed = False

    def owned(self, request: Request, registration_id: str) -> ECSRegistration:
        """The registration, when it is the caller's own (404 before 403: an unknown id
        tells nothing about anyone)."""
        registration = repository.get(registration_id)
        check_identity(request, APIClient.KIND_ECS, registration.ecs_id)
        return registration

    def answer(self, registration: ECSRegistration, status: int, **headers: str) -> Response:
        return Response(wire.representation(registration), status=status, headers=headers)

    def save(self, request: Request, body: dict, registration_id: str | None = None) -> Response:
        profile = wire.profile(body["ecsProfile"])
        check_identity(request, APIClient.KIND_ECS, profile.ecs_id)
        if registration_id is None:
            registration = repository.register(
                profile, body.get("expTime"), body.get("suppFeat", ""), _caller(request)
            )
            location = request.build_absolute_uri(
                reverse(f"{API.name}:registration", args=[registration.registration_id])
            )
            return self.answer(registration, 201, Location=location)
        registration = repository.update(
            registration_id, profile, body.get("expTime"), body.get("suppFeat", "")
        )
        return self.answer(registration, 200)


class RegistrationCollectionView(RegistrationView):
    """``POST {apiRoot}/eecs-ecsregistration/v1/registrations``."""

    request_schema = wire.REGISTRATION_SCHEMA

    @extend_schema(
        operation_id="CreateECSRegistration",
        summary="Register an ECS profile at the ECS-ER.",
        request=apidoc.body(*wire.REGISTRATION_SCHEMA),
        responses={
            (201, apidoc.JSON): apidoc.answer(*ANSWER, "The ECS is registered."),
            **apidoc.problems(*apidoc.BODY_ERRORS, *apidoc.CALL_ERRORS, 404),
        },
        parameters=[apidoc.location(201), apidoc.retry_after(429)],
        auth=apidoc.token_security(API.scope),
        tags=TAGS,
    )
    def post(self, request: Request) -> Response:
        repository.enabled_configuration()
        return self.save(request, self.validated_body(request))


class RegistrationItemView(RegistrationView):
    """``{apiRoot}/eecs-ecsregistration/v1/registrations/{registrationId}``."""

    merge_patch = True

    @extend_schema(
        operation_id="UpdateIndECSRegistration",
        request=apidoc.body(*wire.REGISTRATION_SCHEMA),
        responses={
            (200, apidoc.JSON): apidoc.answer(*ANSWER, "The registration, replaced."),
            **apidoc.problems(*apidoc.BODY_ERRORS, *apidoc.CALL_ERRORS, 404),
        },
        parameters=[apidoc.retry_after(429)],
        auth=apidoc.token_security(API.scope),
        tags=TAGS,
    )
    def put(self, request: Request, registration_id: str) -> Response:
        self.owned(request, registration_id)
        self.request_schema = wire.REGISTRATION_SCHEMA
        return self.save(request, self.validated_body(request), registration_id)

    @extend_schema(
        operation_id="ModifyIndECSRegistration",
        request=apidoc.body(*wire.PATCH_SCHEMA, apidoc.MERGE_PATCH_JSON),
        responses={
            (200, apidoc.JSON): apidoc.answer(*ANSWER, "The registration, modified."),
            **apidoc.problems(*apidoc.BODY_ERRORS, *apidoc.CALL_ERRORS, 404),
        },
        parameters=[apidoc.retry_after(429)],
        auth=apidoc.token_security(API.scope),
        tags=TAGS,
    )
    def patch(self, request: Request, registration_id: str) -> Response:
        self.require_merge_patch(request)
        registration = self.owned(request, registration_id)
        self.request_schema = wire.PATCH_SCHEMA
        merged = wire.patched(registration, self.validated_body(request))
        return self.save(request, merged, registration_id)

    @extend_schema(
        operation_id="DeleteIndECSRegistration",
        responses={
            204: OpenApiResponse(description="The ECS is de-registered."),
            **apidoc.problems(*apidoc.CALL_ERRORS, 404),
        },
        parameters=[apidoc.retry_after(429)],
        auth=apidoc.token_security(API.scope),
        tags=TAGS,
    )
    def delete(self, request: Request, registration_id: str) -> Response:
        repository.deregister(self.owned(request, registration_id))
        return Response(status=204)
