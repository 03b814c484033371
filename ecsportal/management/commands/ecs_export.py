"""``manage.py ecs_export``: print the configuration in the format ecs_apply reads."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ecscore import configfile


class Command(BaseCommand):
    help = (
        "Print this ECS's configuration (identity, EDNs, EESs, ...) as YAML or JSON. The "
        "output is deterministic, so exports diff cleanly in version control."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=["yaml", "json"], default="yaml")

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(
            configfile.dump(configfile.export_document(), options["format"]), ending=""
        )
