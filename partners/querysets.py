"""The federation's hand-written SQL, behind named manager methods.

A cache hit runs a lookup (unless the process's memory answers it), and its hit counter and
audit insert are written behind the request in batches; a miss stores the answer and its
audit row.  On that path building and compiling the equivalent querysets cost more CPU
than everything else the request does in the database, so these statements are written by
hand (``ecscore.db``: ``select`` and ``ModelRows`` for the lookup, ``write_uncached`` and
``insert_uncached`` for the writes).  Both tables are outside the query cache
(``CACHALOT_UNCACHABLE_TABLES``): the writes have nothing to invalidate, and the helpers
refuse any table that is not.

These are manager methods, not queryset methods: each is one fixed statement, which a
queryset's filters would not reach.  Commit durability is the caller's
(``ecscore.db.relaxed_commit``).  The module does not import ``partners.models`` (which imports
it): the model is ``self.model``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import cache
from typing import Any

from django.db import connection, models
from django.utils import timezone

from ecscore.db import ModelRows, insert_uncached, placeholders, select, write_uncached

# What storing a fresh answer writes over an existing entry for the same query; a refresh
# keeps the rest (the partner subscription).
STORED_FIELDS = ("query", "request", "answer", "fetched_at", "expires_at", "hits", "last_hit_at")
# Serving a hit reads the answer only; the stored query and request are for the admin.
HIT_FIELDS = ("id", "partner_id", "key", "answer", "expires_at")


@cache
def _hit_rows(model: type[models.Model]) -> ModelRows:
    return ModelRows(
        model,
        leave_out=tuple(
            f.attname for f in model._meta.concrete_fields if f.attname not in HIT_FIELDS
        ),
    )


def _db_time(moment: dt.datetime) -> Any:
    """A datetime as the ORM would store it (SQLite keeps naive UTC text)."""
    return connection.ops.adapt_datetimefield_value(moment)


def _table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


class ProvisioningCacheEntryManager(models.Manager):
    def fresh(self, keys: dict[int, str]) -> dict[int, Any]:
        """The unexpired entries for {partner pk: key}, by partner pk, in one statement.

        Only the fields a hit serves are loaded (``HIT_FIELDS``; the others are deferred).
        """
        if not keys:
            return {}
        rows = _hit_rows(self.model)
        partners, wanted = list(keys), sorted(set(keys.values()))
        found = select(
            f"SELECT {rows.columns('c')} FROM {_table(self.model)} c "
            f"WHERE c.partner_id IN ({placeholders(partners)}) "
            f"AND c.key IN ({placeholders(wanted)}) AND c.expires_at > %s",
            [*partners, *wanted, _db_time(timezone.now())],
        )
        entries = [rows.build(row) for row in found]
        return {e.partner_id: e for e in entries if keys.get(e.partner_id) == e.key}

    def add_hits(self, counts: dict[int, int], latest: dict[int, dt.datetime]) -> None:
        """``counts[pk]`` more hits for each entry, the last at ``latest[pk]``: one UPDATE per
        entry, in id order (two writers then lock rows in the same order)."""
        for pk in sorted(counts):
            at = _db_time(latest[pk])
            write_uncached(
                self.model,
                f"UPDATE {_table(self.model)} SET hits = hits + %s, last_hit_at = "
                f"CASE WHEN last_hit_at IS NULL OR last_hit_at < %s THEN %s "
                f"ELSE last_hit_at END WHERE id = %s",
                [counts[pk], at, at, pk],
            )

    def upsert(self, entry: models.Model) -> None:
        """Save a new ``entry``; over the partner's entry with the same key, if there is one,
        write its ``STORED_FIELDS`` and keep the rest.  One statement (INSERT ... ON CONFLICT
        UPDATE) instead of a locking read and a write; ``entry`` gets the row's primary key."""
        insert_uncached([entry], conflict=(["partner_id", "key"], STORED_FIELDS))


class RetrievalAuditManager(models.Manager):
    def insert(self, rows: Sequence[models.Model]) -> None:
        """Save new audit rows in one INSERT (none: no statement); each gets its primary key."""
        insert_uncached(rows)
