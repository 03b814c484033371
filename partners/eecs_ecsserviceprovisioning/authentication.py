"""Partner ECSs authenticate with ``Authorization: Bearer <token>``: a static token (we keep
only its hash), an OAuth 2.0 token of ours, or a federation token (a JWT the ECS-ER we are a
member of signed, verified through ``partners.federated``)."""

from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions, permissions

from access.authentication import ClientPrincipal, token_scope_ok
from access.models import APIClient
from ecscore import errors

from .. import federated, inbound
from ..federated import FederatedECS, Requester
from ..models import PartnerECS, hash_token
from . import API


class PartnerPrincipal:
    """The authenticated party of an EDGE-10 request (request.user)."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, partner: Requester) -> None:
        self.partner = partner

    def __str__(self) -> str:
        return f"partner {federated.requester_id(self.partner)}"


class InvalidFederationToken(exceptions.AuthenticationFailed):
    """401 for a federation token that fails a check (``WWW-Authenticate`` says
    ``error="invalid_token"``, as for our own OAuth 2.0 tokens)."""


class FederationTokenAuthentication(authentication.BaseAuthentication):
    """A federation token (a JWT) on EDGE-10: verified, or refused here; any other bearer
    token is left to the next authenticators.  First in line, so a JWT costs no token
    lookup in the database."""

    def authenticate(self, request: Any) -> tuple[PartnerPrincipal, Requester] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or token.count(".") != 2:
            return None  # no JWT (JWS compact form): a static or OAuth 2.0 token
        try:
            claims = federated.verify(token)
        except federated.TokenRejected as exc:
            inbound.record_rejection(None, 401, f"invalid federation token: {exc.reason}")
            raise InvalidFederationToken(
                f"The federation token is invalid: {exc.reason}."
            ) from None
        except federated.KeysUnavailable as exc:
            inbound.record_rejection(None, 503, f"federation token not verified: {exc.reason}")
            raise errors.Unavailable(
                "The keys of our ECS-ER cannot be fetched now; the federation token cannot "
                "be verified.",
                retry_after=exc.retry_after,
            ) from None
        if claims is None:
            return None
        requester = federated.requester_for(claims)
        return PartnerPrincipal(requester), requester

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="ecs", error="invalid_token"'


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


def requester_of(request: Any) -> Requester | None:
    """Who asks: a configured partner (static token, an OAuth 2.0 client that speaks for it
    -- kind partner, identity = partner id -- with the EDGE-10 scope, or a federation token
    naming it), or an ECS known only through the ECS-ER (a federation token)."""
    if isinstance(request.auth, PartnerECS | FederatedECS):
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


def partner_of(request: Any) -> PartnerECS | None:
    """The configured partner behind the request (subscriptions and notifications keep rows
    of it); an ECS known only through the ECS-ER is refused (403) here."""
    requester = requester_of(request)
    if isinstance(requester, FederatedECS):
        raise exceptions.PermissionDenied(
            "Only a configured partner ECS may subscribe or notify; this ECS is known only "
            "through the ECS-ER."
        )
    return requester


class IsPartner(permissions.BasePermission):
    def has_permission(self, request: Any, view: Any) -> bool:
        return requester_of(request) is not None
