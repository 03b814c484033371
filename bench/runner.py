"""The benchmark run: start what it needs, measure, print one table, clean up.

What is measured, in one run, on PostgreSQL + Redis with gunicorn in production mode:

* floor       ``GET /api/ping`` (DRF, no database): what the stack costs by itself;
* local@N     EDGE-4 requests matched locally against N EESs (``--sizes``), each request at
              a random EDN's TAI asking for a random EAS id (a handful of EESs match);
* visible@N   an EES registration (EDGE-6) until every worker's EDGE-4 answers carry it;
* hit         EDGE-4 requests of a roaming UE answered from the partner cache, each one of
              1,000 cached answers (100 TACs x 10 EAS ids) at random;
* miss        the same, every request a new location (a new cache key): a partner call each;
* partner     the partner's own EDGE-10 endpoint, asked directly with the same kind of body;
* single flight  N concurrent identical misses: how many calls the partner received;
* import      ``manage.py ecs_apply`` of the largest inventory into an empty database;
* steady      gunicorn worker memory after 10,000 and 100,000 EDGE-4 requests (``--steady``);
* subscriptions  EEC subscriptions at scale (``--subscriptions``, bench/subscriptions.py):
              EDGE-6 registration and EDGE-4 subscription latency with 0 to 1,000,000 live
              subscriptions, a change reaching 10,000 of them delivered by ``run_worker``, the
              worker's time for changes reaching none, and its memory.

``--only main`` / ``--only subscriptions`` runs one of the two sections.

Local data sets are loaded with bench/loader.py (bulk, the same rows as ``ecs_apply``);
``ecs_apply`` itself is measured by the import row.  Servers are stopped, databases dropped
and the bench's Redis keys deleted at the end, also on failure and Ctrl-C.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from bench import datasets, report, servers, subscriptions, wrk

REPO = servers.REPO
EDGE4 = "/eecs-serviceprovisioning/v1/request"
EDGE10 = "/eecs-ecsserviceprovisioning/v1/request"
PING = "/api/ping"
EES_REGISTRATIONS = "/eecs-eesregistration/v1/registrations"
# The hit row's cached answers: this many TACs of the visited PLMN, each with every EAS id.
HIT_TACS = 100
VISIBLE_SAMPLES = 20  # registrations timed per size
VISIBLE_TIMEOUT = 5.0  # seconds a registration may take to show in every worker's answers
GIB = 1024**3
MIB = 1024**2


def label(size: int) -> str:
    """1000 -> "1k", 100000 -> "100k"."""
    if size >= 1000 and size % 1000 == 0:
        return f"{size // 1000}k"
    return str(size)


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v.replace("_", "")) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a list of whole numbers: {text!r}") from exc
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"need positive whole numbers: {text!r}")
    return values


def _count_list(text: str) -> list[int]:
    """Like ``_int_list``, zero allowed (a population of none)."""
    try:
        values = [int(v.replace("_", "")) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a list of whole numbers: {text!r}") from exc
    if not values or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"need whole numbers >= 0: {text!r}")
    return values


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run.py",
        description="Benchmark ECS Portal in production mode (gunicorn, PostgreSQL, Redis).",
    )
    parser.add_argument(
        "--sizes",
        type=_int_list,
        default=[1000, 10000, 100000],
        help="inventory sizes in EESs, comma-separated (default 1000,10000,100000)",
    )
    parser.add_argument("--duration", type=float, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16, help="wrk -c (default 16)")
    parser.add_argument("--threads", type=int, default=2, help="wrk -t (default 2)")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="gunicorn workers per server (default: gunicorn.conf.py's, 2 x CPUs + 1)",
    )
    parser.add_argument(
        "--steady",
        type=_int_list,
        default=[10000, 100000],
        help="EDGE-4 request counts after which worker memory is read (default 10000,100000)",
    )
    parser.add_argument(
        "--steady-size",
        type=int,
        default=None,
        help="inventory size the steady-state rows run against (default: the smallest)",
    )
    parser.add_argument(
        "--import-size",
        type=int,
        default=None,
        help="EESs in the file ecs_apply imports (default: the largest of --sizes)",
    )
    parser.add_argument(
        "--import-timeout", type=float, default=1200, help="seconds (default 1200: 20 min)"
    )
    parser.add_argument("--no-import", action="store_true", help="skip the import row")
    parser.add_argument(
        "--single-flight", type=int, default=200, help="concurrent identical misses (200)"
    )
    parser.add_argument(
        "--only",
        choices=("main", "subscriptions"),
        default=None,
        help="run one section: main (floor, local, federation, steady, import) or "
        "subscriptions (EEC subscriptions at scale); default both",
    )
    parser.add_argument(
        "--skip-subscriptions", action="store_true", help="skip the subscriptions section"
    )
    parser.add_argument(
        "--subscriptions",
        type=_count_list,
        default=[0, 1000, 100_000, 1_000_000],
        help="live EEC subscription counts of the subscriptions section, comma-separated "
        "(default 0,1000,100000,1000000)",
    )
    parser.add_argument(
        "--subscription-hot",
        type=int,
        default=10_000,
        help="subscriptions one change reaches in the fan-out rows (default 10000; at most "
        "a tenth of the population)",
    )
    parser.add_argument(
        "--subscription-ees",
        type=int,
        default=1000,
        help="EESs in the subscriptions section's inventory (default 1000; at least 1000)",
    )
    parser.add_argument(
        "--fanout-timeout",
        type=float,
        default=120,
        help="seconds to wait for a fan-out's notifications (default 120)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=REPO / "bench" / "results",
        help="where latest.json, latency.png and logs/ go (default bench/results)",
    )
    options = parser.parse_args(argv)
    options.sizes = sorted(set(options.sizes))
    options.steady = sorted(set(options.steady))
    options.subscriptions = sorted(set(options.subscriptions))
    options.run_main = options.only in (None, "main")
    options.run_subscriptions = options.only == "subscriptions" or (
        options.only is None and not options.skip_subscriptions
    )
    if options.subscription_ees < 1000:
        parser.error("--subscription-ees must be at least 1000 (100 EDNs: the covered TAIs)")
    if options.import_size is None:
        options.import_size = max(options.sizes)
    if options.steady_size is None:
        options.steady_size = options.sizes[0]
    elif options.steady_size not in options.sizes:
        parser.error("--steady-size must be one of --sizes")
    return options


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


class Bench:
    """One benchmark run; ``run()`` returns the process exit code."""

    def __init__(self, options: argparse.Namespace) -> None:
        self.options = options
        self.tag = secrets.token_hex(3)
        self.databases = servers.Databases(self.tag)
        self.servers: list[servers.Server] = []
        self.prefixes: list[str] = []
        self.workdir = Path(tempfile.mkdtemp(prefix=f"ecs-bench-{self.tag}-"))
        self.logs = options.output / "logs"
        self.home_to_visited = "tok-home-to-visited-" + secrets.token_hex(16)
        self.visited_to_home = "tok-visited-to-home-" + secrets.token_hex(16)
        self.home_port = servers.free_port()
        self.visited_port = servers.free_port()
        self.load_before = os.getloadavg()[0]
        self.code = ""
        workers = options.workers or multiprocessing.cpu_count() * 2 + 1
        self.results: dict[str, Any] = {
            "meta": {
                "started": _now_iso(),
                "commit": _git("rev-parse", "--short", "HEAD"),
                "uncommitted_changes": bool(_git("status", "--porcelain")),
                "host": platform.node(),
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "duration": options.duration,
                "connections": options.connections,
                "threads": options.threads,
                "workers": workers,
                "gunicorn_threads": int(os.environ.get("GUNICORN_THREADS", "8")),
                "sizes": options.sizes if options.run_main else [],
                "subscriptions": options.subscriptions if options.run_subscriptions else [],
                "database": "PostgreSQL",
                "cache": "Redis",
                "edge4_auth": "anonymous (ECS_REQUIRE_AUTH=0)",
                "client_rate_limit": "on, never reached (ECS_CLIENT_RATE_PER_MINUTE=100000000)",
            },
            "rows": [],
            "targets": [],
        }

    # --- plumbing --------------------------------------------------------------------------

    def say(self, text: str) -> None:
        print(text, flush=True)

    def env(self, database_url: str, name: str) -> dict[str, str]:
        prefix = f"ecs-bench-{self.tag}-{name}"
        if prefix not in self.prefixes:
            self.prefixes.append(prefix)
        return servers.server_env(database_url, prefix, self.workdir / f"{name}-var")

    def write(self, name: str, document: dict[str, Any]) -> Path:
        return datasets.write_json(document, self.workdir / name)

    def server(self, name: str, port: int, env: dict[str, str]) -> servers.Server:
        server = servers.Server(
            name, port, env, self.logs / f"{name}.log", workers=self.options.workers
        )
        self.servers.append(server)
        self.start(server)
        return server

    def start(self, server: servers.Server) -> None:
        """Start a server; note the code it runs (the work tree may change during a run)."""
        server.start()
        self.code = _git("rev-parse", "--short", "HEAD") + (
            "+changes" if _git("status", "--porcelain", "--untracked-files=no") else ""
        )
        self.results["meta"].setdefault("code_per_server", []).append(
            {"server": server.name, "started": _now_iso(), "code": self.code}
        )

    def stop(self, server: servers.Server) -> None:
        server.stop()
        if server in self.servers:
            self.servers.remove(server)

    def wrk(self, url: str, **kwargs: Any) -> wrk.WrkResult:
        options = self.options
        kwargs.setdefault("duration", options.duration)
        kwargs.setdefault("connections", options.connections)
        kwargs.setdefault("threads", options.threads)
        return wrk.run(url, **kwargs)

    def warm(self, url: str, **kwargs: Any) -> None:
        """A short unrecorded run first: imports, connections and caches settle."""
        self.load_before = os.getloadavg()[0]
        self.wrk(url, **{**kwargs, "duration": min(2.0, self.options.duration)})

    def row(self, name: str, kind: str, result: wrk.WrkResult | None, **extra: Any) -> dict:
        row: dict[str, Any] = {
            "name": name,
            "kind": kind,
            # Other work on the machine skews every number: the 1-minute load average just
            # before this row's warm-up, and right after its measurement.
            "load_avg_before": round(self.load_before, 2),
            "load_avg_after": round(os.getloadavg()[0], 2),
            "code": self.code,
        }
        if result is not None:
            row.update(
                rps=round(result.rps, 1),
                p50_ms=round(result.p50_ms, 3),
                p99_ms=round(result.p99_ms, 3),
                requests=result.requests,
                errors=result.errors,
                statuses={str(k): v for k, v in sorted(result.statuses.items())},
                wrk=result.to_json(),
            )
        row.update(extra)
        self.results["rows"].append(row)
        shown = {k: row.get(k) for k in ("rps", "p50_ms", "p99_ms", "requests", "errors")}
        self.say(f"  {name}: {shown} {row.get('notes', '')}")
        return row

    def partner_calls(self, visited: servers.Server, since: str) -> list[dict[str, Any]]:
        return servers.inbound_audit(visited.env, since)

    # --- the run ---------------------------------------------------------------------------

    def run(self) -> int:
        problems = servers.check_services()
        if problems:
            print("Cannot run the benchmarks:\n  " + "\n  ".join(problems), file=sys.stderr)
            return 2
        if not report.have_matplotlib():
            self.say(
                "matplotlib is not installed: no chart (bench/results/latency.png) this time.\n"
                f"  Install it with: {report.INSTALL_HINT}"
            )
        self.logs.mkdir(parents=True, exist_ok=True)
        meta = self.results["meta"]
        meta["postgres_max_connections"] = servers.postgres_max_connections()
        meta["postgres_autovacuum"] = subscriptions.postgres_setting("autovacuum")
        # Persistent connections (CONN_MAX_AGE): up to one per gunicorn thread, two servers.
        wanted = 2 * meta["workers"] * meta["gunicorn_threads"]
        if meta["postgres_max_connections"] and wanted >= 0.8 * meta["postgres_max_connections"]:
            self.say(
                f"Warning: the two servers may hold {wanted} PostgreSQL connections; "
                f"max_connections is {meta['postgres_max_connections']}, shared with "
                "anything else using this PostgreSQL (requests may fail with 500)."
            )
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            self._measure()
        except KeyboardInterrupt:
            self.say("\nInterrupted: stopping servers and dropping databases.")
            return 130
        finally:
            self.cleanup()
            signal.signal(signal.SIGTERM, previous)
        self._targets()
        self.results["meta"]["finished"] = _now_iso()
        text = report.table(self.results)
        self.say("\n" + text + "\n")
        out = self.options.output
        report.save_json(self.results, out / "latest.json")
        self.say(f"Saved {out / 'latest.json'}")
        if report.chart(self.results, out / "latency.png"):
            self.say(f"Saved {out / 'latency.png'}")
        else:
            self.say(f"No chart: matplotlib is missing. Install it with: {report.INSTALL_HINT}")
        return 0

    def _measure(self) -> None:
        if self.options.run_main:
            self._main()
        if self.options.run_subscriptions:
            self.say(
                f"Subscriptions section: populations {self.options.subscriptions}, wrk "
                f"-t{self.options.threads} -c{self.options.connections} "
                f"-d{self.options.duration:g}s"
            )
            subscriptions.Section(self).run()

    def _main(self) -> None:
        options = self.options
        self.say(
            f"ECS Portal benchmark {self.tag}: sizes {options.sizes}, wrk -t{options.threads} "
            f"-c{options.connections} -d{options.duration:g}s, "
            f"{self.results['meta']['workers']} gunicorn workers per server; "
            f"logs in {self.logs}"
        )
        home_url = f"http://127.0.0.1:{self.home_port}"
        visited_url = f"http://127.0.0.1:{self.visited_port}"

        self.say("Partner ECS (visited): database, configuration, gunicorn")
        visited_env = self.env("", "partner")
        visited_env["DATABASE_URL"] = self.databases.create_migrated("partner", visited_env)
        config = datasets.visited_config(home_url, self.home_to_visited, self.visited_to_home)
        servers.manage(["ecs_apply", str(self.write("partner.json", config))], visited_env)
        visited = self.server("partner", self.visited_port, visited_env)

        for size in options.sizes:
            home = self._start_home(size, visited_url)
            self._verify_local(home, size)
            if size == options.sizes[0]:
                self._floor(home)
            self._local(home, size)
            self._visible(home, size)
            if size == options.sizes[0]:
                self._federation(home, visited, size)
            if size == options.steady_size and options.steady:
                self.stop(home)
                self.servers.append(home)
                self.start(home)
                self._steady(home, size)
            self.stop(home)
            self.databases.drop(home.env["DATABASE_URL"])
        self.stop(visited)
        if not options.no_import:
            self._import(options.import_size)

    # --- steps -----------------------------------------------------------------------------

    def _start_home(self, size: int, visited_url: str) -> servers.Server:
        self.say(f"Home ECS with {size:,} EESs: database, bulk load, federation config, gunicorn")
        env = self.env("", f"home-{label(size)}")
        env["DATABASE_URL"] = self.databases.create_migrated(f"home_{size}", env)
        inventory = self.write(f"inventory-{size}.json", datasets.inventory(size))
        loaded = servers.bulk_load(inventory, env)
        self.results.setdefault("loads", {})[str(size)] = loaded
        self.say(f"  loaded {loaded}")
        federation = datasets.home_federation(
            visited_url, self.home_to_visited, self.visited_to_home
        )
        servers.manage(["ecs_apply", str(self.write("home-federation.json", federation))], env)
        return self.server(f"home-{label(size)}", self.home_port, env)

    def _verify_local(self, home: servers.Server, size: int) -> None:
        response = requests.post(home.url + EDGE4, json=datasets.local_request(0, 0), timeout=30)
        if response.status_code in (401, 403):
            raise RuntimeError(
                f"EDGE-4 refused the benchmark's anonymous request ({response.status_code}), "
                f"although it sets ECS_REQUIRE_AUTH=0: {response.text[:500]}"
            )
        if response.status_code != 200:
            raise RuntimeError(
                f"local check at {size} EESs: {response.status_code} {response.text[:500]}"
            )
        eess = [e["eesId"] for c in response.json().get("ednCnfgInfo", []) for e in c["eess"]]
        if not eess:
            raise RuntimeError(f"local check at {size} EESs: 200 without EESs")
        self.say(f"  check: 200 with {len(eess)} EESs ({', '.join(eess)})")

    def _floor(self, home: servers.Server) -> None:
        self.say("floor: GET /api/ping")
        response = requests.get(home.url + PING, timeout=10)
        if response.status_code != 200 or response.json() != {"status": "ok"}:
            raise RuntimeError(f"/api/ping: {response.status_code} {response.text[:200]}")
        self.warm(home.url + PING, method="GET")
        result = self.wrk(home.url + PING, method="GET")
        self.row("floor", "floor", result, notes="GET /api/ping (DRF, no DB)")

    def _local(self, home: servers.Server, size: int) -> None:
        self.say(f"local@{label(size)}: EDGE-4 matched against {size:,} EESs")
        template = json.dumps(datasets.local_request(0, 0), separators=(",", ":")).replace(
            f'"tac":"{datasets.tac(0)}"', '"tac":"@EDNTAC@"'
        )
        template = template.replace(datasets.app_id(0), "@APP@")
        edns = datasets.edn_count(size)
        index = home.wait_index_ready()
        self.warm(home.url + EDGE4, body_template=template, edns=edns)
        result = self.wrk(home.url + EDGE4, body_template=template, edns=edns)
        keys = servers.count_redis_keys(home.env["CACHE_KEY_PREFIX"])
        self.row(
            f"local@{label(size)}",
            "local",
            result,
            size=size,
            redis_keys=keys,
            index=index,
            notes=f"random TAI of {edns:,} EDNs; statuses {result.statuses}; {keys:,} Redis keys; "
            f"index {index}",
        )

    def _visible(self, home: servers.Server, size: int) -> None:
        """How long an EES registration takes to show in the answers of every worker.

        Each sample registers a new EES (EDGE-6, a new EAS id) in EDN 0's area, then asks
        EDGE-4 for that EAS id on a new connection each time (so the workers take turns),
        until 2 x workers answers in a row carry it; the registration is then deleted.
        """
        self.say(f"visible@{label(size)}: EES registration to every worker's answers")
        workers = max(1, int(self.results["meta"]["workers"]))
        firsts: list[float] = []
        alls: list[float] = []
        failures = 0
        for sample in range(VISIBLE_SAMPLES):
            ees_id = f"ees-visible-{self.tag}-{sample}"
            app = f"com.bench.visible-{self.tag}-{sample}"
            body = datasets.local_request(0, 0)
            body["acProfs"][0]["eass"] = [{"easId": app}]
            registration = {
                "eesProf": {
                    "eesId": ees_id,
                    "endPt": {"uri": f"https://{ees_id}.bench.example/eees"},
                    "easIds": [app],
                    "eecRegConf": False,
                    "ednInfoSets": {"dnn": "edge.bench"},
                }
            }
            created = requests.post(home.url + EES_REGISTRATIONS, json=registration, timeout=30)
            if created.status_code != 201:
                raise RuntimeError(f"registration: {created.status_code} {created.text[:300]}")
            registered = time.monotonic()
            first = None
            in_a_row = 0
            while in_a_row < 2 * workers:
                waited = time.monotonic() - registered
                if waited > VISIBLE_TIMEOUT:
                    failures += 1
                    break
                answer = requests.post(
                    home.url + EDGE4, json=body, headers={"Connection": "close"}, timeout=30
                )
                seen = answer.status_code == 200 and ees_id in answer.text
                if seen and first is None:
                    first = waited
                in_a_row = in_a_row + 1 if seen else 0
            else:
                firsts.append(first or 0.0)
                alls.append(time.monotonic() - registered)
            location = created.headers.get("Location", "")
            requests.delete(
                location if location.startswith("http") else home.url + location, timeout=30
            )
        ms = sorted(1000 * v for v in alls)
        row = self.row(
            f"visible@{label(size)}",
            "visible",
            None,
            size=size,
            samples=len(ms),
            timeouts=failures,
            first_p50_ms=round(sorted(1000 * v for v in firsts)[len(firsts) // 2], 1)
            if firsts
            else None,
            all_p50_ms=round(ms[len(ms) // 2], 1) if ms else None,
            all_max_ms=round(ms[-1], 1) if ms else None,
            notes="",
        )
        row["notes"] = (
            f"{len(ms)} registrations: in the first answer after {row['first_p50_ms']} ms "
            f"(p50), in every worker's after {row['all_p50_ms']} ms (p50), "
            f"{row['all_max_ms']} ms (max); {failures} not within {VISIBLE_TIMEOUT:g} s"
        )
        self.say(f"  {row['notes']}")

    def _federation(self, home: servers.Server, visited: servers.Server, size: int) -> None:
        self.say("hit: roaming UE, answered from the partner cache")
        roaming = datasets.roaming_request()
        first = requests.post(home.url + EDGE4, json=roaming, timeout=30)
        eess = [e["eesId"] for c in first.json().get("ednCnfgInfo", []) for e in c["eess"]]
        if first.status_code != 200 or not eess:
            raise RuntimeError(f"roaming check: {first.status_code} {first.text[:500]}")
        self.say(f"  check: 200 with {len(eess)} EESs from the partner ({', '.join(eess)})")
        # Many cached answers, each request one of them at random (another cell, another
        # application), so no memo of a single answer stands in for the lookup.
        body = datasets.roaming_request("@EDNTAC@", "000000001")
        body["acProfs"][0]["eass"] = [{"easId": "@APP@"}]
        template = json.dumps(body, separators=(",", ":"))
        entries = HIT_TACS * datasets.APP_POOL
        with requests.Session() as session:
            for tac_index in range(HIT_TACS):
                for app in range(datasets.APP_POOL):
                    filled = json.loads(template.replace("@EDNTAC@", datasets.tac(tac_index)))
                    filled["acProfs"][0]["eass"] = [{"easId": datasets.app_id(app)}]
                    answer = session.post(home.url + EDGE4, json=filled, timeout=30)
                    if answer.status_code != 200:
                        raise RuntimeError(f"hit warm-up: {answer.status_code} {answer.text[:300]}")
        self.warm(home.url + EDGE4, body_template=template, edns=HIT_TACS)
        since = _now_iso()
        result = self.wrk(home.url + EDGE4, body_template=template, edns=HIT_TACS)
        calls = len(self.partner_calls(visited, since))
        self.row(
            "hit",
            "hit",
            result,
            size=size,
            partner_calls=calls,
            cached_answers=entries,
            notes=f"home at {label(size)} EESs; each request one of {entries:,} cached answers "
            f"({HIT_TACS} TACs x {datasets.APP_POOL} EAS ids) at random; partner calls during "
            f"run: {calls}",
        )

        self.say("miss: roaming UE, a new location (cache key) every request")
        template = json.dumps(datasets.roaming_request("@UTAC@", "@UCELL@"), separators=(",", ":"))
        self.warm(home.url + EDGE4, body_template=template)
        since = _now_iso()
        prefix = f"{secrets.randbelow(0xF000) + 0x1000:04X}"
        result = self.wrk(home.url + EDGE4, body_template=template, prefix=prefix)
        needle = f"tai:002-02:{prefix}".lower()
        calls = sum(
            needle in json.dumps(r.get("query")).lower() for r in self.partner_calls(visited, since)
        )
        self.row(
            "miss",
            "miss",
            result,
            size=size,
            partner_calls=calls,
            notes=f"partner calls for this run's requests: {calls}",
        )

        self.say("partner: the partner's EDGE-10 endpoint, directly")
        template = json.dumps(datasets.partner_request("@UTAC@", "@UCELL@"), separators=(",", ":"))
        auth = f"Bearer {self.home_to_visited}"
        direct = requests.post(
            visited.url + EDGE10,
            json=datasets.partner_request(),
            headers={"Authorization": auth},
            timeout=30,
        )
        if direct.status_code != 200:
            raise RuntimeError(f"partner check: {direct.status_code} {direct.text[:500]}")
        self.warm(visited.url + EDGE10, body_template=template, auth=auth)
        result = self.wrk(visited.url + EDGE10, body_template=template, auth=auth)
        self.row("partner", "partner", result, notes="POST EDGE-10 on the partner, Bearer token")

        # With 16 connections the two servers share this machine's cores, so the miss row's
        # p50 holds the partner's queueing too.  What a miss adds to the partner's own time
        # is measured on one connection, the pair back to back.
        self.say("miss and partner on one connection: what a miss adds to the partner's time")
        template = json.dumps(datasets.roaming_request("@UTAC@", "@UCELL@"), separators=(",", ":"))
        prefix = f"{secrets.randbelow(0xF000) + 0x1000:04X}"
        single = {"connections": 1, "threads": 1}
        result = self.wrk(home.url + EDGE4, body_template=template, prefix=prefix, **single)
        self.row("miss@c1", "miss_c1", result, notes="as miss, one connection")
        template = json.dumps(datasets.partner_request("@UTAC@", "@UCELL@"), separators=(",", ":"))
        result = self.wrk(visited.url + EDGE10, body_template=template, auth=auth, **single)
        self.row("partner@c1", "partner_c1", result, notes="as partner, one connection")

        self._single_flight(home, visited)

    def _single_flight(self, home: servers.Server, visited: servers.Server) -> None:
        count = self.options.single_flight
        self.load_before = os.getloadavg()[0]
        self.say(f"single flight: {count} concurrent identical misses")
        unique_tac = f"{secrets.randbelow(0xFFFFFF):06X}"
        body = json.dumps(datasets.roaming_request(unique_tac, "0000ABCDE")).encode()
        barrier = threading.Barrier(count)
        headers = {"Content-Type": "application/json"}

        def one(_: int) -> tuple[int, float]:
            session = requests.Session()
            try:
                barrier.wait(timeout=60)
                started = time.perf_counter()
                response = session.post(home.url + EDGE4, data=body, headers=headers, timeout=60)
                return response.status_code, (time.perf_counter() - started) * 1000
            finally:
                session.close()

        since = _now_iso()
        with ThreadPoolExecutor(max_workers=count) as pool:
            outcomes = list(pool.map(one, range(count)))
        rows = self.partner_calls(visited, since)
        needle = f"tai:002-02:{unique_tac}".lower()
        calls = [r for r in rows if needle in json.dumps(r.get("query")).lower()]
        statuses: dict[str, int] = {}
        for status, _ in outcomes:
            statuses[str(status)] = statuses.get(str(status), 0) + 1
        latencies = sorted(ms for _, ms in outcomes)

        def pct(p: float) -> float:
            return latencies[max(0, min(len(latencies) - 1, round(p / 100 * len(latencies)) - 1))]

        self.row(
            "single flight",
            "single_flight",
            None,
            requests=count,
            errors=sum(v for k, v in statuses.items() if not k.startswith("2")),
            p50_ms=round(pct(50), 3),
            p99_ms=round(pct(99), 3),
            partner_calls=len(calls),
            statuses=statuses,
            notes=f"partner calls: {len(calls)}; statuses {statuses}; client-side latency",
        )

    def _steady(self, home: servers.Server, size: int) -> None:
        template = json.dumps(datasets.local_request(0, 0), separators=(",", ":")).replace(
            f'"tac":"{datasets.tac(0)}"', '"tac":"@EDNTAC@"'
        )
        template = template.replace(datasets.app_id(0), "@APP@")
        edns = datasets.edn_count(size)
        before = home.worker_rss()
        self.results["steady_start"] = before
        done = 0
        for target in self.options.steady:
            self.say(f"steady: EDGE-4 (local@{label(size)}) up to {target:,} requests since start")
            self.load_before = os.getloadavg()[0]
            result = self.wrk(
                home.url + EDGE4,
                body_template=template,
                edns=edns,
                limit=target - done,
                duration=6 * 3600,
            )
            done += result.requests
            memory = home.worker_rss()
            keys = servers.count_redis_keys(home.env["CACHE_KEY_PREFIX"])
            self.row(
                f"steady@{label(target)}",
                "steady",
                result,
                size=size,
                after_requests=done,
                worker_rss_sum=memory["sum"],
                worker_rss_max=memory["max"],
                workers=memory["workers"],
                redis_keys=keys,
                notes=(
                    f"after {done:,} requests: worker VmRSS sum {memory['sum'] / MIB:.1f} MiB "
                    f"over {memory['workers']} workers (max {memory['max'] / MIB:.1f} MiB; "
                    f"at start sum {before['sum'] / MIB:.1f}); {keys:,} Redis keys"
                ),
            )

    def _import(self, size: int) -> None:
        timeout = self.options.import_timeout
        self.load_before = os.getloadavg()[0]
        self.code = _git("rev-parse", "--short", "HEAD") + (
            "+changes" if _git("status", "--porcelain", "--untracked-files=no") else ""
        )
        self.say(
            f"import: ecs_apply of {size:,} EESs into an empty PostgreSQL database "
            f"(timeout {timeout:g} s)"
        )
        env = self.env("", "import")
        env["DATABASE_URL"] = self.databases.create_migrated("import", env)
        path = self.write(f"inventory-{size}.json", datasets.inventory(size))
        outcome = servers.timed_manage(
            ["ecs_apply", str(path)], env, timeout, self.logs / "import.log"
        )
        if outcome.timed_out:
            status = "timeout"
        elif outcome.returncode == 0:
            status = "ok"
        else:
            status = f"failed ({outcome.returncode})"
        self.row(
            f"import@{label(size)}",
            "import",
            None,
            size=size,
            status=status,
            seconds=round(outcome.seconds, 1),
            peak_rss_bytes=outcome.peak_rss_bytes,
            notes=(
                f"ecs_apply {status}: {outcome.seconds:.1f} s wall, "
                f"peak RSS {outcome.peak_rss_bytes / MIB:.0f} MiB"
                + (f" (killed at {timeout:g} s)" if outcome.timed_out else "")
            ),
        )
        if outcome.returncode not in (0, None):
            self.say(outcome.output)
        self.databases.drop(env["DATABASE_URL"])

    # --- targets ---------------------------------------------------------------------------

    def _find(self, kind: str, name: str | None = None) -> dict[str, Any] | None:
        for row in self.results["rows"]:
            if row["kind"] == kind and (name is None or row["name"] == name):
                return row
        return None

    def _target(
        self, name: str, measured: float | str | None, goal: str, passed: bool | None, **kw: Any
    ) -> None:
        if isinstance(measured, float):
            shown = f"{measured:.2f}"
        else:
            shown = "-" if measured is None else str(measured)
        self.results["targets"].append(
            {"name": name, "measured": shown, "goal": goal, "passed": passed, **kw}
        )

    def _targets(self) -> None:
        floor = self._find("floor")
        local = sorted(
            (r for r in self.results["rows"] if r["kind"] == "local"), key=lambda r: r["size"]
        )
        hit, miss, partner = self._find("hit"), self._find("miss"), self._find("partner")
        flight, imported = self._find("single_flight"), self._find("import")
        steady = [r for r in self.results["rows"] if r["kind"] == "steady"]

        if floor and local:
            for row in local:
                ratio = row["rps"] / floor["rps"] if floor["rps"] else None
                self._target(
                    f"local@{label(row['size'])} rps / floor rps",
                    ratio,
                    ">= 0.50",
                    None if ratio is None else ratio >= 0.50,
                )
        if floor and hit:
            ratio = hit["rps"] / floor["rps"] if floor["rps"] else None
            self._target(
                "hit rps / floor rps", ratio, ">= 0.45", None if ratio is None else ratio >= 0.45
            )
        if len(local) >= 2:
            ratio = local[-1]["p50_ms"] / local[0]["p50_ms"]
            self._target(
                f"local p50@{label(local[-1]['size'])} / p50@{label(local[0]['size'])}",
                ratio,
                "<= 1.1",
                ratio <= 1.1,
            )
        elif self.options.run_main:
            self._target("local p50@100k / p50@1k", None, "<= 1.1", None, notes="one size only")
        for row in local:
            index = row.get("index") or {}
            if index.get("build_s_max") is not None:
                built = float(index["build_s_max"])
                self._target(
                    f"index build@{label(row['size'])} (s, slowest worker)",
                    built,
                    "<= 10",
                    built <= 10,
                )
                memory = float(index["worker_rss_max_mib"])
                self._target(
                    f"worker memory@{label(row['size'])} (MiB, largest VmRSS)",
                    memory,
                    "<= 150",
                    memory <= 150,
                )
        for row in self.results["rows"]:
            if row["kind"] == "visible":
                median, worst = row["all_p50_ms"], row["all_max_ms"]
                passed = (
                    row["timeouts"] == 0
                    and median is not None
                    and median <= 100
                    and worst is not None
                    and worst <= 1000
                )
                self._target(
                    f"{row['name']}: registration in every worker's answers p50 / max (ms)",
                    f"{median} / {worst}",
                    "<= 100 / <= 1000",
                    passed,
                )
        miss_c1, partner_c1 = self._find("miss_c1"), self._find("partner_c1")
        if miss_c1 and partner_c1:
            delta = miss_c1["p50_ms"] - partner_c1["p50_ms"]
            self._target("miss p50 - partner p50, one connection (ms)", delta, "<= 3", delta <= 3)
        if miss and partner:
            delta = miss["p50_ms"] - partner["p50_ms"]
            self._target(
                f"miss p50 - partner p50, {self.options.connections} connections (ms)",
                delta,
                "<= 5",
                delta <= 5,
            )
        if flight:
            calls = flight["partner_calls"]
            self._target("single flight: partner calls", calls, "1", calls == 1)
        if imported:
            size = label(imported["size"])
            if imported["status"] == "timeout":
                self._target(f"import@{size} time (s)", "timeout", "<= 60", False)
            else:
                self._target(
                    f"import@{size} time (s)",
                    float(imported["seconds"]),
                    "<= 60",
                    imported["status"] == "ok" and imported["seconds"] <= 60,
                )
            peak = imported["peak_rss_bytes"] / GIB
            self._target(
                f"import@{size} peak memory (GiB)",
                peak,
                "<= 1",
                peak <= 1,
                notes="until killed" if imported["status"] == "timeout" else "",
            )
        if len(steady) >= 2:
            ratio = steady[-1]["worker_rss_sum"] / steady[0]["worker_rss_sum"]
            self._target(
                f"worker memory {steady[-1]['name'][7:]} / {steady[0]['name'][7:]} (sum)",
                ratio,
                "<= 1.1",
                ratio <= 1.1,
            )
        subscriptions.targets(self)

    # --- cleanup ---------------------------------------------------------------------------

    def cleanup(self) -> None:
        # A second Ctrl-C during cleanup must not leave servers or databases behind.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            for server in list(self.servers):
                try:
                    server.stop()
                except Exception as exc:
                    print(f"  could not stop {server.name}: {exc}")
            self.servers.clear()
            self.databases.drop_all()
            try:
                servers.delete_redis_keys(self.prefixes)
            except Exception as exc:
                print(f"  could not delete Redis keys {self.prefixes}: {exc}")
            shutil.rmtree(self.workdir, ignore_errors=True)
        finally:
            signal.signal(signal.SIGINT, previous)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    return Bench(options).run()
