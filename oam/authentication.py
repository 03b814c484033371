"""Who calls the OAM API, and what they may do there.

* ``OAMTokenAuthentication``: ``Authorization: Token <key>``. An unknown or expired key is a
  401, never anonymous. Each token's use is rate limited (``ECS_OAM_TOKEN_RATE_PER_MINUTE``
  requests per sliding minute; 0 = none), so a leaked key running wild is held back.
* ``OAMPermission``: deny by default. Reads need the model's ``view`` permission, writes the
  ``add``/``change``/``delete`` one (the admin's, so the ``operator`` and ``auditor`` groups
  mean the same everywhere); a read-only token reads only.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework import authentication, exceptions, permissions

from ecscore import errors, ratelimit

from .models import OAMToken

KEYWORD = "token"
# last_used is written at most this often per token: not one UPDATE per request.
_LAST_USED_EVERY = dt.timedelta(minutes=1)


class OAMTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Any) -> tuple[Any, OAMToken] | None:
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Send Authorization: Token <key>.")
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("The token is unknown or expired.") from exc
        token = OAMToken.objects.for_key(key)
        if token is None:
            raise exceptions.AuthenticationFailed("The token is unknown or expired.")
        limit = getattr(settings, "ECS_OAM_TOKEN_RATE_PER_MINUTE", 600)
        if limit:
            # By the key's hash, not the row: a row id can come back after a deletion.
            allowed, wait = ratelimit.hit(f"oam-token:{token.key_hash[:32]}", limit)
            if not allowed:
                raise errors.RateLimited("Too many requests with this token.", retry_after=wait)
        now = timezone.now()
        if token.last_used is None or now - token.last_used > _LAST_USED_EVERY:
            OAMToken.objects.filter(pk=token.pk).update(last_used=now)
        return token.user, token

    def authenticate_header(self, request: Any) -> str:
        return 'Token realm="oam"'


class OAMSessionAuthentication(authentication.SessionAuthentication):
    """A staff user logged in to the admin (the browsable API in debug mode); CSRF applies."""

    def authenticate(self, request: Any) -> tuple[Any, None] | None:
        found = super().authenticate(request)
        if found is not None and not found[0].is_staff:
            return None
        return found


class OAMPermission(permissions.DjangoModelPermissions):
    """Django model permissions, ``view`` for reads; a view may name other permissions per
    action (``action_permissions``: action -> (app_label.codename, ...))."""

    perms_map = {
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "POST": ["%(app_label)s.add_%(model_name)s"],
        "PUT": ["%(app_label)s.change_%(model_name)s"],
        "PATCH": ["%(app_label)s.change_%(model_name)s"],
        "DELETE": ["%(app_label)s.delete_%(model_name)s"],
    }

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            raise exceptions.NotAuthenticated("An OAM API token is required.")
        if not hasattr(view, request.method.lower()):
            return True  # the view answers 405, which says more than a 403 would
        write = request.method not in permissions.SAFE_METHODS
        if write and isinstance(request.auth, OAMToken) and request.auth.read_only:
            raise exceptions.PermissionDenied("This token is read-only.")
        action_perms = getattr(view, "action_permissions", {}).get(getattr(view, "action", None))
        if action_perms is not None:
            perms = action_perms
        else:
            perms = self.get_required_permissions(request.method, view.permission_model())
        if not user.has_perms(perms):
            raise exceptions.PermissionDenied(
                "Your user lacks the permission for this: " + ", ".join(sorted(perms))
            )
        return True
