"""Write many EDNs and EESs at once: the bulk path of the ``edns`` configuration section.

Saving row by row costs about a dozen statements per EES (its save, a change-log row, its
index rows, its EDN's index rows again, cache invalidations), so a 100,000-EES file would
take hours.  Here the caller works out in Python what to create, update and delete
(``InventoryChanges``) and ``write()`` does it in batches, ending with exactly the rows the
row-by-row saves would have left:

* the same EDN and EES rows (``updated`` set as ``auto_now`` would, ``has_area`` and
  ``serves_home`` derived as ``reindex_ees`` / ``reindex_edn`` derive them);
* the same index rows, from the same pure functions (``ees_index_rows``, ``edn_index_rows``,
  ``edn_served_plmns``), for every EES written and every EDN whose EESs changed;
* one change-log row per created, updated or deleted object, with the change reason, the
  request id and the actor that ``ecscore.history`` stamps on single saves.  The row holds
  the object as written; an EES's ``has_area`` is derived before it is written here, where
  a single save logs the value ``reindex_ees`` corrects just after.

Signals: no ``inventory_changed`` here; the caller sends one for the whole apply.  The
hand-written statements (change log, updates, deletes) run through ``ecscore.db``'s
``write_cached``, ``write_cached_many`` and ``delete_in``.  Deletes bypass Django's collector
(which would load every row, log and reindex it one by one), so they remove the dependent
rows themselves: ``tests/provisioning/test_bulk_apply.py`` checks that nothing else refers to
EDNs and EESs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, TypeVar

from cachalot.api import cachalot_disabled
from django.db import connections, models, router
from django.utils import timezone
from simple_history.signals import pre_create_historical_record

from ecscore.configfile import ProgressReporter as Progress
from ecscore.db import delete_in, placeholders, write_cached, write_cached_many

from . import inventory
from .models import (
    EDN,
    EES,
    AreaKey,
    EDNPlmn,
    EESApplication,
    edn_flags,
    edn_index_rows,
    edn_served_plmns,
    ees_has_area,
    ees_index_rows,
)

BATCH = 2000

T = TypeVar("T")


def batches(items: Iterable[T], size: int = BATCH) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


@contextmanager
def cachalot_reads_off() -> Iterator[None]:
    """Read without cachalot: it would pickle every large result into the cache.

    Writes still invalidate (cachalot hooks the ORM's writes, ``ecscore.db``'s write helpers
    invalidate the table they write); inside the apply's transaction those invalidations are
    collected in memory and reach the cache once, at commit.  ``cachalot_disabled`` does not
    restore itself when the block raises, hence the explicit exit.
    """
    disabled = cachalot_disabled()
    disabled.__enter__()
    try:
        yield
    finally:
        disabled.__exit__(None, None, None)


@dataclass
class InventoryChanges:
    """What an apply changes; objects carry their new field values."""

    edn_fields: list[str]  # the EDN fields the file sets (what an update writes)
    ees_fields: list[str]  # the EES fields the file sets (an update writes ``edn`` too)
    created_edns: list[EDN] = field(default_factory=list)
    updated_edns: list[EDN] = field(default_factory=list)
    # EESs with the EDN they belong to now (a created EDN has no primary key yet).
    created_eess: list[tuple[EES, EDN]] = field(default_factory=list)
    updated_eess: list[tuple[EES, EDN]] = field(default_factory=list)
    deleted_eess: list[EES] = field(default_factory=list)
    deleted_edns: list[EDN] = field(default_factory=list)
    # EDNs whose EESs changed (an EES left them, say): their served PLMNs follow.
    touched_edn_pks: set[int] = field(default_factory=set)

    def __bool__(self) -> bool:
        return any(
            (
                self.created_edns,
                self.updated_edns,
                self.created_eess,
                self.updated_eess,
                self.deleted_eess,
                self.deleted_edns,
            )
        )


class ChangeLog:
    """Change-log rows in bulk, with the columns a single save's row would get.

    A single save's row is the object as saved; here the database copies the saved rows
    into the change log (``INSERT ... SELECT``, a batch per statement), which is also the
    cheapest way to get exactly what was stored.  Deleted rows are copied before the delete.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.date = timezone.now()
        self._stamps: dict[type[models.Model], dict[str, Any]] = {}

    def _stamp(self, model: type[models.Model], instance: models.Model) -> dict[str, Any]:
        """User, change reason, request id and actor, as for a single save.

        One probe row goes through ``pre_create_historical_record`` (ecscore.history fills
        ``request_id`` and ``actor`` there); every row of the apply gets its values.
        """
        if model not in self._stamps:
            history = model.history.model  # type: ignore[attr-defined]
            user = history.get_default_history_user(instance)
            probe = history(history_user=user, history_change_reason=self.reason)
            pre_create_historical_record.send(
                sender=history,
                instance=instance,
                history_date=self.date,
                history_user=user,
                history_change_reason=self.reason,
                history_instance=probe,
                using=None,
            )
            tracked = {f.attname for f in history.tracked_fields}
            self._stamps[model] = {
                f.column: getattr(probe, f.attname)
                for f in history._meta.concrete_fields
                if f.attname not in tracked
                and f.attname not in ("history_id", "history_date", "history_type")
            }
        return self._stamps[model]

    def record(self, model: type[models.Model], objs: Sequence[models.Model], kind: str) -> None:
        """One row per object (``kind``: "+" created, "~" updated, "-" deleted)."""
        if not objs:
            return
        history = model.history.model  # type: ignore[attr-defined]
        # change_log() declares no history_relation; one would need a column per row here.
        assert not hasattr(history, "history_relation"), history
        connection = connections[router.db_for_write(history)]
        quote = connection.ops.quote_name
        copied = [
            (history._meta.get_field(f.name).column, model._meta.get_field(f.name).column)
            for f in history.tracked_fields
        ]
        constants = {
            "history_date": connection.ops.adapt_datetimefield_value(self.date),
            "history_type": kind,
            **self._stamp(model, objs[0]),
        }
        columns = [c for c, _ in copied] + list(constants)
        sql = (
            f"INSERT INTO {quote(history._meta.db_table)} "
            f"({', '.join(quote(c) for c in columns)}) "
            f"SELECT {', '.join(quote(c) for _, c in copied)}, "
            f"{', '.join(['%s'] * len(constants))} "
            f"FROM {quote(model._meta.db_table)} WHERE {quote(model._meta.pk.column)} IN "
        )
        for batch in batches(objs):
            pks = [obj.pk for obj in batch]
            write_cached(history, sql + f"({placeholders(pks)})", [*constants.values(), *pks])


