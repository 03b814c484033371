"""Per-process copies of small reads that every request makes, as fresh as the database.

The ECS configuration, the enabled partners and the EDNs without a service area are read by
every EDGE-4 request but change only when an operator edits them.  A ``TableMemo`` keeps the
result in the process and reloads it when django-cachalot's invalidation timestamp of one of
its tables moved: every write through any web node (admin, API, ``ecs_apply``) moves that
timestamp in the shared cache, so every node sees the change within ``ECS_FRESHNESS_SECONDS``
(and this process at its next read).  The check costs one cache round trip for all memos
together, at most once per request and per ``ECS_FRESHNESS_SECONDS``, instead of a query per
read.

The values are shared by the threads of a process: callers must not modify them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from cachalot.cache import cachalot_caches
from cachalot.settings import cachalot_settings
from cachalot.signals import post_invalidation
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection

from .middleware import current_request_id

T = TypeVar("T")

_UNSET = object()

_tables: set[str] = set()  # every memo's tables: their stamps are read together
_generation = 0  # moves whenever this process commits a write to any table
_local = threading.local()
# The process's latest reading (monotonic time, generation, stamps), shared by its threads.
_shared: dict[str, tuple[float, int, dict[str, float]]] = {}


def _written(sender: str, **kwargs: Any) -> None:
    global _generation
    _generation += 1


post_invalidation.connect(_written, dispatch_uid="ecscore.memo")


def _read_stamps() -> dict[str, float]:
    """Each memo table's last invalidation, in one cache round trip (cachalot's own keys;
    inside a transaction, its per-transaction cache, which knows the transaction's writes)."""
    keygen = cachalot_settings.CACHALOT_TABLE_KEYGEN
    keys = {keygen(DEFAULT_DB_ALIAS, t): t for t in _tables}
    cache = cachalot_caches.get_cache(cachalot_settings.CACHALOT_CACHE, DEFAULT_DB_ALIAS)
    return {keys[k]: stamp for k, stamp in cache.get_many(list(keys)).items()}


def _stamp(tables: Sequence[str]) -> float:
    """The latest invalidation of ``tables``, read at most once per request for all memos,
    and at most once per ``ECS_FRESHNESS_SECONDS`` for all the process's requests.

    A reading is reused until this process writes (or the request writes inside a
    transaction, where cachalot sends no signal until commit: there, always read anew). So
    a write through this process is seen by its very next read, and a write through another
    process or node within ``ECS_FRESHNESS_SECONDS`` (20 ms).
    """
    if connection.in_atomic_block:
        stamps = _read_stamps()
    else:
        request_id = current_request_id()
        now = time.monotonic()
        shared = _shared.get("snapshot")
        if shared is not None and shared[1] == _generation and now - shared[0] < _freshness():
            stamps = shared[2]
        else:
            mine = getattr(_local, "snapshot", None)
            if request_id and mine is not None and mine[:2] == (request_id, _generation):
                stamps = mine[2]
            else:
                stamps = _read_stamps()
                _local.snapshot = (request_id, _generation, stamps)
                _shared["snapshot"] = (now, _generation, stamps)
    return max((stamps.get(t, 0.0) for t in tables), default=0.0)


def _freshness() -> float:
    return float(getattr(settings, "ECS_FRESHNESS_SECONDS", 0.02))


class TableMemo(Generic[T]):
    """``load()``'s result, reloaded whenever one of ``tables`` was written."""

    def __init__(self, tables: Sequence[Any], load: Callable[[], T]) -> None:
        self._tables = tuple(t if isinstance(t, str) else t._meta.db_table for t in tables)
        _tables.update(self._tables)
        self._load = load
        self._lock = threading.Lock()
        self._stamp: float | None = None
        self._value: Any = _UNSET

    def get(self) -> T:
        if not cachalot_settings.CACHALOT_ENABLED:
            return self._load()  # nothing records invalidations: read every time
        # Read before loading: a write landing in between leaves a newer value under an
        # older stamp, which the next call replaces.  (Writes in a transaction move the stamp
        # at commit; this app's writes to memoized tables all run in one.)
        stamp = _stamp(self._tables)
        # 0.0: no invalidation on record (a flushed cache, say) -- a copy taken at "0.0"
        # could belong to any state of the data, so it is never trusted.
        if stamp and stamp == self._stamp and self._value is not _UNSET:
            return self._value
        value = self._load()
        with self._lock:
            # Keep it unless a newer copy arrived while we read (it may already be newer
            # than ``stamp``; ours may be the older of the two).
            if self._stamp is None or stamp >= self._stamp:
                self._stamp, self._value = stamp, value
        return value

    def clear(self) -> None:
        with self._lock:
            self._stamp, self._value = None, _UNSET
