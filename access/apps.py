"""The access app: OAuth 2.0 clients of our APIs (EECs, EESs, partner ECSs) and admin roles."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccessConfig(AppConfig):
    name = "access"
    verbose_name = "Access"

    def ready(self) -> None:
        from .roles import ensure_roles

        # After every app's migrations, so that all permissions exist.
        post_migrate.connect(ensure_roles, dispatch_uid="access-roles")
