"""The OAM API's views: one base viewset, and thin views on it.

``OAMViewSet`` carries everything an OAM resource shares, as NetBox's base viewset does:
token (or staff session) authentication, deny-by-default model permissions, one FilterSet
per model with unknown query parameters refused, cursor pagination, ProblemDetails errors
(``ecscore.problems``), writes in one transaction (a list body on POST creates all or none)
and in the change log with the acting user and the request id. A resource is a
``queryset``, a ``serializer_class`` and a ``filterset_class``.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from access.models import APIClient
from ecscore import errors
from federation.models import ECSRegistration
from notifications.models import Notification
from partners import cache, retrieval
from partners.models import (
    AuthorizationPolicy,
    NEFConfiguration,
    PartnerECS,
    ProvisioningCacheEntry,
    RetrievalAudit,
)
from provisioning.models import EDN, EES, ECSConfiguration

from ..authentication import OAMPermission, OAMSessionAuthentication, OAMTokenAuthentication
from . import filters, serializers
from .pagination import NewestFirstPagination, OAMCursorPagination
from .problems import prefixed
from .schema import OAMAutoSchema

#: Query parameters every list takes besides its filters.
PAGING_PARAMETERS = frozenset({"cursor", "limit", "format"})


class OAMViewSet(viewsets.GenericViewSet):
    """The base of every OAM resource."""

    authentication_classes = [OAMTokenAuthentication, OAMSessionAuthentication]
    permission_classes = [OAMPermission]
    filter_backends = [DjangoFilterBackend]
    pagination_class = OAMCursorPagination
    schema = OAMAutoSchema()
    lookup_value_regex = "[^/]+"
    filterset_class: Any = None
    #: action -> the permissions it needs, instead of those of its HTTP method.
    action_permissions: dict[str, tuple[str, ...]] = {}

    def permission_model(self) -> Any:
        return self.queryset.model

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        # DRF puts the challenge on the exception; the ProblemDetails handler does not copy
        # it, and a 401 must say how to authenticate (RFC 9110 clause 11.6.1).
        challenge = getattr(exc, "auth_header", None)
        if response is not None and response.status_code == 401 and challenge:
            response["WWW-Authenticate"] = challenge
        return response

    def filter_queryset(self, queryset: Any) -> Any:
        allowed = set(PAGING_PARAMETERS)
        if self.filterset_class is not None:
            allowed |= set(self.filterset_class.base_filters)
        unknown = sorted(set(self.request.query_params) - allowed)
        if unknown:
            raise errors.InvalidRequest(
                "Unknown query parameters.",
                invalid_params=[
                    {"param": name, "reason": f"unknown; known: {', '.join(sorted(allowed))}"}
                    for name in unknown
                ],
            )
        return super().filter_queryset(queryset)

    def check_writable(self, instance: Any) -> None:
        """Refuse a write to ``instance`` (a row another component owns, say)."""


class ListRetrieve(mixins.ListModelMixin, mixins.RetrieveModelMixin, OAMViewSet):
    """A resource that is only read."""


class ReadWrite(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    OAMViewSet,
):
    """A resource read and written as configuration-file entries."""

    #: POST takes one entry or a list of them (the schema documents both).
    bulk_create = True

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """One entry, or a list of entries: all are created or none (one transaction)."""
        many = isinstance(request.data, list)
        items = request.data if many else [request.data]
        if many and not items:
            raise errors.InvalidRequest(
                "An empty list creates nothing.",
                invalid_params=[{"param": "/", "reason": "must hold at least one entry"}],
            )
        created, problems = [], []
        with transaction.atomic():
            for index, item in enumerate(items):
                serializer = self.get_serializer(data=item)
                try:
                    serializer.is_valid(raise_exception=True)
                    if not problems:  # after a problem nothing is written: only checked
                        with transaction.atomic():
                            created.append(serializer.save())
                except errors.InvalidRequest as exc:
                    problems += (
                        prefixed(exc.invalid_params, f"/{index}")
                        if many
                        else (exc.invalid_params or [])
                    )
                except IntegrityError:  # a uniqueness race lost against a concurrent write
                    where = f"/{index}" if many else "/"
                    problems.append({"param": where, "reason": "conflicts with a stored row"})
            if problems:
                transaction.set_rollback(True)
        if problems:
            raise errors.InvalidRequest("The request is not valid.", invalid_params=problems)
        data = [self.get_serializer(obj).data for obj in created]
        return Response(data if many else data[0], status=status.HTTP_201_CREATED)

    def perform_update(self, serializer: Any) -> None:
        self.check_writable(serializer.instance)
        with transaction.atomic():
            serializer.save()

    def perform_destroy(self, instance: Any) -> None:
        self.check_writable(instance)
        instance._change_reason = serializers.CHANGE_REASON
        with transaction.atomic():
            instance.delete()

    def get_serializer(self, *args: Any, **kwargs: Any) -> Any:
        serializer = super().get_serializer(*args, **kwargs)
        if args and self.action in ("update", "partial_update"):
            self.check_writable(args[0])
        return serializer


# --- Resources ----------------------------------------------------------------------------


class ECSViewSet(OAMViewSet):
    """``ecs/``: this ECS's identity, the configuration file's ``ecs`` section."""

    queryset = ECSConfiguration.objects.all()
    serializer_class = serializers.ECSSerializer
    pagination_class = None
    filter_backends: list[Any] = []

    def get_object(self) -> ECSConfiguration:
        self.filter_queryset(self.queryset)  # unknown query parameters
        self.check_object_permissions(self.request, None)
        return ECSConfiguration.load()

    def retrieve(self, request: Request) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    def update(self, request: Request) -> Response:
        partial = self.action == "partial_update"
        serializer = self.get_serializer(self.get_object(), data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            serializer.save()
        return Response(serializer.data)

    def partial_update(self, request: Request) -> Response:
        return self.update(request)


class NEFViewSet(OAMViewSet):
    """``nef/``: the NEF that tells us a UE's roaming status, the file's ``nef`` section.
    One object: GET (404 when none), PUT (create or replace), PATCH, DELETE."""

    queryset = NEFConfiguration.objects.all()
    serializer_class = serializers.NEFSerializer
    pagination_class = None
    filter_backends: list[Any] = []

    def _stored(self) -> NEFConfiguration | None:
        self.filter_queryset(self.queryset)  # unknown query parameters
        self.check_object_permissions(self.request, None)
        return NEFConfiguration.objects.filter(pk=1).first()

    def _existing(self) -> NEFConfiguration:
        config = self._stored()
        if config is None:
            raise errors.NotFound("No NEF is configured (PUT one).")
        return config

    def retrieve(self, request: Request) -> Response:
        return Response(self.get_serializer(self._existing()).data)

    def update(self, request: Request) -> Response:
        partial = self.action == "partial_update"
        current = self._existing() if partial else self._stored()
        serializer = self.get_serializer(current, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            serializer.save()
        return Response(serializer.data, status=200 if current else 201)

    def partial_update(self, request: Request) -> Response:
        return self.update(request)

    def destroy(self, request: Request) -> Response:
        config = self._existing()
        config._change_reason = serializers.CHANGE_REASON
        with transaction.atomic():
            config.delete()
        return Response(status=204)


class EDNViewSet(ReadWrite):
    """``edns/``: EDNs as the configuration file's ``edns`` entries (3GPP EDNConInfo)."""

    queryset = EDN.objects.prefetch_related("eess").order_by("pk")
    serializer_class = serializers.EDNSerializer
    filterset_class = filters.EDNFilterSet
    lookup_field = "edn_id"
    lookup_url_kwarg = "id"


