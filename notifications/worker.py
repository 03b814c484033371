"""Delivering the outbox, and the periodic chores of the ECS (``manage.py run_worker``).

Runnable on the embedded default (SQLite, no Redis) and in production alike, the worker runs
two loops side by side, each on its own thread and database connection:

* the deliveries (``Dispatcher``): due notifications are leased (``leased_until``,
  ``ECS_NOTIFICATION_LEASE_SECONDS``), POSTed, and then marked delivered, or rescheduled with
  exponential backoff, or given up after ``ECS_NOTIFICATION_GIVE_UP_SECONDS``; a worker
  killed mid-delivery leaves the lease to expire and the notification is delivered again --
  at least once, never zero times;  several workers may run: on PostgreSQL rows are claimed
  with ``SELECT ... FOR UPDATE SKIP LOCKED``;
* the chores registered by the apps: evaluating change events (which may enqueue thousands
  of notifications, committed batch by batch), expiring registrations and subscriptions,
  sweeping the partner cache.  A long evaluation does not hold deliveries back: what its
  first batches enqueued is being delivered while it evaluates the rest.

The notifications of one subscription are delivered in the order they were written: one is
not attempted while an older one of the same subscription is still pending, so a subscriber
whose first notification had to be retried never ends up with an older state delivered after
a newer one.
"""

from __future__ import annotations

import contextlib
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
from django.db.models import Case, F, Value, When
from django.utils import timezone

from ecscore import db
from ecscore.middleware import REQUEST_ID_HEADER, current_request_id, request_id_scope

from . import callbacks, heartbeat
from .models import DeliveryAttempt, Notification

logger = logging.getLogger(__name__)

LEASE_SECONDS = 60  # default of ECS_NOTIFICATION_LEASE_SECONDS

#: The most of a receiver's answer read.  The status says it all, but a connection can only be
#: used again once its answer has been read to the end; a longer answer costs the connection.
ANSWER_LIMIT = 16 * 1024

#: Rows per INSERT when enqueuing in bulk (SQLite allows 32,766 variables per statement).
ENQUEUE_CHUNK = 1000

#: A dispatcher claims at least this often while it has free places (new rows written by other
#: processes, lapsed leases, retries come due), and whenever it is woken.
CLAIM_EVERY_SECONDS = 0.1

#: Outcomes are written together: when this many are waiting, or the oldest waited this long.
RECORD_BATCH = 64
RECORD_EVERY_SECONDS = 0.05

# Set when this process commits notifications (``enqueue``): the delivery loop claims them at
# once instead of at its next poll.
_wakeup = threading.Event()


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


def wake() -> None:
    """Tell this process's delivery loop that notifications are waiting."""
    _wakeup.set()


