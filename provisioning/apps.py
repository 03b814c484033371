"""The provisioning app: our own EDNs and EESs, matching, and the EDGE-4 API."""

from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    name = "provisioning"
    verbose_name = "Provisioning"

    def ready(self) -> None:
        from notifications import worker

        from . import (
            configsection,  # noqa: F401  (registers the ecs/edns file sections)
            eec_subscriptions,
            registration,
            signals,
        )

        signals.inventory_changed.connect(
            eec_subscriptions.on_inventory_changed, dispatch_uid="eec-subscriptions"
        )
        worker.register_periodic("expire-registrations", registration.expire_registrations, 2)
        worker.register_periodic("expire-subscriptions", eec_subscriptions.expire, 10)
