"""The admin's landing dashboard: how federation, registrations, subscriptions and the outbox
fare, at a glance, from the portal's own tables.

Each figure links to the admin list that shows the rows behind it, filtered with the same
definition (``partners.audit.OUTCOMES``, ``ecscore.admin_filters``).  The page costs a fixed
number of queries whatever the row counts, and each reads an index range: the audit log only
over the last hour (its ``at`` index), the outbox only through its partial indexes.  A panel
is built only for a user who may view its model.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.contrib.admin import AdminSite
from django.db.models import Count, F, Max, Min, Q, Sum
from django.db.models.expressions import Window
from django.db.models.functions import Ceil, RowNumber, TruncMinute
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from ecscore.admin_filters import EXPIRED, EXPIRING, EXPIRING_WITHIN, LIVE, expiry_q
from federation import repository
from federation.models import ECSRegistration
from notifications.models import Notification
from partners import breaker
from partners.audit import CACHE_HIT, CALL, FAILURE, PERIOD_LAST_HOUR, PERIODS, TIMED_CALL
from partners.models import PartnerECS, PartnerSubscription, ProvisioningCacheEntry, RetrievalAudit
from provisioning.models import EES, EECSubscription

#: The span the per-partner figures and the chart cover: the audit list's "last hour".
WINDOW = PERIODS[PERIOD_LAST_HOUR][1]
#: Nearest-rank percentiles of the partner's latency over the window.
PERCENTILES = (0.5, 0.95)
CHART_WIDTH, CHART_HEIGHT = 240, 48


@dataclass
class PartnerHealth:
    """One partner's row on the dashboard; None where the user may not see the figure."""

    partner: PartnerECS
    circuit: str
    links: dict[str, str]
    calls: int | None = None
    failures: int | None = None
    hits: int | None = None
    p50: float | None = None
    p95: float | None = None
    fresh: int | None = None
    expired: int | None = None
    chart: SafeString | None = None

    @property
    def hit_ratio(self) -> float | None:
        """Share of the window's outbound requests answered from our cache."""
        if self.hits is None or self.calls is None or not (self.hits + self.calls):
            return None
        return self.hits / (self.hits + self.calls)


