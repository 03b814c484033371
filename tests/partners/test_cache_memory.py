"""Cache hits from each process's memory, and their writes behind the request.

These tests run outside a test transaction (``transaction=True``), as a web worker does:
only there may a process trust its memory copy (its inventory feed caught up, nothing
uncommitted).  The partner is a real HTTP server on loopback (``PartnerServer``).  What an
operator would check: a hit is served without reading the cache table; an invalidation, a
partner's notification and the entry's expiry are honoured at once; every hit is counted
and audited, and a hit counted behind the request is written by the time ``flush`` returns.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ecscore import writebehind
from partners import cache, remote_subscriptions
from partners.models import ProvisioningCacheEntry, RetrievalAudit
from tests.builders import ees_ids
from tests.partners.test_partner_faults import (
    eec_request,
    in_seconds,
    our_ecs,
    outbound_rows,
    partner_answer,
    partner_at,
)

pytestmark = pytest.mark.django_db(transaction=True)


def cache_reads(queries: CaptureQueriesContext) -> list[str]:
    table = ProvisioningCacheEntry._meta.db_table
    return [q["sql"] for q in queries.captured_queries if table in q["sql"]]


@pytest.fixture
def cached(edge4, partner_server):
    """A partner's answer cached, and served once from the database (now in memory too)."""
    our_ecs(local=False)
    server = partner_server("valid", answer=partner_answer("ees-p1", lifetime=in_seconds(600)))
    partner = partner_at(server.api_root)
    assert ees_ids(edge4(eec_request())) == ["ees-p1"]  # the miss
    assert ees_ids(edge4(eec_request())) == ["ees-p1"]  # a hit, read from the table
    return server, partner


def test_a_hit_is_answered_from_memory_and_still_counted_and_audited(edge4, cached):
    server, partner = cached
    with CaptureQueriesContext(connection) as queries:
        response = edge4(eec_request())
    assert ees_ids(response) == ["ees-p1"]
    # The hit's only statements are its writes (none read the entry): the counter's UPDATE.
    assert [sql for sql in cache_reads(queries) if sql.lstrip().startswith("SELECT")] == []
    assert len(server.received) == 1
    entry = ProvisioningCacheEntry.objects.get(partner=partner)
    assert entry.hits == 2
    assert [r.cache for r in outbound_rows(partner)] == [
        RetrievalAudit.MISS,
        RetrievalAudit.HIT,
        RetrievalAudit.HIT,
    ]


def test_an_invalidated_entry_is_not_served_from_memory(edge4, cached):
    server, partner = cached
    server.answer = partner_answer("ees-p2", lifetime=in_seconds(600))

    cache.invalidate(ProvisioningCacheEntry.objects.filter(partner=partner))
    response = edge4(eec_request())

    assert ees_ids(response) == ["ees-p2"]
    assert len(server.received) == 2


def test_a_partners_notification_replaces_the_copy_in_memory(edge4, cached):
    server, partner = cached
    ProvisioningCacheEntry.objects.filter(partner=partner).update(partner_subscription_id="sub-1")
    notification = {"subId": "sub-1", **partner_answer("ees-p3", lifetime=in_seconds(600))}

    assert remote_subscriptions.receive(partner, notification) == 1
    response = edge4(eec_request())

    assert ees_ids(response) == ["ees-p3"]
    assert len(server.received) == 1  # the new answer came by notification


def test_a_copy_in_memory_is_never_served_past_its_expiry(edge4, partner_server):
    our_ecs(local=False)
    server = partner_server("valid", answer=partner_answer("ees-p1", lifetime=in_seconds(2)))
    partner = partner_at(server.api_root)
    edge4(eec_request())
    edge4(eec_request())  # into memory
    entry = ProvisioningCacheEntry.objects.get(partner=partner)
    assert entry.hits == 1
    server.answer = partner_answer("ees-p2", lifetime=in_seconds(600))

    while time.time() < entry.expires_at.timestamp() + 0.05:
        time.sleep(0.05)
    response = edge4(eec_request())

    assert ees_ids(response) == ["ees-p2"]
    assert len(server.received) == 2


def test_hits_written_behind_are_all_in_the_database_after_a_flush(edge4, cached, settings):
    _, partner = cached
    settings.ECS_WRITE_BEHIND = True
    for _ in range(20):
        assert ees_ids(edge4(eec_request())) == ["ees-p1"]

    assert writebehind.flush()

    entry = ProvisioningCacheEntry.objects.get(partner=partner)
    assert entry.hits == 21
    assert entry.last_hit_at is not None
    hits = [r for r in outbound_rows(partner) if r.cache == RetrievalAudit.HIT]
    assert len(hits) == 21
    assert len({r.request_id for r in hits}) == 21  # each row names its own request
    assert writebehind.writer.pending() == 0


def test_a_failed_write_is_kept_and_the_oldest_dropped_only_past_the_bound(monkeypatch):
    written: list[int] = []
    failing = [True]

    def write(items: list[int]) -> None:
        if failing[0]:
            raise RuntimeError("database down")
        written.extend(items)

    monkeypatch.setattr(writebehind, "MAX_PENDING", 5)
    target = writebehind.Queue("test", write)
    writer = writebehind.Writer()
    writer.queues["test"] = target
    target.items = [1, 2, 3, 4]

    assert writer.flush() is False  # down: nothing lost yet
    assert target.items == [1, 2, 3, 4]
    target.items.extend([5, 6, 7])
    assert writer.flush() is False  # still down: past the bound, the oldest two go, counted
    assert target.items == [3, 4, 5, 6, 7]
    assert writer.dropped() == 2
    failing[0] = False
    assert writer.flush() is True
    assert written == [3, 4, 5, 6, 7]
    assert writer.pending() == 0


def test_memory_holds_at_most_its_limit_and_drops_an_expired_copy_when_asked(settings):
    settings.ECS_PARTNER_CACHE_MEMORY = 2
    now = timezone.now()
    memory = cache.Memory()

    def entry(pk: int, seconds: float) -> ProvisioningCacheEntry:
        return ProvisioningCacheEntry(
            pk=pk, partner_id=1, key=f"k{pk}", expires_at=now + dt.timedelta(seconds=seconds)
        )

    memory.put([entry(1, 60), entry(2, -1), entry(3, 60)])  # the oldest (1) makes room
    assert set(memory.entries) == {(1, "k2"), (1, "k3")}
    assert memory.get({1: "k2"}, now) == {}  # expired: not served, and dropped
    assert set(memory.entries) == {(1, "k3")} and set(memory.by_pk) == {3}
    assert memory.get({1: "k3"}, now)[1].pk == 3
