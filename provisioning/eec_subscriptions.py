"""EEC service provisioning subscriptions (TS 24.558 clause 7.2.3; subscribe-notify model).

A subscription keeps the EEC's filters, their index keys (``subscription_index``) and a
digest of the provisioning information it would receive now.  Whenever what we provision
changes (an admin edit, ``ecs_apply``, an EES registering, updating or expiring, a partner's
notification), the change is recorded as a change event (``provisioning.changes``) and the
worker calls ``evaluate`` with its scope: only the subscriptions the scope can reach are
evaluated again, in batches, each batch in one transaction; where the information changed,
a ``ServProvNotification`` goes into the outbox in that transaction and the worker delivers
it.  ``evaluate_all`` (the scope ``EVERYTHING``) is the full re-evaluation: the repair
command and the tests' oracle.

Evaluation never calls a partner: it uses our own EDNs, fresh partner cache entries and
the redirects to partner ECSs (``redirectedECS``, which need no call).  An update (PUT,
PATCH) whose answer differs from the last one is notified too: that is how a UE that moved
(another ``connInfo`` PLMN, say, one whose partner takes its roaming UEs) learns where to go.
An answer with neither EDNs nor redirects cannot be notified, so the digest is updated and
the next non-empty answer is notified.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ecscore import errors, ids, schemas
from ecscore.datetimes import format_datetime, granted_expiry
from notifications import callbacks, worker

from . import datamodel, service, subscription_index
from .models import EECSubscription, EECSubscriptionKey
from .query import ProvisioningQuery
from .scope import EVERYTHING, ChangeScope

FILE = datamodel.EDGE4_FILE
KIND = "eec-subscription"


def answer_now(body: dict[str, Any]) -> service.ProvisioningAnswer:
    query = datamodel.provisioning_query(body)
    return service.provision(query, body, offline=True, redirect=True)


def digest(configs: list[dict[str, Any]], redirects: list[dict[str, Any]] | None = None) -> str:
    """Lifetimes move with the clock; the information is the rest."""
    stable: Any = [{k: v for k, v in cfg.items() if k != "lifeTime"} for cfg in configs]
    if redirects:
        # Without redirects the digest is the one stored before they existed: an upgrade
        # notifies nobody.
        stable = {"ednCnfgInfo": stable, "redirectedECS": redirects}
    text = json.dumps(stable, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def answer_digest(answer: service.ProvisioningAnswer) -> str:
    return digest(answer.edn_configs, answer.redirects)


def _notification(
    sub: EECSubscription, answer: service.ProvisioningAnswer
) -> tuple[str, str, str, dict[str, Any]] | None:
    """The outbox entry of a ServProvNotification of ``answer``, if it has anything to say."""
    members = answer.body()
    if not members:
        return None
    return (
        KIND,
        sub.subscription_id,
        sub.notification_destination,
        {"subId": sub.subscription_id, **members},
    )


def _check_destination(body: dict[str, Any]) -> str:
    destination = body.get("notificationDestination")
    if body.get("eecTriggerRequest") and destination:
        raise errors.InvalidRequest(
            "eecTriggerRequest and notificationDestination are mutually exclusive.",
            "INVALID_MSG_FORMAT",
            [{"param": "/eecTriggerRequest", "reason": "not with notificationDestination"}],
        )
    if not destination:
        raise errors.InvalidRequest(
            "This ECS delivers notifications over HTTP only: give notificationDestination.",
            "MANDATORY_IE_MISSING",
            [{"param": "/notificationDestination", "reason": "is required by this ECS"}],
        )
    problem = callbacks.problem_with(destination)
    if problem:
        raise errors.InvalidRequest(
            f"notificationDestination {problem}.",
            "INVALID_MSG_FORMAT",
            [{"param": "/notificationDestination", "reason": problem}],
        )
    return destination


def representation(sub: EECSubscription) -> dict[str, Any]:
    body = dict(sub.body)
    body.pop("requestTestNotification", None)
    body["expTime"] = format_datetime(sub.expires_at)
    return body


def _test_notification(sub: EECSubscription, link: str) -> None:
    worker.enqueue(
        KIND + "-test", sub.subscription_id, sub.notification_destination, {"subscription": link}
    )


def _check_quota(eec_id: str) -> None:
    """At most ECS_MAX_SUBSCRIPTIONS_PER_EEC live subscriptions per EEC (0 = no limit).

    Counted through the eec_id index: that EEC's rows only, never the whole table."""
    limit = settings.ECS_MAX_SUBSCRIPTIONS_PER_EEC
    if not limit:
        return
    live = EECSubscription.objects.filter(eec_id=eec_id, expires_at__gt=timezone.now())
    if live.count() >= limit:
        raise errors.Forbidden(
            f"EEC {eec_id!r} already holds {limit} subscriptions, the most this ECS allows; "
            "delete one first.",
            "SUBSCRIPTION_QUOTA_EXCEEDED",
        )


