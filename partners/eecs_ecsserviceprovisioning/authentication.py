"""Partner ECSs authenticate with ``Authorization: Bearer <token>``; we keep only its hash."""

from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions, permissions

from access.authentication import ClientPrincipal, token_scope_ok
from access.models import APIClient

from ..models import PartnerECS, hash_token
from . import API


class PartnerPrincipal:
    """The authenticated party of an EDGE-10 request (request.user)."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, partner: PartnerECS) -> None:
        self.partner = partner

    def __str__(self) -> str:
        return f"partner {self.partner.partner_id}"


class PartnerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Any) -> tuple[PartnerPrincipal, PartnerECS] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise exceptions.AuthenticationFailed("Send the partner token as a Bearer token.")
        partner = PartnerECS.objects.filter(inbound_token_hash=hash_token(token.strip())).first()
        if partner is None:
            raise exceptions.AuthenticationFailed("Unknown credentials.")
        return PartnerPrincipal(partner), partner

    def authenticate_header(self, request: Any) -> str:
        return f'{self.keyword} realm="{API.name}"'


def partner_of(request: Any) -> PartnerECS | None:
    """The partner ECS behind the request: its static token, or an OAuth 2.0 client that
    speaks for it (kind partner, identity = partner id) with the EDGE-10 scope."""
    if isinstance(request.auth, PartnerECS):
        return request.auth
    principal = request.user
    if isinstance(principal, ClientPrincipal) and principal.client is not None:
        client = principal.client
        if client.kind != APIClient.KIND_PARTNER:
            raise exceptions.PermissionDenied("This client is not a partner ECS.")
        if not token_scope_ok(principal.token, API.scope):
            raise exceptions.PermissionDenied(
                f"The access token does not grant the scope {API.scope!r}."
            )
        return PartnerECS.objects.filter(partner_id=client.identity).first()
    return None


class IsPartner(permissions.BasePermission):
    def has_permission(self, request: Any, view: Any) -> bool:
        return partner_of(request) is not None
