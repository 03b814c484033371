"""Real ECS Portal instances for two-instance (federation) tests.

Each instance is ``manage.py runserver --noreload`` in a subprocess on a free loopback port,
with production settings (``DEBUG`` unset, its own ``SECRET_KEY``, ``ALLOWED_HOSTS``), its own
database and its own ``CACHE_KEY_PREFIX``.  The database follows the test run's
``DATABASE_URL``: a postgres URL gets a fresh PostgreSQL database per instance, anything else
an SQLite file under the test's ``tmp_path``.  ``REDIS_URL``, when set, is handed on, each
instance keeping its own key prefix.

Migrations run once per test session, into a template (a PostgreSQL template database, or an
SQLite file that is copied), so an instance starts in about the time Django takes to load.

Use it from a test module with ``pytest_plugins = ["tests.federation"]``; the ``federation``
fixture then starts instances (``federation.start("home", "visited")``), applies configuration
files to them (``federation.apply({home: {...}, visited: {...}})``), reads their audit log
(``instance.audit(direction="in")``) and, at teardown, stops them and drops their databases.
A failing test's report carries every instance's output.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
import pytest
import requests
import yaml

from ecscore.testing.processes import (
    PYTHON,
    REPO,
    TemplateDatabases,
    free_port,
    inherited_env,
    run_manage,
)

# The name tests that start their own processes import from here.
from ecscore.testing.processes import die_with_parent as _die_with_parent

STARTUP_SECONDS = 60  # a loaded CI machine can take a while to import Django
COMMAND_SECONDS = 120
LOG_TAIL_CHARS = 20_000

INSTANCES = pytest.StashKey[list]()


def parallel(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls at once (management commands, mostly); their results in order."""
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return [f.result() for f in [pool.submit(call) for call in calls]]


def _short() -> str:
    return uuid.uuid4().hex[:8]


def _run(args: list[str], env: dict[str, str], what: str) -> subprocess.CompletedProcess:
    # A failing command fails the test, with all of its output in the report.
    return run_manage(args, env, timeout=COMMAND_SECONDS, what=what, error=AssertionError)


# --- databases -------------------------------------------------------------------------------


class Databases:
    """Creates a migrated database per instance and drops it afterwards.

    PostgreSQL when the test run's DATABASE_URL is a postgres URL (a template database is
    migrated once and each instance's database is created from it), else SQLite files (a
    migrated file is copied).
    """

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.env = env  # the environment management commands run with
        url = os.environ.get("DATABASE_URL", "")
        self.postgres = urlsplit(url).scheme in ("postgres", "postgresql", "pgsql")
        self.base_url = url
        self.tag = f"fed_{_short()}"
        self._pg: TemplateDatabases | None = None
        if self.postgres:
            base = dj_database_url.parse(url)["NAME"] or "ecsportal"
            self._pg = TemplateDatabases(url, f"{base}_{self.tag}", admin=self._admin)
        self._sqlite_template: str | None = None

    def _admin(self):
        # The run's own database may not exist yet; the server's "postgres" database does.
        import psycopg

        params = dj_database_url.parse(self.base_url)
        return psycopg.connect(
            host=params.get("HOST") or None,
            port=params.get("PORT") or None,
            user=params.get("USER") or None,
            password=params.get("PASSWORD") or None,
            dbname="postgres",
            autocommit=True,
        )

    def _migrate(self, url: str) -> None:
        env = {**self.env, "DATABASE_URL": url, "CACHE_KEY_PREFIX": f"migrate-{self.tag}"}
        _run(["migrate", "--no-input", "-v", "0"], env, "migrating the template database")

    def _migrated_sqlite_template(self) -> str:
        """Migrate once per session; returns the template file's path."""
        if self._sqlite_template is None:
            path = str(self.workdir / "template.sqlite3")
            self._migrate(f"sqlite:///{path}")
            # Fold the write-ahead log into the file, so that a plain copy is complete.
            with sqlite3.connect(path) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._sqlite_template = path
        return self._sqlite_template

    def create(self, label: str, directory: Path) -> str:
        """A migrated database of its own; returns its DATABASE_URL."""
        if self._pg is not None:
            return self._pg.create(f"{label}_{_short()}", self._migrate)
        template = self._migrated_sqlite_template()
        path = directory / f"{label}.sqlite3"
        source = sqlite3.connect(template)
        target = sqlite3.connect(path)
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
        return f"sqlite:///{path}"

    def drop(self, url: str) -> None:
        if self._pg is not None:  # else files under tmp_path
            self._pg.drop(url)

    def free_connections(self) -> int | None:
        """How many more clients PostgreSQL accepts now (None on SQLite: no such limit)."""
        if not self.postgres:
            return None
        with self._admin() as conn:
            limit = int(conn.execute("SHOW max_connections").fetchone()[0])
            reserved = int(conn.execute("SHOW superuser_reserved_connections").fetchone()[0])
            used = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
            ).fetchone()[0]
        return limit - reserved - used

    def close(self) -> None:
        if self._pg is not None:
            self._pg.drop_all()


