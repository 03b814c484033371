"""The ``repository`` section of the configuration file: the ECS-ER role.

``repository: {enabled, maxRegistrationSeconds, discoveryLifetime, signingKeys}``, where
``signingKeys`` is ``[{kid, privateKey: "env:NAME" | "file:PATH"}]`` (the first signs; all
are published).  The file names where a key is, never the key.  ``repository: null`` (or
``enabled: false``) switches the role off; registrations are kept, and not served.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ecscore import configfile
from partners.credentials import ENV_PREFIX

from .models import ECSERMembership, RepositoryConfiguration
from .signing import reference_problem

REPOSITORY_KEYS = configfile.ModelKeys(
    RepositoryConfiguration,
    {
        "enabled": "enabled",
        "maxRegistrationSeconds": "max_registration_seconds",
        "discoveryLifetime": "discovery_lifetime",
        "signingKeys": "signing_keys",
    },
    wording={
        "maxRegistrationSeconds": "must be whole seconds",
        "discoveryLifetime": "must be whole seconds",
    },
)


def signing_key_problems(keys: Any) -> list[str]:
    if not isinstance(keys, list):
        return ["repository.signingKeys: must be a list of {kid, privateKey}"]
    problems, seen = [], set()
    for index, entry in enumerate(keys):
        label = f"repository.signingKeys[{index}]"
        if not isinstance(entry, dict):
            problems.append(f"{label}: must be a mapping with kid and privateKey")
            continue
        problems.extend(
            f"{label}.{k}: unknown key" for k in entry if k not in ("kid", "privateKey")
        )
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid:
            problems.append(f"{label}.kid: must be a non-empty string")
        elif kid in seen:
            problems.append(f"{label}.kid: {kid!r} is used twice")
        seen.add(kid)
        problem = reference_problem(entry.get("privateKey"))
        if problem:
            problems.append(f"{label}.privateKey: {problem}")
    return problems


class RepositorySection(configfile.ConfigSection):
    key = "repository"
    order = 45

    def validate(self, data: Any, document: dict[str, Any]) -> list[str]:
        if data is None:
            return []
        if not isinstance(data, dict):
            return ["repository: must be a mapping with enabled, ... (or null to remove it)"]
        errors = REPOSITORY_KEYS.unknown("repository", data)
        found, bad = REPOSITORY_KEYS.type_errors("repository", data, skip=["signingKeys"])
        if "signingKeys" in data:
            key_problems = signing_key_problems(data["signingKeys"])
            found += key_problems
            if key_problems:
                bad.add("signingKeys")
        config = RepositoryConfiguration(pk=1)
        for name, value in REPOSITORY_KEYS.values(data, invalid=bad).items():
            setattr(config, name, value)
        return errors + found + REPOSITORY_KEYS.errors(config, "repository", exclude=bad)

    def apply(self, data: Any, prune: bool, stats: Counter) -> None:
        current = RepositoryConfiguration.objects.filter(pk=1).first()
        if data is None:
            if current is not None:
                current.delete()
                stats["repository deleted"] += 1
            return
        config = current or RepositoryConfiguration(pk=1)
        configfile.save_if_changed(
            config,
            REPOSITORY_KEYS.values(data),
            stats,
            "repository",
            created=current is None,
            label="repository",
            keys=REPOSITORY_KEYS.fields,
        )

    def export(self) -> Any:
        config = RepositoryConfiguration.objects.filter(pk=1).first()
        return None if config is None else REPOSITORY_KEYS.export(config)


configfile.register(RepositorySection())


MEMBERSHIP_KEYS = configfile.ModelKeys(
    ECSERMembership,
    {
        "apiRoot": "api_root",
        "tokenUrl": "token_url",
        "clientId": "client_id",
        "clientSecret": "client_secret",
        "issuer": "issuer",
        "register": "register",
        "discover": "discover",
    },
)
SECRET = ("clientSecret",)


class MembershipSection(configfile.ConfigSection):
    """``ecsEr: {apiRoot, tokenUrl, clientId, clientSecret, issuer, register, discover}``:
    the ECS-ER this ECS is a member of (``null`` removes it)."""

    key = "ecsEr"
    order = 46

    def validate(self, data: Any, document: dict[str, Any]) -> list[str]:
        if data is None:
            return []
        if not isinstance(data, dict):
            return ["ecsEr: must be a mapping with apiRoot, tokenUrl, ... (or null to remove it)"]
        errors = MEMBERSHIP_KEYS.unknown("ecsEr", data)
        found, bad = MEMBERSHIP_KEYS.type_errors("ecsEr", data)
        # A secret the entry leaves out is the stored one (export never writes a literal).
        config = ECSERMembership.objects.filter(pk=1).first() or ECSERMembership(pk=1)
        for name, value in MEMBERSHIP_KEYS.values(data, keep=SECRET, invalid=bad).items():
            setattr(config, name, value)
        return errors + found + MEMBERSHIP_KEYS.errors(config, "ecsEr", exclude=bad)

    def apply(self, data: Any, prune: bool, stats: Counter) -> None:
        current = ECSERMembership.objects.filter(pk=1).first()
        if data is None:
            if current is not None:
                current.delete()
                stats["ecsEr deleted"] += 1
            return
        config = current or ECSERMembership(pk=1)
        configfile.save_if_changed(
            config,
            MEMBERSHIP_KEYS.values(data, keep=SECRET),
            stats,
            "ecsEr",
            created=current is None,
            label="ecsEr",
            keys=MEMBERSHIP_KEYS.fields,
        )

    def export(self) -> Any:
        config = ECSERMembership.objects.filter(pk=1).first()
        if config is None:
            return None
        entry = MEMBERSHIP_KEYS.export(config)
        if not entry["clientSecret"].startswith(ENV_PREFIX):
            del entry["clientSecret"]  # a literal secret is never exported
        return entry


configfile.register(MembershipSection())
