"""Sliding-window rate limits shared by every process.

With Redis (REDIS_URL) the window is a sorted set updated by one atomic script, so all web
nodes count together; without it, a per-process window (the embedded default runs one
process).  ``hit`` answers whether one more request fits in the last ``window`` seconds and,
when not, how many seconds until one does.  ``peek`` answers the same without counting one,
for limits that count only some outcomes (failed token requests): look first, count after.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections import deque

from django.conf import settings

_SCRIPT = """
local key, now, window, limit, member, record = KEYS[1], tonumber(ARGV[1]),
    tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5]
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if count < limit then
  if record == '1' then
    redis.call('ZADD', key, now, member)
    redis.call('EXPIRE', key, math.ceil(window) + 1)
  end
  return {1, 0}
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
if oldest[2] == nil then
  return {0, tostring(window)}
end
return {0, tostring(tonumber(oldest[2]) + window - now)}
"""

_local_lock = threading.Lock()
_local_windows: dict[str, deque[float]] = {}
_script = None


def _redis_hit(key: str, limit: int, window: float, record: bool) -> tuple[bool, int]:
    global _script
    from django_redis import get_redis_connection

    connection = get_redis_connection("default")
    if _script is None:
        _script = connection.register_script(_SCRIPT)
    allowed, wait = _script(
        keys=[f"{settings.CACHE_KEY_PREFIX}:ratelimit:{key}"],
        args=[time.time(), window, limit, uuid.uuid4().hex, "1" if record else "0"],
        client=connection,
    )
    return bool(int(allowed)), max(1, math.ceil(float(wait))) if not int(allowed) else 0


def _local_hit(key: str, limit: int, window: float, record: bool) -> tuple[bool, int]:
    now = time.monotonic()
    with _local_lock:
        stamps = _local_windows.setdefault(key, deque())
        while stamps and stamps[0] <= now - window:
            stamps.popleft()
        if len(stamps) < limit:
            if record:
                stamps.append(now)
            return True, 0
        if not stamps:  # a limit of 0: nothing will ever fit
            return False, max(1, math.ceil(window))
        return False, max(1, math.ceil(stamps[0] + window - now))


def _shared_or_local(key: str, limit: int, window: float, record: bool) -> tuple[bool, int]:
    # Without Redis (or while it is away: ecscore.cache's circuit) each process counts alone.
    if not settings.REDIS_URL:
        return _local_hit(key, limit, window, record)
    from .cache import redis_call

    return redis_call(
        lambda: _redis_hit(key, limit, window, record),
        lambda: _local_hit(key, limit, window, record),
    )


def hit(key: str, limit: int, window: float = 60.0) -> tuple[bool, int]:
    """Count one request under ``key``; (allowed, seconds to wait when not allowed)."""
    return _shared_or_local(key, limit, window, True)


def peek(key: str, limit: int, window: float = 60.0) -> tuple[bool, int]:
    """As ``hit``, without counting: would one more fit under ``key`` now?"""
    return _shared_or_local(key, limit, window, False)


def reset_local() -> None:
    """Forget per-process windows (tests)."""
    with _local_lock:
        _local_windows.clear()


def reset() -> None:
    """Forget every window of this deployment's key space (tests, or after an incident)."""
    reset_local()
    if settings.REDIS_URL:
        from django_redis import get_redis_connection

        connection = get_redis_connection("default")
        keys = list(connection.scan_iter(f"{settings.CACHE_KEY_PREFIX}:ratelimit:*"))
        if keys:
            connection.delete(*keys)
