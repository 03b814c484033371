"""The partners app: partner ECSs, authorization policies, EDGE-10, the provisioning cache."""

from django.apps import AppConfig


class PartnersConfig(AppConfig):
    name = "partners"
    verbose_name = "Partners"

    def ready(self) -> None:
        from notifications import worker
        from provisioning import sources

        from . import cache, configsection, edge10  # noqa: F401  (registers file sections)
        from .source import PartnerSource

        edge10.register_schemas()
        sources.register(PartnerSource())
        worker.register_periodic("sweep-partner-cache", cache.sweep, 60)
