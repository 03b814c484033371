"""The provisioning cache: partners' answers kept for exactly their lifetime.

An entry is keyed by partner + a canonical form of the query (serving PLMN, connection PLMNs,
sorted EAS ids, sorted ECSP ids, location reduced to TAI/cell keys and points rounded to about
100 m, ACR scenarios; the GPSI only for a partner with ``shareUeId``).  It expires at the earliest
``lifeTime`` in the answer, capped by the partner's ``maxLifetime``, or after its
``defaultLifetime`` when the answer carries none; an expired entry is never served.

Identical misses at once make one partner call through ``ecscore.singleflight``
(``partners.retrieval`` leads and joins the flights).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from django.db import connection
from django.utils import timezone

from ecscore.datetimes import parse_datetime
from ecscore.db import (
    ModelRows,
    insert_uncached,
    placeholders,
    relaxed_commit,
    select,
    write_uncached,
)
from provisioning.query import ProvisioningQuery

from .models import PartnerECS, ProvisioningCacheEntry

POINT_DECIMALS = 3  # about 100 m: nearby points share an entry
# What storing a fresh answer writes; a refresh keeps the rest (the partner subscription).
STORED_FIELDS = ("query", "request", "answer", "fetched_at", "expires_at", "hits", "last_hit_at")


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


# Serving a hit reads the answer only; the stored query and request are for the admin.
_HIT_ROWS = ModelRows(
    ProvisioningCacheEntry,
    leave_out=tuple(
        f.attname
        for f in ProvisioningCacheEntry._meta.concrete_fields
        if f.attname not in ("id", "partner_id", "key", "answer", "expires_at")
    ),
)


def _db_time(moment: dt.datetime) -> Any:
    """A datetime as the ORM would store it (SQLite keeps naive UTC text)."""
    return connection.ops.adapt_datetimefield_value(moment)


def _table() -> str:
    return connection.ops.quote_name(ProvisioningCacheEntry._meta.db_table)


def fresh_entries(keys: dict[int, str]) -> dict[int, ProvisioningCacheEntry]:
    """Fresh entries for {partner pk: key}, in one query."""
    if not keys:
        return {}
    # Hand-written: on a cache hit, building this query with the ORM cost more CPU than
    # everything else the hit does in the database.
    partners, wanted = list(keys), sorted(set(keys.values()))
    rows = select(
        f"SELECT {_HIT_ROWS.columns('c')} FROM {_table()} c "
        f"WHERE c.partner_id IN ({placeholders(partners)}) "
        f"AND c.key IN ({placeholders(wanted)}) AND c.expires_at > %s",
        [*partners, *wanted, _db_time(timezone.now())],
    )
    entries = [_HIT_ROWS.build(row) for row in rows]
    return {e.partner_id: e for e in entries if keys.get(e.partner_id) == e.key}


def record_hits(entries: list[ProvisioningCacheEntry]) -> None:
    if entries:
        ids = [e.pk for e in entries]
        write_uncached(
            ProvisioningCacheEntry,
            f"UPDATE {_table()} SET hits = hits + 1, last_hit_at = %s "
            f"WHERE id IN ({placeholders(ids)})",
            [_db_time(timezone.now()), *ids],
        )


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
    # One statement (INSERT ... ON CONFLICT UPDATE) instead of a locking read and a write;
    # a refresh keeps the entry's row and its partner subscription.
    with relaxed_commit():  # a cache: asked again should it ever be lost
        insert_uncached([entry], conflict=(["partner_id", "key"], STORED_FIELDS))
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
