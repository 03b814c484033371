"""Subscribe-notify between two real ECS instances (TS 23.558 clause 8.17.2.4.2.3).

The home ECS is configured to subscribe at its partner (``subscribe: true``).  Each instance
runs ``manage.py runserver`` and ``manage.py run_worker`` (real processes; the home worker
knows its public URL, ``ECS_PUBLIC_URL``, which it gives the partner as
``notificationDestination``).  A roaming EEC's request makes home ask visited and cache the
answer; home's worker subscribes at visited for that query.  When an EES changes at visited
(``ecs_apply`` there), visited's worker notifies home, and home's cache entry holds the new
answer -- the EEC gets it without home asking visited again.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from tests.partners.test_federation_two_instances import (
    HOME_EESS,
    VISITED_EESS,
    ees,
    ees_ids,
    home_config,
    new_request_id,
    provision,
    roaming_request,
    visited_config,
)

if TYPE_CHECKING:
    from tests.federation import Instance

pytest_plugins = ["tests.federation"]

# EECs call without OAuth 2.0 tokens (not what this is about); callbacks go to 127.0.0.1.
SETTINGS = {"ECS_REQUIRE_AUTH": "0", "ECS_ALLOW_PRIVATE_CALLBACKS": "1"}
WAIT_SECONDS = 30


class Workers:
    """``manage.py run_worker`` for instances; stopped at teardown."""

    def __init__(self, workdir) -> None:
        self.workdir = workdir
        self.processes: list[tuple[str, subprocess.Popen]] = []

    def start(self, instance: Instance, **env: str) -> None:
        from tests.federation import PYTHON, REPO, _die_with_parent

        log = open(self.workdir / f"{instance.name}-worker.log", "ab")  # noqa: SIM115
        process = subprocess.Popen(
            [PYTHON, "manage.py", "run_worker", "--poll", "0.2"],
            cwd=REPO,
            env={**instance.env, **env},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        log.close()
        self.processes.append((instance.name, process))

    def logs(self) -> str:
        parts = []
        for name, _ in self.processes:
            path = self.workdir / f"{name}-worker.log"
            parts.append(f"--- {name} worker\n{path.read_text(errors='replace')[-5000:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        for _, process in self.processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)


@pytest.fixture
def workers(tmp_path) -> Iterator[Workers]:
    running = Workers(tmp_path)
    yield running
    running.stop()


def subscribing_home_config(visited: Instance) -> dict[str, Any]:
    config = home_config(visited)
    config["partners"][0]["subscribe"] = True
    return config


def visited_with(home: Instance, extra_ees: list[str]) -> dict[str, Any]:
    config = visited_config(home, lifetime=120)
    config["edns"][0]["eess"] += [ees(e) for e in extra_ees]
    return config


def requests_only(rows: list[dict]) -> list[dict]:
    """Inbound retrieval requests (not the subscription operations)."""
    return [r for r in rows if not r["reason"].startswith("subscription")]


def wait_until(condition, what: str, workers: Workers) -> Any:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"{what} within {WAIT_SECONDS} s\n{workers.logs()}")


def test_a_change_at_the_partner_refreshes_the_home_cache_without_a_new_request(
    federation, workers
):
    home, visited = federation.start("home", "visited", env=SETTINGS)
    federation.apply({home: subscribing_home_config(visited), visited: visited_with(home, [])})
    workers.start(home, ECS_PUBLIC_URL=home.url)
    workers.start(visited)

    first = provision(home, roaming_request(), new_request_id())
    assert ees_ids(first) == HOME_EESS + VISITED_EESS

    # Home's worker subscribes at visited for the cached query.
    created = wait_until(
        lambda: [
            r
            for r in visited.audit(direction="in")
            if r["reason"].startswith("subscription") and r["decision"] == "allowed"
        ],
        "home did not subscribe at visited",
        workers,
    )
    assert [r["partner"] for r in created] == ["ecs.home"]
    asked_before = requests_only(visited.audit(direction="in"))
    assert [r["status"] for r in asked_before] == [200]

    # An EES joins visited's EDN.
    visited.apply(visited_with(home, ["ees-visited-3"]))

    wait_until(
        lambda: [r for r in home.audit(direction="out") if r["reason"] == "partner notification"],
        "visited's notification did not reach home",
        workers,
    )
    request_id = new_request_id()
    later = provision(home, roaming_request(), request_id)

    assert ees_ids(later) == [*HOME_EESS, *VISITED_EESS, "ees-visited-3"]
    # Served from home's cache: visited was not asked again.
    assert requests_only(visited.audit(direction="in")) == asked_before
    served = [r for r in home.audit(direction="out") if r["requestId"] == request_id]
    assert [(r["partner"], r["cache"]) for r in served] == [("ecs.visited", "hit")]