def enqueue(
    kind: str,
    subscription: str,
    destination: str,
    payload: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> Notification:
    """Write a notification to the outbox (call inside the transaction of the change)."""
    notification = Notification.objects.create(
        kind=kind,
        subscription=subscription,
        destination=destination,
        payload=payload,
        headers={REQUEST_ID_HEADER: current_request_id(), **(headers or {})},
    )
    transaction.on_commit(wake)
    return notification


def enqueue_many(items: Iterable[tuple[str, str, str, dict[str, Any]]]) -> int:
    """Write notifications ``(kind, subscription, destination, payload)`` to the outbox in
    as few statements as possible (call inside the transaction of the change); in the order
    given, which is the order a subscription's notifications are delivered in.  Returns how
    many were written."""
    headers = {REQUEST_ID_HEADER: current_request_id()}
    rows = [
        Notification(
            kind=kind,
            subscription=subscription,
            destination=destination,
            payload=payload,
            headers=dict(headers),
        )
        for kind, subscription, destination, payload in items
    ]
    for start in range(0, len(rows), ENQUEUE_CHUNK):
        db.insert_uncached(rows[start : start + ENQUEUE_CHUNK])
    if rows:
        transaction.on_commit(wake)
    return len(rows)


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


class Claimed(list):
    """The notifications one claim leased, oldest first.  ``complete``: the claim saw every
    due notification it was allowed to take, so a host that got less than its room has no
    other notification due right now (the dispatcher stops claiming for it until woken)."""

    complete: bool = False


_ROWS = db.ModelRows(Notification)


def _claim(limit: int, per_host: int | None = None, busy: dict[str, int] | None = None) -> Claimed:
    """Lease up to ``limit`` due notifications, the oldest pending one of each subscription.

    ``busy`` counts deliveries already held per host (``host_of``): a host at ``per_host`` is
    left out of the query, and no more than its free share of one host is leased, so a slow
    receiver's backlog never takes the places of other receivers.

    The due rows are chosen by their ids and destinations only (``_due``); the rows leased
    come back whole from the UPDATE that leases them.  The lease commits without waiting for
    the WAL flush (``db.relaxed_commit``): a database crash that lost it only lets the
    notification be claimed again, which at-least-once delivery allows.
    """
    claimed = Claimed()
    if limit <= 0:
        return claimed
    now = timezone.now()
    busy = busy or {}
    full = [host for host, count in busy.items() if per_host is not None and count >= per_host]
    own_transaction = not connection.in_atomic_block
    with db.relaxed_commit():
        rows = _due(now, limit, full, own_transaction)
        claimed.complete = len(rows) < limit
        chosen = []
        taken = dict(busy)
        for pk, destination in rows:
            host = host_of(destination)
            if per_host is not None and taken.get(host, 0) >= per_host:
                continue  # stays unleased: another pass (or worker) takes it
            taken[host] = taken.get(host, 0) + 1
            chosen.append(pk)
        if chosen:
            claimed.extend(_lease(chosen, now + dt.timedelta(seconds=lease_seconds())))
    return claimed


def _due(
    now: dt.datetime, limit: int, full_hosts: list[str], own_transaction: bool = True
) -> list[tuple[int, str]]:
    """(id, destination) of up to ``limit`` due, unleased notifications, oldest first, none
    with an older pending notification of its subscription and none to ``full_hosts``;
    locked (``FOR UPDATE SKIP LOCKED``) where the database can.

    Written by hand for its plan, which must hold whatever the outbox's statistics say (a
    fan-out fills the outbox faster than autovacuum analyses it, and the bench runs with
    autovacuum off): the partial index ``outbox_pending_due`` read in order, stopping at
    ``limit``, and for each row one probe of ``outbox_pending_subscription``.  With the
    statistics of an empty table the planner turned the ORM's ``NOT EXISTS`` into an anti
    join that scanned the whole subscription index for every row (400 ms a claim at 5,000
    pending); ``OFFSET 0`` keeps the check a per-row subplan, and ``enable_sort`` off keeps
    the planner from sorting every due row instead of reading the index in order.
    """
    quote = connection.ops.quote_name
    table = quote(Notification._meta.db_table)
    at = Notification._meta.get_field("next_attempt_at").get_db_prep_value(now, connection)
    params: list[Any] = [Notification.PENDING, at, at, Notification.PENDING]
    excluded = ""
    for host in full_hosts:
        # The destination is the host, or starts with it followed by "/" or "?" (as
        # ``host_of`` reads it); substr rather than LIKE: a host may hold "_".
        excluded += " AND NOT (n.destination = %s OR substr(n.destination, 1, %s) IN (%s, %s))"
        params += [host, len(host) + 1, host + "/", host + "?"]
    params.append(limit)
    lock = ""
    if connection.features.has_select_for_update_skip_locked:
        lock = " FOR UPDATE SKIP LOCKED"
    if own_transaction and connection.vendor == "postgresql":
        # For this transaction only (a caller's transaction keeps its own planner settings).
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_sort TO off")
    return db.select(
        f"SELECT n.id, n.destination FROM {table} n"
        " WHERE n.state = %s AND n.next_attempt_at <= %s"
        " AND (n.leased_until IS NULL OR n.leased_until < %s)"
        f" AND NOT EXISTS (SELECT 1 FROM {table} o WHERE o.subscription = n.subscription"
        " AND o.state = %s AND o.id < n.id LIMIT 1 OFFSET 0)"
        f"{excluded} ORDER BY n.next_attempt_at, n.id LIMIT %s{lock}",
        params,
    )


def _lease(ids: list[int], until: dt.datetime) -> list[Notification]:
    """Set ``leased_until`` on ``ids`` and return those rows, oldest first (one statement)."""
    quote = connection.ops.quote_name
    table = quote(Notification._meta.db_table)
    field = Notification._meta.get_field("leased_until")
    returned = ", ".join(quote(f.column) for f in _ROWS.fields)
    values = db.write_uncached(
        Notification,
        f"UPDATE {table} SET {quote(field.column)} = %s WHERE {quote('id')} IN "
        f"({db.placeholders(ids)}) RETURNING {returned}",
        [field.get_db_prep_value(until, connection), *ids],
        returning=True,
    )
    leased = [_ROWS.build(row) for row in values]
    leased.sort(key=lambda n: (n.next_attempt_at, n.pk))
    return leased


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
        # The answer is read (and dropped) only so that the connection goes back to the
        # pool: one left unread is closed, and every delivery paid for a new connection.
        limit=ANSWER_LIMIT,
    )
    elapsed = (time.monotonic() - started) * 1000
    if reply.status is not None and 200 <= reply.status < 300:
        # The status says it all: an answer too long, broken off or slow after a 2xx status
        # still means delivered.
        return reply.status, "", elapsed
    if not reply.ok:
        return reply.status, reply.exception or reply.reason, elapsed
    return reply.status, f"HTTP {reply.status}", elapsed


