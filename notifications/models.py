"""The outbox: every notification we owe a subscriber, and every attempt to deliver it.

A notification row is written in the same transaction as the change that caused it, so a
crash can delay a notification but never lose it; the worker marks it delivered only after
the receiver answered 2xx, so delivery is at least once.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Notification(models.Model):
    PENDING = "pending"
    DELIVERED = "delivered"
    GIVEN_UP = "given_up"
    STATES = [(PENDING, "pending"), (DELIVERED, "delivered"), (GIVEN_UP, "given up")]

    kind = models.CharField(
        max_length=32, help_text="What sent it, e.g. eec-subscription, partner-subscription."
    )
    subscription = models.CharField(max_length=64, help_text="Subscription id.")
    destination = models.URLField(max_length=1000)
    payload = models.JSONField()
    headers = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=STATES, default=PENDING)
    created = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    leased_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["-created", "-pk"]
        # Both partial on what is pending, so the claim's plan stays an ordered index scan
        # whose per-row check (no older pending notification of the subscription) is one
        # probe, whatever the planner's statistics say: with 10,000 fresh rows before any
        # ANALYZE a claim took 4 s on full indexes.  Delivered rows, the bulk of the table,
        # are in neither index.
        indexes = [
            models.Index(
                fields=["next_attempt_at", "id"],
                name="outbox_pending_due",
                condition=models.Q(state="pending"),
            ),
            models.Index(
                fields=["subscription", "id"],
                name="outbox_pending_subscription",
                condition=models.Q(state="pending"),
            ),
            # The dashboard's count of what the worker gave up on, without the delivered rows.
            models.Index(
                fields=["created"],
                name="outbox_given_up",
                condition=models.Q(state="given_up"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.subscription} -> {self.destination}"


class DeliveryAttempt(models.Model):
    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="attempt_log"
    )
    at = models.DateTimeField(default=timezone.now)
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=255, blank=True, default="")
    duration_ms = models.FloatField(default=0)

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.status or self.error}"


class WorkerHeartbeat(models.Model):
    """When each worker last finished a pass: ``/healthz`` reports a worker gone quiet."""

    worker = models.CharField(max_length=200, primary_key=True, help_text="host:pid")
    beat_at = models.DateTimeField()

    class Meta:
        verbose_name = "worker heartbeat"

    def __str__(self) -> str:
        return f"{self.worker} at {self.beat_at:%Y-%m-%d %H:%M:%S}"
