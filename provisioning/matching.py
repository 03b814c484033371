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

One SQL query selects the candidates through the index tables; geometry and the final
location check then run in Python on those candidates only.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone

from .models import EDN, EES, AreaKey, EDNPlmn, EESApplication
from .query import ProvisioningQuery


@dataclass
class EDNMatch:
    edn: EDN
    eess: list[EES]


def _area_subquery(query: ProvisioningQuery, owner: str) -> Q:
    """Ids of EDNs or EESs (``owner``) with an area key that may contain the location."""
    cond = Q()
    if query.location.keys:
        cond |= Q(key__in=sorted(query.location.keys))
    for lat, lon in query.location.points:
        cond |= Q(
            kind=AreaKey.KIND_GEO,
            min_lat__lte=lat,
            max_lat__gte=lat,
            min_lon__lte=lon,
            max_lon__gte=lon,
        )
    return Q(**{f"{owner}__isnull": False}) & cond


def candidates(query: ProvisioningQuery, home_plmns: set[str]) -> list[EES]:
    qs = EES.objects.select_related("edn").filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
    )
    if query.eas_ids:
        qs = qs.filter(
            id__in=EESApplication.objects.filter(eas_id__in=query.eas_ids).values("ees_id")
        )
    if query.location:
        ees_ids = AreaKey.objects.filter(_area_subquery(query, "ees")).values("ees_id")
        edn_ids = AreaKey.objects.filter(_area_subquery(query, "edn")).values("edn_id")
        qs = qs.filter(
            Q(has_area=True, id__in=ees_ids)
            | Q(has_area=False, edn__has_area=False)
            | Q(has_area=False, edn__has_area=True, edn_id__in=edn_ids)
        )
    if query.serving_plmns:
        plmn_cond = Q(
            edn_id__in=EDNPlmn.objects.filter(plmn__in=query.serving_plmns).values("edn_id")
        )
        if home_plmns & set(query.serving_plmns):
            plmn_cond |= Q(edn__serves_home=True)
        qs = qs.filter(plmn_cond)
    return list(qs)


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
