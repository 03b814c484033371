"""Admin roles, as Django groups kept in step with the code after every migrate.

* operator: edits the ECS identity, EDN and EES profiles, partners and policies, the NEF,
  API clients; reads the cache, the audit log and the notification outbox; browses and deletes
  the ECS registrations and discovery subscriptions of the ECS-ER; reads our own registration
  at the ECS-ER.
* auditor: reads the partner cache, the retrieval audit log, the outbox, the ECS
  registrations and our own registration at the ECS-ER; edits nothing.
"""

from __future__ import annotations

from typing import Any

OPERATOR = "operator"
AUDITOR = "auditor"

_EDIT = ("add", "change", "delete", "view")
ROLES: dict[str, dict[str, tuple[str, ...]]] = {
    OPERATOR: {
        "provisioning.ecsconfiguration": ("change", "view"),
        "provisioning.edn": _EDIT,
        "provisioning.ees": _EDIT,
        "provisioning.eecsubscription": ("view", "delete"),
        "partners.partnerecs": _EDIT,
        "partners.authorizationpolicy": _EDIT,
        "partners.nefconfiguration": _EDIT,
        "partners.provisioningcacheentry": ("view", "change"),
        "partners.retrievalaudit": ("view",),
        "notifications.notification": ("view", "change"),
        "access.apiclient": _EDIT,
        # Members write these through the ECS-ER's APIs; operators browse and delete.
        "federation.ecsregistration": ("view", "delete"),
        "federation.discoverysubscription": ("view", "delete"),
        # Our registration at the ECS-ER: the worker keeps it; operators only look.
        "federation.memberregistration": ("view",),
    },
    AUDITOR: {
        "partners.provisioningcacheentry": ("view",),
        "partners.retrievalaudit": ("view",),
        "notifications.notification": ("view",),
        "federation.ecsregistration": ("view",),
        "federation.memberregistration": ("view",),
    },
}


def ensure_roles(**kwargs: Any) -> None:
    """post_migrate: create or update the role groups to hold exactly their permissions."""
    from django.contrib.auth.models import Group, Permission

    for role, grants in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = []
        for model, actions in grants.items():
            app_label, model_name = model.split(".")
            for action in actions:
                perm = Permission.objects.filter(
                    content_type__app_label=app_label, codename=f"{action}_{model_name}"
                ).first()
                if perm is not None:
                    wanted.append(perm)
        group.permissions.set(wanted)