@dataclass
class Dashboard:
    since: dt.datetime
    partners: list[PartnerHealth] | None = None
    show_audit: bool = False
    show_cache: bool = False
    registrations: dict[str, Any] | None = None
    #: ECSs registered here, when this ECS is an ECS-ER.
    ecs_registrations: dict[str, Any] | None = None
    eec_subscriptions: dict[str, Any] | None = None
    partner_subscriptions: dict[str, Any] | None = None
    outbox: dict[str, Any] | None = None
    links: dict[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return all(
            panel is None
            for panel in (
                self.partners,
                self.registrations,
                self.ecs_registrations,
                self.eec_subscriptions,
                self.partner_subscriptions,
                self.outbox,
            )
        )


def _list_url(model: type, **params: Any) -> str:
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    return f"{url}?{urlencode(params)}" if params else url


def build(request: HttpRequest, site: AdminSite) -> Dashboard:
    """The dashboard as ``request``'s user may see it, now."""
    now = timezone.now()
    board = Dashboard(since=now - WINDOW)

    def may_view(model: type) -> bool:
        model_admin = site._registry.get(model)
        return model_admin is not None and model_admin.has_view_permission(request)

    if may_view(PartnerECS):
        board.show_audit = may_view(RetrievalAudit)
        board.show_cache = may_view(ProvisioningCacheEntry)
        board.partners = _partners(board, now)
    if may_view(EES):
        board.registrations = _registrations(now)
    if may_view(ECSRegistration) and repository.configuration().enabled:
        board.ecs_registrations = _expiring(ECSRegistration, now)
    if may_view(EECSubscription):
        board.eec_subscriptions = _subscriptions(EECSubscription, now)
    if may_view(PartnerSubscription):
        board.partner_subscriptions = _subscriptions(PartnerSubscription, now)
    if may_view(Notification):
        board.outbox = _outbox(now)
    return board


def _partners(board: Dashboard, now: dt.datetime) -> list[PartnerHealth]:
    partners = list(PartnerECS.objects.order_by("partner_id"))
    rows = {
        p.pk: PartnerHealth(
            partner=p,
            circuit=breaker.state(p),
            links={
                "partner": reverse("admin:partners_partnerecs_change", args=[p.pk]),
                "calls": _list_url(
                    RetrievalAudit, partner=p.partner_id, outcome="call", period=PERIOD_LAST_HOUR
                ),
                "failures": _list_url(
                    RetrievalAudit,
                    partner=p.partner_id,
                    outcome="failure",
                    period=PERIOD_LAST_HOUR,
                ),
                "hits": _list_url(
                    RetrievalAudit, partner=p.partner_id, outcome="hit", period=PERIOD_LAST_HOUR
                ),
                "fresh": _list_url(ProvisioningCacheEntry, partner__id__exact=p.pk, fresh="yes"),
                "expired": _list_url(ProvisioningCacheEntry, partner__id__exact=p.pk, fresh="no"),
            },
        )
        for p in partners
    }
    if not rows:
        return []
    if board.show_audit:
        _audit_figures(rows, board.since)
    if board.show_cache:
        counts = (
            ProvisioningCacheEntry.objects.values("partner_id")
            .annotate(
                fresh=Count("pk", filter=Q(expires_at__gt=now)),
                expired=Count("pk", filter=Q(expires_at__lte=now)),
            )
            .order_by()
        )
        for row in rows.values():
            row.fresh = row.expired = 0
        for count in counts:
            if count["partner_id"] in rows:
                rows[count["partner_id"]].fresh = count["fresh"]
                rows[count["partner_id"]].expired = count["expired"]
    return list(rows.values())


def _audit_figures(rows: dict[int, PartnerHealth], since: dt.datetime) -> None:
    """Calls, failures, hits, percentiles and the chart of each partner: two queries over
    the window's outbound rows (the ``at`` index bounds them)."""
    # No ordering: the model's newest-first would sort the window for nothing.
    window = (
        RetrievalAudit.objects.filter(
            at__gte=since, partner_id__in=list(rows), direction=RetrievalAudit.OUTBOUND
        )
        .order_by()
        .values("partner_id")
    )
    # One pass gives both the chart's minutes and (summed here) the hour's counts.
    minutes = (
        window.annotate(minute=TruncMinute("at"))
        .values("partner_id", "minute")
        .annotate(
            calls=Count("pk", filter=CALL),
            failures=Count("pk", filter=FAILURE),
            hits=Count("pk", filter=CACHE_HIT),
            timed=Count("pk", filter=TIMED_CALL),
            total=Sum("latency_ms", filter=TIMED_CALL),
            worst=Max("latency_ms", filter=TIMED_CALL),
        )
    )
    for row in rows.values():
        row.calls = row.failures = row.hits = 0
    series: dict[int, list[tuple[dt.datetime, float, float]]] = defaultdict(list)
    for point in minutes:
        row = rows[point["partner_id"]]
        row.calls += point["calls"]
        row.failures += point["failures"]
        row.hits += point["hits"]
        if point["timed"]:
            series[point["partner_id"]].append(
                (point["minute"], point["total"] / point["timed"], point["worst"])
            )
    for partner_id, row in rows.items():
        row.chart = latency_chart(sorted(series.get(partner_id, [])), since)

    # Nearest rank: the value at rank ceil(p * n) of the partner's n latencies, in SQL, so
    # that only two rows per partner leave the database.
    ranked = (
        window.filter(TIMED_CALL)
        .annotate(
            rank=Window(
                RowNumber(), partition_by=[F("partner_id")], order_by=F("latency_ms").asc()
            ),
            total=Window(Count("pk"), partition_by=[F("partner_id")]),
        )
        .filter(
            Q(rank=Ceil(F("total") * PERCENTILES[0])) | Q(rank=Ceil(F("total") * PERCENTILES[1]))
        )
        .values_list("partner_id", "rank", "total", "latency_ms")
    )
    for partner_id, rank, total, latency in ranked:
        row = rows[partner_id]
        if rank == math.ceil(total * PERCENTILES[0]):
            row.p50 = latency
        if rank == math.ceil(total * PERCENTILES[1]):
            row.p95 = latency


def latency_chart(points: list[tuple[dt.datetime, float, float]], since: dt.datetime) -> SafeString:
    """An inline SVG of per-minute mean (line) and worst (faint line) latency since ``since``.

    Drawn on the server: no script, no chart library, readable in any browser and in a
    screenshot.
    """
    label = "no timed calls in the last hour"
    if not points:
        return format_html(
            '<svg class="latency-chart" width="{w}" height="{h}" role="img" aria-label="{l}">'
            '<text x="4" y="{y}" class="empty">{l}</text></svg>',
            w=CHART_WIDTH,
            h=CHART_HEIGHT,
            l=label,
            y=CHART_HEIGHT // 2 + 4,
        )
    top = max(worst for _, _, worst in points) or 1.0
    span = WINDOW.total_seconds()

    def xy(moment: dt.datetime, value: float) -> str:
        x = max(0.0, (moment - since).total_seconds()) / span * CHART_WIDTH
        y = CHART_HEIGHT - 2 - value / top * (CHART_HEIGHT - 12)
        return f"{x:.1f},{y:.1f}"

    mean = " ".join(xy(moment, value) for moment, value, _ in points)
    worst = " ".join(xy(moment, value) for moment, _, value in points)
    peak = f"{top:.0f} ms" if top >= 10 else f"{top:.1f} ms"
    return format_html(
        '<svg class="latency-chart" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
        'aria-label="latency per minute over the last hour, peak {peak}">'
        "<title>latency per minute over the last hour: mean (line), worst (faint)</title>"
        '<line x1="0" y1="{base}" x2="{w}" y2="{base}" class="axis"/>'
        '<polyline points="{worst}" class="worst"/>'
        '<polyline points="{mean}" class="mean"/>'
        "{dots}"
        '<text x="{w}" y="9" text-anchor="end" class="peak">{peak}</text></svg>',
        w=CHART_WIDTH,
        h=CHART_HEIGHT,
        base=CHART_HEIGHT - 2,
        worst=worst,
        mean=mean,
        peak=peak,
        # A lone minute draws no line: a dot shows it.
        dots=format_html_join(
            "",
            '<circle cx="{}" cy="{}" r="1.5" class="mean"/>',
            (xy(m, v).split(",") for m, v, _ in points if len(points) == 1),
        ),
    )


def _registrations(now: dt.datetime) -> dict[str, Any]:
    registered = EES.objects.filter(source=EES.SOURCE_REGISTERED)
    counts = registered.aggregate(
        live=Count("pk", filter=expiry_q(LIVE, now)),
        expiring=Count("pk", filter=expiry_q(EXPIRING, now)),
        expired=Count("pk", filter=expiry_q(EXPIRED, now)),
    )
    source = {"source__exact": EES.SOURCE_REGISTERED}
    return {
        **counts,
        "within": EXPIRING_WITHIN,
        "links": {
            "live": _list_url(EES, **source, expiry=LIVE),
            "expiring": _list_url(EES, **source, expiry=EXPIRING),
            "expired": _list_url(EES, **source, expiry=EXPIRED),
        },
    }


def _expiring(model: type, now: dt.datetime) -> dict[str, Any]:
    """Live, expiring and expired rows of a model whose rows expire, with their lists."""
    counts = model.objects.aggregate(
        live=Count("pk", filter=expiry_q(LIVE, now)),
        expiring=Count("pk", filter=expiry_q(EXPIRING, now)),
        expired=Count("pk", filter=expiry_q(EXPIRED, now)),
    )
    return {
        **counts,
        "within": EXPIRING_WITHIN,
        "links": {name: _list_url(model, expiry=name) for name in (LIVE, EXPIRING, EXPIRED)},
    }


def _subscriptions(model: type, now: dt.datetime) -> dict[str, Any]:
    counts = model.objects.aggregate(
        live=Count("pk", filter=expiry_q(LIVE, now)),
        expiring=Count("pk", filter=expiry_q(EXPIRING, now)),
    )
    return {
        **counts,
        "links": {
            "live": _list_url(model, expiry=LIVE),
            "expiring": _list_url(model, expiry=EXPIRING),
        },
    }


def _outbox(now: dt.datetime) -> dict[str, Any]:
    # Two queries, each on a partial index: the delivered rows, the bulk of the table, are in
    # neither (one aggregate with filters would read them all).
    pending = Notification.objects.filter(state=Notification.PENDING).aggregate(
        backlog=Count("pk"), oldest=Min("created")
    )
    given_up = Notification.objects.filter(state=Notification.GIVEN_UP).count()
    return {
        **pending,
        "given_up": given_up,
        "oldest_age": now - pending["oldest"] if pending["oldest"] else None,
        "links": {
            "backlog": _list_url(Notification, state__exact=Notification.PENDING),
            # The pending list, oldest first (the first column, "created", ascending).
            "oldest": _list_url(Notification, state__exact=Notification.PENDING, o="1"),
            "given_up": _list_url(Notification, state__exact=Notification.GIVEN_UP),
        },
    }
