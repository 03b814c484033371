"""The outbox and its worker: delivery that loses nothing (docs/design-decisions.md, Notifications).

A notification is written to the outbox with the change that causes it and delivered by the
worker (``manage.py run_worker``): retried with exponential backoff, given up after
``ECS_NOTIFICATION_GIVE_UP_SECONDS``, every attempt logged and browsable in the admin.

The first tests drive the worker in-process (``deliver_due()``, the call its loop makes)
against real HTTP receivers on 127.0.0.1.  The last ones run it as it runs in production: an
ECS instance (``tests/federation.py``) and ``manage.py run_worker`` subprocesses on the same
database, one of them killed with SIGKILL in the middle of a delivery.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import statistics
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from django.utils import timezone

from notifications import worker
from notifications.models import Notification
from provisioning import changes
from tests.builders import (
    EDGE4_FILE,
    REGISTRATIONS,
    SUBSCRIPTIONS,
    Receiver,
    configure_ecs,
    ees_profile,
    ees_registration,
    make_edn,
    make_ees,
    post_json,
    serv_prov_subscription,
)
from tests.federation import PYTHON, REPO, free_port
from tests.openapi import assert_valid

if TYPE_CHECKING:
    from tests.federation import Federation, Instance

pytest_plugins = ["tests.federation"]


@pytest.fixture
def private_callbacks(monkeypatch):
    monkeypatch.setenv("ECS_ALLOW_PRIVATE_CALLBACKS", "1")


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def owe(db, client, private_callbacks):
    """owe(destination): a subscription to app.one at ``destination``, then a change (an EES
    registers) that the subscriber is owed a notification for; returns that notification."""
    configure_ecs()
    edn = make_edn("edn-a", dnn="edge.example")
    make_ees(edn, "ees-conf", eas_ids=["app.one"])
    count = 0

    def call(destination: str) -> Notification:
        nonlocal count
        count += 1
        body = serv_prov_subscription(destination, eec_id=f"eec-{count}")
        assert post_json(client, SUBSCRIPTIONS, body).status_code == 201
        registration = ees_registration(ees_profile(f"ees-reg-{count}"))
        assert post_json(client, REGISTRATIONS, registration).status_code == 201
        changes.process_pending()  # the worker evaluates the registration's change event
        return Notification.objects.filter(destination=destination).latest("pk")

    return call


def attempts(notification: Notification) -> list[tuple[int | None, str]]:
    """(status, error) of each attempt, oldest first."""
    return [(a.status, a.error) for a in notification.attempt_log.order_by("at", "pk")]


def make_due(notification: Notification) -> None:
    """Time passes until the next attempt is due."""
    Notification.objects.filter(pk=notification.pk).update(next_attempt_at=timezone.now())


# --- in-process: retries, give-up, refusals ---------------------------------------------------


@override_settings(ECS_NOTIFICATION_MAX_BACKOFF=3)
def test_a_failing_receiver_gets_retries_with_growing_backoff(owe, receiver):
    receiver.status = 500
    notification = owe(receiver.url)
    assert (notification.state, notification.attempts) == (Notification.PENDING, 0)

    gaps = []
    for _ in range(4):
        make_due(notification)
        assert worker.deliver_due() == 1
        notification.refresh_from_db()
        last = notification.attempt_log.latest("at", "pk")
        assert (last.status, last.error) == (500, "HTTP 500")
        assert worker.deliver_due() == 0  # not due again before its backoff
        gaps.append(round((notification.next_attempt_at - last.at).total_seconds(), 3))
    assert gaps == [1, 2, 3, 3]  # 1, 2, 4 ... capped by ECS_NOTIFICATION_MAX_BACKOFF
    assert (notification.state, notification.attempts) == (Notification.PENDING, 4)
    assert notification.last_error == "HTTP 500"
    assert attempts(notification) == [(500, "HTTP 500")] * 4
    assert len(receiver.deliveries) == 4

    receiver.status = 204
    time.sleep(max(0.0, (notification.next_attempt_at - timezone.now()).total_seconds()))
    assert worker.deliver_due() == 1
    notification.refresh_from_db()
    assert notification.state == Notification.DELIVERED
    assert attempts(notification)[-1] == (204, "")
    assert receiver.bodies()[-1] == receiver.bodies()[0]


def test_an_unsubscribed_eec_gets_none_of_what_was_still_pending(owe, receiver, client):
    receiver.status = 500
    notification = owe(receiver.url)
    make_due(notification)
    assert worker.deliver_due() == 1  # one failed attempt: a retry is pending
    response = client.delete(f"{SUBSCRIPTIONS}/{notification.subscription}")
    assert response.status_code == 204

    notification.refresh_from_db()
    assert (notification.state, notification.last_error) == (
        Notification.GIVEN_UP,
        "subscription deleted",
    )
    receiver.status = 204
    make_due(notification)
    assert worker.deliver_due() == 0
    assert len(receiver.deliveries) == 1  # only the attempt before the unsubscription


def test_a_delivery_under_way_when_its_subscription_goes_is_not_retried(owe, receiver):
    receiver.status = 500
    notification = owe(receiver.url)
    [claimed] = worker._claim(1)  # the worker has it in hand ...
    worker.cancel([claimed.subscription], "subscription deleted")  # ... when it is deleted
    worker._record_all([(claimed, 500, "HTTP 500", 1.0)])  # the attempt fails: no retry is planned
    notification.refresh_from_db()
    assert notification.state == Notification.GIVEN_UP
    assert notification.attempts == 1


def test_the_first_retry_waits_one_second(owe, receiver):
    receiver.status = 503
    notification = owe(receiver.url)
    worker.deliver_due()
    receiver.status = 204
    assert worker.deliver_due() == 0
    time.sleep(1.05)
    assert worker.deliver_due() == 1
    notification.refresh_from_db()
    assert attempts(notification) == [(503, "HTTP 503"), (204, "")]


@override_settings(ECS_NOTIFICATION_GIVE_UP_SECONDS=2)
def test_given_up_after_the_configured_time(owe, receiver):
    receiver.status = 500
    notification = owe(receiver.url)
    worker.deliver_due()
    notification.refresh_from_db()
    assert notification.state == Notification.PENDING  # failed, but not for 2 s yet
    give_up_at = notification.created + dt.timedelta(seconds=2)
    time.sleep(max(0.0, (give_up_at - timezone.now()).total_seconds()) + 0.05)
    worker.deliver_due()
    notification.refresh_from_db()
    assert notification.state == Notification.GIVEN_UP
    make_due(notification)
    assert worker.deliver_due() == 0  # never attempted again
    assert len(receiver.deliveries) == 2
    assert attempts(notification) == [(500, "HTTP 500")] * 2


def test_a_redirect_is_not_followed(owe, receiver):
    elsewhere = Receiver()
    try:
        receiver.redirect_to = elsewhere.url
        notification = owe(receiver.url)
        worker.deliver_due()
        notification.refresh_from_db()
        assert attempts(notification) == [(307, "HTTP 307")]
        assert notification.state == Notification.PENDING
        assert len(receiver.deliveries) == 1
        assert elsewhere.deliveries == []
    finally:
        elsewhere.close()


def test_a_destination_is_checked_again_at_delivery(owe, receiver, monkeypatch):
    notification = owe(receiver.url)  # accepted while private callbacks were allowed
    monkeypatch.delenv("ECS_ALLOW_PRIVATE_CALLBACKS")
    worker.deliver_due()
    notification.refresh_from_db()
    [(status, error)] = attempts(notification)
    assert status is None
    assert error == "destination refused: points at a non-public address (127.0.0.1)"
    assert notification.state == Notification.PENDING
    assert receiver.deliveries == []


def test_a_receiver_that_is_down_is_retried(owe):
    port = free_port()
    notification = owe(f"http://127.0.0.1:{port}/callbacks/eec")
    worker.deliver_due()
    notification.refresh_from_db()
    assert attempts(notification) == [(None, "ConnectionError")]
    back = Receiver(port=port)
    try:
        make_due(notification)
        worker.deliver_due()
        notification.refresh_from_db()
        assert notification.state == Notification.DELIVERED
        assert len(back.deliveries) == 1
    finally:
        back.close()


def test_a_subscriber_never_gets_an_older_state_after_a_newer_one(owe, receiver, client):
    receiver.status = 503
    first = owe(receiver.url)  # ees-reg-1 registered
    worker.deliver_due()  # fails: retried in a second
    receiver.status = 204
    newer = ees_registration(ees_profile("ees-reg-late"))
    assert post_json(client, REGISTRATIONS, newer).status_code == 201
    changes.process_pending()
    second = Notification.objects.latest("pk")
    assert second.pk != first.pk and second.subscription == first.subscription

    assert worker.deliver_due() == 0  # the newer one waits for the older one
    make_due(first)
    worker.deliver_due()
    worker.deliver_due()
    delivered = [b for b in receiver.bodies()[1:]]
    eess = [[e["eesId"] for cfg in b["ednCnfgInfo"] for e in cfg["eess"]] for b in delivered]
    assert eess == [
        ["ees-conf", "ees-reg-1"],
        ["ees-conf", "ees-reg-1", "ees-reg-late"],  # the last one is the current state
    ]


# --- the admin ---------------------------------------------------------------------------------


@pytest.fixture
def admin_client(db, plain_static_files) -> Client:
    user = get_user_model().objects.create_superuser("oam", "oam@example.org", "pw")
    admin = Client()
    admin.force_login(user)
    return admin


def test_the_admin_lists_notifications_and_their_attempts(owe, receiver, admin_client):
    receiver.status = 500
    notification = owe(receiver.url)
    worker.deliver_due()
    receiver.status = 204
    make_due(notification)
    worker.deliver_due()

    listing = admin_client.get("/admin/notifications/notification/")
    assert listing.status_code == 200
    page = listing.content.decode()
    assert receiver.url in page
    assert "eec-subscription" in page and "delivered" in page

    detail = admin_client.get(f"/admin/notifications/notification/{notification.pk}/change/")
    assert detail.status_code == 200
    page = detail.content.decode()
    cells = re.findall(r'<td class="field-(status|error)">(.*?)</td>', page, re.S)
    assert [(k, re.sub(r"<[^>]+>", "", v).strip()) for k, v in cells] == [
        ("status", "204"),
        ("error", "-"),  # the admin's "empty"
        ("status", "500"),
        ("error", "HTTP 500"),
    ]
    assert "ees-reg-1" in page  # the payload is shown

    delivered = admin_client.get("/admin/notifications/notification/?state__exact=delivered")
    assert receiver.url in delivered.content.decode()
    pending = admin_client.get("/admin/notifications/notification/?state__exact=pending")
    assert receiver.url not in pending.content.decode()


# --- concurrent delivery: bounded in total and per host ------------------------------------


class _Counting:
    """A receiver on loopback that takes ``delay`` seconds per POST and counts how many it
    holds at once."""

    def __init__(self, delay: float) -> None:
        import threading

        from tests.loopback import LoopbackServer, Reply

        self.delay, self.now, self.most, self.done = delay, 0, 0, []
        lock = threading.Lock()

        def respond(request: Any) -> Reply:
            with lock:
                self.now += 1
                self.most = max(self.most, self.now)
            time.sleep(self.delay)
            with lock:
                self.now -= 1
                self.done.append((request.json()["n"], time.monotonic()))
            return Reply(204)

        self.server = LoopbackServer(respond)
        self.url = f"http://127.0.0.1:{self.server.port}/notify"

    def close(self) -> None:
        self.server.close()


def _outbox(url: str, count: int, prefix: str) -> None:
    Notification.objects.bulk_create(
        Notification(kind="test", subscription=f"{prefix}-{i}", destination=url, payload={"n": i})
        for i in range(count)
    )


def test_a_slow_receiver_holds_back_only_its_own_subscriptions(db, private_callbacks):
    slow, fast = _Counting(delay=1.0), _Counting(delay=0.0)
    try:
        _outbox(slow.url, 40, "slow")
        _outbox(fast.url, 200, "fast")
        dispatcher = worker.Dispatcher(total=12, host_limit=4)
        started = time.monotonic()
        while len(fast.done) < 200 and time.monotonic() - started < 30:
            dispatcher.pump()
            dispatcher.wait(0.05)
        fast_took = time.monotonic() - started
        dispatcher.close()
    finally:
        slow.close()
        fast.close()
    assert len(fast.done) == 200
    # 40 slow deliveries at 4 at a time need 10 s; the fast receiver's 200 did not wait.
    assert fast_took < 5.0, f"{fast_took:.1f} s"
    assert slow.most == 4 and fast.most <= 4
    assert len(slow.done) < 40
    delivered = Notification.objects.filter(state=Notification.DELIVERED)
    assert delivered.filter(destination=fast.url).count() == 200


def test_deliveries_are_concurrent_up_to_the_total(db, private_callbacks):
    receivers = [_Counting(delay=0.5) for _ in range(3)]
    try:
        for i, receiver in enumerate(receivers):
            _outbox(receiver.url, 8, f"r{i}")
        assert worker.Dispatcher(total=24, host_limit=8).pump() == 24
        assert worker.deliver_due() == 0  # all leased by the first dispatcher
    finally:
        for receiver in receivers:
            receiver.close()


def test_one_claim_feeds_many_deliveries(db, private_callbacks, monkeypatch):
    receiver = _Counting(delay=0.0)
    claims = []
    real_claim = worker._claim

    def counting_claim(*args, **kwargs):
        claimed = real_claim(*args, **kwargs)
        claims.append(len(claimed))
        return claimed

    monkeypatch.setattr(worker, "_claim", counting_claim)
    try:
        _outbox(receiver.url, 300, "many")
        dispatcher = worker.Dispatcher(total=8, host_limit=8, ahead=8)
        deadline = time.monotonic() + 30
        while len(receiver.done) < 300 and time.monotonic() < deadline:
            dispatcher.pump()
            dispatcher.wait(0.05)
        dispatcher.close()
    finally:
        receiver.close()
    assert len(receiver.done) == 300
    assert receiver.most <= 8  # claimed ahead, never sent ahead of the host's places
    # Claiming only the places just freed took one claim per handful of deliveries.
    assert max(claims) == 64
    assert sum(1 for n in claims if n) <= 10, claims


def test_what_waited_in_the_queue_is_given_back_at_close(db, private_callbacks):
    receiver = _Counting(delay=0.3)
    try:
        _outbox(receiver.url, 40, "queued")
        dispatcher = worker.Dispatcher(total=2, host_limit=2, ahead=8)
        assert dispatcher.pump() == 2
        assert dispatcher.queued == 14
        dispatcher.close()
    finally:
        receiver.close()
    pending = Notification.objects.filter(state=Notification.PENDING)
    assert Notification.objects.filter(state=Notification.DELIVERED).count() == 2
    assert pending.count() == 38
    assert not pending.filter(leased_until__isnull=False).exists()  # the next worker takes them


def test_a_subscriptions_notifications_stay_in_order_under_concurrency(db, private_callbacks):
    receiver = _Counting(delay=0.01)
    try:
        Notification.objects.bulk_create(
            Notification(
                kind="test", subscription="one", destination=receiver.url, payload={"n": i}
            )
            for i in range(10)
        )
        dispatcher = worker.Dispatcher(total=8, host_limit=8)
        deadline = time.monotonic() + 20
        while len(receiver.done) < 10 and time.monotonic() < deadline:
            assert dispatcher.in_flight <= 1  # never two of one subscription at once
            dispatcher.pump()
            dispatcher.wait(0.05)
        dispatcher.close()
    finally:
        receiver.close()
    assert [n for n, _ in receiver.done] == list(range(10))


# --- real processes: an ECS instance and run_worker subprocesses ----------------------------


SITE = {
    "ecs": {"id": "ecs.worker.example", "homePlmns": [{"mcc": "001", "mnc": "01"}]},
    "edns": [
        {
            "id": "edn-a",
            "ednConInfo": {"dnn": "edge.example", "snssai": {"sst": 1}},
            "eess": [
                {
                    "eesId": "ees-conf",
                    "endPt": {"uri": "https://ees-conf.example/eees"},
                    "easIds": ["app.one"],
                    "eecRegConf": False,
                }
            ],
        }
    ],
}

OUTBOX = """
import json
from notifications.models import Notification
print(json.dumps([
    {
        "kind": n.kind,
        "state": n.state,
        "attempts": n.attempts,
        "created": n.created.timestamp(),
        "leased": n.leased_until is not None,
        "log": [
            {"at": a.at.timestamp(), "status": a.status, "error": a.error}
            for a in n.attempt_log.order_by("at", "pk")
        ],
    }
    for n in Notification.objects.order_by("pk")
]))
"""


def read_outbox(instance: Instance) -> list[dict[str, Any]]:
    """The instance's outbox, read from its database by a management command."""
    out = instance.manage("shell", "-c", OUTBOX).stdout
    return json.loads(out.strip().splitlines()[-1])


