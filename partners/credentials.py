"""Partner credentials: secrets as configured, hashed inbound tokens, client credentials.

A leaf of the partners app (models and the token client both use it, neither through the
other). A configured secret is a literal or ``env:NAME``, read from the environment only when
a call needs it; inbound tokens are kept as SHA-256 hashes.  Partners discovered at the
ECS-ER are called with federation tokens, whose client credentials the federation app
provides through ``set_federation_credentials``.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from django.utils.crypto import salted_hmac

ENV_PREFIX = "env:"
CACHE_PREFIX = "partners:oauth-token"


def resolve_secret(value: str) -> str:
    """A credential as configured: a literal, or env:NAME read from the environment now."""
    if value.startswith(ENV_PREFIX):
        return os.environ.get(value[len(ENV_PREFIX) :], "")
    return value


def hash_token(token: str) -> str:
    """Tokens are long random strings, so one SHA-256 round is the right hash (no salt needed)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True, repr=False)
class ClientCredentials:
    """What we present to a partner's token endpoint, read from the partner at call time."""

    partner_pk: int | None
    token_url: str
    client_id: str
    client_secret: str
    scope: str = ""
    secret_source: str = ""  # "env:NAME" when the secret comes from the environment
    # RFC 8707 resource indicator: the ECS id a federation token is for (partners discovered
    # at the ECS-ER); part of the cache key, as a token for one ECS is no use at another.
    resource: str = ""

    def __repr__(self) -> str:
        return f"ClientCredentials(token_url={self.token_url!r}, client_id={self.client_id!r})"

    @classmethod
    def configured(
        cls,
        token_url: str,
        client_id: str,
        secret: str,
        scope: str = "",
        partner_pk: int | None = None,
        resource: str = "",
    ) -> ClientCredentials:
        """From a configured ``secret`` (a literal or env:NAME, read from the environment now)."""
        return cls(
            partner_pk,
            token_url,
            client_id,
            resolve_secret(secret),
            scope,
            secret if secret.startswith(ENV_PREFIX) else "",
            resource=resource,
        )

    @property
    def cache_key(self) -> str:
        fingerprint = salted_hmac(
            CACHE_PREFIX,
            "\0".join(
                [self.token_url, self.client_id, self.client_secret, self.scope, self.resource]
            ),
            algorithm="sha256",
        ).hexdigest()
        return f"{CACHE_PREFIX}:{self.partner_pk}:{fingerprint}"


#: (partner pk, partner ECS id) -> what we present to a partner discovered at the ECS-ER:
#: the ``federation`` app registers it (``set_federation_credentials``), since partners may
#: not import federation; without it a discovered partner is called with no credential.
FederationCredentials = Callable[[int | None, str], "str | ClientCredentials"]
_federation_credentials: FederationCredentials | None = None


def set_federation_credentials(provider: FederationCredentials | None) -> None:
    """Register how discovered partners are authenticated to (the ECS-ER's tokens)."""
    global _federation_credentials
    _federation_credentials = provider


def federation_credential(partner_pk: int | None, partner_id: str) -> str | ClientCredentials:
    """What to present to a discovered partner: a federation token's client credentials."""
    if _federation_credentials is None:
        return ""
    return _federation_credentials(partner_pk, partner_id)
