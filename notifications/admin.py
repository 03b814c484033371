"""Browsing the outbox: every notification and each attempt to deliver it."""

from __future__ import annotations

import json
from typing import Any

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


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = (
        "created",
        "kind",
        "subscription",
        "destination",
        "state",
        "attempts",
        "next_attempt_at",
        "last_error",
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
