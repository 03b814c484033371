"""A Redis cache that degrades instead of failing: the shared cache is an optimisation.

``ResilientRedisCache`` is django-redis's cache behind a circuit kept in the process.  A Redis
error (down, frozen past the short socket timeout, loading) opens the circuit: for
``RETRY_SECONDS`` no call goes to Redis, then one caller probes again, so a frozen Redis costs
one timeout per retry interval rather than one per call, and normal service resumes within
about a second of Redis coming back.  While open, the cache answers per process:

* ``FALLBACK = "local"`` (locks, breakers, tokens): a per-process memory cache, so single
  flights and circuit breakers keep working within the process;
* ``FALLBACK = "miss"`` (django-cachalot's query cache and its table stamps): every read
  misses and writes are dropped -- a per-process query cache would serve rows another process
  changed, while a miss reads the database, which is always right.

Keys written while Redis was away are deleted from Redis when it returns (what it holds for
them predates our writes); ``on_recovery`` hooks run then too (cachalot's stamps are all
moved, for the writes of processes that never come back to replay theirs).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.core.cache.backends.locmem import LocMemCache
from django_redis.cache import RedisCache

logger = logging.getLogger(__name__)

RETRY_SECONDS = 0.5
_MAX_DIRTY = 10000


class RedisCircuit:
    """One per process: is Redis usable now, and since when not."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.down_since: float | None = None  # time.time() of the outage's first error
        self._retry_at = 0.0
        self._probing = False
        self.dirty: dict[str, set[str]] = {}  # cache alias -> keys written while away
        self.dirty_overflow = False
        self.recovery_hooks: list[Callable[[], None]] = []
        self.outages = 0

    @property
    def degraded(self) -> bool:
        return self.down_since is not None

    def allow(self) -> bool:
        """Whether this call may go to Redis (closed, or this caller is the probe)."""
        if self.down_since is None:
            return True
        with self._lock:
            if self.down_since is None:
                return True
            if self._probing or time.monotonic() < self._retry_at:
                return False
            self._probing = True
            return True

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            self._probing = False
            self._retry_at = time.monotonic() + RETRY_SECONDS
            if self.down_since is None:
                self.down_since = time.time()
                self.outages += 1
                logger.warning(
                    "Redis unavailable (%s: %s); answering without the shared cache, retrying "
                    "every %.1f s",
                    type(exc).__name__,
                    exc,
                    RETRY_SECONDS,
                )

    def succeeded(self, replay: Callable[[dict[str, set[str]], bool], None]) -> None:
        """A call reached Redis: after an outage, replay what was written meanwhile first."""
        if self.down_since is None:
            return
        with self._lock:
            if self.down_since is None:
                return
            dirty, overflow = self.dirty, self.dirty_overflow
            self.dirty, self.dirty_overflow = {}, False
        try:
            replay(dirty, overflow)
            for hook in self.recovery_hooks:
                hook()
        except Exception as exc:  # Redis went away again: stay degraded, keep what to replay
            with self._lock:
                for alias, keys in dirty.items():
                    self.dirty.setdefault(alias, set()).update(keys)
                self.dirty_overflow |= overflow
            self.failed(exc)
            return
        with self._lock:
            since, self.down_since, self._probing = self.down_since, None, False
        logger.warning("Redis is back after %.1f s; shared cache in use again", time.time() - since)

    def remember(self, alias: str, keys: list[str]) -> None:
        with self._lock:
            known = self.dirty.setdefault(alias, set())
            if len(known) + len(keys) > _MAX_DIRTY:
                self.dirty_overflow = True
            else:
                known.update(keys)

    def reset(self) -> None:
        """Forget an outage (tests)."""
        with self._lock:
            self.down_since, self._retry_at, self._probing = None, 0.0, False
            self.dirty, self.dirty_overflow = {}, False


circuit = RedisCircuit()


def on_recovery(hook: Callable[[], None]) -> None:
    """Run ``hook`` (through the cache, so it may fail) whenever Redis returns."""
    if hook not in circuit.recovery_hooks:
        circuit.recovery_hooks.append(hook)


