"""Per-process copies of small reads that every request makes, as fresh as the database.

The ECS configuration, the enabled partners and the EDNs without a service area are read by
every EDGE-4 request but change only when an operator edits them.  A ``TableMemo`` keeps the
result in the process and reloads it when django-cachalot's invalidation timestamp of one of
its tables moved: every write through any web node (admin, API, ``ecs_apply``) moves that
timestamp in the shared cache, so the next request on every node sees the change.  The check
costs one cache round trip instead of a query per read.

The values are shared by the threads of a process: callers must not modify them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from cachalot.api import get_last_invalidation
from cachalot.settings import cachalot_settings

T = TypeVar("T")

_UNSET = object()


class TableMemo(Generic[T]):
    """``load()``'s result, reloaded whenever one of ``tables`` was written."""

    def __init__(self, tables: Sequence[Any], load: Callable[[], T]) -> None:
        self._tables = tuple(tables)
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
        stamp = get_last_invalidation(*self._tables)
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
