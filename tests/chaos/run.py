"""One chaos run: the servers, the schedule of faults, and what was observed.

``ChaosRun.setup`` starts PostgreSQL and Redis of the run's own, migrates and configures the
home ECS, starts the partner ECS (``tests.federation``, on the suite's own database and
Redis: it is never faulted), gunicorn, the worker and the notification receiver.
``ChaosRun.chaos`` runs the load while it stops, freezes and restarts Redis and then
PostgreSQL; ``ChaosRun.close`` stops everything it started, whatever state it is in.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from ecscore.testing.processes import PYTHON, free_port, run_manage, spawn
from tests.builders import Receiver
from tests.chaos import harness, load

if TYPE_CHECKING:
    # Imported when used: the test module loads tests.federation as a pytest plugin, and a
    # plugin imported before that is not assert-rewritten (pytest warns).
    from tests.federation import Databases, Federation, Instance

DATABASE = "ecs_chaos"
FAULT_SECONDS = 4.0  # how long a server stays stopped, or PostgreSQL frozen
# Redis stays frozen longer than a client waits (load.DEADLINE): only a short socket timeout
# on the portal's side keeps its answers in time.  PostgreSQL is frozen only briefly: libpq
# has no read timeout, and a frozen server's kernel still acknowledges what is sent to it (no
# TCP timeout fires), so a request caught mid-query waits for the thaw whatever the portal does.
REDIS_FREEZE_SECONDS = 12.0
SETTLE_SECONDS = 5.0  # load between two faults, so each recovery is seen on its own
WARMUP_SECONDS = 4.0
# After PostgreSQL is back, requests still in flight or just sent may find their connection
# gone: a 503 is expected for that long after a database fault ends.
DB_GRACE_SECONDS = 3.0
HEALTHY_SECONDS = 30.0  # after the chaos, /healthz must be ok within this
DRAIN_SECONDS = 60.0  # after the chaos, every notification owed must arrive within this

# The portal's settings for the run, beyond production mode's defaults; each says why.
PORTAL_SETTINGS = {
    # The receiver listens on 127.0.0.1.
    "ECS_ALLOW_PRIVATE_CALLBACKS": "1",
    "GUNICORN_WORKERS": "2",
    "GUNICORN_GRACEFUL_TIMEOUT": "5",  # shutdown only
    # EECs and EESs call without OAuth 2.0 tokens: token checks are not what is tested.
    "ECS_REQUIRE_AUTH": "0",
    # All traffic comes from 127.0.0.1, one "client": limits that never trigger, so the
    # limiter and the quota count still run (and meet the faults) but refuse nothing.
    "ECS_CLIENT_RATE_PER_MINUTE": "100000000",
    "ECS_MAX_REGISTRATIONS_PER_CLIENT": "100000",
    # A delivery or change evaluation cut short by a fault is retried once its lease lapses;
    # the defaults (60 s, 300 s) are longer than the whole run.  So is the default backoff.
    "ECS_NOTIFICATION_LEASE_SECONDS": "15",
    "ECS_CHANGE_LEASE_SECONDS": "15",
    "ECS_NOTIFICATION_MAX_BACKOFF": "5",
    # As scripts/serve.sh: /healthz vouches for the worker too.
    "ECS_EXPECT_WORKER": "1",
}
PARTNER_SETTINGS = {"ECS_REQUIRE_AUTH": "0"}

ACCESS_LINE = re.compile(r'"(?P<request>[A-Z]+ [^"]*)" (?P<status>\d{3}) ')


@dataclass
class Fault:
    """One fault of the schedule, from its first signal until the server is back."""

    name: str
    database: bool  # a PostgreSQL fault: 503 is an allowed answer meanwhile
    start: float
    end: float = 0.0


class ChaosRun:
    """The servers of one run and what it observed; ``close`` undoes all of ``setup``."""

    def __init__(self, federation_databases: Databases) -> None:
        self.directory = harness.RunDirectory()
        self.path = self.directory.path
        self.postgres = harness.PostgresCluster(self.path)
        self.redis = harness.RedisServer(self.path)
        self.portal: harness.Portal | None = None
        self.worker: harness.Worker | None = None
        self.partner: Instance | None = None
        self._federation_databases = federation_databases
        self._federation: Federation | None = None
        self.receiver: Receiver | None = None
        self.load: load.Load | None = None
        self.env: dict[str, str] = {}
        self.faults: list[Fault] = []
        self.setup_seconds = 0.0
        self.chaos_seconds = 0.0
        self.saved_logs: dict[str, str] | None = None
        self._started = time.monotonic()

    # setup --------------------------------------------------------------------------------------

    def setup(self) -> None:
        from tests.federation import Federation

        self.postgres.init()
        self.postgres.start()
        self.redis.start()
        database_url = self.postgres.create_database(DATABASE)
        self.env = harness.portal_env(
            database_url, self.redis.url, self.path / "var", PORTAL_SETTINGS
        )
        # Our migration runs while the partner's instance is made (both are mostly Django
        # loading): one child, started from this thread, waited for below.
        with open(self.path / "migrate.log", "wb") as log:
            migrate = spawn(
                [PYTHON, "manage.py", "migrate", "--no-input", "-v", "0"], self.env, log
            )
        try:
            partner_dir = self.path / "partner"
            partner_dir.mkdir()
            self._federation = Federation(partner_dir, self._federation_databases)
            [self.partner] = self._federation.start("visited", env=PARTNER_SETTINGS)
        finally:
            migrated = migrate.wait(timeout=300)
        if migrated != 0:
            raise RuntimeError("migrate failed\n" + (self.path / "migrate.log").read_text())

        home_port = free_port()
        home_url = f"http://127.0.0.1:{home_port}"
        self.partner.apply(load.partner_config(home_url))
        config = self.path / "home.yaml"
        config.write_text(yaml.safe_dump(load.home_config(self.partner.url)), encoding="utf-8")
        run_manage(["ecs_apply", str(config)], self.env, timeout=180, output_chars=4000)

        self.receiver = Receiver()
        # The worker first: /healthz (which the portal's start waits for) reports a worker
        # that has not beaten yet as failing.
        self.worker = harness.Worker(self.path, self.env)
        self.worker.start()
        self.portal = harness.Portal(self.path, self.env, home_port)
        self.portal.start()
        self._smoke()
        self.setup_seconds = time.monotonic() - self._started

    def _smoke(self) -> None:
        """One request of each kind before any fault: a failure here is the harness's (or a
        plain bug), not a fault's."""
        assert self.portal is not None
        smoke = load.Load(self.portal.url, self.partner.url, self.receiver.url)
        smoke.smoke()
        bad = [r for r in smoke.records if r.status != 200 or r.wrong]
        if bad:
            raise RuntimeError(
                "smoke requests before the chaos failed:\n"
                + "\n".join(r.line(smoke.origin) for r in bad)
            )

    # the chaos ----------------------------------------------------------------------------------

    def chaos(self) -> None:
        assert self.portal is not None
        started = time.monotonic()
        self.load = load.Load(self.portal.url, self.partner.url, self.receiver.url)
        self.load.start()
        try:
            time.sleep(WARMUP_SECONDS)
            self._fault("redis stopped (SIGTERM)", False, self.redis.stop, self.redis.start)
            self._fault(
                "redis frozen (SIGSTOP)",
                False,
                self.redis.freeze,
                self.redis.thaw,
                REDIS_FREEZE_SECONDS,
            )
            self._fault(
                "postgres stopped (pg_ctl stop -m fast)",
                True,
                self.postgres.stop_fast,
                self.postgres.start,
            )
            self._fault(
                "postgres frozen (SIGSTOP to the postmaster and backends)",
                True,
                self.postgres.freeze,
                self.postgres.thaw,
            )
        finally:
            self.load.stop()
        self.chaos_seconds = time.monotonic() - started

    def _fault(
        self,
        name: str,
        database: bool,
        begin: Callable[[], None],
        end: Callable[[], None],
        seconds: float = FAULT_SECONDS,
    ) -> None:
        for server in self._servers():
            server.note(f"chaos: {name} begins")
        fault = Fault(name, database, time.monotonic())
        self.faults.append(fault)
        try:
            begin()
            time.sleep(seconds)
        finally:
            end()  # started again from this thread: see harness (PR_SET_PDEATHSIG)
            fault.end = time.monotonic()
        for server in self._servers():
            server.note(f"chaos: {name} ends")
        time.sleep(SETTLE_SECONDS)

    def _servers(self) -> list[harness.Managed]:
        return [s for s in (self.portal, self.worker, self.redis, self.postgres) if s is not None]

    # observations -------------------------------------------------------------------------------

    def in_database_fault(self, record: load.Record) -> bool:
        """Whether the request overlapped a PostgreSQL fault (or its grace period)."""
        return any(
            f.database and record.started <= f.end + DB_GRACE_SECONDS and record.ended >= f.start
            for f in self.faults
        )

    def during(self, record: load.Record) -> str:
        for f in self.faults:
            if record.started <= f.end and record.ended >= f.start:
                return f.name
        return "no fault"

    def access_log_statuses(self) -> dict[str, Counter[str]]:
        """Status codes in gunicorn's and the partner's access logs (every request that reached
        them, the partner's EDGE-10 calls to home included)."""
        logs = {"home (gunicorn)": self.portal.log_path if self.portal else None}
        if self.partner is not None:
            logs["partner (runserver)"] = self.partner.log_path
        out: dict[str, Counter[str]] = {}
        for name, path in logs.items():
            counts: Counter[str] = Counter()
            if path is not None and Path(path).exists():
                for line in Path(path).read_text(errors="replace").splitlines():
                    found = ACCESS_LINE.search(line)
                    if found:
                        counts[found["status"]] += 1
            out[name] = counts
        return out

    def access_log_lines(self, status_prefix: str) -> list[str]:
        lines = []
        for path in (
            self.portal.log_path if self.portal else None,
            self.partner.log_path if self.partner else None,
        ):
            if path is None or not Path(path).exists():
                continue
            for line in Path(path).read_text(errors="replace").splitlines():
                found = ACCESS_LINE.search(line)
                if found and found["status"].startswith(status_prefix):
                    lines.append(f"{Path(path).name}: {line[:300]}")
        return lines

    def tracebacks(self, limit: int = 2) -> str:
        """What the home's server and worker logs raised: each distinct exception (the line
        that ends a traceback) with how often, then the first ``limit`` tracebacks whole."""
        parts = []
        for server in (self.portal, self.worker):
            if server is None:
                continue
            lines = server.log(10**8).splitlines()
            ends: Counter[str] = Counter()
            shown = []
            for i, line in enumerate(lines):
                if not line.startswith("Traceback"):
                    continue
                j = i + 1
                while j < len(lines) and (not lines[j] or lines[j][0].isspace()):
                    j += 1
                if j < len(lines):
                    ends[lines[j][:200]] += 1
                if len(shown) < limit:
                    shown.append("\n".join(lines[max(0, i - 1) : j + 1]))
            parts.append(f"--- {server.name}: {sum(ends.values())} tracebacks, ending in")
            parts += [f"  {n:5d} x {end}" for end, n in ends.most_common(15)]
            parts += [f"--- {server.name}, traceback {n + 1}\n{t}" for n, t in enumerate(shown)]
        return "\n".join(parts)

    def summary(self) -> str:
        if self.load is None:
            return "(the chaos did not start)"
        origin = self.load.origin
        rows = [
            f"setup {self.setup_seconds:.1f} s, chaos {self.chaos_seconds:.1f} s, "
            f"{len(self.load.records)} requests, {len(self.load.subscriptions)} subscriptions "
            f"acknowledged ({self.load.unknown_subscriptions} in doubt)",
            "faults:",
        ]
        rows += [
            f"  t={f.start - origin:6.2f}..{f.end - origin:6.2f} s  {f.name}" for f in self.faults
        ]
        per: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        slowest: dict[tuple[str, str], float] = defaultdict(float)
        for r in self.load.records:
            key = (self.during(r), r.kind)
            per[key][str(r.status) if r.status else "none"] += 1
            slowest[key] = max(slowest[key], r.elapsed)
        rows.append("answers by fault and kind (status: count; slowest):")
        for key in sorted(per, key=lambda k: (k[0], k[1])):
            statuses = ", ".join(f"{s}: {n}" for s, n in sorted(per[key].items()))
            rows.append(f"  {key[0]:<48} {key[1]:<18} {statuses}; {slowest[key]:.2f} s")
        rows.append(f"access logs: {json.dumps(self.access_log_statuses())}")
        return "\n".join(rows)

    # logs and cleanup ---------------------------------------------------------------------------

    def logs(self) -> dict[str, str]:
        if self.saved_logs is not None:
            return self.saved_logs
        out = {"first tracebacks": self.tracebacks()}
        out.update({s.name: s.log() for s in self._servers()})
        if self.partner is not None:
            out["partner"] = self.partner.log()[-harness.LOG_TAIL_CHARS :]
        migrate = self.path / "migrate.log"
        if migrate.exists():
            out["migrate"] = migrate.read_text(errors="replace")[-harness.LOG_TAIL_CHARS :]
        return out

    def close(self) -> None:
        """Stop all that was started, in order; the logs are kept in memory for the report."""
        with contextlib.suppress(Exception):
            self.saved_logs = self.logs()
            self.saved_logs["summary"] = self.summary()
        if self.load is not None:
            self.load.stop()
        steps = [
            lambda: self.receiver.close() if self.receiver else None,
            lambda: self.portal.terminate() if self.portal else None,
            lambda: self.worker.terminate() if self.worker else None,
            lambda: self._federation.close() if self._federation else None,
            self.redis.terminate,
            self.postgres.close,
            self.directory.remove,
        ]
        errors = []
        for step in steps:
            try:
                step()
            except Exception as exc:  # go on: leave as little behind as possible
                errors.append(repr(exc))
        if errors:
            raise RuntimeError(f"chaos cleanup: {errors}")
