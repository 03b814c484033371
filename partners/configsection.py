"""The ``partners`` and ``policies`` sections of the configuration file.

``partners``: ``{id, ecsp, apiRoot, plmns, consult, roamingMode, redirectDnn, redirectSnssai,
outboundToken, inboundToken, tokenUrl, clientId, clientSecret, scope, defaultLifetime,
maxLifetime, timeout, enabled, shareUeId, subscribe, breakerThreshold, breakerCooldown}`` --
identified by ``id``.  ``inboundToken``
is a literal token or ``sha256:<hex>``; only the hash is stored and export writes the hash.
``outboundToken`` and ``clientSecret`` are a literal or ``env:NAME``; export writes only the
``env:`` form, and an entry without them keeps the stored ones.

``policies``: ``{id, partner, requesterEcsps, enabled, validFrom, validUntil, servingPlmns,
easIds, ecsps, dnns, lifetime, ratePerMinute}`` -- identified by ``id`` when given, else by
``partner``.  ``partner`` is a configured partner's id, or the ECS id of an ECS known only
through the ECS-ER (no ``partners`` entry), or ``"*"`` with ``requesterEcsps`` (every ECS of
those ECSPs presenting a federation token of our ECS-ER).

The models (``PartnerECS``, ``AuthorizationPolicy``) are the one definition of every option:
its default, type, range, choices and rules.  Here are only the file's key for each field
(``PARTNER_KEYS``, ``POLICY_KEYS``) and the file's own concerns: which entry is which, the
token forms, the partner a policy names.  A new partner option is a model field and one line
in ``PARTNER_KEYS``.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from ecscore import configfile

from .models import (
    DEFAULT_SCOPE,
    ENV_PREFIX,
    TOKEN_HASH_PREFIX,
    AuthorizationPolicy,
    PartnerECS,
    hash_token,
)

# File key -> model field, in the order export writes them.
PARTNER_KEYS = configfile.ModelKeys(
    PartnerECS,
    {
        "id": "partner_id",
        "ecsp": "ecsp",
        "apiRoot": "api_root",
        "plmns": "plmns",
        "consult": "consult",
        "roamingMode": "roaming_mode",
        "redirectDnn": "redirect_dnn",
        "redirectSnssai": "redirect_snssai",
        "outboundToken": "outbound_token",
        "inboundToken": "inbound_token_hash",
        "tokenUrl": "token_url",
        "clientId": "client_id",
        "clientSecret": "client_secret",
        "scope": "scope",
        "defaultLifetime": "default_lifetime",
        "maxLifetime": "max_lifetime",
        "timeout": "timeout",
        "enabled": "enabled",
        "shareUeId": "share_ue_id",
        "subscribe": "subscribe",
        "breakerThreshold": "breaker_threshold",
        "breakerCooldown": "breaker_cooldown",
    },
)
POLICY_KEYS = configfile.ModelKeys(
    AuthorizationPolicy,
    {
        "id": "policy_id",
        "partner": "partner",
        "requesterEcsps": "requester_ecsps",
        "enabled": "enabled",
        "validFrom": "valid_from",
        "validUntil": "valid_until",
        "servingPlmns": "serving_plmns",
        "easIds": "eas_ids",
        "ecsps": "ecsps",
        "dnns": "dnns",
        "lifetime": "lifetime",
        "ratePerMinute": "rate_per_minute",
    },
)
# Credentials we present to a partner: a literal or env:NAME, never exported literally.
CREDENTIAL_KEYS = ("outboundToken", "clientSecret")
# Absent from an entry, these keep what is stored (a token generated in the admin, or a
# literal credential, which export never writes out).
KEPT_WHEN_ABSENT = (*CREDENTIAL_KEYS, "inboundToken")
# Left out of an export when empty.
EXPORTED_IF_SET = ("ecsp", "tokenUrl", "clientId", "redirectDnn")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _inbound_hash(value: str) -> str:
    if value.startswith(TOKEN_HASH_PREFIX):
        return value[len(TOKEN_HASH_PREFIX) :].lower()
    return hash_token(value)


def _partner_values(entry: dict[str, Any], invalid: set[str] = frozenset()) -> dict[str, Any]:
    values = PARTNER_KEYS.values(entry, keep=KEPT_WHEN_ABSENT, invalid=invalid)
    if "inboundToken" in entry and "inboundToken" not in invalid:
        # An empty token means none: the partner cannot authenticate.
        token = entry["inboundToken"]
        values["inbound_token_hash"] = _inbound_hash(token) if token else ""
    return values


def partner_entry_errors(
    label: str, entry: dict[str, Any], partner: PartnerECS
) -> tuple[list[str], set[str]]:
    """One ``partners`` entry, checked on ``partner`` (the stored one it updates, or a new
    one), which gets the entry's values set; every problem, and the keys at fault.

    Which entry is which (an id listed twice) is the caller's: the file's or the API's.
    """
    errors = PARTNER_KEYS.unknown(label, entry)
    found, bad = PARTNER_KEYS.type_errors(label, entry, skip={"id"})
    partner_id = entry.get("id")
    if not isinstance(partner_id, str) or not partner_id:
        errors.append(f"{label}.id: required, a non-empty string")
        bad.add("id")
    errors += found
    inbound = entry.get("inboundToken")
    if (
        "inboundToken" not in bad
        and isinstance(inbound, str)
        and inbound.startswith(TOKEN_HASH_PREFIX)
        and not _HEX64.match(inbound[len(TOKEN_HASH_PREFIX) :].lower())
    ):
        errors.append(f"{label}.inboundToken: sha256: must be followed by 64 hex digits")
        bad.add("inboundToken")
    for name, value in _partner_values(entry, bad).items():
        setattr(partner, name, value)
    errors += PARTNER_KEYS.errors(partner, label, exclude=bad)
    return errors, bad


def partner_values(entry: dict[str, Any]) -> dict[str, Any]:
    """The model field values of a valid ``partners`` entry (kept credentials left out)."""
    return _partner_values(entry)


def export_partner(p: PartnerECS) -> dict[str, Any]:
    """A partner as a ``partners`` entry: no literal credential, the inbound token's hash."""
    entry = PARTNER_KEYS.export(p)
    for key in EXPORTED_IF_SET:
        if not entry[key]:
            del entry[key]
    for key in CREDENTIAL_KEYS:
        # A literal credential is a secret and is never exported; env: references are.
        if not entry[key].startswith(ENV_PREFIX):
            del entry[key]
    if p.inbound_token_hash:
        entry["inboundToken"] = TOKEN_HASH_PREFIX + p.inbound_token_hash
    else:
        del entry["inboundToken"]
    if not p.token_url and p.scope == DEFAULT_SCOPE:
        del entry["scope"]
    return entry


