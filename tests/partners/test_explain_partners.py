"""Partners in "why this answer": who would be consulted and from the cache or not, with no
side effect -- no call to a stand-in partner unless asked, no audit row but a dry run, no
cache write, no hit counted, no circuit touched."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from partners import breaker, cache
from partners.models import PartnerECS, ProvisioningCacheEntry, RetrievalAudit
from provisioning import explain
from provisioning.datamodel import provisioning_query
from tests.builders import (
    configure_ecs,
    edge4_request,
    edn_config_json,
    ees_info_json,
    in_seconds,
    make_partner,
    plmn,
)
from tests.loopback import LoopbackServer, Received, Reply

pytestmark = pytest.mark.django_db

VISITED = plmn("002", "02")
GAME = "com.example.game"
BODY = edge4_request(eas_ids=[GAME], plmns=[VISITED])


class StandIn:
    """A partner ECS on loopback that answers one EDN and counts the calls it gets."""

    def __init__(self) -> None:
        self.calls: list[Received] = []
        self.server = LoopbackServer(self._respond)

    def _respond(self, request: Received) -> Reply:
        self.calls.append(request)
        cfg = edn_config_json(
            "visited.example", ees_info_json("ees-visited-1", [GAME]), lifetime=in_seconds(600)
        )
        return Reply(200, {"ednCnfgInfo": [cfg]})


@pytest.fixture
def stand_in():
    server = StandIn()
    yield server
    server.server.close()


@pytest.fixture
def visited(stand_in) -> PartnerECS:
    configure_ecs()
    return make_partner("ecs.visited", api_root=stand_in.server.url, plmns=[VISITED], timeout=2.0)


def counts() -> tuple[int, int, list]:
    entries = list(ProvisioningCacheEntry.objects.values_list("pk", "hits", "expires_at"))
    return RetrievalAudit.objects.count(), ProvisioningCacheEntry.objects.count(), entries


def partner_row(result: dict, partner_id: str) -> dict:
    (source,) = [s for s in result["sources"] if s["source"] == "partners"]
    return next(p for p in source["partners"] if p["partner"] == partner_id)


def test_a_partner_that_would_be_called_is_not_called_and_nothing_is_written(visited, stand_in):
    make_partner("ecs.far", plmns=[plmn("003", "03")])  # roaming only, another PLMN
    before = counts()
    result = explain.explain(BODY)
    assert stand_in.calls == []
    assert counts() == before
    row = partner_row(result, "ecs.visited")
    assert row["consulted"] is True and row["action"] == "would call"
    assert row["cache"] == {"state": "none"}
    assert "roams in its PLMN 002-02" in row["why"]
    far = partner_row(result, "ecs.far")
    assert far["consulted"] is False and "002-02 is not one of its" in far["why"]
    assert result["answer"]["complete"] is False
    assert result["answer"]["status"] == 204


def test_a_fresh_entry_answers_without_a_hit_counted(visited, stand_in):
    query = provisioning_query(BODY)
    canonical = cache.canonical_query(query, "002-02", False)
    cfg = edn_config_json("visited.example", ees_info_json("ees-cached", [GAME]))
    cache.store(
        visited,
        cache.cache_key(canonical),
        canonical,
        {},
        [cfg],
        timezone.now() + dt.timedelta(minutes=10),
    )
    before = counts()
    result = explain.explain(BODY, ask_partners=True)
    assert stand_in.calls == []  # the cache answers: nobody calls the partner
    assert counts() == before  # no audit row, no hit
    row = partner_row(result, "ecs.visited")
    assert row["action"] == "cache hit" and row["cache"]["state"] == "fresh"
    ees = [e["eesId"] for c in result["answer"]["body"]["ednCnfgInfo"] for e in c["eess"]]
    assert ees == ["ees-cached"]
    assert result["answer"]["complete"] is True


def test_an_expired_entry_is_reported_and_not_served(visited, stand_in):
    query = provisioning_query(BODY)
    canonical = cache.canonical_query(query, "002-02", False)
    cfg = edn_config_json("visited.example", ees_info_json("ees-stale", [GAME]))
    entry = cache.store(
        visited, cache.cache_key(canonical), canonical, {}, [cfg], timezone.now() + dt.timedelta(1)
    )
    ProvisioningCacheEntry.objects.filter(pk=entry.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    result = explain.explain(BODY)
    row = partner_row(result, "ecs.visited")
    assert row["cache"]["state"] == "expired" and row["action"] == "would call"
    assert stand_in.calls == []


def test_asked_partners_are_really_called_and_leave_only_a_dry_run_row(visited, stand_in):
    audit_before, cache_before, _ = counts()
    result = explain.explain(BODY, ask_partners=True)
    assert len(stand_in.calls) == 1
    assert stand_in.calls[0].path.endswith("/eecs-ecsserviceprovisioning/v1/request")
    row = partner_row(result, "ecs.visited")
    assert row["action"] == "called" and row["status"] == 200
    ees = [e["eesId"] for c in result["answer"]["body"]["ednCnfgInfo"] for e in c["eess"]]
    assert ees == ["ees-visited-1"]
    assert ProvisioningCacheEntry.objects.count() == cache_before  # not cached
    rows = list(RetrievalAudit.objects.all())
    assert len(rows) == audit_before + 1
    (dry,) = [r for r in rows if r.dry_run]
    assert dry.partner == visited and dry.cache == "" and dry.reason.startswith("dry run")
    assert breaker.state(visited) == breaker.CLOSED


def test_an_open_circuit_is_not_called_even_when_asked(visited, stand_in):
    for _ in range(visited.breaker_threshold):
        breaker.record_failure(visited)
    assert breaker.state(visited) == breaker.OPEN
    before = counts()
    result = explain.explain(BODY, ask_partners=True)
    assert stand_in.calls == [] and counts() == before
    assert partner_row(result, "ecs.visited")["action"] == "circuit open"
    assert result["answer"]["status"] == 503


def test_a_redirect_mode_partner_is_named_not_asked(stand_in):
    configure_ecs()
    make_partner(
        "ecs.redirect",
        api_root=stand_in.server.url,
        plmns=[VISITED],
        roaming_mode=PartnerECS.ROAMING_REDIRECT,
        redirect_dnn="visited.dnn",
    )
    before = counts()
    result = explain.explain(BODY, ask_partners=True)
    assert stand_in.calls == [] and counts() == before
    assert partner_row(result, "ecs.redirect")["action"] == "redirect"
    assert result["answer"]["body"]["redirectedECS"][0]["ecsEndPt"]
