"""Change events: subscriptions are evaluated by the worker, from the index, never in the request.

A change to the inventory records an ``InventoryChange`` (its ``ChangeScope``) in its own
transaction; ``changes.process_pending()`` -- a chore of the worker -- evaluates only the
subscriptions the merged scopes can reach (``subscription_index``), and notifies those whose
answer changed. What is checked here:

* the property: after any change, the indexed evaluation notifies exactly the subscriptions,
  with exactly the bodies, that a full re-evaluation (``eec_subscriptions.evaluate_all()``,
  the oracle) would, and leaves every subscription with the same digest (random small
  inventories, subscriptions and change sequences, the same story run both ways);
* one EES registration among a few thousand subscriptions: the request evaluates nothing
  (it writes one change event, no notification, and as many queries with 10 subscriptions as
  with 2,000), and after the worker's pass exactly the affected subscribers receive exactly
  one notification each, at a real receiver on loopback;
* a worker killed with SIGKILL in the middle of an evaluation: once its lease lapses, a new
  worker finishes it; every affected subscription is notified once, no other; and, killed
  while it evaluates and delivers at once, every affected subscriber still receives its
  notification after a restart;
* the worker delivers what the first batches of a large change enqueued before the
  evaluation ends (PostgreSQL), and two workers deliver a fan-out without duplicates;
* a burst of changes to one EDN is evaluated once per subscription;
* a registration refresh (same profile, new expiry) records no change at all;
* ``manage.py ecs_reevaluate`` (the full re-evaluation, for after a restore) and its
  ``--pending``.

Hypothesis draws the same examples every run; ``ECS_PROPERTY_RANDOM=1`` draws new ones.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from ecscore.testing.processes import PYTHON, REPO, die_with_parent, inherited_env, run_manage
from notifications import worker
from notifications.models import DeliveryAttempt, Notification
from partners import served_subscriptions
from provisioning import bulk, changes, datamodel, eec_subscriptions, scope, subscription_index
from provisioning.models import EDN, EES, EECSubscription, EECSubscriptionKey, InventoryChange
from tests.builders import (
    REGISTRATIONS,
    Receiver,
    area,
    circle,
    configure_ecs,
    ees_profile,
    ees_registration,
    in_seconds,
    make_edn,
    make_ees,
    make_partner,
    make_policy,
    ncgi,
    plmn,
    polygon,
    post_json,
    send_json,
    serv_prov_subscription,
    tai,
    ue_at,
)

pytest_plugins = ["tests.federation"]

NOWHERE = "http://127.0.0.1:9/callbacks/eec"  # never delivered to in the property test


@pytest.fixture
def private_callbacks(monkeypatch):
    monkeypatch.setenv("ECS_ALLOW_PRIVATE_CALLBACKS", "1")


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


# --- helpers ----------------------------------------------------------------------------------


def bulk_subscribe(bodies: list[dict[str, Any]], days: int = 1) -> list[EECSubscription]:
    """EEC subscriptions as ``eec_subscriptions.create`` makes them (digest of the answer now,
    index keys), written in bulk: each distinct query is answered once."""
    digests: dict[Any, str] = {}
    expires = timezone.now() + dt.timedelta(days=days)
    subs = []
    for body in bodies:
        query = datamodel.provisioning_query(body)
        if query not in digests:
            digests[query] = eec_subscriptions.answer_digest(eec_subscriptions.answer_now(body))
        subs.append(
            EECSubscription(
                subscription_id=uuid.uuid4().hex,
                eec_id=body["eecId"],
                ue_id=body.get("ueId", ""),
                body=body,
                notification_destination=body["notificationDestination"],
                expires_at=expires,
                digest=digests[query],
            )
        )
    EECSubscription.objects.bulk_create(subs, batch_size=500)
    keys = [
        EECSubscriptionKey(subscription=sub, key=key)
        for sub in subs
        for key in subscription_index.keys_for(datamodel.provisioning_query(sub.body))
    ]
    EECSubscriptionKey.objects.bulk_create(keys, batch_size=1000)
    return subs


def deliver_everything(max_passes: int = 100) -> int:
    """``worker.deliver_due`` until nothing is due; returns how many attempts were made."""
    total = 0
    for _ in range(max_passes):
        attempts = worker.deliver_due()
        if not attempts:
            return total
        total += attempts
    raise AssertionError(f"still delivering after {max_passes} passes")


def stable(payload: dict[str, Any]) -> dict[str, Any]:
    """A ServProvNotification without what differs between two runs of the same story: the
    subscription id and the lifetimes (they move with the clock)."""
    return {
        "ednCnfgInfo": [
            {k: v for k, v in cfg.items() if k != "lifeTime"} for cfg in payload["ednCnfgInfo"]
        ]
    }


# --- the property: the indexed evaluation is the full re-evaluation ---------------------------

PLMN_A = plmn("001", "01")  # the home PLMN
PLMN_B = plmn("001", "02")
TAIS = [tai("0001"), tai("0002"), tai("0003", PLMN_B), tai("00fe")]  # the last one: no area
CELLS = [ncgi("000000001"), ncgi("000000002", PLMN_B), ncgi("0000000fe")]  # the last: no area
SQUARE = polygon((48.0, 11.0), (48.0, 11.3), (48.3, 11.3), (48.3, 11.0))
DISC = circle(48.6, 11.6, 15000)
AREAS: list[dict[str, Any] | None] = [
    None,
    area(tais=[TAIS[0]]),
    area(tais=[TAIS[1], TAIS[2]]),
    area(ncgis=[CELLS[0]]),
    area(tais=[TAIS[0]], ncgis=[CELLS[1]]),
    area(geo=[SQUARE]),
    area(geo=[DISC]),
    area(tais=[TAIS[1]], geo=[DISC]),
]
# Inside the square (two), just outside it, the disc's centre, inside the disc, outside it
# (about 18 km from its centre), far from everything. None within metres of a rim.
POINTS = [(48.1, 11.1), (48.25, 11.28), (48.45, 11.1), (48.6, 11.6), (48.65, 11.65)]
POINTS += [(48.6, 11.85), (49.5, 12.5)]
EES_APPS = [("app.a",), ("app.b",), ("app.a", "app.b"), ("app.c",)]
SUB_APPS = [(), ("app.a",), ("app.b",), ("app.c",), ("app.a", "app.c"), ("app.none",)]
EDN_PLMNS = [[], [PLMN_B], [PLMN_A]]
SUB_PLMNS = [(), (PLMN_A,), (PLMN_B,), (PLMN_A, PLMN_B)]
CHANGES = [
    "ees-created",
    "ees-area",
    "ees-apps",
    "ees-endpoint",
    "ees-deleted",
    "ees-moved",
    "edn-area",
    "edn-plmns",
]

small = st.integers(min_value=0, max_value=15)
edns = st.lists(
    st.tuples(st.sampled_from(range(len(AREAS))), st.sampled_from(range(len(EDN_PLMNS)))),
    min_size=1,
    max_size=3,
)
eess = st.lists(
    st.tuples(small, st.sampled_from(range(len(EES_APPS))), st.sampled_from(range(len(AREAS)))),
    max_size=4,
)
locations = st.one_of(
    st.none(),
    st.tuples(st.just("tai"), st.sampled_from(range(len(TAIS)))),
    st.tuples(st.just("cell"), st.sampled_from(range(len(CELLS)))),
    st.tuples(st.just("point"), st.sampled_from(range(len(POINTS)))),
)
subscriptions = st.lists(
    st.tuples(
        st.sampled_from(range(len(SUB_APPS))),
        locations,
        st.sampled_from(range(len(SUB_PLMNS))),
    ),
    min_size=2,
    max_size=10,
)
change_sequences = st.lists(
    st.tuples(st.sampled_from(CHANGES), small, small, small), min_size=1, max_size=8
)


def subscription_body(index: int, apps: int, location: Any, plmns: int) -> dict[str, Any]:
    body = serv_prov_subscription(NOWHERE, eas_ids=SUB_APPS[apps], eec_id=f"eec-{index}")
    if location is not None:
        kind, which = location
        if kind == "tai":
            body["locInf"] = ue_at(tai_=TAIS[which])
        elif kind == "cell":
            body["locInf"] = ue_at(cell=CELLS[which])
        else:
            body["locInf"] = ue_at(point=POINTS[which])
    if SUB_PLMNS[plmns]:
        body["connInfo"] = [{"plmnId": dict(p)} for p in SUB_PLMNS[plmns]]
    return body


def build_inventory(edn_specs, ees_specs) -> None:
    configure_ecs()
    made = [
        make_edn(f"edn-{i}", dnn=f"edge{i}.example", area_=AREAS[a], plmns=EDN_PLMNS[p])
        for i, (a, p) in enumerate(edn_specs)
    ]
    for j, (edn, apps, area_) in enumerate(ees_specs):
        make_ees(made[edn % len(made)], f"ees-{j}", eas_ids=EES_APPS[apps], area_=AREAS[area_])


def apply_change(step: int, change: tuple[str, int, int, int]) -> None:
    """One change through the models, as the admin, the API or ecs_apply make it."""
    kind, i, j, k = change
    all_edns = list(EDN.objects.order_by("edn_id"))
    all_eess = list(EES.objects.order_by("ees_id"))
    if kind == "ees-created":
        edn = all_edns[i % len(all_edns)]
        make_ees(
            edn, f"ees-new-{step}", eas_ids=EES_APPS[j % len(EES_APPS)], area_=AREAS[k % len(AREAS)]
        )
        return
    if kind.startswith("edn-"):
        edn = all_edns[i % len(all_edns)]
        if kind == "edn-area":
            edn.edn_topo_srv_area = AREAS[j % len(AREAS)]
        else:
            edn.plmns = EDN_PLMNS[j % len(EDN_PLMNS)]
        edn.save()
        return
    if not all_eess:
        return  # nothing to change: no event, nothing to notify
    ees = all_eess[i % len(all_eess)]
    if kind == "ees-deleted":
        ees.delete()
        return
    if kind == "ees-area":
        ees.svc_area = AREAS[j % len(AREAS)]
    elif kind == "ees-apps":
        ees.eas_ids = list(EES_APPS[j % len(EES_APPS)])
    elif kind == "ees-endpoint":
        ees.end_pt = {"uri": f"https://{ees.ees_id}-{step}.example/eees"}
    else:  # moved
        ees.edn = all_edns[j % len(all_edns)]
    ees.save()


def indexed() -> None:
    """What the worker does: the pending change events, from the index."""
    changes.process_pending()
    assert changes.pending() == 0


def full_reevaluation() -> None:
    """The oracle: no change events, every subscription evaluated again."""
    InventoryChange.objects.all().delete()
    eec_subscriptions.evaluate_all()


def story(edn_specs, ees_specs, sub_specs, sequence, evaluate: Callable[[], None]) -> list:
    """Build the world, subscribe, make the changes; after each, ``evaluate`` and note who was
    notified of what and every subscription's digest: ``({eecId: body}, {eecId: digest})``
    per change."""
    try:
        build_inventory(edn_specs, ees_specs)
        InventoryChange.objects.all().delete()
        for index, spec in enumerate(sub_specs):
            eec_subscriptions.create(subscription_body(index, *spec), None)
        eec_of = dict(EECSubscription.objects.values_list("subscription_id", "eec_id"))
        steps = []
        for step, change in enumerate(sequence):
            last = Notification.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
            apply_change(step, change)
            evaluate()
            sent = [
                (eec_of[n.subscription], stable(n.payload))
                for n in Notification.objects.filter(pk__gt=last).order_by("pk")
            ]
            notified = dict(sent)
            assert len(notified) == len(sent), f"notified twice for one change: {sent}"
            # What each subscription was last told (or would be): what later changes compare to.
            digests = dict(EECSubscription.objects.values_list("eec_id", "digest"))
            steps.append((notified, digests))
        return steps
    finally:
        EDN.objects.all().delete()
        EECSubscription.objects.all().delete()
        Notification.objects.all().delete()
        InventoryChange.objects.all().delete()


@pytest.mark.django_db
@settings(
    max_examples=40,
    deadline=None,
    database=None,
    # The same examples every CI run; ECS_PROPERTY_RANDOM=1 draws new ones.
    derandomize=os.environ.get("ECS_PROPERTY_RANDOM") != "1",
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(edn_specs=edns, ees_specs=eess, sub_specs=subscriptions, sequence=change_sequences)
# The EDN's area moves away from a subscriber and back (the area it had is in the scope too).
@example(
    edn_specs=[(1, 0)],
    ees_specs=[(0, 0, 0)],
    sub_specs=[(1, ("tai", 0), 0), (1, ("tai", 1), 0)],
    sequence=[("edn-area", 0, 2, 0), ("edn-area", 0, 1, 0)],
)
# An EES without an area of its own moves to an EDN with another area, and back.
@example(
    edn_specs=[(1, 0), (3, 0)],
    ees_specs=[(0, 0, 0)],
    sub_specs=[(1, ("tai", 0), 0), (1, ("cell", 0), 0), (0, None, 0)],
    sequence=[("ees-moved", 0, 1, 0), ("ees-moved", 0, 0, 0)],
)
# The EDN's PLMNs change: subscribers asking for a serving PLMN gain it, then lose it.
@example(
    edn_specs=[(0, 0)],
    ees_specs=[(0, 0, 0)],
    sub_specs=[(1, None, 2), (1, None, 1), (0, ("point", 0), 3)],
    sequence=[("edn-plmns", 0, 1, 0), ("edn-plmns", 0, 0, 0)],
)
def test_indexed_evaluation_notifies_what_a_full_reevaluation_would(
    private_callbacks, edn_specs, ees_specs, sub_specs, sequence
):
    got = story(edn_specs, ees_specs, sub_specs, sequence, indexed)
    want = story(edn_specs, ees_specs, sub_specs, sequence, full_reevaluation)
    notifying = sum(bool(w) for w, _ in want)
    event(f"changes that notified somebody: {'none' if not notifying else 'some'}")
    event(f"share of the changes that notified somebody: {round(4 * notifying / len(want)) / 4}")
    for step, (change, (g, g_digests), (w, w_digests)) in enumerate(
        zip(sequence, got, want, strict=True)
    ):
        assert sorted(g) == sorted(w), (
            f"change {step} {change}: notified {sorted(g)}, a full re-evaluation {sorted(w)}"
        )
        assert g == w, f"change {step} {change}: other notification bodies"
        stale = sorted(k for k in w_digests if g_digests[k] != w_digests[k])
        assert not stale, f"change {step} {change}: not evaluated though their answer changed"


# --- one registration among thousands of subscriptions ----------------------------------------

REG_CELLS = [ncgi(f"{0x100 + i:09x}") for i in range(10)]
REG_APP = "app.reg"


def spread_bodies(destination: str, start: int, count: int) -> list[dict[str, Any]]:
    """Half for an application no EES serves, half for ``REG_APP``; over ``REG_CELLS``."""
    bodies = []
    for n in range(start, start + count):
        app = REG_APP if n % 2 else "app.unserved"
        cell = REG_CELLS[(n // 2) % len(REG_CELLS)]
        bodies.append(
            serv_prov_subscription(
                destination, eas_ids=[app], eec_id=f"eec-{n}", locInf=ue_at(cell=cell)
            )
        )
    return bodies


def affected_by_registration(sub: EECSubscription) -> bool:
    """For REG_APP in one of the registered EES's cells (the first two)."""
    cell = sub.body["locInf"]["userLocation"]["nrLocation"]["ncgi"]
    return sub.body["acProfs"][0]["eass"] == [{"easId": REG_APP}] and cell in REG_CELLS[:2]


