"""One FilterSet per model of the OAM API. Filters that name a partner, policy, EDN or EES
take its id as the configuration file has it, never a database key. The retrieval audit's is
``partners.filters`` (``ecs_audit`` uses it too)."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Q, QuerySet
from django.utils import timezone

from access.models import APIClient
from federation.models import ECSRegistration
from notifications.models import Notification
from partners.filters import DateTimeFilter, RetrievalAuditFilterSet
from partners.models import AuthorizationPolicy, PartnerECS, ProvisioningCacheEntry
from provisioning.models import EDN, EES

__all__ = [
    "APIClientFilterSet",
    "CacheEntryFilterSet",
    "ChangeFilterSet",
    "ECSRegistrationFilterSet",
    "EDNFilterSet",
    "EESFilterSet",
    "NotificationFilterSet",
    "PartnerFilterSet",
    "PolicyFilterSet",
    "RetrievalAuditFilterSet",
]


class PartnerFilterSet(django_filters.FilterSet):
    id = django_filters.CharFilter(field_name="partner_id")
    enabled = django_filters.BooleanFilter()
    ecsp = django_filters.CharFilter()
    consult = django_filters.ChoiceFilter(choices=PartnerECS.CONSULT_CHOICES)

    class Meta:
        model = PartnerECS
        fields: list[str] = []


class PolicyFilterSet(django_filters.FilterSet):
    # A configured partner's id, or the ECS id (or "*") a policy names without one.
    partner = django_filters.CharFilter(method="filter_partner")
    enabled = django_filters.BooleanFilter()

    def filter_partner(self, queryset: Any, name: str, value: str) -> Any:
        return queryset.filter(Q(partner__partner_id=value) | Q(partner_ecs_id=value))

    class Meta:
        model = AuthorizationPolicy
        fields: list[str] = []


class EDNFilterSet(django_filters.FilterSet):
    id = django_filters.CharFilter(field_name="edn_id")
    dnn = django_filters.CharFilter()

    class Meta:
        model = EDN
        fields: list[str] = []


class EESFilterSet(django_filters.FilterSet):
    edn = django_filters.CharFilter(field_name="edn__edn_id", help_text="The EDN's id.")
    eas_id = django_filters.CharFilter(
        field_name="applications__eas_id", distinct=True, help_text="An EAS id it serves."
    )
    source = django_filters.ChoiceFilter(choices=EES.SOURCES)
    ecsp = django_filters.CharFilter(field_name="ecsp_info")

    class Meta:
        model = EES
        fields: list[str] = []


class CacheEntryFilterSet(django_filters.FilterSet):
    partner = django_filters.CharFilter(field_name="partner__partner_id")
    fresh = django_filters.BooleanFilter(method="filter_fresh", help_text="Not yet expired.")

    class Meta:
        model = ProvisioningCacheEntry
        fields: list[str] = []

    def filter_fresh(self, queryset: QuerySet, name: str, value: Any) -> QuerySet:
        if value is None:
            return queryset
        now = timezone.now()
        return (
            queryset.filter(expires_at__gt=now) if value else queryset.filter(expires_at__lte=now)
        )


class ECSRegistrationFilterSet(django_filters.FilterSet):
    ecs_id = django_filters.CharFilter()
    ecsp = django_filters.CharFilter(field_name="ecsp_id")
    live = django_filters.BooleanFilter(method="filter_live", help_text="Not yet expired.")

    class Meta:
        model = ECSRegistration
        fields: list[str] = []

    def filter_live(self, queryset: QuerySet, name: str, value: Any) -> QuerySet:
        if value is None:
            return queryset
        now = timezone.now()
        live = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        return queryset.filter(live) if value else queryset.exclude(live)


class NotificationFilterSet(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=Notification.STATES)
    kind = django_filters.CharFilter()
    subscription = django_filters.CharFilter()
    since = DateTimeFilter(field_name="created", lookup_expr="gte")

    class Meta:
        model = Notification
        fields: list[str] = []


class APIClientFilterSet(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=APIClient.KINDS)
    identity = django_filters.CharFilter()

    class Meta:
        model = APIClient
        fields: list[str] = []


class ChangeFilterSet(django_filters.FilterSet):
    """Filters of one change-log table (``changes/`` applies it to each table it reads;
    ``model`` chooses the tables)."""

    user = django_filters.CharFilter(field_name="history_user__username")
    request_id = django_filters.CharFilter(field_name="request_id")
    since = DateTimeFilter(field_name="history_date", lookup_expr="gte")
