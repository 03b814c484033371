"""The ``partners`` and ``policies`` sections of the configuration file (ecs_apply / ecs_export).

What an operator relies on: a partner's inbound token never sits in the database or in an
export in the clear (only its SHA-256, written ``sha256:<hex>``), a literal outbound token is
never exported (``env:NAME`` is), an export applied again changes nothing, a bad file names
the entry and field at fault and writes nothing, and ``--prune`` removes what is not listed.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import pytest
import yaml
from django.core.management.base import CommandError
from django.db import connection

from partners.models import AuthorizationPolicy, PartnerECS
from tests.builders import EDGE10_REQUEST, HOME, configure_ecs, plmn, post_json
from tests.ecsportal.configtools import apply_config, export_config, write_config

pytestmark = pytest.mark.django_db

INBOUND_A = "inbound-literal-token-a-5f1c9e"
OUTBOUND_B = "outbound-literal-token-b-93d7aa"
HASH_B = "sha256:" + hashlib.sha256(b"a token only partner b knows").hexdigest()
VISITED = plmn("002", "02")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def base_document() -> dict[str, Any]:
    return copy.deepcopy(
        {
            "partners": [
                {
                    "id": "ecs.a.example",
                    "ecsp": "ecsp.a",
                    "apiRoot": "https://ecs.a.example/",
                    "plmns": [VISITED],
                    "consult": "roaming_only",
                    "outboundToken": "env:ECS_A_TOKEN",
                    "inboundToken": INBOUND_A,
                    "defaultLifetime": 120,
                    "maxLifetime": 3600,
                    "timeout": 1.5,
                    "enabled": True,
                    "shareUeId": True,
                    "subscribe": False,
                },
                {
                    "id": "ecs.b.example",
                    "apiRoot": "http://ecs.b.example:8080",
                    "consult": "always",
                    "outboundToken": OUTBOUND_B,
                    "inboundToken": HASH_B,
                },
            ],
            "policies": [
                {
                    "id": "a-gaming",
                    "partner": "ecs.a.example",
                    "easIds": ["app.one", "app.two"],
                    "servingPlmns": [HOME],
                    "ecsps": ["ecsp.home"],
                    "dnns": ["edge.a"],
                    "lifetime": 600,
                    "ratePerMinute": 60,
                    "validFrom": "2026-01-01T00:00:00Z",
                    "validUntil": "2036-01-01T00:00:00Z",
                },
                {"id": "a-video", "partner": "ecs.a.example", "easIds": ["app.video"]},
                {"partner": "ecs.b.example", "easIds": ["*"]},
            ],
        }
    )


def exported() -> dict[str, Any]:
    return yaml.safe_load(export_config())


def partner_export(document: dict[str, Any], partner_id: str) -> dict[str, Any]:
    [entry] = [p for p in document["partners"] if p["id"] == partner_id]
    return entry


def table_text(model: Any) -> str:
    """Every row of a model's table, as text (what someone reading the database would see)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {connection.ops.quote_name(model._meta.db_table)}")
        return repr(cursor.fetchall())


def snapshot() -> tuple:
    return (
        export_config(),
        PartnerECS.history.count(),
        AuthorizationPolicy.history.count(),
    )


@pytest.fixture
def applied(tmp_path):
    configure_ecs()
    path = write_config(tmp_path, base_document())
    apply_config(path)
    return path


# --- inbound tokens ---------------------------------------------------------------------------


def test_a_literal_inbound_token_is_stored_only_as_its_hash(applied):
    a = PartnerECS.objects.get(partner_id="ecs.a.example")
    assert a.inbound_token_hash == sha256(INBOUND_A)
    partners_table = table_text(PartnerECS)
    history_table = table_text(PartnerECS.history.model)
    assert sha256(INBOUND_A) in partners_table and sha256(INBOUND_A) in history_table
    assert INBOUND_A not in partners_table
    assert INBOUND_A not in history_table


