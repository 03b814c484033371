"""Database helpers shared by the apps."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connection, transaction


@contextmanager
def relaxed_commit() -> Iterator[None]:
    """A transaction for records the request path writes on every call: audit rows, hit
    counters, cached partner answers.

    On PostgreSQL its commit does not wait for the WAL to reach the disk
    (``synchronous_commit = off`` for this transaction only): a fsync costs about 4 ms here,
    more than the rest of a cache hit.  The data is never corrupted and never lost when our
    process dies; a crash of the database server itself may lose the last fraction of a
    second of such rows (PostgreSQL's "asynchronous commit").  ``ECS_SYNCHRONOUS_AUDIT=1``
    makes them wait like every other write.  Inside a caller's transaction, the caller's
    commit decides, unchanged.
    """
    if connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        if connection.vendor == "postgresql" and not settings.ECS_SYNCHRONOUS_AUDIT:
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield
