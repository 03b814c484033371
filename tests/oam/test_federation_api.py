"""The OAM API's federation resources: ``partners/`` and ``policies/`` (the configuration
file's entries, secrets as the admin treats them), ``cache-entries/`` (invalidate),
``audit/`` (cursor pages, the filters ``ecs_audit`` shares) and ``outbox/``."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pytest
from django.utils import timezone

from notifications.models import Notification
from partners.models import AuthorizationPolicy, PartnerECS, ProvisioningCacheEntry, RetrievalAudit
from tests.builders import make_partner, make_policy
from tests.oam import base
from tests.oam.base import api_for, assert_problem, ids_of, pointers

pytestmark = pytest.mark.django_db


def partner_body(partner_id: str, **extra: Any) -> dict[str, Any]:
    return {"id": partner_id, "apiRoot": f"https://{partner_id}/api", **extra}


class TestPartners(base.ReadWrite):
    resource = "partners/"
    model = PartnerECS
    create_data = [partner_body(f"ecs.new{n}.example") for n in range(3)]
    invalid_data = [
        (partner_body("ecs.bad.example", consult="sometimes"), "/consult"),
        (partner_body("ecs.bad.example", apiRoot="not a url"), "/apiRoot"),
        (partner_body("ecs.bad.example", plmns=[{"mcc": "01", "mnc": "01"}]), "/plmns/0/mcc"),
        (partner_body("ecs.bad.example", timeout="slow"), "/timeout"),
        (partner_body("ecs.bad.example", colour="red"), "/colour"),
        (partner_body("ecs.bad.example", roamingMode="bounce"), "/roamingMode"),
        (partner_body("ecs.bad.example", redirectSnssai={"sst": "one"}), "/redirectSnssai/sst"),
        (partner_body("ecs.bad.example", redirectSnssai=[{"sst": 1}]), "/redirectSnssai"),
        (partner_body("ecs.bad.example", redirectDnn="edge..x"), "/redirectDnn"),
        (partner_body("ecs.bad.example", roamingMode="redirect"), "/plmns"),
        ({"apiRoot": "https://x.example"}, "/id"),
    ]
    patch_data = {"enabled": False, "consult": "roaming_only"}
    invalid_patch = ({"breakerThreshold": -1}, "/breakerThreshold")
    filters = [
        ({"enabled": "false"}, {"ecs.off.example"}),
        ({"enabled": "true"}, {"ecs.a.example", "ecs.b.example"}),
        ({"ecsp": "cloudedge"}, {"ecs.b.example"}),
        ({"consult": "always"}, {"ecs.a.example"}),
        ({"consult": "always", "enabled": "false"}, set()),
    ]
    invalid_filters = [({"consult": "sometimes"}, "consult")]

    def make(self, count: int, start: int = 0) -> list[str]:
        made = [make_partner(f"ecs.p{n}.example") for n in range(start, start + count)]
        return [p.partner_id for p in made]

    def make_filtered(self) -> None:
        make_partner("ecs.a.example", consult="always")
        make_partner("ecs.b.example", ecsp="cloudedge")
        make_partner("ecs.off.example", enabled=False)

    def check_representation(self, body: dict[str, Any]) -> None:
        assert body["apiRoot"].startswith("https://")
        assert "outboundToken" not in body and "clientSecret" not in body


class TestPartnerSecrets:
    def test_a_generated_inbound_token_is_returned_once_and_then_as_its_hash(self):
        operator = api_for("op", "operator")
        created = operator.post("partners/", partner_body("ecs.new.example"))
        assert created.status_code == 201, created.content
        token = created.json()["inboundToken"]
        assert not token.startswith("sha256:")
        digest = hashlib.sha256(token.encode()).hexdigest()
        assert PartnerECS.objects.get(partner_id="ecs.new.example").inbound_token_hash == digest
        assert operator.get("partners/ecs.new.example/").json()["inboundToken"] == (
            "sha256:" + digest
        )

    def test_a_given_inbound_token_is_stored_as_its_hash_and_never_returned(self):
        operator = api_for("op", "operator")
        created = operator.post("partners/", partner_body("ecs.new.example", inboundToken="lit"))
        assert created.json()["inboundToken"] == "sha256:" + hashlib.sha256(b"lit").hexdigest()

    def test_literal_outbound_tokens_and_client_secrets_are_never_returned(self):
        operator = api_for("op", "operator")
        body = partner_body(
            "ecs.new.example",
            outboundToken="literal-outbound",
            tokenUrl="https://ecs.new.example/token",
            clientId="us",
            clientSecret="literal-secret",
        )
        created = operator.post("partners/", body)
        assert created.status_code == 201, created.content
        for answer in (created, operator.get("partners/ecs.new.example/")):
            assert b"literal-outbound" not in answer.content
            assert b"literal-secret" not in answer.content
        partner = PartnerECS.objects.get(partner_id="ecs.new.example")
        assert partner.outbound_token == "literal-outbound"
        # A PUT without them keeps them (as a file without them does).
        entry = operator.get("partners/ecs.new.example/").json()
        assert operator.put("partners/ecs.new.example/", entry).status_code == 200
        partner.refresh_from_db()
        assert (partner.outbound_token, partner.client_secret) == (
            "literal-outbound",
            "literal-secret",
        )
        references = operator.patch("partners/ecs.new.example/", {"outboundToken": "env:OUT"})
        assert references.json()["outboundToken"] == "env:OUT"

    def test_the_roaming_mode_and_redirect_session_round_trip(self):
        operator = api_for("op", "operator")
        redirect = {
            "plmns": [{"mcc": "002", "mnc": "02"}],
            "roamingMode": "redirect",
            "redirectDnn": "edge.visited",
            "redirectSnssai": {"sst": 1, "sd": "0000FF"},
        }
        created = operator.post("partners/", partner_body("ecs.new.example", **redirect))
        assert created.status_code == 201, created.content
        read = operator.get("partners/ecs.new.example/").json()
        assert {k: read[k] for k in redirect} == redirect
        partner = PartnerECS.objects.get(partner_id="ecs.new.example")
        assert partner.redirect_info() == {
            "ecsEndPt": {"uri": "https://ecs.new.example/api"},
            "dnn": "edge.visited",
            "snssai": {"sst": 1, "sd": "0000FF"},
        }
        # Back to retrieving: the session members may go, and the answer says so.
        back = operator.patch(
            "partners/ecs.new.example/",
            {"roamingMode": "retrieve", "redirectDnn": "", "redirectSnssai": None},
        )
        assert back.status_code == 200, back.content
        assert back.json()["roamingMode"] == "retrieve"
        assert "redirectDnn" not in back.json() and "redirectSnssai" not in back.json()

    def test_a_bad_roaming_mode_is_a_400_naming_it_and_its_choices(self):
        operator = api_for("op", "operator")
        body = assert_problem(
            operator.post("partners/", partner_body("ecs.new.example", roamingMode="bounce")), 400
        )
        [param] = body["invalidParams"]
        assert param["param"] == "/roamingMode"
        assert "retrieve" in param["reason"] and "redirect" in param["reason"]
        assert not PartnerECS.objects.filter(partner_id="ecs.new.example").exists()

    def test_a_partner_id_taken_is_refused(self):
        operator = api_for("op", "operator")
        make_partner("ecs.taken.example")
        assert "/id" in pointers(operator.post("partners/", partner_body("ecs.taken.example")))


class TestPolicies(base.ReadWrite):
    resource = "policies/"
    model = AuthorizationPolicy
    create_data = [
        {"id": f"pol-new-{n}", "partner": "ecs.partner.example", "easIds": ["*"]} for n in range(3)
    ]
    invalid_data = [
        # An unknown id is an ECS known only through the ECS-ER (issue 17); "" names none.
        ({"id": "pol-bad", "partner": ""}, "/partner"),
        ({"id": "pol-bad", "partner": "ecs.partner.example", "easIds": "*"}, "/easIds"),
        ({"id": "pol-bad", "partner": "ecs.partner.example", "lifetime": -5}, "/lifetime"),
        ({"partner": "ecs.partner.example"}, "/id"),
    ]
    patch_data = {"enabled": False, "dnns": ["edge.example"]}
    invalid_patch = ({"validFrom": "yesterday"}, "/validFrom")
    filters = [
        ({"partner": "ecs.a.example"}, {"pol-a1", "pol-a2"}),
        ({"enabled": "false"}, {"pol-a2"}),
        ({"partner": "ecs.b.example", "enabled": "true"}, {"pol-b1"}),
    ]

    def prepare_create(self) -> None:
        if not PartnerECS.objects.filter(partner_id="ecs.partner.example").exists():
            make_partner("ecs.partner.example")

    def make(self, count: int, start: int = 0) -> list[str]:
        self.prepare_create()
        partner = PartnerECS.objects.get(partner_id="ecs.partner.example")
        return [
            make_policy(partner, policy_id=f"pol-{n}").policy_id
            for n in range(start, start + count)
        ]

    def make_filtered(self) -> None:
        a, b = make_partner("ecs.a.example"), make_partner("ecs.b.example")
        make_policy(a, policy_id="pol-a1")
        make_policy(a, policy_id="pol-a2", enabled=False)
        make_policy(b, policy_id="pol-b1")

    def check_representation(self, body: dict[str, Any]) -> None:
        assert body["partner"] == "ecs.partner.example" and body["easIds"] == ["*"]

    def test_a_policy_may_name_an_ecs_known_only_through_the_ecs_er(self):
        operator = api_for("op", "operator")
        one = {"id": "pol-er", "partner": "ecs.only-at-er.example", "easIds": ["*"]}
        created = operator.post("policies/", one)
        assert created.status_code == 201, created.content
        assert created.json()["partner"] == "ecs.only-at-er.example"
        star = {"id": "pol-star", "partner": "*", "requesterEcsps": ["ecsp.x"], "easIds": ["*"]}
        created = operator.post("policies/", star)
        assert created.status_code == 201, created.content
        assert created.json()["requesterEcsps"] == ["ecsp.x"]
        stored = AuthorizationPolicy.objects.get(policy_id="pol-star")
        assert (stored.partner, stored.partner_ecs_id) == (None, "*")
        listed = operator.get("policies/", {"partner": "ecs.only-at-er.example"}).json()
        assert [p["id"] for p in listed["results"]] == ["pol-er"]

    def test_star_needs_requester_ecsps(self):
        operator = api_for("op", "operator")
        refused = operator.post("policies/", {"id": "pol-s", "partner": "*", "easIds": ["*"]})
        assert "/requesterEcsps" in pointers(refused)
        assert not AuthorizationPolicy.objects.exists()


def cache_entry(partner: PartnerECS, n: int, fresh: bool = True) -> ProvisioningCacheEntry:
    now = timezone.now()
    return ProvisioningCacheEntry.objects.create(
        partner=partner,
        key=f"{n:064x}",
        query={"easIds": [f"app.{n}"]},
        request={"reqEcsId": "ecs.home.example"},
        answer=[],
        expires_at=now + dt.timedelta(hours=1 if fresh else -1),
    )


class TestCacheEntries(base.List, base.Get, base.Filters):
    resource = "cache-entries/"
    model = ProvisioningCacheEntry
    reader_group = "auditor"
    filters: list = []  # set in make_filtered (the ids are database keys)

    def make(self, count: int, start: int = 0) -> list[int]:
        partner = PartnerECS.objects.first() or make_partner()
        return [cache_entry(partner, n).pk for n in range(start, start + count)]

    def make_filtered(self) -> None:
        a, b = make_partner("ecs.a.example"), make_partner("ecs.b.example")
        fresh_a, stale_a, fresh_b = cache_entry(a, 1), cache_entry(a, 2, False), cache_entry(b, 3)
        self.filters = [
            ({"partner": "ecs.a.example"}, {fresh_a.pk, stale_a.pk}),
            ({"fresh": "true"}, {fresh_a.pk, fresh_b.pk}),
            ({"fresh": "false"}, {stale_a.pk}),
            ({"partner": "ecs.b.example", "fresh": "false"}, set()),
        ]

    def test_get_unknown_is_404(self, reader):
        assert_problem(reader.get(self.detail(999999)), 404)

    def test_invalidate_expires_the_entry_now(self, writer):
        (made,) = self.make(1)
        response = writer.post(f"{self.detail(made)}invalidate/")
        assert response.status_code == 200, response.content
        assert response.json()["fresh"] is False
        assert not ProvisioningCacheEntry.objects.get(pk=made).fresh

    def test_a_refresh_the_partner_does_not_answer_is_503(self, writer):
        partner = make_partner("ecs.down.example", api_root="http://127.0.0.1:9", timeout=0.5)
        entry = cache_entry(partner, 1)
        response = writer.post(f"{self.detail(entry.pk)}refresh/")
        assert_problem(response, 503)
        assert int(response["Retry-After"]) > 0

    def test_an_auditor_may_not_invalidate(self, reader):
        (made,) = self.make(1)
        assert_problem(reader.post(f"{self.detail(made)}invalidate/"), 403)
        assert ProvisioningCacheEntry.objects.get(pk=made).fresh


def audit_rows(count: int, start: int = 0, **fields: Any) -> list[int]:
    now = timezone.now()
    rows = [
        RetrievalAudit(
            at=now - dt.timedelta(seconds=10_000 - n),  # in the order of their keys
            direction=fields.get("direction", "out"),
            partner_label=fields.get("partner_label", "ecs.partner.example"),
            request_id=fields.get("request_id", f"req-{n}"),
            decision=fields.get("decision", "allowed"),
        )
        for n in range(start, start + count)
    ]
    return [row.pk for row in RetrievalAudit.objects.bulk_create(rows)]


class TestAudit(base.List, base.Get, base.Filters):
    resource = "audit/"
    model = RetrievalAudit
    reader_group = "auditor"
    filters: list = []
    invalid_filters = [
        ({"direction": "sideways"}, "direction"),
        ({"since": "yesterday"}, "since"),
        ({"decision": "maybe"}, "decision"),
    ]

    def make(self, count: int, start: int = 0) -> list[int]:
        return audit_rows(count, start)

    def make_filtered(self) -> None:
        now = timezone.now()
        old = RetrievalAudit.objects.create(
            at=now - dt.timedelta(days=2),
            direction="in",
            partner_label="ecs.a.example",
            request_id="req-old",
        )
        denied = RetrievalAudit.objects.create(
            direction="in", partner_label="ecs.a.example", request_id="req-d", decision="denied"
        )
        out = RetrievalAudit.objects.create(
            direction="out", partner_label="ecs.b.example", request_id="req-o"
        )
        since = (now - dt.timedelta(days=1)).isoformat().replace("+00:00", "Z")
        self.filters = [
            ({"partner": "ecs.a.example"}, {old.pk, denied.pk}),
            ({"direction": "out"}, {out.pk}),
            ({"decision": "denied"}, {denied.pk}),
            ({"since": since}, {denied.pk, out.pk}),
            ({"until": since}, {old.pk}),
            ({"request_id": "req-o"}, {out.pk}),
            ({"partner": "ecs.a.example", "direction": "in", "since": since}, {denied.pk}),
        ]

    def test_get_unknown_is_404(self, reader):
        assert_problem(reader.get(self.detail(999999)), 404)

    def test_newest_first_with_the_keys_of_ecs_audit(self, reader):
        audit_rows(3)
        results = reader.get(self.resource).json()["results"]
        assert [r["requestId"] for r in results] == ["req-2", "req-1", "req-0"]
        assert set(results[0]) == {
            "id", "at", "direction", "partner", "requestId", "query", "decision", "reason",
            "status", "ednCount", "cache", "latencyMs", "failed", "dryRun",
        }  # fmt: skip

    def test_the_audit_is_read_only(self, reader, writer):
        (made,) = audit_rows(1)
        for api in (reader, writer):
            assert_problem(api.post(self.resource, {}), 405)
            assert_problem(api.delete(self.detail(made)), 405)


class TestOutbox(base.List, base.Get):
    resource = "outbox/"
    model = Notification
    reader_group = "auditor"

    def make(self, count: int, start: int = 0) -> list[int]:
        made = []
        for n in range(start, start + count):
            notification = Notification.objects.create(
                kind="eec",
                subscription=f"sub-{n}",
                destination=f"https://eec{n}.example/notify",
                payload={"n": n},
            )
            notification.attempt_log.create(status=500, error="down", duration_ms=3.0)
            made.append(notification.pk)
        return made

    def test_get_unknown_is_404(self, reader):
        assert_problem(reader.get(self.detail(999999)), 404)

    def test_a_notification_shows_its_attempts_but_not_its_headers(self, reader):
        (made,) = self.make(1)
        body = reader.get(self.detail(made)).json()
        assert [a["status"] for a in body["attemptLog"]] == [500]
        assert "headers" not in body


def test_api_clients_show_their_secret_once():
    operator = api_for("op", "operator")
    body = {"kind": "eec", "identity": "eec-7", "scopes": ["eecs-serviceprovisioning"]}
    created = operator.post("api-clients/", body)
    assert created.status_code == 201, created.content
    secret, client_id = created.json()["clientSecret"], created.json()["clientId"]
    assert secret and client_id
    listed = operator.get("api-clients/")
    assert ids_of(listed) == [created.json()["id"]]
    assert secret.encode() not in listed.content
    assert "clientSecret" not in operator.get(f"api-clients/{created.json()['id']}/").json()
    assert "/identity" in pointers(operator.post("api-clients/", body))
    assert operator.delete(f"api-clients/{created.json()['id']}/").status_code == 204
    assert ids_of(operator.get("api-clients/")) == []
    assert_problem(api_for("aud", "auditor").get("api-clients/"), 403)
