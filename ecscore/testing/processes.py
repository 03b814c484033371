"""Real ECS Portal processes and throwaway databases, for the federation tests and benchmarks.

The two-instance (federation) tests (``tests/federation.py``) and the benchmarks
(``bench/servers.py``) both start ECS Portal in subprocesses, each instance with a database of
its own that is dropped afterwards.  What they have in common lives here: a free loopback port,
a child that dies with its parent, ``manage.py`` commands, the caller's environment minus what
each instance gets set for itself, and PostgreSQL databases copied from one migrated template.

Neither pytest nor Django is imported: the benchmarks run outside pytest, and each child
process configures Django for itself from its environment.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import psycopg

REPO = Path(__file__).resolve().parents[2]
_VENV_PYTHON = REPO / ".venv" / "bin" / "python"
PYTHON = str(_VENV_PYTHON) if _VENV_PYTHON.exists() else sys.executable

# The caller's values would point an instance at the caller's database, cache, secret or
# files; whoever starts an instance sets these for it.
PER_INSTANCE_ENV = frozenset(
    {
        "DEBUG",
        "DJANGO_SETTINGS_MODULE",
        "DATABASE_URL",
        "REDIS_URL",
        "CACHE_KEY_PREFIX",
        "SECRET_KEY",
        "ALLOWED_HOSTS",
        "ECS_VAR_DIR",
        "STATIC_ROOT",
    }
)


def inherited_env(also_drop: Iterable[str] = ()) -> dict[str, str]:
    """This process's environment without ``PER_INSTANCE_ENV`` and ``also_drop``."""
    drop = PER_INSTANCE_ENV.union(also_drop)
    return {k: v for k, v in os.environ.items() if k not in drop}


def free_port() -> int:
    """A loopback port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def die_with_parent() -> None:
    """``preexec_fn``: the child gets SIGTERM when its parent goes away, even if killed.

    Linux only (``PR_SET_PDEATHSIG``); elsewhere it does nothing.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def spawn(
    args: Sequence[str], env: Mapping[str, str], log: IO[bytes], **popen: Any
) -> subprocess.Popen:
    """Start a child of the test or benchmark: output to ``log``, no stdin, its own session
    (so that a signal to its group reaches only it), and gone when we are.

    ``popen`` adds to or overrides ``subprocess.Popen``'s arguments (``cwd`` is the
    repository unless given).
    """
    options: dict[str, Any] = {
        "cwd": REPO,
        "stdin": subprocess.DEVNULL,
        "stdout": log,
        "stderr": subprocess.STDOUT,
        "start_new_session": True,
        "preexec_fn": die_with_parent,
        **popen,
    }
    return subprocess.Popen(list(args), env=dict(env), **options)


def run_python(
    args: Sequence[str],
    env: Mapping[str, str],
    *,
    timeout: float,
    what: str | None = None,
    error: type[Exception] = RuntimeError,
    output_chars: int | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python *args`` (a script of the repository and its arguments) and wait for it.

    A non-zero exit raises ``error`` with the command's stdout and stderr (the last
    ``output_chars`` of each, or all of it), prefixed by ``what`` when given.
    """
    done = subprocess.run(
        [PYTHON, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        prefix = f"{what}: " if what else ""
        raise error(
            f"{prefix}{' '.join(args)} exited with {done.returncode}\n"
            f"--- stdout\n{_tail(done.stdout, output_chars)}\n"
            f"--- stderr\n{_tail(done.stderr, output_chars)}"
        )
    return done


def run_manage(
    args: Sequence[str], env: Mapping[str, str], **options: Any
) -> subprocess.CompletedProcess[str]:
    """``manage.py *args``, as ``run_python`` runs a script (the same options)."""
    return run_python(["manage.py", *args], env, **options)


def _tail(text: str, chars: int | None) -> str:
    return text if chars is None else text[-chars:]


class TemplateDatabases:
    """Throwaway PostgreSQL databases, each a copy of one migrated template database.

    ``CREATE DATABASE ... TEMPLATE`` copies files, so a database is ready in a fraction of
    the time migrating it would take.  Every database made here (the template too) is in
    ``created`` until dropped.  ``url`` is any database URL of the server: new databases get
    its scheme, credentials and options.  ``admin`` opens the autocommit connection the
    ``CREATE``/``DROP`` statements run on (default: ``url`` itself).  ``report_drop_failure``
    lets ``drop_all`` carry on past a failure; without it the first failure propagates.
    """

    def __init__(
        self,
        url: str,
        prefix: str,
        *,
        admin: Callable[[], psycopg.Connection] | None = None,
        report_drop_failure: Callable[[str, Exception], None] | None = None,
    ) -> None:
        self.base_url = url
        self.prefix = prefix
        self.created: list[str] = []
        self.template: str | None = None
        self._admin = admin or self._connect
        self._report_drop_failure = report_drop_failure

    def _connect(self) -> psycopg.Connection:
        import psycopg

        return psycopg.connect(self.base_url, autocommit=True)

    def _execute(self, statement: str, name: str, template: str | None = None) -> None:
        from psycopg import sql

        query = sql.SQL(statement).format(
            name=sql.Identifier(name), template=sql.Identifier(template or name)
        )
        with self._admin() as conn:
            conn.execute(query)

    def name(self, label: str) -> str:
        # PostgreSQL would cut a longer name itself; cutting it here keeps url() and drop()
        # naming the database that was really created.
        return f"{self.prefix}_{label}"[:63]

    def url(self, name: str) -> str:
        return urlsplit(self.base_url)._replace(path="/" + name).geturl()

    def create_empty(self, label: str) -> str:
        """An empty database; returns its URL."""
        name = self.name(label)
        self._execute("CREATE DATABASE {name}", name)
        self.created.append(name)
        return self.url(name)

    def create(self, label: str, migrate: Callable[[str], object]) -> str:
        """A migrated database of its own; returns its URL.

        The first call makes the template: an empty database that ``migrate(url)`` migrates.
        """
        if self.template is None:
            migrate(self.create_empty("template"))
            self.template = self.name("template")
        name = self.name(label)
        self._execute("CREATE DATABASE {name} TEMPLATE {template}", name, self.template)
        self.created.append(name)
        return self.url(name)

    def drop(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        self._execute("DROP DATABASE IF EXISTS {name} WITH (FORCE)", name)
        if name in self.created:
            self.created.remove(name)

    def drop_all(self) -> None:
        for name in list(self.created):
            try:
                self.drop(self.url(name))
            except Exception as exc:
                if self._report_drop_failure is None:
                    raise
                self._report_drop_failure(name, exc)
