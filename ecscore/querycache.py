"""django-cachalot's query cache without its read/write race.

cachalot stamps a cached result with the time it *stored* it, after running the query.  A
write that commits and invalidates the table while the query runs then leaves the result it
read before the commit stamped later than the invalidation: that stale result is served until
the table's next write (minutes, or forever for a table written rarely, such as partners).
The same race, fixed in django-cacheops (PR #302), was seen under cachalot (issue #191); here
two gunicorn workers, or the admin's save and a concurrent page, meet it.

The version below stamps a result with the time just *before* the query ran: a query that
started before a write's invalidation can have read the old rows, and its result is older than
that invalidation, so it is never served.  Everything else is cachalot's own code path.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable
from time import time
from typing import Any

from cachalot import monkey_patch
from cachalot.settings import ITERABLES, cachalot_settings


def _get_result_or_execute_query(
    execute_query_func: Callable[[], Any],
    cache: Any,
    cache_key: str,
    table_cache_keys: list[str],
) -> Any:
    try:
        data = cache.get_many([*table_cache_keys, cache_key])
    except (KeyError, ModuleNotFoundError):
        data = None

    new_table_cache_keys = set(table_cache_keys)
    if data:
        new_table_cache_keys.difference_update(data)
        if not new_table_cache_keys:
            try:
                timestamp, result = data.pop(cache_key)
                if timestamp >= max(data.values()):
                    return result
            except (KeyError, TypeError, ValueError):
                pass  # not cached, or bad data: run the query and cache it again

    started = time()  # before the query: what it reads is at least this recent
    result = execute_query_func()
    if result.__class__ == types.GeneratorType and not cachalot_settings.CACHALOT_CACHE_ITERATORS:
        return result
    if result.__class__ not in ITERABLES and isinstance(result, Iterable):
        result = list(result)
    # A table without a stamp (only after the cache was emptied) gets one from after the
    # query, as cachalot gives it: never earlier than a write's that raced us, so this first
    # result is not served and the next read caches afresh.
    now = time()
    to_be_set: dict[str, Any] = {k: now for k in new_table_cache_keys}
    to_be_set[cache_key] = (started, result)
    cache.set_many(to_be_set, cachalot_settings.CACHALOT_TIMEOUT)
    return result


def install() -> None:
    """Replace cachalot's function (its compiler patch looks it up by name at each query)."""
    monkey_patch._get_result_or_execute_query = _get_result_or_execute_query
