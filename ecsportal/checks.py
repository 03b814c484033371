"""System checks for deployment mistakes that do not fail loudly on their own."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Warning, register

PER_PROCESS_CACHES = {
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
    "django.core.cache.backends.filebased.FileBasedCache",
}


@register()
def cachalot_needs_shared_cache(app_configs: Any, **kwargs: Any) -> list[Warning]:
    """cachalot on a per-process cache: each worker keeps serving rows another worker changed."""
    if settings.DEBUG or not getattr(settings, "CACHALOT_ENABLED", True):
        return []
    alias = getattr(settings, "CACHALOT_CACHE", "default")
    backend = settings.CACHES.get(alias, {}).get("BACKEND", "")
    if backend in PER_PROCESS_CACHES:
        return [
            Warning(
                f"django-cachalot caches query results in the per-process cache {backend!r}.",
                hint=(
                    "With more than one worker process, each keeps serving rows that another "
                    "changed. Set REDIS_URL so that every process shares one cache."
                ),
                id="ecsportal.W001",
            )
        ]
    return []
