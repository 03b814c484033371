"""The OAM API's ``nef/``: the NEF as the configuration file's ``nef`` section, for scripts.

A literal client secret is written but never read back (``env:NAME`` is), a PUT without it
keeps it, bad values are named by JSON pointer with nothing written, and only operators
write."""

from __future__ import annotations

import pytest

from partners.models import NEFConfiguration
from partners.nef import resolver
from tests.oam.base import api_for, assert_problem, pointers

pytestmark = pytest.mark.django_db

BODY = {
    "apiRoot": "https://nef.example",
    "afId": "ecs-af",
    "tokenUrl": "https://nef.example/oauth2/token",
    "clientId": "ecs",
    "clientSecret": "s3cret-value",
    "scope": "nnef-monitoring",
    "timeout": 1.5,
    "cacheSeconds": 120,
    "breakerThreshold": 3,
    "breakerCooldown": 10.0,
}


def test_an_operator_puts_reads_patches_and_deletes_the_nef():
    operator = api_for("op", "operator")
    assert_problem(operator.get("nef/"), 404)
    created = operator.put("nef/", BODY)
    assert created.status_code == 201, created.content
    expected = {k: v for k, v in BODY.items() if k != "clientSecret"}
    assert created.json() == expected  # the literal secret is not read back
    assert NEFConfiguration.objects.get(pk=1).client_secret == "s3cret-value"
    assert resolver.configuration().af_id == "ecs-af"

    replaced = operator.put("nef/", {k: v for k, v in BODY.items() if k != "clientSecret"})
    assert replaced.status_code == 200
    assert NEFConfiguration.objects.get().client_secret == "s3cret-value"  # kept

    patched = operator.patch("nef/", {"timeout": 2.5, "clientSecret": "env:NEF_SECRET"})
    assert patched.status_code == 200, patched.content
    assert patched.json()["timeout"] == 2.5 and patched.json()["clientSecret"] == "env:NEF_SECRET"

    assert operator.send("DELETE", "nef/").status_code == 204
    assert not NEFConfiguration.objects.exists()
    assert_problem(operator.patch("nef/", {"timeout": 1}), 404)


def test_bad_values_are_named_and_nothing_is_written():
    operator = api_for("op", "operator")
    assert operator.put("nef/", BODY).status_code == 201
    assert {"/timeout", "/colour"} <= pointers(
        operator.patch("nef/", {"timeout": 99, "colour": "blue"})
    )
    assert "/apiRoot" in pointers(operator.patch("nef/", {"apiRoot": "ftp://nef.example"}))
    assert NEFConfiguration.objects.get().timeout == 1.5


def test_an_auditor_may_not_read_or_write_the_nef():
    auditor = api_for("aud", "auditor")
    assert_problem(auditor.get("nef/"), 403)
    assert_problem(auditor.put("nef/", BODY), 403)
    assert not NEFConfiguration.objects.exists()
