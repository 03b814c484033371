"""EDGE-6 EES registration as EESs call it (TS 29.558 clause 8.4.4)."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from access.authentication import caller, check_identity
from access.models import APIClient
from ecscore import apidoc
from ecscore.views import ThreeGPPAPIView

from .. import registration
from . import API, wire


class EESRegistrationMixin:
    """Shared by the collection and the individual EES registration resources."""

    required_scope = API.scope

    def owned_registration(self, request: Request, registration_id: str):
        """The registration, if the caller may act on it (an EES only on its own)."""
        ees = registration.get(registration_id)
        check_identity(request, APIClient.KIND_EES, ees.ees_id)
        return ees

    def registration_response(self, ees, status: int, **headers: str) -> Response:
        return Response(wire.representation(ees), status=status, headers=headers)


class EESRegistrationCollectionView(EESRegistrationMixin, ThreeGPPAPIView):
    """``POST {apiRoot}/eecs-eesregistration/v1/registrations`` (CreateEESRegistration)."""

    request_schema = (API.schema_file, "EESRegistration")

    @extend_schema(
        operation_id="CreateEESRegistration",
        summary="Register an EES (EDGE-6).",
        request=apidoc.body(API.schema_file, "EESRegistration"),
        responses={
            (201, apidoc.JSON): apidoc.answer(
                API.schema_file, "EESRegistration", "The EES is registered."
            ),
            **apidoc.problems(*apidoc.BODY_ERRORS, *apidoc.CALL_ERRORS),
        },
        parameters=[apidoc.location(201), apidoc.retry_after(429)],
        auth=apidoc.token_security(API.scope),
        tags=["EDGE-6 EES registration"],
    )
    def post(self, request: Request) -> Response:
        body = self.validated_body(request)
        check_identity(request, APIClient.KIND_EES, body["eesProf"]["eesId"])
        ees = registration.create(wire.registration(body), caller(request))
        location = request.build_absolute_uri(
            reverse(f"{API.name}:registration", args=[ees.registration_id])
        )
        return self.registration_response(ees, 201, Location=location)


class EESRegistrationView(EESRegistrationMixin, ThreeGPPAPIView):
    """``{apiRoot}/eecs-eesregistration/v1/registrations/{registrationId}``."""

    merge_patch = True

    @extend_schema(
        operation_id="GetIndEESReg",
        responses={
            (200, apidoc.JSON): apidoc.answer(
                API.schema_file, "EESRegistration", "The EES registration."
            ),
            **apidoc.problems(*apidoc.CALL_ERRORS, 404),
        },
        parameters=[apidoc.retry_after(429)],
        auth=apidoc.token_security(API.scope),
        tags=["EDGE-6 EES registration"],
    )
    def get(self, request: Request, registration_id: str) -> Response:
        return self.registration_response(self.owned_registration(request, registration_id), 200)

    @extend_schema(
        operation_id="UpdateIndEESReg",
        request=apidoc.body(API.schema_file, "EESRegistration"),
        responses={
            (200, apidoc.JSON): apidoc.answer(
                API.schema_file, "EESRegistration", "The EES registration, replaced."
            ),
            **apidoc.problems(*apidoc.BODY_ERRORS, *apidoc.CALL_ERRORS, 404),
        },
        parameters=[apidoc.retry_after(429)],
        auth=apidoc.token_security(API.scope),
        tags=["EDGE-6 EES registration"],
    )
    def put(self, request: Request, registration_id: str) -> Response:
        self.owned_registration(request, registration_id)
        self.request_schema = (API.schema_file, "EESRegistration")
        body = self.validated_body(request)
        reg = wire.registration(body)
        return self.registration_response(registration.update(registration_id, lambda _: reg), 200)

    @extend_schema(
        operation_id="ModifyIndEESReg",
        request=apidoc.body(API.schema_file, "EESRegistrationPatch", apidoc.MERGE_PATCH_JSON),
        responses={
            (200, apidoc.JSON): apidoc.answer(
                API.schema_file, "EESRegistration", "The EES registration, modified."
            ),
            **apidoc.problems(*apidoc.BODY_ERRORS, *apidoc.CALL_ERRORS, 404),
        },
        parameters=[apidoc.retry_after(429)],
        auth=apidoc.token_security(API.scope),
        tags=["EDGE-6 EES registration"],
    )
    def patch(self, request: Request, registration_id: str) -> Response:
        self.require_merge_patch(request)
        self.owned_registration(request, registration_id)
        self.request_schema = (API.schema_file, "EESRegistrationPatch")
        body = self.validated_body(request)
        ees = registration.update(registration_id, lambda current: wire.patched(current, body))
        return self.registration_response(ees, 200)

    @extend_schema(
        operation_id="DeleteIndEESReg",
        responses={
            204: OpenApiResponse(description="The EES registration was deleted."),
            **apidoc.problems(*apidoc.CALL_ERRORS, 404),
        },
        parameters=[apidoc.retry_after(429)],
        auth=apidoc.token_security(API.scope),
        tags=["EDGE-6 EES registration"],
    )
    def delete(self, request: Request, registration_id: str) -> Response:
        self.owned_registration(request, registration_id)
        registration.delete(registration_id)
        return Response(status=204)
