"""Partner ECSs as a source of provisioning information (TS 23.558 clause 8.17.2.4.2.2).

For an EEC's request, this picks the partners to consult (their ``consult`` mode, and the
partners of ECSPs the EEC prefers), answers from fresh cache entries, and asks the others in
parallel under one deadline -- the largest timeout among the partners asked.  A partner in
``redirect`` mode is not asked about a UE roaming in its PLMNs when the answer can carry
``redirectedECS`` (TS 24.558 clause 7): the EEC is sent to it instead.  Identical
misses share one call (single flight).  Worker threads only talk HTTP; every database write
(cache entries, audit rows) happens in the request's own thread.

Partners discovered at the ECS-ER (``source`` "discovered") are not taken from the table:
a discovery hook (``set_discovery``, registered by the federation app, which partners may
not import) names those its current discovery answer holds for the request, and they are
then asked as configured partners are (same cache, deadline, breaker and audit).
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any

from django.utils import timezone

from ecscore import singleflight
from ecscore.datetimes import format_datetime, parse_datetime
from ecscore.db import relaxed_commit
from ecscore.memo import TableMemo
from ecscore.middleware import current_request_id
from provisioning.areas import plmn_key
from provisioning.query import ProvisioningQuery
from provisioning.sources import SourceContext, SourceResult

from . import audit, breaker, cache
from .eecs_ecsserviceprovisioning import client
from .eecs_ecsserviceprovisioning import wire as edge10
from .models import PartnerECS, RetrievalAudit

RETRY_AFTER_SECONDS = 5


def consult_reason(
    partner: PartnerECS, query: ProvisioningQuery, serving: str | None, local_count: int
) -> tuple[bool, str]:
    """Whether to consult ``partner`` for this query, and why (the explanation's words)."""
    if partner.ecsp and partner.ecsp in query.ecsp_ids:
        return True, f"the request prefers its ECSP {partner.ecsp}"
    if partner.consult == PartnerECS.CONSULT_ALWAYS:
        return True, "consult: always"
    if partner.consult == PartnerECS.CONSULT_ROAMING_ONLY:
        if serving is None:
            return False, "consult: roaming only, and the UE is not roaming"
        if serving in partner.plmn_keys():
            return True, f"consult: roaming only, and the UE roams in its PLMN {serving}"
        return False, f"consult: roaming only, and the UE's PLMN {serving} is not one of its"
    if local_count == 0:
        return True, "consult: when no local match, and nothing local matches"
    return False, f"consult: when no local match, and {local_count} local EDN(s) match"


def select_partners(
    partners: list[PartnerECS], query: ProvisioningQuery, serving: str | None, local_count: int
) -> list[PartnerECS]:
    return [p for p in partners if consult_reason(p, query, serving, local_count)[0]]


def enabled_partners() -> list[PartnerECS]:
    """The enabled partners, from the per-process memo every EDGE-4 request reads."""
    return _enabled_partners.get()


def split_redirects(
    partners: list[PartnerECS], serving: str
) -> tuple[list[PartnerECS], list[PartnerECS]]:
    """(partners in redirect mode whose PLMNs hold ``serving``, the others): the first are
    named to the EEC (redirectedECS) instead of being asked."""
    redirected, kept = [], []
    for partner in partners:
        if partner.redirects and serving in partner.plmn_keys():
            redirected.append(partner)
        else:
            kept.append(partner)
    return redirected, kept


@dataclass
class _Ask:
    partner: PartnerECS
    canonical: dict[str, Any]
    key: str
    request: dict[str, Any] | None = None
    flight: singleflight.Flight | None = None
    future: Future | None = None


def cap_lifetimes(configs: list[dict[str, Any]], latest: dt.datetime) -> list[dict[str, Any]]:
    """Copies of the configs whose lifeTime is no later than ``latest``; a config whose own
    lifeTime has passed (by now) is left out: an expired lifetime is never handed out."""
    capped = []
    now = timezone.now()
    for cfg in configs:
        current = parse_datetime(cfg.get("lifeTime", ""))
        if current is not None and current <= now:
            continue
        if current is None or current > latest:
            cfg = {**cfg, "lifeTime": format_datetime(latest)}
        capped.append(cfg)
    return capped


def _load_enabled_partners() -> list[PartnerECS]:
    return list(PartnerECS.objects.filter(enabled=True))


# Every EDGE-4 request asks which partners there are; operators change that rarely.
_enabled_partners = TableMemo([PartnerECS], _load_enabled_partners)


class _Inline:
    """The one partner call of a request, made in the request's own thread.

    Starting a thread costs more than a cache hit; with one partner there is nothing to run
    beside it, and the call keeps to its deadline by itself (``client``, ``singleflight.wait``).
    """

    def submit(self, fn: Any, *args: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except Exception as exc:  # as a pool would: raised again by future.result()
            future.set_exception(exc)
        return future

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass


@dataclass
class Discovered:
    """What the discovery hook found for one request: the enabled discovered partners to
    consult, its audit rows, and whether the ECS-ER failed us (as a partner's failure)."""

    partners: list[PartnerECS] = field(default_factory=list)
    rows: list[RetrievalAudit] = field(default_factory=list)
    unavailable: bool = False
    retry_after: int | None = None


#: (query, context, the enabled configured partners) -> ``Discovered``.
DiscoveryHook = Callable[[ProvisioningQuery, SourceContext, list[PartnerECS]], Discovered]
_discovery: DiscoveryHook | None = None


def set_discovery(hook: DiscoveryHook | None) -> None:
    """Register partner discovery (the federation app, at the ECS-ER it is a member of)."""
    global _discovery
    _discovery = hook


def cached_candidates(query: ProvisioningQuery, context: SourceContext) -> list[PartnerECS]:
    """The enabled configured partners, and the discovered ones a fresh discovery answer
    names for this request, without any call (what an explanation may consider)."""
    partners = [p for p in _enabled_partners.get() if p.source == PartnerECS.SOURCE_CONFIGURED]
    if _discovery is not None:
        partners += _discovery(query, replace(context, offline=True), list(partners)).partners
    return partners


class PartnerSource:
    """Registered with provisioning.sources when the partners app loads."""

    def gather(self, query: ProvisioningQuery, context: SourceContext) -> SourceResult:
        # Discovered rows are asked only while a discovery answer names them (the hook's).
        partners = [p for p in _enabled_partners.get() if p.source == PartnerECS.SOURCE_CONFIGURED]
        result = SourceResult()
        rows: list[RetrievalAudit] = []
        if _discovery is not None:
            found = _discovery(query, context, partners)
            partners += found.partners
            rows += found.rows
            if found.unavailable:
                result.unavailable = True
                result.retry_after = max(result.retry_after or 0, found.retry_after or 0)
        if not partners:
            audit.write_behind(rows)
            return result
        serving_plmn = context.serving_plmn
        serving = plmn_key(serving_plmn)
        if context.redirect_allowed and serving:
            partners = self._redirect(partners, query, serving, result, rows)
        chosen = select_partners(partners, query, serving, context.local_match_count)
        if not chosen:
            audit.write_behind(rows)
            return result

        asks = []
        for partner in chosen:
            canonical = cache.canonical_query(query, serving, partner.share_ue_id)
            asks.append(_Ask(partner, canonical, cache.cache_key(canonical)))
        looked_up = time.monotonic()
        hits = cache.fresh_entries({a.partner.pk: a.key for a in asks})
        hit_latency = (time.monotonic() - looked_up) * 1000

        for ask in asks:
            entry = hits.get(ask.partner.pk)
            if entry is not None:
                result.edn_configs += cap_lifetimes(entry.answer, entry.expires_at)
                rows.append(
                    audit.entry(
                        RetrievalAudit.OUTBOUND,
                        ask.partner,
                        ask.canonical,
                        edn_count=len(entry.answer),
                        cache=RetrievalAudit.HIT,
                        latency_ms=hit_latency,
                        reason="fresh cache entry",
                    )
                )
        pending = [a for a in asks if a.partner.pk not in hits]
        if pending and not context.offline:
            pending = self._past_open_circuits(pending, result, rows)
        if pending and not context.offline:
            self._ask_partners(pending, context.body, serving_plmn, result, rows)
        # Hit counters and audit rows are written behind the request, in batches: a cache
        # hit then waits for no write at all.
        cache.record_hits(list(hits.values()))
        audit.write_behind(rows)
        return result

    def _redirect(
        self,
        partners: list[PartnerECS],
        query: ProvisioningQuery,
        serving: str,
        result: SourceResult,
        rows: list[RetrievalAudit],
    ) -> list[PartnerECS]:
        """Redirect-mode partners of the serving PLMN go into ``result.redirects`` (and the
        audit) instead of being asked; the partners left to consult are returned."""
        redirected, kept = split_redirects(partners, serving)
        for partner in redirected:
            result.redirects.append(partner.redirect_info())
            rows.append(
                audit.entry(
                    RetrievalAudit.OUTBOUND,
                    partner,
                    cache.canonical_query(query, serving, partner.share_ue_id),
                    decision=RetrievalAudit.REDIRECTED,
                    reason="roaming UE redirected to the partner ECS (redirectedECS)",
                )
            )
        return kept

    def _past_open_circuits(
        self, pending: list[_Ask], result: SourceResult, rows: list[RetrievalAudit]
    ) -> list[_Ask]:
        """Partners whose circuit is open are not called: they contribute nothing, at once."""
        callable_ = []
        for ask in pending:
            if breaker.allow(ask.partner):
                callable_.append(ask)
                continue
            result.unavailable = True
            result.retry_after = max(
                result.retry_after or 0, math.ceil(ask.partner.breaker_cooldown)
            )
            rows.append(
                audit.entry(
                    RetrievalAudit.OUTBOUND,
                    ask.partner,
                    ask.canonical,
                    reason="circuit open: not called",
                    cache=RetrievalAudit.MISS,
                    failed=True,
                )
            )
        return callable_

    def _ask_partners(
        self,
        pending: list[_Ask],
        body: dict[str, Any],
        serving_plmn: dict | None,
        result: SourceResult,
        rows: list[RetrievalAudit],
    ) -> None:
        from provisioning.models import ECSConfiguration

        requester = ECSConfiguration.current().ecs_id
        started = time.monotonic()
        deadline = started + max(a.partner.timeout for a in pending)
        request_id = current_request_id()
        pool: ThreadPoolExecutor | _Inline
        if len(pending) == 1:
            pool = _Inline()
        else:
            pool = ThreadPoolExecutor(max_workers=len(pending), thread_name_prefix="partner")
        try:
            calling = []
            for ask in pending:
                partner = ask.partner
                ask.flight = singleflight.join(f"{partner.pk}:{ask.key}", partner.timeout)
                if ask.flight.leader:
                    # Check again under the lock: the leader of an identical flight may have
                    # stored its answer and released the lock since our cache lookup.
                    entry = cache.fresh_entries({partner.pk: ask.key}).get(partner.pk)
                    if entry is not None:
                        singleflight.finish(ask.flight, "cached")
                        latency = (time.monotonic() - started) * 1000
                        self._serve_entry(ask, entry, latency, result, rows)
                        continue
                    ask.request = request = edge10.build_request(
                        body, requester, serving_plmn, partner.share_ue_id
                    )
                    ask.future = pool.submit(
                        client.request_provisioning,
                        partner.api_root,
                        partner.outbound_credential(),
                        request,
                        partner.timeout,
                        request_id,
                    )
                else:
                    ask.future = pool.submit(singleflight.wait, ask.flight, deadline)
                calling.append(ask)
            waiting = {a.future: a for a in calling}
            while waiting:
                remaining = deadline - time.monotonic()
                done, _ = wait(
                    list(waiting), timeout=max(0.0, remaining), return_when=FIRST_COMPLETED
                )
                if not done:
                    break
                for future in done:
                    self._settle(waiting.pop(future), future.result(), started, result, rows)
            for ask in waiting.values():  # past the deadline
                self._settle(ask, None, started, result, rows)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _settle(
        self,
        ask: _Ask,
        outcome: Any,
        started: float,
        result: SourceResult,
        rows: list[RetrievalAudit],
    ) -> None:
        partner = ask.partner
        latency = (time.monotonic() - started) * 1000
        flight = ask.flight
        assert flight is not None
        if not flight.leader:
            self._settle_follower(ask, outcome, latency, result, rows)
            return
        reply: client.PartnerReply = outcome or client.PartnerReply(
            client.FAULT, reason=f"no answer within {partner.timeout:g} s"
        )
        if outcome is None or reply.kind == client.FAULT:
            breaker.record_failure(partner)
            singleflight.finish(flight, "failed")
            result.unavailable = True
            result.retry_after = max(
                result.retry_after or 0, RETRY_AFTER_SECONDS, math.ceil(partner.timeout)
            )
            rows.append(
                audit.entry(
                    RetrievalAudit.OUTBOUND,
                    partner,
                    ask.canonical,
                    reason=reply.reason,
                    status=reply.status,
                    cache=RetrievalAudit.MISS,
                    latency_ms=latency,
                    failed=True,
                )
            )
            return
        breaker.record_success(partner)  # an answer, even a refusal, is no failure
        if reply.kind == client.REFUSED:
            singleflight.finish(flight, "refused")
            rows.append(
                audit.entry(
                    RetrievalAudit.OUTBOUND,
                    partner,
                    ask.canonical,
                    decision=RetrievalAudit.DENIED,
                    reason=reply.reason,
                    status=reply.status,
                    cache=RetrievalAudit.MISS,
                    latency_ms=latency,
                )
            )
            return
        now = timezone.now()
        configs, expires = cache.usable(partner, reply.configs, now)
        result.edn_configs += cap_lifetimes(configs, expires or now)
        row = audit.entry(
            RetrievalAudit.OUTBOUND,
            partner,
            ask.canonical,
            status=reply.status,
            edn_count=len(configs),
            cache=RetrievalAudit.MISS,
            latency_ms=latency,
            reason="cached until " + format_datetime(expires) if expires else "not cached",
        )
        if expires is None:
            singleflight.finish(flight, "uncached", configs)
            rows.append(row)
            return
        # The answer and its audit row in one commit, before the waiters are told to read it.
        with relaxed_commit():
            cache.store(partner, ask.key, ask.canonical, ask.request or {}, configs, expires)
            audit.write([row])
        singleflight.finish(flight, "cached")

    def _serve_entry(
        self,
        ask: _Ask,
        entry: Any,
        latency: float,
        result: SourceResult,
        rows: list[RetrievalAudit],
    ) -> None:
        """Answer from the entry that a concurrent identical request has just stored."""
        cache.record_hits([entry])
        result.edn_configs += cap_lifetimes(entry.answer, entry.expires_at)
        rows.append(
            audit.entry(
                RetrievalAudit.OUTBOUND,
                ask.partner,
                ask.canonical,
                edn_count=len(entry.answer),
                cache=RetrievalAudit.HIT,
                latency_ms=latency,
                reason="answer of a concurrent identical request",
            )
        )

    def _settle_follower(
        self,
        ask: _Ask,
        done: dict[str, Any] | None,
        latency: float,
        result: SourceResult,
        rows: list[RetrievalAudit],
    ) -> None:
        partner = ask.partner
        outcome = (done or {}).get("outcome", "timeout")
        entry = cache.fresh_entries({partner.pk: ask.key}).get(partner.pk)
        if entry is not None:
            self._serve_entry(ask, entry, latency, result, rows)
            return
        if outcome in ("refused", "uncached"):
            # The partner answered the concurrent request; its answer may not be reused later.
            configs = (done or {}).get("configs") or []
            result.edn_configs += cap_lifetimes(configs, timezone.now())
            rows.append(
                audit.entry(
                    RetrievalAudit.OUTBOUND,
                    partner,
                    ask.canonical,
                    cache=RetrievalAudit.MISS,
                    edn_count=len(configs),
                    latency_ms=latency,
                    reason=f"concurrent identical request: {outcome}",
                )
            )
            return
        result.unavailable = True
        result.retry_after = max(result.retry_after or 0, RETRY_AFTER_SECONDS)
        rows.append(
            audit.entry(
                RetrievalAudit.OUTBOUND,
                partner,
                ask.canonical,
                cache=RetrievalAudit.MISS,
                latency_ms=latency,
                reason=f"concurrent identical request: {outcome}",
                failed=True,
            )
        )


def refresh(entry: Any) -> tuple[bool, str]:
    """Ask the partner again for a cached entry's query now (the admin's "refresh now")."""
    partner = entry.partner
    reply = client.request_provisioning(
        partner.api_root,
        partner.outbound_credential(),
        entry.request,
        partner.timeout,
        current_request_id(),
    )
    row = audit.entry(
        RetrievalAudit.OUTBOUND,
        partner,
        entry.query,
        status=reply.status,
        edn_count=len(reply.configs),
        cache=RetrievalAudit.MISS,
        latency_ms=reply.latency_ms,
        reason="refresh requested in the admin",
    )
    if reply.kind in (client.OK, client.EMPTY):
        configs, expires = cache.usable(partner, reply.configs, timezone.now())
        if expires is None:
            entry.delete()
            message = "answered with nothing that may be cached; the entry was removed"
        else:
            cache.store(partner, entry.key, entry.query, entry.request, configs, expires)
            message = f"refreshed, cached until {format_datetime(expires)}"
        audit.write([row])
        return True, message
    row.decision = RetrievalAudit.DENIED if reply.kind == client.REFUSED else row.decision
    row.failed = reply.kind == client.FAULT
    row.reason = f"refresh requested in the admin: {reply.reason}"[:255]
    audit.write([row])
    return False, reply.reason
