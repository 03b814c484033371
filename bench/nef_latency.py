"""EDGE-4 latency with the NEF consulted: cold (a new UE each request) and cached (one UE).

Starts one ECS Portal under gunicorn (production mode, ``bench.servers``) on the database
and Redis given (``--database-url``, ``--redis-url``), applies a small configuration (two
EDNs at home, a roaming-only partner for the visited PLMN, a ``nef`` section), and serves a
stand-in NEF (token endpoint and MonitoringEvent subscriptions, answering with the report in
the 201) and the partner on loopback ports.  Then it sends requests one after another and
prints p50/p95/p99 per case:

* baseline:   no ueId (the NEF is not asked);
* cold-home:  a new GPSI each request, the NEF says "at home, at TAI 00B2" (NEF exchange);
* cold-roam:  a new GPSI each request, the NEF says "roaming in 002-02" (NEF + partner cache);
* cached:     the same GPSI every request (the NEF's report from the cache).

    python -m bench.nef_latency --requests 300 --database-url postgres://.../ecs_x \\
        --redis-url redis://127.0.0.1:6379/2
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from bench import servers
from tests.loopback import LoopbackServer, Received, Reply

HOME = {"mcc": "001", "mnc": "01"}
VISITED = {"mcc": "002", "mnc": "02"}
EDGE4 = "/eecs-serviceprovisioning/v1/request"


def nef_answer(received: Received) -> Reply:
    if received.path == "/token":
        return Reply(200, {"access_token": "bench-token", "token_type": "Bearer"})
    body = received.json()
    roams = body.get("msisdn", "").startswith("4918")
    where = VISITED if roams else HOME
    sub = {**body, "self": "http://nef/sub/1"}
    sub["monitoringEventReport"] = {
        "monitoringType": "ROAMING_STATUS",
        "plmnId": where,
        "roamingStatus": roams,
    }
    if body.get("addnMonTypes"):
        loc = {
            "nrLocation": {
                "tai": {"plmnId": where, "tac": "00B2"},
                "ncgi": {"plmnId": where, "nrCellId": "000000001"},
            }
        }
        sub["addnMonEventReports"] = [
            {"monitoringType": "LOCATION_REPORTING", "locationInfo": {"userLocation": loc}}
        ]
    return Reply(201, sub, {"Location": sub["self"]})


def partner_answer(received: Received) -> Reply:
    ees = {
        "eesId": "ees-visited",
        "endPt": {"uri": "https://ees.visited.example/eees"},
        "easIds": ["app.one"],
        "eecRegConf": False,
    }
    return Reply(200, {"ednCnfgInfo": [{"ednConInfo": {"dnn": "visited.edge"}, "eess": [ees]}]})


def configuration(nef_url: str, partner_url: str) -> dict[str, Any]:
    def edn(name: str, tac: str) -> dict[str, Any]:
        area = {"nwAreaInfo": {"tais": [{"plmnId": HOME, "tac": tac}]}}
        ees = {
            "eesId": f"ees-{name}",
            "endPt": {"uri": f"https://ees-{name}.example/eees"},
            "easIds": ["app.one"],
            "eecRegConf": False,
        }
        return {
            "id": name,
            "ednConInfo": {"dnn": f"{name}.edge", "ednTopoSrvArea": area},
            "eess": [ees],
        }

    return {
        "ecs": {"id": "ecs.bench.example", "homePlmns": [HOME]},
        "edns": [edn("north", "00A1"), edn("south", "00B2")],
        "partners": [
            {
                "id": "ecs.visited.example",
                "apiRoot": partner_url,
                "plmns": [VISITED],
                "consult": "roaming_only",
                "outboundToken": "bench",
                "timeout": 2,
            }
        ],
        "nef": {
            "apiRoot": nef_url,
            "afId": "ecs-bench",
            "tokenUrl": nef_url + "/token",
            "clientId": "bench",
            "clientSecret": "bench",
            "timeout": 1.0,
            "cacheSeconds": 600,
        },
    }


def measure(url: str, bodies: list[dict[str, Any]], expect: str) -> dict[str, float]:
    session = requests.Session()
    times = []
    for body in bodies:
        started = time.perf_counter()
        response = session.post(url + EDGE4, json=body, timeout=10)
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200 or expect not in response.text:
            raise RuntimeError(f"unexpected answer {response.status_code}: {response.text[:300]}")
    times.sort()
    pick = lambda q: times[min(len(times) - 1, int(q * len(times)))]  # noqa: E731
    return {
        "n": len(times),
        "p50_ms": round(statistics.median(times), 2),
        "p95_ms": round(pick(0.95), 2),
        "p99_ms": round(pick(0.99), 2),
        "mean_ms": round(statistics.fmean(times), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if not Path(servers.GUNICORN).exists():  # a worktree without its own virtualenv
        servers.GUNICORN = str(Path(sys.executable).parent / "gunicorn")
    nef, partner = LoopbackServer(nef_answer), LoopbackServer(partner_answer)
    with tempfile.TemporaryDirectory() as tmp:
        port = servers.free_port()
        env = servers.server_env(args.database_url, f"nefbench{port}", Path(tmp))
        env["REDIS_URL"] = args.redis_url
        env["ECS_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
        servers.manage(["migrate", "--no-input", "-v", "0"], env)
        config = Path(tmp) / "bench.json"
        config.write_text(json.dumps(configuration(nef.url, partner.url)))
        servers.manage(["ecs_apply", str(config)], env)
        server = servers.Server("nef-bench", port, env, Path(tmp) / "server.log", args.workers)
        server.start()
        try:
            n = args.requests
            base = {
                "eecId": "eec-bench",
                "acProfs": [{"acId": "ac", "eass": [{"easId": "app.one"}]}],
            }
            measure(server.url, [base] * 20, "ees-")  # warm up the workers
            results = {
                "baseline": measure(server.url, [base] * n, "ees-north"),
                "cold-home": measure(
                    server.url,
                    [{**base, "ueId": f"msisdn-4917{i:07d}"} for i in range(n)],
                    "ees-south",
                ),
                "cold-roam": measure(
                    server.url,
                    [{**base, "ueId": f"msisdn-4918{i:07d}"} for i in range(n)],
                    "ees-visited",
                ),
                "cached": measure(
                    server.url, [{**base, "ueId": "msisdn-491700000000"}] * n, "ees-south"
                ),
            }
        finally:
            server.stop()
            nef.close()
            partner.close()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
