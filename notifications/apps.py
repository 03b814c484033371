"""The notifications app: an outbox of callbacks and the worker that delivers them."""

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"
