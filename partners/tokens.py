"""OAuth 2.0 access tokens for calling partner ECSs (client credentials grant, RFC 6749 4.4).

A partner whose configuration gives a token URL is called with an access token obtained at
that endpoint with our client id and secret (HTTP Basic, RFC 6749 2.3.1); any other partner
with its static outbound token.  ``send_authorized`` is the one place every outbound call to a
partner goes through (EDGE-10 requests, subscriptions at partners): it puts the right
Authorization header on the call and, when the partner answers 401 to a token we had cached,
drops that token and tries once more with a fresh one -- all within the caller's deadline.

Tokens are kept in the Django cache (Redis in production, so every web node and worker
shares them) under the partner's pk and an HMAC of (token URL, client id, secret, scope,
RFC 8707 resource):
changing any of them starts afresh, and the key reveals none of them.  A token is kept until
``EXPIRY_MARGIN`` seconds before its ``expires_in`` (``DEFAULT_EXPIRES_IN`` when the endpoint
names none).  Callers on any node that need a new token at the same time share one token
request (the single flight identical provisioning misses use).

A token endpoint that cannot give us a token raises ``TokenUnavailable`` with a reason fit
for the audit log: ``refused`` when the endpoint turned our credentials down (the partner
saying no), else a fault (down, slow, garbage).  No token or secret is ever part of a
reason, a log line or a cache key.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote_plus

from django.core.cache import cache

from ecscore import outbound, singleflight

from .credentials import ClientCredentials

logger = logging.getLogger(__name__)

EXPIRY_MARGIN = 30  # seconds before expires_in that a cached token is no longer used
DEFAULT_EXPIRES_IN = 300  # seconds, when the token endpoint does not say
MAX_TOKEN_ANSWER_BYTES = 64 * 1024
# RFC 6749 appendix A.12 (VSCHAR): also keeps anything that could break a header line out.
_TOKEN_CHARS = re.compile(r"^[\x21-\x7e]{1,4096}$")
# Error codes of RFC 6749 5.2: an endpoint answering one of these turned our request down.
_REFUSALS = {
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
}

R = TypeVar("R")


class TokenUnavailable(Exception):
    """No access token could be had; ``reason`` names why (never a credential)."""

    def __init__(self, reason: str, status: int | None = None, refused: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.refused = refused


def send_authorized(
    credential: str | ClientCredentials,
    deadline: float,
    send: Callable[[dict[str, str]], R],
    unauthorized: Callable[[R], bool],
) -> R:
    """``send(headers)`` with the Authorization header for ``credential``; its result.

    ``credential`` is a static token ("" = none) or ``ClientCredentials``.  With client
    credentials, a 401 (``unauthorized(result)``) to a cached token -- expired or revoked at
    the partner before we knew -- drops it and sends once more with a fresh one; a token just
    issued and still refused is not asked for again.  ``send`` must keep to ``deadline``
    (``time.monotonic()``), as the token requests do.  Raises ``TokenUnavailable``.
    """
    if not isinstance(credential, ClientCredentials):
        return send({"Authorization": f"Bearer {credential}"} if credential else {})
    token, cached = obtain(credential, deadline)
    result = send({"Authorization": f"Bearer {token}"})
    if not unauthorized(result):
        return result
    forget(credential, token)
    if not cached:
        return result
    token, _ = obtain(credential, deadline, fresh=True)
    return send({"Authorization": f"Bearer {token}"})


def obtain(
    credentials: ClientCredentials, deadline: float, fresh: bool = False
) -> tuple[str, bool]:
    """(an access token, whether it came from the cache); ``fresh`` skips the cache."""
    if not credentials.client_secret:
        where = credentials.secret_source or "the configuration"
        raise TokenUnavailable(f"no client secret for the token endpoint (empty in {where})")
    key = credentials.cache_key
    if not fresh:
        token = _cache_call(cache.get, key)
        if isinstance(token, str) and token:
            return token, True
    return _request_once(credentials, deadline), False


def _request_once(credentials: ClientCredentials, deadline: float) -> str:
    """A new token, asked for once by all who need one at the same time.

    Nodes that find no token cached at once (after a start, an expiry, a revocation) join
    one flight, as identical provisioning misses do: the first asks the token endpoint and
    caches the token, the others wait for it within their deadline.  When the leader gets
    none, each asks for itself.
    """
    key = credentials.cache_key
    hold = max(0.0, deadline - time.monotonic())
    flight = _cache_call(singleflight.join, f"token:{key}", hold)
    if flight is not None and not flight.leader:
        done = _cache_call(singleflight.wait, flight, deadline) or {}
        token = _cache_call(cache.get, key) if done.get("outcome") == "cached" else None
        if isinstance(token, str) and token:
            return token
        flight = None  # the leader got none: ask ourselves
    elif flight is not None:
        # Look again under the lock: the leader of an earlier flight may have cached its
        # token and left since our own look.
        token = _cache_call(cache.get, key)
        if isinstance(token, str) and token:
            _cache_call(singleflight.finish, flight, "cached")
            return token
    try:
        token, expires_in = _request_token(credentials, deadline)
    except TokenUnavailable:
        if flight is not None:
            _cache_call(singleflight.finish, flight, "failed")
        raise
    keep = max(expires_in - EXPIRY_MARGIN, expires_in // 2)
    stored = keep >= 1 and bool(_cache_call(_keep, key, token, keep))
    if flight is not None:
        _cache_call(singleflight.finish, flight, "cached" if stored else "uncached")
    return token


def _keep(key: str, token: str, seconds: int) -> bool:
    cache.set(key, token, seconds)
    return True


def forget(credentials: ClientCredentials, token: str) -> None:
    """Drop a token the partner refused -- unless another node has already replaced it."""
    key = credentials.cache_key
    if _cache_call(cache.get, key) == token:
        _cache_call(cache.delete, key)


def _cache_call(operation: Callable[..., Any], *args: Any) -> Any:
    # A cache outage must not stop calls to partners: without the cache we simply ask the
    # token endpoint every time.  (The key names no secret, so it may be logged.)
    try:
        return operation(*args)
    except Exception as exc:  # any backend's error: redis, connection, ...
        logger.warning("partner token cache unavailable (%s)", type(exc).__name__)
        return None


def _basic(credentials: ClientCredentials) -> str:
    # RFC 6749 2.3.1: each part form-urlencoded before Basic encoding.
    pair = f"{quote_plus(credentials.client_id, safe='')}:"
    pair += quote_plus(credentials.client_secret, safe="")
    return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")


def _request_token(credentials: ClientCredentials, deadline: float) -> tuple[str, int]:
    """POST the client credentials grant; (access token, seconds it is valid)."""
    if deadline - time.monotonic() <= 0:
        raise TokenUnavailable("token endpoint: no time left to obtain an access token")
    form = {"grant_type": "client_credentials"}
    if credentials.scope:
        form["scope"] = credentials.scope
    if credentials.resource:
        form["resource"] = credentials.resource  # RFC 8707: the ECS the token is for
    reply = outbound.post(
        credentials.token_url,
        deadline,
        data=form,
        headers={"Authorization": _basic(credentials), "Accept": "application/json"},
        limit=MAX_TOKEN_ANSWER_BYTES,
    )
    status = reply.status
    if reply.failure == outbound.TIMEOUT:
        raise TokenUnavailable("token endpoint: timed out", status)
    if reply.failure == outbound.TOO_LARGE:
        raise TokenUnavailable(
            f"token endpoint: answer larger than {MAX_TOKEN_ANSWER_BYTES} bytes", status
        )
    if reply.failure:
        what = "unreachable" if status is None else "answer broken off"
        raise TokenUnavailable(f"token endpoint: {what} ({reply.exception})", status)
    raw = reply.body
    answer = _json_object(raw)
    if status != 200:
        code = answer.get("error") if answer else None
        if status in (401, 403) or (status == 400 and code in _REFUSALS):
            named = f"{code}, " if code in _REFUSALS else ""
            raise TokenUnavailable(
                f"token endpoint refused our client credentials ({named}HTTP {status})",
                status,
                refused=True,
            )
        raise TokenUnavailable(f"token endpoint answered HTTP {status}", status)
    if answer is None:
        raise TokenUnavailable("token endpoint: answer is not a JSON object", status)
    token = answer.get("access_token")
    if not isinstance(token, str) or not _TOKEN_CHARS.match(token):
        raise TokenUnavailable("token endpoint: answer has no usable access_token", status)
    token_type = answer.get("token_type", "bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise TokenUnavailable("token endpoint: token_type is not Bearer", status)
    return token, _expires_in(answer.get("expires_in"))


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _expires_in(value: Any) -> int:
    """Whole seconds from ``expires_in`` (a number; some servers send a numeric string)."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return int(min(value, 86400 * 365))
    return DEFAULT_EXPIRES_IN