@transaction.atomic
def create(body: dict[str, Any], link_for: Any) -> EECSubscription:
    _check_quota(body["eecId"])
    sub = EECSubscription(
        subscription_id=ids.time_ordered(),
        eec_id=body["eecId"],
        ue_id=body.get("ueId", ""),
        body=body,
        notification_destination=_check_destination(body),
        expires_at=granted_expiry(body.get("expTime"), settings.ECS_SUBSCRIPTION_MAX_SECONDS),
        digest=answer_digest(answer_now(body)),
    )
    sub.save()
    subscription_index.store(EECSubscriptionKey, sub, datamodel.provisioning_query(body))
    if body.get("requestTestNotification"):
        _test_notification(sub, link_for(sub))
    return sub


def get(subscription_id: str) -> EECSubscription:
    sub = EECSubscription.objects.filter(
        subscription_id=subscription_id, expires_at__gt=timezone.now()
    ).first()
    if sub is None:
        raise errors.NotFound("No such subscription.", "RESOURCE_NOT_FOUND")
    return sub


@transaction.atomic
def replace(subscription_id: str, body: dict[str, Any], link_for: Any) -> EECSubscription:
    sub = get(subscription_id)
    if body["eecId"] != sub.eec_id or body.get("ueId", "") != sub.ue_id:
        raise errors.InvalidRequest(
            "eecId and ueId cannot change in an update.",
            "INVALID_MSG_FORMAT",
            [{"param": "/eecId", "reason": f"must stay {sub.eec_id!r}"}],
        )
    sub.body = body
    sub.notification_destination = _check_destination(body)
    sub.expires_at = granted_expiry(body.get("expTime"), settings.ECS_SUBSCRIPTION_MAX_SECONDS)
    answer = answer_now(body)
    new_digest = answer_digest(answer)
    changed = new_digest != sub.digest
    sub.digest = new_digest
    sub.save()
    subscription_index.store(EECSubscriptionKey, sub, datamodel.provisioning_query(body))
    notification = _notification(sub, answer) if changed else None
    if notification:
        worker.enqueue_many([notification])
    if body.get("requestTestNotification"):
        _test_notification(sub, link_for(sub))
    return sub


def merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7396 JSON merge patch."""
    result = dict(target)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge_patch(result[key], value)
        else:
            result[key] = value
    return result


@transaction.atomic
def patch(subscription_id: str, changes: dict[str, Any], link_for: Any) -> EECSubscription:
    sub = get(subscription_id)
    # requestTestNotification asked for one test notification when it was sent; it is not a
    # standing part of the subscription (ECSServProvSubscriptionPatch cannot even carry it).
    stored = {k: v for k, v in sub.body.items() if k != "requestTestNotification"}
    body = merge_patch(stored, changes)
    if "expTime" not in changes:
        body["expTime"] = format_datetime(sub.expires_at)
    schemas.check(body, FILE, "ECSServProvSubscription")
    return replace(subscription_id, body, link_for)


@transaction.atomic
def delete(subscription_id: str) -> None:
    get(subscription_id).delete()
    worker.cancel([subscription_id], "subscription deleted")


def evaluate(scope: ChangeScope, heartbeat: Callable[[], None] | None = None) -> int:
    """Notify the live subscriptions ``scope`` can reach whose information changed."""
    answers: dict[ProvisioningQuery, tuple[service.ProvisioningAnswer, str]] = {}
    return subscription_index.evaluate(
        EECSubscription,
        EECSubscriptionKey,
        scope,
        lambda ids: _evaluate_batch(ids, answers),
        heartbeat,
    )


def evaluate_all() -> int:
    """Notify every live subscription whose provisioning information changed."""
    return evaluate(EVERYTHING)


@transaction.atomic
def _evaluate_batch(
    ids: list[int], answers: dict[ProvisioningQuery, tuple[service.ProvisioningAnswer, str]]
) -> int:
    """Evaluate one batch in one transaction: its notifications and its digests commit
    together, so the worker delivers them while the next batch is evaluated, and a worker
    killed later does not notify them twice (their digests already say so)."""
    live = EECSubscription.objects.filter(pk__in=ids, expires_at__gt=timezone.now())
    now = timezone.now()
    by_digest: dict[str, list[int]] = {}
    notifications = []
    for sub in live.order_by("pk"):
        query = datamodel.provisioning_query(sub.body)
        # Subscriptions that ask the same (one cell, one application) get the same answer,
        # and its digest.
        known = answers.get(query)
        if known is None:
            answer = answer_now(sub.body)
            known = answers[query] = (answer, answer_digest(answer))
        answer, new_digest = known
        if new_digest == sub.digest:
            continue
        by_digest.setdefault(new_digest, []).append(sub.pk)
        notification = _notification(sub, answer)
        if notification:
            notifications.append(notification)
    # One statement per distinct new answer in the batch (a fan-out has a handful), not one
    # per subscription.
    for new_digest, pks in by_digest.items():
        EECSubscription.objects.filter(pk__in=pks).update(digest=new_digest, updated=now)
    return worker.enqueue_many(notifications)


@transaction.atomic
def expire() -> int:
    expired = EECSubscription.objects.filter(expires_at__lte=timezone.now())
    worker.cancel(expired.values_list("subscription_id", flat=True), "subscription expired")
    deleted, _ = expired.delete()
    return deleted
