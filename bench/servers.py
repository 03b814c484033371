"""What the benchmarks start and must clean up: PostgreSQL databases, gunicorn, Redis keys.

Every server runs in production mode, as ``scripts/serve.sh`` runs it: gunicorn with
``gunicorn.conf.py``, ``DEBUG`` unset, a long random ``SECRET_KEY``, ``ALLOWED_HOSTS``, its
own PostgreSQL database and Redis with a bench-specific ``CACHE_KEY_PREFIX``.  A server is
started in a session of its own (Ctrl-C reaches the benchmark, which then stops it in
order) and dies with the benchmark if that is killed (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from ecscore.testing import processes
from ecscore.testing.processes import PYTHON, REPO
from ecscore.testing.processes import free_port as free_port  # for bench.runner, bench.soak

GUNICORN = str(REPO / ".venv" / "bin" / "gunicorn")
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
STARTUP_SECONDS = 60
COMMAND_SECONDS = 600

# Set per server as well (gunicorn's bind, and settings the benchmark fixes), so the
# caller's values must not leak into a server either.
_PER_SERVER = {"PORT", "GUNICORN_BIND", "ECS_REQUIRE_AUTH", "ECS_CLIENT_RATE_PER_MINUTE"}


# --- PostgreSQL ------------------------------------------------------------------------------


class Databases(processes.TemplateDatabases):
    """Creates the benchmark's databases (from one migrated template) and drops them all."""

    def __init__(self, tag: str) -> None:
        # Cleanup goes on past a database it cannot drop, to leave as little behind as it can.
        super().__init__(POSTGRES_URL, f"ecs_bench_{tag}", report_drop_failure=_report_drop_failure)
        self.tag = tag

    def create_migrated(self, label: str, env: dict[str, str]) -> str:
        """A migrated database: ``manage.py migrate`` runs once, into a template, then copies."""
        return self.create(
            label,
            lambda url: manage(["migrate", "--no-input", "-v", "0"], {**env, "DATABASE_URL": url}),
        )


def _report_drop_failure(name: str, exc: Exception) -> None:
    print(f"  could not drop database {name}: {exc}")


def postgres_max_connections() -> int | None:
    """PostgreSQL's ``max_connections`` (each gunicorn thread may keep a connection open)."""
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL, connect_timeout=5) as conn:
            return int(conn.execute("SHOW max_connections").fetchone()[0])
    except Exception:
        return None


def check_services() -> list[str]:
    """What is missing to run the benchmarks (PostgreSQL, Redis, wrk)."""
    problems = []
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        problems.append(f"PostgreSQL at {POSTGRES_URL}: {exc}")
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
        client.ping()
        client.close()
    except Exception as exc:
        problems.append(f"Redis at {REDIS_URL}: {exc}")
    if not Path("/usr/bin/wrk").exists() and not _which("wrk"):
        problems.append("wrk is not installed (Debian: apt-get install wrk)")
    return problems


def _which(program: str) -> str | None:
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(folder) / program
        if candidate.exists():
            return str(candidate)
    return None


def count_redis_keys(prefix: str) -> int:
    """How many keys the server with this CACHE_KEY_PREFIX holds in Redis."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        return sum(1 for _ in client.scan_iter(match=f"{prefix}:*", count=1000))
    finally:
        client.close()


def delete_redis_keys(prefixes: list[str]) -> int:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    deleted = 0
    try:
        for prefix in prefixes:
            batch = []
            for key in client.scan_iter(match=f"{prefix}:*", count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    deleted += client.delete(*batch)
                    batch = []
            if batch:
                deleted += client.delete(*batch)
    finally:
        client.close()
    return deleted


# --- management commands ---------------------------------------------------------------------


def server_env(database_url: str, cache_prefix: str, var_dir: Path) -> dict[str, str]:
    env = processes.inherited_env(also_drop=_PER_SERVER)
    env.update(
        DJANGO_SETTINGS_MODULE="ecsportal.settings",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=database_url,
        REDIS_URL=REDIS_URL,
        CACHE_KEY_PREFIX=cache_prefix,
        ECS_VAR_DIR=str(var_dir),
        PYTHONUNBUFFERED="1",
        # Plain HTTP on loopback: no redirect to HTTPS.
        SECURE_SSL_REDIRECT="0",
        # Shutdown only: the benchmark stops servers when it is done with them.
        GUNICORN_GRACEFUL_TIMEOUT="5",
        # EECs call EDGE-4 without an OAuth 2.0 token (where the portal can require one):
        # the benchmark measures provisioning, not token checks.
        ECS_REQUIRE_AUTH="0",
        # Every request comes from 127.0.0.1, one "client": a per-client limit that never
        # triggers, so the limiter still runs (and costs what it costs) but refuses nothing.
        ECS_CLIENT_RATE_PER_MINUTE="100000000",
    )
    return env


def manage(
    args: list[str], env: dict[str, str], timeout: float = COMMAND_SECONDS
) -> subprocess.CompletedProcess:
    return processes.run_manage(args, env, timeout=timeout, output_chars=4000)


def bulk_load(path: Path, env: dict[str, str]) -> dict[str, Any]:
    """bench/loader.py: the EDNs and EESs of a generated file, written in bulk."""
    done = processes.run_python(
        ["bench/loader.py", str(path)], env, timeout=COMMAND_SECONDS, output_chars=4000
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def inbound_audit(env: dict[str, str], since: str | None = None) -> list[dict[str, Any]]:
    """The partner's inbound retrieval audit rows (``ecs_audit --json --direction in``)."""
    args = ["ecs_audit", "--json", "--direction", "in"]
    if since:
        args += ["--since", since]
    out = manage(args, env).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@dataclass
