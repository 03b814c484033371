"""Soak test: mixed EDGE-4, EDGE-6 and EDGE-10 traffic while a partner ECS flaps.

``.venv/bin/python bench/soak.py [--duration 300] [--phase 10]`` starts an ECS in production
mode (gunicorn, PostgreSQL, Redis; see bench/servers.py) and a partner that cycles through
up / slow / down / garbage every ``--phase`` seconds, sends bounded traffic from a few
threads, and then checks what an operator would:

* no 5xx from us, ever;
* every EEC answer within its deadline (the partner's timeout plus ``--margin``);
* no audit row lost: outbound rows = roaming EEC requests sent, inbound rows = partner
  requests sent;
* memory flat: worker RSS at the end / after warm-up <= ``--max-memory-growth``.

It prints a summary, saves bench/results/soak.json, and exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import servers

RESULTS = Path(__file__).resolve().parent / "results"
HOME = {"mcc": "001", "mnc": "01"}
VISITED = {"mcc": "002", "mnc": "02"}
PARTNER_TOKEN = "soak-partner-inbound-" + uuid.uuid4().hex
PARTNER_TIMEOUT = 0.5
MODES = ("up", "slow", "down", "garbage")


class FlappingPartner:
    """A partner ECS that answers well, slowly, not at all, or with garbage, in turn."""

    def __init__(self, phase: float) -> None:
        self.phase = phase
        self.started = time.monotonic()
        self.calls: Counter[str] = Counter()
        partner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                mode = partner.mode()
                partner.calls[mode] += 1
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if mode == "down":
                    self.close_connection = True
                    self.connection.close()
                    return
                if mode == "slow":
                    time.sleep(PARTNER_TIMEOUT * 3)
                body = (
                    b"<html>not json"
                    if mode == "garbage"
                    else json.dumps(partner.answer()).encode()
                )
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # slow mode: the ECS gave up waiting and hung up, as it should

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def mode(self) -> str:
        return MODES[int((time.monotonic() - self.started) / self.phase) % len(MODES)]

    def answer(self) -> dict[str, Any]:
        life = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 2))
        return {
            "ednCnfgInfo": [
                {
                    "ednConInfo": {"dnn": "edge.visited"},
                    "eess": [
                        {
                            "eesId": "ees-visited-1",
                            "eecRegConf": False,
                            "endPt": {"uri": "https://ees-visited-1.example"},
                            "easIds": ["app.game"],
                        }
                    ],
                    "lifeTime": life,
                }
            ]
        }

    def stop(self) -> None:
        self.server.shutdown()


def tai(tac: str, plmn: dict[str, str]) -> dict[str, Any]:
    return {"plmnId": plmn, "tac": tac}


def home_config(partner_url: str, breaker_cooldown: float) -> dict[str, Any]:
    # Our EDN covers every TAI the soak's UEs use, in both PLMNs: a flapping partner must
    # never turn into an error for the EEC (503 is for when nothing local matches).
    tais = [tai(f"{n:04X}", plmn) for plmn in (HOME, VISITED) for n in range(1, 6)]
    area = {"nwAreaInfo": {"tais": tais}}
    return {
        "ecs": {
            "id": "ecs.soak.home",
            "ecsp": "home-op",
            "homePlmns": [HOME],
            "provisioningLifetime": 600,
        },
        "edns": [
            {
                "id": "edn-soak",
                "ednConInfo": {"dnn": "edge.home", "snssai": {"sst": 1}, "ednTopoSrvArea": area},
                "eess": [
                    {
                        "eesId": f"ees-home-{i}",
                        "endPt": {"uri": f"https://ees-home-{i}.example"},
                        "easIds": ["app.game"],
                        "eecRegConf": False,
                    }
                    for i in range(3)
                ],
            }
        ],
        "partners": [
            {
                "id": "ecs.soak.visited",
                "ecsp": "visited-op",
                "apiRoot": partner_url,
                "plmns": [VISITED],
                "consult": "roaming_only",
                "outboundToken": "soak-out",
                "inboundToken": PARTNER_TOKEN,
                "defaultLifetime": 2,
                "maxLifetime": 5,
                "timeout": PARTNER_TIMEOUT,
                "breakerThreshold": 5,
                "breakerCooldown": breaker_cooldown,
            }
        ],
        "policies": [{"partner": "ecs.soak.visited", "easIds": ["*"]}],
    }


def location(tac: str, plmn: dict[str, str]) -> dict[str, Any]:
    return {
        "userLocation": {
            "nrLocation": {"tai": tai(tac, plmn), "ncgi": {"plmnId": plmn, "nrCellId": "000000001"}}
        }
    }


class Traffic:
    """Bounded mixed traffic from a few threads; every answer recorded."""

    def __init__(self, base: str, seconds: float, threads: int) -> None:
        self.base = base
        self.seconds = seconds
        self.threads = threads
        self.records: list[tuple[str, int, float]] = []
        self.sent: Counter[str] = Counter()
        self.errors: list[tuple[str, int, str]] = []
        self.lock = threading.Lock()

    def _choose(self, rng: random.Random) -> tuple[str, str, str, dict[str, Any]]:
        """(kind, method, path, requests keyword arguments) of one request."""
        roll = rng.random()
        json_headers = {"Content-Type": "application/json"}
        if roll < 0.45:
            tac = f"{rng.randrange(1, 6):04X}"
            body = {
                "eecId": "eec-soak",
                "acProfs": [{"acId": "a", "eass": [{"easId": "app.game"}]}],
                "connInfo": [{"plmnId": VISITED}],
                "locInf": location(tac, VISITED),
            }
            path = "/eecs-serviceprovisioning/v1/request"
            return (
                "edge4-roaming",
                "POST",
                path,
                {"data": json.dumps(body), "headers": json_headers},
            )
        if roll < 0.65:
            body = {"eecId": "eec-soak", "locInf": location("0001", HOME)}
            path = "/eecs-serviceprovisioning/v1/request"
            return "edge4-local", "POST", path, {"data": json.dumps(body), "headers": json_headers}
        if roll < 0.75:
            area = json.dumps({"nwAreaInfo": {"tais": [tai("0001", HOME)]}})
            params = {"ees-id": "ees-home-0", "eas-id": "app.game", "ue-location": area}
            path = "/eecs-targeteesdiscovery/v1/ees-profiles"
            return "edge6-discovery", "GET", path, {"params": params}
        if roll < 0.85:
            ees_id = f"ees-soak-{uuid.uuid4().hex[:10]}"
            body = {
                "eesProf": {
                    "eesId": ees_id,
                    "endPt": {"uri": f"https://{ees_id}.example"},
                    "easIds": ["app.game"],
                    "eecRegConf": False,
                    "ednInfoSets": {"dnn": "edge.home"},
                }
            }
            path = "/eecs-eesregistration/v1/registrations"
            return (
                "edge6-registration",
                "POST",
                path,
                {"data": json.dumps(body), "headers": json_headers},
            )
        body = {
            "reqEcsId": "ecs.soak.visited",
            "servingPlmn": HOME,
            "acProfs": [{"acId": "a", "eass": [{"easId": "app.game"}]}],
        }
        headers = {**json_headers, "Authorization": f"Bearer {PARTNER_TOKEN}"}
        path = "/eecs-ecsserviceprovisioning/v1/request"
        return "edge10-inbound", "POST", path, {"data": json.dumps(body), "headers": headers}

    def _one(self, session: requests.Session, rng: random.Random) -> None:
        kind, method, path, kwargs = self._choose(rng)
        started = time.monotonic()
        try:
            response = session.request(method, self.base + path, timeout=10, **kwargs)
            status = response.status_code
            if kind == "edge6-registration" and status == 201:
                # The EES leaves again: registrations come and go during the soak.
                status = session.delete(response.headers["Location"], timeout=10).status_code
        except requests.RequestException:
            status = 0
        elapsed = time.monotonic() - started
        with self.lock:
            self.sent[kind] += 1
            self.records.append((kind, status, elapsed))
            if status >= 400 and len(self.errors) < 20:
                self.errors.append((kind, status, response.text[:300] if status else ""))

    def run(self) -> None:
        stop_at = time.monotonic() + self.seconds

        def worker(seed: int) -> None:
            rng = random.Random(seed)
            with requests.Session() as session:
                while time.monotonic() < stop_at:
                    self._one(session, rng)

        workers = [threading.Thread(target=worker, args=(i,)) for i in range(self.threads)]
        for t in workers:
            t.start()
        for t in workers:
            t.join()


def audit_count(env: dict[str, str], direction: str) -> int:
    out = servers.manage(["ecs_audit", "--json", "--direction", direction], env).stdout
    return sum(1 for line in out.splitlines() if line.strip())


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=300, help="seconds of traffic")
    parser.add_argument("--phase", type=float, default=10, help="seconds per partner mode")
    parser.add_argument("--threads", type=int, default=8, help="client threads")
    parser.add_argument(
        "--margin",
        type=float,
        default=1.0,
        help="seconds beyond the partner timeout an EEC answer may take",
    )
    parser.add_argument("--max-memory-growth", type=float, default=1.2)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    problems = [p for p in servers.check_services() if not p.startswith("wrk")]
    if problems:
        print("\n".join(problems))
        return 2
    RESULTS.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:6]
    databases = servers.Databases(f"soak{tag}")
    partner = FlappingPartner(args.phase)
    server = None
    prefix = f"ecs-soak-{tag}"
    try:
        base_env = servers.server_env("", prefix, RESULTS / f"soak-var-{tag}")
        url = databases.create_migrated("home", base_env)
        env = {**base_env, "DATABASE_URL": url}
        config = RESULTS / f"soak-{tag}.json"
        # The breaker must cool down within one phase: otherwise an open breaker can span a whole
        # phase (the short soak's 2 s "down" came right after "slow" opened a 3 s breaker), and
        # that mode is never exercised.
        cooldown = min(3.0, args.phase / 2)
        config.write_text(json.dumps(home_config(partner.url, cooldown)), encoding="utf-8")
        servers.manage(["ecs_apply", str(config)], env)
        config.unlink()
        server = servers.Server(
            "soak-home", servers.free_port(), env, RESULTS / f"soak-{tag}.log", workers=2
        )
        server.start()
        warmup = Traffic(server.url, min(10.0, args.duration / 5), args.threads)
        warmup.run()
        memory_start = server.worker_rss()
        out_before = audit_count(env, "out")
        in_before = audit_count(env, "in")
        traffic = Traffic(server.url, args.duration, args.threads)
        traffic.run()
        memory_end = server.worker_rss()
        out_rows = audit_count(env, "out") - out_before
        in_rows = audit_count(env, "in") - in_before
    finally:
        if server is not None:
            server.stop()
        partner.stop()
        databases.drop_all()
        servers.delete_redis_keys([prefix])

    by_kind: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for kind, status, elapsed in traffic.records:
        by_kind[kind].append((status, elapsed))
    deadline = PARTNER_TIMEOUT + args.margin
    fivexx = [r for r in traffic.records if r[1] >= 500 or r[1] == 0]
    late = [r for r in traffic.records if r[0].startswith("edge4") and r[2] > deadline]
    growth = memory_end["sum"] / max(1, memory_start["sum"])
    checks = {
        "no 5xx (or dropped connection) from us": not fivexx,
        f"every EEC answer within {deadline:.1f} s": not late,
        "outbound audit rows = roaming EEC requests": out_rows == traffic.sent["edge4-roaming"],
        "inbound audit rows = partner requests": in_rows == traffic.sent["edge10-inbound"],
        f"worker memory growth <= {args.max_memory_growth}": growth <= args.max_memory_growth,
    }
    summary = {
        "duration_s": args.duration,
        "requests": len(traffic.records),
        "per_kind": {
            kind: {
                "count": len(rows),
                "statuses": dict(Counter(str(s) for s, _ in rows)),
                "p50_ms": round(statistics.median(e for _, e in rows) * 1000, 1),
                "max_ms": round(max(e for _, e in rows) * 1000, 1),
            }
            for kind, rows in sorted(by_kind.items())
        },
        "partner_calls_by_mode": dict(partner.calls),
        "audit": {
            "outbound_rows": out_rows,
            "roaming_requests": traffic.sent["edge4-roaming"],
            "inbound_rows": in_rows,
            "partner_requests": traffic.sent["edge10-inbound"],
        },
        "worker_rss_mb": {
            "after_warmup": round(memory_start["sum"] / 2**20, 1),
            "at_end": round(memory_end["sum"] / 2**20, 1),
            "growth": round(growth, 3),
        },
        "checks": checks,
        "failures": {"5xx": fivexx[:10], "late": late[:10], "errors": traffic.errors},
    }
    (RESULTS / "soak.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    print(json.dumps({k: v for k, v in summary.items() if k != "failures"}, indent=2))
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
