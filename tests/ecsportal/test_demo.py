"""The quick start, as README says it: ``scripts/demo.py`` (what ``scripts/demo.sh`` runs once
it has installed) starts the home ECS, its roaming partner, the worker and the receiver;
README's own commands, taken from its Quick start section and run with ``bash``, get the
partner's EESs for a roaming UE (audited, cached), and a subscription is notified through the
receiver; Ctrl-C stops every process.

Only the ports (free ones instead of 8000-8002), the var folder (a temporary one) and the
virtual environment's Python are substituted.  The demo is SQLite only whatever the run's
``DATABASE_URL`` says, so this test is the same on either run of the suite.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ecscore.testing.processes import PYTHON, REPO, die_with_parent, inherited_env

README = REPO / "README.md"
STARTUP_SECONDS = 180  # two migrations on a loaded two-core machine
READY = "Demo ready."


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive loopback ports nobody listens on."""
    for _ in range(200):
        first = random.randint(20_000, 60_000)
        try:
            for port in range(first, first + count):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise AssertionError("no free ports")


def quick_start_blocks() -> list[str]:
    """The ``sh`` code blocks of README's Quick start section."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.S)


class Demo:
    def __init__(self, tmp_path: Path) -> None:
        self.port = free_ports(3)
        self.var = tmp_path / "var"
        env = inherited_env(also_drop={"PORT"})
        env.update(PORT=str(self.port), ECS_VAR_DIR=str(self.var), PYTHONUNBUFFERED="1")
        self.env = env
        self.lines: list[str] = []
        self.seen: queue.Queue[str] = queue.Queue()
        self.process = subprocess.Popen(
            [sys.executable, "scripts/demo.py"],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            self.seen.put(line)

    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not any(text in line for line in self.lines):
            if self.process.poll() is not None:
                raise AssertionError(f"the demo exited:\n{self.output()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} within {seconds} s:\n{self.output()}")
            with contextlib.suppress(queue.Empty):
                self.seen.get(timeout=0.5)

    def sh(self, block: str) -> str:
        """A README block as README has it, for this demo's ports, folder and Python."""
        for readme_port, port in ((8000, self.port), (8001, self.port + 1), (8002, self.port + 2)):
            block = block.replace(f"127.0.0.1:{readme_port}", f"127.0.0.1:{port}")
        block = block.replace("sqlite:///var/", f"sqlite:///{self.var}/")
        block = block.replace(".venv/bin/python", PYTHON)
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block],
            cwd=REPO,
            env={k: v for k, v in self.env.items() if k not in ("DEBUG", "DATABASE_URL")},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"{block}\n{done.stdout}\n{done.stderr}\n{self.output()}"
        return done.stdout

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)


@pytest.fixture
def demo(tmp_path):
    running = Demo(tmp_path)
    yield running
    running.stop()


def block_with(blocks: list[str], *texts: str) -> str:
    (found,) = [b for b in blocks if all(t in b for t in texts)]
    return found


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_the_quick_start_federates_audits_caches_notifies_and_stops_on_ctrl_c(demo):
    blocks = quick_start_blocks()
    assert blocks[0].startswith("bash scripts/demo.sh")
    demo.wait_for(READY, STARTUP_SECONDS)
    assert re.search(r"Home ECS .*/admin/ +login admin / \S+", demo.output())

    # At home, for a UE at home: the home ECS's own EESs.
    home = json.loads(demo.sh(block_with(blocks, "/request", "eec-1")))
    home_eess = {e["eesId"] for c in home["ednCnfgInfo"] for e in c["eess"]}
    assert "ees-north-1" in home_eess

    # Roaming in Borealis's network: Borealis's EESs, from the partner.
    roaming_block = block_with(blocks, "/request", "connInfo")
    roaming = json.loads(demo.sh(roaming_block))
    assert [e["eesId"] for c in roaming["ednCnfgInfo"] for e in c["eess"]] == [
        "ees-borealis-city-1",
        "ees-borealis-city-2",
    ]
    # The audit (README's commands): our call out, and the partner's record of it coming in.
    audit_block = block_with(blocks, "ecs_audit")
    out_rows, in_rows = (
        [json.loads(line) for line in text.splitlines() if line.strip()]
        for text in _each_line(demo, audit_block)
    )
    assert [(r["direction"], r["partner"], r["cache"]) for r in out_rows] == [
        ("out", "ecs.borealis.example", "miss")
    ]
    assert [(r["direction"], r["partner"], r["status"]) for r in in_rows] == [
        ("in", "ecs.aurora-mobile.example", 200)
    ]
    # The answer is cached at home, and the same request again is a hit.
    with sqlite3.connect(demo.var / "ecsportal.sqlite3") as db:
        (entries,) = db.execute(
            "SELECT count(*) FROM partners_provisioningcacheentry e JOIN partners_partnerecs p "
            "ON p.id = e.partner_id WHERE p.partner_id = 'ecs.borealis.example'"
        ).fetchone()
    assert entries == 1
    assert json.loads(demo.sh(roaming_block)) == roaming
    again = [json.loads(line) for line in demo.sh(audit_block.splitlines()[0]).splitlines()]
    assert [r["cache"] for r in again] == ["miss", "hit"]

    # A subscription, then an EES registering where the subscriber is: the worker notifies.
    subscribed = demo.sh(block_with(blocks, "/subscriptions"))
    assert '"notificationDestination"' in subscribed and '"eesId":"ees-north-2"' in subscribed
    demo.wait_for("[receiver] notification to /notifications: EESs", 60)
    notified = next(line for line in demo.lines if "[receiver] notification to" in line)
    assert "ees-north-2" in notified

    # Ctrl-C: the demo stops both ECSs, the worker and the receiver.
    demo.process.send_signal(signal.SIGINT)
    assert demo.process.wait(timeout=60) == 0, demo.output()
    for port in (demo.port, demo.port + 1, demo.port + 2):
        assert not listening(port), port
    assert "worker stopped" in demo.output()


def _each_line(demo: Demo, block: str) -> list[str]:
    """Run each command of a block on its own: each one's output."""
    return [demo.sh(line) for line in block.splitlines() if line.strip()]