def redis_errors() -> tuple[type[BaseException], ...]:
    import redis
    from django_redis.exceptions import ConnectionInterrupted

    return (redis.RedisError, ConnectionInterrupted, OSError)


_WRITES = {"set", "add", "delete", "set_many", "delete_many", "incr", "decr", "touch"}


def _through_circuit(name: str) -> Callable[..., Any]:
    """A cache method that runs ``name`` of django-redis's cache through the circuit."""

    def method(self: ResilientRedisCache, *args: Any, **kwargs: Any) -> Any:
        return self._call(name, *args, **kwargs)

    method.__name__ = name
    return method


class ResilientRedisCache(RedisCache):
    """django-redis behind ``circuit``; see the module's docstring."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        options = params.get("OPTIONS", {})
        self._fallback_kind = options.get("FALLBACK", "local")
        self._alias = options.get("ALIAS", server)
        self._local = LocMemCache(f"ecs-fallback-{id(self)}", {"OPTIONS": {"MAX_ENTRIES": 10000}})

    def _keys_of(self, method: str, args: tuple, kwargs: dict) -> list[str]:
        first = args[0] if args else kwargs.get("key", kwargs.get("keys", kwargs.get("data")))
        if method in ("set_many",):
            return [self.make_key(k) for k in (first or {})]
        if method in ("delete_many",):
            return [self.make_key(k) for k in (first or [])]
        return [self.make_key(first)] if first is not None else []

    def _degraded(self, method: str, args: tuple, kwargs: dict) -> Any:
        if method in _WRITES:
            circuit.remember(self._alias, self._keys_of(method, args, kwargs))
        if self._fallback_kind == "local":
            return getattr(self._local, method)(*args, **kwargs)
        # "miss": nothing is kept; reads miss, writes "succeed" without effect.
        if method == "get":
            return args[1] if len(args) > 1 else kwargs.get("default")
        if method == "get_many":
            return {}
        if method in ("add", "set", "touch", "delete", "has_key"):
            return method != "has_key" and method != "delete"
        if method in ("incr", "decr"):
            raise ValueError("Key not found (cache unavailable)")
        return None

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if not circuit.allow():
            return self._degraded(method, args, kwargs)
        try:
            result = getattr(super(), method)(*args, **kwargs)
        except redis_errors() as exc:
            circuit.failed(exc)
            return self._degraded(method, args, kwargs)
        circuit.succeeded(self._replay)
        return result

    def _replay(self, dirty: dict[str, set[str]], overflow: bool) -> None:
        from django.core.cache import caches

        if overflow:
            RedisCache.delete_pattern(self, "*")
            return
        for alias, keys in dirty.items():
            backend = caches[alias] if alias in _aliases() else self
            if keys:
                backend.client.get_client(write=True).delete(*keys)

    # Every cache operation Django uses, each through the circuit.
    get = _through_circuit("get")
    get_many = _through_circuit("get_many")
    has_key = _through_circuit("has_key")
    set = _through_circuit("set")
    add = _through_circuit("add")
    delete = _through_circuit("delete")
    set_many = _through_circuit("set_many")
    delete_many = _through_circuit("delete_many")
    incr = _through_circuit("incr")
    decr = _through_circuit("decr")
    touch = _through_circuit("touch")


def _aliases() -> set[str]:
    from django.conf import settings

    return set(settings.CACHES)


def redis_call(operation: Callable[[], Any], fallback: Callable[[], Any]) -> Any:
    """``operation()`` (raw Redis, e.g. a script) through the circuit, else ``fallback()``."""
    if not circuit.allow():
        return fallback()
    try:
        result = operation()
    except redis_errors() as exc:
        circuit.failed(exc)
        return fallback()
    circuit.succeeded(_replay_default)
    return result


def _replay_default(dirty: dict[str, set[str]], overflow: bool) -> None:
    from django.core.cache import caches

    default = caches["default"]
    if isinstance(default, ResilientRedisCache):
        default._replay(dirty, overflow)
