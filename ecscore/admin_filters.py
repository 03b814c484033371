"""Admin list filters shared by every app whose rows expire (registrations, subscriptions).

The dashboard links to these lists with the same values, so "live" there and here is one
definition: no expiry, or one still ahead.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

LIVE = "live"
EXPIRING = "expiring"
EXPIRED = "expired"
#: What "expiring soon" means on the dashboard and in the filter.
EXPIRING_WITHIN = dt.timedelta(hours=1)


def expiry_q(value: str, now: dt.datetime, field: str = "expires_at") -> Q | None:
    """The rows of ``value`` (live, expiring within the hour, expired) at ``now``."""
    if value == LIVE:
        return Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__gt": now})
    if value == EXPIRING:
        return Q(**{f"{field}__gt": now, f"{field}__lte": now + EXPIRING_WITHIN})
    if value == EXPIRED:
        return Q(**{f"{field}__lte": now})
    return None


class ExpiryFilter(admin.SimpleListFilter):
    title = "expiry"
    parameter_name = "expiry"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(LIVE, "live"), (EXPIRING, "expiring within the hour"), (EXPIRED, "expired")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        condition = expiry_q(self.value() or "", timezone.now())
        return queryset if condition is None else queryset.filter(condition)
