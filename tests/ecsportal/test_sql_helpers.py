"""The hand-written SQL helpers give what the ORM gives: same rows in, same objects out."""

import datetime as dt

import pytest
from django.utils import timezone

from ecscore.db import ModelRows, insert_uncached, placeholders, select, write_uncached
from partners.models import ProvisioningCacheEntry, RetrievalAudit
from provisioning.models import EDN
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
