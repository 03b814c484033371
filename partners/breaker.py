"""A circuit breaker per peer (partner ECS, NEF), shared by every process through the cache.

After ``breaker_threshold`` consecutive failures (down, slow, invalid answers -- a 401/403
refusal is an answer, not a failure) the circuit opens: the partner is not called for
``breaker_cooldown`` seconds and contributes nothing, at once.  Then one probe goes through
(half-open): success closes the circuit, failure opens it again.
"""

from __future__ import annotations

import time
from typing import Protocol

from django.core.cache import cache


class Peer(Protocol):
    """What the breaker needs of a peer (``PartnerECS``, ``NEFConfiguration``)."""

    breaker_threshold: int
    breaker_cooldown: float

    @property
    def breaker_id(self) -> int | str | None: ...


CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half-open"
STATE_VALUES = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}


def _key(partner: Peer, what: str) -> str:
    return f"partners:breaker:{partner.breaker_id}:{what}"


def state(partner: Peer) -> str:
    opened_until = cache.get(_key(partner, "open-until"))
    if opened_until is None:
        return CLOSED
    return OPEN if time.time() < opened_until else HALF_OPEN


def allow(partner: Peer) -> bool:
    """Whether to call the partner now (in half-open state, only one caller probes)."""
    current = state(partner)
    if current == CLOSED:
        return True
    if current == OPEN:
        return False
    return cache.add(_key(partner, "probe"), 1, max(1, int(partner.breaker_cooldown)))


def record_success(partner: Peer) -> None:
    cache.delete_many(
        [_key(partner, "failures"), _key(partner, "open-until"), _key(partner, "probe")]
    )


def record_failure(partner: Peer) -> None:
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
