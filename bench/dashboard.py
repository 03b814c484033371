"""The admin dashboard (``/admin/``) at a million audit rows: queries, time, and plans.

    DATABASE_URL=postgres://.../DB .venv/bin/python bench/dashboard.py [--rows 1000000]
        [--hours 168] [--repeat 30]

In the PostgreSQL database ``DATABASE_URL`` names (migrated here; its audit log, cache, outbox
and partners are emptied first, so give it a database of its own), with the production
settings (``DEBUG`` off, no Redis) and the page fetched in-process through Django's test
client, so the figures are the portal's own time.  ``--rows`` audit rows for 10 partners, one
every ``--hours`` * 3600 / ``--rows`` seconds up to now (the default: 1,000,000 over a week, about
6,000 in the last hour; ``--hours 10`` puts 100,000 in it), are written with one
``INSERT ... SELECT generate_series``, with 10,000 cache entries, 200,000 delivered
notifications, then ``VACUUM ANALYZE``.  Prints the queries of one load, p50 / p90 of
``--repeat`` loads, and ``EXPLAIN ANALYZE`` of each dashboard query with ``--explain``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PARTNERS = 10


def _setup_django() -> None:
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("DATABASE_URL must name a PostgreSQL database of the bench's own.")
    sys.path.insert(0, str(REPO))
    from bench import inprocess

    inprocess.setup_django()
    from django.conf import settings

    # The test client's static files: no collectstatic manifest here.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def _load(rows: int, hours: float) -> float:
    from django.db import connection

    from partners.models import PartnerECS

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE partners_retrievalaudit, partners_provisioningcacheentry, "
            "notifications_notification, partners_partnerecs CASCADE"
        )
    partners = [
        PartnerECS.objects.create(
            partner_id=f"ecs.partner{i}.example", api_root=f"https://ecs.partner{i}.example"
        )
        for i in range(PARTNERS)
    ]
    low = partners[0].pk
    step_ms = hours * 3_600_000 / rows
    with connection.cursor() as cursor:
        # Outbound and inbound alternate; a third of the outbound are cache hits, 1 in 25
        # calls fails; latencies 5-300 ms.
        cursor.execute(
            """
            INSERT INTO partners_retrievalaudit
                (at, direction, partner_id, partner_label, request_id, query, decision,
                 reason, status, edn_count, cache, latency_ms, failed)
            SELECT now() - (%s - n) * (%s * interval '1 millisecond'),
                   CASE WHEN n %% 2 = 0 THEN 'in' ELSE 'out' END,
                   %s + n %% %s,
                   'ecs.partner' || (n %% %s) || '.example',
                   md5(n::text),
                   '{"easIds": ["com.example.game"]}'::jsonb,
                   'allowed', '', 200, 1,
                   CASE WHEN n %% 3 = 0 THEN 'hit' ELSE 'miss' END,
                   5 + (n::bigint * 7919) %% 295,
                   n %% 25 = 1
            FROM generate_series(1, %s) AS n
            """,
            [rows, step_ms, low, PARTNERS, PARTNERS, rows],
        )
        cursor.execute(
            """
            INSERT INTO partners_provisioningcacheentry
                (partner_id, key, query, request, answer, fetched_at, expires_at, hits,
                 partner_subscription_id)
            SELECT %s + n %% %s, md5(n::text), '{}'::jsonb, '{}'::jsonb, '[]'::jsonb, now(),
                   now() + (n %% 600 - 300) * interval '1 second', 0, ''
            FROM generate_series(1, 10000) AS n
            """,
            [low, PARTNERS],
        )
        cursor.execute(
            """
            INSERT INTO notifications_notification
                (kind, subscription, destination, payload, headers, state, created,
                 next_attempt_at, attempts, last_error)
            SELECT 'eec-subscription', 's' || (n %% 500), 'https://eec.example/n', '{}'::jsonb,
                   '{}'::jsonb,
                   CASE WHEN n %% 1000 = 0 THEN 'given_up'
                        WHEN n %% 1000 = 1 THEN 'pending' ELSE 'delivered' END,
                   now() - n * interval '1 second', now(), 1, ''
            FROM generate_series(1, %s) AS n
            """,
            [200_000],
        )
        for table in ("partners_retrievalaudit", "partners_provisioningcacheentry"):
            cursor.execute(f"VACUUM ANALYZE {table}")
        cursor.execute("VACUUM ANALYZE notifications_notification")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--hours", type=float, default=168.0)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE each query")
    args = parser.parse_args()

    _setup_django()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    call_command("migrate", verbosity=0)
    seconds = _load(args.rows, args.hours)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM partners_retrievalaudit WHERE at >= now() - interval '1 hour'"
        )
        last_hour = cursor.fetchone()[0]
    print(f"{args.rows:,} audit rows ({last_hour:,} in the last hour) loaded in {seconds:.1f} s")

    user_model = get_user_model()
    user_model.objects.filter(username="bench-dashboard").delete()
    user = user_model.objects.create_superuser("bench-dashboard", "b@example.org", "x")
    client = Client()
    client.force_login(user)
    assert client.get("/admin/").status_code == 200  # warm: plans, the query cache
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/admin/")
    # Now: the next request empties the connection's log, which captured_queries reads.
    queries = captured.captured_queries
    assert response.status_code == 200
    assert b'data-partner="ecs.partner3.example"' in response.content
    times = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        client.get("/admin/")
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    print(
        f"GET /admin/: {len(queries)} queries; p50 {statistics.median(times):.1f} ms, "
        f"p90 {times[int(len(times) * 0.9) - 1]:.1f} ms, max {times[-1]:.1f} ms "
        f"({args.repeat} loads)"
    )
    for query in queries:
        print(f"  {float(query['time']) * 1000:7.1f} ms  {query['sql'][:150]}")
        if args.explain and query["sql"].startswith("SELECT"):
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN ANALYZE " + query["sql"])
                for (line,) in cursor.fetchall():
                    print("            " + line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
