"""Partner ECSs subscribing to us (TS 23.558 clause 8.17.2.4.2.3, the partner side).

A partner's ``ServProvSubsc`` is a ``ServProvReq`` (the query whose answer it watches) plus a
``notificationDestination``.  It is authorized exactly like the request operation
(``policy.authorize``: enabled partner, its own ``reqEcsId``, a covering policy, the rate).
Only the partner that created a subscription can see, change or delete it.

Whenever what we provision changes, the worker evaluates the change's scope
(``provisioning.changes``): the live partner subscriptions it can reach (found through their
index keys, ``PartnerSubscriptionKey``) are evaluated again with our own EDNs only -- never
partner cache entries, so two subscribing ECSs can never notify each other in a loop -- and
disclosed as the partner's covering policy allows.  Where the answer changed
(lifetimes ignored) and is not empty, a ``ServProvNotif`` goes into the outbox with the
credential we present to that partner.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ecscore import errors, ids, schemas
from ecscore.datetimes import format_datetime, granted_expiry
from notifications import callbacks, worker
from provisioning import datamodel, matching, subscription_index
from provisioning.areas import plmn_key
from provisioning.eec_subscriptions import digest, merge_patch
from provisioning.models import ECSConfiguration
from provisioning.query import ProvisioningQuery
from provisioning.scope import EVERYTHING, ChangeScope

from . import audit, cache, policy, tokens
from .eecs_ecsserviceprovisioning import wire as edge10
from .models import (
    AuthorizationPolicy,
    PartnerECS,
    PartnerSubscription,
    PartnerSubscriptionKey,
    RetrievalAudit,
)

logger = logging.getLogger(__name__)

KIND = "partner-subscription"

LinkFor = Callable[[PartnerSubscription], str]


def _query(request: dict[str, Any]) -> ProvisioningQuery:
    return datamodel.provisioning_query(edge10.query_body(request))


def _canonical(request: dict[str, Any], query: ProvisioningQuery) -> dict[str, Any]:
    return cache.canonical_query(query, plmn_key(request.get("servingPlmn")), False)


TOKEN_REF = "partner-token:"


def bearer_for_partner(partner_pk: str) -> str:
    """The Authorization value for a partner, read when a notification is sent.

    For a partner with a token endpoint, an access token obtained there (cached); when none
    can be had now, no header: the partner refuses, and the delivery is retried later.
    """
    partner = PartnerECS.objects.filter(pk=partner_pk).first()
    if partner is None:
        return ""
    credential = partner.outbound_credential()
    if isinstance(credential, tokens.ClientCredentials):
        try:
            token, _ = tokens.obtain(credential, time.monotonic() + partner.timeout)
        except tokens.TokenUnavailable as exc:
            logger.warning("No access token for partner %s: %s", partner.partner_id, exc.reason)
            return ""
        return f"Bearer {token}"
    return f"Bearer {credential}" if credential else ""


def _authorize(partner: PartnerECS, body: dict[str, Any], action: str) -> AuthorizationPolicy:
    """The covering policy, or the refusal the request operation would answer."""
    request = edge10.subscription_request(body)
    query = _query(request)
    decision = policy.authorize(partner, request, query)
    if not decision.allowed:
        audit.write(
            [
                audit.entry(
                    RetrievalAudit.INBOUND,
                    partner,
                    _canonical(request, query),
                    decision=RetrievalAudit.DENIED,
                    reason=f"{action}: {decision.cause}: {decision.reason}",
                    status=decision.status,
                )
            ]
        )
        raise decision.error()
    assert decision.policy is not None
    return decision.policy


def covering_policy(partner: PartnerECS, request: dict[str, Any]) -> AuthorizationPolicy | None:
    """The policy that covers a query now, as ``policy.authorize`` picks it (no rate counted)."""
    if not partner.enabled or request.get("reqEcsId") != partner.partner_id:
        return None
    query = _query(request)
    serving = plmn_key(request.get("servingPlmn"))
    now = timezone.now()
    for candidate in policy.candidates(partner):
        if candidate.in_force(now) and not policy.covers(candidate, serving, query.eas_ids):
            return candidate
    return None


def answer_now(
    partner: PartnerECS, body: dict[str, Any], granted: AuthorizationPolicy | None = None
) -> list[dict[str, Any]]:
    """The EDNConfigInfo objects we would disclose to the partner for this query now."""
    request = edge10.subscription_request(body)
    granted = granted or covering_policy(partner, request)
    if granted is None:
        return []
    config = ECSConfiguration.load()
    matches = policy.disclose(granted, matching.match(_query(request), config.home_plmn_keys()))
    seconds = granted.lifetime
    if seconds is None:
        seconds = config.provisioning_lifetime
    lifetime = timezone.now() + dt.timedelta(seconds=seconds)
    return datamodel.edn_config_infos(matches, lifetime)


def _check_destination(body: dict[str, Any]) -> str:
    destination = body["notificationDestination"]
    problem = callbacks.problem_with(destination)
    if problem:
        raise errors.InvalidRequest(
            f"notificationDestination {problem}.",
            "INVALID_MSG_FORMAT",
            [{"param": "/notificationDestination", "reason": problem}],
        )
    return destination


def _audit_allowed(partner: PartnerECS, body: dict[str, Any], reason: str, count: int) -> None:
    request = edge10.subscription_request(body)
    audit.write(
        [
            audit.entry(
                RetrievalAudit.INBOUND,
                partner,
                _canonical(request, _query(request)),
                reason=reason,
                edn_count=count,
            )
        ]
    )


def representation(sub: PartnerSubscription) -> dict[str, Any]:
    return {**sub.body, "expTime": format_datetime(sub.expires_at)}


def _check_quota(partner: PartnerECS) -> None:
    """At most ECS_MAX_SUBSCRIPTIONS_PER_PARTNER live subscriptions per partner (0 = no
    limit), counted on the (partner, expires_at) index: that partner's rows only."""
    limit = settings.ECS_MAX_SUBSCRIPTIONS_PER_PARTNER
    if not limit:
        return
    live = PartnerSubscription.objects.filter(partner=partner, expires_at__gt=timezone.now())
    if live.count() >= limit:
        raise errors.Forbidden(
            f"Partner {partner.partner_id!r} already holds {limit} subscriptions, the most "
            "this ECS allows; delete one first.",
            "PARTNER_SUBSCRIPTION_QUOTA_EXCEEDED",
        )


