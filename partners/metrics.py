"""``/metrics``: Prometheus text exposition of what an operator watches on federation.

Circuit state per partner (0 closed, 1 half-open, 2 open), fresh cache entries per partner,
and the notification outbox by state; apps above partners add their own lines through
``register_lines`` (federation: our registration at the ECS-ER).  No secrets, no UE data --
but partner ids and how federation fares are the operator's business: a scraper presents
``ECS_METRICS_TOKEN`` as a Bearer token or calls from an ``ECS_METRICS_ALLOW`` network;
anyone else is refused, unless neither is set in debug mode.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from django.conf import settings
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.views.decorators.http import require_GET

from ecscore.cache import circuit

from . import breaker
from .models import PartnerECS, ProvisioningCacheEntry

# Apps that partners may not import (federation) contribute their lines here.
_contributors: list[Callable[[], list[str]]] = []


def register_lines(lines: Callable[[], list[str]]) -> None:
    """Add ``lines()`` (Prometheus text lines, no secrets) to every /metrics answer."""
    if lines not in _contributors:
        _contributors.append(lines)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def _from_allowed_network(request: HttpRequest) -> bool:
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # a dual-stack socket's view of an IPv4 caller
    return any(address in ipaddress.ip_network(n, strict=False) for n in settings.ECS_METRICS_ALLOW)


def refusal(request: HttpRequest) -> HttpResponse | None:
    """Why this caller may not read the metrics (401/403), or None when it may."""
    token = settings.ECS_METRICS_TOKEN
    if not token and not settings.ECS_METRICS_ALLOW and settings.DEBUG:
        return None  # a development server: nothing configured, nothing to protect
    if settings.ECS_METRICS_ALLOW and _from_allowed_network(request):
        return None
    if token:
        kind, _, presented = request.headers.get("Authorization", "").partition(" ")
        if kind.lower() == "bearer" and constant_time_compare(presented.strip(), token):
            return None
        response = HttpResponse("A metrics token is required.\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse("Metrics are not open to this address.\n", status=403)


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    from notifications.models import Notification

    refused = refusal(request)
    if refused is not None:
        refused["Content-Type"] = "text/plain"
        return refused

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
    lines += [
        "# HELP ecs_cache_degraded 1 while this process answers without Redis (ecscore.cache).",
        "# TYPE ecs_cache_degraded gauge",
        f"ecs_cache_degraded {int(circuit.degraded)}",
        "# HELP ecs_cache_outages_total Redis outages this process has seen.",
        "# TYPE ecs_cache_outages_total counter",
        f"ecs_cache_outages_total {circuit.outages}",
    ]
    for contribute in _contributors:
        lines += contribute()
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; version=0.0.4")
