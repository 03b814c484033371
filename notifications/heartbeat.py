"""The worker's heartbeat: a row per worker process, moved at most every few seconds."""

from __future__ import annotations

import os
import socket
import time

from django.utils import timezone

from .models import WorkerHeartbeat

BEAT_EVERY_SECONDS = 5.0
_last_beat = 0.0


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


def beat(force: bool = False) -> None:
    """Record that this worker is alive (cheap: one upsert every ``BEAT_EVERY_SECONDS``)."""
    global _last_beat
    now = time.monotonic()
    if not force and now - _last_beat < BEAT_EVERY_SECONDS:
        return
    WorkerHeartbeat.objects.update_or_create(
        worker=worker_name(), defaults={"beat_at": timezone.now()}
    )
    _last_beat = now


def forget() -> None:
    """A worker stopping cleanly removes its row (a stale row of a restarted worker stays
    until it is older than any healthy one: ``age`` reads the newest)."""
    WorkerHeartbeat.objects.filter(worker=worker_name()).delete()


def age() -> float | None:
    """Seconds since the newest heartbeat of any worker; None when none ever beat."""
    newest = WorkerHeartbeat.objects.order_by("-beat_at").values_list("beat_at", flat=True).first()
    if newest is None:
        return None
    return (timezone.now() - newest).total_seconds()