def write(changes: InventoryChanges, reason: str, progress: Progress | None = None) -> None:
    """Write ``changes`` in batches; the caller holds the transaction."""
    report = progress or (lambda what, done, total: None)
    log = ChangeLog(reason)
    now = log.date

    # EDNs first: created EESs need their EDN's primary key.
    _create(EDN, changes.created_edns, log, report, "EDNs created")
    for edn in changes.updated_edns:
        edn.updated = now
    _update(
        EDN, changes.updated_edns, [*changes.edn_fields, "updated"], log, report, "EDNs updated"
    )

    created_eess = []
    for ees, edn in changes.created_eess:
        ees.edn_id = edn.pk
        ees.has_area = ees_has_area(ees)
        created_eess.append(ees)
    _create(EES, created_eess, log, report, "EESs created")
    updated_eess = []
    for ees, edn in changes.updated_eess:
        ees.edn_id = edn.pk
        ees.has_area = ees_has_area(ees)
        ees.updated = now
        updated_eess.append(ees)
    fields = [*changes.ees_fields, "edn", "has_area", "updated"]
    _update(EES, updated_eess, fields, log, report, "EESs updated")

    _delete_eess(changes.deleted_eess, log, report)
    _delete_edns(changes.deleted_edns, log, report)

    _reindex_eess(created_eess, updated_eess, report)
    touched = set(changes.touched_edn_pks)
    touched |= {edn.pk for edn in (*changes.created_edns, *changes.updated_edns)}
    touched |= {ees.edn_id for ees in (*created_eess, *updated_eess)}
    touched -= {edn.pk for edn in changes.deleted_edns}
    _reindex_edns(
        sorted(touched),
        area_keys_of={edn.pk for edn in (*changes.created_edns, *changes.updated_edns)},
        report=report,
    )
    # Written past the models' save and delete: each process's index builds anew.
    inventory.touched(full=True)


def _create(
    model: type[models.Model],
    objs: list[Any],
    log: ChangeLog,
    report: Progress,
    what: str,
) -> None:
    done = 0
    for batch in batches(objs):
        # Primary keys come back (PostgreSQL RETURNING, SQLite 3.35+): history and index rows
        # need them.
        model.objects.bulk_create(batch)  # type: ignore[attr-defined]
        log.record(model, batch, "+")
        done += len(batch)
        report(what, done, len(objs))


