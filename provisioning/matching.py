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

from cachalot.api import cachalot_disabled
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from ecsportal.memo import TableMemo

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


def _location_filter(query: ProvisioningQuery) -> Q | None:
    """EESs that may serve the location: a superset, narrowed exactly by ``serves_location``."""
    area = Q()
    if query.location.keys:
        area |= Q(key__in=sorted(query.location.keys))
    for lat, lon in query.location.points:
        area |= Q(
            kind=AreaKey.KIND_GEO,
            min_lat__lte=lat,
            max_lat__gte=lat,
            min_lon__lte=lon,
            max_lon__gte=lon,
        )
    ees_ids: set[int] = set()
    edn_ids: set[int] = set()
    for ees_id, edn_id in AreaKey.objects.filter(area).values_list("ees_id", "edn_id"):
        if ees_id is not None:
            ees_ids.add(ees_id)
        if edn_id is not None:
            edn_ids.add(edn_id)
    edn_ids.update(_edns_without_area.get())
    if not ees_ids and not edn_ids:
        return None  # no area contains the location: nothing to fetch
    cond = Q(has_area=False, edn_id__in=sorted(edn_ids)) if edn_ids else Q(pk__in=[])
    if ees_ids:
        cond |= Q(id__in=sorted(ees_ids))
    return cond


def _plmn_filter(query: ProvisioningQuery) -> Q:
    edn_ids = EDNPlmn.objects.filter(plmn__in=query.serving_plmns).values_list("edn_id")
    return Q(edn_id__in=sorted({e for (e,) in edn_ids}))


def candidates(query: ProvisioningQuery, home_plmns: set[str]) -> list[EES]:
    """EESs that pass every filter but the exact location check (``serves_location``)."""
    # Straight to the database: these lookups differ with every UE location, so the query
    # cache would pay a miss, a store and a key per location for answers rarely asked again.
    with cachalot_disabled():
        return _candidates(query, home_plmns)


def _candidates(query: ProvisioningQuery, home_plmns: set[str]) -> list[EES]:
    # Only what answers and filters read (no timestamps, no registration bookkeeping), in
    # no particular order: ``match`` ranks in Python.
    qs = (
        EES.objects.select_related("edn")
        .defer(*UNREAD_EES_FIELDS, *(f"edn__{f}" for f in UNREAD_EDN_FIELDS))
        .order_by()
    )
    if query.location:
        near = _location_filter(query)
        if near is None:
            return []
        qs = qs.filter(near)
        if query.eas_ids:
            # An EDN's EESs all share its area: narrow them to those serving a requested
            # application before fetching, through the (eas id, EES) index.
            serving = EESApplication.objects.filter(ees_id=OuterRef("pk"), eas_id__in=query.eas_ids)
            qs = qs.filter(Exists(serving))
    elif query.eas_ids:
        ids = EESApplication.objects.filter(eas_id__in=query.eas_ids).values_list("ees_id")
        qs = qs.filter(id__in=sorted({i for (i,) in ids}))
    elif query.serving_plmns and not home_plmns & set(query.serving_plmns):
        qs = qs.filter(_plmn_filter(query))
    if query.serving_plmns:
        # Checked with the same query, per candidate row, through the (plmn, edn) index.
        served = EDNPlmn.objects.filter(edn_id=OuterRef("edn_id"), plmn__in=query.serving_plmns)
        qs = qs.annotate(in_plmns=Exists(served))
    now = timezone.now()
    return [
        e
        for e in qs
        if _current(e, now) and _serves_apps(e, query) and _in_plmns(e, query, home_plmns)
    ]


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
