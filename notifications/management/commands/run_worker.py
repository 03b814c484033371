"""``manage.py run_worker``: deliver notifications and run the periodic chores until stopped."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ... import worker


class Command(BaseCommand):
    help = (
        "Run the ECS worker: deliver queued notifications (retrying with backoff) and run "
        "periodic chores (expire registrations and subscriptions, sweep the partner cache)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--poll", type=float, default=0.5, help="seconds between polls")
        parser.add_argument("--once", action="store_true", help="one pass, then exit")
        parser.add_argument(
            "--concurrency",
            type=int,
            default=None,
            help="deliveries in flight at once (default ECS_NOTIFICATION_CONCURRENCY, 32)",
        )
        parser.add_argument(
            "--per-host",
            type=int,
            default=None,
            help="deliveries in flight to one host (default ECS_NOTIFICATION_PER_HOST, 8)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        self.stdout.write("ECS worker running (Ctrl-C to stop)")
        worker.run(
            poll=options["poll"],
            stop=stop,
            once=options["once"],
            total=options["concurrency"],
            host_limit=options["per_host"],
        )
