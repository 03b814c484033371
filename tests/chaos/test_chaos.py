"""Chaos: the portal under mixed load while its PostgreSQL and Redis stop, freeze and return.

One run for the module (``chaos``): the home ECS in production mode (gunicorn with
``gunicorn.conf.py``, ``run_worker``) on a PostgreSQL cluster and a Redis of the run's own,
a partner ECS for EDGE-10 and a notification receiver, while ``tests.chaos.load`` sends
EDGE-4, EDGE-6 and EDGE-10 traffic.  Meanwhile Redis is stopped (SIGTERM) and restarted,
then frozen (SIGSTOP) and thawed, then PostgreSQL is stopped (``pg_ctl stop -m fast``) and
restarted, then its postmaster and backends are frozen and thawed.  Each test is one thing
an operator checks afterwards:

* no 500 anywhere: every answer is 2xx, or -- while the database is away -- 503 with
  ``Retry-After`` and a ProblemDetails body; never a 4xx to a good request;
* no request hung past its deadline (``load.DEADLINE``), none went unanswered;
* every write acknowledged with 2xx is there afterwards;
* every notification owed reaches the receiver;
* the worker is alive at the end and ``/healthz`` is back to ok.

It brings its own servers, but it runs in the PostgreSQL + Redis pass of the suite (as the
soak does), and is skipped elsewhere: the partner ECS is made on the suite's own database
and Redis, and the run needs ``redis-server``, ``initdb``, ``postgres`` and ``pg_ctl``.

What each server said is in the run's temporary directory (``/tmp/ecs-chaos-*``, removed at
the end; ``ECS_CHAOS_KEEP=1`` keeps it); a failing test's report carries the run's summary
(answers by fault and kind) and, the first time, every server's log and its tracebacks.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator

import pytest
import requests

from tests.chaos import harness, load
from tests.chaos.conftest import RUN
from tests.chaos.run import DRAIN_SECONDS, HEALTHY_SECONDS, ChaosRun

pytest_plugins = ["tests.federation"]

_PG_AND_REDIS = os.environ.get("DATABASE_URL", "").startswith("postgres") and bool(
    os.environ.get("REDIS_URL")
)
pytestmark = [
    pytest.mark.skipif(
        not _PG_AND_REDIS,
        reason="chaos tests run in the PostgreSQL + Redis pass (DATABASE_URL=postgres://..., "
        "REDIS_URL=redis://...), as production mode does",
    ),
    pytest.mark.skipif(
        bool(harness.missing_tools()),
        reason=f"chaos tests need server programs this machine lacks: {harness.missing_tools()}",
    ),
]

# Requests to the home ECS (the one whose servers fail); the others go to the partner.
HOME_KINDS = {
    "edge4-local",
    "edge4-roaming",
    "edge10-inbound",
    "edge6-discovery",
    "edge6-register",
    "edge6-read",
    "edge6-update",
    "edge6-deregister",
    "edge4-subscribe",
}
SHOWN = 25  # offending requests listed in a failure


@pytest.fixture(scope="module")
def chaos(request: pytest.FixtureRequest, federation_databases) -> Iterator[ChaosRun]:
    run = ChaosRun(federation_databases)
    request.config.stash[RUN] = run
    try:
        run.setup()
        run.chaos()
        print(run.summary())
        yield run
    finally:
        run.close()


def listing(records: list[load.Record], run: ChaosRun) -> str:
    assert run.load is not None
    shown = [f"  [{run.during(r)}] {r.line(run.load.origin)}" for r in records[:SHOWN]]
    more = f"\n  ... and {len(records) - SHOWN} more" if len(records) > SHOWN else ""
    return "\n".join(shown) + more


def records(run: ChaosRun) -> list[load.Record]:
    assert run.load is not None
    return run.load.records


def wait_healthy(run: ChaosRun, timeout: float) -> tuple[bool, str]:
    """Whether ``/healthz`` answers 200 ``ok`` within ``timeout``; the last answer seen."""
    assert run.portal is not None
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            response = requests.get(run.portal.url + "/healthz", timeout=5)
            last = f"{response.status_code} {response.text[:300]}"
            if response.status_code == 200 and response.json().get("status") == "ok":
                return True, last
        except (requests.RequestException, ValueError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.5)
    return False, last


def final_eess(run: ChaosRun, app: str) -> set[str]:
    """The EESs an EEC asking for ``app`` (anywhere) is provisioned with now."""
    assert run.portal is not None
    body = {"eecId": "eec-chaos-final", "acProfs": [{"acId": "ac-1", "eass": [{"easId": app}]}]}
    response = requests.post(run.portal.url + load.EDGE4, json=body, timeout=load.DEADLINE)
    assert response.status_code == 200, (
        f"final EDGE-4 for {app}: {response.status_code} " + (response.text[:500])
    )
    return set(load.ees_ids(response.json()))


# --- the answers during the chaos ----------------------------------------------------------------


def test_no_server_error_anywhere(chaos):
    """No 5xx but a database outage's 503, in our answers or in either server's access log."""
    ours = [r for r in records(chaos) if r.status >= 500 and r.status != 503]
    logged = [line for line in chaos.access_log_lines("5") if '" 503 ' not in line]
    assert not ours and not logged, (
        f"{len(ours)} answers 5xx other than 503:\n{listing(ours, chaos)}\n"
        f"{len(logged)} such lines in the access logs:\n" + "\n".join(logged[:SHOWN])
    )


def test_503_only_while_the_database_is_away_and_well_formed(chaos):
    """A 503 comes only during (or just after) a PostgreSQL fault, with ``Retry-After`` and
    ``application/problem+json``; during a Redis fault the portal answers from the database."""
    unavailable = [r for r in records(chaos) if r.status == 503 and r.kind != "healthz"]
    outside = [r for r in unavailable if r.kind not in HOME_KINDS or not chaos.in_database_fault(r)]
    malformed = [
        r
        for r in unavailable
        if not r.retry_after or not r.content_type.startswith("application/problem+json")
    ]
    assert not outside and not malformed, (
        f"{len(outside)} 503s outside a database fault:\n{listing(outside, chaos)}\n"
        f"{len(malformed)} 503s without Retry-After or ProblemDetails:\n"
        f"{listing(malformed, chaos)}"
    )


def test_no_request_hung_or_went_unanswered(chaos):
    """Every request got an answer within the client's deadline."""
    unanswered = [r for r in records(chaos) if r.status == 0]
    late = [r for r in records(chaos) if r.status and r.elapsed > load.DEADLINE]
    by_error = Counter(r.error.split(":")[0] for r in unanswered)
    assert not unanswered and not late, (
        f"{len(unanswered)} requests without an answer ({dict(by_error)}):\n"
        f"{listing(unanswered, chaos)}\n{len(late)} answers later than {load.DEADLINE:g} s:\n"
        f"{listing(late, chaos)}"
    )


