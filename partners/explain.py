"""Partners in "why this answer" (``provisioning.explain``): who would be consulted, and
whether from the cache, without the side effects of ``retrieval.PartnerSource``.

The same choices as the retrieval (``retrieval.consult_reason``, ``split_redirects``,
``cache.canonical_query``, ``cache.cache_key``, the breaker's state), then per partner:

* a fresh cache entry: its answer, capped as a hit would cap it -- no hit counted, no audit row;
* none (or an expired one) and the circuit open: not called, as EDGE-4 would not call it;
* none, and ``ask``: a real EDGE-10 call (``client.request_provisioning``), whose answer is
  shown but neither cached nor counted by the breaker; its audit row is a dry run
  (``RetrievalAudit.dry_run``, neither hit nor miss, so the dashboard's traffic figures leave
  it out) -- one row per call, written at once;
* none, and not ``ask``: "would call"; the answer is then incomplete.

No subscription is made at a partner and no single flight joined (nothing is stored for
another request to read).
"""

from __future__ import annotations

import math
from typing import Any

from django.utils import timezone

from ecscore.datetimes import format_datetime
from ecscore.middleware import current_request_id
from provisioning.areas import plmn_key
from provisioning.explain import SourceExplanation
from provisioning.query import ProvisioningQuery
from provisioning.sources import SourceContext, SourceResult

from . import audit, breaker, cache, retrieval
from .eecs_ecsserviceprovisioning import client
from .eecs_ecsserviceprovisioning import wire as edge10
from .models import PartnerECS, ProvisioningCacheEntry, RetrievalAudit

DRY_RUN_REASON = "dry run (explain)"


def _cache_state(entry: ProvisioningCacheEntry | None, now: Any) -> dict[str, Any]:
    if entry is None:
        return {"state": "none"}
    return {
        "state": "fresh" if entry.expires_at > now else "expired",
        "expiresAt": format_datetime(entry.expires_at),
        "fetchedAt": format_datetime(entry.fetched_at),
        "hits": entry.hits,
    }


class PartnerExplainer:
    """Registered with ``provisioning.explain`` when the partners app loads."""

    name = "partners"

    def explain(
        self, query: ProvisioningQuery, context: SourceContext, ask: bool
    ) -> SourceExplanation:
        result = SourceResult()
        rows: list[dict[str, Any]] = []
        complete = True
        partners = retrieval.cached_candidates(query, context)
        serving = plmn_key(context.serving_plmn)
        if context.redirect_allowed and serving:
            redirected, partners = retrieval.split_redirects(partners, serving)
            for partner in redirected:
                result.redirects.append(partner.redirect_info())
                rows.append(
                    {
                        "partner": partner.partner_id,
                        "consulted": False,
                        "why": f"redirect mode, and the UE roams in its PLMN {serving}",
                        "action": "redirect",
                        "outcome": "the EEC is sent to it (redirectedECS)",
                    }
                )
        chosen: list[tuple[PartnerECS, dict[str, Any], str]] = []
        for partner in partners:
            wanted, why = retrieval.consult_reason(
                partner, query, serving, context.local_match_count
            )
            row = {"partner": partner.partner_id, "consulted": wanted, "why": why}
            rows.append(row)
            if wanted:
                canonical = cache.canonical_query(query, serving, partner.share_ue_id)
                chosen.append((partner, canonical, cache.cache_key(canonical)))
        entries = self._entries({p.pk: key for p, _, key in chosen})
        now = timezone.now()
        by_partner = {r["partner"]: r for r in rows}
        for partner, canonical, _key in chosen:
            row = by_partner[partner.partner_id]
            entry = entries.get(partner.pk)
            row["cache"] = _cache_state(entry, now)
            if entry is not None and entry.expires_at > now:
                configs = retrieval.cap_lifetimes(entry.answer, entry.expires_at)
                result.edn_configs += configs
                row.update(action="cache hit", outcome=f"{len(configs)} EDN(s) from the cache")
                continue
            if breaker.state(partner) == breaker.OPEN:
                result.unavailable = True
                result.retry_after = max(
                    result.retry_after or 0, math.ceil(partner.breaker_cooldown)
                )
                row.update(action="circuit open", outcome="not called: contributes nothing")
                continue
            if not ask:
                complete = False
                row.update(
                    action="would call",
                    outcome="not asked (an explanation calls partners only when asked to)",
                )
                continue
            row.update(self._call(partner, canonical, context, result))
        return SourceExplanation(
            self.name, result, {"partners": rows, "asked": ask}, complete=complete
        )

    def _entries(self, keys: dict[int, str]) -> dict[int, ProvisioningCacheEntry]:
        """The cache entries (fresh or not) for {partner pk: key}: one query, read only
        (``cache.fresh_entries`` would fill this process's memory of entries)."""
        if not keys:
            return {}
        found = ProvisioningCacheEntry.objects.filter(
            partner_id__in=list(keys), key__in=sorted(set(keys.values()))
        ).only("id", "partner_id", "key", "answer", "expires_at", "fetched_at", "hits")
        return {e.partner_id: e for e in found if keys.get(e.partner_id) == e.key}

    def _call(
        self,
        partner: PartnerECS,
        canonical: dict[str, Any],
        context: SourceContext,
        result: SourceResult,
    ) -> dict[str, Any]:
        """A real EDGE-10 call for the explanation; only its dry-run audit row is written."""
        from provisioning.models import ECSConfiguration

        request = edge10.build_request(
            context.body,
            ECSConfiguration.current().ecs_id,
            context.serving_plmn,
            partner.share_ue_id,
        )
        reply = client.request_provisioning(
            partner.api_root,
            partner.outbound_credential(),
            request,
            partner.timeout,
            current_request_id(),
        )
        fields: dict[str, Any] = {
            "status": reply.status,
            "latency_ms": reply.latency_ms,
        }
        if reply.kind == client.FAULT:
            result.unavailable = True
            result.retry_after = max(
                result.retry_after or 0,
                retrieval.RETRY_AFTER_SECONDS,
                math.ceil(partner.timeout),
            )
            outcome = f"failed: {reply.reason}"
            fields["failed"] = True
        elif reply.kind == client.REFUSED:
            outcome = f"refused: {reply.reason}"
            fields["decision"] = RetrievalAudit.DENIED
        else:
            now = timezone.now()
            configs, expires = cache.usable(partner, reply.configs, now)
            capped = retrieval.cap_lifetimes(configs, expires or now)
            result.edn_configs += capped
            fields["edn_count"] = len(configs)
            outcome = f"{len(capped)} EDN(s) from the partner (not cached)"
        row = audit.entry(
            RetrievalAudit.OUTBOUND,
            partner,
            canonical,
            reason=f"{DRY_RUN_REASON}: {outcome}",
            **fields,
        )
        row.dry_run = True
        audit.write([row])
        return {
            "action": "called",
            "outcome": outcome,
            "status": reply.status,
            "latencyMs": round(reply.latency_ms, 1),
        }
