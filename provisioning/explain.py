"""Why this answer: what EDGE-4 would answer a request, and why, without side effects.

``explain(body)`` takes an ECSServProvReq and returns the answer the ECS would give -- from
the same steps as ``service.provision`` (``prepare``, ``matching.match``, ``combine``), not a
second copy of the rules -- and, for every EES it considered, a verdict: admitted, or the
rule that excluded it (area, registration expiry, EAS id, serving PLMN, EDN PLMNs), with the
preferences that ordered the admitted ones (ECSP, ACR support; docs/matching.md: they order,
they never exclude). The verdicts come from ``matching``'s own predicates, on the same
candidates its index lookups give, so the EESs marked admitted are exactly the answer's.

Considered: the location's candidates (every EES whose area, or its EDN's, may contain the
UE, whatever it serves), and a bounded sample (``ELSEWHERE``) of the EESs serving a requested
application whose area does not -- the far EES an engineer asks about. Without a location,
the EESs matching's own lookup reads. Never the whole EES table for a located request.

Other sources explain themselves through ``register`` (``partners`` registers which partners
would be consulted and whether their cache would answer), as they plug into ``sources``.
Side effects: none. The roaming resolver answers offline (no call to the home network);
a source calls out only with ``ask_partners``, and then writes nothing but dry-run audit rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from django.utils import timezone

from ecscore import schemas
from ecscore.middleware import current_request_id

from . import datamodel, inventory, matching, service, sources
from .models import EES, EDNPlmn
from .query import ProvisioningQuery

#: EESs serving a requested application outside the location, shown at most (lowest ids).
ELSEWHERE = 25
#: Verdict rows returned at most (admitted ones always): a request without location or
#: application may consider every EES, as matching itself does.
MAX_SHOWN = 500

AREA = "area"
REGISTRATION = "registration"
EAS_ID = "easId"
SERVING_PLMN = "servingPlmn"
EDN_PLMNS = "ednPlmns"
ECSP = "ecsp"
ACR = "acr"
#: The filters in the order matching applies them; the first that fails names the verdict.
FILTERS = (AREA, REGISTRATION, EAS_ID, SERVING_PLMN, EDN_PLMNS)
PREFERENCE = "preference"


@dataclass
class SourceExplanation:
    """What one other source would add, and its account of it (JSON-ready)."""

    name: str
    result: sources.SourceResult
    report: dict[str, Any] = field(default_factory=dict)
    #: Whether ``result`` is all the source would give (False: calls it would make were not).
    complete: bool = True


class SourceExplainer(Protocol):
    def explain(
        self, query: ProvisioningQuery, context: sources.SourceContext, ask: bool
    ) -> SourceExplanation: ...


_explainers: list[SourceExplainer] = []


def register(explainer: SourceExplainer) -> None:
    if explainer not in _explainers:
        _explainers.append(explainer)


def unregister(explainer: SourceExplainer) -> None:
    if explainer in _explainers:
        _explainers.remove(explainer)


def check_request(body: Any) -> None:
    """Raise ``InvalidRequest`` as EDGE-4 would for a body that is no ECSServProvReq."""
    schemas.check(body, datamodel.EDGE4_FILE, "ECSServProvReq")


def explain(body: dict[str, Any], *, ask_partners: bool = False) -> dict[str, Any]:
    """The explanation of an (already valid) ECSServProvReq, as JSON-ready data."""
    prepared = service.prepare(datamodel.provisioning_query(body), body, offline=True)
    query, home = prepared.query, prepared.home_plmns
    matches = matching.match(query, home)
    local = datamodel.edn_config_infos(matches, prepared.lifetime)
    context = service.source_context(prepared, len(local), not ask_partners, redirect=True)
    others = [e.explain(query, context, ask_partners) for e in _explainers]
    answer = service.combine(local, [o.result for o in others])
    order = {ees.pk: n for n, ees in enumerate((e for m in matches for e in m.eess), 1)}
    verdicts = _verdicts(query, home, order)
    shown = [v for v in verdicts if v["verdict"] == "admitted"]
    shown += [v for v in verdicts if v["verdict"] != "admitted"][: max(0, MAX_SHOWN - len(shown))]
    shown.sort(key=lambda v: (v["verdict"] != "admitted", v.get("position") or 0, v["eesId"]))
    answer_body = answer.body()
    return {
        # Dry-run audit rows, if any, carry it.
        "requestId": current_request_id(),
        "request": body,
        "query": _query_json(query),
        "roaming": {
            "servingPlmn": prepared.serving_plmn,
            "resolvedOffline": True,
        },
        "answer": {
            "status": answer.status,
            "body": answer_body or None,
            "retryAfter": answer.retry_after,
            "complete": all(o.complete for o in others),
        },
        "eess": shown,
        "considered": len(verdicts),
        "truncated": len(shown) < len(verdicts),
        "sources": [{"source": o.name, **o.report} for o in others],
    }


def _query_json(query: ProvisioningQuery) -> dict[str, Any]:
    return {
        "easIds": list(query.eas_ids),
        "location": {
            "keys": sorted(query.location.keys),
            "points": [list(p) for p in query.location.points],
        },
        "servingPlmns": list(query.serving_plmns),
        "ecspIds": list(query.ecsp_ids),
        "acrScenarios": list(query.acr_scenarios),
    }


def _considered(query: ProvisioningQuery, home: set[str]) -> tuple[list[tuple[EES, bool]], set]:
    """(EES, whether its EDN lists a requested PLMN) for every EES considered, and the pks of
    those the location's index lookup found (the rest serve a requested EAS id elsewhere):
    matching's own lookups (index or SQL), with the EAS-id and expiry narrowing left out."""
    only_plmn_edns = not home & set(query.serving_plmns)
    snapshot = inventory.index.current()
    located = bool(query.location)
    eas_ids = () if located else query.eas_ids
    if snapshot is not None:
        found = snapshot.candidates(
            location=query.location,
            eas_ids=eas_ids,
            plmns=query.serving_plmns,
            only_plmn_edns=only_plmn_edns,
        )
        near = {ees.pk for ees, _ in found}
        if located and query.eas_ids:
            found += snapshot.serving(query.eas_ids, query.serving_plmns, ELSEWHERE, near)
        return found, near
    near_arg = None
    if located:
        ees_ids, edn_ids = EES.objects.near(query.location.keys, query.location.points)
        edn_ids |= matching.edns_without_area()
        near_arg = (sorted(ees_ids), sorted(edn_ids))
    rows: list[EES] = []
    if near_arg is None or near_arg != ([], []):
        rows = EES.objects.candidates(
            near=near_arg,
            eas_ids=eas_ids,
            plmns=query.serving_plmns,
            only_plmn_edns=only_plmn_edns,
            keep=lambda ees: True,
        )
    near = {ees.pk for ees in rows}
    if located and query.eas_ids:
        serving_near = sum(1 for e in rows if matching.serves_apps(e, query))
        rows += EES.objects.candidates(
            near=None,
            eas_ids=query.eas_ids,
            plmns=query.serving_plmns,
            only_plmn_edns=only_plmn_edns,
            keep=lambda ees: ees.pk not in near,
            limit=ELSEWHERE + serving_near,
        )[:ELSEWHERE]
    return [(ees, ees.in_plmns) for ees in rows], near


