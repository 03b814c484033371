"""Database helpers shared by the apps.

The hand-written statements themselves live next to their models (the managers in
``provisioning/querysets.py`` and ``partners/querysets.py``) or next to their one caller
(``provisioning/bulk.py``); what they share is here: running them past django-cachalot's scan
of raw SQL, building model instances from their rows, and the cache invalidation a write to a
cached table owes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from cachalot.api import invalidate
from cachalot.settings import cachalot_settings
from cachalot.utils import is_cachable
from django.conf import settings
from django.db import connection, connections, models, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper


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


class ModelRows:
    """Model instances from the columns of a hand-written SELECT, as the ORM would build them.

    For the few hot queries where building and compiling a queryset costs more than running
    it: the caller writes the SQL with ``columns(alias)`` and turns each row's slice into an
    instance with ``build``.  Values pass through the same converters the ORM applies (JSON
    decoding, SQLite datetimes), and fields left out are deferred, as with ``.defer()``.
    """

    def __init__(self, model: type[models.Model], leave_out: tuple[str, ...] = ()) -> None:
        self.model = model
        self.fields = [f for f in model._meta.concrete_fields if f.attname not in leave_out]
        self.attnames = [f.attname for f in self.fields]
        self.width = len(self.fields)
        self._converters: dict[str, list[tuple[Any, list[Any]]]] = {}

    def columns(self, alias: str) -> str:
        quote = connection.ops.quote_name
        return ", ".join(f"{alias}.{quote(f.column)}" for f in self.fields)

    def _for(self, conn: BaseDatabaseWrapper) -> list[tuple[Any, list[Any]]]:
        converters = self._converters.get(conn.vendor)
        if converters is None:
            converters = []
            for f in self.fields:
                col = f.get_col(self.model._meta.db_table)
                converters.append(
                    (col, conn.ops.get_db_converters(col) + col.get_db_converters(conn))
                )
            self._converters[conn.vendor] = converters
        return converters

    def build(self, values: Sequence[Any], conn: BaseDatabaseWrapper = connection) -> Any:
        converted = list(values)
        for i, (col, converters) in enumerate(self._for(conn)):
            for convert in converters:
                converted[i] = convert(converted[i], col, conn)
        return self.model.from_db(conn.alias, self.attnames, converted)


def _run(sql: str, params: Sequence[Any], fetch: bool) -> Any:
    # django-cachalot searches the text of every raw statement for write keywords, to
    # invalidate the tables it names; on a long statement that costs more than running it.
    # Flagging the connection as cachalot's own ORM calls do (``raw = False``) skips the scan.
    connection.raw = False
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if fetch else cursor.rowcount
    finally:
        connection.raw = True


def select_batches(
    sql: str, params: Sequence[Any], size: int = 2000
) -> Iterator[list[tuple[Any, ...]]]:
    """The rows of a hand-written SELECT, ``size`` at a time, from a server-side cursor where
    the database has one (PostgreSQL, inside a transaction): a whole table's rows never sit
    in memory at once, so the process does not keep the peak as fragmented free memory."""
    connection.raw = False
    try:
        with connection.chunked_cursor() as cursor:
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(size):
                yield rows
    finally:
        connection.raw = True


def select(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The rows of a hand-written SELECT (which changes nothing cachalot must invalidate)."""
    return _run(sql, params, fetch=True)


def write_uncached(
    model: type[models.Model], sql: str, params: Sequence[Any], returning: bool = False
) -> Any:
    """Run a hand-written write to ``model``'s table, which the query cache never holds
    (``CACHALOT_UNCACHABLE_TABLES``): there is nothing to invalidate.  Returns the row count,
    or with ``returning`` the rows of its ``RETURNING`` clause."""
    _check_uncached(model)
    return _run(sql, params, fetch=returning)


def _check_uncached(model: type[models.Model]) -> None:
    if model._meta.db_table not in settings.CACHALOT_UNCACHABLE_TABLES:
        raise ValueError(f"{model._meta.db_table} is cached: write it through the ORM")


