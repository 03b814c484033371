"""The partners app: partner ECSs, authorization policies, EDGE-10, the provisioning cache."""

from django.apps import AppConfig


class PartnersConfig(AppConfig):
    name = "partners"
    verbose_name = "Partners"

    def ready(self) -> None:
        from notifications import worker
        from provisioning import changes, explain, roaming, sources

        from . import (
            cache,
            configsection,  # noqa: F401  (registers file sections)
            remote_subscriptions,
            served_subscriptions,
        )
        from .eecs_ecsserviceprovisioning import wire as edge10
        from .explain import PartnerExplainer
        from .nef import configsection as nef_section  # noqa: F401  (registers "nef")
        from .nef.resolver import NEFResolver
        from .retrieval import PartnerSource

        edge10.register_schemas()
        sources.register(PartnerSource())
        explain.register(PartnerExplainer())  # the same source in "why this answer"
        roaming.set_resolver(NEFResolver())  # connInfo alone until a nef section is applied
        changes.register_evaluator("partner-subscriptions", served_subscriptions.evaluate)
        worker.register_header_resolver(
            served_subscriptions.TOKEN_REF, served_subscriptions.bearer_for_partner
        )
        worker.register_periodic("sweep-partner-cache", cache.sweep, 60)
        worker.register_periodic("expire-partner-subscriptions", served_subscriptions.expire, 10)
        worker.register_periodic("subscribe-at-partners", remote_subscriptions.subscribe_pending, 2)
