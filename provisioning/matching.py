"""The matching engine: which of our EDNs and EESs serve a provisioning query.

The rules (also in docs/matching.md):

* Location -- an EES serves the UE's TAI, cell or point when its ``svcArea`` lists the TAI or
  cell, or a polygon or circle of it contains the point (boundary included).  An EES without
  an area of its own takes its EDN's ``ednTopoSrvArea``; with no area at either level,
  location does not restrict it.  No UE location: location restricts nothing.
* Applications -- with EAS ids in the request, an EES matches only if it serves one of them.
* PLMN -- with serving PLMNs in ``connInfo``, only EDNs that serve one of them match.
* Preferences order the answer: preferred ECSPs first, then EESs supporting a requested ACR
  scenario, then by EES id.  EDNs are ordered by their best EES.

Candidates come from small index lookups, never from a scan of the inventory: the location's
TAI/cell keys and bounding boxes give EES and EDN ids, or else the EAS ids do, or else the
PLMNs; the candidate EESs are then fetched by primary key and EDN.  Everything else (EAS ids,
PLMNs, registration expiry, exact geometry) is checked in Python on those few rows, so a
request costs the same with 1,000 or 100,000 EESs, and the SQL of a request does not depend on
the clock (the query cache can serve it until the inventory changes).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Model
from django.utils import timezone

from ecscore.db import ModelRows, placeholders, select
from ecscore.memo import TableMemo

from .models import EDN, EES, AreaKey, EDNPlmn, EESApplication
from .query import ProvisioningQuery

UNREAD_EES_FIELDS = ("created", "updated", "registered_profile", "registration_id", "source")
UNREAD_EDN_FIELDS = ("created", "updated", "plmns")


@dataclass
class EDNMatch:
    edn: EDN
    eess: list[EES]


def _load_edns_without_area() -> frozenset[int]:
    return frozenset(EDN.objects.filter(has_area=False).values_list("id", flat=True))


# EDNs without an area serve everywhere: every located request needs them, they change only
# with the inventory.
_edns_without_area = TableMemo([EDN], _load_edns_without_area)


_EES_ROWS = ModelRows(EES, UNREAD_EES_FIELDS)
_EDN_ROWS = ModelRows(EDN, UNREAD_EDN_FIELDS)
_EDN_FK = EES._meta.get_field("edn")


def _table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _near(query: ProvisioningQuery) -> tuple[list[int], list[int]]:
    """Ids of the EESs and EDNs whose area keys or bounding boxes contain the location: a
    superset, narrowed exactly by ``serves_location``."""
    branches: list[str] = []
    params: list[Any] = []
    if query.location.keys:
        keys = sorted(query.location.keys)
        branches.append(f"key IN ({placeholders(keys)})")
        params += keys
    for lat, lon in query.location.points:
        branches.append(
            "(kind = %s AND min_lat <= %s AND max_lat >= %s AND min_lon <= %s AND max_lon >= %s)"
        )
        params += [AreaKey.KIND_GEO, lat, lat, lon, lon]
    ees_ids: set[int] = set()
    edn_ids: set[int] = set(_edns_without_area.get())
    if branches:
        sql = f"SELECT ees_id, edn_id FROM {_table(AreaKey)} WHERE {' OR '.join(branches)}"
        for ees_id, edn_id in select(sql, params):
            if ees_id is not None:
                ees_ids.add(ees_id)
            if edn_id is not None:
                edn_ids.add(edn_id)
    return sorted(ees_ids), sorted(edn_ids)


def candidates(query: ProvisioningQuery, home_plmns: set[str]) -> list[EES]:
    """EESs that pass every filter but the exact location check (``serves_location``)."""
    # Hand-written SQL, one statement per step: building and compiling the equivalent
    # querysets cost more CPU than the database spends answering them.  Only what answers
    # and filters read is fetched (no timestamps, no registration bookkeeping), in no
    # particular order (``match`` ranks in Python).  Raw SQL also bypasses the query cache,
    # which would pay a miss, a store and a key per UE location for answers rarely asked again.
    where: list[str] = []
    where_params: list[Any] = []
    eas_ids = list(query.eas_ids)
    plmns = list(query.serving_plmns)
    if query.location:
        ees_ids, edn_ids = _near(query)
        if not ees_ids and not edn_ids:
            return []  # no area contains the location: nothing to fetch
        near = []
        if edn_ids:
            near.append(f"(NOT e.has_area AND e.edn_id IN ({placeholders(edn_ids)}))")
            where_params += edn_ids
        if ees_ids:
            near.append(f"e.id IN ({placeholders(ees_ids)})")
            where_params += ees_ids
        where.append(f"({' OR '.join(near)})")
        if eas_ids:
            # An EDN's EESs all share its area: narrow them to those serving a requested
            # application in the same statement, through the (eas id, EES) index.
            where.append(
                f"EXISTS (SELECT 1 FROM {_table(EESApplication)} a "
                f"WHERE a.ees_id = e.id AND a.eas_id IN ({placeholders(eas_ids)}))"
            )
            where_params += eas_ids
    elif eas_ids:
        where.append(
            f"e.id IN (SELECT a.ees_id FROM {_table(EESApplication)} a "
            f"WHERE a.eas_id IN ({placeholders(eas_ids)}))"
        )
        where_params += eas_ids
    elif plmns and not home_plmns & set(plmns):
        where.append(
            f"e.edn_id IN (SELECT p.edn_id FROM {_table(EDNPlmn)} p "
            f"WHERE p.plmn IN ({placeholders(plmns)}))"
        )
        where_params += plmns
    # Whether the EES's EDN serves one of the PLMNs: per row, through the (plmn, edn) index.
    # A scalar subquery, not EXISTS: PostgreSQL may turn an EXISTS into a hashed scan of the
    # whole table, which grows with the inventory.
    in_plmns, select_params = "0", []
    if plmns:
        in_plmns = (
            f"(SELECT 1 FROM {_table(EDNPlmn)} p "
            f"WHERE p.edn_id = e.edn_id AND p.plmn IN ({placeholders(plmns)}) LIMIT 1)"
        )
        select_params = plmns
    sql = (
        f"SELECT {_EES_ROWS.columns('e')}, {_EDN_ROWS.columns('d')}, {in_plmns} "
        f"FROM {_table(EES)} e INNER JOIN {_table(EDN)} d ON e.edn_id = d.id"
    )
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = select(sql, select_params + where_params)
    now = timezone.now()
    edns: dict[int, EDN] = {}
    found = []
    split = _EES_ROWS.width
    for row in rows:
        ees = _EES_ROWS.build(row[:split])
        if not (_current(ees, now) and _serves_apps(ees, query)):
            continue
        edn = edns.get(ees.edn_id)
        if edn is None:
            edn = edns[ees.edn_id] = _EDN_ROWS.build(row[split:-1])
        _EDN_FK.set_cached_value(ees, edn)
        ees.in_plmns = bool(row[-1])
        if _in_plmns(ees, query, home_plmns):
            found.append(ees)
    return found


def _current(ees: EES, now: dt.datetime) -> bool:
    return ees.expires_at is None or ees.expires_at > now


def _serves_apps(ees: EES, query: ProvisioningQuery) -> bool:
    return not query.eas_ids or not set(query.eas_ids).isdisjoint(ees.eas_ids or ())


def _in_plmns(ees: EES, query: ProvisioningQuery, home_plmns: set[str]) -> bool:
    """Whether the EES's EDN serves one of the PLMNs (an EDN with no PLMN of its own: the home)."""
    if not query.serving_plmns or ees.in_plmns:
        return True
    return ees.edn.serves_home and not home_plmns.isdisjoint(query.serving_plmns)


def serves_location(ees: EES, query: ProvisioningQuery) -> bool:
    if not query.location:
        return True
    if ees.has_area:
        return query.location.served_by(ees.svc_area)
    if ees.edn.has_area:
        return query.location.served_by(ees.edn.edn_topo_srv_area)
    return True


def rank(ees: EES, query: ProvisioningQuery) -> tuple[int, int, str]:
    preferred = 0 if ees.ecsp_info and ees.ecsp_info in query.ecsp_ids else 1
    acr = 0 if set(query.acr_scenarios) & set(ees.ees_svc_cont_supp or []) else 1
    return (preferred, acr, ees.ees_id)


def match(query: ProvisioningQuery, home_plmns: set[str]) -> list[EDNMatch]:
    """EDNs with at least one matching EES, each with only its matching EESs, best first."""
    found = [ees for ees in candidates(query, home_plmns) if serves_location(ees, query)]
    found.sort(key=lambda ees: rank(ees, query))
    by_edn: dict[int, EDNMatch] = {}
    for ees in found:  # already in rank order, so each EDN's first EES is its best
        by_edn.setdefault(ees.edn_id, EDNMatch(ees.edn, [])).eess.append(ees)
    return list(by_edn.values())