def outbox_once_delivered(instance: Instance, timeout: float = 20) -> list[dict[str, Any]]:
    """The outbox once the worker has recorded every delivery (it does after the answer)."""
    deadline = time.monotonic() + timeout
    while True:
        outbox = read_outbox(instance)
        if all(n["state"] == "delivered" for n in outbox) or time.monotonic() > deadline:
            return outbox
        time.sleep(0.2)


class WorkerProcess:
    """``manage.py run_worker`` on an instance's database, cache and environment."""

    def __init__(self, instance: Instance, workdir: Path, **env: str) -> None:
        self.log_path = workdir / f"worker-{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115  (closed in stop/kill)
        self.process = subprocess.Popen(
            [PYTHON, "manage.py", "run_worker", "--poll", "0.2"],
            cwd=REPO,
            env={**instance.env, **env},
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_running(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while "ECS worker running" not in self.log():
            assert self.process.poll() is None, f"worker exited\n{self.log()}"
            assert time.monotonic() < deadline, f"worker not running\n{self.log()}"
            time.sleep(0.05)

    def kill(self) -> None:
        self.process.kill()  # SIGKILL: no clean-up of any kind
        self.process.wait(timeout=10)
        self._log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


@pytest.fixture
def ecs(federation: Federation, private_callbacks, monkeypatch) -> Instance:
    """An ECS instance (its own database) allowing callbacks to 127.0.0.1, configured.

    The EEC and the EES here call without OAuth tokens (what is tested is the outbox).
    """
    monkeypatch.setenv("ECS_REQUIRE_AUTH", "0")
    (instance,) = federation.start("ecs")
    instance.apply(SITE)
    return instance


@pytest.fixture
def workers(ecs, tmp_path):
    started: list[WorkerProcess] = []

    def start(**env: str) -> WorkerProcess:
        process = WorkerProcess(ecs, tmp_path, **env)
        started.append(process)
        process.wait_running()
        return process

    yield start
    for process in started:
        process.stop()


def subscribe_at(instance: Instance, destination: str) -> str:
    response = requests.post(
        instance.url + SUBSCRIPTIONS, json=serv_prov_subscription(destination), timeout=10
    )
    assert response.status_code == 201, response.text
    return response.json()["eecId"]


def register_at(instance: Instance, ees_id: str) -> requests.Response:
    body = ees_registration(ees_profile(ees_id, dnn="edge.example"))
    response = requests.post(instance.url + REGISTRATIONS, json=body, timeout=10)
    assert response.status_code == 201, response.text
    return response


def notified_eess(body: dict[str, Any]) -> list[str]:
    assert_valid(body, EDGE4_FILE, "ServProvNotification")
    return [ees["eesId"] for cfg in body["ednCnfgInfo"] for ees in cfg["eess"]]


LEASE = 2.0


def test_a_worker_killed_mid_delivery_loses_nothing(ecs, workers, receiver):
    receiver.hold_first = True
    subscribe_at(ecs, receiver.url)
    first_worker = workers(ECS_NOTIFICATION_LEASE_SECONDS=str(LEASE))

    register_at(ecs, "ees-reg")
    assert receiver.holding.wait(30), "the first delivery never arrived"
    first_worker.kill()  # in the middle of the delivery: the receiver has not answered
    receiver.release.set()
    [during] = read_outbox(ecs)
    assert (during["state"], during["attempts"], during["leased"]) == ("pending", 0, True)

    workers(ECS_NOTIFICATION_LEASE_SECONDS=str(LEASE))
    deliveries = receiver.wait_for(2, timeout=30)
    assert len(deliveries) >= 2  # at least once, and here the killed attempt arrived too
    assert deliveries[1]["body"] == deliveries[0]["body"]
    assert notified_eess(deliveries[1]["body"]) == ["ees-conf", "ees-reg"]
    # Not before the killed worker's lease ran out.
    assert deliveries[1]["at"] - deliveries[0]["at"] >= LEASE - 0.5

    [after] = outbox_once_delivered(ecs)
    assert (after["state"], after["attempts"], after["leased"]) == ("delivered", 1, False)
    assert [(a["status"], a["error"]) for a in after["log"]] == [(204, "")]


def test_change_to_notification_delay_with_a_running_worker(ecs, workers, receiver):
    subscribe_at(ecs, receiver.url)
    workers()
    time.sleep(0.5)
    delays = []
    for index in range(5):
        started = time.monotonic()
        register_at(ecs, f"ees-reg-{index}")
        delivery = receiver.wait_for(index + 1, timeout=10)[index]
        delays.append(delivery["at"] - started)
        assert f"ees-reg-{index}" in notified_eess(delivery["body"])
    print(
        f"\nchange -> notification (registration POST to arrival, worker --poll 0.2): "
        f"median {statistics.median(delays) * 1000:.0f} ms, "
        f"max {max(delays) * 1000:.0f} ms, all {[round(d * 1000) for d in delays]} ms"
    )
    assert max(delays) < 5.0  # polling every 0.2 s; generous for a loaded machine


def test_while_the_receiver_is_down_the_worker_backs_off_then_delivers(ecs, workers):
    port = free_port()
    subscribe_at(ecs, f"http://127.0.0.1:{port}/callbacks/eec")
    workers()
    changed = time.monotonic()
    register_at(ecs, "ees-reg")
    time.sleep(4.5)  # down: attempts at about 0, 1 and 3 s
    [down] = read_outbox(ecs)
    assert down["state"] == "pending"
    assert [a["error"] for a in down["log"]] == ["ConnectionError"] * len(down["log"])
    assert len(down["log"]) >= 3  # (reading the outbox takes a moment: maybe the 4th)
    gaps = [b["at"] - a["at"] for a, b in zip(down["log"], down["log"][1:], strict=False)]
    assert gaps[0] >= 0.9 and gaps[1] >= 1.9  # 1 s, then 2 s (then 4 s)

    back = Receiver(port=port)
    try:
        came_back = time.monotonic()
        # The next attempt comes at most one backoff (about as long as it has been down) later.
        [delivery] = back.wait_for(1, timeout=30)
        assert notified_eess(delivery["body"]) == ["ees-conf", "ees-reg"]
        [after] = outbox_once_delivered(ecs)
        assert after["state"] == "delivered"
        statuses = [a["status"] for a in after["log"]]
        assert statuses == [None] * (len(statuses) - 1) + [204]
        first = after["log"][0]["at"]
        print(
            f"\nreceiver down for {came_back - changed:.1f} s: attempts at "
            f"{[round(a['at'] - first, 1) for a in after['log']]} s "
            f"({', '.join(a['error'] or str(a['status']) for a in after['log'])}); "
            f"delivered {delivery['at'] - came_back:.1f} s after it came back"
        )
    finally:
        back.close()