def registration_body() -> dict[str, Any]:
    profile = ees_profile(
        "ees-reg",
        eas_ids=[REG_APP],
        dnn="edge.example",
        svcArea={"topServAr": {"ncgis": [dict(c) for c in REG_CELLS[:2]]}},
    )
    return ees_registration(profile, in_seconds(3600))


@pytest.mark.django_db
def test_a_change_looks_up_only_subscriptions_that_match_it_on_both_keys():
    subs = bulk_subscribe(spread_bodies("https://receiver.example/cb", 0, 400))
    area = {"nwAreaInfo": {"ncgis": [dict(c) for c in REG_CELLS[:2]]}}  # as the EES stores it

    # An application nobody asks for, in the cells where every subscription is: one index
    # probe per statement, and nothing comes back to be evaluated.
    nobody = scope.of_ees(["app.nobody"], area, None)
    with CaptureQueriesContext(connection) as queries:
        assert list(subscription_index.candidate_ids(EECSubscriptionKey, nobody)) == []
    assert len(queries) == 1

    # The registered application there: exactly the subscriptions it can affect.
    reached = scope.of_ees([REG_APP], area, None)
    found = [
        pk for ids in subscription_index.candidate_ids(EECSubscriptionKey, reached) for pk in ids
    ]
    assert sorted(found) == sorted(sub.pk for sub in subs if affected_by_registration(sub))
    assert found