def insert_uncached(
    objs: Sequence[models.Model],
    conflict: tuple[Sequence[str], Sequence[str]] | None = None,
) -> None:
    """Insert new rows of one model whose table the query cache never holds, in one statement.

    What ``bulk_create`` does for the request path's rows, at a fraction of its CPU: field
    defaults and ``pre_save`` (``auto_now_add``) apply, values are prepared exactly as the ORM
    prepares them, and each object gets the primary key the database gave it.  ``conflict`` is
    (unique columns, columns to update): a row that collides updates those columns instead
    (``ON CONFLICT ... DO UPDATE``, on PostgreSQL and SQLite alike).
    """
    if not objs:
        return
    model = type(objs[0])
    _check_uncached(model)
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    rows = [[f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields] for obj in objs]
    quote = connection.ops.quote_name
    row = f"({placeholders(fields)})"
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES {', '.join([row] * len(rows))}"
    )
    if conflict is not None:
        unique, update = conflict
        sql += f" ON CONFLICT ({', '.join(map(quote, unique))}) DO UPDATE SET " + ", ".join(
            f"{quote(c)} = EXCLUDED.{quote(c)}" for c in update
        )
    sql += f" RETURNING {quote(model._meta.pk.column)}"
    returned = _run(sql, [value for values in rows for value in values], fetch=True)
    for obj, (pk,) in zip(objs, returned, strict=True):
        obj.pk = pk
        obj._state.adding = False


def write_cached(model: type[models.Model], sql: str, params: Sequence[Any]) -> int:
    """Run a hand-written write to ``model``'s table, which the query cache may hold, and
    invalidate the cached queries on that table as the ORM's writes do.  Returns the row count.

    Only ``model``'s table is invalidated: the statement must write no other.  The statement
    runs on ``model``'s database for writes, past cachalot's scan of raw SQL (the table is
    named here, not searched for in the text).
    """
    return _write(model, sql, params, many=False)


def write_cached_many(
    model: type[models.Model], sql: str, param_rows: Sequence[Sequence[Any]]
) -> None:
    """``write_cached`` of one statement run once per parameter list (``executemany``: one
    round trip on psycopg 3)."""
    _write(model, sql, param_rows, many=True)


def delete_in(model: type[models.Model], field: str, values: Sequence[Any]) -> int:
    """``DELETE FROM`` ``model``'s table the rows whose ``field`` is one of ``values``, in one
    statement and without Django's collector: no signals, no cascade (the caller removes the
    rows that refer to these), the query cache invalidated as ``QuerySet.delete`` does.
    Returns the row count."""
    if not values:
        return 0
    conn = connections[router.db_for_write(model)]
    column = model._meta.pk if field == "pk" else model._meta.get_field(field)
    quote = conn.ops.quote_name
    sql = (
        f"DELETE FROM {quote(model._meta.db_table)} "
        f"WHERE {quote(column.column)} IN ({placeholders(values)})"
    )
    return write_cached(model, sql, [column.get_db_prep_value(v, conn) for v in values])


def _write(model: type[models.Model], sql: str, params: Any, many: bool) -> int:
    conn = connections[router.db_for_write(model)]
    conn.raw = False  # as in ``_run``: no scan, the table is invalidated below
    try:
        with conn.cursor() as cursor:
            if many:
                cursor.executemany(sql, params)
            else:
                cursor.execute(sql, params)
            return cursor.rowcount
    finally:
        conn.raw = True
        # What cachalot does for the ORM's writes; inside a transaction it takes effect at
        # commit, once per table.
        table = model._meta.db_table
        if is_cachable(table):
            invalidate(table, db_alias=conn.alias, cache_alias=cachalot_settings.CACHALOT_CACHE)


def placeholders(values: Sequence[Any]) -> str:
    """``%s, %s, ...`` for an SQL ``IN (...)`` list of ``values`` (which must not be empty)."""
    return ", ".join(["%s"] * len(values))
