"""The plumbing every app uses, as a Django app so its change-log wiring loads first."""

from django.apps import AppConfig


class ECSCoreConfig(AppConfig):
    name = "ecscore"
    verbose_name = "ECS core"

    def ready(self) -> None:
        from . import history  # noqa: F401  (registers the change-log signal handler)
