"""Verifying federation tokens at the target ECS (the member side of issue 17, part 3).

Another member of our ECS-ER calls our EDGE-10 API with ``Authorization: Bearer <jwt>``, a
token the ECS-ER signed for us.  We trust the keys of that one ECS-ER only: its JWKS at
``<ecsEr.apiRoot>/.well-known/jwks.json``, fetched through ``ecscore.outbound`` with a short
deadline, and kept for its ``Cache-Control`` max-age (300 s without one) in the process and
in Django's cache (so the processes of a node share one fetch).  A token signed with a
``kid`` we do not know makes one fetch before the cached set expires -- the ECS-ER published
a new key -- at most once per ``REFETCH_SECONDS`` for all processes, so a stream of forged
kids cannot make us hammer the ECS-ER.

Checks: the signature (ES256 or RS256 only: never ``none`` or an HMAC keyed by a public
key), ``exp`` with ``LEEWAY_SECONDS``, ``aud`` == our ECS id, ``iss`` == ``ecsEr.issuer``
when set, a ``sub``, and ``scope`` naming ``eecs-ecsserviceprovisioning``.

When the JWKS cannot be fetched and no copy is at hand (or the copy is more than
``STALE_SECONDS`` past its max-age), nothing can be verified: ``KeysUnavailable`` (503 with
``Retry-After``), not a 401 -- the caller's token may be good.  A copy past its max-age is
used for up to ``STALE_SECONDS`` while the ECS-ER is unreachable, so its outage does not stop
federation at once.  Tokens are never logged.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

import jwt
from django.core.cache import cache
from jwt.exceptions import PyJWKError

from ecscore import outbound
from partners.federated import FederationClaims, KeysUnavailable, TokenRejected
from provisioning.models import ECSConfiguration

from .models import ECSERMembership
from .tokens import FEDERATION_SCOPE

logger = logging.getLogger(__name__)

ALGORITHMS = ("ES256", "RS256")
#: Clock skew allowed on exp/iat/nbf between the ECS-ER and us.
LEEWAY_SECONDS = 30
#: How long a JWKS is kept when its answer names no max-age.
DEFAULT_MAX_AGE = 300
#: The longest max-age honoured (a typo at the ECS-ER must not pin a key for days).
MAX_MAX_AGE = 86400
#: At most one fetch for an unknown kid per this many seconds (all processes together).
REFETCH_SECONDS = 30
#: How long past its max-age a JWKS serves while the ECS-ER cannot be reached.
STALE_SECONDS = 3600
#: The whole fetch (connect, answer, body) within this many seconds: it runs on a request.
FETCH_SECONDS = 2.0
#: Retry-After of a 503 when the keys cannot be fetched.
RETRY_AFTER = 30
MAX_JWKS_BYTES = 64 * 1024
CACHE_PREFIX = "federation:jwks:"

_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class KeySet:
    """One JWKS as fetched: its usable keys by kid, and until when it is fresh (epoch)."""

    keys: dict[str, jwt.PyJWK]
    fresh_until: float

    @classmethod
    def parse(cls, document: Any, fresh_until: float) -> KeySet:
        """The signing keys of a JWK Set; keys we cannot use are left out."""
        keys: dict[str, jwt.PyJWK] = {}
        entries = document.get("keys") if isinstance(document, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
                continue
            if entry.get("use", "sig") != "sig" or entry.get("alg", "ES256") not in ALGORITHMS:
                continue
            if "d" in entry:  # never trust a published private key
                continue
            try:
                keys[entry["kid"]] = jwt.PyJWK(entry)
            except PyJWKError:
                continue
        return cls(keys, fresh_until)


_lock = threading.Lock()
# Per process: JWKS URL -> (the set, the document it came from).
_sets: dict[str, tuple[KeySet, dict[str, Any]]] = {}


def reset() -> None:
    """Forget every cached JWKS and refetch limit (tests; a changed ecsEr section)."""
    with _lock:
        _sets.clear()


def jwks_url(api_root: str) -> str:
    return api_root.rstrip("/") + "/.well-known/jwks.json"


def _max_age(headers: dict[str, str]) -> int:
    value = next((v for k, v in headers.items() if k.lower() == "cache-control"), "")
    found = _MAX_AGE.search(value)
    if found is None:
        return DEFAULT_MAX_AGE
    return min(int(found.group(1)), MAX_MAX_AGE)


def _fetch(url: str) -> KeySet | None:
    """The JWKS fetched now, or None (logged) when the ECS-ER gives none."""
    reply = outbound.get(
        url,
        time.monotonic() + FETCH_SECONDS,
        headers={"Accept": "application/json"},
        limit=MAX_JWKS_BYTES,
    )
    document = reply.json() if reply.ok and reply.status == 200 else None
    if not isinstance(document, dict):
        logger.warning(
            "The ECS-ER's JWKS at %s gave no key set: %s",
            url,
            reply.reason or f"status {reply.status}",
        )
        return None
    fresh_until = time.time() + _max_age(reply.headers)
    keys = KeySet.parse(document, fresh_until)
    with _lock:
        _sets[url] = (keys, document)
    cache.set(
        CACHE_PREFIX + url,
        {"document": document, "fresh_until": fresh_until},
        timeout=int(fresh_until - time.time()) + STALE_SECONDS,
    )
    return keys


def _cached(url: str) -> KeySet | None:
    """The process's copy, else the one another process put in Django's cache."""
    with _lock:
        held = _sets.get(url)
    if held is not None and held[0].fresh_until > time.time():
        return held[0]
    shared = cache.get(CACHE_PREFIX + url)
    usable = isinstance(shared, dict) and isinstance(shared.get("fresh_until"), int | float)
    if usable and (held is None or shared["fresh_until"] > held[0].fresh_until):
        keys = KeySet.parse(shared.get("document"), float(shared["fresh_until"]))
        with _lock:
            _sets[url] = (keys, shared.get("document") or {})
        return keys
    return held[0] if held is not None else None


def keys_for(url: str, kid: str) -> jwt.PyJWK:
    """The key ``kid`` of the JWKS at ``url``; raises ``TokenRejected`` / ``KeysUnavailable``."""
    now = time.time()
    keys = _cached(url)
    if keys is None or keys.fresh_until <= now:
        fetched = _fetch(url)
        if fetched is None:
            if keys is None or keys.fresh_until + STALE_SECONDS <= now:
                raise KeysUnavailable("the ECS-ER's JWKS cannot be fetched", RETRY_AFTER)
            logger.warning("Using the ECS-ER's JWKS past its max-age: %s cannot be fetched", url)
        else:
            keys = fetched
    if kid in keys.keys:
        return keys.keys[kid]
    # A kid the set does not have: the ECS-ER may have published a new key.  One fetch per
    # REFETCH_SECONDS for all processes (cache.add succeeds for one caller only).
    if cache.add(f"{CACHE_PREFIX}refetch:{url}", 1, timeout=REFETCH_SECONDS):
        fetched = _fetch(url)
        if fetched is None:
            raise KeysUnavailable("the ECS-ER's JWKS cannot be fetched", RETRY_AFTER)
        if kid in fetched.keys:
            return fetched.keys[kid]
    raise TokenRejected("it is signed with a key the ECS-ER does not publish")


def verify(token: str) -> FederationClaims | None:
    """The verifier ``partners.federated`` calls for a bearer token on EDGE-10."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError:
        return None  # no JWT: a static partner token, or an OAuth 2.0 token of ours
    membership = ECSERMembership.current()
    if membership is None or not membership.api_root:
        raise TokenRejected("this ECS is the member of no ECS-ER")
    algorithm, kid = header.get("alg"), header.get("kid")
    if algorithm not in ALGORITHMS:
        raise TokenRejected(f"alg must be one of {', '.join(ALGORITHMS)}")
    if not isinstance(kid, str) or not kid:
        raise TokenRejected("it names no key (kid)")
    key = keys_for(jwks_url(membership.api_root), kid)
    if key.algorithm_name != algorithm:
        raise TokenRejected("its alg is not its key's")
    try:
        claims = jwt.decode(
            token,
            key.key,
            algorithms=[algorithm],
            audience=ECSConfiguration.current().ecs_id,
            issuer=membership.issuer or None,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "aud", "iss", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise TokenRejected("it has expired") from None
    except jwt.InvalidAudienceError:
        raise TokenRejected("it is for another ECS (aud)") from None
    except jwt.InvalidIssuerError:
        raise TokenRejected("another issuer signed it (iss)") from None
    except jwt.InvalidSignatureError:
        raise TokenRejected("its signature does not verify") from None
    except jwt.MissingRequiredClaimError as exc:
        raise TokenRejected(f"it has no {exc.claim} claim") from None
    except jwt.InvalidTokenError as exc:
        raise TokenRejected(f"it is malformed ({type(exc).__name__})") from None
    scope = claims.get("scope")
    if not isinstance(scope, str) or FEDERATION_SCOPE not in scope.split():
        raise TokenRejected(f"it does not grant the scope {FEDERATION_SCOPE}")
    subject, ecsp_id = claims.get("sub"), claims.get("ecspId", "")
    if not isinstance(subject, str) or not subject:
        raise TokenRejected("its sub is no ECS id")
    if not isinstance(ecsp_id, str):
        raise TokenRejected("its ecspId is no string")
    return FederationClaims(subject, ecsp_id)
