"""The token endpoint (``/oauth2/token/``): the client credentials grant and nothing else.

django-oauth-toolkit's default server offers every grant of RFC 6749. The password grant
checks the resource owner's password *before* it checks that the client may use that grant,
so any client could test admin passwords through it (``invalid_grant`` for a wrong password,
``unauthorized_client`` for the right one). ``ClientCredentialsServer`` knows one grant: any
other ``grant_type`` is answered ``unsupported_grant_type`` before anything is checked, the
same whatever else the request carries.

``ClientCredentialsValidator`` makes an unknown client id cost what a wrong secret costs (one
hash of the presented secret), so neither the answer nor its time tells which client ids
exist. ``TokenView`` rate-limits the endpoint: every request per client id
(``ECS_TOKEN_PER_CLIENT_PER_MINUTE``), and failed client authentications per address
(``ECS_TOKEN_FAILURES_PER_ADDRESS_PER_MINUTE``) -- failures only, since many EECs share one
address behind carrier NAT.

A request that names an RFC 8707 ``resource`` is no token for one of our own APIs: it asks
for a token to present elsewhere (a member ECS asking the ECS-ER, its federation's
authorization server, for a token to call another member).  The client is authenticated here
as for any token, and the scopes it asks for must be its own; what is issued, and for which
resources, is the business of the issuer an app registers (``set_resource_issuer``: the
federation app when this ECS is an ECS-ER).  Without one, every resource is ``invalid_target``.
Without ``resource``, nothing changes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.http import HttpRequest, HttpResponse
from oauth2_provider.models import Application
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.views import TokenView as ToolkitTokenView
from oauthlib.oauth2.rfc6749.endpoints import ResourceEndpoint, TokenEndpoint
from oauthlib.oauth2.rfc6749.grant_types import ClientCredentialsGrant
from oauthlib.oauth2.rfc6749.tokens import BearerToken

from ecscore import ratelimit

from .models import APIClient

GRANT_TYPE = "client_credentials"


class TokenRefused(Exception):
    """An OAuth 2.0 error answer (RFC 6749 section 5.2, RFC 8707 ``invalid_target``)."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


@dataclass(frozen=True)
class ResourceTokenRequest:
    """A client credentials request for a token to present at ``resource`` (RFC 8707)."""

    client: APIClient
    scopes: tuple[str, ...]
    resource: str


#: Issues the token for a ResourceTokenRequest: the token response's JSON members, or raises
#: TokenRefused.
ResourceIssuer = Callable[[ResourceTokenRequest], dict[str, Any]]
_resource_issuer: ResourceIssuer | None = None


def set_resource_issuer(issuer: ResourceIssuer | None) -> None:
    """Who issues tokens for other resources (the federation app registers its issuer)."""
    global _resource_issuer
    _resource_issuer = issuer


class ClientCredentialsServer(TokenEndpoint, ResourceEndpoint):
    """OAUTH2_SERVER_CLASS: issues tokens by the client credentials grant, verifies them."""

    def __init__(
        self,
        request_validator: Any,
        token_expires_in: Any = None,
        token_generator: Any = None,
        refresh_token_generator: Any = None,
        **kwargs: Any,  # the toolkit's options for grants we do not offer
    ) -> None:
        grant = ClientCredentialsGrant(request_validator)
        self.bearer = BearerToken(
            request_validator, token_generator, token_expires_in, refresh_token_generator
        )
        # Every grant_type goes to the one grant, which refuses any but its own before it
        # authenticates anyone.
        TokenEndpoint.__init__(
            self,
            default_grant_type=GRANT_TYPE,
            grant_types={GRANT_TYPE: grant},
            default_token_type=self.bearer,
        )
        ResourceEndpoint.__init__(self, default_token="Bearer", token_types={"Bearer": self.bearer})


class ClientCredentialsValidator(OAuth2Validator):
    """OAUTH2_VALIDATOR_CLASS: an unknown client costs one secret hash, as a wrong secret does."""

    def _load_application(self, client_id: str, request: Any) -> Any:
        application = super()._load_application(client_id, request)
        if application is None and client_id:
            request.ecs_unknown_client = True
        return application

    def authenticate_client(self, request: Any, *args: Any, **kwargs: Any) -> bool:
        request.ecs_unknown_client = False
        if super().authenticate_client(request, *args, **kwargs):
            return True
        if request.ecs_unknown_client:
            # The toolkit answers an unknown client id at once but hashes a wrong secret:
            # the difference in time would tell which client ids exist.
            _, secret = presented_client(request.headers.get("HTTP_AUTHORIZATION", ""), {})
            presented = secret or getattr(request, "client_secret", None) or ""
            make_password(presented, hasher=oauth2_settings.CLIENT_SECRET_HASHER)
        return False


