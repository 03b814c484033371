"""``manage.py ecs_cache_sweep``: delete expired partner answers (run it periodically)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from ...cache import sweep


class Command(BaseCommand):
    help = "Delete expired entries of the partner provisioning cache."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"Deleted {sweep()} expired cache entries.")
