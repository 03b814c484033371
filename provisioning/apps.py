"""The provisioning app: our own EDNs and EESs, matching, and the EDGE-4 API."""

from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    name = "provisioning"
    verbose_name = "Provisioning"

    def ready(self) -> None:
        from notifications import worker

        from . import (
            changes,
            configsection,  # noqa: F401  (registers the ecs/edns file sections)
            coordsection,  # noqa: F401  (registers the areaCoordinates section)
            eec_subscriptions,
            inventory,
            registration,
            signals,
        )

        # A change records an event in its transaction; the worker evaluates the events.
        signals.inventory_changed.connect(changes.record, dispatch_uid="change-events")
        changes.register_evaluator("eec-subscriptions", eec_subscriptions.evaluate)
        worker.register_periodic("evaluate-changes", changes.process_pending, 0)
        worker.register_periodic("expire-registrations", registration.expire_registrations, 2)
        worker.register_periodic("expire-subscriptions", eec_subscriptions.expire, 10)
        worker.register_periodic("prune-index-changes", inventory.prune, 60)