class PartnerSection(configfile.ConfigSection):
    key = "partners"
    order = 30

    def validate(self, data: Any, document: dict[str, Any]) -> list[str]:
        if not isinstance(data, list):
            return ["partners: must be a list"]
        errors: list[str] = []
        seen: set[str] = set()
        # Each entry is checked on the partner it updates: credentials it leaves out are
        # the stored ones (a token URL needs a client secret, in the file or stored).
        stored = {p.partner_id: p for p in PartnerECS.objects.all()}
        for index, entry in enumerate(data):
            label = configfile.entry_label("partners", index, entry)
            if not isinstance(entry, dict):
                errors.append(f"{label}: must be a mapping")
                continue
            partner_id = entry.get("id")
            if isinstance(partner_id, str) and partner_id in seen:
                errors.append(f"{label}.id: listed twice")
            elif isinstance(partner_id, str) and partner_id:
                seen.add(partner_id)
            stored_partner = stored.get(partner_id) if isinstance(partner_id, str) else None
            errors += partner_entry_errors(label, entry, stored_partner or PartnerECS())[0]
        return errors

    def apply(self, data: Any, prune: bool, stats: Counter) -> None:
        existing = {p.partner_id: p for p in PartnerECS.objects.all()}
        for index, entry in enumerate(data):
            partner = existing.get(entry["id"]) or PartnerECS()
            configfile.save_if_changed(
                partner,
                _partner_values(entry),
                stats,
                "partner",
                created=partner._state.adding,
                label=configfile.entry_label("partners", index, entry),
                keys=PARTNER_KEYS.fields,
            )
        if prune:
            listed = {entry["id"] for entry in data}
            for partner_id, partner in existing.items():
                # Discovered partners are discovery's, not the file's: never pruned.
                if partner_id not in listed and partner.source == PartnerECS.SOURCE_CONFIGURED:
                    partner.delete()
                    stats["partner deleted"] += 1

    def export(self) -> Any:
        # Discovered partners come back from the ECS-ER by themselves: not the file's.
        configured = PartnerECS.objects.filter(source=PartnerECS.SOURCE_CONFIGURED)
        return [export_partner(p) for p in configured.order_by("partner_id")]


def policy_entry_errors(
    label: str,
    entry: dict[str, Any],
    policy: AuthorizationPolicy,
    partner_pk: int | None,
    ecs_id: str = "",
) -> list[str]:
    """One ``policies`` entry, checked on ``policy`` (the stored one it updates, or a new
    one), which gets the entry's values set; ``partner_pk`` is the stored partner it names,
    else ``ecs_id`` the ECS id (or "*") it names without a partner entry (neither: the
    caller reports the partner).  Which entry is which is the caller's.
    """
    errors = POLICY_KEYS.unknown(label, entry)
    found, bad = POLICY_KEYS.type_errors(label, entry)
    errors += found
    for name, value in POLICY_KEYS.values(entry, invalid=bad).items():
        setattr(policy, name, value)
    if partner_pk is not None:
        policy.partner_id, policy.partner_ecs_id = partner_pk, ""
    elif ecs_id:
        policy.partner, policy.partner_ecs_id = None, ecs_id
    else:
        bad.add("partner")
    return errors + POLICY_KEYS.errors(policy, label, exclude=bad)


