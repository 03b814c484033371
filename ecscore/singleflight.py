"""Single flight: of several identical calls at once, one is made and the others wait for it.

Used for identical partner misses and for token requests. The first caller takes a lock in
the Django cache (``cache.add``: atomic in Redis, so across nodes, and in local memory) and
calls; the others wait for its outcome, which it publishes under the lock's token, until
their own deadline. What an outcome means is the caller's business; the outcome names
used so far are "cached" (waiters read what the leader stored), "uncached" (only this
flight's waiters get ``configs``), "refused" and "failed". A waiter whose leader vanished
gets "lost"; one whose deadline passed, "timeout".
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache

DONE_TTL = 30  # seconds a flight's outcome stays readable for its waiters


@dataclass
class Flight:
    key: str
    token: str
    leader: bool


def _lock_key(flight_key: str) -> str:
    return f"flight:{flight_key}"


def _done_key(flight_key: str, token: str) -> str:
    return f"flight-done:{flight_key}:{token}"


def join(flight_key: str, hold_seconds: float) -> Flight:
    """Lead the flight for this key, or join the one in progress."""
    token = uuid.uuid4().hex
    timeout = max(1, int(hold_seconds) + 2)
    for _ in range(3):
        if cache.add(_lock_key(flight_key), token, timeout):
            return Flight(flight_key, token, leader=True)
        current = cache.get(_lock_key(flight_key))
        if current is not None:
            return Flight(flight_key, current, leader=False)
    return Flight(flight_key, token, leader=True)  # the lock keeps vanishing: just call


def finish(flight: Flight, outcome: str, payload: list | None = None) -> None:
    """Publish the leader's outcome (with what only this flight's waiters may share) and
    release the lock."""
    done = {"outcome": outcome, "configs": payload or []}
    cache.set(_done_key(flight.key, flight.token), done, DONE_TTL)
    if cache.get(_lock_key(flight.key)) == flight.token:
        cache.delete(_lock_key(flight.key))


def wait(flight: Flight, deadline: float, poll: float = 0.005) -> dict[str, Any]:
    """Wait for the leader's outcome until ``deadline`` (``time.monotonic()``)."""
    while time.monotonic() < deadline:
        done = cache.get(_done_key(flight.key, flight.token))
        if done is not None:
            return done
        if cache.get(_lock_key(flight.key)) != flight.token:
            # The leader is gone; its outcome may have been written just before.
            done = cache.get(_done_key(flight.key, flight.token))
            return done if done is not None else {"outcome": "lost", "configs": []}
        time.sleep(poll)
    return {"outcome": "timeout", "configs": []}
