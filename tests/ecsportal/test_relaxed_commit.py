"""Audit rows and cached answers commit without waiting for the WAL flush, unless told to."""

import pytest
from django.db import connection, transaction

from ecscore.db import relaxed_commit
from partners.models import RetrievalAudit

pytestmark = pytest.mark.django_db(transaction=True)

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="synchronous_commit is PostgreSQL's"
)


def _synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@postgres_only
def test_inside_relaxed_commit_only_that_transaction_skips_the_flush():
    assert _synchronous_commit() == "on"
    with relaxed_commit():
        assert _synchronous_commit() == "off"
    assert _synchronous_commit() == "on"  # SET LOCAL: gone with the transaction


@postgres_only
def test_the_setting_keeps_audit_writes_synchronous(settings):
    settings.ECS_SYNCHRONOUS_AUDIT = True
    with relaxed_commit():
        assert _synchronous_commit() == "on"


@postgres_only
def test_a_callers_transaction_keeps_its_own_durability():
    with transaction.atomic(), relaxed_commit():
        assert _synchronous_commit() == "on"


def test_rows_written_in_it_are_committed_and_an_error_writes_none():
    with relaxed_commit():
        RetrievalAudit.objects.create(direction=RetrievalAudit.OUTBOUND, partner_label="a")
    with pytest.raises(RuntimeError), relaxed_commit():
        RetrievalAudit.objects.create(direction=RetrievalAudit.OUTBOUND, partner_label="b")
        raise RuntimeError("half-way")
    assert list(RetrievalAudit.objects.values_list("partner_label", flat=True)) == ["a"]
