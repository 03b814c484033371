"""The federation app: ECSs that find each other through an ECS-ER (TS 23.558 clause 8.17.2).

Both roles live here: the ECS-ER (ECS registration, ECS discovery, the federation's
authorization server) and the member ECS that registers at one and discovers partners there.
"""

from django.apps import AppConfig


class FederationConfig(AppConfig):
    name = "federation"
    verbose_name = "Federation"

    def ready(self) -> None:
        from access import oauth
        from notifications import worker
        from partners import federated, metrics

        from . import (
            configsection,  # noqa: F401  (registers the "repository" and "ecsEr" sections)
            member,
            repository,
            tokens,
            verify,
        )
        from . import discovery as partner_discovery
        from .eecs_ecsdiscovery import wire as discovery
        from .eecs_ecsregistration import wire as registration

        registration.register_schemas()  # first: the discovery file refers to it
        discovery.register_schemas()
        repository.set_notification_format(discovery.notification)
        oauth.set_resource_issuer(tokens.issue)
        federated.set_verifier(verify.verify)  # federation tokens on our EDGE-10 API
        worker.register_periodic("expire-ecs-registrations", repository.expire, 5)
        # The member role: our own registration at the ECS-ER (ecsEr.register).
        worker.register_periodic("ecs-er-registration", member.tick, member.TICK_SECONDS)
        metrics.register_lines(member.metric_lines)
        partner_discovery.register()  # partner discovery, federation tokens for partners