def presented_client(authorization: str, form: Any) -> tuple[str, str]:
    """(client id, secret) as a token request presents them: HTTP Basic, else the form."""
    kind, _, credentials = authorization.partition(" ")
    if kind == "Basic" and credentials:
        try:
            decoded = base64.b64decode(credentials, validate=False).decode("utf-8")
        except (binascii.Error, ValueError):
            decoded = ""
        client_id, colon, secret = decoded.partition(":")
        if colon:
            return unquote_plus(client_id), unquote_plus(secret)
    return str(form.get("client_id", "") or ""), str(form.get("client_secret", "") or "")


def _oauth_answer(status: int, body: dict[str, Any], **headers: str) -> HttpResponse:
    response = HttpResponse(json.dumps(body), status=status, content_type="application/json")
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    for name, value in headers.items():
        response[name] = value
    return response


def _authenticated_client(request: HttpRequest) -> Application | None:
    """The OAuth application whose credentials the request presents, or None.  An unknown
    client id costs one secret hash, as a wrong secret does."""
    client_id, secret = presented_client(request.headers.get("Authorization", ""), request.POST)
    application = Application.objects.filter(client_id=client_id).first() if client_id else None
    if application is None:
        make_password(secret, hasher=oauth2_settings.CLIENT_SECRET_HASHER)
        return None
    if not secret or not ClientCredentialsValidator()._check_secret(
        secret, application.client_secret
    ):
        return None
    return application


def resource_token_response(request: HttpRequest) -> HttpResponse:
    """A token request naming ``resource``: authenticated here, issued by the registered
    issuer."""
    if request.POST.get("grant_type") != GRANT_TYPE:
        return _oauth_answer(400, {"error": "unsupported_grant_type"})
    application = _authenticated_client(request)
    if application is None:
        return _oauth_answer(
            401, {"error": "invalid_client"}, **{"WWW-Authenticate": 'Basic realm="ecs"'}
        )
    client = APIClient.objects.filter(application=application).first()
    if (
        client is None
        or application.authorization_grant_type != Application.GRANT_CLIENT_CREDENTIALS
    ):
        return _oauth_answer(400, {"error": "unauthorized_client"})
    resources = request.POST.getlist("resource")
    scopes = tuple(request.POST.get("scope", "").split())
    try:
        if len(resources) != 1 or not resources[0]:
            raise TokenRefused("invalid_target", "Name exactly one resource.")
        if not scopes or any(s not in client.scopes for s in scopes):
            raise TokenRefused("invalid_scope", "Ask for scopes this client was given.")
        if _resource_issuer is None:
            raise TokenRefused("invalid_target", "This server issues no tokens for resources.")
        body = _resource_issuer(ResourceTokenRequest(client, scopes, resources[0]))
    except TokenRefused as refused:
        return _oauth_answer(
            refused.status, {"error": refused.error, "error_description": refused.description}
        )
    return _oauth_answer(200, body)


def _too_many(wait: int, description: str) -> HttpResponse:
    body = {"error": "temporarily_unavailable", "error_description": description}
    response = HttpResponse(json.dumps(body), status=429, content_type="application/json")
    response["Retry-After"] = str(wait)
    response["Cache-Control"] = "no-store"
    return response


def _key(kind: str, value: str) -> str:
    # Hashed: a client id or address is whatever the caller sent, of any length.
    return f"token-{kind}:" + hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:32]


class TokenView(ToolkitTokenView):
    """``POST /oauth2/token/``: the toolkit's token view, rate-limited, one grant only."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        address = request.META.get("REMOTE_ADDR", "")
        failures_limit = settings.ECS_TOKEN_FAILURES_PER_ADDRESS_PER_MINUTE
        failures_key = _key("failures", address)
        if failures_limit:
            # Looked at, not counted: only a failure counts against the address.
            allowed, wait = ratelimit.peek(failures_key, failures_limit)
            if not allowed:
                return _too_many(wait, "Too many failed token requests from this address.")
        client_limit = settings.ECS_TOKEN_PER_CLIENT_PER_MINUTE
        client_id, _ = presented_client(request.headers.get("Authorization", ""), request.POST)
        if client_limit and client_id:
            allowed, wait = ratelimit.hit(_key("client", client_id), client_limit)
            if not allowed:
                return _too_many(wait, "Too many token requests for this client.")
        if "resource" in request.POST:
            response = resource_token_response(request)
        else:
            # Not the toolkit's post(): it would hand a device_code grant_type to its device
            # flow.
            response = self.authorization_flow_token_response(request)
        if response.status_code == 401 and failures_limit:  # invalid_client
            ratelimit.hit(failures_key, failures_limit)
        return response
