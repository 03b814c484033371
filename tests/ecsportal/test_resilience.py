"""Degrade, don't fail: Redis away or frozen, the database unreachable, a stale worker, a
request body that never comes.

Real sockets throughout: Redis is pointed at a closed loopback port, or at a listener that
accepts and never answers (a frozen Redis, as far as a client can tell); the database at a
place it cannot be opened; gunicorn runs with the project's ``gunicorn.conf.py``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
from django.db import OperationalError, connection
from django.test import Client, override_settings
from django.utils import timezone

from ecscore import cache as resilient
from ecscore import ratelimit
from ecscore.testing.processes import PYTHON, REPO, free_port, inherited_env
from notifications import worker
from notifications.models import WorkerHeartbeat
from tests.builders import configure_ecs, edge4_request, make_edn, make_ees, post_json

EDGE4 = "/eecs-serviceprovisioning/v1/request"
REGISTRATIONS = "/eecs-eesregistration/v1/registrations"
REGISTRATION = {
    "eesProf": {
        "eesId": "ees-during-outage",
        "endPt": {"uri": "https://ees.example"},
        "easIds": ["app.one"],
        "eecRegConf": False,
        "ednInfoSets": {"dnn": "edge.a"},
    }
}


def redis_caches(url: str) -> dict:
    def one(alias: str, fallback: str) -> dict:
        return {
            "BACKEND": "ecscore.cache.ResilientRedisCache",
            "LOCATION": url,
            "KEY_PREFIX": "ecs-resilience",
            "OPTIONS": {
                "SOCKET_CONNECT_TIMEOUT": 0.2,
                "SOCKET_TIMEOUT": 0.2,
                "ALIAS": alias,
                "FALLBACK": fallback,
            },
        }

    return {"default": one("default", "local"), "cachalot": one("cachalot", "miss")}


@contextlib.contextmanager
def silent_listener() -> Iterator[int]:
    """A port whose kernel completes the handshake and then nothing ever answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


@contextlib.contextmanager
def redis_at(url: str) -> Iterator[None]:
    from cachalot.settings import cachalot_settings

    resilient.circuit.reset()
    previous = cachalot_settings.CACHALOT_CACHE
    with override_settings(CACHES=redis_caches(url), REDIS_URL=url, CACHALOT_CACHE="cachalot"):
        cachalot_settings.CACHALOT_CACHE = "cachalot"
        try:
            yield
        finally:
            cachalot_settings.CACHALOT_CACHE = previous
            resilient.circuit.reset()
            ratelimit.reset_local()


def inventory() -> None:
    configure_ecs()
    edn = make_edn(edn_id="edn-1", dnn="edge.example")
    make_ees(edn, "ees-1", eas_ids=("app.one",))


def closed_port() -> int:
    return free_port()  # nothing listens there once free_port's probe closed it


@pytest.mark.django_db
@pytest.mark.parametrize("where", ["closed port", "silent listener"])
def test_edge4_answers_from_the_database_and_healthz_says_degraded(where):
    inventory()
    with contextlib.ExitStack() as stack:
        port = closed_port() if where == "closed port" else stack.enter_context(silent_listener())
        stack.enter_context(redis_at(f"redis://127.0.0.1:{port}/0"))
        client = Client()
        started = time.monotonic()
        answers = [post_json(client, EDGE4, edge4_request(eas_ids=["app.one"])) for _ in range(20)]
        elapsed = time.monotonic() - started
        health = client.get("/healthz")
    assert [a.status_code for a in answers] == [200] * 20
    assert "ees-1" in answers[-1].content.decode()
    # The circuit: at most one short timeout per retry interval, not one per cache call.
    assert elapsed < 3, f"20 requests took {elapsed:.2f} s with Redis {where}"
    assert health.status_code == 200
    assert health.json()["status"] == "degraded"
    assert health.json()["checks"] == {"database": "ok", "cache": "degraded"}


@pytest.mark.django_db
def test_rate_limits_count_per_process_while_redis_is_away():
    with silent_listener() as port, redis_at(f"redis://127.0.0.1:{port}/0"):
        results = [ratelimit.hit("resilience-test", 3) for _ in range(5)]
        assert resilient.circuit.degraded
    assert [allowed for allowed, _ in results] == [True, True, True, False, False]


@pytest.mark.django_db
def test_the_circuit_closes_when_redis_returns():
    """Redis "returns": the probe after the retry interval goes to a live server and the
    cache is shared again (a Redis of the suite when there is one; else skip)."""
    from django.conf import settings

    if not settings.REDIS_URL:
        pytest.skip("needs a Redis (REDIS_URL)")
    with redis_at(settings.REDIS_URL):
        from django.core.cache import cache

        resilient.circuit.failed(ConnectionError("simulated outage"))
        assert cache.get("resilience-probe") is None  # within the interval: not tried
        assert resilient.circuit.degraded
        time.sleep(resilient.RETRY_SECONDS + 0.1)
        cache.set("resilience-probe", "back", 10)
        assert not resilient.circuit.degraded
        assert cache.get("resilience-probe") == "back"


