"""The worker's heartbeat: a row per worker process, moved at most every few seconds.

The worker runs two loops (deliveries, chores) on threads of their own; each registers
(``loop_started``) and marks every pass it finishes (``beat``, or ``progress`` from inside a
long pass, between its batches).  The row holds when the *slower* loop last passed, so a loop
that hangs -- a delivery loop stuck on the database, an evaluation that never reaches its next
batch -- ages the heartbeat even while the other loop keeps beating.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
import time

from django.utils import timezone

from .models import WorkerHeartbeat

BEAT_EVERY_SECONDS = 5.0
_last_beat = 0.0
# Thread ident of each running loop: time.time() of its last pass, None before its first.
_passed: dict[int, float | None] = {}
_lock = threading.Lock()  # guards _passed and _last_beat
_writing = threading.Lock()  # one row write at a time; a loop finding it taken skips its turn


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


def loop_started() -> None:
    """Register the calling thread as one of the worker's loops: no beat is written until it
    has passed once (a worker whose delivery loop fails from the start is not alive)."""
    with _lock:
        _passed[threading.get_ident()] = None


def loop_stopped() -> None:
    with _lock:
        _passed.pop(threading.get_ident(), None)


def progress() -> None:
    """The calling loop is making progress (a long pass between two batches).  Nothing is
    written here; a thread that is not a registered loop changes nothing."""
    ident = threading.get_ident()
    with _lock:
        if ident in _passed:
            _passed[ident] = time.time()


def beat(force: bool = False) -> None:
    """Record that this worker is alive (cheap: one upsert every ``BEAT_EVERY_SECONDS``).

    Marks the calling loop's pass; the row gets the last pass of the slowest loop (now, when
    no loop is registered), and is not written while a loop has not passed yet."""
    global _last_beat
    now = time.monotonic()
    with _lock:
        ident = threading.get_ident()
        if ident in _passed:
            _passed[ident] = time.time()
        if not force and now - _last_beat < BEAT_EVERY_SECONDS:
            return
        passes = list(_passed.values())
        if None in passes:
            return
        oldest = min(passes, default=None)
    if not _writing.acquire(blocking=False):
        return  # the other loop is writing it right now
    try:
        at = timezone.now() if oldest is None else dt.datetime.fromtimestamp(oldest, dt.UTC)
        WorkerHeartbeat.objects.update_or_create(worker=worker_name(), defaults={"beat_at": at})
        with _lock:
            _last_beat = now
    finally:
        _writing.release()


def forget() -> None:
    """A worker stopping cleanly removes its row (a stale row of a restarted worker stays
    until it is older than any healthy one: ``age`` reads the newest)."""
    global _last_beat
    WorkerHeartbeat.objects.filter(worker=worker_name()).delete()
    with _lock:
        _last_beat = 0.0


def age() -> float | None:
    """Seconds since the newest heartbeat of any worker; None when none ever beat."""
    newest = WorkerHeartbeat.objects.order_by("-beat_at").values_list("beat_at", flat=True).first()
    if newest is None:
        return None
    return (timezone.now() - newest).total_seconds()