class EESViewSet(ReadWrite):
    """``eess/``: EESs as 3GPP EESInfo; registered EESs (EDGE-6) are read-only."""

    queryset = EES.objects.select_related("edn").order_by("pk")
    serializer_class = serializers.EESSerializer
    filterset_class = filters.EESFilterSet
    lookup_field = "ees_id"
    lookup_url_kwarg = "id"

    def check_writable(self, instance: Any) -> None:
        if isinstance(instance, EES) and instance.source == EES.SOURCE_REGISTERED:
            raise errors.Forbidden(
                f"EES {instance.ees_id!r} registered itself (EDGE-6): it is read-only here.",
                "REGISTERED_EES",
            )


class PartnerViewSet(ReadWrite):
    """``partners/``: partner ECSs as the configuration file's ``partners`` entries."""

    queryset = PartnerECS.objects.order_by("pk")
    serializer_class = serializers.PartnerSerializer
    filterset_class = filters.PartnerFilterSet
    lookup_field = "partner_id"
    lookup_url_kwarg = "id"


class PolicyViewSet(ReadWrite):
    """``policies/``: authorization policies as the file's ``policies`` entries."""

    queryset = AuthorizationPolicy.objects.select_related("partner").order_by("pk")
    serializer_class = serializers.PolicySerializer
    filterset_class = filters.PolicyFilterSet
    lookup_field = "policy_id"
    lookup_url_kwarg = "id"


