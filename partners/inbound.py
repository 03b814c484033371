"""Answering a partner ECS (the partner side of TS 23.558 clause 8.17.2.4.2.2).

Authorize (deny by default, partners.policy), match with the same rules as EDGE-4, disclose
only what the policy allows, grant the policy's lifetime, and audit the decision.  A partner's
request never makes us ask our own partners, so two ECSs can never loop.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from provisioning import datamodel, matching
from provisioning.areas import plmn_key
from provisioning.models import ECSConfiguration

from . import audit, cache, policy
from .eecs_ecsserviceprovisioning import wire as edge10
from .federated import Requester, requester_id, requester_row
from .models import PartnerECS, RetrievalAudit


@dataclass
class InboundAnswer:
    status: int
    body: dict[str, Any] | None = None
    cause: str = ""
    detail: str = ""
    headers: dict[str, str] = field(default_factory=dict)


def answer(requester: Requester, request: dict[str, Any]) -> InboundAnswer:
    """The answer to a ServProvReq of a configured partner, or of an ECS known only through
    the ECS-ER (audited under its ECS id, linked to its partners row when it has one)."""
    started = time.monotonic()
    partner, label = requester_row(requester), requester_id(requester)
    query = datamodel.provisioning_query(edge10.query_body(request))
    canonical = cache.canonical_query(query, plmn_key(request.get("servingPlmn")), False)
    decision = policy.authorize(requester, request, query)
    if not decision.allowed:
        headers = {"Retry-After": str(decision.retry_after)} if decision.retry_after else {}
        audit.write(
            [
                audit.entry(
                    RetrievalAudit.INBOUND,
                    partner,
                    canonical,
                    partner_label=label,
                    decision=RetrievalAudit.DENIED,
                    reason=f"{decision.cause}: {decision.reason}",
                    status=decision.status,
                    latency_ms=(time.monotonic() - started) * 1000,
                )
            ]
        )
        return InboundAnswer(
            decision.status, cause=decision.cause, detail=decision.reason, headers=headers
        )
    assert decision.policy is not None
    config = ECSConfiguration.current()
    matches = policy.disclose(decision.policy, matching.match(query, config.home_plmn_keys()))
    seconds = decision.policy.lifetime
    if seconds is None:
        seconds = config.provisioning_lifetime
    lifetime = timezone.now() + dt.timedelta(seconds=seconds)
    configs = datamodel.edn_config_infos(matches, lifetime)
    status = 200 if configs else 204
    audit.write(
        [
            audit.entry(
                RetrievalAudit.INBOUND,
                partner,
                canonical,
                partner_label=label,
                status=status,
                edn_count=len(configs),
                reason=f"policy {decision.policy}",
                latency_ms=(time.monotonic() - started) * 1000,
            )
        ]
    )
    return InboundAnswer(status, {"ednCnfgInfo": configs} if configs else None)


def record_rejection(
    partner: PartnerECS | None, status: int, reason: str, label: str = "(unauthenticated)"
) -> None:
    """Audit a request refused before authorization (bad credentials, malformed body)."""
    audit.write(
        [
            audit.entry(
                RetrievalAudit.INBOUND,
                partner,
                {},
                partner_label=label,
                decision=RetrievalAudit.DENIED,
                reason=reason,
                status=status,
            )
        ]
    )
