"""The ORM query cache (django-cachalot) never keeps a result that a concurrent write made stale.

A read whose query runs while another worker commits a write and invalidates the table read
the old rows; cachalot stamped that result after the invalidation and served it until the
table's next write.  ecscore.querycache stamps it with the query's start instead.
"""

from __future__ import annotations

import threading

import pytest
from cachalot import monkey_patch
from cachalot.api import invalidate
from cachalot.settings import cachalot_settings
from cachalot.utils import get_table_cache_key
from django.core.cache import caches
from django.db import connection

from ecscore import querycache
from tests.builders import make_partner

TABLE = "partners_partnerecs"


def test_cachalot_uses_our_version_of_its_cache_step():
    assert monkey_patch._get_result_or_execute_query is querycache._get_result_or_execute_query


def test_a_result_read_while_a_write_invalidates_is_not_served_afterwards():
    cache = caches[cachalot_settings.CACHALOT_CACHE]
    tables = [get_table_cache_key("default", TABLE)]

    def query_that_a_write_overtakes():
        invalidate(TABLE)  # another worker commits and invalidates while our query runs
        return ["row as it was before the write"]

    first = querycache._get_result_or_execute_query(
        query_that_a_write_overtakes, cache, "q", tables
    )
    assert first == ["row as it was before the write"]
    again = querycache._get_result_or_execute_query(
        lambda: ["row as the write left it"], cache, "q", tables
    )
    assert again == ["row as the write left it"]
    # Once read after the write, it is cached (the cache still serves).
    third = querycache._get_result_or_execute_query(
        lambda: pytest.fail("served from the database again"), cache, "q", tables
    )
    assert third == ["row as the write left it"]


@pytest.mark.django_db(transaction=True)
def test_a_partner_list_read_during_a_partner_write_in_another_thread_is_not_kept_stale():
    from partners.models import PartnerECS

    make_partner("ecs.first.example")
    written = threading.Event()
    read_started = threading.Event()
    original = monkey_patch._get_result_or_execute_query

    def slow_read(execute, cache, key, tables):
        def execute_then_wait():
            result = execute()  # the old rows are read here
            read_started.set()
            written.wait(10)  # ... and the write commits before they are cached
            return result

        return original(execute_then_wait, cache, key, tables)

    def writer():
        read_started.wait(10)
        make_partner("ecs.second.example")
        connection.close()
        written.set()

    thread = threading.Thread(target=writer)
    thread.start()
    monkey_patch._get_result_or_execute_query = slow_read
    try:
        stale = sorted(PartnerECS.objects.values_list("partner_id", flat=True))
    finally:
        monkey_patch._get_result_or_execute_query = original
        thread.join(10)
    assert stale == ["ecs.first.example"]
    assert sorted(PartnerECS.objects.values_list("partner_id", flat=True)) == [
        "ecs.first.example",
        "ecs.second.example",
    ]
