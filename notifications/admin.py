"""Browsing the outbox: every notification and each attempt to deliver it."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html

from .models import DeliveryAttempt, Notification


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    fields = readonly_fields = ("at", "status", "error", "duration_ms")
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


#: Characters of a long text shown in a list column.
SHORT = 24


def _cut(text: str) -> str:
    return text if len(text) <= SHORT else text[: SHORT - 1] + "…"


def _shortened(text: str) -> str:
    return (
        text if len(text) <= SHORT else format_html('<span title="{}">{}</span>', text, _cut(text))
    )


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    # What an engineer scans, in a width that fits beside the admin's navigation and filters
    # on a 1400-px screen: long ids and errors are cut (whole in the title, and on the
    # notification's page), a destination shows its host; the kind is a filter.
    list_display = (
        "created",
        "state",
        "attempts",
        "short_subscription",
        "destination_host",
        "short_error",
    )
    list_filter = ("state", "kind")
    search_fields = ("subscription", "destination")
    date_hierarchy = "created"
    inlines = [DeliveryAttemptInline]
    fields = (
        "kind",
        "subscription",
        "destination",
        "state",
        "created",
        "attempts",
        "next_attempt_at",
        "delivered_at",
        "last_error",
        "pretty_payload",
    )
    readonly_fields = fields
    actions = ["retry_now"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="subscription", ordering="subscription")
    def short_subscription(self, obj: Notification) -> str:
        return _shortened(obj.subscription)

    @admin.display(description="destination", ordering="destination")
    def destination_host(self, obj: Notification) -> str:
        host = urlsplit(obj.destination).netloc or obj.destination
        return format_html('<span title="{}">{}</span>', obj.destination, _cut(host))

    @admin.display(description="last error", ordering="last_error")
    def short_error(self, obj: Notification) -> str:
        return _shortened(obj.last_error)

    @admin.display(description="payload")
    def pretty_payload(self, obj: Notification) -> str:
        return format_html(
            '<pre style="white-space: pre-wrap">{}</pre>', json.dumps(obj.payload, indent=2)
        )

    @admin.action(description="Retry now", permissions=["retry"])
    def retry_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = queryset.exclude(state=Notification.DELIVERED).update(
            state=Notification.PENDING,
            next_attempt_at=timezone.now(),
            leased_until=None,
            created=timezone.now(),
        )
        self.message_user(request, f"{count} notification(s) queued again.", messages.SUCCESS)

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("notifications.change_notification")
