"""One definition of "filter the audit": ``audit/``, ``ecs_audit`` and the admin's list
filters give the same rows for the same partner, direction, decision and time."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from partners.models import RetrievalAudit
from tests.builders import make_partner
from tests.oam.base import api_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows() -> None:
    make_partner("ecs.a.example")
    now = timezone.now()
    for n, (direction, partner, decision, hours) in enumerate(
        [
            ("in", "ecs.a.example", "allowed", 0),
            ("in", "ecs.a.example", "denied", 0),
            ("out", "ecs.a.example", "allowed", 5),
            ("in", "ecs.b.example", "allowed", 0),
        ]
    ):
        RetrievalAudit.objects.create(
            at=now - dt.timedelta(hours=hours),
            direction=direction,
            partner_label=partner,
            decision=decision,
            request_id=f"req-{n}",
            failed=n == 2,  # an outbound call that got no usable answer
        )


_auditors = itertools.count()


def by_api(**params: str) -> set[str]:
    results = api_for(f"auditor-{next(_auditors)}", "auditor").get("audit/", params)
    return {row["requestId"] for row in results.json()["results"]}


def by_command(*args: str) -> set[str]:
    out = StringIO()
    call_command("ecs_audit", "--json", *args, stdout=out)
    return {json.loads(line)["requestId"] for line in out.getvalue().splitlines()}


def by_admin(**params: str) -> set[str]:
    admin = get_user_model().objects.filter(username="root").first()
    admin = admin or get_user_model().objects.create_superuser("root", "r@example.org", "pw")
    browser = Client()
    browser.force_login(admin)
    response = browser.get("/admin/partners/retrievalaudit/", params)
    assert response.status_code == 200
    return {row.request_id for row in response.context["cl"].result_list}


@pytest.mark.usefixtures("rows", "plain_static_files")
def test_the_api_the_command_and_the_admin_filter_alike():
    cases = [
        ({"partner": "ecs.a.example"}, {"req-0", "req-1", "req-2"}),
        ({"direction": "in"}, {"req-0", "req-1", "req-3"}),
        ({"decision": "denied"}, {"req-1"}),
        ({"partner": "ecs.a.example", "direction": "out"}, {"req-2"}),
    ]
    for params, expected in cases:
        args = [a for name, value in params.items() for a in (f"--{name}", value)]
        assert by_api(**params) == by_command(*args) == by_admin(**params) == expected, params


@pytest.mark.usefixtures("rows")
def test_failed_exchanges_are_found_by_the_api_and_the_command_alike():
    assert by_api(failed="true") == by_command("--failed") == {"req-2"}
    assert by_api(failed="false") == {"req-0", "req-1", "req-3"}
    out = StringIO()
    call_command("ecs_audit", "--json", "--failed", stdout=out)
    assert json.loads(out.getvalue())["failed"] is True
    out = StringIO()
    call_command("ecs_audit", "--failed", stdout=out)
    assert "FAILED req-2" in out.getvalue()


@pytest.mark.usefixtures("rows")
def test_the_command_takes_ages_and_refuses_bad_values():
    assert by_command("--since", "2h") == {"req-0", "req-1", "req-3"}
    assert by_command("--until", "2h") == {"req-2"}
    with pytest.raises(CommandError, match="--until"):
        by_command("--until", "last week")