def _record_all(outcomes: list[tuple[Notification, int | None, str, float]]) -> None:
    """Write the attempts of finished deliveries in one transaction: one insert for all, one
    update for all that were delivered, one update per retry (each has its own backoff).

    The commit does not wait for the WAL flush (``db.relaxed_commit``): a database crash that
    lost it only makes those notifications delivered again once their leases lapse -- at
    least once, as a worker killed before recording does."""
    if not outcomes:
        return
    now = timezone.now()
    with db.relaxed_commit():
        db.insert_uncached(
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
    for notification, _, error, _ in outcomes:
        if error:
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


Outcome = tuple[Notification, int | None, str, float]


class Dispatcher:
    """Keeps deliveries in flight: up to ``total`` at once and ``host_limit`` per host.

    The HTTP calls run in a thread pool; claims and the recording of outcomes stay in the
    caller's thread (it holds the database connection), which must be the only one using the
    dispatcher.  A delivery that finishes frees its place at once, so a receiver that takes
    its full timeout holds back only the places it occupies -- at most ``host_limit`` -- and
    never a batch of other receivers' deliveries.  Notifications are claimed ahead of their
    places (``ahead`` times them, per host and in total) and wait in a queue per host, so one
    claim feeds many deliveries; a queue waits only for its own host's places.

    A claim is made when a host's queue runs below a quarter of what it may hold (unless the last
    complete claim found nothing more for that host), when woken, and at most every
    ``CLAIM_EVERY_SECONDS`` otherwise while places are free -- not on every delivery that
    finishes, which with one busy receiver made a claim per handful of deliveries.  Outcomes
    are written in batches (``RECORD_BATCH``, ``RECORD_EVERY_SECONDS``); until then the
    notification stays leased, so no other worker sends it again.
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
        self._dry: set[str] = set()  # hosts the last complete claim had nothing more for
        self._claim_at = 0.0  # time.monotonic() of the next claim made without a reason
        self._unrecorded: list[Outcome] = []
        self._unrecorded_since = 0.0

    @property
    def in_flight(self) -> int:
        return len(self._flying)

    @property
    def queued(self) -> int:
        return sum(len(q) for q in self._queued.values())

    @property
    def unrecorded(self) -> int:
        """Finished deliveries whose outcome is not written yet."""
        return len(self._unrecorded)

    def pump(self) -> int:
        """Record what finished, then claim and start what fits; returns how much of both."""
        finished = self._collect([f for f in self._flying if f.done()])
        self._record(force=False)
        started = self._start_queued()
        if _wakeup.is_set():
            _wakeup.clear()
            self._dry.clear()
            self._claim_at = 0.0
        if self._claim_due():
            room = self.total * self.ahead - self.queued - len(self._flying)
            room_per_host = self.host_limit * self.ahead
            before = dict(self._held)
            claimed = _claim(room, room_per_host, self._held)
            got: dict[str, int] = {}
            for notification in claimed:
                host = host_of(notification.destination)
                self._queued.setdefault(host, deque()).append(notification)
                self._held[host] = self._held.get(host, 0) + 1
                got[host] = got.get(host, 0) + 1
            for host in set(before) | set(got):
                if got.get(host, 0) >= room_per_host - before.get(host, 0):
                    self._dry.discard(host)  # took all it could: there may be more
                elif getattr(claimed, "complete", False):
                    self._dry.add(host)
            self._claim_at = time.monotonic() + CLAIM_EVERY_SECONDS
            started += self._start_queued()
        return finished + started

    def _claim_due(self) -> bool:
        if self.queued + len(self._flying) >= self.total * self.ahead:
            return False
        if time.monotonic() >= self._claim_at:
            return True
        low = max(1, self.host_limit * self.ahead // 4)
        return any(
            len(self._queued.get(host, ())) < low and host not in self._dry for host in self._held
        )

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
        finished = self._collect(futures)
        self._record(force=True)
        return finished

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
        count = 0
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
            if not self._unrecorded:
                self._unrecorded_since = time.monotonic()
            self._unrecorded.append((notification, status, error, ms))
            count += 1
        return count

    def _record(self, force: bool) -> None:
        if not self._unrecorded:
            return
        if not force and (
            len(self._unrecorded) < RECORD_BATCH
            and time.monotonic() - self._unrecorded_since < RECORD_EVERY_SECONDS
        ):
            return
        # Kept until written: after a database error the next pass writes them (meanwhile
        # their leases keep other workers from sending them again).
        _record_all(self._unrecorded)
        self._unrecorded = []


def deliver_due(limit: int | None = None) -> int:
    """Deliver what is due now and wait for it; returns how many attempts were made."""
    dispatcher = Dispatcher(total=limit, ahead=1)  # one pass: nothing to claim ahead for
    try:
        dispatcher.pump()
        return dispatcher.drain()
    finally:
        dispatcher.close()


class _Survival:
    """A loop's failures: logged once per outage, retried with a growing backoff."""

    def __init__(self, loop: str) -> None:
        self.loop = loop
        self.failing = 0

    def failed(self) -> float:
        """Log (the first failure of an outage only); returns the seconds to wait."""
        self.failing += 1
        if self.failing == 1:
            logger.exception("worker pass failed (%s); retrying with backoff", self.loop)
        # A connection already beyond closing must not end the loop: the next pass reopens.
        with contextlib.suppress(Exception):
            close_old_connections()
        return min(30.0, 0.5 * 2 ** min(self.failing, 6))

    def passed(self) -> None:
        if self.failing:
            logger.warning("worker recovered after %d failed passes (%s)", self.failing, self.loop)
            self.failing = 0


def _deliver(dispatcher: Dispatcher, stop: threading.Event, poll: float) -> None:
    """The delivery loop, until ``stop``: deliveries kept in flight, outcomes recorded."""
    survival = _Survival("deliveries")
    heartbeat.loop_started()
    try:
        while not stop.is_set():
            try:
                close_old_connections()
                busy = dispatcher.pump()
                heartbeat.beat()
                survival.passed()
            except Exception:
                stop.wait(survival.failed())
                continue
            if dispatcher.in_flight:
                dispatcher.wait(poll if not busy else 0.05)
            elif dispatcher.unrecorded:
                stop.wait(RECORD_EVERY_SECONDS)
            elif not busy:
                _wakeup.wait(poll)
    finally:
        try:
            dispatcher.close()
        except Exception:  # the database is away: the leases lapse
            logger.warning("worker stopped without releasing its leases", exc_info=True)
        heartbeat.loop_stopped()
        connection.close()  # this thread's own connection


def _chores(stop: threading.Event, poll: float) -> None:
    """The chores loop, until ``stop``: change events evaluated, expiries, sweeps."""
    survival = _Survival("chores")
    heartbeat.loop_started()
    try:
        while not stop.is_set():
            try:
                close_old_connections()
                run_periodic()
                heartbeat.beat()
                survival.passed()
            except Exception:
                stop.wait(survival.failed())
                continue
            stop.wait(poll)
    finally:
        heartbeat.loop_stopped()


def run(
    poll: float = 0.5,
    stop: threading.Event | None = None,
    once: bool = False,
    total: int | None = None,
    host_limit: int | None = None,
) -> None:
    """The worker until ``stop``: chores in this thread, deliveries in a thread of their own.

    A database or cache error in either loop is logged (once per outage) and retried after a
    backoff of up to 30 s: the worker exits only when told to stop.  The heartbeat
    (``notifications.heartbeat``) tells how long ago the slower of the two last passed.
    With ``once``: one pass of the chores, then the deliveries then due, in this thread.
    """
    stop = stop or threading.Event()
    dispatcher = Dispatcher(total, host_limit)
    logger.info(
        "worker started: %d deliveries at once, %d per host",
        dispatcher.total,
        dispatcher.host_limit,
    )
    if once:
        survival = _Survival("once")
        try:
            while not stop.is_set():
                try:
                    close_old_connections()
                    run_periodic()
                    dispatcher.pump()
                    dispatcher.drain()
                    heartbeat.beat()
                    break
                except Exception:
                    stop.wait(survival.failed())
        finally:
            _stopped(dispatcher)
        return
    deliveries = threading.Thread(
        target=_deliver, args=(dispatcher, stop, poll), name="worker-deliveries", daemon=True
    )
    deliveries.start()
    try:
        _chores(stop, poll)
    finally:
        stop.set()
        _wakeup.set()
        deliveries.join()
        _stopped(None)


def _stopped(dispatcher: Dispatcher | None) -> None:
    try:
        if dispatcher is not None:
            dispatcher.close()
        heartbeat.forget()
    except Exception:  # the database is away: the leases lapse, the row grows stale
        logger.warning("worker stopped without releasing its leases", exc_info=True)
    logger.info("worker stopped")
