"""The provisioning app: our own EDNs and EESs, matching, and the EDGE-4 API."""

from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    name = "provisioning"
    verbose_name = "Provisioning"

    def ready(self) -> None:
        from . import configsection  # noqa: F401  (registers the ecs/edns file sections)