def test_inbound_tokens_are_exported_as_their_hash(applied):
    text = export_config()
    assert INBOUND_A not in text
    document = yaml.safe_load(text)
    assert partner_export(document, "ecs.a.example")["inboundToken"] == (
        "sha256:" + sha256(INBOUND_A)
    )
    assert partner_export(document, "ecs.b.example")["inboundToken"] == HASH_B


def test_an_uppercase_hash_is_the_same_hash(tmp_path, applied):
    document = base_document()
    document["partners"][1]["inboundToken"] = "sha256:" + HASH_B[len("sha256:") :].upper()
    apply_config(write_config(tmp_path, document))
    assert partner_export(exported(), "ecs.b.example")["inboundToken"] == HASH_B


def test_the_partner_authenticates_with_its_literal_token_after_a_round_trip(
    tmp_path, client, applied
):
    export_path = tmp_path / "export.yaml"
    export_path.write_text(export_config(), encoding="utf-8")
    PartnerECS.objects.all().delete()
    apply_config(export_path)
    assert PartnerECS.objects.get(partner_id="ecs.a.example").inbound_token_hash == sha256(
        INBOUND_A
    )
    response = post_json(
        client,
        EDGE10_REQUEST,
        {"reqEcsId": "ecs.a.example", "servingPlmn": HOME},
        HTTP_AUTHORIZATION=f"Bearer {INBOUND_A}",
    )
    # Authenticated (not 401); a-gaming does not cover a request without EAS ids.
    assert response.status_code == 403


# --- outbound tokens --------------------------------------------------------------------------


def test_a_literal_outbound_token_is_never_exported_but_env_is(applied):
    text = export_config()
    assert OUTBOUND_B not in text
    document = yaml.safe_load(text)
    assert partner_export(document, "ecs.a.example")["outboundToken"] == "env:ECS_A_TOKEN"
    assert "outboundToken" not in partner_export(document, "ecs.b.example")
    assert OUTBOUND_B not in table_text(PartnerECS.history.model)


def test_applying_an_export_keeps_the_literal_outbound_token(tmp_path, applied):
    path = tmp_path / "export.yaml"
    path.write_text(export_config(), encoding="utf-8")
    apply_config(path)
    assert PartnerECS.objects.get(partner_id="ecs.b.example").outbound_token == OUTBOUND_B


# --- round trip -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_an_export_applied_again_gives_the_same_export(tmp_path, applied, fmt):
    first = export_config(fmt)
    hashes = dict(PartnerECS.objects.values_list("partner_id", "inbound_token_hash"))
    history = (PartnerECS.history.count(), AuthorizationPolicy.history.count())
    path = tmp_path / f"export.{fmt}"
    path.write_text(first, encoding="utf-8")

    output = apply_config(path)

    assert export_config(fmt) == first
    assert dict(PartnerECS.objects.values_list("partner_id", "inbound_token_hash")) == hashes
    # Nothing changed, so nothing was written to the change log either.
    assert (PartnerECS.history.count(), AuthorizationPolicy.history.count()) == history
    assert "created" not in output and "updated" not in output


def test_an_export_applied_to_an_empty_database_gives_the_same_export(tmp_path, applied):
    first = export_config()
    path = tmp_path / "export.yaml"
    path.write_text(first, encoding="utf-8")
    AuthorizationPolicy.objects.all().delete()
    PartnerECS.objects.all().delete()

    apply_config(path)

    assert export_config() == first


