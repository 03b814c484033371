"""``/metrics``: Prometheus text exposition of what an operator watches on federation.

Circuit state per partner (0 closed, 1 half-open, 2 open), fresh cache entries per partner,
and the notification outbox by state.  No secrets, no UE data.
"""

from __future__ import annotations

from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from . import breaker
from .models import PartnerECS, ProvisioningCacheEntry


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    from notifications.models import Notification

    lines = [
        "# HELP ecs_partner_circuit_state Circuit breaker: 0 closed, 1 half-open, 2 open.",
        "# TYPE ecs_partner_circuit_state gauge",
    ]
    partners = list(PartnerECS.objects.order_by("partner_id"))
    for partner in partners:
        value = breaker.STATE_VALUES[breaker.state(partner)]
        lines.append(f'ecs_partner_circuit_state{{partner="{_label(partner.partner_id)}"}} {value}')
    fresh = dict(
        ProvisioningCacheEntry.objects.filter(expires_at__gt=timezone.now())
        .values_list("partner__partner_id")
        .annotate(n=Count("pk"))
    )
    lines += [
        "# HELP ecs_partner_cache_fresh_entries Fresh cached partner answers.",
        "# TYPE ecs_partner_cache_fresh_entries gauge",
    ]
    for partner in partners:
        count = fresh.get(partner.partner_id, 0)
        lines.append(
            f'ecs_partner_cache_fresh_entries{{partner="{_label(partner.partner_id)}"}} {count}'
        )
    states = dict(Notification.objects.values_list("state").annotate(n=Count("pk")))
    lines += [
        "# HELP ecs_notifications Notifications in the outbox by state.",
        "# TYPE ecs_notifications gauge",
    ]
    for state, _ in Notification.STATES:
        lines.append(f'ecs_notifications{{state="{state}"}} {states.get(state, 0)}')
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; version=0.0.4")
