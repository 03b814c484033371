"""The hand-written SQL helpers give what the ORM gives: same rows in, same objects out."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ecscore.db import (
    ModelRows,
    delete_in,
    insert_uncached,
    placeholders,
    select,
    write_cached,
    write_cached_many,
    write_uncached,
)
from partners.models import ProvisioningCacheEntry, RetrievalAudit
from provisioning.models import EDN, AreaKey, EDNPlmn
from tests.builders import area, make_edn, make_partner, tai

pytestmark = pytest.mark.django_db


def _entry(partner, key: str, answer: list, **fields) -> ProvisioningCacheEntry:
    return ProvisioningCacheEntry(
        partner=partner,
        key=key,
        query={"servingPlmn": "002-02"},
        request={"reqEcsId": "ecs.home"},
        answer=answer,
        expires_at=timezone.now() + dt.timedelta(minutes=5),
        **fields,
    )


def test_inserted_rows_read_back_through_the_orm_exactly_as_given():
    partner = make_partner()
    row = RetrievalAudit(
        direction=RetrievalAudit.OUTBOUND,
        partner=partner,
        partner_label=partner.partner_id,
        request_id="req-1",
        query={"easIds": ["app.one"], "nested": {"k": [1, 2.5, None]}},
        reason="fresh cache entry",
        status=200,
        edn_count=2,
        cache=RetrievalAudit.HIT,
        latency_ms=1.25,
    )
    insert_uncached([row])
    assert row.pk is not None
    stored = RetrievalAudit.objects.get(pk=row.pk)
    assert stored.query == {"easIds": ["app.one"], "nested": {"k": [1, 2.5, None]}}
    assert stored.at == row.at  # the field default, stored and read back unchanged
    assert (stored.partner_id, stored.status, stored.edn_count, stored.latency_ms) == (
        partner.pk,
        200,
        2,
        1.25,
    )


def test_a_conflicting_insert_updates_the_listed_columns_and_keeps_the_row():
    partner = make_partner()
    first = _entry(partner, "k1", [{"old": True}], hits=3)
    insert_uncached([first])
    ProvisioningCacheEntry.objects.filter(pk=first.pk).update(partner_subscription_id="sub-1")
    second = _entry(partner, "k1", [{"new": True}])
    insert_uncached([second], conflict=(["partner_id", "key"], ["answer", "hits"]))
    assert second.pk == first.pk
    stored = ProvisioningCacheEntry.objects.get()
    assert stored.answer == [{"new": True}]
    assert stored.hits == 0
    assert stored.partner_subscription_id == "sub-1"  # not listed: kept


def test_model_rows_build_instances_with_converted_values_and_deferred_columns():
    edn = make_edn("edn-a", area_=area(tais=[tai("0001")]))
    rows = ModelRows(EDN, leave_out=("created", "updated"))
    sql = f"SELECT {rows.columns('d')} FROM provisioning_edn d WHERE d.id IN ({placeholders([1])})"
    [built] = [rows.build(values) for values in select(sql, [edn.pk])]
    assert isinstance(built, EDN)
    assert built.edn_topo_srv_area == edn.edn_topo_srv_area  # JSON decoded, not text
    assert (built.pk, built.edn_id, built.has_area) == (edn.pk, "edn-a", True)
    assert built.get_deferred_fields() == {"created", "updated"}


def test_hand_written_writes_are_refused_for_tables_the_query_cache_holds():
    with pytest.raises(ValueError, match="provisioning_edn is cached"):
        write_uncached(EDN, "UPDATE provisioning_edn SET dnn = %s", ["x"])
    with pytest.raises(ValueError, match="provisioning_edn is cached"):
        insert_uncached([EDN(edn_id="e", dnn="d")])
    assert not EDN.objects.exists()


def _dnns() -> list[tuple[str, str]]:
    """Through the ORM, so through the query cache (inside the test's transaction too)."""
    return list(EDN.objects.order_by("edn_id").values_list("edn_id", "dnn"))


def test_a_delete_by_ids_removes_exactly_those_rows_and_cached_reads_follow():
    one, two, three = (make_edn(f"edn-{n}", area_=area(tais=[tai(f"000{n}")])) for n in (1, 2, 3))
    assert [e for e, _ in _dnns()] == ["edn-1", "edn-2", "edn-3"]  # now in the query cache
    keys = AreaKey.objects.filter(edn__in=[one, three]).count()
    assert keys > 0

    # No cascade: the rows that refer to these EDNs go first.
    assert delete_in(AreaKey, "edn", [one.pk, three.pk]) == keys
    delete_in(EDNPlmn, "edn", [one.pk, three.pk])
    assert delete_in(EDN, "pk", [one.pk, three.pk]) == 2

    assert [e for e, _ in _dnns()] == ["edn-2"]
    assert list(AreaKey.objects.values_list("edn_id", flat=True).distinct()) == [two.pk]
    with CaptureQueriesContext(connection) as queries:
        assert delete_in(EDN, "pk", []) == 0
    assert queries.captured_queries == []  # nothing to delete: no statement


def test_hand_written_writes_to_cached_tables_invalidate_what_the_query_cache_holds():
    one, two = make_edn("edn-1", dnn="one.example"), make_edn("edn-2", dnn="two.example")
    assert _dnns() == [("edn-1", "one.example"), ("edn-2", "two.example")]

    sql = "UPDATE provisioning_edn SET dnn = %s WHERE id = %s"
    assert write_cached(EDN, sql, ["uno.example", one.pk]) == 1
    assert _dnns() == [("edn-1", "uno.example"), ("edn-2", "two.example")]

    write_cached_many(EDN, sql, [["eins.example", one.pk], ["zwei.example", two.pk]])
    assert _dnns() == [("edn-1", "eins.example"), ("edn-2", "zwei.example")]