@pytest.mark.django_db
def test_a_registration_evaluates_nothing_and_the_worker_notifies_exactly_the_affected(
    client, receiver, private_callbacks, monkeypatch
):
    configure_ecs()
    # The EDN lists its PLMN: the registration does not change what the EDN serves (which
    # would bring every request its EESs answer into the change's scope).
    edn = make_edn("edn-a", dnn="edge.example", plmns=[PLMN_A])
    make_ees(edn, "ees-conf", eas_ids=["app.other"])
    bulk_subscribe(spread_bodies(receiver.url, 0, 10))
    InventoryChange.objects.all().delete()

    def register() -> tuple[str, int]:
        # Counted without cachalot (inside the test's transaction it would spare the second
        # registration a read the first one cached).
        with bulk.cachalot_reads_off(), CaptureQueriesContext(connection) as queries:
            response = post_json(client, REGISTRATIONS, registration_body())
        assert response.status_code == 201, response.content
        # The request recorded the change and evaluated nothing.
        assert InventoryChange.objects.count() == 1
        assert not Notification.objects.exists()
        return response["Location"].removeprefix("http://testserver"), len(queries)

    path, with_10 = register()
    assert client.delete(path).status_code == 204
    assert changes.process_pending() == 0  # registered and gone: every answer as it was
    assert not Notification.objects.exists()

    bulk_subscribe(spread_bodies(receiver.url, 10, 1990))
    assert EECSubscription.objects.count() == 2000
    _, with_2000 = register()
    assert with_2000 == with_10, "the registration's queries grow with the subscriptions"

    affected = {
        s.subscription_id for s in EECSubscription.objects.all() if affected_by_registration(s)
    }
    assert len(affected) == 200  # REG_APP in 2 of the 10 cells
    looked_at: list[int] = []
    real_batch = eec_subscriptions._evaluate_batch

    def evaluate_batch(ids, answers):
        looked_at.extend(ids)
        return real_batch(ids, answers)

    monkeypatch.setattr(eec_subscriptions, "_evaluate_batch", evaluate_batch)
    assert changes.process_pending() == len(affected)
    # From the index: only those were even looked at, not the other 1,800.
    looked_at_ids = EECSubscription.objects.filter(pk__in=looked_at)
    assert set(looked_at_ids.values_list("subscription_id", flat=True)) == affected
    assert len(looked_at) == len(affected)
    assert deliver_everything() == len(affected)
    received = Counter(d["body"]["subId"] for d in receiver.wait_for(len(affected), timeout=30))
    assert set(received) == affected
    assert set(received.values()) == {1}
    assert all(
        [e["eesId"] for cfg in d["body"]["ednCnfgInfo"] for e in cfg["eess"]] == ["ees-reg"]
        for d in receiver.deliveries
    )
    assert changes.pending() == 0
    assert not Notification.objects.exclude(state=Notification.DELIVERED).exists()


