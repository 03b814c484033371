"""``manage.py ecs_reevaluate``: evaluate every subscription again, e.g. after a restore.

Subscriptions are normally evaluated by the worker, from the change events that changes to
the inventory record (``provisioning.changes``). After a database restore, a restore of the
outbox alone, or anything else that changed what we provision without recording change
events, run this: every EEC subscription and every partner (EDGE-10) subscription is
evaluated again (``changes.evaluate(EVERYTHING)``, in the evaluators' batches, each batch in
one transaction) and those whose provisioning information differs from what they were last
notified of get a notification in the outbox, which the worker delivers. Subscriptions whose
information did not change are not notified, so running it twice notifies nothing the second
time.

``--pending`` instead evaluates the change events pending now, once, as one pass of the
worker would (events another worker holds under its lease are left to it).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ecscore.middleware import request_id_scope

from ... import changes
from ...scope import EVERYTHING


def _notified(count: int) -> str:
    return f"notified {count} subscription{'' if count == 1 else 's'}"


class Command(BaseCommand):
    help = (
        "Evaluate every EEC and partner subscription again and notify those whose "
        "provisioning information changed (after a restore); --pending: evaluate the "
        "pending change events once instead."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--pending",
            action="store_true",
            help="evaluate the pending change events once, instead of every subscription",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        with request_id_scope("ecs_reevaluate"):
            if options["pending"]:
                self._pending()
            else:
                notified = changes.evaluate(EVERYTHING)
                self.stdout.write(f"Evaluated every subscription again: {_notified(notified)}.")

    def _pending(self) -> None:
        events = changes.pending()
        if not events:
            self.stdout.write(f"No pending change events: {_notified(0)}.")
            return
        notified = changes.process_pending(limit=events)
        message = f"Evaluated {events} pending change events: {_notified(notified)}."
        left = changes.pending()
        if left:
            message += f" {left} pending now (held by another worker, or recorded meanwhile)."
        self.stdout.write(message)
