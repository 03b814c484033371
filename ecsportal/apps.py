"""The Django project as an app: system checks and the change-log wiring."""

from django.apps import AppConfig


class ECSPortalConfig(AppConfig):
    name = "ecsportal"
    verbose_name = "ECS Portal"

    def ready(self) -> None:
        from . import checks, history  # noqa: F401  (registers checks and signal handlers)
