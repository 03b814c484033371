"""The provisioning cache: partners' answers kept for exactly their lifetime.

An entry is keyed by partner + a canonical form of the query (serving PLMN, connection PLMNs,
sorted EAS ids, sorted ECSP ids, location reduced to TAI/cell keys and points rounded to about
100 m, ACR scenarios; the GPSI only for a partner with ``shareUeId``).  It expires at the earliest
``lifeTime`` in the answer, capped by the partner's ``maxLifetime``, or after its
``defaultLifetime`` when the answer carries none; an expired entry is never served, nor is a
config whose own ``lifeTime`` has passed (``usable``).

Identical misses at once make one partner call through ``ecscore.singleflight``
(``partners.retrieval`` leads and joins the flights).

Each process keeps the fresh entries it has served in memory (``Memory``): a hit then reads
nothing from the database.  An entry is served from memory only before its ``expires_at``
(checked on every hit, as the SQL does), and only while the process's inventory feed
(``provisioning.inventory``) has caught up with every committed change moments ago; every
write that changes a fresh entry's answer or expiry (a partner's notification, an
invalidation, a refresh, a removal) records the entry on that feed (``changed``), in its own
transaction, so every process drops its copy before its next answer.  Hit counters and hit
audit rows are written behind the request, in batches (``ecscore.writebehind``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from collections import Counter
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from ecscore import writebehind
from ecscore.datetimes import parse_datetime
from ecscore.db import relaxed_commit
from provisioning import inventory
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


TOPIC = "partners.cache"
# A memory copy is trusted while the feed caught up this recently (in practice: during the
# same request, whose local matching read the feed just before).
CAUGHT_UP_SECONDS = 1.0


class Memory:
    """This process's copies of fresh entries, by (partner pk, key)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: dict[tuple[int, str], ProvisioningCacheEntry] = {}
        self.by_pk: dict[int, tuple[int, str]] = {}

    def limit(self) -> int:
        return int(getattr(settings, "ECS_PARTNER_CACHE_MEMORY", 10_000))

    def get(self, keys: dict[int, str], now: dt.datetime) -> dict[int, ProvisioningCacheEntry]:
        found = {}
        with self.lock:
            for partner_pk, key in keys.items():
                entry = self.entries.get((partner_pk, key))
                if entry is None:
                    continue
                if entry.expires_at > now:
                    found[partner_pk] = entry
                else:
                    self._drop((partner_pk, key))
        return found

    def put(self, entries: list[ProvisioningCacheEntry]) -> None:
        limit = self.limit()
        with self.lock:
            for entry in entries:
                where = (entry.partner_id, entry.key)
                self._drop(where)
                while len(self.entries) >= limit:  # the oldest copy goes first
                    self._drop(next(iter(self.entries)))
                self.entries[where] = entry
                self.by_pk[entry.pk] = where

    def _drop(self, where: tuple[int, str]) -> None:
        entry = self.entries.pop(where, None)
        if entry is not None:
            self.by_pk.pop(entry.pk, None)

    def changed(self, pks: set[int] | None) -> None:
        """The feed's news: these entries changed (None: anything may have)."""
        with self.lock:
            if pks is None:
                self.entries.clear()
                self.by_pk.clear()
                return
            for pk in pks:
                where = self.by_pk.get(pk)
                if where is not None:
                    self._drop(where)


memory = Memory()
inventory.listen(TOPIC, memory.changed)


def fresh_entries(keys: dict[int, str]) -> dict[int, ProvisioningCacheEntry]:
    """Fresh entries for {partner pk: key}: from this process's memory when it may be
    trusted, the rest in one query (the SQL of a hit and of a store is in
    partners/querysets.py)."""
    if not keys:
        return {}
    trusted = memory.limit() > 0 and inventory.caught_up_within(CAUGHT_UP_SECONDS)
    found = memory.get(keys, timezone.now()) if trusted else {}
    wanted = {pk: key for pk, key in keys.items() if pk not in found}
    if wanted:
        loaded = ProvisioningCacheEntry.objects.fresh(wanted)
        if trusted and loaded:
            memory.put(list(loaded.values()))
        found.update(loaded)
    return found


def _write_hits(hits: list[tuple[int, dt.datetime]]) -> None:
    counts = Counter(pk for pk, _ in hits)
    latest: dict[int, dt.datetime] = {}
    for pk, at in hits:
        latest[pk] = max(at, latest.get(pk, at))
    with relaxed_commit():
        ProvisioningCacheEntry.objects.add_hits(counts, latest)


_hits = writebehind.queue("partners.cache-hits", _write_hits)


def record_hits(entries: list[ProvisioningCacheEntry]) -> None:
    """One more hit, now, for each of ``entries``: counted in memory, written behind."""
    now = timezone.now()
    writebehind.put(_hits, [(e.pk, now) for e in entries])


def changed(pks: list[int]) -> None:
    """Entries whose answer or expiry changed (or that are gone), in the caller's
    transaction: every process drops its memory copies of them before its next answer."""
    inventory.touched(topic=TOPIC, refs=pks)


def invalidate(entries: QuerySet) -> int:
    """Expire ``entries`` now: the next request for their queries asks the partner again."""
    with transaction.atomic():
        pks = list(entries.values_list("pk", flat=True))
        count = ProvisioningCacheEntry.objects.filter(pk__in=pks).update(expires_at=timezone.now())
        changed(pks)
    return count


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
    with transaction.atomic():
        entry.save(update_fields=["answer", "fetched_at", "expires_at"])
        changed([entry.pk])


def sweep() -> int:
    """Delete expired entries; returns how many."""
    deleted, _ = ProvisioningCacheEntry.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
