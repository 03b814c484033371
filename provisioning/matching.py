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
PLMNs.  The lookups go to the process's in-memory index (``provisioning.inventory``) when it
is built and the caller is outside a transaction, else to the database's index tables (two
statements, ``querysets.EESManager``), which stay the oracle.  Everything else (EAS ids,
PLMNs, registration expiry, exact geometry) is checked in Python on those few EESs, so a
request costs the same with 1,000 or 100,000 EESs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from ecscore.memo import TableMemo

from . import inventory
from .models import EDN, EES
from .query import ProvisioningQuery


@dataclass
class EDNMatch:
    edn: EDN
    eess: list[EES]


def _load_edns_without_area() -> frozenset[int]:
    return frozenset(EDN.objects.filter(has_area=False).values_list("id", flat=True))


# EDNs without an area serve everywhere: every located request needs them, they change only
# with the inventory.
_edns_without_area = TableMemo([EDN], _load_edns_without_area)


def edns_without_area() -> frozenset[int]:
    """Pks of the EDNs without an area (a per-process memo)."""
    return _edns_without_area.get()


def candidates(query: ProvisioningQuery, home_plmns: set[str]) -> list[EES]:
    """EESs that pass every filter but the exact location check (``serves_location``):
    from the process's in-memory index when it is ready, else from the database."""
    snapshot = inventory.index.current()
    if snapshot is None:
        return sql_candidates(query, home_plmns)
    now = timezone.now()
    only_plmn_edns = not home_plmns & set(query.serving_plmns)
    found = []
    for ees, listed in snapshot.candidates(
        location=query.location,
        eas_ids=query.eas_ids,
        plmns=query.serving_plmns,
        only_plmn_edns=only_plmn_edns,
    ):
        if not (is_current(ees, now) and serves_apps(ees, query)):
            continue
        if in_plmns(ees, listed, query, home_plmns):
            found.append(ees)
    return found


def sql_candidates(query: ProvisioningQuery, home_plmns: set[str], memo: bool = True) -> list[EES]:
    """``candidates`` from the database: the fallback, and with ``memo=False`` (every row
    read now, none from a per-process memo) the oracle the in-memory index is tested
    against."""
    # Two hand-written statements (provisioning/querysets.py): the location's area keys,
    # then the candidate EESs with their EDNs.
    near = None
    if query.location:
        without_area = _edns_without_area.get() if memo else _load_edns_without_area()
        ees_ids, edn_ids = EES.objects.near(query.location.keys, query.location.points)
        edn_ids |= without_area
        if not ees_ids and not edn_ids:
            return []  # no area contains the location: nothing to fetch
        near = (sorted(ees_ids), sorted(edn_ids))
    now = timezone.now()
    found = EES.objects.candidates(
        near=near,
        eas_ids=query.eas_ids,
        plmns=query.serving_plmns,
        only_plmn_edns=not home_plmns & set(query.serving_plmns),
        keep=lambda ees: is_current(ees, now) and serves_apps(ees, query),
    )
    return [ees for ees in found if in_plmns(ees, ees.in_plmns, query, home_plmns)]


def is_current(ees: EES, now: dt.datetime) -> bool:
    """Not a registration past its expiry."""
    return ees.expires_at is None or ees.expires_at > now


def serves_apps(ees: EES, query: ProvisioningQuery) -> bool:
    """Serves one of the requested EAS ids, or the request names none."""
    return not query.eas_ids or not set(query.eas_ids).isdisjoint(ees.eas_ids or ())


def in_plmns(ees: EES, listed: bool, query: ProvisioningQuery, home_plmns: set[str]) -> bool:
    """Whether the EES's EDN serves one of the PLMNs: ``listed`` (it lists one), or with no
    PLMN of its own, the home's."""
    if not query.serving_plmns or listed:
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


def match(
    query: ProvisioningQuery, home_plmns: set[str], *, from_sql: bool = False
) -> list[EDNMatch]:
    """EDNs with at least one matching EES, each with only its matching EESs, best first.
    ``from_sql``: never from the in-memory index (the differential test's oracle)."""
    if from_sql:
        found = sql_candidates(query, home_plmns, memo=False)
    else:
        found = candidates(query, home_plmns)
    found = [ees for ees in found if serves_location(ees, query)]
    found.sort(key=lambda ees: rank(ees, query))
    by_edn: dict[int, EDNMatch] = {}
    for ees in found:  # already in rank order, so each EDN's first EES is its best
        by_edn.setdefault(ees.edn_id, EDNMatch(ees.edn, [])).eess.append(ees)
    return list(by_edn.values())