def export_policy(p: AuthorizationPolicy) -> dict[str, Any]:
    """A policy as a ``policies`` entry (its partner by id; ``id`` only when it has one)."""
    entry = POLICY_KEYS.export(p)
    if not p.policy_id:
        del entry["id"]
    entry["partner"] = p.requester_label
    return entry


def _configured_partners() -> dict[str, int]:
    """Partner id -> pk of the partners a policy names by relation: the configured ones
    (a discovered row comes and goes with discovery; a policy names it by ECS id)."""
    return dict(
        PartnerECS.objects.filter(source=PartnerECS.SOURCE_CONFIGURED).values_list(
            "partner_id", "pk"
        )
    )


class PolicySection(configfile.ConfigSection):
    key = "policies"
    order = 40

    def validate(self, data: Any, document: dict[str, Any]) -> list[str]:
        if not isinstance(data, list):
            return ["policies: must be a list"]
        partners = document.get("partners")
        listed = {
            p["id"]
            for p in (partners if isinstance(partners, list) else [])
            if isinstance(p, dict) and isinstance(p.get("id"), str)
        }
        stored_partners = _configured_partners()
        known = listed | set(stored_partners)
        stored = _StoredPolicies()
        errors: list[str] = []
        identities: set[tuple] = set()
        for index, entry in enumerate(data):
            label = configfile.entry_label("policies", index, entry)
            if not isinstance(entry, dict):
                errors.append(f"{label}: must be a mapping")
                continue
            partner = entry.get("partner")
            if not isinstance(partner, str) or not partner.strip():
                errors.append(f"{label}.partner: {partner!r} is no partner or ECS id")
                partner = None
            policy_id = entry.get("id") if isinstance(entry.get("id"), str) else None
            identity = ("id", policy_id) if policy_id else ("partner", partner)
            if identity[1] is not None:
                if identity in identities:
                    errors.append(
                        f"{label}: a second policy for the same {identity[0]}; "
                        "give each policy an id"
                    )
                identities.add(identity)
            # Checked on the policy it updates (or a new one) for the partner it names; a
            # partner only the file lists has no row yet, so the model cannot check that.
            policy = stored.find(policy_id, partner)
            errors += policy_entry_errors(
                label,
                entry,
                policy,
                stored_partners.get(partner or ""),
                "" if partner is None or partner in known else partner,
            )
        return errors

    def apply(self, data: Any, prune: bool, stats: Counter) -> None:
        partners = _configured_partners()
        stored = _StoredPolicies()
        kept: set[int] = set()
        for index, entry in enumerate(data):
            policy = stored.find(entry.get("id"), entry["partner"])
            # A partner pruned since the file was validated: the policy names its ECS id.
            pk = partners.get(entry["partner"])
            wanted = {
                **POLICY_KEYS.values(entry),
                "partner_id": pk,
                "partner_ecs_id": "" if pk is not None else entry["partner"],
            }
            configfile.save_if_changed(
                policy,
                wanted,
                stats,
                "policy",
                created=policy._state.adding,
                label=configfile.entry_label("policies", index, entry),
                keys={**POLICY_KEYS.fields, "partner_ecs_id": "partner"},
            )
            kept.add(policy.pk)
        if prune:
            for policy in stored.all:
                if policy.pk not in kept:
                    policy.delete()
                    stats["policy deleted"] += 1

    def export(self) -> Any:
        policies = AuthorizationPolicy.objects.select_related("partner")
        ordered = sorted(policies, key=lambda p: (p.requester_label, p.policy_id))
        return [export_policy(p) for p in ordered]


class _StoredPolicies:
    """The stored policy an entry means: by its id when it has one, else its partner's."""

    def __init__(self) -> None:
        self.all = list(AuthorizationPolicy.objects.select_related("partner"))
        self.by_id = {p.policy_id: p for p in self.all if p.policy_id}
        self.by_partner = {p.requester_label: p for p in self.all if not p.policy_id}

    def find(self, policy_id: str | None, partner: str | None) -> AuthorizationPolicy:
        found = self.by_id.get(policy_id) if policy_id else self.by_partner.get(partner or "")
        return found or AuthorizationPolicy()


configfile.register(PartnerSection())
configfile.register(PolicySection())
