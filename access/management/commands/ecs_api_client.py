"""``ecs_api_client KIND IDENTITY --scope S [--scope S ...]``: an API client for a script or test.

Prints ``{"clientId": ..., "clientSecret": ...}`` as JSON on its last line; the secret is shown
this once (only its hash is stored), as the admin shows it.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from access.clients import create_api_client
from access.models import APIClient
from access.scopes import api_scopes


class Command(BaseCommand):
    help = "Create an API client (OAuth 2.0 client credentials) and print its id and secret."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=[k for k, _ in APIClient.KINDS])
        parser.add_argument("identity", help="The EEC, EES or ECS id the client acts as.")
        parser.add_argument(
            "--scope",
            action="append",
            required=True,
            dest="scopes",
            help="An API the client may use (repeat for more): " + ", ".join(sorted(api_scopes())),
        )

    def handle(self, *args: Any, kind: str, identity: str, scopes: list[str], **options: Any):
        unknown = sorted(set(scopes) - set(api_scopes()))
        if unknown:
            raise CommandError(
                f"Unknown scope(s) {', '.join(unknown)}; known: {', '.join(sorted(api_scopes()))}."
            )
        if APIClient.objects.filter(kind=kind, identity=identity).exists():
            raise CommandError(f"An API client for {kind} {identity!r} exists already.")
        try:
            client, secret = create_api_client(kind, identity, sorted(set(scopes)))
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(
            json.dumps({"clientId": client.application.client_id, "clientSecret": secret})
        )