def test_no_client_error_to_a_good_request_and_no_wrong_answer(chaos):
    """Every request the load sends is valid: a 4xx is the portal's error; so is a 2xx whose
    content is wrong (home's configured EESs missing, a registration not as written)."""
    client_errors = [r for r in records(chaos) if 400 <= r.status < 500]
    wrong = [r for r in records(chaos) if r.wrong]
    assert not client_errors and not wrong, (
        f"{len(client_errors)} answers 4xx:\n{listing(client_errors, chaos)}\n"
        f"{len(wrong)} wrong 2xx answers:\n{listing(wrong, chaos)}"
    )


# --- afterwards ----------------------------------------------------------------------------------


def test_every_acknowledged_write_is_there_afterwards(chaos):
    """Registrations that got 201 (and no acknowledged DELETE) read back as last written,
    acknowledged deletions stay deleted, acknowledged subscriptions are in the database, and
    the EDGE-4 answer follows the registrations."""
    healthy, last = wait_healthy(chaos, HEALTHY_SECONDS)
    assert healthy, f"/healthz not ok within {HEALTHY_SECONDS:g} s after the chaos: {last}"
    assert chaos.load is not None and chaos.portal is not None
    problems = []
    present = [r for r in chaos.load.registrations if r.state == "present"]
    deleted = [r for r in chaos.load.registrations if r.state == "deleted"]
    with requests.Session() as session:
        # What the load was told (201, then 204 for those it deleted) is what a GET reads back.
        for registration, expected in [(r, 200) for r in present] + [(r, 404) for r in deleted]:
            response = session.get(chaos.portal.url + registration.path, timeout=load.DEADLINE)
            if response.status_code != expected:
                problems.append(
                    f"registration {registration.ees_id} ({registration.state}): GET "
                    f"{registration.path} -> {response.status_code} {response.text[:200]}"
                )
            elif expected == 200 and (
                mismatch := load.registration_mismatch(registration, response)
            ):
                problems.append(f"registration {registration.ees_id}: {mismatch}")
    for app in load.SUB_APPS:
        provisioned = final_eess(chaos, app)
        for registration in present:
            if registration.app == app and registration.ees_id not in provisioned:
                problems.append(f"{registration.ees_id} registered for {app}, not provisioned")
        for registration in deleted:
            if registration.app == app and registration.ees_id in provisioned:
                problems.append(f"{registration.ees_id} deregistered, still provisioned")
    stored = {
        row[0]
        for row in chaos.postgres.query(
            "ecs_chaos", "SELECT subscription_id FROM provisioning_eecsubscription"
        )
    }
    for subscription in chaos.load.subscriptions:
        if subscription.sub_id not in stored:
            problems.append(f"subscription {subscription.sub_id} (201) is not in the database")
    in_doubt = sum(1 for r in chaos.load.registrations if r.state == "unknown")
    assert not problems, (
        f"{len(problems)} acknowledged writes missing or different (of {len(present)} "
        f"registrations present, {len(deleted)} deleted, {in_doubt} in doubt, "
        f"{len(chaos.load.subscriptions)} subscriptions):\n" + "\n".join(problems[:SHOWN])
    )
    assert present and deleted and chaos.load.subscriptions, "the load wrote too little to check"


