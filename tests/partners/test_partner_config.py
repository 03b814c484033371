"""The ``partners`` and ``policies`` sections of the configuration file (ecs_apply / ecs_export).

What an operator relies on: a partner's inbound token never sits in the database or in an
export in the clear (only its SHA-256, written ``sha256:<hex>``), a literal outbound token is
never exported (``env:NAME`` is), an export applied again changes nothing, a bad file names
the entry and field at fault and writes nothing, and ``--prune`` removes what is not listed.
"""

from __future__ import annotations

import copy
import hashlib
from collections import Counter
from typing import Any

import pytest
import yaml
from django.contrib.auth import get_user_model
from django.core.management.base import CommandError
from django.db import connection

from ecscore import configfile
from partners.configsection import PARTNER_KEYS, POLICY_KEYS
from partners.models import DEFAULT_SCOPE, AuthorizationPolicy, PartnerECS
from tests.builders import EDGE10_REQUEST, HOME, configure_ecs, plmn, post_json
from tests.ecsportal.configtools import (
    admin_form_errors,
    apply_config,
    export_config,
    refused_by_apply,
    write_config,
)

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
                    "roamingMode": "redirect",
                    "redirectDnn": "edge.a",
                    "redirectSnssai": {"sst": 1, "sd": "0000AB"},
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
        "roamingMode": "redirect",
        "redirectDnn": "edge.a",
        "redirectSnssai": {"sd": "0000AB", "sst": 1},
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
    # A partner that says nothing of roaming is retrieved from, as before the option existed.
    assert b["roamingMode"] == "retrieve"
    assert "redirectDnn" not in b and "redirectSnssai" not in b
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
        # An id with no partners entry is an ECS known only through the ECS-ER (issue 17);
        # what names no ECS at all is refused.
        _set(("policies", 1, "partner"), 42),
        "policies[1] (a-video).partner",
        id="no-partner-id",
    ),
    pytest.param(
        _set(("partners", 0, "consult"), "sometimes"),
        "partners[0] (ecs.a.example).consult",
        id="bad-consult-mode",
    ),
    pytest.param(
        _set(("partners", 0, "roamingMode"), "bounce"),
        "partners[0] (ecs.a.example).roamingMode: 'bounce' is not one of retrieve, redirect",
        id="unknown-roaming-mode",
    ),
    pytest.param(
        _set(("partners", 0, "redirectSnssai"), {"sst": 1, "sd": "xyz"}),
        "partners[0] (ecs.a.example).redirectSnssai/sd: 'xyz' does not match",
        id="snssai-sd-not-hex",
    ),
    pytest.param(
        _set(("partners", 0, "redirectSnssai"), {"sst": 256}),
        "partners[0] (ecs.a.example).redirectSnssai/sst: 256 is greater than",
        id="snssai-sst-above-255",
    ),
    pytest.param(
        _set(("partners", 0, "redirectSnssai"), {"sd": "000001"}),
        "partners[0] (ecs.a.example).redirectSnssai/sst: is required",
        id="snssai-without-sst",
    ),
    pytest.param(
        _set(("partners", 0, "redirectSnssai"), {"sst": 1, "slice": 2}),
        "partners[0] (ecs.a.example).redirectSnssai: 'slice' is not a member of 3GPP Snssai",
        id="snssai-unknown-member",
    ),
    pytest.param(
        _set(("partners", 0, "redirectSnssai"), "1-000001"),
        "partners[0] (ecs.a.example).redirectSnssai: Must be a 3GPP Snssai object",
        id="snssai-not-an-object",
    ),
    pytest.param(
        _set(("partners", 0, "redirectDnn"), "-edge"),
        "partners[0] (ecs.a.example).redirectDnn: Not a DNN",
        id="redirect-dnn-not-a-dnn",
    ),
    pytest.param(
        _set(("partners", 1, "roamingMode"), "redirect"),
        "partners[1] (ecs.b.example).plmns: required with roamingMode",
        id="redirect-without-plmns",
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


def test_discovered_partners_are_neither_exported_nor_pruned(tmp_path, applied):
    PartnerECS.objects.create(
        partner_id="ecs.discovered.example",
        api_root="https://ecs.discovered.example",
        source=PartnerECS.SOURCE_DISCOVERED,
    )
    assert "ecs.discovered.example" not in [p["id"] for p in exported()["partners"]]

    apply_config(write_config(tmp_path, base_document()), "--prune")

    assert PartnerECS.objects.filter(partner_id="ecs.discovered.example").exists()


def test_prune_of_policies_alone_keeps_partners(tmp_path, applied):
    apply_config(write_config(tmp_path, {"policies": []}), "--prune")
    assert PartnerECS.objects.count() == 2
    assert AuthorizationPolicy.objects.count() == 0


def test_a_policy_of_a_pruned_partner_names_its_ecs_id(tmp_path, applied):
    """Pruning a partner whose policy the file still lists: the policy stays, naming the
    ECS id, which covers that ECS only when it presents a federation token of our ECS-ER
    (its static token went with its partner entry)."""
    document = base_document()
    document["partners"] = document["partners"][:1]  # ecs.b.example is pruned ...
    # ... while the file still lists a policy for it.
    apply_config(write_config(tmp_path, document), "--prune")

    assert not PartnerECS.objects.filter(partner_id="ecs.b.example").exists()
    policy = AuthorizationPolicy.objects.get(partner_ecs_id="ecs.b.example")
    assert policy.partner is None
    assert "ecs.b.example" in {p["partner"] for p in exported()["policies"]}


def test_policies_for_ecss_known_only_through_the_er_round_trip(tmp_path, applied):
    document = base_document()
    document["policies"] += [
        {"id": "er-one", "partner": "ecs.only-at-er.example", "easIds": ["*"]},
        {
            "id": "er-friends",
            "partner": "*",
            "requesterEcsps": ["ecsp.friend.example"],
            "easIds": ["app.one"],
            "dnns": ["edge.a"],
        },
    ]
    apply_config(write_config(tmp_path, document))
    star = AuthorizationPolicy.objects.get(policy_id="er-friends")
    assert (star.partner, star.partner_ecs_id, star.requester_ecsps) == (
        None,
        "*",
        ["ecsp.friend.example"],
    )
    first = export_config()
    listed = {p["id"]: p for p in yaml.safe_load(first)["policies"] if "id" in p}
    assert listed["er-one"]["partner"] == "ecs.only-at-er.example"
    assert listed["er-friends"]["requesterEcsps"] == ["ecsp.friend.example"]
    assert "requesterEcsps" not in listed["a-gaming"]
    # Applied again, the export is the same: nothing changed.
    apply_config(write_config(tmp_path, yaml.safe_load(first), "again.yaml"))
    assert export_config() == first


@pytest.mark.parametrize(
    "entry, named",
    [
        pytest.param({"partner": "*", "easIds": ["*"]}, "requesterEcsps", id="star-alone"),
        pytest.param(
            {"partner": "ecs.a.example", "requesterEcsps": ["x"], "easIds": ["*"]},
            "requesterEcsps",
            id="ecsps-without-star",
        ),
    ],
)
def test_requester_ecsps_go_with_star_only(tmp_path, applied, entry, named):
    document = base_document()
    document["policies"].append({"id": "er-bad", **entry})
    message = refused_by_apply(tmp_path, document)
    assert "policies[3] (er-bad)" in message
    assert named in message


# --- one definition: the admin and the file agree ---------------------------------------------
#
# Defaults, ranges, choices and rules of an option are the model's; the admin form and the
# file both ask the model.  Values the admin used to take and the file refused (or the other
# way round) are refused by both now, and what both take exports and applies again unchanged.

PARTNER_ADD = "/admin/partners/partnerecs/add/"
POLICY_ADD = "/admin/partners/authorizationpolicy/add/"
NEW_PARTNER = {"id": "ecs.new.example", "apiRoot": "https://ecs.new.example"}


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("oam", "oam@example.org", "pw")
    client.force_login(user)
    return client


def partner_form(**changes: str) -> dict[str, str]:
    """The admin's add form for NEW_PARTNER, as a browser posts it (unticked boxes absent)."""
    form = {
        "partner_id": NEW_PARTNER["id"],
        "ecsp": "",
        "api_root": NEW_PARTNER["apiRoot"],
        "plmns": "[]",
        "enabled": "on",
        "consult": "roaming_only",
        "roaming_mode": "retrieve",
        "redirect_dnn": "",
        "redirect_snssai": "",
        "outbound_token": "",
        "timeout": "2",
        "default_lifetime": "300",
        "max_lifetime": "86400",
        "token_url": "",
        "client_id": "",
        "client_secret": "",
        "scope": DEFAULT_SCOPE,
        "breaker_threshold": "5",
        "breaker_cooldown": "30",
    }
    form.update(changes)
    return form


# (admin form changes, file entry changes, the field and the file key at fault)
REFUSED_BY_THE_MODEL = [
    # The admin took these; only the file refused them.
    pytest.param(
        {"breaker_cooldown": "86400.5"},
        {"breakerCooldown": 86400.5},
        "breakerCooldown",
        id="breaker-cooldown-above-a-day",
    ),
    pytest.param(
        {"api_root": "ftp://ecs.new.example"},
        {"apiRoot": "ftp://ecs.new.example"},
        "apiRoot",
        id="api-root-not-http",
    ),
    pytest.param(
        {"token_url": "ftps://ecs.new.example/token", "client_id": "me", "client_secret": "s"},
        {"tokenUrl": "ftps://ecs.new.example/token", "clientId": "me", "clientSecret": "s"},
        "tokenUrl",
        id="token-url-not-http",
    ),
    # Both refused these already, each with its own copy of the rule.
    pytest.param({"timeout": "0.01"}, {"timeout": 0.01}, "timeout", id="timeout-too-short"),
    pytest.param({"timeout": "61"}, {"timeout": 61}, "timeout", id="timeout-too-long"),
    pytest.param(
        {"breaker_threshold": "0"}, {"breakerThreshold": 0}, "breakerThreshold", id="threshold-0"
    ),
    pytest.param(
        {"breaker_cooldown": "0.05"},
        {"breakerCooldown": 0.05},
        "breakerCooldown",
        id="breaker-cooldown-too-short",
    ),
    pytest.param(
        {"default_lifetime": "-1"}, {"defaultLifetime": -1}, "defaultLifetime", id="negative"
    ),
    pytest.param({"consult": "sometimes"}, {"consult": "sometimes"}, "consult", id="consult"),
    pytest.param(
        {"outbound_token": "env:"}, {"outboundToken": "env:"}, "outboundToken", id="env-no-name"
    ),
    pytest.param(
        {"token_url": "https://ecs.new.example/token", "client_secret": "env:S"},
        {"tokenUrl": "https://ecs.new.example/token", "clientSecret": "env:S"},
        "clientId",
        id="token-url-without-client-id",
    ),
    pytest.param({"scope": "s" * 256}, {"scope": "s" * 256}, "scope", id="scope-too-long"),
    pytest.param(
        {"roaming_mode": "bounce"}, {"roamingMode": "bounce"}, "roamingMode", id="roaming-mode"
    ),
    pytest.param(
        {"redirect_snssai": '"1-000001"'},
        {"redirectSnssai": "1-000001"},
        "redirectSnssai",
        id="redirect-snssai-not-an-object",
    ),
    pytest.param(
        {"roaming_mode": "redirect"}, {"roamingMode": "redirect"}, "plmns", id="redirect-no-plmns"
    ),
]


@pytest.mark.parametrize(("form", "entry", "key"), REFUSED_BY_THE_MODEL)
def test_what_the_model_refuses_the_admin_and_the_file_refuse(
    tmp_path, admin_client, form, entry, key
):
    field = PARTNER_KEYS.keys[key]

    errors = admin_form_errors(admin_client.post(PARTNER_ADD, partner_form(**form)))
    message = refused_by_apply(tmp_path, {"partners": [{**NEW_PARTNER, **entry}]})

    assert list(errors) == [field], errors
    assert f"partners[0] (ecs.new.example).{key}: " in message
    assert not PartnerECS.objects.exists()


def test_what_the_model_takes_the_admin_and_the_file_take_and_it_round_trips(
    tmp_path, admin_client
):
    configure_ecs()
    limits = {
        "timeout": "60",
        "breaker_cooldown": "86400",
        "breaker_threshold": "1",
        "default_lifetime": "0",
        "max_lifetime": "0",
        "consult": "when_no_local_match",
        "api_root": "http://127.0.0.1:8080/ecs",
        "token_url": "http://127.0.0.1:8080/token",
        "client_id": "home-ecs",
        "client_secret": "env:PARTNER_SECRET",
        "share_ue_id": "on",
        "plmns": '[{"mcc": "002", "mnc": "02"}]',
        "roaming_mode": "redirect",
        "redirect_dnn": "edge.partner",
        "redirect_snssai": '{"sst": 1, "sd": "00000F"}',
    }
    response = admin_client.post(PARTNER_ADD, partner_form(**limits))
    assert admin_form_errors(response) == {}
    first = export_config()
    [entry] = yaml.safe_load(first)["partners"]
    assert (entry["timeout"], entry["breakerCooldown"], entry["apiRoot"]) == (
        60.0,
        86400.0,
        "http://127.0.0.1:8080/ecs",
    )
    assert (entry["roamingMode"], entry["redirectDnn"], entry["redirectSnssai"]) == (
        "redirect",
        "edge.partner",
        {"sst": 1, "sd": "00000F"},
    )
    history = PartnerECS.history.count()

    # The export applies to the same database unchanged, and to an empty one the same.
    path = tmp_path / "export.yaml"
    path.write_text(first, encoding="utf-8")
    output = apply_config(path)
    assert "created" not in output and "updated" not in output
    assert (export_config(), PartnerECS.history.count()) == (first, history)
    PartnerECS.objects.all().delete()
    apply_config(path)
    assert export_config() == first


def test_an_option_left_out_of_the_file_is_the_models_default(tmp_path):
    apply_config(write_config(tmp_path, {"partners": [NEW_PARTNER]}))
    partner = PartnerECS.objects.get()
    for key, field in PARTNER_KEYS.keys.items():
        if key not in ("id", "apiRoot"):
            assert getattr(partner, field) == PartnerECS._meta.get_field(field).get_default(), key


def policy_form(partner: PartnerECS, **changes: str) -> dict[str, str]:
    form = {
        "policy_id": "p-1",
        "partner": str(partner.pk),
        "enabled": "on",
        "valid_from_0": "",
        "valid_from_1": "",
        "valid_until_0": "",
        "valid_until_1": "",
        "serving_plmns": "",
        "eas_ids": '["app.one"]',
        "ecsps": "",
        "dnns": "",
        "lifetime": "",
        "rate_per_minute": "",
    }
    form.update(changes)
    return form


POLICY_REFUSED = [
    pytest.param({"lifetime": "-1"}, {"lifetime": -1}, "lifetime", id="negative-lifetime"),
    pytest.param(
        {"rate_per_minute": "-5"}, {"ratePerMinute": -5}, "ratePerMinute", id="negative-rate"
    ),
    pytest.param({"eas_ids": '["app.one", ""]'}, {"easIds": ["app.one", ""]}, "easIds", id="eas"),
    pytest.param(
        {"serving_plmns": '[{"mcc": "1", "mnc": "01"}]'},
        {"servingPlmns": [{"mcc": "1", "mnc": "01"}]},
        "servingPlmns",
        id="bad-plmn",
    ),
    pytest.param(
        {
            "valid_from_0": "2030-01-02",
            "valid_from_1": "00:00:00",
            "valid_until_0": "2030-01-01",
            "valid_until_1": "00:00:00",
        },
        {"validFrom": "2030-01-02T00:00:00Z", "validUntil": "2030-01-01T00:00:00Z"},
        "validUntil",
        id="ends-before-it-starts",
    ),
    pytest.param({"policy_id": "p" * 256}, {"id": "p" * 256}, "id", id="id-too-long"),
]


@pytest.mark.parametrize(("form", "entry", "key"), POLICY_REFUSED)
def test_a_policy_the_model_refuses_the_admin_and_the_file_refuse(
    tmp_path, admin_client, form, entry, key
):
    partner = PartnerECS.objects.create(**PARTNER_KEYS.values(NEW_PARTNER))
    field = POLICY_KEYS.keys[key]
    label = f"policies[0] ({entry.get('id', 'p-1')})"

    errors = admin_form_errors(admin_client.post(POLICY_ADD, policy_form(partner, **form)))
    document = {"policies": [{"id": "p-1", "partner": NEW_PARTNER["id"], **entry}]}
    message = refused_by_apply(tmp_path, document)

    assert list(errors) == [field], errors
    assert f"{label}.{key}" in message  # then ": why", or where inside the value
    assert not AuthorizationPolicy.objects.exists()


def test_apply_asks_the_model_again_before_it_saves():
    """What changed since the file was validated is refused at the save, in the file's terms."""
    partner = PartnerECS(**PARTNER_KEYS.values(NEW_PARTNER))
    label = "partners[0] (ecs.new.example)"

    with pytest.raises(configfile.ConfigError) as raised:
        configfile.save_if_changed(
            partner, {"timeout": 0}, Counter(), "partner", True, label, PARTNER_KEYS.fields
        )

    assert [e.split(", not")[0] for e in raised.value.errors] == [f"{label}.timeout: at least 0.05"]
    assert not PartnerECS.objects.exists()


def test_the_admin_lists_and_filters_partners_by_roaming_mode(admin_client):
    make = {"plmns": [VISITED], "api_root": "https://ecs.example"}
    PartnerECS.objects.create(partner_id="ecs.redirects", roaming_mode="redirect", **make)
    PartnerECS.objects.create(partner_id="ecs.retrieves", **make)

    page = admin_client.get("/admin/partners/partnerecs/?roaming_mode__exact=redirect")

    assert page.status_code == 200
    assert [p.partner_id for p in page.context["cl"].result_list] == ["ecs.redirects"]
    assert "redirect (the EEC is sent to the partner ECS" in page.content.decode()


def test_the_admin_takes_a_policy_for_ecss_known_only_through_the_er(admin_client):
    partner = PartnerECS.objects.create(**PARTNER_KEYS.values(NEW_PARTNER))
    star = {**policy_form(partner, partner_ecs_id="*", requester_ecsps=""), "partner": ""}
    errors = admin_form_errors(admin_client.post(POLICY_ADD, star))
    assert list(errors) == ["requester_ecsps"], errors
    both = policy_form(partner, partner_ecs_id="ecs.other.example")
    assert list(admin_form_errors(admin_client.post(POLICY_ADD, both))) == ["partner_ecs_id"]
    star["requester_ecsps"] = '["ecsp.friend.example"]'
    assert admin_form_errors(admin_client.post(POLICY_ADD, star)) == {}
    saved = AuthorizationPolicy.objects.get()
    assert (saved.partner, saved.partner_ecs_id, saved.requester_ecsps) == (
        None,
        "*",
        ["ecsp.friend.example"],
    )
