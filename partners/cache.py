"""The provisioning cache: partners' answers kept for exactly their lifetime.

An entry is keyed by partner + a canonical form of the query (serving PLMN, connection PLMNs,
sorted EAS ids, sorted ECSP ids, location reduced to TAI/cell keys and points rounded to about
100 m, ACR scenarios; the GPSI only for a partner with ``shareUeId``).  It expires at the earliest
``lifeTime`` in the answer, capped by the partner's ``maxLifetime``, or after its
``defaultLifetime`` when the answer carries none; an expired entry is never served, nor is a
config whose own ``lifeTime`` has passed (``usable``).

Identical misses at once make one partner call through ``ecscore.singleflight``
(``partners.retrieval`` leads and joins the flights).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from django.utils import timezone

from ecscore.datetimes import parse_datetime
from ecscore.db import relaxed_commit
from provisioning.query import ProvisioningQuery

from .models import PartnerECS, ProvisioningCacheEntry

POINT_DECIMALS = 3  # about 100 m: nearby points share an entry


def canonical_query(
    query: ProvisioningQuery, serving_plmn: str | None, share_ue_id: bool
) -> dict[str, Any]:
    points = sorted(
        {
            # + 0.0: a point just west or south of 0 rounds to -0.0, which would print as
            # "-0.0" and key apart from its neighbours at 0.0.
            (round(lat, POINT_DECIMALS) + 0.0, round(lon, POINT_DECIMALS) + 0.0)
            for lat, lon in query.location.points
        }
    )
    return {
        "servingPlmn": serving_plmn,
        # connInfo is forwarded and the partner filters its EDNs by these PLMNs, so answers
        # for different connection PLMNs must not share an entry.
        "connPlmns": list(query.serving_plmns),
        "easIds": list(query.eas_ids),
        "ecspIds": list(query.ecsp_ids),
        "location": sorted(query.location.keys),
        "points": [list(p) for p in points],
        "acrScenarios": list(query.acr_scenarios),
        "ueId": query.ue_id if share_ue_id else None,
    }


def cache_key(canonical: dict[str, Any]) -> str:
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def usable(
    partner: PartnerECS, configs: list[dict[str, Any]], now: dt.datetime
) -> tuple[list[dict[str, Any]], dt.datetime | None]:
    """The configs of a partner's answer whose ``lifeTime`` has not passed, and when they
    expire in the cache (``expiry``; None: not cached).

    An EDNConfigInfo past its lifetime is no longer valid: it is never handed to an EEC, and
    it does not drag the expiry of the rest of the answer into the past. An answer whose
    every config has passed is not cached as "nothing there": the next request asks again."""
    live = []
    for cfg in configs:
        lifetime = parse_datetime(cfg["lifeTime"]) if "lifeTime" in cfg else None
        if lifetime is None or lifetime > now:
            live.append(cfg)
    if configs and not live:
        return [], None
    return live, expiry(partner, live, now)


def expiry(
    partner: PartnerECS, configs: list[dict[str, Any]], now: dt.datetime
) -> dt.datetime | None:
    """When a fresh answer expires; None when it must not be cached at all."""
    if partner.max_lifetime == 0:
        return None
    cap = now + dt.timedelta(seconds=partner.max_lifetime)
    lifetimes = [parse_datetime(c.get("lifeTime", "")) for c in configs if "lifeTime" in c]
    lifetimes = [t for t in lifetimes if t is not None]
    if lifetimes:
        expires = min(lifetimes)
    elif partner.default_lifetime == 0:
        return None
    else:
        expires = now + dt.timedelta(seconds=partner.default_lifetime)
    expires = min(expires, cap)
    return expires if expires > now else None


def fresh_entries(keys: dict[int, str]) -> dict[int, ProvisioningCacheEntry]:
    """Fresh entries for {partner pk: key}, in one query (the SQL of a hit and of a store is
    in partners/querysets.py)."""
    return ProvisioningCacheEntry.objects.fresh(keys)


def record_hits(entries: list[ProvisioningCacheEntry]) -> None:
    ProvisioningCacheEntry.objects.record_hits(entries)


def store(
    partner: PartnerECS,
    key: str,
    canonical: dict[str, Any],
    request: dict[str, Any],
    configs: list[dict[str, Any]],
    expires_at: dt.datetime,
) -> ProvisioningCacheEntry:
    """Keep a partner's answer; ``request`` is the ServProvReq sent (what a refresh resends)."""
    entry = ProvisioningCacheEntry(
        partner=partner,
        key=key,
        query=canonical,
        request=request,
        answer=configs,
        fetched_at=timezone.now(),
        expires_at=expires_at,
        hits=0,
        last_hit_at=None,
    )
    # A refresh keeps the entry's row and its partner subscription.
    with relaxed_commit():  # a cache: asked again should it ever be lost
        ProvisioningCacheEntry.objects.upsert(entry)
    return entry


def replace_answer(
    entry: ProvisioningCacheEntry, configs: list[dict[str, Any]], expires_at: dt.datetime
) -> None:
    """A new answer for an entry's query (a partner's notification), kept until ``expires_at``."""
    entry.answer = configs
    entry.fetched_at = timezone.now()
    entry.expires_at = expires_at
    entry.save(update_fields=["answer", "fetched_at", "expires_at"])


def sweep() -> int:
    """Delete expired entries; returns how many."""
    deleted, _ = ProvisioningCacheEntry.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
