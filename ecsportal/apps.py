"""The Django project as an app: its system checks."""

from django.apps import AppConfig


class ECSPortalConfig(AppConfig):
    name = "ecsportal"
    verbose_name = "ECS Portal"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
