"""``manage.py ecs_explain FILE``: "why this answer" for support scripts.

FILE (``-``: standard input) holds an ECSServProvReq as an EEC sends it to EDGE-4. The
command prints, as JSON, what the admin's "Why this answer" page shows
(``provisioning.explain``): the answer EDGE-4 would give and every considered EES's verdict,
and which partners would be consulted and whether from the cache. Nothing is written and no
partner is called unless ``--ask-partners`` (then real EDGE-10 calls, audited as dry runs).
A body EDGE-4 would refuse is refused here with the same invalidParams (exit status 1).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ecscore.errors import InvalidRequest
from ecscore.middleware import request_id_scope

from ... import explain


def _read(path: str) -> Any:
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
    except OSError as exc:
        raise CommandError(f"{path}: {exc.strerror or exc}") from exc
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CommandError(f"{path}: not JSON ({exc})") from exc


class Command(BaseCommand):
    help = (
        "Explain the answer EDGE-4 would give an ECSServProvReq (FILE, or - for stdin), "
        "as JSON: the answer, each considered EES's verdict, the partners consulted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="a JSON ECSServProvReq; - reads standard input")
        parser.add_argument(
            "--ask-partners",
            action="store_true",
            help="really call the partners that have no fresh cache entry (audited as dry "
            "runs; their answers are not cached)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        body = _read(options["file"])
        try:
            explain.check_request(body)
        except InvalidRequest as exc:
            params = exc.invalid_params or []
            problems = "; ".join(f"{p['param']}: {p['reason']}" for p in params)
            raise CommandError(f"{exc.detail} {problems}") from exc
        with request_id_scope():  # the dry-run audit rows carry it (requestId)
            result = explain.explain(body, ask_partners=options["ask_partners"])
        self.stdout.write(json.dumps(result, indent=2, ensure_ascii=False, default=str))
