"""The processes of a chaos run: a PostgreSQL cluster and a Redis of its own, the portal.

Everything the chaos tests stop, freeze and restart is started here, on free loopback ports,
in one temporary directory that also holds every server's log.  Only these processes are
ever signalled: the PostgreSQL and Redis the rest of the suite uses are never touched.

Every child is started from the thread that runs the test (``PR_SET_PDEATHSIG`` is tied to
the thread that forked: a child started from a short-lived thread would get SIGTERM when that
thread ends) and in a session of its own, so that a freeze or a stop reaches its whole
process group (postmaster and backends, gunicorn master and workers) and nothing else.

PostgreSQL refuses to run as root: when the tests run as root, the cluster's directory is
given to the ``postgres`` user and ``initdb``, ``postgres`` and ``pg_ctl`` run as that user
(``subprocess``'s ``user=``, no ``su`` in between, so the postmaster is our direct child).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import requests

from ecscore.testing.processes import PYTHON, REPO, free_port, inherited_env, spawn

GUNICORN = str(REPO / ".venv" / "bin" / "gunicorn")
STARTUP_SECONDS = 60  # a loaded 2-core machine can take a while to import Django
STOP_SECONDS = 15
LOG_TAIL_CHARS = 6000


def find_binary(name: str) -> str | None:
    """``name`` on PATH, else in Debian's versioned PostgreSQL directory (not on PATH)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def missing_tools() -> list[str]:
    """The server programs (and the account) a chaos run needs and this machine lacks."""
    missing = [n for n in ("redis-server", "initdb", "postgres", "pg_ctl") if not find_binary(n)]
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            missing.append("a postgres user (PostgreSQL refuses to run as root)")
    return missing


def _postgres_user() -> pwd.struct_passwd | None:
    """The account PostgreSQL runs as: ``postgres`` when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError as exc:
        raise RuntimeError(
            "running as root, and there is no postgres user to run PostgreSQL"
        ) from exc


class RunDirectory:
    """A fresh directory under the system's temporary directory, removed by ``remove``.

    Not pytest's ``tmp_path``: that lies below a root-only directory, which the ``postgres``
    user could not enter.
    """

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="ecs-chaos-"))
        owner = _postgres_user()
        if owner is not None:  # PostgreSQL creates its socket and data directory in here
            os.chown(self.path, owner.pw_uid, owner.pw_gid)

    def remove(self) -> None:
        if os.environ.get("ECS_CHAOS_KEEP"):
            print(f"chaos: keeping {self.path} (ECS_CHAOS_KEEP)")
            return
        shutil.rmtree(self.path, ignore_errors=True)


class Managed:
    """One server process in a session of its own, its output appended to ``log_path``."""

    def __init__(self, name: str, log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self.frozen = False

    def _spawn(
        self,
        args: Sequence[str],
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        as_user: pwd.struct_passwd | None = None,
    ) -> None:
        user_options = {}
        if as_user is not None:
            user_options = {"user": as_user.pw_uid, "group": as_user.pw_gid, "extra_groups": []}
        with open(self.log_path, "ab") as log:
            log.write(f"=== {time.strftime('%H:%M:%S')} start: {' '.join(args)}\n".encode())
            log.flush()
            self.process = spawn(args, env or os.environ, log, cwd=cwd, **user_options)

    def note(self, text: str) -> None:
        """A line in the server's log, so that its output reads against the chaos schedule."""
        with open(self.log_path, "ab") as log:
            log.write(f"=== {time.strftime('%H:%M:%S')} {text}\n".encode())

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was never started"
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal_group(self, sig: int) -> None:
        """``sig`` to the server's process group (it leads its own session)."""
        if self.alive():
            os.killpg(self.pid, sig)

    def freeze(self) -> None:
        self.note("SIGSTOP (frozen)")
        self.signal_group(signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        self.signal_group(signal.SIGCONT)
        self.frozen = False
        self.note("SIGCONT (thawed)")

    def terminate(self, sig: int = signal.SIGTERM) -> None:
        """Stop the whole group: ``sig``, then SIGKILL after ``STOP_SECONDS``."""
        if self.process is None:
            return
        if self.process.poll() is None:
            if self.frozen:  # a stopped process would not act on SIGTERM
                self.thaw()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, sig)
            try:
                self.process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.process.wait(timeout=STOP_SECONDS)
        # Children the leader left behind (a backend, a gunicorn worker) go with it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    def log(self, chars: int = LOG_TAIL_CHARS) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except FileNotFoundError:
            return "(no output)"


