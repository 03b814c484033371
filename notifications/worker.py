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
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Case, Exists, F, OuterRef, Q, Value, When
from django.utils import timezone

from ecscore.middleware import REQUEST_ID_HEADER, current_request_id, request_id_scope

from . import callbacks, heartbeat
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
    failing: int = 0  # consecutive failures: an outage is logged once, not once per pass


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
                task.failing += 1
                if task.failing == 1:
                    logger.exception("periodic task %s failed", task.name)
                continue
            if task.failing:
                logger.warning(
                    "periodic task %s recovered after %d failures", task.name, task.failing
                )
                task.failing = 0


def host_of(destination: str) -> str:
    """The key a destination is bounded by: its scheme and authority, as written."""
    scheme, _, rest = destination.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0].split('?', 1)[0]}"


def _at_host(host: str) -> Q:
    return (
        Q(destination=host)
        | Q(destination__startswith=host + "/")
        | Q(destination__startswith=host + "?")
    )


def _claim(
    limit: int, per_host: int | None = None, busy: dict[str, int] | None = None
) -> list[Notification]:
    """Lease up to ``limit`` due notifications, the oldest pending one of each subscription.

    ``busy`` counts deliveries already in flight per host (``host_of``): a host at
    ``per_host`` is left out of the query, and no more than its free share of one host is
    leased, so a slow receiver's backlog never takes the places of other receivers.
    """
    now = timezone.now()
    busy = busy or {}
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
        if per_host is not None:
            for host, count in busy.items():
                if count >= per_host:
                    due = due.exclude(_at_host(host))
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        claimed = []
        taken = dict(busy)
        for notification in due[:limit]:
            host = host_of(notification.destination)
            if per_host is not None and taken.get(host, 0) >= per_host:
                continue  # stays unleased: another pass (or worker) takes it
            taken[host] = taken.get(host, 0) + 1
            claimed.append(notification)
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
    # Checked again at delivery and connected to the addresses checked: DNS may have changed
    # since the subscription was accepted.
    reply = callbacks.post(
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


def _record_all(outcomes: list[tuple[Notification, int | None, str, float]]) -> None:
    """Write the attempts of finished deliveries: one insert for all, one update for all that
    were delivered, one update per retry (each has its own backoff)."""
    if not outcomes:
        return
    now = timezone.now()
    DeliveryAttempt.objects.bulk_create(
        [
            DeliveryAttempt(
                notification=n, at=now, status=status, error=error[:255], duration_ms=ms
            )
            for n, status, error, ms in outcomes
        ]
    )
    delivered = [n.pk for n, _, error, _ in outcomes if not error]
    if delivered:
        Notification.objects.filter(pk__in=delivered).update(
            attempts=F("attempts") + 1,
            leased_until=None,
            state=Notification.DELIVERED,
            delivered_at=now,
            last_error="",
        )
    for notification, _, error, _ in outcomes:
        if error:
            _record_failure(notification, error, now)
            logger.info(
                "notification %s to %s failed: %s", notification.pk, notification.destination, error
            )


def _record_failure(notification: Notification, error: str, now: dt.datetime) -> None:
    notification.attempts += 1
    values: dict[str, Any] = {
        "attempts": notification.attempts,
        "leased_until": None,
        "last_error": error[:255],
    }
    give_up = dt.timedelta(seconds=_setting("ECS_NOTIFICATION_GIVE_UP_SECONDS", 3600))
    if now - notification.created >= give_up:
        values["state"] = Notification.GIVEN_UP
    else:
        backoff = min(
            _setting("ECS_NOTIFICATION_MAX_BACKOFF", 60), 2 ** (notification.attempts - 1)
        )
        values["next_attempt_at"] = now + dt.timedelta(seconds=backoff)
        # A retry only for what is still pending: one given up meanwhile (its subscription
        # deleted, say) stays given up.
        values["state"] = Case(
            When(state=Notification.GIVEN_UP, then=Value(Notification.GIVEN_UP)),
            default=Value(Notification.PENDING),
        )
    Notification.objects.filter(pk=notification.pk).update(**values)


def concurrency() -> int:
    """Deliveries in flight at once (``ECS_NOTIFICATION_CONCURRENCY``, default 32)."""
    return max(1, int(_setting("ECS_NOTIFICATION_CONCURRENCY", 32)))


def per_host() -> int:
    """Deliveries in flight to one host (``ECS_NOTIFICATION_PER_HOST``, default 8)."""
    return max(1, int(_setting("ECS_NOTIFICATION_PER_HOST", 8)))


def claim_ahead() -> int:
    """How many times its places a host's deliveries are claimed ahead of them.

    One claim costs about as much as a few deliveries to a fast receiver, so claiming only the
    places just freed made the claim the bottleneck (125 notifications a second to one host).
    A claimed notification waits in the worker for a place; the factor keeps that wait
    (``factor - 1`` deliveries of at most ``ECS_NOTIFICATION_TIMEOUT`` each) two timeouts
    inside its lease, so no second worker takes it meanwhile."""
    room = lease_seconds() / max(0.1, _setting("ECS_NOTIFICATION_TIMEOUT", 5))
    return max(1, min(8, int(room) - 2))


class Dispatcher:
    """Keeps deliveries in flight: up to ``total`` at once and ``host_limit`` per host.

    The HTTP calls run in a thread pool; claims and the recording of outcomes stay in the
    caller's thread (it holds the database connection).  A delivery that finishes frees its
    place at once, so a receiver that takes its full timeout holds back only the places it
    occupies -- at most ``host_limit`` -- and never a batch of other receivers' deliveries.
    Notifications are claimed ahead of their places (``ahead`` times them, per host and in
    total) and wait in a queue per host, so one claim feeds many deliveries; a queue waits
    only for its own host's places.
    """

    def __init__(
        self, total: int | None = None, host_limit: int | None = None, ahead: int | None = None
    ) -> None:
        self.total = total or concurrency()
        self.host_limit = host_limit or per_host()
        self.ahead = ahead or claim_ahead()
        self._pool = ThreadPoolExecutor(max_workers=self.total, thread_name_prefix="deliver")
        self._flying: dict[Future, Notification] = {}
        self._busy: dict[str, int] = {}  # per host: in flight
        self._held: dict[str, int] = {}  # per host: in flight and queued
        self._queued: dict[str, deque[Notification]] = {}

    @property
    def in_flight(self) -> int:
        return len(self._flying)

    @property
    def queued(self) -> int:
        return sum(len(q) for q in self._queued.values())

    def pump(self) -> int:
        """Record what finished, then claim and start what fits; returns how much of both."""
        finished = self._collect(f for f in list(self._flying) if f.done())
        started = self._start_queued()
        waiting = self.queued
        # Claim again once the queues run low, or when places are free that no queue can take
        # (every queued host is at its limit): other hosts may have notifications due.
        if waiting < self.total or len(self._flying) < self.total:
            room = self.total * self.ahead - waiting - len(self._flying)
            for notification in _claim(room, self.host_limit * self.ahead, self._held):
                host = host_of(notification.destination)
                self._queued.setdefault(host, deque()).append(notification)
                self._held[host] = self._held.get(host, 0) + 1
            started += self._start_queued()
        return finished + started

    def _start_queued(self) -> int:
        started = 0
        for host, queue in list(self._queued.items()):
            while queue and self._busy.get(host, 0) < self.host_limit:
                if len(self._flying) >= self.total:
                    return started
                notification = queue.popleft()
                # Credentials are resolved here, in the thread holding the database
                # connection; only the HTTP call goes to the pool.
                headers = _resolved_headers(notification.headers)
                future = self._pool.submit(_post, notification, headers)
                self._flying[future] = notification
                self._busy[host] = self._busy.get(host, 0) + 1
                started += 1
            if not queue:
                del self._queued[host]
        return started

    def wait(self, timeout: float) -> None:
        """Until a delivery finishes, or ``timeout``."""
        if self._flying:
            wait(list(self._flying), timeout=timeout, return_when=FIRST_COMPLETED)

    def drain(self) -> int:
        """Wait for every delivery in flight and record it."""
        futures = list(self._flying)
        wait(futures)
        return self._collect(futures)

    def close(self) -> None:
        """Finish what is in flight; give back the leases of what waited in the queues, so
        that the next worker takes them at once."""
        self.drain()
        self._pool.shutdown(wait=True)
        waiting = [n.pk for queue in self._queued.values() for n in queue]
        self._queued.clear()
        self._held.clear()
        if waiting:
            Notification.objects.filter(pk__in=waiting, state=Notification.PENDING).update(
                leased_until=None
            )

    def _collect(self, futures: Iterable[Future]) -> int:
        outcomes = []
        for future in futures:
            notification = self._flying.pop(future)
            host = host_of(notification.destination)
            for counts in (self._busy, self._held):
                counts[host] -= 1
                if not counts[host]:
                    del counts[host]
            try:
                status, error, ms = future.result()
            except Exception as exc:  # a bug in a delivery must not lose the others' outcome
                status, error, ms = None, f"{type(exc).__name__}: {exc}", 0.0
            outcomes.append((notification, status, error, ms))
        _record_all(outcomes)
        return len(outcomes)


def deliver_due(limit: int | None = None) -> int:
    """Deliver what is due now and wait for it; returns how many attempts were made."""
    dispatcher = Dispatcher(total=limit, ahead=1)  # one pass: nothing to claim ahead for
    try:
        dispatcher.pump()
        return dispatcher.drain()
    finally:
        dispatcher.close()


def run(
    poll: float = 0.5,
    stop: threading.Event | None = None,
    once: bool = False,
    total: int | None = None,
    host_limit: int | None = None,
) -> None:
    """The worker's loop until ``stop``: chores, then deliveries kept in flight.

    A database or cache error in any step is logged (once per outage) and retried after a
    backoff of up to 30 s: the worker exits only when told to stop.
    """
    stop = stop or threading.Event()
    dispatcher = Dispatcher(total, host_limit)
    logger.info(
        "worker started: %d deliveries at once, %d per host",
        dispatcher.total,
        dispatcher.host_limit,
    )
    failing = 0
    try:
        while not stop.is_set():
            try:
                close_old_connections()
                run_periodic()
                busy = dispatcher.pump()
                heartbeat.beat()
                if once:
                    dispatcher.drain()
                    break
                if failing:
                    logger.warning("worker recovered after %d failed passes", failing)
                    failing = 0
            except Exception:
                failing += 1
                if failing == 1:
                    logger.exception("worker pass failed; retrying with backoff")
                close_old_connections()
                stop.wait(min(30.0, 0.5 * 2 ** min(failing, 6)))
                continue
            if dispatcher.in_flight:
                dispatcher.wait(poll if not busy else 0.05)
            elif not busy:
                stop.wait(poll)
    finally:
        try:
            dispatcher.close()
            heartbeat.forget()
        except Exception:  # the database is away: the leases lapse, the row grows stale
            logger.warning("worker stopped without releasing its leases", exc_info=True)
        logger.info("worker stopped")