def create(partner: PartnerECS, body: dict[str, Any]) -> PartnerSubscription:
    # Authorized outside the transaction, so that a refusal's audit row is kept.
    granted = _authorize(partner, body, "subscription")
    destination = _check_destination(body)
    expires_at = granted_expiry(body.get("expTime"), settings.ECS_SUBSCRIPTION_MAX_SECONDS)
    with transaction.atomic():
        _check_quota(partner)
        configs = answer_now(partner, body, granted)
        sub = PartnerSubscription.objects.create(
            partner=partner,
            subscription_id=ids.time_ordered(),
            body=body,
            notification_destination=destination,
            expires_at=expires_at,
            digest=digest(configs),
        )
        subscription_index.store(
            PartnerSubscriptionKey, sub, _query(edge10.subscription_request(body))
        )
        _audit_allowed(partner, body, f"subscription {sub.subscription_id} created", len(configs))
    return sub


def get(partner: PartnerECS, subscription_id: str) -> PartnerSubscription:
    """The partner's own live subscription; anyone else's is as unknown as a missing one."""
    sub = PartnerSubscription.objects.filter(
        partner=partner, subscription_id=subscription_id, expires_at__gt=timezone.now()
    ).first()
    if sub is None:
        raise errors.NotFound("No such subscription.", "RESOURCE_NOT_FOUND")
    return sub


def replace(partner: PartnerECS, subscription_id: str, body: dict[str, Any]) -> PartnerSubscription:
    get(partner, subscription_id)
    granted = _authorize(partner, body, f"subscription {subscription_id} update")
    destination = _check_destination(body)
    expires_at = granted_expiry(body.get("expTime"), settings.ECS_SUBSCRIPTION_MAX_SECONDS)
    with transaction.atomic():
        sub = get(partner, subscription_id)
        configs = answer_now(partner, body, granted)
        sub.body = body
        sub.notification_destination = destination
        sub.expires_at = expires_at
        sub.digest = digest(configs)
        sub.save()
        subscription_index.store(
            PartnerSubscriptionKey, sub, _query(edge10.subscription_request(body))
        )
        _audit_allowed(partner, body, f"subscription {subscription_id} updated", len(configs))
    return sub


def patch(
    partner: PartnerECS, subscription_id: str, changes: dict[str, Any]
) -> PartnerSubscription:
    sub = get(partner, subscription_id)
    body = merge_patch(sub.body, changes)
    if "expTime" not in changes:
        body["expTime"] = format_datetime(sub.expires_at)
    schemas.check(body, *edge10.SUBSCRIPTION_SCHEMA)
    return replace(partner, subscription_id, body)


@transaction.atomic
def delete(partner: PartnerECS, subscription_id: str) -> None:
    get(partner, subscription_id).delete()
    worker.cancel([subscription_id], "subscription deleted")


def evaluate(scope: ChangeScope, heartbeat: Callable[[], None] | None = None) -> int:
    """Notify the live partner subscriptions ``scope`` can reach whose answer changed."""
    return subscription_index.evaluate(
        PartnerSubscription, PartnerSubscriptionKey, scope, _evaluate_batch, heartbeat
    )


def evaluate_all() -> int:
    """Notify every live partner subscription whose answer changed; returns how many."""
    return evaluate(EVERYTHING)


@transaction.atomic
def _evaluate_batch(ids: list[int]) -> int:
    notified = 0
    live = PartnerSubscription.objects.filter(
        pk__in=ids, expires_at__gt=timezone.now()
    ).select_related("partner")
    for sub in live.order_by("pk"):
        configs = answer_now(sub.partner, sub.body)
        new_digest = digest(configs)
        if new_digest == sub.digest:
            continue
        sub.digest = new_digest
        sub.save(update_fields=["digest", "updated"])
        if not configs:
            continue  # ednCnfgInfo needs an item: the next non-empty answer is notified
        worker.enqueue(
            KIND,
            sub.subscription_id,
            sub.notification_destination,
            edge10.notification(sub.subscription_id, configs),
            # A reference, resolved at delivery: the token itself never enters the outbox.
            headers={"Authorization": f"{TOKEN_REF}{sub.partner_id}"},
        )
        notified += 1
    return notified


@transaction.atomic
def expire() -> int:
    expired = PartnerSubscription.objects.filter(expires_at__lte=timezone.now())
    worker.cancel(expired.values_list("subscription_id", flat=True), "subscription expired")
    deleted, _ = expired.delete()
    return deleted