def children_of(parent: int) -> list[int]:
    """The processes whose parent is ``parent`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        # The command name, in parentheses, may hold spaces: the fields after it are plain.
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
            found.append(int(entry.name))
    return found


# --- Redis -------------------------------------------------------------------------------------


class RedisServer(Managed):
    """``redis-server`` without persistence on a port of its own; restarts on the same port."""

    def __init__(self, workdir: Path) -> None:
        super().__init__("redis", workdir / "redis.log")
        self.workdir = workdir / "redis"
        self.workdir.mkdir()
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = find_binary("redis-server")
        assert binary, "redis-server is not installed"
        # --save "" and --appendonly no: a cache that loses everything on a restart, as the
        # portal's Redis may (nothing in it may be the only copy of anything).
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--dir", str(self.workdir)]
        self._spawn(args, cwd=self.workdir)
        self.wait_ready()

    def wait_ready(self, timeout: float = 20) -> None:
        import redis

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"redis-server exited while starting\n{self.log()}")
            try:
                client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
                try:
                    if client.ping():
                        return
                finally:
                    client.close()
            except redis.RedisError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"redis-server not ready within {timeout:g} s\n{self.log()}")

    def stop(self) -> None:
        """SIGTERM, as an operator's ``systemctl stop`` sends, and wait until it is gone."""
        self.note("SIGTERM (stop)")
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=STOP_SECONDS)


# --- PostgreSQL --------------------------------------------------------------------------------