# --- instances -------------------------------------------------------------------------------


@dataclass(eq=False)
class Instance:
    """One running ECS Portal: its URL, environment, output, and management commands."""

    name: str
    workdir: Path
    env: dict[str, str]
    port: int = 0
    process: subprocess.Popen | None = None
    log_path: Path = field(init=False)
    _applied: int = 0
    _log_offset: int = 0

    def __post_init__(self) -> None:
        self.log_path = self.workdir / f"{self.name}.log"

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        return f"<ECS instance {self.name} at {self.url}>"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # the process ------------------------------------------------------------------------------

    def launch(self) -> None:
        """Start runserver on a port that is free right now."""
        self.port = free_port()
        with open(self.log_path, "ab") as log:
            self._log_offset = log.tell()
            log.write(f"=== runserver on port {self.port}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [PYTHON, "manage.py", "runserver", "--noreload", f"127.0.0.1:{self.port}"],
                cwd=REPO,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )

    def wait_healthy(self, timeout: float = STARTUP_SECONDS, relaunches: int = 2) -> None:
        """Wait for ``/healthz`` to answer 200; relaunch when another process took the port."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                since_launch = self.log_path.read_bytes()[self._log_offset :]
                if b"already in use" in since_launch and relaunches > 0:
                    relaunches -= 1
                    self.launch()
                    continue
                raise AssertionError(
                    f"{self.name} exited with {self.process.returncode} while starting\n"
                    + self.log()
                )
            try:
                response = requests.get(self.url + "/healthz", timeout=2)
                if response.status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.name} not healthy within {timeout:g} s\n{self.log()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def log(self) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(no output)"
        return text[-LOG_TAIL_CHARS:]

    # management commands -----------------------------------------------------------------------

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        """Run a management command against this instance's database and cache."""
        return _run(list(args), self.env, self.name)

    def apply(self, config: dict[str, Any]) -> str:
        """Apply a configuration file (written as YAML) with ``manage.py ecs_apply``."""
        self._applied += 1
        path = self.workdir / f"{self.name}-config-{self._applied}.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return self.manage("ecs_apply", str(path)).stdout

    def audit(self, partner: str | None = None, direction: str | None = None) -> list[dict]:
        """The retrieval audit log as ``manage.py ecs_audit --json`` prints it, oldest first."""
        args = ["ecs_audit", "--json"]
        if partner:
            args += ["--partner", partner]
        if direction:
            args += ["--direction", direction]
        out = self.manage(*args).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]


