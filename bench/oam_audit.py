"""``GET /api/oam/v1/audit/`` at a million audit rows: queries per request and latency.

    .venv/bin/python bench/oam_audit.py [--rows 1000000] [--repeat 200]

On PostgreSQL (``BENCH_POSTGRES_URL``, default ``postgres://postgres@127.0.0.1:5432``) in a
database of its own (``ecs_bench_oam_audit_<pid>``, dropped at the end), with the production
settings (``DEBUG`` off) and the requests made in-process through Django's test client, so
the figures are the portal's own time, without HTTP or a server's queueing. The audit rows are
written with one ``INSERT ... SELECT generate_series`` (20 partners, both directions, 5 %
denied, one row every 100 ms), then ``VACUUM ANALYZE``.

For each case, the queries one request runs (with cachalot's cache warm, as in production,
and cold) and the p50 / p90 of ``--repeat`` requests: the
first page, a page deep in the cursor (the middle of the table), the page after it (through
``next``), and the same with the filters an auditor uses (partner and direction, decision,
a time window). Results go to stdout and ``bench/results/oam_audit.json``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "oam_audit.json"
PARTNERS = 20


def _admin_connection(url: str) -> Any:
    import psycopg

    return psycopg.connect(f"{url}/postgres", autocommit=True)


def _setup_django(database_url: str) -> None:
    sys.path.insert(0, str(REPO))
    from bench import inprocess

    inprocess.setup_django(database_url)
    from django.conf import settings

    # The bench measures the API, not the per-token limit it would soon reach.
    settings.ECS_OAM_TOKEN_RATE_PER_MINUTE = 0


def _load(rows: int) -> float:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        # Keys grow with time, as the portal writes them; newest at the highest id.
        cursor.execute(
            """
            INSERT INTO partners_retrievalaudit
                (at, direction, partner_id, partner_label, request_id, query, decision,
                 reason, status, edn_count, cache, latency_ms, failed)
            SELECT now() - (%s - n) * interval '100 milliseconds',
                   CASE WHEN n %% 2 = 0 THEN 'in' ELSE 'out' END,
                   NULL,
                   'ecs.partner' || (n %% %s) || '.example',
                   md5(n::text),
                   '{"easIds": ["com.example.game"]}'::jsonb,
                   CASE WHEN n %% 20 = 0 THEN 'denied' ELSE 'allowed' END,
                   '', 200, 1, CASE WHEN n %% 3 = 0 THEN 'hit' ELSE 'miss' END, 12.5, false
            FROM generate_series(1, %s) AS n
            """,
            [rows, PARTNERS, rows],
        )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE partners_retrievalaudit")
    return time.perf_counter() - started


def _cursor_at(pk: int) -> str:
    """DRF's cursor for "the rows before ``pk``" (newest first): ``p=<pk>``, base64."""
    return base64.b64encode(f"p={pk}".encode("ascii")).decode("ascii")


def _measure(client: Any, headers: dict[str, str], params: dict[str, Any], repeat: int) -> dict:
    from cachalot.api import invalidate as cachalot_invalidate
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    path = "/api/oam/v1/audit/"
    response = client.get(path, params, **headers)  # warm: the token's last_used, plans
    assert response.status_code == 200, response.content[:500]
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, params, **headers)
    # Now: the next request's request_started clears the connection's log.
    queries = [q["sql"] for q in captured.captured_queries]
    # And from a cold query cache (cachalot holds the token and permission rows otherwise).
    cachalot_invalidate()
    with CaptureQueriesContext(connection) as cold:
        client.get(path, params, **headers)
    cold_queries = len(cold.captured_queries)
    body = response.json()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        answer = client.get(path, params, **headers)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200
    times.sort()
    return {
        "queries": len(queries),
        "cold_queries": cold_queries,
        "rows": len(body["results"]),
        "p50_ms": round(statistics.median(times), 2),
        "p90_ms": round(times[int(len(times) * 0.9) - 1], 2),
        "next": body["next"],
        "sql": [sql[:300] for sql in queries],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--limit", type=int, default=50, help="rows per page")
    args = parser.parse_args()

    base = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
    name = f"ecs_bench_oam_audit_{os.getpid()}"
    admin = _admin_connection(base)
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        _setup_django(f"{base}/{name}")
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client

        from oam.models import OAMToken

        started = time.perf_counter()
        call_command("migrate", verbosity=0)
        print(f"migrate: {time.perf_counter() - started:.1f} s")
        load_seconds = _load(args.rows)
        print(f"{args.rows:,} audit rows written and analyzed in {load_seconds:.1f} s")

        user = get_user_model().objects.create_user("bench-auditor")
        user.groups.add(Group.objects.get(name="auditor"))
        _, key = OAMToken.objects.issue(user, read_only=True)
        headers = {"HTTP_AUTHORIZATION": f"Token {key}"}
        client = Client()
        with connection.cursor() as cursor:
            cursor.execute("SELECT min(id), max(id), min(at), max(at) FROM partners_retrievalaudit")
            low, high, oldest, newest = cursor.fetchone()
        middle = (low + high) // 2
        window_since = (oldest + (newest - oldest) / 2).isoformat()
        window_until = (oldest + (newest - oldest) * 3 / 4).isoformat()
        limit = {"limit": args.limit}
        partner = {"partner": "ecs.partner7.example", "direction": "out", **limit}
        denied = {"decision": "denied", **limit}
        window = {"since": window_since, "until": window_until, **limit}
        cases = {
            "first page": limit,
            "deep page (middle)": {**limit, "cursor": _cursor_at(middle)},
            "partner+direction, first page": partner,
            "partner+direction, deep page": {**partner, "cursor": _cursor_at(middle)},
            "decision=denied, deep page": {**denied, "cursor": _cursor_at(middle)},
            "since+until window, first page": window,
        }
        results: dict[str, Any] = {}
        for label, params in cases.items():
            results[label] = _measure(client, headers, params, args.repeat)
        # The page after the deep one, through the link the API gave.
        deep_next = urlsplit(results["deep page (middle)"]["next"])
        after = dict(parse_qsl(deep_next.query))
        results["deep page, then next"] = _measure(client, headers, after, args.repeat)

        print(
            f"\nGET /api/oam/v1/audit/ at {args.rows:,} rows, {args.limit} per page, "
            f"{args.repeat} requests per case (in-process, PostgreSQL)"
        )
        print(f"{'case':<34} {'queries':>7} {'cold':>5} {'rows':>5} {'p50 ms':>8} {'p90 ms':>8}")
        for label, result in results.items():
            print(
                f"{label:<34} {result['queries']:>7} {result['cold_queries']:>5} "
                f"{result['rows']:>5} {result['p50_ms']:>8.2f} {result['p90_ms']:>8.2f}"
            )
        print("\nqueries of the deep page:")
        for sql in results["deep page (middle)"]["sql"]:
            print("  " + sql)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        summary = {
            "rows": args.rows,
            "limit": args.limit,
            "repeat": args.repeat,
            "load_seconds": round(load_seconds, 1),
            "loadavg": os.getloadavg(),
            "cases": {
                k: {x: v[x] for x in ("queries", "cold_queries", "rows", "p50_ms", "p90_ms")}
                for k, v in results.items()
            },
        }
        RESULTS.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        print(f"\nsaved {RESULTS.relative_to(REPO)}")
        connection.close()
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