# --- a worker killed in the middle of an evaluation -------------------------------------------

CRASH_CELL, QUIET_CELL = ncgi("000000c01"), ncgi("000000c02")
CRASH_AFFECTED = 3000
CRASH_UNAFFECTED = 1000
CRASH_BATCH = 10  # subscriptions per transaction: a pass is hundreds of commits
CHANGE_LEASE = 2.0
CRASH_SETUP = """
from tests.provisioning.test_change_events import crash_setup
crash_setup({destination!r})
"""


def crash_setup(destination: str) -> None:
    """In the subprocess: subscriptions, then one change that affects CRASH_AFFECTED of them
    (pending: no worker ran yet)."""
    configure_ecs()
    edn = make_edn("edn-a", dnn="edge.example")
    bodies = [
        serv_prov_subscription(
            destination, eas_ids=["app.x"], eec_id=f"affected-{n}", locInf=ue_at(cell=CRASH_CELL)
        )
        for n in range(CRASH_AFFECTED)
    ]
    for n in range(CRASH_UNAFFECTED):
        app, cell = ("app.x", QUIET_CELL) if n % 2 else ("app.y", CRASH_CELL)
        bodies.append(
            serv_prov_subscription(
                destination, eas_ids=[app], eec_id=f"quiet-{n}", locInf=ue_at(cell=cell)
            )
        )
    bulk_subscribe(bodies)
    InventoryChange.objects.all().delete()
    make_ees(edn, "ees-x", eas_ids=["app.x"], area_=area(ncgis=[CRASH_CELL]))
    assert InventoryChange.objects.count() == 1


