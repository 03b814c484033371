"""The partners app: partner ECSs, authorization policies, EDGE-10, the provisioning cache."""

from django.apps import AppConfig


class PartnersConfig(AppConfig):
    name = "partners"
    verbose_name = "Partners"

    def ready(self) -> None:
        from notifications import worker
        from provisioning import changes, sources

        from . import (
            cache,
            configsection,  # noqa: F401  (registers file sections)
            remote_subscriptions,
            served_subscriptions,
        )
        from .eecs_ecsserviceprovisioning import wire as edge10
        from .retrieval import PartnerSource

        edge10.register_schemas()
        sources.register(PartnerSource())
        changes.register_evaluator("partner-subscriptions", served_subscriptions.evaluate)
        worker.register_header_resolver(
            served_subscriptions.TOKEN_REF, served_subscriptions.bearer_for_partner
        )
        worker.register_periodic("sweep-partner-cache", cache.sweep, 60)
        worker.register_periodic("expire-partner-subscriptions", served_subscriptions.expire, 10)
        worker.register_periodic("subscribe-at-partners", remote_subscriptions.subscribe_pending, 2)
