"""Recording retrievals: one audit row per exchange with a partner, in either direction,
and what an outbound row says about the partner (``OUTCOMES``: the dashboard counts with these
and the audit list filters with them, so a number and the rows behind it agree)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Q

from ecscore import writebehind
from ecscore.db import relaxed_commit
from ecscore.middleware import current_request_id

from .models import SUCCESSFUL_CALL, PartnerECS, RetrievalAudit

_OUTBOUND = Q(direction=RetrievalAudit.OUTBOUND)
#: Answered from our cache: the partner was not asked.
CACHE_HIT = _OUTBOUND & Q(cache=RetrievalAudit.HIT)
#: We needed the partner (a cache miss): asked it, or skipped it while its circuit was open.
CALL = _OUTBOUND & Q(cache=RetrievalAudit.MISS)
#: A call that got no usable answer (``RetrievalAudit.failed``).
FAILURE = CALL & Q(failed=True)
#: Calls whose latency is the partner's (a skipped call took no time).
TIMED_CALL = CALL & Q(latency_ms__gt=0)
#: A call the partner answered usably (2xx); its last one is on the partner's page and list.
SUCCESS = SUCCESSFUL_CALL
OUTCOMES = {
    "call": ("called (cache miss)", CALL),
    "success": ("answered (2xx)", SUCCESS),
    "failure": ("failed", FAILURE),
    "hit": ("cache hit", CACHE_HIT),
}
#: Spans up to now that the audit list filters by (the dashboard's window among them).
PERIOD_LAST_HOUR = "1h"
PERIODS = {PERIOD_LAST_HOUR: ("last hour", dt.timedelta(hours=1))}


def entry(
    direction: str,
    partner: PartnerECS | None,
    query: dict[str, Any],
    *,
    partner_label: str = "",
    decision: str = RetrievalAudit.ALLOWED,
    reason: str = "",
    status: int | None = None,
    edn_count: int = 0,
    cache: str = "",
    latency_ms: float = 0.0,
    failed: bool = False,
) -> RetrievalAudit:
    """An unsaved audit row; callers save rows together with ``write``."""
    return RetrievalAudit(
        direction=direction,
        partner=partner,
        partner_label=partner.partner_id if partner else partner_label or "(unknown)",
        request_id=current_request_id(),
        query=query,
        decision=decision,
        reason=reason[:255],
        status=status,
        edn_count=edn_count,
        cache=cache,
        latency_ms=round(latency_ms, 3),
        failed=failed,
    )


def write(rows: list[RetrievalAudit]) -> None:
    """Save ``rows`` in one statement (``RetrievalAudit.objects.insert``), relaxed commit."""
    if rows:
        with relaxed_commit():
            RetrievalAudit.objects.insert(rows)


_behind = writebehind.queue("partners.audit", write)


def write_behind(rows: list[RetrievalAudit]) -> None:
    """Save ``rows`` soon, in a batch with other requests' rows (``ecscore.writebehind``)."""
    writebehind.put(_behind, rows)
