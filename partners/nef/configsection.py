"""The ``nef`` section of the configuration file: the NEF that tells us where UEs are.

``nef: {apiRoot, afId, tokenUrl, clientId, clientSecret, scope, timeout, cacheSeconds,
breakerThreshold, breakerCooldown}``; ``nef: null`` removes it (the UE's roaming status then
comes from ``connInfo`` alone).  ``clientSecret`` is a literal or ``env:NAME``; a literal is
never exported, and a
file that leaves it out keeps the stored one.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ecscore import configfile

from ..credentials import ENV_PREFIX
from ..models import NEFConfiguration

NEF_KEYS = configfile.ModelKeys(
    NEFConfiguration,
    {
        "apiRoot": "api_root",
        "afId": "af_id",
        "tokenUrl": "token_url",
        "clientId": "client_id",
        "clientSecret": "client_secret",
        "scope": "scope",
        "timeout": "timeout",
        "cacheSeconds": "cache_seconds",
        "breakerThreshold": "breaker_threshold",
        "breakerCooldown": "breaker_cooldown",
    },
    wording={"cacheSeconds": "must be whole seconds"},
)
# A literal secret is not exported; a file without one keeps the stored one.
KEPT = {"clientSecret"}


class NEFSection(configfile.ConfigSection):
    key = "nef"
    order = 40

    def validate(self, data: Any, document: dict[str, Any]) -> list[str]:
        if data is None:
            return []
        if not isinstance(data, dict):
            return ["nef: must be a mapping with apiRoot, afId, ... (or null to remove it)"]
        errors = NEF_KEYS.unknown("nef", data)
        found, bad = NEF_KEYS.type_errors("nef", data)
        config = NEFConfiguration.objects.filter(pk=1).first() or NEFConfiguration(pk=1)
        for name, value in NEF_KEYS.values(data, keep=KEPT, invalid=bad).items():
            setattr(config, name, value)
        return errors + found + NEF_KEYS.errors(config, "nef", exclude=bad)

    def apply(self, data: Any, prune: bool, stats: Counter) -> None:
        current = NEFConfiguration.objects.filter(pk=1).first()
        if data is None:
            if current is not None:
                current.delete()
                stats["nef deleted"] += 1
            return
        config = current or NEFConfiguration(pk=1)
        configfile.save_if_changed(
            config,
            NEF_KEYS.values(data, keep=KEPT),
            stats,
            "nef",
            created=current is None,
            label="nef",
            keys=NEF_KEYS.fields,
        )

    def export(self) -> Any:
        config = NEFConfiguration.objects.filter(pk=1).first()
        return None if config is None else export_entry(config)


def export_entry(config: NEFConfiguration) -> dict[str, Any]:
    """The section's entry for ``config``: a literal secret is left out, ``env:NAME`` kept."""
    entry = NEF_KEYS.export(config)
    if not config.client_secret.startswith(ENV_PREFIX):
        entry.pop("clientSecret")
    return entry


configfile.register(NEFSection())
