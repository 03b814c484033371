"""``manage.py ecs_apply FILE``: apply a configuration file (YAML or JSON)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper

from ecscore import configfile


class ProgressLine:
    """One carriage-return line per phase ("validating EDNs: 4,000/10,000 (40%)").

    Redrawn at most every ``interval`` seconds: a terminal that prints 100,000 updates
    costs more than the work it reports.
    """

    def __init__(self, out: OutputWrapper, interval: float = 0.2) -> None:
        self.out = out
        self.interval = interval
        self.what: str | None = None
        self.shown_at = 0.0

    def __call__(self, what: str, done: int, total: int) -> None:
        now = time.monotonic()
        if what != self.what:
            self.finish()
            self.what = what
        elif done < total and now - self.shown_at < self.interval:
            return
        self.shown_at = now
        percent = 100 * done // total if total else 100
        self.out.write(f"\r{what}: {done:,}/{total:,} ({percent}%)", ending="")
        self.out.flush()
        if done >= total:
            self.out.write("")
            self.what = None

    def finish(self) -> None:
        """End a line left open (a phase that stopped early, on an error say)."""
        if self.what is not None:
            self.out.write("")
            self.out.flush()
            self.what = None


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
        # Progress only on a terminal: logs and pipes get the summary line alone.
        if self.stdout.isatty():
            progress = ProgressLine(self.stdout)
            try:
                with configfile.reporting_progress(progress):
                    self._handle(options)
            finally:
                progress.finish()
        else:
            self._handle(options)

    def _handle(self, options: dict[str, Any]) -> None:
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