class CacheEntryViewSet(ListRetrieve):
    """``cache-entries/``: partners' cached answers; invalidate or refresh one."""

    queryset = ProvisioningCacheEntry.objects.select_related("partner").order_by("pk")
    serializer_class = serializers.CacheEntrySerializer
    filterset_class = filters.CacheEntryFilterSet
    # What the admin's actions on cache entries need.
    action_permissions = {
        "invalidate": ("partners.change_provisioningcacheentry",),
        "refresh": ("partners.change_provisioningcacheentry",),
    }

    @extend_schema(request=None, responses={200: serializers.CacheEntrySerializer})
    @action(detail=True, methods=["post"])
    def invalidate(self, request: Request, pk: str | None = None) -> Response:
        """Expire the entry now: the next request asks the partner again."""
        entry = self.get_object()
        cache.invalidate(ProvisioningCacheEntry.objects.filter(pk=entry.pk))
        entry.refresh_from_db()
        return Response(self.get_serializer(entry).data)

    @extend_schema(request=None, responses={200: serializers.CacheEntrySerializer})
    @action(detail=True, methods=["post"])
    def refresh(self, request: Request, pk: str | None = None) -> Response:
        """Ask the partner again now, with the request the entry was made for."""
        entry = self.get_object()
        ok, message = retrieval.refresh(entry)
        if not ok:
            raise errors.Unavailable(f"{entry.partner}: {message}", retry_after=30)
        entry.refresh_from_db()
        return Response(self.get_serializer(entry).data)


class AuditViewSet(ListRetrieve):
    """``audit/``: every retrieval in both directions, newest first, by cursor."""

    queryset = RetrievalAudit.objects.all()
    serializer_class = serializers.AuditSerializer
    filterset_class = filters.RetrievalAuditFilterSet
    pagination_class = NewestFirstPagination


class NotificationViewSet(ListRetrieve):
    """``outbox/``: notifications and their delivery attempts, newest first."""

    queryset = Notification.objects.prefetch_related("attempt_log")
    serializer_class = serializers.NotificationSerializer
    filterset_class = filters.NotificationFilterSet
    pagination_class = NewestFirstPagination


class ECSRegistrationViewSet(ListRetrieve):
    """``ecs-registrations/``: the ECSs registered at this ECS-ER, with their expiry
    (read-only; members write them through the ECS registration API)."""

    queryset = ECSRegistration.objects.order_by("ecs_id")
    serializer_class = serializers.ECSRegistrationSerializer
    filterset_class = filters.ECSRegistrationFilterSet
    lookup_field = "ecs_id"
    lookup_url_kwarg = "id"


class APIClientViewSet(mixins.CreateModelMixin, mixins.DestroyModelMixin, ListRetrieve):
    """``api-clients/``: OAuth 2.0 clients of the 3GPP APIs; the secret only on create."""

    queryset = APIClient.objects.select_related("application").order_by("pk")
    serializer_class = serializers.APIClientSerializer
    filterset_class = filters.APIClientFilterSet

    def perform_create(self, serializer: Any) -> None:
        with transaction.atomic():
            serializer.save()

    def perform_destroy(self, instance: APIClient) -> None:
        with transaction.atomic():
            instance.application.delete()  # the client goes with it (cascade)
