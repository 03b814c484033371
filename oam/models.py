"""Per-user OAM API tokens, in the NetBox manner.

A token acts as its user, with the user's Django model permissions (the ``operator`` and
``auditor`` groups). Only the SHA-256 of the key is stored: keys are 160-bit random values, so
a slow password hash adds nothing (as for partner tokens). The key is shown once, when the
token is made; a token may expire, and may be read-only.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone


def hash_key(key: str) -> str:
    """What is stored of a key: its SHA-256, hex."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    """A new key: 160 random bits, hex (as NetBox's)."""
    return secrets.token_hex(20)


class OAMTokenManager(models.Manager["OAMToken"]):
    def issue(
        self,
        user: Any,
        expires: Any = None,
        read_only: bool = False,
        description: str = "",
    ) -> tuple[OAMToken, str]:
        """A new token for ``user`` and its key (shown to whoever asked, never again)."""
        key = new_key()
        token = self.create(
            user=user,
            key_hash=hash_key(key),
            prefix=key[:8],
            expires=expires,
            read_only=read_only,
            description=description,
        )
        return token, key

    def for_key(self, key: str) -> OAMToken | None:
        """The live token with this key (not expired, its user active), or None."""
        token = self.select_related("user").filter(key_hash=hash_key(key)).first()
        if token is None or not token.user.is_active or token.expired:
            return None
        return token


class OAMToken(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oam_tokens"
    )
    key_hash = models.CharField("key (SHA-256)", max_length=64, unique=True, editable=False)
    prefix = models.CharField(
        max_length=8, editable=False, help_text="The key's first characters, to tell it apart."
    )
    description = models.CharField(max_length=200, blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)
    expires = models.DateTimeField(null=True, blank=True, help_text="Empty: never.")
    last_used = models.DateTimeField(null=True, blank=True, editable=False)
    read_only = models.BooleanField(
        default=False, help_text="Reads only, whatever its user's permissions allow."
    )

    objects = OAMTokenManager()

    class Meta:
        verbose_name = "OAM API token"
        verbose_name_plural = "OAM API tokens"
        ordering = ["user__username", "-created"]

    def __str__(self) -> str:
        return f"{self.user} {self.prefix}…"

    @property
    def expired(self) -> bool:
        return self.expires is not None and self.expires <= timezone.now()
