"""The ECS-ER in the admin: registered ECSs and discovery subscriptions, read-only.

Members write them through the APIs; operators browse them (with their expiry) and may delete
one -- through ``repository``, so the subscriptions that saw it are notified.  The member
side: our own registration at the ECS-ER, shown read-only (the worker keeps it).
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from ecscore.admin_filters import ExpiryFilter

from . import repository
from .models import DiscoverySubscription, ECSRegistration, MemberRegistration


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _pretty(value: Any) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True))


@admin.register(ECSRegistration)
class ECSRegistrationAdmin(ReadOnlyAdmin):
    list_display = ("ecs_id", "ecsp_id", "api_root", "expires_at", "updated")
    list_filter = (ExpiryFilter, "ecsp_id")
    search_fields = ("ecs_id", "ecsp_id", "api_root", "registration_id")
    fields = (
        "ecs_id",
        "registration_id",
        "ecsp_id",
        "api_root",
        "expires_at",
        "registered_by",
        "created",
        "updated",
        "pretty_profile",
    )
    readonly_fields = fields

    @admin.display(description="ECS profile")
    def pretty_profile(self, obj: ECSRegistration) -> str:
        return _pretty(obj.profile)

    def delete_model(self, request: HttpRequest, obj: ECSRegistration) -> None:
        repository.deregister(obj, "ECS registration deleted by an operator")

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for registration in queryset.order_by("pk"):
            repository.deregister(registration, "ECS registration deleted by an operator")


@admin.register(DiscoverySubscription)
class DiscoverySubscriptionAdmin(ReadOnlyAdmin):
    list_display = ("subscription_id", "requestor_id", "notification_destination", "expires_at")
    list_filter = (ExpiryFilter,)
    search_fields = ("subscription_id", "requestor_id", "notification_destination")
    fields = (
        "subscription_id",
        "requestor_id",
        "notification_destination",
        "expires_at",
        "created",
        "updated",
        "pretty_body",
    )
    readonly_fields = fields

    @admin.display(description="subscription")
    def pretty_body(self, obj: DiscoverySubscription) -> str:
        return _pretty(obj.body)

    def delete_model(self, request: HttpRequest, obj: DiscoverySubscription) -> None:
        repository.unsubscribe(obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for sub in queryset.order_by("pk"):
            repository.unsubscribe(sub)


@admin.register(MemberRegistration)
class MemberRegistrationAdmin(ReadOnlyAdmin):
    """What the worker did last (the copied client secret is never shown)."""

    list_display = ("__str__", "expires_at", "last_success", "last_error", "next_attempt")
    fields = (
        "registration_id",
        "api_root",
        "client_id",
        "expires_at",
        "last_attempt",
        "last_success",
        "last_error",
        "next_attempt",
        "failures",
        "attempts_total",
        "failures_total",
        "pretty_profile",
    )
    readonly_fields = fields

    @admin.display(description="ECS profile registered")
    def pretty_profile(self, obj: MemberRegistration) -> str:
        return _pretty(obj.profile)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # switch ecsEr.register off instead: the worker de-registers