def _update(
    model: type[models.Model],
    objs: list[Any],
    fields: list[str],
    log: ChangeLog,
    report: Progress,
    what: str,
) -> None:
    """One UPDATE per row, sent as a batch (``executemany``: one round trip on psycopg 3).

    Not ``bulk_update``: its CASE per field with a WHEN per row costs Django about 5 ms a
    row to build (1,000 EESs: 6 s).  Values are prepared as a save prepares them.
    """
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    sql = (
        f"UPDATE {quote(meta.db_table)} "
        f"SET {', '.join(f'{quote(f.column)} = %s' for f in columns)} "
        f"WHERE {quote(meta.pk.column)} = %s"
    )
    done = 0
    for batch in batches(objs):
        rows = [
            [f.get_db_prep_save(getattr(obj, f.attname), connection) for f in columns] + [obj.pk]
            for obj in batch
        ]
        write_cached_many(model, sql, rows)
        log.record(model, batch, "~")
        done += len(batch)
        report(what, done, len(objs))


def _delete_eess(eess: list[EES], log: ChangeLog, report: Progress) -> None:
    done = 0
    for batch in batches(eess):
        log.record(EES, batch, "-")  # the row as it was, like simple-history's post_delete
        pks = [ees.pk for ees in batch]
        delete_in(AreaKey, "ees", pks)
        delete_in(EESApplication, "ees", pks)
        delete_in(EES, "pk", pks)
        done += len(batch)
        report("EESs deleted", done, len(eess))


def _delete_edns(edns: list[EDN], log: ChangeLog, report: Progress) -> None:
    """EDNs whose EESs are all gone (deleted or moved; the caller keeps those with others)."""
    done = 0
    for batch in batches(edns):
        log.record(EDN, batch, "-")
        pks = [edn.pk for edn in batch]
        delete_in(AreaKey, "edn", pks)
        delete_in(EDNPlmn, "edn", pks)
        delete_in(EDN, "pk", pks)
        done += len(batch)
        report("EDNs deleted", done, len(edns))


def _reindex_eess(created: list[EES], updated: list[EES], report: Progress) -> None:
    total, done = len(created) + len(updated), 0
    for batch in batches(updated):
        pks = [ees.pk for ees in batch]
        delete_in(AreaKey, "ees", pks)
        delete_in(EESApplication, "ees", pks)
    for batch in batches([*created, *updated]):
        keys: list[AreaKey] = []
        applications: list[EESApplication] = []
        for ees in batch:
            ees_keys, ees_applications = ees_index_rows(ees)
            keys += ees_keys
            applications += ees_applications
        AreaKey.objects.bulk_create(keys, batch_size=BATCH)
        EESApplication.objects.bulk_create(applications, batch_size=BATCH)
        done += len(batch)
        report("EES index", done, total)


def _reindex_edns(pks: list[int], area_keys_of: set[int], report: Progress) -> None:
    """What ``reindex_edn`` does, for many EDNs: their EESs as they are now in the database.

    Area keys depend on the EDN alone: rebuilt for the EDNs written.  Served PLMNs and the
    flags depend on its EESs too: rebuilt for every EDN touched.  As in ``reindex_edn`` the
    flags are written without a change-log row (they are derived, not configured).
    """
    done = 0
    for batch in batches(pks):
        edns = list(EDN.objects.filter(pk__in=batch))
        svc_areas: dict[int, list[Any]] = {pk: [] for pk in batch}
        for edn_id, svc_area in EES.objects.filter(edn_id__in=batch).values_list(
            "edn_id", "svc_area"
        ):
            svc_areas[edn_id].append(svc_area)
        flagged, keys, plmns = [], [], []
        for edn in edns:
            served = edn_served_plmns(edn, svc_areas[edn.pk])
            flags = edn_flags(edn, served)
            if flags != (edn.has_area, edn.serves_home):
                edn.has_area, edn.serves_home = flags
                flagged.append(edn)
            edn_keys, edn_plmns = edn_index_rows(edn, served)
            if edn.pk in area_keys_of:
                keys += edn_keys
            plmns += edn_plmns
        # Few distinct values: one UPDATE per value beats bulk_update's CASE per row.
        for flags in {(e.has_area, e.serves_home) for e in flagged}:
            has_area, serves_home = flags
            EDN.objects.filter(
                pk__in=[e.pk for e in flagged if (e.has_area, e.serves_home) == flags]
            ).update(has_area=has_area, serves_home=serves_home)
        rebuilt = [pk for pk in batch if pk in area_keys_of]
        if rebuilt:
            delete_in(AreaKey, "edn", rebuilt)
        delete_in(EDNPlmn, "edn", batch)
        AreaKey.objects.bulk_create(keys, batch_size=BATCH)
        EDNPlmn.objects.bulk_create(plmns, batch_size=BATCH)
        done += len(batch)
        report("EDN index", done, len(pks))