def _served_plmns(edn_pks: set[int]) -> dict[int, list[str]]:
    """The PLMNs each EDN serves (its index rows), for the verdicts' words: one query."""
    served: dict[int, list[str]] = {pk: [] for pk in edn_pks}
    snapshot = inventory.index.current()
    if snapshot is not None:
        return {pk: sorted(snapshot.edn_plmns.get(pk, ())) for pk in edn_pks}
    if edn_pks:
        rows = EDNPlmn.objects.filter(edn_id__in=sorted(edn_pks)).values_list("edn_id", "plmn")
        for edn_pk, plmn in rows:
            served[edn_pk].append(plmn)
    return {pk: sorted(plmns) for pk, plmns in served.items()}


def _check(rule: str, passed: bool, detail: str, kind: str = "filter") -> dict[str, Any]:
    """One rule's outcome; a ``preference`` that does not hold only ranks the EES lower."""
    return {"rule": rule, "kind": kind, "passed": passed, "detail": detail}


def _area_check(ees: EES, query: ProvisioningQuery, near: bool) -> dict[str, Any]:
    if not query.location:
        return _check(AREA, True, "the request gives no UE location: location restricts nothing")
    where = "its service area" if ees.has_area else "its EDN's area"
    if not ees.has_area and not ees.edn.has_area:
        return _check(AREA, True, "neither it nor its EDN has an area: serves everywhere")
    if not near:
        return _check(AREA, False, f"{where} does not contain the UE's location")
    if matching.serves_location(ees, query):
        return _check(AREA, True, f"{where} contains the UE's location")
    return _check(
        AREA, False, f"{where}'s bounding box holds the UE's point, but the shape does not"
    )