class RawDatabase:
    """The workers' database, read from the test process without Django."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme == "sqlite":
            self.conn: Any = sqlite3.connect(parts.path, timeout=20)
        else:
            import psycopg

            self.conn = psycopg.connect(url, autocommit=True)

    def rows(self, sql: str) -> list[tuple]:
        cursor = self.conn.cursor()
        try:
            cursor.execute(sql)
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def scalar(self, sql: str) -> Any:
        return self.rows(sql)[0][0]

    def close(self) -> None:
        self.conn.close()


NOTIFIED = f"SELECT count(*) FROM {Notification._meta.db_table}"
PENDING_EVENTS = f"SELECT count(*) FROM {InventoryChange._meta.db_table}"
LEASED_EVENTS = f"{PENDING_EVENTS} WHERE leased_until IS NOT NULL"
CREATED = f"SELECT created FROM {Notification._meta.db_table} ORDER BY id"
PER_SUBSCRIPTION = (
    f"SELECT s.eec_id, count(n.id) FROM {EECSubscription._meta.db_table} s "
    f"LEFT JOIN {Notification._meta.db_table} n ON n.subscription = s.subscription_id "
    "GROUP BY s.eec_id"
)


def as_datetime(value: Any) -> dt.datetime:
    """A timestamp as the database driver returns it (SQLite: text)."""
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)


class Worker:
    """``manage.py run_worker`` in a subprocess, its output in a file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115  (closed in kill/stop)
        self.process = subprocess.Popen(
            [PYTHON, "manage.py", "run_worker", "--poll", "0.2"],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent if sys.platform == "linux" else None,
        )

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)  # no clean-up of any kind
        self.process.wait(timeout=10)
        self._log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


