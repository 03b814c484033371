"""The OAM API's inventory: ``edns/``, ``eess/`` and ``ecs/``, as the configuration file has
them (3GPP EDNConInfo and EESInfo), on the generic resource tests."""

from __future__ import annotations

from typing import Any

import pytest

from provisioning.models import EDN, EES, ECSConfiguration
from tests.builders import make_edn, make_ees
from tests.oam import base
from tests.oam.base import api_for, assert_problem, pointers

pytestmark = pytest.mark.django_db


def ees_body(ees_id: str, edn: str = "edn-x", **extra: Any) -> dict[str, Any]:
    return {
        "edn": edn,
        "eesId": ees_id,
        "endPt": {"uri": f"https://{ees_id}.example/eees"},
        "easIds": ["com.example.game"],
        "eecRegConf": False,
        **extra,
    }


class TestEDNs(base.ReadWrite):
    resource = "edns/"
    model = EDN
    create_data = [
        {"id": f"edn-new-{n}", "ednConInfo": {"dnn": f"new{n}.example"}} for n in range(3)
    ]
    invalid_data = [
        ({"id": "edn-bad", "ednConInfo": {"dnn": 7}}, "/ednConInfo/dnn"),
        ({"id": "edn-bad", "ednConInfo": {"dnn": "x"}, "colour": "red"}, "/colour"),
        ({"ednConInfo": {"dnn": "x"}}, "/id"),
        (
            {"id": "edn-bad", "ednConInfo": {"dnn": "x"}, "plmns": [{"mcc": "1", "mnc": "01"}]},
            "/plmns/0/mcc",
        ),
    ]
    patch_data = {"plmns": [{"mcc": "002", "mnc": "02"}]}
    invalid_patch = ({"ednConInfo": {"snssai": {"sst": "one"}}}, "/ednConInfo/snssai/sst")
    filters = [
        ({"dnn": "edn1.example"}, {"edn-1"}),
        ({"id": "edn-2"}, {"edn-2"}),
        ({"dnn": "nothing.example"}, set()),
    ]

    def make(self, count: int, start: int = 0) -> list[str]:
        made = []
        for n in range(start, start + count):
            edn = make_edn(f"edn-{n}", dnn=f"edn{n}.example")
            make_ees(edn, f"ees-of-edn-{n}")  # the list shows its EESs: prefetched
            made.append(edn.edn_id)
        return made

    def make_filtered(self) -> None:
        self.make(3)

    def check_representation(self, body: dict[str, Any]) -> None:
        assert body["ednConInfo"]["dnn"].endswith(".example")
        assert [e["eesId"] for e in body["eess"]] == [f"ees-of-{body['id']}"]


class TestEESs(base.ReadWrite):
    resource = "eess/"
    model = EES
    lookup_key = "eesId"
    create_data = [ees_body(f"ees-new-{n}") for n in range(3)]
    invalid_data = [
        (ees_body("ees-bad", edn="no-such-edn"), "/edn"),
        (ees_body("ees-bad", easIds="com.example.game"), "/easIds"),
        ({k: v for k, v in ees_body("ees-bad").items() if k != "eecRegConf"}, "/eecRegConf"),
        (ees_body("ees-bad", endPt={"uri": 5}), "/endPt/uri"),
    ]
    patch_data = {"easIds": ["com.example.other"], "ecspInfo": "cloudedge"}
    invalid_patch = ({"eecRegConf": "yes"}, "/eecRegConf")
    filters = [
        ({"edn": "edn-y"}, {"ees-y-0", "ees-y-1", "ees-registered"}),
        ({"eas_id": "com.example.rare"}, {"ees-x-0"}),
        ({"source": "registered"}, {"ees-registered"}),
        ({"ecsp": "cloudedge"}, {"ees-y-1"}),
        ({"edn": "edn-x", "source": "configured"}, {"ees-x-0", "ees-x-1"}),
    ]
    invalid_filters = [({"source": "from-mars"}, "source")]

    def prepare_create(self) -> None:
        EDN.objects.get_or_create(edn_id="edn-x", defaults={"dnn": "x.example"})

    def make(self, count: int, start: int = 0) -> list[str]:
        self.prepare_create()
        edn = EDN.objects.get(edn_id="edn-x")
        return [make_ees(edn, f"ees-{n}").ees_id for n in range(start, start + count)]

    def make_filtered(self) -> None:
        x = make_edn("edn-x", dnn="x.example")
        y = make_edn("edn-y", dnn="y.example")
        make_ees(x, "ees-x-0", eas_ids=["com.example.game", "com.example.rare"])
        make_ees(x, "ees-x-1")
        make_ees(y, "ees-y-0")
        make_ees(y, "ees-y-1", ecsp="cloudedge")
        make_ees(y, "ees-registered", source=EES.SOURCE_REGISTERED)

    def check_representation(self, body: dict[str, Any]) -> None:
        assert body["edn"] == "edn-x" and body["source"] == "configured"
        assert body["endPt"] == {"uri": f"https://{body['eesId']}.example/eees"}


def test_a_registered_ees_is_read_only():
    operator = api_for("op", "operator")
    edn = make_edn("edn-r")
    make_ees(edn, "ees-registered", source=EES.SOURCE_REGISTERED)
    assert operator.get("eess/ees-registered/").json()["source"] == "registered"
    body = assert_problem(operator.patch("eess/ees-registered/", {"easIds": ["x.y"]}), 403)
    assert body["cause"] == "REGISTERED_EES"
    assert_problem(operator.delete("eess/ees-registered/"), 403)
    assert EES.objects.get(ees_id="ees-registered").eas_ids == ["app.one"]


def test_an_ees_id_taken_by_another_ees_is_refused():
    operator = api_for("op", "operator")
    make_ees(make_edn("edn-x"), "ees-taken")
    assert "/eesId" in pointers(operator.post("eess/", ees_body("ees-taken")))


class TestECS:
    def test_the_identity_reads_and_writes_as_the_files_ecs_section(self):
        operator = api_for("op", "operator")
        body = {
            "id": "ecs.aurora.example",
            "ecsp": "aurora",
            "homePlmns": [{"mcc": "001", "mnc": "01"}],
            "provisioningLifetime": 1800,
        }
        response = operator.put("ecs/", body)
        assert response.status_code == 200, response.content
        assert operator.get("ecs/").json() == body
        assert (
            operator.patch("ecs/", {"provisioningLifetime": 60}).json()["provisioningLifetime"]
            == 60
        )
        assert ECSConfiguration.load().ecs_id == "ecs.aurora.example"

    def test_an_invalid_identity_is_named_and_nothing_is_written(self):
        operator = api_for("op", "operator")
        before = operator.get("ecs/").json()
        assert "/homePlmns/0/mnc" in pointers(
            operator.patch("ecs/", {"homePlmns": [{"mcc": "001", "mnc": "x"}]})
        )
        assert "/provisioningLifetime" in pointers(
            operator.patch("ecs/", {"provisioningLifetime": "long"})
        )
        assert operator.get("ecs/").json() == before

    def test_an_auditor_may_not_read_or_change_the_identity(self):
        auditor = api_for("aud", "auditor")
        assert_problem(auditor.get("ecs/"), 403)
        assert_problem(auditor.patch("ecs/", {"ecsp": "x"}), 403)

    def test_an_unknown_query_parameter_is_400(self):
        assert_problem(api_for("op", "operator").get("ecs/", {"x": "1"}), 400)
