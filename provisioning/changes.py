"""Change events: what changed in the inventory, evaluated by the worker, off the request path.

A request that changes what we provision (an EES registering, an operator editing an EDN, a
partner's notification replacing a cached answer) does not evaluate subscriptions itself:
``inventory_changed`` carries the change's ``ChangeScope`` and ``record`` writes it as an
``InventoryChange`` row in the change's own transaction, so the request answers at once and
the event commits or rolls back with the change.

The worker (``process_pending``, a chore of ``run_worker``) claims the pending events with a
lease (``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several workers share them
without duplicates), merges their scopes -- a burst of changes is evaluated once -- and hands
the merged scope to every registered evaluator (EEC subscriptions here, partner subscriptions
in the partners app), which finds the subscriptions the scope can reach through their index
and notifies those whose answer changed. The events are deleted only after every evaluator
returned: a worker killed in the middle leaves them leased, the lease lapses, and the next
worker evaluates them again. Evaluators compare digests, so a subscription already notified
before the crash is not notified twice for the same answer, and none is forgotten.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any

from cachalot import api as cachalot_api
from cachalot.settings import cachalot_settings
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.utils import timezone

from ecscore import db
from notifications import heartbeat as worker_heartbeat

from .models import InventoryChange
from .scope import EVERYTHING, NOTHING, ChangeScope

logger = logging.getLogger(__name__)

Heartbeat = Callable[[], None]
_evaluators: dict[str, Callable[[ChangeScope, Heartbeat], int]] = {}


def register_evaluator(name: str, evaluate: Callable[[ChangeScope, Heartbeat], int]) -> None:
    """``evaluate(scope, heartbeat)`` notifies what the scope affects and returns how many it
    notified; it calls ``heartbeat()`` between batches, which keeps the claim alive."""
    _evaluators[name] = evaluate


def lease_seconds() -> float:
    return float(getattr(settings, "ECS_CHANGE_LEASE_SECONDS", 300))


def record(sender: Any, scope: ChangeScope = EVERYTHING, **kwargs: Any) -> None:
    """Receiver of ``inventory_changed``: one change event, in the change's transaction."""
    if not scope.empty:
        InventoryChange.objects.create(scope=scope.to_json())


def pending() -> int:
    return InventoryChange.objects.count()


def _claim(limit: int) -> list[tuple[int, dict[str, Any]]]:
    # The lease and, below, the deletion of evaluated events commit without waiting for the
    # WAL flush: a database crash that lost either only makes an event evaluated again, and a
    # second evaluation notifies nobody twice (the digests compare equal). The notifications
    # themselves are written in the evaluation's own, synchronous, transactions.
    now = timezone.now()
    with db.relaxed_commit():
        return InventoryChange.objects.claim(
            limit, now, now + dt.timedelta(seconds=lease_seconds())
        )


def process_pending(limit: int = 1000) -> int:
    """Evaluate the pending change events, merged; returns how many subscriptions were
    notified."""
    claimed = _claim(limit)
    if not claimed:
        return 0
    _forget_process_caches()
    merged = NOTHING
    for _, data in claimed:
        merged = merged.merge(ChangeScope.from_json(data))
    ids = [pk for pk, _ in claimed]
    notified = evaluate(merged, _renewer(ids))
    with db.relaxed_commit():
        db.delete_in(InventoryChange, "pk", ids)
    return notified


def _forget_process_caches() -> None:
    """The change was written by another process (a web node, ``ecs_apply``). With a shared
    cache (Redis) its writes already moved cachalot's stamps here; with a per-process cache
    (the embedded default) this worker would evaluate with its own stale query results and
    memos, so they are dropped first."""
    backend = caches[cachalot_settings.CACHALOT_CACHE]
    if isinstance(backend, LocMemCache):
        cachalot_api.invalidate()


def _renewer(ids: list[int]) -> Heartbeat:
    """Extends the lease on ``ids`` once a third of it has passed, so that a long pass keeps
    its events from a second worker."""
    renewed = [time.monotonic()]

    def heartbeat() -> None:
        # A long pass is the worker's chores loop making progress, batch after batch: its
        # heartbeat must not age meanwhile.
        worker_heartbeat.progress()
        if time.monotonic() - renewed[0] >= lease_seconds() / 3:
            until = timezone.now() + dt.timedelta(seconds=lease_seconds())
            InventoryChange.objects.filter(pk__in=ids).update(leased_until=until)
            renewed[0] = time.monotonic()

    return heartbeat


def evaluate(scope: ChangeScope, heartbeat: Heartbeat | None = None) -> int:
    """Run every evaluator on ``scope`` (``EVERYTHING``: the full re-evaluation)."""
    beat = heartbeat or (lambda: None)
    return sum(evaluate_one(scope, beat) for evaluate_one in _evaluators.values())
