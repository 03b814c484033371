"""The ``oam`` app: per-user API tokens and the OAM REST API built on them."""

from django.apps import AppConfig


class OamConfig(AppConfig):
    name = "oam"
    verbose_name = "OAM API"
    default_auto_field = "django.db.models.BigAutoField"