@pytest.mark.django_db(transaction=True)
def test_database_unreachable_answers_503_problem_details():
    if connection.vendor != "postgresql":
        # Django keeps SQLite's in-memory test database open for the whole run: it cannot be
        # taken away from under a request, and closing it would lose the other tests' tables.
        pytest.skip("needs a database server to point away from (the PostgreSQL run)")
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(closed_port()))
    try:
        client = Client()
        # A registration writes: no answer held in memory can stand in for the database.
        api = post_json(client, REGISTRATIONS, REGISTRATION)
        admin = client.post("/admin/login/", {"username": "x", "password": "y"})
        health = client.get("/healthz")
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
    for answer in (api, admin):
        assert answer.status_code == 503, answer.content[:300]
        assert answer["Content-Type"] == "application/problem+json"
        assert answer["Retry-After"].isdigit()
        assert answer.json()["cause"] == "SERVICE_UNAVAILABLE"
    assert health.status_code == 503
    assert health.json()["checks"]["database"] == "failing"


@pytest.mark.django_db
@override_settings(ECS_EXPECT_WORKER=True)
def test_healthz_reports_a_stale_worker_heartbeat():
    client = Client()
    assert client.get("/healthz").json()["checks"]["worker"] == "failing"  # none ever beat
    WorkerHeartbeat.objects.create(worker="w:1", beat_at=timezone.now() - dt.timedelta(minutes=2))
    stale = client.get("/healthz")
    assert stale.status_code == 503
    assert stale.json()["checks"]["worker"] == "failing"
    WorkerHeartbeat.objects.create(worker="w:2", beat_at=timezone.now())
    fresh = client.get("/healthz")
    assert fresh.status_code == 200
    assert fresh.json()["checks"]["worker"] == "ok"


@pytest.mark.django_db(transaction=True)
def test_worker_survives_database_errors_logs_once_and_beats(monkeypatch, caplog):
    real_claim = worker._claim
    calls = {"n": 0}

    def flaky_claim(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] <= 4:
            raise OperationalError("server closed the connection unexpectedly")
        return real_claim(*args, **kwargs)

    monkeypatch.setattr(worker, "_claim", flaky_claim)
    # The backoff doubles from 0.5 s: keep the test short.
    monkeypatch.setattr(worker.heartbeat, "BEAT_EVERY_SECONDS", 0.0)
    stop = threading.Event()
    caplog.set_level(logging.INFO, logger="notifications.worker")

    def run() -> None:
        try:
            worker.run(poll=0.05, stop=stop)
        finally:
            connection.close()  # the thread's own connection: the test database is dropped

    thread = threading.Thread(target=run)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not WorkerHeartbeat.objects.exists():
            time.sleep(0.1)
        assert thread.is_alive(), "the worker exited on a database error"
    finally:
        stop.set()
        thread.join(timeout=30)
    failed = [r for r in caplog.records if "worker pass failed" in r.getMessage()]
    recovered = [r for r in caplog.records if "recovered" in r.getMessage()]
    assert calls["n"] > 4
    assert len(failed) == 1, [r.getMessage() for r in failed]
    assert len(recovered) == 1
    assert not thread.is_alive()


def test_a_body_that_never_comes_is_dropped_by_gunicorn(tmp_path):
    port = free_port()
    env = inherited_env()
    env.update(
        DEBUG="1",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="1",
        GUNICORN_TIMEOUT="30",
        GUNICORN_BODY_TIMEOUT="2",
        DJANGO_SETTINGS_MODULE="ecsportal.settings",
    )
    env.pop("REDIS_URL", None)
    gunicorn = str(REPO / ".venv" / "bin" / "gunicorn")
    assert PYTHON  # the same environment's gunicorn
    process = subprocess.Popen(
        [gunicorn, "-c", "gunicorn.conf.py", "ecsportal.wsgi"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            assert time.monotonic() < deadline, "gunicorn did not start"
            assert process.poll() is None, "gunicorn exited"
            time.sleep(0.2)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
            client.sendall(
                b"POST " + EDGE4.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"eecId":'
            )
            started = time.monotonic()
            received = b""
            while chunk := client.recv(65536):
                received += chunk
            elapsed = time.monotonic() - started
    finally:
        process.terminate()
        process.wait(timeout=30)
    # Closed (after a 408, or without an answer) well within gunicorn's 30 s timeout.
    assert elapsed < 10, f"held for {elapsed:.1f} s"
    assert not received or received.startswith(b"HTTP/1.1 408"), received[:200]


@pytest.mark.django_db
@override_settings(DEBUG=True, ECS_METRICS_TOKEN="", ECS_METRICS_ALLOW=[])
def test_metrics_expose_the_degraded_cache():
    with silent_listener() as port, redis_at(f"redis://127.0.0.1:{port}/0"):
        from django.core.cache import cache

        cache.get("anything")
        text = Client().get("/metrics").content.decode()
    assert "ecs_cache_degraded 1" in text
