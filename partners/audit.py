"""Recording retrievals: one audit row per exchange with a partner, in either direction."""

from __future__ import annotations

from typing import Any

from ecscore import writebehind
from ecscore.db import relaxed_commit
from ecscore.middleware import current_request_id

from .models import PartnerECS, RetrievalAudit


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
