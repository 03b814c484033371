"""The inventory's hand-written SQL, behind named manager methods (``EES.objects.candidates``).

Matching runs two statements per request: the area keys of the UE's location, then the
candidate EESs with their EDNs.  They are written by hand because building and compiling the
equivalent querysets cost more CPU than the database spends answering them; their rows become
model instances through ``ecscore.db.ModelRows``, as the ORM would build them.  Raw SQL also
bypasses the query cache, which would pay a miss, a store and a key per UE location for
answers rarely asked again.

These are manager methods, not queryset methods: each is one fixed statement, which a
queryset's filters would not reach.  The module does not import ``provisioning.models`` (which
imports it): the models come from ``self.model`` and its relations.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from functools import cache
from typing import Any

from django.db import connection, models

from ecscore.db import ModelRows, placeholders, select, write_uncached

# Only what answers and filters read is fetched: no timestamps, no registration bookkeeping.
UNREAD_EES_FIELDS = ("created", "updated", "registered_profile", "registration_id", "source")
UNREAD_EDN_FIELDS = ("created", "updated", "plmns")


def _table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


class _Inventory:
    """The models and row builders of the candidate statements, for one EES model."""

    def __init__(self, ees_model: type[models.Model]) -> None:
        meta = ees_model._meta
        self.ees = ees_model
        self.edn_fk = meta.get_field("edn")
        self.edn = self.edn_fk.related_model
        self.area_key = meta.get_field("area_keys").related_model
        self.application = meta.get_field("applications").related_model
        self.edn_plmn = self.edn._meta.get_field("served_plmns").related_model
        self.ees_rows = ModelRows(ees_model, UNREAD_EES_FIELDS)
        self.edn_rows = ModelRows(self.edn, UNREAD_EDN_FIELDS)


@cache
def _inventory(ees_model: type[models.Model]) -> _Inventory:
    return _Inventory(ees_model)


class EESManager(models.Manager):
    def near(
        self, keys: Collection[str], points: Iterable[tuple[float, float]]
    ) -> tuple[set[int], set[int]]:
        """Ids of the EESs and EDNs whose area keys contain one of the TAI/cell ``keys``, or
        whose bounding boxes contain one of the ``points``: a superset of those whose area
        serves the location, in one statement on the area key index (none without keys and
        points)."""
        inventory = _inventory(self.model)
        branches: list[str] = []
        params: list[Any] = []
        if keys:
            sorted_keys = sorted(keys)
            branches.append(f"key IN ({placeholders(sorted_keys)})")
            params += sorted_keys
        for lat, lon in points:
            branches.append(
                "(kind = %s AND min_lat <= %s AND max_lat >= %s "
                "AND min_lon <= %s AND max_lon >= %s)"
            )
            params += [inventory.area_key.KIND_GEO, lat, lat, lon, lon]
        ees_ids: set[int] = set()
        edn_ids: set[int] = set()
        if branches:
            sql = (
                f"SELECT ees_id, edn_id FROM {_table(inventory.area_key)} "
                f"WHERE {' OR '.join(branches)}"
            )
            for ees_id, edn_id in select(sql, params):
                if ees_id is not None:
                    ees_ids.add(ees_id)
                if edn_id is not None:
                    edn_ids.add(edn_id)
        return ees_ids, edn_ids

    def candidates(
        self,
        *,
        near: tuple[Sequence[int], Sequence[int]] | None,
        eas_ids: Sequence[str],
        plmns: Sequence[str],
        only_plmn_edns: bool,
        keep: Callable[[Any], bool],
        limit: int | None = None,
    ) -> list[Any]:
        """The EESs a query may match, each with its EDN (``ees.edn``, no further query) and
        ``ees.in_plmns``: whether its EDN lists one of ``plmns``.  One statement, in no
        particular order.

        ``near`` -- (EES ids, EDN ids) of a location, from ``near``: the EESs listed and the
        EESs without an area of their own of the EDNs listed; with ``eas_ids``, only those
        serving one of them (through the (eas id, EES) index).  Without ``near``: the EESs
        serving one of ``eas_ids``; without those, with ``only_plmn_edns``, the EESs of the
        EDNs listing one of ``plmns``; else every EES.  ``keep`` is checked on each EES before
        its EDN is built (expiry, say: checked in Python, the SQL never depends on the clock).
        ``limit``: at most that many rows, the lowest ids (an explanation's sample of the EESs
        serving an application elsewhere), before ``keep``.
        """
        inventory = _inventory(self.model)
        ees_rows, edn_rows = inventory.ees_rows, inventory.edn_rows
        applications, edn_plmns = _table(inventory.application), _table(inventory.edn_plmn)
        where: list[str] = []
        where_params: list[Any] = []
        eas_ids = list(eas_ids)
        plmns = list(plmns)
        if near is not None:
            ees_ids, edn_ids = near
            by_area = []
            if edn_ids:
                by_area.append(f"(NOT e.has_area AND e.edn_id IN ({placeholders(edn_ids)}))")
                where_params += edn_ids
            if ees_ids:
                by_area.append(f"e.id IN ({placeholders(ees_ids)})")
                where_params += ees_ids
            where.append(f"({' OR '.join(by_area)})")
            if eas_ids:
                # An EDN's EESs all share its area: narrow them to those serving a requested
                # application in the same statement, through the (eas id, EES) index.
                where.append(
                    f"EXISTS (SELECT 1 FROM {applications} a "
                    f"WHERE a.ees_id = e.id AND a.eas_id IN ({placeholders(eas_ids)}))"
                )
                where_params += eas_ids
        elif eas_ids:
            where.append(
                f"e.id IN (SELECT a.ees_id FROM {applications} a "
                f"WHERE a.eas_id IN ({placeholders(eas_ids)}))"
            )
            where_params += eas_ids
        elif plmns and only_plmn_edns:
            where.append(
                f"e.edn_id IN (SELECT p.edn_id FROM {edn_plmns} p "
                f"WHERE p.plmn IN ({placeholders(plmns)}))"
            )
            where_params += plmns
        # Whether the EES's EDN serves one of the PLMNs: per row, through the (plmn, edn)
        # index.  A scalar subquery, not EXISTS: PostgreSQL may turn an EXISTS into a hashed
        # scan of the whole table, which grows with the inventory.
        in_plmns, select_params = "0", []
        if plmns:
            in_plmns = (
                f"(SELECT 1 FROM {edn_plmns} p "
                f"WHERE p.edn_id = e.edn_id AND p.plmn IN ({placeholders(plmns)}) LIMIT 1)"
            )
            select_params = plmns
        sql = (
            f"SELECT {ees_rows.columns('e')}, {edn_rows.columns('d')}, {in_plmns} "
            f"FROM {_table(self.model)} e INNER JOIN {_table(inventory.edn)} d "
            f"ON e.edn_id = d.id"
        )
        if where:
            sql += " WHERE " + " AND ".join(where)
        if limit is not None:
            sql += " ORDER BY e.id LIMIT %s"
            where_params.append(limit)
        rows = select(sql, select_params + where_params)
        edns: dict[int, Any] = {}
        found = []
        split = ees_rows.width
        for row in rows:
            ees = ees_rows.build(row[:split])
            if not keep(ees):
                continue
            edn = edns.get(ees.edn_id)
            if edn is None:
                edn = edns[ees.edn_id] = edn_rows.build(row[split:-1])
            inventory.edn_fk.set_cached_value(ees, edn)
            ees.in_plmns = bool(row[-1])
            found.append(ees)
        return found


class InventoryChangeManager(models.Manager):
    """The change events' one hand-written statement: the worker's claim."""

    def claim(self, limit: int, now: Any, until: Any) -> list[tuple[int, Any]]:
        """Lease up to ``limit`` unleased (or lapsed) events, oldest first, until ``until``;
        their (pk, scope). One statement: the events are chosen and leased together, and on
        PostgreSQL events another worker holds are skipped (``SKIP LOCKED``), not waited for.
        A worker that evaluates nothing pays one round trip per poll."""
        table = connection.ops.quote_name(self.model._meta.db_table)
        skip = " FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
        field = self.model._meta.get_field("leased_until")
        prepared = [field.get_db_prep_value(v, connection) for v in (until, now)]
        rows = write_uncached(
            self.model,
            f"UPDATE {table} SET leased_until = %s WHERE id IN ("
            f"SELECT id FROM {table} WHERE leased_until IS NULL OR leased_until < %s "
            f"ORDER BY id LIMIT %s{skip}) RETURNING id, scope",
            [*prepared, limit],
            returning=True,
        )
        scope = self.model._meta.get_field("scope")
        return sorted((pk, scope.from_db_value(value, None, connection)) for pk, value in rows)
