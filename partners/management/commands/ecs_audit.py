"""``manage.py ecs_audit``: the retrieval audit log, oldest first, for scripts and support.

It filters with ``partners.filters.RetrievalAuditFilterSet``, as the OAM API's ``audit/`` and
the admin do: one definition of "the audit by partner, direction, decision, time".
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from ecscore.datetimes import parse_datetime

from ...filters import RetrievalAuditFilterSet
from ...models import RetrievalAudit

_RELATIVE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_since(value: str, option: str = "--since") -> dt.datetime:
    """A date-time, or an age (30m, 2h, 7d) before now."""
    match = _RELATIVE.match(value)
    if match:
        amount, unit = match.groups()
        return timezone.now() - dt.timedelta(**{_UNITS[unit]: int(amount)})
    parsed = parse_datetime(value)
    if parsed is None:
        raise CommandError(
            f"{option} {value!r}: give a date-time with a time zone (2026-11-25T10:00:00Z) "
            "or an age such as 30m, 2h, 7d"
        )
    return parsed


def as_json(row: RetrievalAudit) -> dict[str, Any]:
    return {
        "at": row.at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "direction": row.direction,
        "partner": row.partner_label,
        "requestId": row.request_id,
        "query": row.query,
        "decision": row.decision,
        "reason": row.reason,
        "status": row.status,
        "ednCount": row.edn_count,
        "cache": row.cache or None,
        "latencyMs": row.latency_ms,
        "failed": row.failed,
        "dryRun": row.dry_run,
    }


class Command(BaseCommand):
    help = "Print the retrieval audit log, oldest first (--json: one JSON object per line)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="JSON lines")
        parser.add_argument("--partner", help="partner ECS id")
        parser.add_argument(
            "--direction", choices=[value for value, _ in RetrievalAudit.DIRECTIONS]
        )
        parser.add_argument("--since", help="date-time, or an age such as 30m, 2h, 7d")
        parser.add_argument("--until", help="before this date-time, or this long ago (2h)")
        parser.add_argument("--decision", choices=[value for value, _ in RetrievalAudit.DECISIONS])
        parser.add_argument("--request-id", help="the request id of the exchange")
        parser.add_argument(
            "--failed",
            action="store_true",
            help="only exchanges where we needed the partner and got no usable answer",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        data = {
            name: options[name]
            for name in ("partner", "direction", "decision", "request_id")
            if options[name]
        }
        if options["failed"]:
            data["failed"] = "true"
        for name in ("since", "until"):
            if options[name]:
                # Ages (2h) are the command's; the FilterSet takes the date-time they mean.
                data[name] = parse_since(options[name], f"--{name}").isoformat()
        filterset = RetrievalAuditFilterSet(data, queryset=RetrievalAudit.objects.all())
        if not filterset.is_valid():
            problems = "; ".join(
                f"--{name.replace('_', '-')}: {' '.join(errors)}"
                for name, errors in filterset.errors.items()
            )
            raise CommandError(problems)
        rows = filterset.qs.order_by("at", "pk")
        for row in rows.iterator(chunk_size=1000):
            if options["json"]:
                self.stdout.write(json.dumps(as_json(row), sort_keys=True))
            else:
                self.stdout.write(
                    f"{row.at:%Y-%m-%d %H:%M:%S} {row.direction:<3} {row.partner_label:<24} "
                    f"{row.decision:<8} {row.status or '-':<4} edns={row.edn_count} "
                    f"cache={row.cache or '-'} {row.latency_ms:.1f}ms "
                    f"{'FAILED ' if row.failed else ''}{row.request_id} {row.reason}"
                )