class Federation:
    """The instances of one test; ``close`` stops them and drops their databases."""

    def __init__(self, workdir: Path, databases: Databases) -> None:
        self.workdir = workdir
        self.databases = databases
        self.instances: list[Instance] = []
        self._redis_prefixes: list[str] = []
        self._database_urls: list[str] = []

    def _env(self, name: str, database_url: str, cache_prefix: str) -> dict[str, str]:
        env = inherited_env()
        env.update(
            DJANGO_SETTINGS_MODULE="ecsportal.settings",
            SECRET_KEY=secrets.token_urlsafe(40),
            ALLOWED_HOSTS="127.0.0.1,localhost",
            DATABASE_URL=database_url,
            CACHE_KEY_PREFIX=cache_prefix,
            ECS_VAR_DIR=str(self.workdir / f"{name}-var"),
            PYTHONUNBUFFERED="1",
            # Plain HTTP on loopback: no redirect to HTTPS.
            SECURE_SSL_REDIRECT="0",
        )
        if os.environ.get("REDIS_URL"):
            env["REDIS_URL"] = os.environ["REDIS_URL"]
        else:
            # Without a shared cache each process's query cache keeps rows another process
            # changed (ecsportal.W001): an instance must see what ``ecs_apply`` wrote.
            env["CACHALOT_ENABLED"] = "0"
        return env

    def start(
        self,
        *names: str,
        share_with: Instance | None = None,
        env: dict[str, str] | None = None,
    ) -> tuple[Instance, ...]:
        """Start one instance per name, in parallel, and wait until each is healthy.

        ``share_with``: the new instances are further web nodes of that instance (the same
        database and cache key prefix), as behind a load balancer.  ``env``: further
        environment variables (settings) for the new instances and their commands.
        """
        created = []
        for name in names:
            if share_with is not None:
                url = share_with.env["DATABASE_URL"]
                prefix = share_with.env["CACHE_KEY_PREFIX"]
            else:
                url = self.databases.create(name, self.workdir)
                self._database_urls.append(url)
                base = os.environ.get("CACHE_KEY_PREFIX", "ecs-test")
                prefix = f"{base}-{name}-{_short()}"
                self._redis_prefixes.append(prefix)
            instance_env = {**self._env(name, url, prefix), **(env or {})}
            if share_with is not None:  # one deployment, one secret
                instance_env["SECRET_KEY"] = share_with.env["SECRET_KEY"]
            instance = Instance(name, self.workdir, instance_env)
            self.instances.append(instance)
            created.append(instance)
        for instance in created:
            instance.launch()
        for instance in created:  # they boot together; waiting in this thread (PDEATHSIG)
            instance.wait_healthy()
        return tuple(created)

    parallel = staticmethod(parallel)

    def require_connections(self, count: int, timeout: float = 120) -> None:
        """Wait until PostgreSQL can take ``count`` more clients (runserver opens one per
        request being served); fail plainly if it cannot, rather than with 500s later."""
        deadline = time.monotonic() + timeout
        free = self.databases.free_connections()
        while free is not None and free < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"PostgreSQL accepts only {free} more connections, this test needs {count}: "
                    "other clients hold the rest (raise max_connections or run alone)"
                )
            time.sleep(1)
            free = self.databases.free_connections()

    def apply(self, configs: dict[Instance, dict[str, Any]]) -> None:
        """Apply a configuration file to each instance, in parallel."""
        with ThreadPoolExecutor(max_workers=len(configs)) as pool:
            list(pool.map(lambda item: item[0].apply(item[1]), configs.items()))

    def close(self) -> None:
        for instance in self.instances:
            instance.stop()
        for url in self._database_urls:
            self.databases.drop(url)
        redis_url = os.environ.get("REDIS_URL")
        if redis_url and self._redis_prefixes:
            import redis

            client = redis.Redis.from_url(redis_url)
            try:
                for prefix in self._redis_prefixes:
                    keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
                    if keys:
                        client.delete(*keys)
            finally:
                client.close()


# --- fixtures and the failure report -------------------------------------------------------------


@pytest.fixture(scope="session")
def federation_databases(tmp_path_factory) -> Iterator[Databases]:
    workdir = tmp_path_factory.mktemp("federation-template")
    env = inherited_env()
    env.update(
        DJANGO_SETTINGS_MODULE="ecsportal.settings",
        SECRET_KEY=secrets.token_urlsafe(40),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        ECS_VAR_DIR=str(workdir / "var"),
    )
    databases = Databases(workdir, env)
    yield databases
    databases.close()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def federation(request, tmp_path, federation_databases) -> Iterator[Federation]:
    """Start real ECS Portal instances for this test; all are stopped and dropped after it."""
    fed = Federation(tmp_path, federation_databases)
    request.node.stash[INSTANCES] = fed.instances
    try:
        yield fed
    finally:
        fed.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing test's report carries the output of every instance it started."""
    report = yield
    if report.failed:
        for instance in item.stash.get(INSTANCES, []):
            report.sections.append(
                (f"ECS instance {instance.name} ({instance.log_path})", instance.log())
            )
    return report
