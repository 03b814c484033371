"""The ``partners`` and ``policies`` sections of the configuration file.

``partners``: ``{id, ecsp, apiRoot, plmns, consult, outboundToken, inboundToken, tokenUrl,
clientId, clientSecret, scope, defaultLifetime, maxLifetime, timeout, enabled, shareUeId,
subscribe}`` -- identified by ``id``.  ``inboundToken`` is a literal token or
``sha256:<hex>``; only the hash is stored and export writes the hash.  ``outboundToken`` and
``clientSecret`` are a literal or ``env:NAME``; export writes only the ``env:`` form.
``tokenUrl`` (the partner's OAuth 2.0 token endpoint) needs ``clientId`` and ``clientSecret``.

``policies``: ``{id, partner, enabled, validFrom, validUntil, servingPlmns, easIds, ecsps,
dnns, lifetime, ratePerMinute}`` -- identified by ``id`` when given, else by ``partner``.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any
from urllib.parse import urlparse

from django.utils.dateparse import parse_datetime

from ecscore import configfile
from ecscore.configfile import canonical
from ecscore.datetimes import format_datetime
from provisioning.configsection import _length_errors, _plmn_errors, _save_if_changed

from .models import (
    DEFAULT_SCOPE,
    ENV_PREFIX,
    TOKEN_HASH_PREFIX,
    AuthorizationPolicy,
    PartnerECS,
    hash_token,
)

# Credentials we present to a partner: a literal or env:NAME, never exported literally.
CREDENTIAL_MEMBERS = {"outboundToken": "outbound_token", "clientSecret": "client_secret"}

PARTNER_KEYS = {
    "id",
    "ecsp",
    "apiRoot",
    "plmns",
    "consult",
    "outboundToken",
    "inboundToken",
    "tokenUrl",
    "clientId",
    "clientSecret",
    "scope",
    "defaultLifetime",
    "maxLifetime",
    "timeout",
    "enabled",
    "shareUeId",
    "subscribe",
    "breakerThreshold",
    "breakerCooldown",
}
POLICY_KEYS = {
    "id",
    "partner",
    "enabled",
    "validFrom",
    "validUntil",
    "servingPlmns",
    "easIds",
    "ecsps",
    "dnns",
    "lifetime",
    "ratePerMinute",
}
CONSULT_MODES = {choice for choice, _ in PartnerECS.CONSULT_CHOICES}
# File members stored in length-limited columns (PostgreSQL refuses longer values mid-apply).
PARTNER_COLUMNS = {
    "id": "partner_id",
    "ecsp": "ecsp",
    "apiRoot": "api_root",
    "outboundToken": "outbound_token",
    "tokenUrl": "token_url",
    "clientId": "client_id",
    "clientSecret": "client_secret",
    "scope": "scope",
}
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _is_int(value: Any, low: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _string_list_errors(where: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        return [f"{where}: must be a list of non-empty strings"]
    return []


def _oauth_errors(label: str, entry: dict[str, Any], stored_secrets: dict[str, str]) -> list[str]:
    """tokenUrl: an http(s) URL, with a client id and a secret (in the file or stored)."""
    token_url = entry.get("tokenUrl")
    if not isinstance(token_url, str) or not token_url:
        return []
    errors = []
    url = urlparse(token_url)
    if url.scheme not in ("http", "https") or not url.netloc:
        errors.append(f"{label}.tokenUrl: must be an http(s) URL")
    if not entry.get("clientId"):
        errors.append(f"{label}.clientId: required with tokenUrl")
    partner_id = entry.get("id") if isinstance(entry.get("id"), str) else ""
    secret = entry["clientSecret"] if "clientSecret" in entry else stored_secrets.get(partner_id)
    if not secret:
        errors.append(f"{label}.clientSecret: required with tokenUrl")
    return errors


def _inbound_hash(value: str) -> str:
    if value.startswith(TOKEN_HASH_PREFIX):
        return value[len(TOKEN_HASH_PREFIX) :].lower()
    return hash_token(value)


class PartnerSection(configfile.ConfigSection):
    key = "partners"
    order = 30

    def validate(self, data: Any, document: dict[str, Any]) -> list[str]:
        if not isinstance(data, list):
            return ["partners: must be a list"]
        errors: list[str] = []
        seen: set[str] = set()
        # A client secret absent from the file keeps the stored one (export omits literals).
        stored_secrets = dict(
            PartnerECS.objects.exclude(client_secret="").values_list("partner_id", "client_secret")
        )
        for index, entry in enumerate(data):
            label = f"partners[{index}]"
            if not isinstance(entry, dict):
                errors.append(f"{label}: must be a mapping")
                continue
            if isinstance(entry.get("id"), str):
                label += f" ({entry['id']})"
            errors += [f"{label}.{k}: unknown key" for k in entry if k not in PARTNER_KEYS]
            if not isinstance(entry.get("id"), str) or not entry.get("id"):
                errors.append(f"{label}.id: required, a non-empty string")
            elif entry["id"] in seen:
                errors.append(f"{label}.id: listed twice")
            else:
                seen.add(entry["id"])
            url = urlparse(str(entry.get("apiRoot", "")))
            if url.scheme not in ("http", "https") or not url.netloc:
                errors.append(f"{label}.apiRoot: required, an http(s) URL")
            if "plmns" in entry:
                errors += _plmn_errors(f"{label}.plmns", entry["plmns"])
            if entry.get("consult", PartnerECS.CONSULT_ROAMING_ONLY) not in CONSULT_MODES:
                errors.append(f"{label}.consult: one of {', '.join(sorted(CONSULT_MODES))}")
            for key in (
                "ecsp",
                "outboundToken",
                "inboundToken",
                "tokenUrl",
                "clientId",
                "clientSecret",
                "scope",
            ):
                if key in entry and not isinstance(entry[key], str):
                    errors.append(f"{label}.{key}: must be a string")
            errors += _length_errors(f"{label}.", entry, PartnerECS, PARTNER_COLUMNS)
            inbound = entry.get("inboundToken")
            if (
                isinstance(inbound, str)
                and inbound.startswith(TOKEN_HASH_PREFIX)
                and not (_HEX64.match(inbound[len(TOKEN_HASH_PREFIX) :].lower()))
            ):
                errors.append(f"{label}.inboundToken: sha256: must be followed by 64 hex digits")
            for key in CREDENTIAL_MEMBERS:
                if entry.get(key) == ENV_PREFIX:
                    errors.append(f"{label}.{key}: env: needs a variable name")
            errors += _oauth_errors(label, entry, stored_secrets)
            for key in ("defaultLifetime", "maxLifetime"):
                if key in entry and not _is_int(entry[key]):
                    errors.append(f"{label}.{key}: must be whole seconds, 0 or more")
            timeout = entry.get("timeout", 2)
            if (
                isinstance(timeout, bool)
                or not isinstance(timeout, int | float)
                or not (0.05 <= timeout <= 60)
            ):
                errors.append(f"{label}.timeout: must be seconds between 0.05 and 60")
            if "breakerThreshold" in entry and not (
                _is_int(entry["breakerThreshold"]) and entry["breakerThreshold"] >= 1
            ):
                errors.append(f"{label}.breakerThreshold: must be a whole number, 1 or more")
            cooldown = entry.get("breakerCooldown", 30)
            if (
                isinstance(cooldown, bool)
                or not isinstance(cooldown, int | float)
                or not (0.1 <= cooldown <= 86400)
            ):
                errors.append(f"{label}.breakerCooldown: must be seconds between 0.1 and 86400")
            for key in ("enabled", "shareUeId", "subscribe"):
                if key in entry and not isinstance(entry[key], bool):
                    errors.append(f"{label}.{key}: must be true or false")
        return errors

    def apply(self, data: Any, prune: bool, stats: Counter) -> None:
        existing = {p.partner_id: p for p in PartnerECS.objects.all()}
        for entry in data:
            partner = existing.get(entry["id"]) or PartnerECS()
            wanted = {
                "partner_id": entry["id"],
                "ecsp": entry.get("ecsp", ""),
                "api_root": entry["apiRoot"],
                "plmns": entry.get("plmns", []),
                "consult": entry.get("consult", PartnerECS.CONSULT_ROAMING_ONLY),
                "default_lifetime": entry.get("defaultLifetime", 300),
                "max_lifetime": entry.get("maxLifetime", 86400),
                "timeout": float(entry.get("timeout", 2)),
                "enabled": entry.get("enabled", True),
                "share_ue_id": entry.get("shareUeId", False),
                "subscribe": entry.get("subscribe", False),
                "breaker_threshold": entry.get("breakerThreshold", 5),
                "breaker_cooldown": float(entry.get("breakerCooldown", 30)),
            }
            # Absent credentials keep what is stored (a token generated in the admin, or a
            # literal outbound token or client secret, which export never writes out).
            wanted.update(
                {
                    "token_url": entry.get("tokenUrl", ""),
                    "client_id": entry.get("clientId", ""),
                    "scope": entry.get("scope", DEFAULT_SCOPE),
                }
            )
            for member, field in CREDENTIAL_MEMBERS.items():
                if member in entry:  # absent: keep the stored credential
                    wanted[field] = entry[member]
            if "inboundToken" in entry:
                # An empty token means none: the partner cannot authenticate.
                token = entry["inboundToken"]
                wanted["inbound_token_hash"] = _inbound_hash(token) if token else ""
            _save_if_changed(partner, wanted, stats, "partner", created=partner._state.adding)
        if prune:
            listed = {entry["id"] for entry in data}
            for partner_id, partner in existing.items():
                if partner_id not in listed:
                    partner.delete()
                    stats["partner deleted"] += 1

    def export(self) -> Any:
        out = []
        for p in PartnerECS.objects.order_by("partner_id"):
            entry: dict[str, Any] = {"id": p.partner_id}
            if p.ecsp:
                entry["ecsp"] = p.ecsp
            entry["apiRoot"] = p.api_root
            entry["plmns"] = canonical(p.plmns)
            entry["consult"] = p.consult
            if p.outbound_token.startswith(ENV_PREFIX):
                # A literal credential is a secret and is never exported; env: references are.
                entry["outboundToken"] = p.outbound_token
            if p.inbound_token_hash:
                entry["inboundToken"] = TOKEN_HASH_PREFIX + p.inbound_token_hash
            if p.token_url:
                entry["tokenUrl"] = p.token_url
            if p.client_id:
                entry["clientId"] = p.client_id
            if p.client_secret.startswith(ENV_PREFIX):
                entry["clientSecret"] = p.client_secret  # as outboundToken above
            if p.token_url or p.scope != DEFAULT_SCOPE:
                entry["scope"] = p.scope
            entry.update(
                {
                    "defaultLifetime": p.default_lifetime,
                    "maxLifetime": p.max_lifetime,
                    "timeout": p.timeout,
                    "enabled": p.enabled,
                    "shareUeId": p.share_ue_id,
                    "subscribe": p.subscribe,
                    "breakerThreshold": p.breaker_threshold,
                    "breakerCooldown": p.breaker_cooldown,
                }
            )
            out.append(entry)
        return out


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
        known = listed | set(PartnerECS.objects.values_list("partner_id", flat=True))
        errors: list[str] = []
        identities: set[tuple] = set()
        for index, entry in enumerate(data):
            label = f"policies[{index}]"
            if not isinstance(entry, dict):
                errors.append(f"{label}: must be a mapping")
                continue
            if isinstance(entry.get("id"), str):
                label += f" ({entry['id']})"
            errors += [f"{label}.{k}: unknown key" for k in entry if k not in POLICY_KEYS]
            if "id" in entry and not isinstance(entry["id"], str):
                errors.append(f"{label}.id: must be a string")
            errors += _length_errors(f"{label}.", entry, AuthorizationPolicy, {"id": "policy_id"})
            partner = entry.get("partner")
            if not isinstance(partner, str) or partner not in known:
                errors.append(f"{label}.partner: {partner!r} is not a partner")
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
            if "enabled" in entry and not isinstance(entry["enabled"], bool):
                errors.append(f"{label}.enabled: must be true or false")
            for key in ("validFrom", "validUntil"):
                if key in entry and (
                    not isinstance(entry[key], str) or parse_datetime(entry[key]) is None
                ):
                    errors.append(f"{label}.{key}: must be a date-time with a time zone")
            starts, ends = (
                parse_datetime(entry[k]) if isinstance(entry.get(k), str) else None
                for k in ("validFrom", "validUntil")
            )
            if starts and ends and ends <= starts:
                errors.append(f"{label}.validUntil: must be after validFrom")
            if "servingPlmns" in entry:
                errors += _plmn_errors(f"{label}.servingPlmns", entry["servingPlmns"])
            for key in ("easIds", "ecsps", "dnns"):
                if key in entry:
                    errors += _string_list_errors(f"{label}.{key}", entry[key])
            for key in ("lifetime", "ratePerMinute"):
                if key in entry and entry[key] is not None and not _is_int(entry[key]):
                    errors.append(f"{label}.{key}: must be a whole number, 0 or more")
        return errors

    def apply(self, data: Any, prune: bool, stats: Counter) -> None:
        partners = {p.partner_id: p for p in PartnerECS.objects.all()}
        existing = list(AuthorizationPolicy.objects.select_related("partner"))
        by_id = {p.policy_id: p for p in existing if p.policy_id}
        by_partner = {p.partner.partner_id: p for p in existing if not p.policy_id}
        kept: set[int] = set()
        for index, entry in enumerate(data):
            if entry["partner"] not in partners:
                # Listed in the database when the file was validated, pruned since.
                raise configfile.ConfigError(
                    [
                        f"policies[{index}].partner: {entry['partner']!r} is not listed under "
                        "partners, so --prune removes it"
                    ]
                )
            if entry.get("id"):
                policy = by_id.get(entry["id"]) or AuthorizationPolicy()
            else:
                policy = by_partner.get(entry["partner"]) or AuthorizationPolicy()
            wanted = {
                "policy_id": entry.get("id", ""),
                "partner_id": partners[entry["partner"]].pk,
                "enabled": entry.get("enabled", True),
                "valid_from": parse_datetime(entry["validFrom"])
                if entry.get("validFrom")
                else None,
                "valid_until": parse_datetime(entry["validUntil"])
                if entry.get("validUntil")
                else None,
                "serving_plmns": entry.get("servingPlmns"),
                "eas_ids": entry.get("easIds", []),
                "ecsps": entry.get("ecsps"),
                "dnns": entry.get("dnns"),
                "lifetime": entry.get("lifetime"),
                "rate_per_minute": entry.get("ratePerMinute"),
            }
            _save_if_changed(policy, wanted, stats, "policy", created=policy._state.adding)
            kept.add(policy.pk)
        if prune:
            for policy in existing:
                if policy.pk not in kept:
                    policy.delete()
                    stats["policy deleted"] += 1

    def export(self) -> Any:
        out = []
        policies = AuthorizationPolicy.objects.select_related("partner")
        for p in sorted(policies, key=lambda p: (p.partner.partner_id, p.policy_id)):
            entry: dict[str, Any] = {}
            if p.policy_id:
                entry["id"] = p.policy_id
            entry["partner"] = p.partner.partner_id
            entry["enabled"] = p.enabled
            if p.valid_from:
                entry["validFrom"] = format_datetime(p.valid_from)
            if p.valid_until:
                entry["validUntil"] = format_datetime(p.valid_until)
            if p.serving_plmns is not None:
                entry["servingPlmns"] = canonical(p.serving_plmns)
            entry["easIds"] = list(p.eas_ids or [])
            for key, value in (("ecsps", p.ecsps), ("dnns", p.dnns)):
                if value is not None:
                    entry[key] = list(value)
            if p.lifetime is not None:
                entry["lifetime"] = p.lifetime
            if p.rate_per_minute is not None:
                entry["ratePerMinute"] = p.rate_per_minute
            out.append(entry)
        return out


configfile.register(PartnerSection())
configfile.register(PolicySection())
