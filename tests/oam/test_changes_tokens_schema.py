"""``changes/`` (the merged change log, by cursor), OAM tokens (the command, the admin,
expiry, read-only, rate) and the OAM API in the OpenAPI document."""

from __future__ import annotations

import datetime as dt
import hashlib
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from django.utils import timezone

from oam.models import OAMToken
from tests.builders import make_edn, make_partner
from tests.oam.base import OAMClient, api_for, assert_problem

pytestmark = pytest.mark.django_db


# --- changes/ ----------------------------------------------------------------------------


def test_changes_page_by_cursor_across_tables_without_gaps_or_repeats():
    operator = api_for("op", "operator")
    for n in range(4):
        assert operator.post("edns/", {"id": f"edn-{n}", "ednConInfo": {"dnn": "x"}}).status_code
        assert operator.post("partners/", {"id": f"p{n}", "apiRoot": "https://p.example"})
    seen, url = [], "changes/"
    while url:
        page = operator.get(url, {"limit": 3} if url == "changes/" else None).json()
        seen += [c["id"] for c in page["results"]]
        url = page["next"]
    assert len(seen) == len(set(seen)) == 8


def test_changes_filter_by_model_user_request_id_and_since():
    operator = api_for("op", "operator")
    make_edn("edn-orm")  # written outside any request: no user
    answer = operator.post("partners/", {"id": "p1", "apiRoot": "https://p.example"})
    request_id = answer["X-Request-ID"]
    assert {c["model"] for c in operator.get("changes/", {"model": "edn"}).json()["results"]} == {
        "edn"
    }
    mine = operator.get("changes/", {"user": "op"}).json()["results"]
    assert [(c["object"], c["user"]) for c in mine] == [("p1", "op")]
    assert [
        c["object"] for c in operator.get("changes/", {"request_id": request_id}).json()["results"]
    ] == ["p1"]
    later = (timezone.now() + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert operator.get("changes/", {"since": later}).json()["results"] == []


def test_changes_refuse_unknown_parameters_models_and_cursors():
    operator = api_for("op", "operator")
    assert_problem(operator.get("changes/", {"colour": "red"}), 400)
    assert_problem(operator.get("changes/", {"model": "cache"}), 400)
    assert_problem(operator.get("changes/", {"cursor": "not-a-cursor"}), 400)
    assert_problem(operator.get("changes/", {"since": "yesterday"}), 400)
    assert_problem(OAMClient(None).get("changes/"), 401)


def test_a_deletion_is_in_the_change_log():
    operator = api_for("op", "operator")
    make_partner("ecs.gone.example")
    assert operator.delete("partners/ecs.gone.example/").status_code == 204
    actions = [
        c["action"] for c in operator.get("changes/", {"model": "partner"}).json()["results"]
    ]
    assert actions == ["deleted", "created"]


# --- Tokens ------------------------------------------------------------------------------


def test_the_command_prints_the_key_last_and_stores_only_its_hash():
    out = StringIO()
    call_command(
        "ecs_oam_token", "robot", "--create-user", "--group", "auditor", "--expires-days", "3",
        "--read-only", stdout=out,
    )  # fmt: skip
    key = out.getvalue().strip().splitlines()[-1]
    token = OAMToken.objects.get()
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in str(list(OAMToken.objects.values()))
    assert token.read_only and token.expires > timezone.now() + dt.timedelta(days=2)
    assert token.user.groups.get().name == "auditor" and not token.user.has_usable_password()
    assert OAMClient(key).get("audit/").status_code == 200


def test_the_command_refuses_an_unknown_user_without_create_user():
    with pytest.raises(CommandError, match="--create-user"):
        call_command("ecs_oam_token", "nobody", stdout=StringIO())


def test_an_expired_token_or_an_inactive_user_is_401():
    user = get_user_model().objects.create_user("old")
    _, expired = OAMToken.objects.issue(user, expires=timezone.now() - dt.timedelta(seconds=1))
    assert_problem(OAMClient(expired).get("audit/"), 401)
    _, key = OAMToken.objects.issue(user)
    user.is_active = False
    user.save()
    assert_problem(OAMClient(key).get("audit/"), 401)


def test_a_401_says_how_to_authenticate():
    response = OAMClient(None).get("partners/")
    assert_problem(response, 401)
    assert response["WWW-Authenticate"].startswith("Token")


@override_settings(ECS_OAM_TOKEN_RATE_PER_MINUTE=3)
def test_token_use_is_rate_limited_per_token():
    api = api_for("busy", "operator")
    for _ in range(3):
        assert api.get("partners/").status_code == 200
    response = api.get("partners/")
    assert_problem(response, 429)
    assert int(response["Retry-After"]) >= 1
    assert api_for("other", "operator").get("partners/").status_code == 200


def test_the_admin_creates_a_token_and_shows_its_key_once(plain_static_files):
    admin = get_user_model().objects.create_superuser("root", "root@example.org", "pw")
    owner = get_user_model().objects.create_user("robot")
    browser = Client()
    browser.force_login(admin)
    response = browser.post(
        "/admin/oam/oamtoken/add/",
        {"user": owner.pk, "description": "inventory sync", "expires_0": "", "expires_1": ""},
    )
    assert response.status_code == 200, response.content[:2000]
    assert response["Cache-Control"].startswith("no-store")
    key = response.context["key"]
    assert key.encode() in response.content
    token = OAMToken.objects.get()
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key.encode() not in browser.get(f"/admin/oam/oamtoken/{token.pk}/change/").content
    assert key.encode() not in browser.get("/admin/oam/oamtoken/").content
    assert OAMClient(key).get("partners/").status_code == 403  # robot has no permission


# --- The OpenAPI document ----------------------------------------------------------------


def test_every_oam_operation_is_documented_with_the_token_and_problem_details(client):
    document = client.get("/api/schema/", {"format": "json"}).json()
    oam = {path: item for path, item in document["paths"].items() if "/api/oam/v1/" in path}
    for resource in (
        "ecs/", "edns/", "eess/", "partners/", "policies/", "cache-entries/", "audit/",
        "changes/", "outbox/", "api-clients/", "cache-entries/{id}/invalidate/",
    ):  # fmt: skip
        assert f"/api/oam/v1/{resource}" in oam, resource
    for path, item in oam.items():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            assert operation["security"] == [{"oamToken": []}], (method, path)
            assert operation["tags"] == ["OAM"]
            for code in ("400", "401", "403", "default"):
                content = operation["responses"][code]["content"]
                assert list(content) == ["application/problem+json"], (method, path, code)
            ok = [c for c in operation["responses"] if c.startswith("2")]
            assert ok, (method, path)
    assert document["components"]["securitySchemes"]["oamToken"]["type"] == "apiKey"
    create = oam["/api/oam/v1/partners/"]["post"]["requestBody"]["content"]["application/json"]
    assert len(create["schema"]["oneOf"]) == 2  # an entry, or a list of entries
    audit = {p["name"] for p in oam["/api/oam/v1/audit/"]["get"]["parameters"]}
    assert {"partner", "direction", "decision", "since", "until", "request_id", "cursor"} <= audit


def test_a_cursor_the_api_did_not_give_is_400():
    body = assert_problem(api_for("op", "operator").get("partners/", {"cursor": "garbage"}), 400)
    assert body["invalidParams"][0]["param"] == "cursor"
