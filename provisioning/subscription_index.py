"""Subscriptions indexed by what they ask, so that a change finds the ones it can affect.

Each subscription stores the keys of its query (``scope.subscription_keys``): its EAS ids (or
``eas:*``), and one pair key per EAS key and location key (its TAIs and cells, the grid cells
of its points, or ``loc:*``). A change looks up the pairs of its own side
(``ChangeScope.pair_lookup``): its EAS ids plus ``eas:*``, times its area keys and the cells
its shapes touch plus ``loc:*``. A subscription is a candidate when it matches on both -- the
same rules matching applies, in reverse, as a necessary condition -- and each lookup is an
index probe that returns only such subscriptions, so its cost follows what the change
reaches, not how many subscriptions share its cells or its applications. A change that
reaches everywhere looks up its EAS keys alone.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from django.db import models

from .query import ProvisioningQuery
from .scope import ChangeScope, subscription_keys

# Subscriptions evaluated per batch (one transaction each); the environment may lower it.
BATCH = int(os.environ.get("ECS_EVALUATION_BATCH") or 500)


def keys_for(query: ProvisioningQuery) -> list[str]:
    return subscription_keys(query.eas_ids, query.location)


def store(key_model: type[models.Model], owner: models.Model, query: ProvisioningQuery) -> None:
    """(Re)write one subscription's keys; ``key_model`` has ``subscription`` and ``key``."""
    key_model.objects.filter(subscription=owner).delete()
    key_model.objects.bulk_create(
        [key_model(subscription=owner, key=key) for key in keys_for(query)]
    )


#: Keys per lookup statement (SQLite's default limit is 32,766 variables).
LOOKUP_CHUNK = 1000


def _chunks(values: list, size: int) -> Iterator[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def all_ids(model: type[models.Model], batch: int = BATCH) -> Iterator[list[int]]:
    """Primary keys of every subscription of ``model``, in ascending batches (a full pass)."""
    last = 0
    while True:
        ids = list(
            model.objects.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:batch]
        )
        if not ids:
            return
        yield ids
        last = ids[-1]


def candidate_ids(
    key_model: type[models.Model], scope: ChangeScope, batch: int = BATCH
) -> Iterator[list[int]]:
    """Primary keys of the subscriptions ``scope`` can reach, in ascending batches."""
    keys = key_model.objects.values_list("subscription_id", flat=True)
    pairs = scope.pair_lookup()
    if pairs is None:
        # Location does not narrow it: every subscription for one of these applications.
        eas = scope.eas_lookup()
        last = 0
        while True:
            ids = list(
                keys.filter(key__in=eas, subscription_id__gt=last)
                .order_by("subscription_id")
                .distinct()[:batch]
            )
            if not ids:
                return
            yield ids
            last = ids[-1]
    found: set[int] = set()
    for part in _chunks(pairs, LOOKUP_CHUNK):
        found.update(keys.filter(key__in=part))
    yield from _chunks(sorted(found), batch)


def evaluate(
    model: type[models.Model],
    key_model: type[models.Model],
    scope: ChangeScope,
    evaluate_batch: Callable[[list[int]], int],
    heartbeat: Callable[[], None] | None = None,
) -> int:
    """Run ``evaluate_batch`` on every batch of subscriptions ``scope`` reaches (all of
    ``model`` for ``EVERYTHING``), with ``heartbeat()`` between batches; sums what it returns."""
    batches = all_ids(model) if scope.everything else candidate_ids(key_model, scope)
    notified = 0
    for ids in batches:
        notified += evaluate_batch(ids)
        if heartbeat is not None:
            heartbeat()
    return notified
