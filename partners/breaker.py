"""A circuit breaker per partner ECS, shared by every process through the Django cache.

After ``breaker_threshold`` consecutive failures (down, slow, invalid answers -- a 401/403
refusal is an answer, not a failure) the circuit opens: the partner is not called for
``breaker_cooldown`` seconds and contributes nothing, at once.  Then one probe goes through
(half-open): success closes the circuit, failure opens it again.
"""

from __future__ import annotations

import time

from django.core.cache import cache

from .models import PartnerECS

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half-open"
STATE_VALUES = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}


def _key(partner: PartnerECS, what: str) -> str:
    return f"partners:breaker:{partner.pk}:{what}"


def state(partner: PartnerECS) -> str:
    opened_until = cache.get(_key(partner, "open-until"))
    if opened_until is None:
        return CLOSED
    return OPEN if time.time() < opened_until else HALF_OPEN


def allow(partner: PartnerECS) -> bool:
    """Whether to call the partner now (in half-open state, only one caller probes)."""
    current = state(partner)
    if current == CLOSED:
        return True
    if current == OPEN:
        return False
    return cache.add(_key(partner, "probe"), 1, max(1, int(partner.breaker_cooldown)))


def record_success(partner: PartnerECS) -> None:
    cache.delete_many(
        [_key(partner, "failures"), _key(partner, "open-until"), _key(partner, "probe")]
    )


def record_failure(partner: PartnerECS) -> None:
    key = _key(partner, "failures")
    cache.add(key, 0, None)
    try:
        failures = cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, None)
        failures = 1
    if failures >= partner.breaker_threshold or state(partner) == HALF_OPEN:
        cooldown = partner.breaker_cooldown
        cache.set(_key(partner, "open-until"), time.time() + cooldown, None)
        cache.delete(_key(partner, "probe"))