class PostgresCluster(Managed):
    """A cluster of our own (``initdb``), served by ``postgres`` on a free port."""

    def __init__(self, workdir: Path) -> None:
        super().__init__("postgres", workdir / "postgres.log")
        self.socket_dir = workdir
        self.data = workdir / "pgdata"
        self.port = free_port()
        self.user = _postgres_user()
        self._frozen_pids: list[int] = []

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, args: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
        user_options = {}
        if self.user is not None:
            user_options = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        done = subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=self.socket_dir,
            **user_options,
        )
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(f"=== {' '.join(args)} -> {done.returncode}\n{done.stdout}{done.stderr}")
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} exited with {done.returncode}\n{done.stderr}")
        return done

    def init(self) -> None:
        initdb = find_binary("initdb")
        assert initdb, "initdb is not installed"
        self._run([initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"])

    def start(self) -> None:
        binary = find_binary("postgres")
        assert binary, "postgres is not installed"
        args = [
            binary,
            "-D",
            str(self.data),
            "-p",
            str(self.port),
            "-k",
            str(self.socket_dir),
            "-c",
            "listen_addresses=127.0.0.1",
            # A throwaway cluster: durability costs time and is not what is tested (a fast
            # shutdown is clean anyway).
            "-c",
            "fsync=off",
            "-c",
            "full_page_writes=off",
        ]
        self._spawn(args, cwd=self.socket_dir, as_user=self.user)
        self.wait_ready()

    def wait_ready(self, timeout: float = 30) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"postgres exited while starting\n{self.log()}")
            try:
                with psycopg.connect(self.url(), connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.Error:
                time.sleep(0.05)
        raise RuntimeError(f"postgres not ready within {timeout:g} s\n{self.log()}")

    def _family(self) -> list[int]:
        """The postmaster and its children.  Not its process group: every backend and
        auxiliary process calls ``setsid()`` (InitPostmasterChild), so a signal to the
        postmaster's group reaches the postmaster alone."""
        return [self.pid, *children_of(self.pid)]

    def freeze(self) -> None:
        """SIGSTOP to the postmaster first (so that it forks nothing more), then to every
        backend and auxiliary process."""
        self.note("SIGSTOP to the postmaster and its children (frozen)")
        os.kill(self.pid, signal.SIGSTOP)
        self._frozen_pids = self._family()
        for pid in self._frozen_pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        for pid in {*self._frozen_pids, *self._family()}:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self.frozen = False
        self.note("SIGCONT to the postmaster and its children (thawed)")

    def stop_fast(self) -> None:
        """``pg_ctl stop -m fast``: clients are disconnected, transactions rolled back."""
        pg_ctl = find_binary("pg_ctl")
        assert pg_ctl, "pg_ctl is not installed"
        self.note("pg_ctl stop -m fast")
        self._run([pg_ctl, "stop", "-D", str(self.data), "-m", "fast", "-w", "-t", "30"])
        assert self.process is not None
        self.process.wait(timeout=STOP_SECONDS)  # reap the postmaster, our child

    def create_database(self, name: str) -> str:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def query(self, database: str, statement: str, params: Sequence[object] = ()) -> list[tuple]:
        """Rows of one statement, as an operator's ``psql`` would read them."""
        import psycopg

        with psycopg.connect(self.url(database), connect_timeout=5) as conn:
            return conn.execute(statement, params).fetchall()

    def close(self) -> None:
        # SIGQUIT is PostgreSQL's immediate shutdown: nothing of this cluster is kept.  The
        # postmaster takes its children down with it; any it left (it was killed) go here.
        children = self._family()[1:] if self.alive() else []
        self.terminate(signal.SIGQUIT)
        for pid in children:
            # Only if it is still one of ours (its title), not a process that took its pid.
            with contextlib.suppress(ProcessLookupError, FileNotFoundError):
                if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"postgres"):
                    os.kill(pid, signal.SIGKILL)


# --- the portal --------------------------------------------------------------------------------


def portal_env(
    database_url: str, redis_url: str, var_dir: Path, extra: dict[str, str]
) -> dict[str, str]:
    """Production mode, as ``scripts/serve.sh`` runs it, on our own database and Redis."""
    caller = {k for k in os.environ if k.startswith(("ECS_", "GUNICORN_", "DB_"))}
    env = inherited_env(also_drop=caller | {"PORT"})
    env.update(
        DJANGO_SETTINGS_MODULE="ecsportal.settings",
        SECRET_KEY=os.urandom(32).hex() + "-chaos",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        CACHE_KEY_PREFIX="ecs-chaos",
        ECS_VAR_DIR=str(var_dir),
        PYTHONUNBUFFERED="1",
        SECURE_SSL_REDIRECT="0",  # plain HTTP on loopback
        **extra,
    )
    return env


class Portal(Managed):
    """gunicorn with the project's ``gunicorn.conf.py`` on a free port."""

    def __init__(self, workdir: Path, env: dict[str, str], port: int) -> None:
        super().__init__("gunicorn", workdir / "gunicorn.log")
        self.env = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}"}
        self.port = port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._spawn([GUNICORN, "-c", "gunicorn.conf.py", "ecsportal.wsgi"], self.env, REPO)
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"gunicorn exited while starting\n{self.log()}")
            try:
                if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn not healthy within {STARTUP_SECONDS} s\n{self.log()}")


class Worker(Managed):
    """``manage.py run_worker``: the outbox, change evaluation, the chores."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        super().__init__("worker", workdir / "worker.log")
        self.env = env

    def start(self) -> None:
        self._spawn([PYTHON, "manage.py", "run_worker", "--poll", "0.2"], self.env, REPO)
