"""Delivering the outbox, and the periodic chores of the ECS (``manage.py run_worker``).

One loop, runnable on the embedded default (SQLite, no Redis) and in production alike:

* due notifications are leased (``leased_until``, ``ECS_NOTIFICATION_LEASE_SECONDS``), POSTed,
  and then marked delivered, or rescheduled with exponential backoff, or given up after
  ``ECS_NOTIFICATION_GIVE_UP_SECONDS``; a worker killed mid-delivery leaves the lease to
  expire and the notification is delivered again -- at least once, never zero times;  several
  workers may run: on PostgreSQL rows are claimed with ``SELECT ... FOR UPDATE SKIP LOCKED``;
* the notifications of one subscription are delivered in the order they were written: one
  is not attempted while an older one of the same subscription is still pending, so a
  subscriber whose first notification had to be retried never ends up with an older
  state delivered after a newer one;
* periodic chores registered by the apps (expire registrations and subscriptions, sweep the
  partner cache) run every few seconds.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Case, Exists, OuterRef, Q, Value, When
from django.utils import timezone

from ecscore import outbound
from ecscore.middleware import REQUEST_ID_HEADER, current_request_id, request_id_scope

from . import callbacks
from .models import DeliveryAttempt, Notification

logger = logging.getLogger(__name__)

LEASE_SECONDS = 60  # default of ECS_NOTIFICATION_LEASE_SECONDS


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


def lease_seconds() -> float:
    """How long a claimed notification is reserved for the worker delivering it.

    A worker that dies mid-delivery holds its notifications this long; another worker (or
    the same one restarted) delivers them afterwards.  It must outlast a batch of deliveries
    (``ECS_NOTIFICATION_TIMEOUT`` each).  The setting ``ECS_NOTIFICATION_LEASE_SECONDS``, else
    the environment variable of that name, else 60.
    """
    value = getattr(settings, "ECS_NOTIFICATION_LEASE_SECONDS", None)
    if value is None:
        value = os.environ.get("ECS_NOTIFICATION_LEASE_SECONDS") or LEASE_SECONDS
    return float(value)


def enqueue(
    kind: str,
    subscription: str,
    destination: str,
    payload: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> Notification:
    """Write a notification to the outbox (call inside the transaction of the change)."""
    return Notification.objects.create(
        kind=kind,
        subscription=subscription,
        destination=destination,
        payload=payload,
        headers={REQUEST_ID_HEADER: current_request_id(), **(headers or {})},
    )


def cancel(subscriptions: Iterable[str], reason: str) -> int:
    """Give up the pending notifications of subscriptions that are gone (deleted, expired):
    after unsubscribing, nobody expects them.  Returns how many were given up."""
    ids = list(subscriptions)
    if not ids:
        return 0
    return Notification.objects.filter(subscription__in=ids, state=Notification.PENDING).update(
        state=Notification.GIVEN_UP, last_error=reason[:255]
    )


@dataclass
class _Periodic:
    name: str
    func: Callable[[], Any]
    every: float
    last: float = 0.0


_periodic: dict[str, _Periodic] = {}


def register_periodic(name: str, func: Callable[[], Any], every_seconds: float) -> None:
    _periodic[name] = _Periodic(name, func, every_seconds)


def run_periodic(force: bool = False) -> None:
    now = time.monotonic()
    for task in list(_periodic.values()):
        if force or now - task.last >= task.every:
            task.last = now
            try:
                with request_id_scope(f"worker-{task.name}"):
                    task.func()
            except Exception:
                logger.exception("periodic task %s failed", task.name)


def _claim(limit: int) -> list[Notification]:
    now = timezone.now()
    older_pending = Notification.objects.filter(
        subscription=OuterRef("subscription"), state=Notification.PENDING, pk__lt=OuterRef("pk")
    )
    with transaction.atomic():
        due = (
            Notification.objects.filter(state=Notification.PENDING, next_attempt_at__lte=now)
            .filter(Q(leased_until__isnull=True) | Q(leased_until__lt=now))
            .exclude(Exists(older_pending))
            .order_by("next_attempt_at", "pk")
        )
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        claimed = list(due[:limit])
        Notification.objects.filter(pk__in=[n.pk for n in claimed]).update(
            leased_until=now + dt.timedelta(seconds=lease_seconds())
        )
    return claimed


# Credentials are never stored in the outbox: a header holds a reference such as
# "partner-token:42", resolved by the app that registered the prefix when the request is sent.
_header_resolvers: dict[str, Callable[[str], str]] = {}


def register_header_resolver(prefix: str, resolve: Callable[[str], str]) -> None:
    _header_resolvers[prefix] = resolve


def _resolved_headers(headers: dict[str, str]) -> dict[str, str]:
    resolved = {}
    for name, value in headers.items():
        prefix, _, ref = str(value).partition(":")
        resolver = _header_resolvers.get(prefix + ":") if ref else None
        resolved[name] = resolver(ref) if resolver else value
    return {k: v for k, v in resolved.items() if v}


def _post(notification: Notification, headers: dict[str, str]) -> tuple[int | None, str, float]:
    started = time.monotonic()
    problem = callbacks.problem_with(notification.destination)
    if problem:
        return None, f"destination refused: {problem}", 0.0
    reply = outbound.post(
        notification.destination,
        started + _setting("ECS_NOTIFICATION_TIMEOUT", 5),
        json_body=notification.payload,
        headers={"Content-Type": "application/json", **headers},
        read_body=False,  # the status says it all; a receiver's answer is not ours to keep
    )
    elapsed = (time.monotonic() - started) * 1000
    if not reply.ok:
        return reply.status, reply.exception or reply.reason, elapsed
    error = "" if 200 <= reply.status < 300 else f"HTTP {reply.status}"
    return reply.status, error, elapsed


def _record(notification: Notification, status: int | None, error: str, ms: float) -> None:
    now = timezone.now()
    DeliveryAttempt.objects.create(
        notification=notification, at=now, status=status, error=error[:255], duration_ms=ms
    )
    notification.attempts += 1
    notification.leased_until = None
    if not error:
        notification.state = Notification.DELIVERED
        notification.delivered_at = now
        notification.last_error = ""
    else:
        notification.last_error = error[:255]
        give_up = dt.timedelta(seconds=_setting("ECS_NOTIFICATION_GIVE_UP_SECONDS", 3600))
        if now - notification.created >= give_up:
            notification.state = Notification.GIVEN_UP
        else:
            backoff = min(
                _setting("ECS_NOTIFICATION_MAX_BACKOFF", 60), 2 ** (notification.attempts - 1)
            )
            notification.next_attempt_at = now + dt.timedelta(seconds=backoff)
    fields = ["attempts", "leased_until", "state", "delivered_at", "last_error", "next_attempt_at"]
    values: dict[str, Any] = {name: getattr(notification, name) for name in fields}
    if notification.state == Notification.PENDING:
        # A retry only for what is still pending: one given up meanwhile (its subscription
        # deleted, say) stays given up.
        given_up = Value(Notification.GIVEN_UP)
        values["state"] = Case(
            When(state=Notification.GIVEN_UP, then=given_up), default=Value(Notification.PENDING)
        )
    Notification.objects.filter(pk=notification.pk).update(**values)


def deliver_due(limit: int = 32) -> int:
    """Deliver what is due now; returns how many attempts were made."""
    claimed = _claim(limit)
    if not claimed:
        return 0
    with ThreadPoolExecutor(max_workers=min(8, len(claimed))) as pool:
        # Credentials are resolved here, in the worker's own thread (it holds the database
        # connection), and only the HTTP calls go to the pool.
        headers = [_resolved_headers(n.headers) for n in claimed]
        results = list(pool.map(_post, claimed, headers))
    for notification, (status, error, ms) in zip(claimed, results, strict=True):
        _record(notification, status, error, ms)
        if error:
            logger.info(
                "notification %s to %s failed: %s", notification.pk, notification.destination, error
            )
    return len(claimed)


def run(poll: float = 0.5, stop: threading.Event | None = None, once: bool = False) -> None:
    stop = stop or threading.Event()
    logger.info("worker started")
    while not stop.is_set():
        close_old_connections()
        run_periodic()
        busy = deliver_due()
        if once:
            break
        if not busy:
            stop.wait(poll)
    logger.info("worker stopped")