def test_every_notification_owed_is_delivered(chaos):
    """Each acknowledged subscription got its test notification, and -- once one more EES
    registers for each application after the chaos -- a notification with exactly what an
    EEC is provisioned with now; the outbox holds nothing pending, nothing given up, and no
    change event is left unevaluated."""
    assert chaos.load is not None and chaos.portal is not None
    healthy, last = wait_healthy(chaos, HEALTHY_SECONDS)
    assert healthy, f"/healthz not ok within {HEALTHY_SECONDS:g} s after the chaos: {last}"
    for app in load.SUB_APPS:
        ees_id = f"ees-sentinel-{app.replace('.', '-')}"
        body = load.registration_body(ees_id, app, f"https://{ees_id}.example")
        response = requests.post(
            chaos.portal.url + load.REGISTRATIONS, json=body, timeout=load.DEADLINE
        )
        assert response.status_code == 201, f"sentinel {ees_id}: {response.status_code}"
    expected = {app: final_eess(chaos, app) for app in load.SUB_APPS}
    subscriptions = chaos.load.subscriptions
    assert subscriptions, "no subscription was acknowledged: nothing to check"

    deadline = time.monotonic() + DRAIN_SECONDS
    while True:
        bodies = chaos.receiver.bodies()
        tested = {b.get("subscription") for b in bodies if isinstance(b, dict)}
        latest: dict[str, set[str]] = {}
        for b in bodies:
            if isinstance(b, dict) and "subId" in b:
                latest[b["subId"]] = set(load.ees_ids(b))
        no_test = [s for s in subscriptions if s.location not in tested]
        stale = [s for s in subscriptions if latest.get(s.sub_id) != expected[s.app]]
        outbox = dict(
            chaos.postgres.query(
                "ecs_chaos", "SELECT state, count(*) FROM notifications_notification GROUP BY state"
            )
        )
        changes = chaos.postgres.query(
            "ecs_chaos", "SELECT count(*) FROM provisioning_inventorychange"
        )
        settled = not outbox.get("pending") and not outbox.get("given_up") and not changes[0][0]
        if (not no_test and not stale and settled) or time.monotonic() > deadline:
            break
        time.sleep(1)
    failures = []
    if no_test:
        failures.append(
            f"{len(no_test)} of {len(subscriptions)} subscriptions got no test notification: "
            + ", ".join(s.sub_id for s in no_test[:SHOWN])
        )
    for s in stale[:SHOWN]:
        failures.append(
            f"subscription {s.sub_id} ({s.app}): last notified "
            f"{sorted(latest[s.sub_id]) if s.sub_id in latest else 'nothing'}, "
            f"provisioned now {sorted(expected[s.app])}"
        )
    if not settled:
        rows = chaos.postgres.query(
            "ecs_chaos",
            "SELECT state, attempts, last_error FROM notifications_notification "
            "WHERE state <> 'delivered' ORDER BY id LIMIT 10",
        )
        failures.append(
            f"outbox by state {outbox}, change events left {changes[0][0]}; first undelivered "
            f"(state, attempts, last error): {rows}"
        )
    assert not failures, (
        f"after {DRAIN_SECONDS:g} s ({len(bodies)} deliveries received):\n" + "\n".join(failures)
    )


def test_the_worker_is_alive_and_healthz_is_ok(chaos):
    """The worker survived every fault, and ``/healthz`` says ok again."""
    assert chaos.worker is not None and chaos.portal is not None
    assert chaos.portal.alive(), "gunicorn exited"
    assert chaos.worker.alive(), (
        f"the worker exited with {chaos.worker.process.returncode if chaos.worker.process else '?'}"
    )
    healthy, last = wait_healthy(chaos, HEALTHY_SECONDS)
    assert healthy, f"/healthz not ok within {HEALTHY_SECONDS:g} s after the chaos: {last}"