def test_the_export_holds_what_was_applied(applied):
    document = exported()
    a = partner_export(document, "ecs.a.example")
    assert a == {
        "id": "ecs.a.example",
        "ecsp": "ecsp.a",
        "apiRoot": "https://ecs.a.example/",
        "plmns": [VISITED],
        "consult": "roaming_only",
        "outboundToken": "env:ECS_A_TOKEN",
        "inboundToken": "sha256:" + sha256(INBOUND_A),
        "defaultLifetime": 120,
        "maxLifetime": 3600,
        "timeout": 1.5,
        "enabled": True,
        "shareUeId": True,
        "subscribe": False,
        "breakerThreshold": 5,
        "breakerCooldown": 30.0,
    }
    b = partner_export(document, "ecs.b.example")
    assert (b["consult"], b["timeout"], b["defaultLifetime"], b["maxLifetime"]) == (
        "always",
        2.0,
        300,
        86400,
    )
    assert document["policies"] == [
        {
            "id": "a-gaming",
            "partner": "ecs.a.example",
            "enabled": True,
            "validFrom": "2026-01-01T00:00:00Z",
            "validUntil": "2036-01-01T00:00:00Z",
            "servingPlmns": [HOME],
            "easIds": ["app.one", "app.two"],
            "ecsps": ["ecsp.home"],
            "dnns": ["edge.a"],
            "lifetime": 600,
            "ratePerMinute": 60,
        },
        {"id": "a-video", "partner": "ecs.a.example", "enabled": True, "easIds": ["app.video"]},
        {"partner": "ecs.b.example", "enabled": True, "easIds": ["*"]},
    ]


# --- policies by id and by partner ------------------------------------------------------------


def test_policies_are_updated_in_place_by_id_and_by_partner(tmp_path, applied):
    pks = {(p.policy_id, p.partner.partner_id): p.pk for p in AuthorizationPolicy.objects.all()}
    document = base_document()
    document["policies"][1]["easIds"] = ["app.video", "app.audio"]  # a-video, by id
    document["policies"][2]["ratePerMinute"] = 10  # b's only policy, by partner

    apply_config(write_config(tmp_path, document))

    after = {(p.policy_id, p.partner.partner_id): p for p in AuthorizationPolicy.objects.all()}
    assert {k: p.pk for k, p in after.items()} == pks
    assert after[("a-video", "ecs.a.example")].eas_ids == ["app.video", "app.audio"]
    assert after[("", "ecs.b.example")].rate_per_minute == 10
    assert after[("a-gaming", "ecs.a.example")].lifetime == 600


def test_a_policy_id_moves_its_policy_to_another_partner(tmp_path, applied):
    document = base_document()
    document["policies"][1]["partner"] = "ecs.b.example"
    apply_config(write_config(tmp_path, document))
    assert AuthorizationPolicy.objects.get(policy_id="a-video").partner.partner_id == (
        "ecs.b.example"
    )
    assert AuthorizationPolicy.objects.count() == 3


# --- validation: name the entry and field, write nothing -------------------------------------


def _broken(change) -> dict[str, Any]:
    document = base_document()
    # Also a change that would be written if the file were applied at all.
    document["partners"].append({"id": "ecs.new.example", "apiRoot": "https://ecs.new.example"})
    change(document)
    return document


def _set(path: tuple, value: Any):
    def change(document: dict[str, Any]) -> None:
        node = document
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return change


