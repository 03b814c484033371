"""The admin's landing dashboard (Django test client): the figures an OAM engineer reads, the
lists they link to, who sees which panel, and a query count that rows do not change."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from notifications.models import Notification
from partners import breaker
from partners.models import PartnerSubscription, ProvisioningCacheEntry, RetrievalAudit
from provisioning.models import EES, EECSubscription
from tests.builders import make_edn, make_ees, make_partner
from tests.conftest import clear_cache
from tests.provisioning.test_admin_permissions import logged_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static_files")]

INDEX = "/admin/"


def audit(partner, minutes_ago: float, **fields) -> RetrievalAudit:
    fields.setdefault("direction", RetrievalAudit.OUTBOUND)
    fields.setdefault("cache", RetrievalAudit.MISS)
    fields.setdefault("status", 200)
    return RetrievalAudit(
        at=timezone.now() - dt.timedelta(minutes=minutes_ago),
        partner=partner,
        partner_label=partner.partner_id,
        request_id="req",
        **fields,
    )


def seed() -> dict:
    """A partner with an open circuit and an hour of traffic, a quiet one, registrations,
    subscriptions and an outbox; the figures each should show are in the comments."""
    now = timezone.now()
    busy = make_partner("ecs.busy.example", breaker_threshold=1)
    quiet = make_partner("ecs.quiet.example")
    breaker.record_failure(busy)  # threshold 1: open
    rows = [audit(busy, 50 - i, latency_ms=10.0 * (i + 1)) for i in range(10)]  # 10..100 ms
    rows += [
        audit(busy, 5, status=None, failed=True, latency_ms=500.0, reason="no answer"),
        audit(busy, 1, status=None, failed=True, reason="circuit open: not called"),
    ]
    # calls 12, failures 2; 11 timed (10..100, 500): p50 = rank 6 = 60 ms, p95 = rank 11.
    rows += [audit(busy, 3, cache=RetrievalAudit.HIT, latency_ms=0.5) for _ in range(4)]
    # hits 4 of 16 outbound: 25 %.  Neither the inbound nor the older rows count:
    rows += [audit(busy, 2, direction=RetrievalAudit.INBOUND, latency_ms=900.0)]
    rows += [audit(busy, 120, latency_ms=5000.0, failed=True) for _ in range(3)]
    RetrievalAudit.objects.bulk_create(rows)
    for key, expires in (("a", 10), ("b", 20), ("c", -5)):
        ProvisioningCacheEntry.objects.create(
            partner=busy,
            key=key * 64,
            query={},
            answer=[],
            expires_at=now + dt.timedelta(minutes=expires),
        )  # fresh 2, expired 1
    edn = make_edn("edn-dash")
    make_ees(edn, "ees-configured")
    for name, minutes in (("soon", 30), ("later", 600), ("later-2", 900), ("gone", -1)):
        make_ees(
            edn,
            f"ees-{name}",
            source=EES.SOURCE_REGISTERED,
            expires_at=now + dt.timedelta(minutes=minutes),
        )  # live 3, expiring 1, expired 1
    for name, minutes in (("s1", 30), ("s2", 300), ("s3", -10)):
        EECSubscription.objects.create(
            subscription_id=name,
            eec_id="eec-1",
            body={},
            notification_destination="https://eec.example/n",
            expires_at=now + dt.timedelta(minutes=minutes),
        )  # live 2, expiring 1
    PartnerSubscription.objects.create(
        partner=quiet,
        subscription_id="ps-1",
        body={},
        notification_destination="https://ecs.quiet.example/n",
        expires_at=now + dt.timedelta(hours=5),
    )  # live 1, expiring 0
    for state, minutes in (
        *[(Notification.PENDING, m) for m in (10, 2)],
        (Notification.GIVEN_UP, 60),
        *[(Notification.DELIVERED, 5)] * 5,
    ):
        Notification.objects.create(
            kind="eec-subscription",
            subscription="s1",
            destination="https://eec.example/n",
            payload={},
            state=state,
            created=now - dt.timedelta(minutes=minutes),
        )  # backlog 2, oldest 10 minutes, given up 1
    return {"busy": busy, "quiet": quiet}


def partner_row(html: str, partner_id: str) -> str:
    found = re.search(
        rf'<tr class="partner" data-partner="{re.escape(partner_id)}">(.*?)</tr>', html, re.S
    )
    assert found, f"no dashboard row for {partner_id}"
    return found.group(1)


def cell(html: str, css_class: str) -> tuple[str, str | None]:
    """The text of the first element whose class list starts with ``css_class``, and the
    link inside it."""
    found = re.search(rf'<(td|th|dd) class="{css_class}\b[^"]*">(.*?)</\1>', html, re.S)
    assert found, f"no {css_class} in {html[:200]}"
    inner = found.group(2)
    link = re.search(r'href="([^"]+)"', inner)
    text = re.sub(r"<[^>]+>", "", inner).strip()
    return text, link.group(1).replace("&amp;", "&") if link else None


def listed(client: Client, url: str) -> int:
    """How many rows the admin list at ``url`` shows (its filters applied)."""
    response = client.get(url)
    assert response.status_code == 200, url
    # An unknown filter parameter makes the admin redirect with ?e=1: not a filtered list.
    assert "e=1" not in response.request.get("QUERY_STRING", "")
    return response.context["cl"].result_count


def test_the_figures_and_the_lists_behind_them():
    seed()
    client = logged_in("oam", superuser=True)
    html = client.get(INDEX).content.decode()

    busy = partner_row(html, "ecs.busy.example")
    assert cell(busy, "circuit")[0] == "open"
    expected = {"calls": "12", "failures": "2", "fresh": "2", "expired": "1"}
    for name, figure in expected.items():
        text, link = cell(busy, f"num {name}")
        assert text == figure, name
        assert listed(client, link) == int(figure), name
    assert cell(busy, "num p50")[0] == "60.0 ms"
    assert cell(busy, "num p95")[0] == "500.0 ms"
    ratio, hits_link = cell(busy, "num hit-ratio")
    assert ratio == "25 %"
    assert listed(client, hits_link) == 4
    # The chart's scale is the worst minute of the hour (the 500 ms failure), not older ones.
    assert 'aria-label="latency per minute over the last hour, peak 500 ms"' in busy

    quiet = partner_row(html, "ecs.quiet.example")
    assert cell(quiet, "circuit")[0] == "closed"
    assert cell(quiet, "num calls")[0] == "0"
    assert cell(quiet, "num p50")[0] == "\N{EN DASH}"
    assert cell(quiet, "num hit-ratio")[0] == "\N{EN DASH}"
    assert "no timed calls" in quiet

    panels = {
        "health-registrations": {"live": 3, "expiring": 1, "expired": 1},
        "health-eec-subscriptions": {"live": 2, "expiring": 1},
        "health-partner-subscriptions": {"live": 1, "expiring": 0},
        "health-outbox": {"backlog": 2, "given-up": 1},
    }
    for panel, figures in panels.items():
        section = html.split(f'id="{panel}"', 1)[1].split('<div class="module"', 1)[0]
        for name, figure in figures.items():
            text, link = cell(section, name)
            assert text == str(figure), (panel, name)
            assert listed(client, link) == figure, (panel, name)
    outbox = html.split('id="health-outbox"', 1)[1]
    oldest, oldest_link = cell(outbox, "oldest")
    assert oldest == "10\xa0minutes ago"
    # The link lists the pending notifications oldest first.
    response = client.get(oldest_link)
    first = response.context["cl"].result_list[0]
    assert (
        first.created == Notification.objects.filter(state="pending").order_by("created")[0].created
    )


def test_a_staff_user_sees_only_the_panels_of_models_they_may_view():
    seed()
    client = logged_in("partner-watcher", perms=["view_partnerecs", "view_retrievalaudit"])
    html = client.get(INDEX).content.decode()
    busy = partner_row(html, "ecs.busy.example")
    assert cell(busy, "num calls")[0] == "12"
    # No view permission on cached answers: no cache columns; none on the rest: no panels.
    assert 'class="num fresh"' not in busy
    for panel in ("registrations", "eec-subscriptions", "partner-subscriptions", "outbox"):
        assert f'id="health-{panel}"' not in html

    client = logged_in("outbox-watcher", perms=["view_notification"])
    html = client.get(INDEX).content.decode()
    assert 'id="health-outbox"' in html
    assert 'id="health-partners"' not in html
    assert "ecs.busy.example" not in html


def test_the_number_of_queries_does_not_grow_with_the_rows():
    client = logged_in("oam", superuser=True)
    client.get(INDEX)  # the session and the user's first reads
    seeded = seed()

    def queries() -> int:
        clear_cache()  # the query cache would otherwise answer the second load
        with CaptureQueriesContext(connection) as captured:
            assert client.get(INDEX).status_code == 200
        return len(captured)

    few = queries()
    more = [audit(seeded["quiet"], i / 100, latency_ms=float(i)) for i in range(2000)]
    RetrievalAudit.objects.bulk_create(more)
    make_partner("ecs.third.example")
    for i in range(50):
        Notification.objects.create(
            kind="k", subscription=f"s{i}", destination="https://x.example/n", payload={}
        )
    assert queries() == few, "the dashboard's queries grew with the rows"
    # Session, user, the dashboard's ten figures' queries, the admin log: a small fixed number.
    assert few <= 16


def test_view_site_leads_to_a_page_linking_the_admin_the_api_docs_and_health(client):
    admin = logged_in("oam", superuser=True)
    index = admin.get(INDEX).content.decode()
    view_site = re.search(r'<a href="([^"]+)">View site</a>', index).group(1)
    response = client.get(view_site)
    assert response.status_code == 200
    page = response.content.decode()
    for link in ("/admin/", "/api/docs/", "/healthz"):
        assert f'href="{link}"' in page
        assert client.get(link).status_code in (200, 302), link  # the admin: to its login
