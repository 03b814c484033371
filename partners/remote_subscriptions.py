"""Subscribing at partner ECSs (TS 23.558 clause 8.17.2.4.2.3, the requesting side).

For a partner configured with ``subscribe``, a worker chore subscribes at the partner for
every fresh cache entry that has no subscription yet: the ``ServProvSubsc`` is the
``ServProvReq`` we sent for that entry plus our notification endpoint
(``ECS_PUBLIC_URL`` + ``/eecs-ecsserviceprovisioning/v1/notifications``).  The partner's
``ServProvNotif`` then replaces the entry's answer -- no new retrieval -- and what we provision
to subscribed EECs is evaluated again.

The chore runs in the worker, outside any transaction; a failed attempt is audited and
tried again after ``RETRY_SECONDS``.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ecscore import errors, outbound
from ecscore.datetimes import parse_datetime
from provisioning import signals
from provisioning.scope import NOTHING, of_query

from . import audit, cache, tokens
from .eecs_ecsserviceprovisioning import wire as edge10
from .models import PartnerECS, ProvisioningCacheEntry, RetrievalAudit

logger = logging.getLogger(__name__)

RETRY_SECONDS = 30  # after a failed subscription attempt
NOTIFICATION_REASON = "partner notification"


def notification_destination() -> str:
    base = settings.ECS_PUBLIC_URL
    return base + edge10.NOTIFICATIONS_PATH if base else ""


def _due(now: dt.datetime) -> Any:
    """Fresh entries of subscribing partners with no subscription (or an ended one)."""
    no_subscription = Q(partner_subscription_id="") & (
        Q(partner_subscription_expires__isnull=True) | Q(partner_subscription_expires__lte=now)
    )
    ended = ~Q(partner_subscription_id="") & Q(partner_subscription_expires__lte=now)
    return (
        ProvisioningCacheEntry.objects.filter(
            partner__subscribe=True, partner__enabled=True, expires_at__gt=now
        )
        .filter(no_subscription | ended)
        .select_related("partner")
        .order_by("pk")
    )


def _post(partner: PartnerECS, body: dict[str, Any]) -> tuple[int | None, str, str, str]:
    """(status, subscription id, granted expTime, why it failed), within the partner's timeout
    (the token endpoint's share included)."""
    deadline = time.monotonic() + partner.timeout
    headers = {"Accept": "application/json, application/problem+json"}

    def send(authorization: dict[str, str]) -> outbound.Reply:
        return outbound.post(
            edge10.subscriptions_url(partner.api_root),
            deadline,
            json_body=body,
            headers={**headers, **authorization},
        )

    try:
        reply = tokens.send_authorized(
            partner.outbound_credential(), deadline, send, lambda r: r.status == 401
        )
    except tokens.TokenUnavailable as exc:
        return exc.status, "", "", exc.reason
    if not reply.ok:
        return reply.status, "", "", reply.reason
    if reply.status != 201:
        return reply.status, "", "", f"answered HTTP {reply.status}"
    sub_id = reply.headers.get("Location", "").rstrip("/").rpartition("/")[2]
    if not sub_id:
        return reply.status, "", "", "201 without a Location"
    answer = reply.json()
    exp_time = (answer.get("expTime") if isinstance(answer, dict) else "") or ""
    return reply.status, sub_id, exp_time, ""


def subscribe_pending(limit: int = 50) -> int:
    """Subscribe at the partner for each due entry; returns how many subscriptions exist now."""
    destination = notification_destination()
    if not destination:
        return 0  # without ECS_PUBLIC_URL a partner could not reach us
    subscribed = 0
    for entry in list(_due(timezone.now())[:limit]):
        partner = entry.partner
        started = time.monotonic()
        status, sub_id, exp_time, problem = _post(
            partner, edge10.build_subscription(entry.request, destination)
        )
        now = timezone.now()
        if problem:
            fields = {
                "partner_subscription_id": "",
                "partner_subscription_expires": now + dt.timedelta(seconds=RETRY_SECONDS),
            }
            reason = f"subscription at the partner failed: {problem}"
            decision = RetrievalAudit.DENIED if status in (401, 403) else RetrievalAudit.ALLOWED
        else:
            fields = {
                "partner_subscription_id": sub_id,
                # A partner that names no end is asked again after the entry's lifetime.
                "partner_subscription_expires": parse_datetime(exp_time) or entry.expires_at,
            }
            reason = f"subscribed at the partner: {sub_id}"
            decision = RetrievalAudit.ALLOWED
            subscribed += 1
        # Only if no other worker stored a subscription for this entry meanwhile.
        ProvisioningCacheEntry.objects.filter(
            pk=entry.pk,
            partner_subscription_id=entry.partner_subscription_id,
        ).update(**fields)
        audit.write(
            [
                audit.entry(
                    RetrievalAudit.OUTBOUND,
                    partner,
                    entry.query,
                    decision=decision,
                    reason=reason,
                    status=status,
                    latency_ms=(time.monotonic() - started) * 1000,
                )
            ]
        )
        if problem:
            logger.info("subscription at partner %s failed: %s", partner.partner_id, problem)
    return subscribed


@transaction.atomic
def receive(partner: PartnerECS, body: dict[str, Any]) -> int:
    """A partner's ServProvNotif: replace the answer of our entries under that subscription.

    Returns how many entries were refreshed; 404 when we hold no entry under that id.
    """
    entries = list(
        ProvisioningCacheEntry.objects.select_for_update().filter(
            partner=partner, partner_subscription_id=body["subId"]
        )
    )
    if not entries:
        raise errors.NotFound("No such subscription.", "RESOURCE_NOT_FOUND")
    configs, expires = cache.usable(partner, edge10.edn_configs(body), timezone.now())
    rows = []
    for entry in entries:
        if expires is None:
            entry.delete()  # an answer we may not cache
        else:
            cache.replace_answer(entry, configs, expires)
        rows.append(
            audit.entry(
                RetrievalAudit.OUTBOUND,
                partner,
                entry.query,
                reason=NOTIFICATION_REASON,
                edn_count=len(configs),
            )
        )
    audit.write(rows)
    # Only the subscriptions that ask what these entries answer can see another answer.
    change = NOTHING
    for entry in entries:
        query = entry.query or {}
        change = change.merge(
            of_query(
                query.get("easIds") or (), query.get("location") or (), query.get("points") or ()
            )
        )
    signals.changed(ProvisioningCacheEntry, change)
    return len(entries)
