"""Writes the request path hands off: saved in batches by a thread of the process, not by
the request that caused them.

A cache hit answers from memory; what it owes the database (its audit row, the entry's hit
counter) is the only write left on its path, and when every concurrent hit of a popular
entry updates the same counter row, the hits queue behind each other's row lock.  Queued
here instead, the rows of many requests go in with one INSERT and the counters with one
UPDATE per entry, every ``ECS_WRITE_BEHIND_SECONDS`` (or sooner, when ``MAX_BATCH`` items are
waiting).

What a crash can lose: a process killed outright (SIGKILL, out of memory) loses what it
queued since its last flush, at most one interval of its requests' rows, plus a batch whose
transaction had not committed.  A worker that stops normally (gunicorn's ``worker_exit``,
interpreter exit) flushes first.  A flush that fails (database down) keeps its items and is
retried; beyond ``MAX_PENDING`` the oldest are dropped and counted (``dropped``), so a long
outage costs audit rows, never memory or the answers themselves.

``ECS_WRITE_BEHIND=0`` writes in the request again (the test suite does: its test cases run
inside transactions another thread cannot see).
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)

MAX_BATCH = 500
MAX_PENDING = 50_000
RETRY_SECONDS = 1.0


def enabled() -> bool:
    return bool(getattr(settings, "ECS_WRITE_BEHIND", True))


class Queue:
    """Items of one kind, written by ``flush_items(items)`` in the writer thread."""

    def __init__(self, name: str, flush_items: Callable[[list[Any]], None]) -> None:
        self.name = name
        self.flush_items = flush_items
        self.items: list[Any] = []
        self.dropped = 0

    def take(self) -> list[Any]:
        items, self.items = self.items, []
        return items

    def put_back(self, items: list[Any]) -> None:
        merged = items + self.items
        excess = len(merged) - MAX_PENDING
        if excess > 0:
            self.dropped += excess
            merged = merged[excess:]
        self.items = merged


class Writer:
    """The process's writer thread and its queues; started at the first ``put``."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.queues: dict[str, Queue] = {}
        self.thread: threading.Thread | None = None
        self.flushing = threading.Lock()  # one flush at a time: the thread's or an explicit one
        self.last_error = ""

    def queue(self, name: str, flush_items: Callable[[list[Any]], None]) -> Queue:
        with self.lock:
            if name not in self.queues:
                self.queues[name] = Queue(name, flush_items)
            return self.queues[name]

    def put(self, queue: Queue, items: list[Any]) -> None:
        with self.lock:
            queue.items.extend(items)
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="write-behind", daemon=True)
                self.thread.start()
            if len(queue.items) >= MAX_BATCH:
                self.lock.notify()

    def _run(self) -> None:
        interval = float(getattr(settings, "ECS_WRITE_BEHIND_SECONDS", 0.05))
        while True:
            with self.lock:
                self.lock.wait(interval)
            failed = not self.flush()
            if failed:
                time.sleep(RETRY_SECONDS)

    def flush(self) -> bool:
        """Write everything queued now; False when a queue's write failed (kept for later)."""
        ok = True
        with self.flushing:
            for queue in list(self.queues.values()):
                with self.lock:
                    items = queue.take()
                if not items:
                    continue
                done = 0
                try:
                    while done < len(items):
                        queue.flush_items(items[done : done + MAX_BATCH])
                        done += MAX_BATCH
                except Exception as exc:  # the database is down or refused the batch
                    ok = False
                    self.last_error = f"{queue.name}: {type(exc).__name__}"
                    logger.warning("write-behind %s failed; kept for retry", queue.name)
                    with self.lock:
                        queue.put_back(items[done:])
                    # A broken connection is not reused for the retry.
                    connection.close()
        return ok

    def pending(self) -> int:
        with self.lock:
            return sum(len(q.items) for q in self.queues.values())

    def dropped(self) -> int:
        with self.lock:
            return sum(q.dropped for q in self.queues.values())


writer = Writer()


def queue(name: str, flush_items: Callable[[list[Any]], None]) -> Queue:
    """The queue ``name`` (created on first use) whose items ``flush_items`` writes."""
    return writer.queue(name, flush_items)


def put(target: Queue, items: list[Any]) -> None:
    """Write ``items`` soon, in a batch (now, in the caller, with ``ECS_WRITE_BEHIND=0``)."""
    if not items:
        return
    if not enabled():
        target.flush_items(items)
        return
    writer.put(target, items)


def flush() -> bool:
    """Write what is queued, now (a worker that stops; tests)."""
    return writer.flush()


atexit.register(flush)