def wait_until(
    condition: Callable[[], bool], timeout: float, what: str, workers: Iterable[Worker] = ()
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            logs = "\n".join(w.log() for w in workers)
            raise AssertionError(f"{what} within {timeout:g} s\n{logs}")
        time.sleep(0.002)


@pytest.fixture
def worker_env(federation_databases, tmp_path):
    """The environment of the workers: a migrated database of their own (PostgreSQL when the
    test run's DATABASE_URL is one, else an SQLite file), small batches, a short lease."""
    url = federation_databases.create("changes", tmp_path)
    prefix = f"ecs-test-changes-{uuid.uuid4().hex[:8]}"
    env = inherited_env()
    env.update(
        DJANGO_SETTINGS_MODULE="ecsportal.settings",
        SECRET_KEY=secrets.token_urlsafe(40),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=url,
        CACHE_KEY_PREFIX=prefix,
        ECS_VAR_DIR=str(tmp_path / "var"),
        ECS_ALLOW_PRIVATE_CALLBACKS="1",
        ECS_EVALUATION_BATCH=str(CRASH_BATCH),
        ECS_CHANGE_LEASE_SECONDS=str(CHANGE_LEASE),
        PYTHONUNBUFFERED="1",
    )
    if os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = os.environ["REDIS_URL"]
    yield env
    federation_databases.drop(url)
    if os.environ.get("REDIS_URL"):
        import redis

        client = redis.Redis.from_url(os.environ["REDIS_URL"])
        try:
            keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


def test_a_worker_killed_mid_evaluation_leaves_nobody_unnotified(worker_env, tmp_path, receiver):
    run_manage(
        ["shell", "-c", CRASH_SETUP.format(destination=receiver.url)],
        worker_env,
        timeout=300,
        what="setting up",
        error=AssertionError,
    )
    db = RawDatabase(worker_env["DATABASE_URL"])
    started: list[Worker] = []
    try:
        assert db.scalar(PENDING_EVENTS) == 1
        first = Worker(worker_env, tmp_path / "worker-1.log")
        started.append(first)
        # The first batch committed: kill it there, thousands of subscriptions still to go.
        wait_until(lambda: db.scalar(NOTIFIED) > 0, 120, "no notification", started)
        first.kill()
        at_kill = db.scalar(NOTIFIED)
        assert 0 < at_kill < CRASH_AFFECTED, f"{at_kill} notified before the kill"
        assert db.scalar(LEASED_EVENTS) == 1  # still there, under the dead worker's lease

        killed_at = time.monotonic()
        second = Worker(worker_env, tmp_path / "worker-2.log")
        started.append(second)
        wait_until(lambda: db.scalar(PENDING_EVENTS) == 0, 120, "event not evaluated", started)
        finished = time.monotonic() - killed_at
        per_subscription = dict(db.rows(PER_SUBSCRIPTION))
        created = [as_datetime(row[0]) for row in db.rows(CREATED)]
        print(
            f"\nkilled with {at_kill} of {CRASH_AFFECTED} notified (batches of {CRASH_BATCH}); "
            f"the next worker finished {finished:.1f} s after the kill (lease {CHANGE_LEASE:g} s)"
        )
    finally:
        for process in started:
            if process.process.poll() is None:
                process.stop()
        db.close()

    affected = {k: v for k, v in per_subscription.items() if k.startswith("affected-")}
    quiet = {k: v for k, v in per_subscription.items() if k.startswith("quiet-")}
    assert (len(affected), len(quiet)) == (CRASH_AFFECTED, CRASH_UNAFFECTED)
    never = sorted(k for k, v in affected.items() if v == 0)
    assert not never, f"{len(never)} affected subscriptions never notified, e.g. {never[:5]}"
    # Digests are committed with the notifications: what the dead worker notified is not
    # notified again.
    assert set(affected.values()) == {1}
    assert set(quiet.values()) == {0}
    # The new worker took the event over only once the dead one's lease had lapsed.
    gap = (created[at_kill] - created[at_kill - 1]).total_seconds()
    assert gap >= CHANGE_LEASE - 0.5, f"taken over {gap:.2f} s after the last notification"


# --- deliveries while the evaluation goes on, after a crash, by two workers -----------------

SUBSCRIPTION_IDS = f"SELECT subscription_id, eec_id FROM {EECSubscription._meta.db_table}"
ATTEMPTS = f"SELECT count(*) FROM {DeliveryAttempt._meta.db_table}"
FIRST_ATTEMPT = f"SELECT min(at) FROM {DeliveryAttempt._meta.db_table}"
LAST_ENQUEUED = f"SELECT max(created) FROM {Notification._meta.db_table}"


def set_up_fan_out(env: dict[str, str], receiver: Receiver) -> RawDatabase:
    """``crash_setup`` in a subprocess; the workers' database, opened."""
    run_manage(
        ["shell", "-c", CRASH_SETUP.format(destination=receiver.url)],
        env,
        timeout=300,
        what="setting up",
        error=AssertionError,
    )
    db = RawDatabase(env["DATABASE_URL"])
    assert db.scalar(PENDING_EVENTS) == 1
    return db


def received_by_group(receiver: Receiver, db: RawDatabase) -> dict[str, Counter]:
    """Deliveries per subscription (its eec_id), apart for the affected and the quiet."""
    eec_of = dict(db.rows(SUBSCRIPTION_IDS))
    counts = Counter(eec_of[body["subId"]] for body in receiver.bodies() if isinstance(body, dict))
    return {
        group: Counter({k: v for k, v in counts.items() if k.startswith(group)})
        for group in ("affected-", "quiet-")
    }


def all_received(receiver: Receiver) -> Callable[[], bool]:
    # A body cut short by the kill reaches the receiver as raw bytes: not a delivery.
    return lambda: (
        len({body["subId"] for body in receiver.bodies() if isinstance(body, dict)})
        >= CRASH_AFFECTED
    )


def test_a_worker_killed_mid_evaluation_still_gets_every_notification_delivered(
    worker_env, tmp_path, receiver
):
    """Killed while it evaluates and delivers at once: after a restart every affected
    subscriber receives its notification (some maybe twice: those in flight at the kill)."""
    if not worker_env["DATABASE_URL"].startswith("postgres"):
        # SQLite delivers only after the evaluation (one writer at a time): no moment has
        # both under way. The kill mid-evaluation alone is tested above, on both databases.
        pytest.skip("needs PostgreSQL: SQLite serializes the two loops' writes")
    env = {**worker_env, "ECS_NOTIFICATION_LEASE_SECONDS": "3"}  # the dead worker's claims
    db = set_up_fan_out(env, receiver)
    started: list[Worker] = []
    try:
        first = Worker(env, tmp_path / "worker-1.log")
        started.append(first)
        # Deliveries under way while the evaluation is far from done: kill it there.
        wait_until(lambda: len(receiver.bodies()) > 0, 120, "no delivery", started)
        first.kill()
        assert db.scalar(NOTIFIED) < CRASH_AFFECTED, "the evaluation was over before the kill"
        assert db.scalar(PENDING_EVENTS) == 1
        second = Worker(env, tmp_path / "worker-2.log")
        started.append(second)
        wait_until(all_received(receiver), 180, "not every affected one received", started)
        wait_until(lambda: db.scalar(PENDING_EVENTS) == 0, 60, "event not finished", started)
        groups = received_by_group(receiver, db)
    finally:
        for process in started:
            if process.process.poll() is None:
                process.stop()
        db.close()
    assert len(groups["affected-"]) == CRASH_AFFECTED
    assert not groups["quiet-"]


def test_deliveries_start_before_a_large_evaluation_ends(worker_env, tmp_path, receiver):
    """The worker delivers what the first batches of a change enqueued while it still
    evaluates the rest (batches of CRASH_BATCH: hundreds of commits)."""
    if not worker_env["DATABASE_URL"].startswith("postgres"):
        # SQLite has one writer at a time: the evaluation's back-to-back batch transactions
        # keep the delivery loop's claim waiting on the lock, so on the embedded default the
        # deliveries follow the evaluation (as they did before the two loops).
        pytest.skip("needs PostgreSQL: SQLite serializes the two loops' writes")
    db = set_up_fan_out(worker_env, receiver)
    process = Worker(worker_env, tmp_path / "worker.log")
    try:
        wait_until(all_received(receiver), 180, "not every affected one received", [process])
        wait_until(lambda: db.scalar(PENDING_EVENTS) == 0, 60, "event not finished", [process])
        first_attempt = as_datetime(db.scalar(FIRST_ATTEMPT))
        last_enqueued = as_datetime(db.scalar(LAST_ENQUEUED))
        groups = received_by_group(receiver, db)
    finally:
        process.stop()
        db.close()
    assert first_attempt < last_enqueued, (first_attempt, last_enqueued)
    assert set(groups["affected-"].values()) == {1}
    assert not groups["quiet-"]


def test_two_workers_share_a_fan_out_without_duplicates(worker_env, tmp_path, receiver):
    db = set_up_fan_out(worker_env, receiver)
    started = [Worker(worker_env, tmp_path / f"worker-{n}.log") for n in (1, 2)]
    try:
        wait_until(all_received(receiver), 180, "not every affected one received", started)
        wait_until(lambda: db.scalar(PENDING_EVENTS) == 0, 60, "event not finished", started)
        time.sleep(1)  # anything more than expected?
        groups = received_by_group(receiver, db)
        attempts = db.scalar(ATTEMPTS)
    finally:
        for process in started:
            process.stop()
        db.close()
    assert len(groups["affected-"]) == CRASH_AFFECTED
    duplicated = sorted(k for k, v in groups["affected-"].items() if v > 1)
    assert not duplicated, f"{len(duplicated)} delivered twice, e.g. {duplicated[:5]}"
    assert attempts == CRASH_AFFECTED
    assert not groups["quiet-"]


# --- a burst of changes is evaluated once ------------------------------------------------------

TAI_A, TAI_B, TAI_C, TAI_D = tai("0a01"), tai("0a02"), tai("0a03"), tai("0a04")


@pytest.mark.django_db
def test_a_burst_of_changes_to_one_edn_is_evaluated_once_per_subscription(
    private_callbacks, monkeypatch
):
    configure_ecs()
    edn = make_edn("edn-a", dnn="edge.example", area_=area(tais=[TAI_A]))
    make_ees(edn, "ees-1", eas_ids=["app.one"])
    groups = {
        "left": (TAI_A, "app.one"),  # the EDN's area before the burst, not after
        "back": (TAI_B, "app.one"),  # in it now and then during the burst, not after
        "gained": (TAI_C, "app.one"),  # where it ends up
        "gained-any-app": (TAI_C, None),
        "elsewhere": (TAI_D, "app.one"),  # never in it
        "other-app": (TAI_C, "app.two"),
    }
    bodies = [
        serv_prov_subscription(
            NOWHERE,
            eas_ids=[app] if app else [],
            eec_id=f"{group}/{copy}",
            ueId=f"ue-{copy}",  # each its own query in its group: none shares an answer
            locInf=ue_at(tai_=where),
        )
        for group, (where, app) in groups.items()
        for copy in range(5)
    ]
    bulk_subscribe(bodies)
    InventoryChange.objects.all().delete()

    for n in range(100):  # B, C, B, C, ... ending with C
        edn.edn_topo_srv_area = area(tais=[TAI_B if n % 2 == 0 else TAI_C])
        edn.save()
    assert InventoryChange.objects.count() == 100

    evaluated: Counter[str] = Counter()
    real = eec_subscriptions.answer_now

    def counting(body):
        evaluated[body["eecId"]] += 1
        return real(body)

    monkeypatch.setattr(eec_subscriptions, "answer_now", counting)
    notified = changes.process_pending()
    assert changes.pending() == 0

    def members(*names: str) -> set[str]:
        return {b["eecId"] for b in bodies if b["eecId"].split("/")[0] in names}

    # Once each; where the EDN never was, or for another application: not at all.
    assert evaluated == Counter(members("left", "back", "gained", "gained-any-app"))
    gained = members("gained", "gained-any-app")  # the others lost the EES or are as before
    per_sub = Counter(
        EECSubscription.objects.get(subscription_id=n.subscription).eec_id
        for n in Notification.objects.all()
    )
    assert per_sub == Counter(gained)
    assert notified == len(gained)
    evaluated.clear()
    assert changes.process_pending() == 0 and not evaluated  # nothing left over


# --- a registration refresh changes nothing ---------------------------------------------------


@pytest.mark.django_db
def test_a_registration_refresh_records_no_change(client, private_callbacks):
    configure_ecs()
    edn = make_edn("edn-a", dnn="edge.example")
    make_ees(edn, "ees-conf", eas_ids=["app.one"])
    eec_subscriptions.create(serv_prov_subscription(NOWHERE), None)
    profile = ees_profile("ees-reg", dnn="edge.example")
    created = post_json(client, REGISTRATIONS, ees_registration(profile, in_seconds(600)))
    assert created.status_code == 201
    path = created["Location"].removeprefix("http://testserver")
    assert changes.process_pending() == 1  # the registration itself: notified
    Notification.objects.all().delete()
    before = EES.objects.get(ees_id="ees-reg").expires_at

    refreshed = send_json(client, "PUT", path, ees_registration(profile, in_seconds(3600)))
    assert refreshed.status_code == 200
    assert EES.objects.get(ees_id="ees-reg").expires_at > before  # the refresh took
    assert InventoryChange.objects.count() == 0
    assert changes.process_pending() == 0
    assert not Notification.objects.exists()

    # Whereas a real change to the profile is recorded (and notified).
    moved = ees_profile("ees-reg", dnn="edge.example", endPt={"uri": "https://moved.example"})
    assert send_json(client, "PUT", path, ees_registration(moved)).status_code == 200
    assert InventoryChange.objects.count() == 1
    assert changes.process_pending() == 1


# --- manage.py ecs_reevaluate ------------------------------------------------------------------


def reevaluate(*args: str) -> str:
    out = io.StringIO()
    call_command("ecs_reevaluate", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_ecs_reevaluate_notifies_what_changed_without_change_events(private_callbacks):
    configure_ecs()
    edn = make_edn("edn-a", dnn="edge.example")
    make_ees(edn, "ees-conf", eas_ids=["app.one"])
    for n, app in enumerate(["app.one", "app.one", "app.two"]):
        eec_subscriptions.create(serv_prov_subscription(NOWHERE, [app], f"eec-{n}"), None)
    partner = make_partner("ecs.partner.example", outbound_token="we-present-this")
    make_policy(partner)
    partner_body = {
        "reqEcsId": "ecs.partner.example",
        "notificationDestination": "http://127.0.0.1:9/partner/notifications",
        "acProfs": [{"acId": "ac-1", "eass": [{"easId": "app.one"}]}],
    }
    partner_sub = served_subscriptions.create(partner, partner_body)
    InventoryChange.objects.all().delete()
    assert reevaluate() == "Evaluated every subscription again: notified 0 subscriptions.\n"

    # A restore brought back an inventory the subscriptions were not notified of, and no
    # change events: only the full re-evaluation finds them.
    EES.objects.filter(ees_id="ees-conf").update(end_pt={"uri": "https://restored.example"})
    assert changes.process_pending() == 0
    assert reevaluate() == "Evaluated every subscription again: notified 3 subscriptions.\n"
    eec_of = dict(EECSubscription.objects.values_list("subscription_id", "eec_id"))
    eec_of[partner_sub.subscription_id] = "partner"
    notified = {eec_of[n.subscription]: n.kind for n in Notification.objects.all()}
    assert notified == {
        "eec-0": "eec-subscription",
        "eec-1": "eec-subscription",
        "partner": "partner-subscription",
    }
    assert (
        reevaluate() == "Evaluated every subscription again: notified 0 subscriptions.\n"
    )  # digests caught up


@pytest.mark.django_db
def test_ecs_reevaluate_pending_processes_the_change_events_once(private_callbacks):
    configure_ecs()
    edn = make_edn("edn-a", dnn="edge.example")
    eec_subscriptions.create(serv_prov_subscription(NOWHERE), None)
    InventoryChange.objects.all().delete()
    assert reevaluate("--pending") == "No pending change events: notified 0 subscriptions.\n"

    make_ees(edn, "ees-1", eas_ids=["app.one"])
    make_ees(edn, "ees-2", eas_ids=["app.one"])
    assert InventoryChange.objects.count() == 2
    assert (
        reevaluate("--pending") == "Evaluated 2 pending change events: notified 1 subscription.\n"
    )
    assert InventoryChange.objects.count() == 0
    [notification] = Notification.objects.all()
    ees_ids = [e["eesId"] for cfg in notification.payload["ednCnfgInfo"] for e in cfg["eess"]]
    assert ees_ids == ["ees-1", "ees-2"]


def test_ecs_reevaluate_runs_as_a_command(worker_env):
    """The command as an operator runs it, in its own process, on a migrated database."""
    done = run_manage(["ecs_reevaluate"], worker_env, timeout=120, error=AssertionError)
    assert done.stdout.strip() == "Evaluated every subscription again: notified 0 subscriptions."
    done = run_manage(
        ["ecs_reevaluate", "--pending"], worker_env, timeout=120, error=AssertionError
    )
    assert done.stdout.strip() == "No pending change events: notified 0 subscriptions."


@pytest.mark.django_db
def test_a_long_pass_keeps_its_claim_on_the_events(settings, monkeypatch):
    """A pass longer than a third of the lease renews it, so no second worker takes the
    same events while the first still evaluates them."""
    settings.ECS_CHANGE_LEASE_SECONDS = 0.3
    InventoryChange.objects.all().delete()
    InventoryChange.objects.create(scope={"everything": True})
    seen: list[dt.datetime | None] = []

    def slow(scope, heartbeat) -> int:
        seen.append(InventoryChange.objects.get().leased_until)
        time.sleep(0.15)
        heartbeat()
        seen.append(InventoryChange.objects.get().leased_until)
        # Claimed and still ours: another worker finds nothing to take.
        assert changes._claim(10) == []
        return 0

    monkeypatch.setattr(changes, "_evaluators", {"slow": slow})
    changes.process_pending()
    first, renewed = seen
    assert first is not None and renewed is not None and renewed > first
    assert not InventoryChange.objects.exists()
