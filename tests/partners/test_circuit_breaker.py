"""The circuit breaker per partner: open after N failures, no calls while open, one probe."""

from __future__ import annotations

import time

import pytest
from django.test import override_settings

from partners import breaker
from partners.models import RetrievalAudit
from tests.builders import configure_ecs, edge4_request, make_partner, plmn
from tests.loopback import LoopbackServer, Received, Reply

pytestmark = pytest.mark.django_db

VISITED = plmn("002", "02")


class Partner:
    """A real partner ECS stand-in whose health the test switches."""

    def __init__(self) -> None:
        self.status = 500  # what it answers: 500 (a fault), 204 (healthy), 401 (a refusal)
        self.calls = 0
        self.server = LoopbackServer(self._respond)
        self.url = self.server.url

    def _respond(self, request: Received) -> Reply:
        self.calls += 1
        return Reply(self.status)


@pytest.fixture
def partner_server():
    server = Partner()
    yield server
    server.server.close()


def ask(edge4) -> int:
    return edge4(edge4_request(eas_ids=["app.x"], plmns=[VISITED])).status_code


def test_circuit_opens_after_threshold_failures_and_probes_after_cooldown(edge4, partner_server):
    configure_ecs()
    partner = make_partner(
        "ecs.flaky",
        api_root=partner_server.url,
        plmns=[VISITED],
        timeout=1.0,
        breaker_threshold=3,
        breaker_cooldown=1.0,
    )
    assert [ask(edge4) for _ in range(3)] == [503, 503, 503]
    assert partner_server.calls == 3
    assert breaker.state(partner) == breaker.OPEN
    # While open: answered at once, the partner is not called, the audit says why.
    started = time.monotonic()
    assert ask(edge4) == 503
    assert time.monotonic() - started < 0.5
    assert partner_server.calls == 3
    assert RetrievalAudit.objects.filter(reason__startswith="circuit open").count() == 1
    # Every call that brought no answer is a failure, the skipped one included.
    assert RetrievalAudit.objects.filter(failed=True).count() == 4
    # After the cool-down one probe goes through; a healthy answer closes the circuit.
    time.sleep(1.1)
    assert breaker.state(partner) == breaker.HALF_OPEN
    partner_server.status = 204
    assert ask(edge4) == 204
    assert partner_server.calls == 4
    assert breaker.state(partner) == breaker.CLOSED


def test_a_failed_probe_opens_the_circuit_again(edge4, partner_server):
    configure_ecs()
    partner = make_partner(
        "ecs.flaky",
        api_root=partner_server.url,
        plmns=[VISITED],
        timeout=1.0,
        breaker_threshold=1,
        breaker_cooldown=0.5,
    )
    assert ask(edge4) == 503
    assert breaker.state(partner) == breaker.OPEN
    time.sleep(0.6)
    assert ask(edge4) == 503  # the probe, failing
    assert partner_server.calls == 2
    assert breaker.state(partner) == breaker.OPEN


def test_a_refusal_is_not_a_failure(edge4, partner_server):
    configure_ecs()
    partner = make_partner(
        "ecs.strict",
        api_root=partner_server.url,
        plmns=[VISITED],
        breaker_threshold=1,
    )
    partner_server.status = 401
    assert [ask(edge4) for _ in range(3)] == [204, 204, 204]  # refused: nothing, not 503
    assert partner_server.calls == 3
    assert breaker.state(partner) == breaker.CLOSED


def test_metrics_show_each_partners_circuit(client, edge4, partner_server):
    configure_ecs()
    make_partner(
        "ecs.flaky",
        api_root=partner_server.url,
        plmns=[VISITED],
        breaker_threshold=1,
        breaker_cooldown=30,
    )
    ask(edge4)
    with override_settings(ECS_METRICS_TOKEN="scrape-token"):
        text = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token").content.decode()
    assert 'ecs_partner_circuit_state{partner="ecs.flaky"} 2' in text