class TimedCommand:
    """How a command ended: seconds, peak RSS, and whether it finished in time."""

    seconds: float
    peak_rss_bytes: int
    returncode: int | None  # None: killed at the timeout
    output: str = ""

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


def timed_manage(
    args: list[str], env: dict[str, str], timeout: float, log_path: Path
) -> TimedCommand:
    """Run a management command with a wall-clock limit; measure its time and peak memory.

    The peak is the child's own ``ru_maxrss`` (``wait4``); if it is killed at the timeout,
    the highest ``VmHWM`` seen while polling ``/proc``.
    """
    started = time.monotonic()
    with open(log_path, "wb") as log:
        process = processes.spawn([PYTHON, "manage.py", *args], env, log)
        peak_kib = 0
        try:
            while True:
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)
                if pid:
                    process.returncode = os.waitstatus_to_exitcode(status)
                    seconds = time.monotonic() - started
                    peak_kib = max(peak_kib, usage.ru_maxrss)
                    output = log_path.read_text(encoding="utf-8", errors="replace")
                    return TimedCommand(
                        seconds, peak_kib * 1024, process.returncode, output[-4000:]
                    )
                peak_kib = max(peak_kib, _status_kib(process.pid, "VmHWM"))
                if time.monotonic() - started > timeout:
                    break
                time.sleep(0.25)
        except BaseException:
            _terminate(process)
            raise
        _terminate(process)
        return TimedCommand(time.monotonic() - started, peak_kib * 1024, None)


def _terminate(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


def _status_kib(pid: int, field_name: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, ValueError):
        pass
    return 0


# --- gunicorn --------------------------------------------------------------------------------


@dataclass(eq=False)
class Server:
    """One ECS Portal under gunicorn (gunicorn.conf.py) on a loopback port."""

    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    workers: int | None = None
    process: subprocess.Popen | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**self.env, "GUNICORN_BIND": f"127.0.0.1:{self.port}", **self.extra_env}
        if self.workers:
            env["GUNICORN_WORKERS"] = str(self.workers)
        with open(self.log_path, "ab") as log:
            log.write(f"=== gunicorn {self.name} on port {self.port}\n".encode())
            log.flush()
            self.process = processes.spawn(
                [GUNICORN, "-c", "gunicorn.conf.py", "ecsportal.wsgi"], env, log
            )
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + STARTUP_SECONDS
        expected = self.workers
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"gunicorn {self.name} exited with {self.process.returncode} while "
                    f"starting; see {self.log_path}\n{self.log_tail()}"
                )
            try:
                response = requests.get(self.url + "/healthz", timeout=2)
                booted = len(self.worker_pids())
                if response.status_code == 200 and (expected is None or booted >= expected):
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn {self.name} not healthy in {STARTUP_SECONDS} s")

    def worker_pids(self) -> list[int]:
        """The worker processes: children of the gunicorn master."""
        if self.process is None:
            return []
        master = self.process.pid
        children = Path(f"/proc/{master}/task/{master}/children")
        try:
            return [int(p) for p in children.read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            pass
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except (FileNotFoundError, ProcessLookupError):
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                    pids.append(int(entry.name))
        return pids

    def worker_rss(self) -> dict[str, int]:
        """VmRSS of each worker, in bytes: sum, max, and how many workers."""
        values = [_status_kib(pid, "VmRSS") * 1024 for pid in self.worker_pids()]
        return {"sum": sum(values), "max": max(values, default=0), "workers": len(values)}

    def wait_index_ready(self, timeout: float = 300) -> dict[str, Any]:
        """Wait until every worker's in-memory inventory index is built (``/healthz`` on new
        connections, which the workers take in turn); the slowest build and the workers'
        memory then. Measured rows must not time the SQL fallback of a build in progress."""
        pids = set(self.worker_pids())
        ready: dict[int, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not pids <= set(ready):
            try:
                index = requests.get(self.url + "/healthz", timeout=5).json()["inventoryIndex"]
            except (requests.RequestException, ValueError, KeyError):
                index = {}
            if index.get("state") == "ready":
                ready[index["pid"]] = index
            elif index.get("state") == "off":
                return {"state": "off"}
            else:
                time.sleep(0.1)
        built = [i.get("builtSeconds") or 0 for i in ready.values()]
        return {
            "state": "ready" if pids <= set(ready) else "building",
            "workers_ready": len(ready),
            "eess": max((i.get("eess", 0) for i in ready.values()), default=0),
            "build_s_max": max(built, default=None),
            "worker_rss_max_mib": round(self.worker_rss()["max"] / 2**20, 1),
        }

    def stop(self) -> None:
        if self.process is None:
            return
        _terminate(self.process)
        self.process = None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except FileNotFoundError:
            return ""
