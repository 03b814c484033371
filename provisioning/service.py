"""Service provisioning (TS 24.558 clause 7.2.2): from a request to an ECSServProvResp.

The EDGE-4 view calls ``provision``; the T-EES discovery flow does too, so both take the
same path: the UE's roaming status (``roaming``: its serving PLMN and, from the home network,
perhaps its location), local matching, then every registered other source, then one merged
answer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

from django.utils import timezone

from . import datamodel, matching, roaming, sources
from .areas import UELocation, plmn_key
from .models import ECSConfiguration
from .query import ProvisioningQuery


@dataclass
class ProvisioningAnswer:
    """What we provision: EDNConfigInfo objects, ours first, and the ECSs the EEC is
    redirected to (ECSRedirectInfo) -- or why there are none."""

    #: 200 (``edn_configs`` or ``redirects``), 204 (nothing matches), 503 (a source that
    #: should answer could not; ``retry_after`` seconds).
    status: int
    edn_configs: list[dict[str, Any]] = field(default_factory=list)
    retry_after: int | None = None
    redirects: list[dict[str, Any]] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        """The members of an ECSServProvResp / ServProvNotification: each only when it has
        items (3GPP gives both ``minItems: 1``)."""
        members: dict[str, Any] = {}
        if self.edn_configs:
            members["ednCnfgInfo"] = self.edn_configs
        if self.redirects:
            members["redirectedECS"] = self.redirects
        return members


def _merge(local: list[dict[str, Any]], remote: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Local EDNs first; an EES id already listed (by us or an earlier source) is dropped."""
    seen = {ees["eesId"] for cfg in local for ees in cfg["eess"]}
    merged = list(local)
    for cfg in remote:
        eess = []
        for ees in cfg.get("eess", []):
            if ees.get("eesId") not in seen:
                seen.add(ees.get("eesId"))
                eess.append(ees)
        if eess:
            merged.append({**cfg, "eess": eess})
    return merged


@dataclass(frozen=True)
class Prepared:
    """A request made ready for matching: the query with what the roaming resolver learnt,
    the body to forward, and the ECS's home PLMNs and provisioning lifetime."""

    query: ProvisioningQuery
    body: dict[str, Any]
    home_plmns: set[str]
    serving_plmn: dict[str, Any] | None
    lifetime: dt.datetime


def prepare(
    query: ProvisioningQuery, forwarded: dict[str, Any] | None = None, offline: bool = False
) -> Prepared:
    """Resolve the UE's roaming status once and fold it into the query (see ``provision``)."""
    config = ECSConfiguration.current()
    home = config.home_plmn_keys()
    body = forwarded or {}
    status = roaming.resolve(body, home, offline)
    visited = plmn_key(status.serving_plmn)
    if visited and not query.serving_plmns:
        # Learnt from the home network, not connInfo: match as for a UE whose connInfo
        # names the visited PLMN.
        query = replace(query, serving_plmns=(visited,))
    if status.location_info and not query.location:
        # The home network knows where the UE is and the request did not say: match there,
        # and tell the partners the same (locInf is the same TS 29.122 LocationInfo).
        location = UELocation.from_location_info(status.location_info)
        if location:
            query = replace(query, location=location)
            body = {**body, "locInf": status.location_info}
    lifetime = timezone.now() + dt.timedelta(seconds=config.provisioning_lifetime)
    return Prepared(query, body, home, status.serving_plmn, lifetime)


def source_context(
    prepared: Prepared, local_count: int, offline: bool, redirect: bool
) -> sources.SourceContext:
    return sources.SourceContext(
        body=prepared.body,
        home_plmns=prepared.home_plmns,
        local_match_count=local_count,
        offline=offline,
        serving_plmn=prepared.serving_plmn,
        redirect_allowed=redirect,
    )


def combine(local: list[dict[str, Any]], results: list[sources.SourceResult]) -> ProvisioningAnswer:
    """The answer from our EDNConfigInfo objects and the other sources' results."""
    remote: list[dict[str, Any]] = []
    redirects: list[dict[str, Any]] = []
    unavailable = False
    retry_after: int | None = None
    for result in results:
        remote.extend(result.edn_configs)
        redirects.extend(r for r in result.redirects if r not in redirects)
        unavailable = unavailable or result.unavailable
        if result.retry_after is not None:
            retry_after = max(retry_after or 0, result.retry_after)
    merged = _merge(local, remote)
    if merged or redirects:
        return ProvisioningAnswer(200, merged, redirects=redirects)
    if unavailable:
        return ProvisioningAnswer(503, retry_after=retry_after or 5)
    return ProvisioningAnswer(204)


def provision(
    query: ProvisioningQuery,
    forwarded: dict[str, Any] | None = None,
    offline: bool = False,
    redirect: bool = False,
) -> ProvisioningAnswer:
    """Match ``query`` locally, then ask every registered source.

    ``forwarded``: the request's filters in 3GPP form (an ECSServProvReq's members), for
    sources that pass them on (a partner ECS). ``offline``: sources answer only from what is
    at hand (no network), as when evaluating subscriptions. ``redirect``: the answer may send
    the EEC to another ECS (``redirectedECS``: EDGE-4 and its notifications).
    ``provisioning.explain`` takes the same steps (``prepare``, ``matching.match``,
    ``combine``) without side effects.
    """
    prepared = prepare(query, forwarded, offline)
    local = datamodel.edn_config_infos(
        matching.match(prepared.query, prepared.home_plmns), prepared.lifetime
    )
    context = source_context(prepared, len(local), offline, redirect)
    results = [source.gather(prepared.query, context) for source in sources.registered()]
    return combine(local, results)
