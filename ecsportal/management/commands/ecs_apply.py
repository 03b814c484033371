"""``manage.py ecs_apply FILE``: apply a configuration file (YAML or JSON)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ecsportal import configfile


class Command(BaseCommand):
    help = (
        "Apply an ECS Portal configuration file (YAML or JSON). The whole file is validated "
        "first; one problem and nothing is written. Applying the same file twice changes "
        "nothing. With --prune, what the file's sections no longer list is removed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="path of the YAML or JSON file")
        parser.add_argument(
            "--prune", action="store_true", help="delete what the file no longer lists"
        )
        parser.add_argument("--check", action="store_true", help="validate only; write nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            document = configfile.load_file(options["file"])
            if options["check"]:
                errors = configfile.validate_document(document)
                if errors:
                    raise configfile.ConfigError(errors)
                self.stdout.write(f"{options['file']}: valid")
                return
            stats = configfile.apply_document(document, prune=options["prune"])
        except FileNotFoundError as exc:
            raise CommandError(f"No such file: {options['file']}") from exc
        except configfile.ConfigError as exc:
            raise CommandError(
                f"{options['file']} was not applied ({len(exc.errors)} problem(s); "
                "nothing was changed):\n  " + "\n  ".join(exc.errors)
            ) from exc
        summary = ", ".join(f"{k}: {v}" for k, v in sorted(stats.items())) or "nothing to do"
        self.stdout.write(self.style.SUCCESS(f"Applied {options['file']} ({summary})"))