def _plmn_checks(
    ees: EES, listed: bool, query: ProvisioningQuery, home: set[str], served: list[str]
) -> list[dict[str, Any]]:
    """The PLMN rule (``matching.in_plmns``) in its two halves: an EDN that serves named
    PLMNs must serve the UE's (servingPlmn); one that names none serves the home PLMNs
    (ednPlmns)."""
    asked = ", ".join(query.serving_plmns)
    passed = matching.in_plmns(ees, listed, query, home)
    if not query.serving_plmns:
        none = "the request names no serving PLMN (connInfo)"
        return [_check(SERVING_PLMN, True, none), _check(EDN_PLMNS, True, none)]
    if not ees.edn.serves_home:
        detail = f"its EDN serves {', '.join(served) or '-'}; the UE is served by {asked}"
        return [
            _check(SERVING_PLMN, passed, detail),
            _check(EDN_PLMNS, True, "its EDN names PLMNs of its own"),
        ]
    homes = ", ".join(sorted(home)) or "-"
    return [
        _check(SERVING_PLMN, True, "its EDN names no PLMN of its own"),
        _check(
            EDN_PLMNS,
            passed,
            f"its EDN names no PLMN, so it serves the home PLMNs ({homes}); the UE is "
            f"served by {asked}",
        ),
    ]


def _preferences(ees: EES, query: ProvisioningQuery) -> list[dict[str, Any]]:
    preferred, acr, _ = matching.rank(ees, query)
    if not query.ecsp_ids:
        ecsp = _check(ECSP, True, "the request prefers no ECSP", PREFERENCE)
    elif preferred == 0:
        ecsp = _check(ECSP, True, f"its ECSP {ees.ecsp_info} is preferred: ranks first", PREFERENCE)
    else:
        ecsp = _check(
            ECSP,
            False,
            f"its ECSP ({ees.ecsp_info or 'none'}) is not one the request prefers "
            f"({', '.join(query.ecsp_ids)}): ranks after those that are (never excluded)",
            PREFERENCE,
        )
    if not query.acr_scenarios:
        acr_check = _check(ACR, True, "the request asks for no ACR scenario", PREFERENCE)
    elif acr == 0:
        acr_check = _check(
            ACR, True, "supports a requested ACR scenario: ranks earlier", PREFERENCE
        )
    else:
        acr_check = _check(
            ACR,
            False,
            f"supports none of {', '.join(query.acr_scenarios)}: ranks after those that do "
            f"(never excluded)",
            PREFERENCE,
        )
    return [ecsp, acr_check]


def _verdicts(
    query: ProvisioningQuery, home: set[str], order: dict[int, int]
) -> list[dict[str, Any]]:
    found, near = _considered(query, home)
    served = _served_plmns({ees.edn_id for ees, _ in found})
    now = timezone.now()
    verdicts = []
    for ees, listed in found:
        checks = [_area_check(ees, query, ees.pk in near)]
        current = matching.is_current(ees, now)
        checks.append(
            _check(
                REGISTRATION,
                current,
                "no expiry" if ees.expires_at is None else f"registered until {ees.expires_at}",
            )
        )
        apps = ", ".join(ees.eas_ids or []) or "none"
        if not query.eas_ids:
            checks.append(_check(EAS_ID, True, "the request names no EAS id"))
        else:
            checks.append(
                _check(
                    EAS_ID,
                    matching.serves_apps(ees, query),
                    f"serves {apps}; the request asks for {', '.join(query.eas_ids)}",
                )
            )
        checks += _plmn_checks(ees, listed, query, home, served.get(ees.edn_id, []))
        failed = next((c for c in checks if not c["passed"]), None)
        position = order.get(ees.pk)
        verdict: dict[str, Any] = {
            "eesId": ees.ees_id,
            "edn": ees.edn.edn_id or ees.edn.dnn,
            "verdict": "admitted" if position is not None else "excluded",
            "rule": failed["rule"] if failed else None,
            "reason": failed["detail"] if failed else "passes every filter",
            "position": position,
            "checks": checks + _preferences(ees, query),
        }
        if (failed is None) != (position is not None):
            # The predicates and the answer disagree: say so rather than explain wrongly
            # (a change committed between the answer and the verdicts, say).
            verdict["rule"] = "changed"
            verdict["reason"] = "the inventory changed while the answer was explained"
        verdicts.append(verdict)
    return verdicts