INVALID = [
    pytest.param(
        _set(("policies", 1, "partner"), "ecs.nobody.example"),
        "policies[1] (a-video).partner",
        id="unknown-partner",
    ),
    pytest.param(
        _set(("partners", 0, "consult"), "sometimes"),
        "partners[0] (ecs.a.example).consult",
        id="bad-consult-mode",
    ),
    pytest.param(
        _set(("partners", 1, "apiRoot"), "ecs.b.example:8080"),
        "partners[1] (ecs.b.example).apiRoot",
        id="apiRoot-without-scheme",
    ),
    pytest.param(
        _set(("partners", 1, "apiRoot"), "ftp://ecs.b.example"),
        "partners[1] (ecs.b.example).apiRoot",
        id="apiRoot-not-http",
    ),
    pytest.param(
        _set(("partners", 1, "inboundToken"), "sha256:abc123"),
        "partners[1] (ecs.b.example).inboundToken",
        id="short-sha256",
    ),
    pytest.param(
        _set(("partners", 1, "inboundToken"), "sha256:" + "g" * 64),
        "partners[1] (ecs.b.example).inboundToken",
        id="non-hex-sha256",
    ),
    pytest.param(
        _set(("partners", 0, "timeout"), 0),
        "partners[0] (ecs.a.example).timeout",
        id="timeout-zero",
    ),
    pytest.param(
        _set(("partners", 0, "outboundToken"), "env:"),
        "partners[0] (ecs.a.example).outboundToken",
        id="env-without-name",
    ),
    pytest.param(
        _set(("partners", 0, "id"), "x" * 300),
        "partners[0] (" + "x" * 300 + ").id: at most 255 characters",
        id="id-longer-than-its-column",
    ),
    pytest.param(
        _set(("partners", 0, "apiRoot"), "https://ecs.a.example/" + "p" * 500),
        "partners[0] (ecs.a.example).apiRoot",
        id="apiRoot-longer-than-its-column",
    ),
    pytest.param(
        _set(("policies", 0, "partner"), ["ecs.a.example"]),
        "policies[0] (a-gaming).partner",
        id="partner-not-a-string",
    ),
    pytest.param(
        _set(("policies", 0, "validUntil"), "2025-01-01T00:00:00Z"),
        "policies[0] (a-gaming).validUntil",
        id="valid-until-before-valid-from",
    ),
    pytest.param(
        lambda d: d["policies"].append({"partner": "ecs.b.example", "easIds": ["app.x"]}),
        "policies[3]",
        id="second-unnamed-policy-of-a-partner",
    ),
]


@pytest.mark.parametrize(("change", "named"), INVALID)
def test_a_bad_entry_is_named_and_nothing_is_written(tmp_path, applied, change, named):
    before = snapshot()
    path = write_config(tmp_path, _broken(change), "broken.yaml")

    with pytest.raises(CommandError) as raised:
        apply_config(path)

    assert named in str(raised.value)
    assert "nothing was changed" in str(raised.value)
    assert snapshot() == before
    assert not PartnerECS.objects.filter(partner_id="ecs.new.example").exists()


# --- prune ------------------------------------------------------------------------------------


def test_prune_removes_unlisted_partners_and_policies(tmp_path, applied):
    document = base_document()
    document["partners"] = document["partners"][:1]  # ecs.b.example no longer listed
    document["policies"] = document["policies"][:1]  # only a-gaming

    apply_config(write_config(tmp_path, document))  # without --prune: nothing removed
    assert PartnerECS.objects.count() == 2
    assert AuthorizationPolicy.objects.count() == 3

    apply_config(write_config(tmp_path, document), "--prune")

    assert list(PartnerECS.objects.values_list("partner_id", flat=True)) == ["ecs.a.example"]
    assert list(AuthorizationPolicy.objects.values_list("policy_id", flat=True)) == ["a-gaming"]
    document_after = exported()
    assert [p["id"] for p in document_after["partners"]] == ["ecs.a.example"]
    assert [p["id"] for p in document_after["policies"]] == ["a-gaming"]


def test_prune_of_policies_alone_keeps_partners(tmp_path, applied):
    apply_config(write_config(tmp_path, {"policies": []}), "--prune")
    assert PartnerECS.objects.count() == 2
    assert AuthorizationPolicy.objects.count() == 0


def test_prune_refuses_a_policy_of_a_partner_it_removes(tmp_path, applied):
    document = base_document()
    document["partners"] = document["partners"][:1]  # ecs.b.example would be pruned ...
    # ... while the file still lists a policy for it.
    before = snapshot()

    with pytest.raises(CommandError) as raised:
        apply_config(write_config(tmp_path, document), "--prune")

    assert "policies[2]" in str(raised.value)
    assert "ecs.b.example" in str(raised.value)
    assert snapshot() == before
