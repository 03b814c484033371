"""The quick start's demo (``bash scripts/demo.sh`` runs it after installing): two ECSs that
federate, the notifications worker and a notification receiver, all on loopback.

- the home ECS, Aurora Mobile (``demo/operator.yaml``), on ``PORT`` (default 8000), with the
  default SQLite database (``$ECS_VAR_DIR/ecsportal.sqlite3``, ``var/`` of the checkout);
- its roaming partner, Borealis Telecom (``demo/visited.yaml``), on ``PORT + 1``, with its own
  SQLite file (``visited.sqlite3`` beside it);
- ``run_worker`` for the home ECS: change events, subscription notifications, expiry;
- a receiver of notifications on ``PORT + 2`` that prints each one it gets.

Both ECSs run in debug mode (plain HTTP, anonymous EECs and EESs) with
``ECS_ALLOW_PRIVATE_CALLBACKS=1``, so callbacks may go to the receiver on 127.0.0.1.  The
token the home ECS presents to its partner is new on every start: the home ECS reads it from
its environment (``outboundToken: env:ECS_DEMO_PARTNER_TOKEN``), the partner stores its hash.
Each configuration is applied with the addresses of this run filled in.  Ctrl-C (or SIGTERM)
stops everything.  Only the standard library and PyYAML: this runs before Django is set up.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import hashlib
import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
HOME_FILE = REPO / "demo" / "operator.yaml"
VISITED_FILE = REPO / "demo" / "visited.yaml"
HOME_ID = "ecs.aurora-mobile.example"
VISITED_ID = "ecs.borealis.example"
#: The line the demo prints once everything answers (the demo's test waits for it).
READY = "Demo ready."
STARTUP_SECONDS = 90
_print_lock = threading.Lock()


def say(prefix: str, line: str) -> None:
    with _print_lock:
        print(f"[{prefix}] {line}" if prefix else line, flush=True)


def _die_with_parent() -> None:
    # A child gets SIGTERM when the demo dies, however it dies (Linux; elsewhere nothing).
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def summary(body: str) -> str:
    """The EESs a ServProvNotification (or ServProvNotif) offers, in a few words."""
    try:
        configs = json.loads(body).get("ednCnfgInfo") or []
        eess = [ees["eesId"] for config in configs for ees in config.get("eess") or []]
    except (ValueError, AttributeError, TypeError, KeyError):
        return "(not a ServProvNotification)"
    return "EESs " + ", ".join(eess) if eess else "no EES"


class Demo:
    def __init__(self, port: int, var_dir: Path) -> None:
        self.port = port
        self.var_dir = var_dir
        self.home_url = f"http://127.0.0.1:{port}"
        self.visited_url = f"http://127.0.0.1:{port + 1}"
        self.receiver_url = f"http://127.0.0.1:{port + 2}/notifications"
        self.token = secrets.token_urlsafe(32)
        self.children: list[tuple[str, subprocess.Popen]] = []
        self.receiver: ThreadingHTTPServer | None = None
        self.logins: dict[str, str] = {}
        base = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ALLOWED_HOSTS")
        }
        base.update(
            DEBUG="1",
            DJANGO_SETTINGS_MODULE="ecsportal.settings",
            ECS_VAR_DIR=str(var_dir),
            ECS_ALLOW_PRIVATE_CALLBACKS="1",
            PYTHONUNBUFFERED="1",
        )
        self.home_env = {
            **base,
            "ECS_DEMO_PARTNER_TOKEN": self.token,
            "ECS_PUBLIC_URL": self.home_url,
        }
        self.visited_env = {
            **base,
            "DATABASE_URL": f"sqlite:///{var_dir / 'visited.sqlite3'}",
            # Its own cache keys too (the in-process cache needs none, Redis would).
            "CACHE_KEY_PREFIX": "ecs-demo-visited",
            "ECS_PUBLIC_URL": self.visited_url,
        }

    # --- set-up ---------------------------------------------------------------------------

    def manage(self, env: dict[str, str], *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            sys.stderr.write(done.stdout + done.stderr)
            raise SystemExit(f"manage.py {' '.join(args)} failed ({done.returncode})")
        return done.stdout

    def configurations(self) -> tuple[Path, Path]:
        """The two files, with this run's addresses and token, as JSON in the var folder."""
        home = yaml.safe_load(HOME_FILE.read_text(encoding="utf-8"))
        for partner in home.get("partners") or []:
            if partner["id"] == VISITED_ID:
                partner["apiRoot"] = self.visited_url
        visited = yaml.safe_load(VISITED_FILE.read_text(encoding="utf-8"))
        for partner in visited.get("partners") or []:
            if partner["id"] == HOME_ID:
                partner["apiRoot"] = self.home_url
                # Only the hash: the partner never holds the token itself.
                partner["inboundToken"] = (
                    "sha256:" + hashlib.sha256(self.token.encode()).hexdigest()
                )
        paths = self.var_dir / "demo-home.json", self.var_dir / "demo-visited.json"
        for path, document in zip(paths, (home, visited), strict=True):
            path.write_text(json.dumps(document, indent=2), encoding="utf-8")
        return paths

    def set_up(self) -> None:
        self.var_dir.mkdir(parents=True, exist_ok=True)
        home_file, visited_file = self.configurations()
        say("demo", "Migrating both databases and loading the demo operators ...")
        steps = [
            (self.home_env, home_file, "home"),
            (self.visited_env, visited_file, "visited"),
        ]
        failures: list[BaseException] = []
        home_db, visited_db = self.var_dir / "ecsportal.sqlite3", self.var_dir / "visited.sqlite3"
        migrated = False
        if not home_db.exists() and not visited_db.exists():
            # A first start: migrate one database and copy it, which takes half the time.
            say("demo", "Creating the databases ...")
            self.manage(self.home_env, "migrate", "--noinput", "-v0")
            source, target = sqlite3.connect(home_db), sqlite3.connect(visited_db)
            try:
                source.backup(target)
            finally:
                target.close()
                source.close()
            migrated = True

        def prepare(env: dict[str, str], file: Path, name: str) -> None:
            try:
                if not migrated:  # an earlier run's database: this version's migrations
                    self.manage(env, "migrate", "--noinput", "-v0")
                for line in self.manage(env, "ecs_apply", str(file)).splitlines():
                    say(name, line)
                login = self.manage(env, "ecs_admin_user", "--username", "admin").strip()
                # "Created admin login: admin / <password>" (or "Reset the password of ...").
                self.logins[name] = "login " + login.rpartition("admin login: ")[2]
            except BaseException as exc:  # reported below, after both are done
                failures.append(exc)

        threads = [threading.Thread(target=prepare, args=step) for step in steps]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failures:
            raise failures[0]

    # --- running --------------------------------------------------------------------------

    def spawn(self, name: str, env: dict[str, str], *args: str) -> None:
        child = subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            # Its own session: Ctrl-C reaches the demo alone, which stops the children in order.
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self.children.append((name, child))

        def relay() -> None:
            assert child.stdout is not None
            for line in child.stdout:
                say(name, line.rstrip())

        threading.Thread(target=relay, daemon=True).start()

    def start_receiver(self) -> None:
        class Receiver(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", "replace")
                self.send_response(204)
                self.end_headers()
                say("receiver", f"notification to {self.path}: {summary(body)}")
                say("receiver", body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # do_POST says what arrived

        self.receiver = ThreadingHTTPServer(("127.0.0.1", self.port + 2), Receiver)
        threading.Thread(target=self.receiver.serve_forever, daemon=True).start()

    def wait_healthy(self, url: str) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            for name, child in self.children:
                if child.poll() is not None:
                    raise SystemExit(f"{name} exited with {child.returncode} while starting")
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{url} did not answer within {STARTUP_SECONDS} s")
            time.sleep(0.3)

    def run(self) -> None:
        self.set_up()
        self.start_receiver()
        visited_port, home_port = str(self.port + 1), str(self.port)
        self.spawn(
            "visited",
            self.visited_env,
            "runserver",
            "--noreload",
            "--skip-checks",
            f"127.0.0.1:{visited_port}",
        )
        self.spawn(
            "home",
            self.home_env,
            "runserver",
            "--noreload",
            "--skip-checks",
            f"127.0.0.1:{home_port}",
        )
        self.spawn("worker", self.home_env, "run_worker")
        self.wait_healthy(self.visited_url)
        self.wait_healthy(self.home_url)
        say(
            "",
            "\n".join(
                [
                    "",
                    f"Home ECS (Aurora Mobile, PLMN 001-01):      {self.home_url}/admin/"
                    f"   {self.logins['home']}",
                    f"Partner ECS (Borealis Telecom, PLMN 002-02): {self.visited_url}/admin/"
                    f"   {self.logins['visited']}",
                    f"API docs: {self.home_url}/api/docs/   Notification receiver: "
                    f"{self.receiver_url}",
                    f"{READY} Ctrl-C stops both ECSs, the worker and the receiver.",
                    "",
                ]
            ),
        )
        while True:
            for name, child in self.children:
                if child.poll() is not None:
                    raise SystemExit(f"{name} exited with {child.returncode}")
            time.sleep(0.5)

    def stop(self) -> None:
        for _, child in self.children:
            if child.poll() is None:
                child.terminate()
        for _, child in self.children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        if self.receiver is not None:
            self.receiver.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("PORT", "8000")), help="the home ECS's"
    )
    args = parser.parse_args()
    var_dir = Path(os.environ.get("ECS_VAR_DIR") or REPO / "var").resolve()
    demo = Demo(args.port, var_dir)

    def stop_on_signal(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_on_signal)
    try:
        demo.run()
    except KeyboardInterrupt:
        say("demo", "Stopping ...")
    finally:
        demo.stop()


if __name__ == "__main__":
    main()
