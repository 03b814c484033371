"""Deciding what a partner ECS may ask us (deny by default) and what we disclose to it.

A request is allowed only when the partner is enabled, the ``reqEcsId`` it sends is its own
id, and one enabled policy in force covers it: the serving PLMN is one the policy lists (or
the policy lists none), and every EAS id asked for is one the policy lists (``["*"]`` allows
any, and is the only way to ask without EAS ids).  Among covering policies the first by id
wins.  Its ``ratePerMinute`` counts the partner's requests over a sliding minute.

Which policies can cover a requester (``candidates``): a configured partner's own, and those
naming its ECS id; an ECS known only through the ECS-ER (a verified federation token,
``federated.FederatedECS``): those naming its ECS id, and those naming ``"*"`` whose
``requesterEcsps`` list its token's ``ecspId``.  ``"*"`` never covers a configured partner:
the operator decided about that one (and disabling it refuses it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q
from django.utils import timezone

from ecscore import errors, ratelimit
from provisioning.areas import plmn_key
from provisioning.matching import EDNMatch
from provisioning.query import ProvisioningQuery

from .federated import FederatedECS, Requester, requester_id
from .models import AuthorizationPolicy, PartnerECS

ANY = "*"


@dataclass
class Decision:
    allowed: bool
    status: int = 200
    cause: str = ""
    reason: str = ""
    policy: AuthorizationPolicy | None = None
    retry_after: int = 0

    def error(self) -> errors.ECSError:
        """The refusal as the API answers it (429 over the rate, else 403)."""
        kind = errors.RateLimited if self.status == 429 else errors.Forbidden
        return kind(self.reason, self.cause, retry_after=self.retry_after or None)


def _deny(cause: str, reason: str, status: int = 403) -> Decision:
    return Decision(False, status, cause, reason)


def covers(policy: AuthorizationPolicy, serving_plmn: str | None, eas_ids: tuple) -> str:
    """Empty string when the policy covers the request, else why not."""
    allowed_plmns = {k for k in (plmn_key(p) for p in policy.serving_plmns or []) if k}
    if allowed_plmns and serving_plmn not in allowed_plmns:
        return f"serving PLMN {serving_plmn or '(none)'} is not allowed"
    allowed_eas = set(policy.eas_ids or [])
    if ANY not in allowed_eas:
        if not eas_ids:
            return 'a request without EAS ids needs a policy with easIds ["*"]'
        refused = sorted(set(eas_ids) - allowed_eas)
        if refused:
            return f"EAS ids not allowed: {', '.join(refused)}"
    return ""


def candidates(requester: Requester) -> list[AuthorizationPolicy]:
    """The policies that may cover ``requester``, first by id (one query, by index)."""
    if isinstance(requester, PartnerECS):
        found = AuthorizationPolicy.objects.filter(
            Q(partner=requester) | Q(partner_ecs_id=requester.partner_id)
        )
    else:
        wanted = Q(partner_ecs_id=requester.ecs_id)
        if requester.row is not None:
            wanted |= Q(partner=requester.row)
        if requester.ecsp_id:
            wanted |= Q(partner_ecs_id=ANY)
        found = AuthorizationPolicy.objects.filter(wanted)
    policies = [
        p
        for p in found
        if p.partner_ecs_id != ANY
        or (isinstance(requester, FederatedECS) and requester.ecsp_id in (p.requester_ecsps or []))
    ]
    return sorted(policies, key=lambda p: (p.policy_id, p.pk))


def _rate_key(requester: Requester) -> str:
    if isinstance(requester, PartnerECS):
        return f"partner:{requester.pk}"
    return f"ecs:{requester.ecs_id}"


def authorize(requester: Requester, request: dict[str, Any], query: ProvisioningQuery) -> Decision:
    row = requester if isinstance(requester, PartnerECS) else requester.row
    if row is not None and not row.enabled:
        return _deny("PARTNER_DISABLED", "the partner is disabled")
    if request.get("reqEcsId") != requester_id(requester):
        return _deny(
            "REQUESTER_MISMATCH",
            f"reqEcsId {request.get('reqEcsId')!r} is not the id of the credential's partner",
        )
    serving = plmn_key(request.get("servingPlmn"))
    now = timezone.now()
    reasons = []
    for policy in candidates(requester):
        if not policy.in_force(now):
            continue
        why_not = covers(policy, serving, query.eas_ids)
        if why_not:
            reasons.append(why_not)
            continue
        if policy.rate_per_minute is not None:
            allowed, wait = ratelimit.hit(_rate_key(requester), policy.rate_per_minute)
            if not allowed:
                decision = _deny("TOO_MANY_REQUESTS", "over the policy's rate limit", 429)
                decision.retry_after = wait
                decision.policy = policy
                return decision
        return Decision(True, policy=policy)
    if not reasons:
        return _deny("NO_POLICY", "no enabled policy in force for this partner")
    return _deny("NOT_AUTHORIZED", "; ".join(dict.fromkeys(reasons)))


def disclose(policy: AuthorizationPolicy, matches: list[EDNMatch]) -> list[EDNMatch]:
    """Only the EDNs (by DNN) and EESs (by ECSP) the policy lets us disclose."""
    dnns = set(policy.dnns or [])
    ecsps = set(policy.ecsps or [])
    kept = []
    for match in matches:
        if dnns and match.edn.dnn not in dnns:
            continue
        eess = [e for e in match.eess if not ecsps or e.ecsp_info in ecsps]
        if eess:
            kept.append(EDNMatch(match.edn, eess))
    return kept
