"""The issue's "done when", as one script would run it: an operator token (made by
``ecs_oam_token``) onboards a partner and its policy, loads EDNs and EESs, invalidates a
cache entry and reads back every change it made, with its user and request ids; an auditor
token pages through the audit with filters, and cannot write."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from partners.models import PartnerECS, ProvisioningCacheEntry, RetrievalAudit
from provisioning.models import EES
from tests.oam.base import OAMClient, assert_problem

pytestmark = pytest.mark.django_db

PARTNER = "ecs.visited.example"


def token(username: str, *options: str) -> str:
    out = StringIO()
    call_command("ecs_oam_token", username, "--create-user", *options, stdout=out)
    return out.getvalue().strip().splitlines()[-1]


def written(response, status: int = 201) -> str:
    """The request id of a write that succeeded."""
    assert response.status_code == status, response.content[:2000]
    return response["X-Request-ID"]


def test_an_operator_onboards_and_reads_its_changes_and_an_auditor_pages_the_audit():
    operator = OAMClient(token("automation", "--group", "operator"))
    ids: dict[str, str] = {}

    ids["partner"] = written(
        operator.post(
            "partners/",
            {
                "id": PARTNER,
                "apiRoot": "https://ecs.visited.example/api",
                "plmns": [{"mcc": "002", "mnc": "02"}],
                "consult": "roaming_only",
                "outboundToken": "env:VISITED_TOKEN",
            },
        )
    )
    ids["policy"] = written(
        operator.post(
            "policies/",
            {"id": "visited-all", "partner": PARTNER, "easIds": ["*"], "lifetime": 600},
        )
    )
    ids["edns"] = written(
        operator.post(
            "edns/",
            [
                {"id": "edn-north", "ednConInfo": {"dnn": "north.example"}},
                {"id": "edn-south", "ednConInfo": {"dnn": "south.example", "snssai": {"sst": 1}}},
            ],
        )
    )
    eess = [
        {
            "edn": edn,
            "eesId": f"ees-{edn}-{n}",
            "endPt": {"uri": f"https://ees-{n}.{edn}.example/eees"},
            "easIds": ["com.example.game"],
            "eecRegConf": False,
        }
        for edn in ("edn-north", "edn-south")
        for n in (1, 2)
    ]
    ids["eess"] = written(operator.post("eess/", eess))
    # One bad EES in a list: nothing of the list is written, the member is named.
    refused = operator.post("eess/", [{**eess[0], "eesId": "ees-new"}, {**eess[1], "edn": 5}])
    assert {p["param"] for p in assert_problem(refused, 400)["invalidParams"]} == {"/1/edn"}
    assert EES.objects.count() == 4
    ids["ees change"] = written(
        operator.patch("eess/ees-edn-north-1/", {"easIds": ["com.example.other"]}), 200
    )

    # A partner answer in the cache (as a federated request leaves it), invalidated.
    entry = ProvisioningCacheEntry.objects.create(
        partner=PartnerECS.objects.get(partner_id=PARTNER),
        key="0" * 64,
        query={"easIds": ["com.example.game"]},
        request={"reqEcsId": "ecs.home.example"},
        answer=[],
        expires_at=timezone.now() + dt.timedelta(hours=1),
    )
    listed = operator.get("cache-entries/", {"partner": PARTNER, "fresh": "true"})
    assert [e["id"] for e in listed.json()["results"]] == [entry.pk]
    written(operator.post(f"cache-entries/{entry.pk}/invalidate/"), 200)
    assert operator.get("cache-entries/", {"fresh": "true"}).json()["results"] == []

    # Every change, with the user and the request id the response returned.
    changes = []
    url = "changes/"
    while url:
        page = operator.get(url, {"user": "automation", "limit": 3} if url == "changes/" else {})
        assert page.status_code == 200, page.content
        changes += page.json()["results"]
        url = page.json()["next"]
    by_object = {(c["model"], c["object"], c["action"]): c for c in changes}
    assert len(changes) == len(by_object) == 9, changes
    expected = {
        ("partner", PARTNER, "created"): ids["partner"],
        ("policy", "visited-all", "created"): ids["policy"],
        ("edn", "edn-north", "created"): ids["edns"],
        ("edn", "edn-south", "created"): ids["edns"],
        **{("ees", e["eesId"], "created"): ids["eess"] for e in eess},
        ("ees", "ees-edn-north-1", "changed"): ids["ees change"],
    }
    assert {key: c["requestId"] for key, c in by_object.items()} == expected
    assert {c["user"] for c in changes} == {"automation"}
    change = by_object[("ees", "ees-edn-north-1", "changed")]
    assert change["diff"]["eas_ids"] == {
        "old": ["com.example.game"],
        "new": ["com.example.other"],
    }
    assert [c["at"] for c in changes] == sorted((c["at"] for c in changes), reverse=True)
    one = operator.get("changes/", {"request_id": ids["edns"]}).json()["results"]
    assert {c["object"] for c in one} == {"edn-north", "edn-south"}

    # The auditor pages the audit, filtered, and cannot write.
    now = timezone.now()
    RetrievalAudit.objects.bulk_create(
        RetrievalAudit(
            at=now - dt.timedelta(seconds=300 - n),
            direction="in" if n % 3 else "out",
            partner_label=PARTNER if n % 2 else "ecs.other.example",
            request_id=f"req-{n}",
            decision="denied" if n % 5 == 0 else "allowed",
        )
        for n in range(250)
    )
    auditor = OAMClient(token("soc", "--group", "auditor", "--read-only", "--expires-days", "7"))
    seen: list[str] = []
    url, params = "audit/", {"partner": PARTNER, "direction": "in", "limit": 40}
    pages = 0
    while url:
        page = auditor.get(url, params)
        assert page.status_code == 200, page.content
        seen += [row["requestId"] for row in page.json()["results"]]
        url, params, pages = page.json()["next"], {}, pages + 1
    wanted = [f"req-{n}" for n in reversed(range(250)) if n % 2 and n % 3]
    assert seen == wanted and pages == 3
    denied = auditor.get("audit/", {"decision": "denied", "direction": "out", "limit": 1000})
    assert {r["requestId"] for r in denied.json()["results"]} == {
        f"req-{n}" for n in range(250) if n % 5 == 0 and n % 3 == 0
    }
    assert_problem(auditor.post("partners/", {"id": "ecs.x.example"}), 403)
    assert_problem(auditor.post(f"cache-entries/{entry.pk}/invalidate/"), 403)
    assert_problem(auditor.delete(f"partners/{PARTNER}/"), 403)
    assert_problem(auditor.get("changes/"), 403)
    assert PartnerECS.objects.count() == 1
