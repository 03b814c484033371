"""Per-process copies (ecscore.memo) follow every write, here and on other nodes."""

import threading
import time

import pytest
from cachalot.api import invalidate
from cachalot.settings import cachalot_settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, transaction

from ecscore.memo import TableMemo
from ecscore.middleware import request_id_scope
from partners.models import PartnerECS

# Outside a test transaction: requests of a running server are not inside one either, and
# that is where the memos reuse one reading of the stamps per request.
pytestmark = pytest.mark.django_db(transaction=True)


class Counting:
    def __init__(self) -> None:
        self.loads = 0

    def __call__(self) -> list[str]:
        self.loads += 1
        return sorted(PartnerECS.objects.values_list("partner_id", flat=True))


def _partner(partner_id: str) -> PartnerECS:
    return PartnerECS.objects.create(
        partner_id=partner_id, ecsp="x", api_root=f"https://{partner_id}/", plmns=[]
    )


def _another_node_writes() -> None:
    """What a write through another web node leaves in the shared cache: a newer stamp."""
    key = cachalot_settings.CACHALOT_TABLE_KEYGEN(DEFAULT_DB_ALIAS, PartnerECS._meta.db_table)
    cache.set(key, time.time(), None)


def test_a_copy_is_reused_until_its_table_is_written():
    load = Counting()
    memo = TableMemo([PartnerECS], load)
    invalidate(PartnerECS)  # a known stamp
    with request_id_scope("r1"):
        assert memo.get() == [] and memo.get() == []
    with request_id_scope("r2"):
        assert memo.get() == []
    assert load.loads == 1

    with request_id_scope("r3"):
        _partner("ecs.a")  # committed in this process, in this very request
        assert memo.get() == ["ecs.a"]
    assert load.loads == 2


def test_a_write_by_another_node_is_seen_by_the_next_request():
    load = Counting()
    memo = TableMemo([PartnerECS], load)
    invalidate(PartnerECS)
    with request_id_scope("r1"):
        assert memo.get() == []
        # The row lands without this process's ORM (another node), then its stamp moves.
        thread = threading.Thread(target=_partner, args=("ecs.b",))
        thread.start()
        thread.join()
        _another_node_writes()
        assert memo.get() == ["ecs.b"]  # this process saw the other thread's commit
    with request_id_scope("r2"):
        assert memo.get() == ["ecs.b"]
    loads = load.loads
    with request_id_scope("r3"):
        _another_node_writes()
        memo.get()
    assert load.loads == loads + 1


def test_inside_a_transaction_its_own_writes_are_seen():
    memo = TableMemo([PartnerECS], Counting())
    invalidate(PartnerECS)
    with request_id_scope("r1"), transaction.atomic():
        assert memo.get() == []
        _partner("ecs.c")
        assert memo.get() == ["ecs.c"]


def test_without_a_stamp_on_record_nothing_is_trusted():
    load = Counting()
    memo = TableMemo([PartnerECS], load)
    cache.clear()  # e.g. Redis flushed: no invalidation stamps at all
    with request_id_scope("r1"):
        memo.get()
    with request_id_scope("r2"):
        memo.get()
    assert load.loads == 2


def test_another_nodes_write_is_seen_within_the_freshness_bound(settings):
    """In production the stamps are read at most every ECS_FRESHNESS_SECONDS for all of a
    process's requests: a write elsewhere is seen within that bound, this process's own at
    once."""
    settings.ECS_FRESHNESS_SECONDS = 0.5
    load = Counting()
    memo = TableMemo([PartnerECS], load)
    invalidate(PartnerECS)
    with request_id_scope("r1"):
        assert memo.get() == []
    thread = threading.Thread(target=_partner, args=("ecs.c",))  # another node's write
    thread.start()
    thread.join()
    _another_node_writes()
    seen_at = None
    started = time.monotonic()
    for number in range(200):
        with request_id_scope(f"r-{number}"):
            if memo.get() == ["ecs.c"]:
                seen_at = time.monotonic() - started
                break
        time.sleep(0.01)
    assert seen_at is not None and seen_at <= 0.5 + 0.1
    assert load.loads == 2  # one reading of the stamps served every request in between
    with request_id_scope("r-own"):
        _partner("ecs.d")  # this process's own write: seen by the next read
        assert memo.get() == ["ecs.c", "ecs.d"]
