"""DRF authentication with OAuth 2.0 access tokens, and the scope check every API makes.

A request without credentials is anonymous; whether anonymous calls are allowed is the
permission's business (``ECS_REQUIRE_AUTH`` for EDGE-4/EDGE-6; never for EDGE-10).  A request
with a token that is unknown, expired or revoked is refused with 401 -- never treated as
anonymous.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from oauth2_provider.oauth2_backends import get_oauthlib_core
from rest_framework import authentication, exceptions, permissions

from .models import APIClient


class ClientPrincipal:
    """request.user for a call made with an OAuth 2.0 token."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, client: APIClient | None, token: Any) -> None:
        self.client = client
        self.token = token

    def __str__(self) -> str:
        return str(self.client) if self.client else "OAuth client"


class OAuth2ClientAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Any) -> tuple[ClientPrincipal, Any] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header.lower().startswith("bearer "):
            return None
        valid, oauth_request = get_oauthlib_core().verify_request(request._request, scopes=[])
        if not valid:
            return None  # let another authenticator (a partner's static token) try
        token = oauth_request.access_token
        client = APIClient.objects.filter(application=token.application).first()
        return ClientPrincipal(client, token), token

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="ecs", error="invalid_token"'


def token_scope_ok(token: Any, scope: str) -> bool:
    return bool(token is not None and token.allow_scopes([scope]))


class ScopedAccess(permissions.BasePermission):
    """The view's ``required_scope`` on a token; anonymous only where the settings allow."""

    message = "The access token does not grant this API's scope."

    def has_permission(self, request: Any, view: Any) -> bool:
        principal = request.user
        if isinstance(principal, ClientPrincipal):
            if not token_scope_ok(principal.token, view.required_scope):
                raise exceptions.PermissionDenied(
                    f"The access token does not grant the scope {view.required_scope!r}."
                )
            return True
        if authentication.get_authorization_header(request):
            raise exceptions.AuthenticationFailed("The access token is unknown or expired.")
        if getattr(view, "anonymous_allowed", False) and not settings.ECS_REQUIRE_AUTH:
            return True
        raise exceptions.NotAuthenticated("An OAuth 2.0 access token is required.")


def caller(request: Any) -> str:
    """Who is calling, for per-client quotas: the OAuth client, else (a call without a token,
    where the settings allow one) the address -- as the per-client rate counts them."""
    token = getattr(request.user, "token", None)
    if token is not None:
        return f"client:{token.application_id}"
    return f"addr:{request.META.get('REMOTE_ADDR', '')}"


def check_identity(request: Any, kind: str, identity: str) -> None:
    """A token that speaks for an EEC/EES may only act as that EEC/EES."""
    principal = request.user
    if not isinstance(principal, ClientPrincipal):
        return  # anonymous access was allowed by the settings
    client = principal.client
    if client is None or client.kind != kind or client.identity != identity:
        from ecscore import errors

        raise errors.Forbidden(
            f"This client may not act as {kind.upper()} {identity!r}.",
            "IDENTITY_MISMATCH",
        )
