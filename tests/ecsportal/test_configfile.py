"""Configuration as code: ``ecs_apply`` and ``ecs_export``."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from django.core.management.base import CommandError

from provisioning.areas import plmn_key
from provisioning.models import EDN, EES, ECSConfiguration
from tests.builders import area, circle, plmn, tai
from tests.ecsportal.configtools import (
    DEMO_FILE,
    apply_config,
    demo_document,
    ees_by_id,
    export_config,
    flush_configuration,
    history_count,
    row_counts,
    write_config,
)

pytestmark = pytest.mark.django_db


def edn_entry(doc: dict, edn_id: str) -> dict:
    return next(e for e in doc["edns"] if e.get("id") == edn_id)


def own_sections(document: dict) -> dict:
    """The ``ecs`` and ``edns`` sections (other apps add sections of their own)."""
    return {k: document[k] for k in ("ecs", "edns")}


def stats_of(output: str) -> dict[str, int]:
    """``Applied FILE (ecs unchanged: 1, edn created: 3)`` -> {"ecs unchanged": 1, ...}.

    Only what the ``ecs`` and ``edns`` sections did (ECS, EDNs, EESs).
    """
    match = re.search(r"\((.*)\)\s*$", output.strip())
    assert match, output
    found = re.findall(r"([a-z]+ [a-z]+): (\d+)", match.group(1))
    return {k: int(v) for k, v in found if k.split()[0] in ("ecs", "edn", "ees")}


# --- apply -----------------------------------------------------------------------------------


def test_demo_file_applies_and_export_gives_back_its_data():
    output = apply_config(DEMO_FILE)

    assert stats_of(output) == {"ecs created": 1, "edn created": 3, "ees created": 4}
    config = ECSConfiguration.load()
    assert (config.ecs_id, config.ecsp, config.provisioning_lifetime) == (
        "ecs.aurora-mobile.example",
        "aurora-mobile",
        3600,
    )
    assert config.home_plmns == [plmn("001", "01")]
    assert sorted(EDN.objects.values_list("edn_id", flat=True)) == [
        "edn-metro-north",
        "edn-metro-south",
        "edn-stadium",
    ]
    north = ees_by_id("ees-north-cloudedge")
    assert north.edn.edn_id == "edn-metro-north"
    assert north.eas_inst_infos == [
        {"easId": "com.example.video-analytics", "status": "INSTANTIABLE"}
    ]
    assert EDN.objects.get(edn_id="edn-metro-north").snssai == {"sst": 1, "sd": "0000A1"}
    # The matching indexes are built from what was applied.
    assert set(north.applications.values_list("eas_id", flat=True)) == {
        "com.example.cloud-gaming",
        "com.example.video-analytics",
    }
    # Everything in the file, and nothing else, comes back out.
    assert own_sections(yaml.safe_load(export_config())) == demo_document()


def test_applying_twice_changes_nothing_the_second_time():
    apply_config(DEMO_FILE)
    before = row_counts()
    stamps = sorted(EES.objects.values_list("ees_id", "updated"))

    output = apply_config(DEMO_FILE)

    assert stats_of(output) == {"ecs unchanged": 1, "edn unchanged": 3, "ees unchanged": 4}
    assert row_counts() == before  # no new change-log rows, no new or lost rows
    assert sorted(EES.objects.values_list("ees_id", "updated")) == stamps


def test_a_changed_entry_is_the_only_one_written(tmp_path):
    apply_config(DEMO_FILE)
    doc = demo_document()
    edn_entry(doc, "edn-metro-south")["eess"][0]["easIds"].append("com.example.new-app")
    before = history_count()

    output = apply_config(write_config(tmp_path, doc))

    assert stats_of(output) == {
        "ecs unchanged": 1,
        "edn unchanged": 3,
        "ees unchanged": 3,
        "ees updated": 1,
    }
    assert history_count() == before + 1
    assert ees_by_id("ees-south-1").eas_ids == ["com.example.ar-navigation", "com.example.new-app"]


JSON_BY_HAND = """{
\t"ecs": {
\t\t"id": "ecs.json.example",
\t\t"homePlmns": [{"mcc": "001", "mnc": "01"}],
\t\t"provisioningLifetime": 600
\t},
\t"edns": [
\t\t{
\t\t\t"id": "edn-json",
\t\t\t"ednConInfo": {"dnn": "edge.json", "snssai": {"sst": 1}},
\t\t\t"eess": [
\t\t\t\t{
\t\t\t\t\t"eesId": "ees-json",
\t\t\t\t\t"endPt": {"fqdn": "ees.json.example"},
\t\t\t\t\t"easIds": ["app.json"],
\t\t\t\t\t"svcArea": {"geographicAreas": [{
\t\t\t\t\t\t"shape": "POINT_UNCERTAINTY_CIRCLE",
\t\t\t\t\t\t"point": {"lat": 5e-1, "lon": 1.25E1},
\t\t\t\t\t\t"uncertainty": 1.5e3
\t\t\t\t\t}]},
\t\t\t\t\t"eecRegConf": false
\t\t\t\t}
\t\t\t]
\t\t}
\t]
}
"""


def test_json_file_written_by_hand_applies(tmp_path):
    """Tab indentation and exponent numbers are plain JSON; a JSON file must read as JSON."""
    path = tmp_path / "ecs.json"
    path.write_text(JSON_BY_HAND, encoding="utf-8")

    output = apply_config(path)

    assert stats_of(output) == {"ecs created": 1, "edn created": 1, "ees created": 1}
    assert ECSConfiguration.load().provisioning_lifetime == 600
    ees = ees_by_id("ees-json")
    assert ees.edn.edn_id == "edn-json"
    assert ees.svc_area["geographicAreas"][0] == circle(0.5, 12.5, 1500.0)
    assert ees.has_area


def test_compact_json_applies(tmp_path):
    path = tmp_path / "ecs.json"
    path.write_text(json.dumps(demo_document(), separators=(",", ":")), encoding="utf-8")
    apply_config(path)
    assert own_sections(yaml.safe_load(export_config())) == demo_document()


# --- rejected files --------------------------------------------------------------------------


def _bad_mcc_deep_in_the_list(doc):
    stadium = edn_entry(doc, "edn-stadium")
    stadium["eess"].append(
        {
            "eesId": "ees-stadium-2",
            "eecRegConf": False,
            "svcArea": area(tais=[tai("0301"), tai("0302", plmn("0A1", "01"))]),
        }
    )


def _duplicate_ees_id(doc):
    edn_entry(doc, "edn-stadium")["eess"].append({"eesId": "ees-north-1", "eecRegConf": False})


def _unknown_top_level_key(doc):
    doc["partnerz"] = []


def _edn_without_edn_con_info(doc):
    del edn_entry(doc, "edn-metro-south")["ednConInfo"]


def _edn_con_info_not_a_mapping(doc):
    edn_entry(doc, "edn-metro-south")["ednConInfo"] = "edge.aurora"


def _snssai_not_a_mapping(doc):
    edn_entry(doc, "edn-metro-south")["ednConInfo"]["snssai"] = 1


def _edns_without_id_and_bad_edn_con_info(doc):
    """Entries named only by their DNN and S-NSSAI, which are of the wrong type."""
    doc["edns"] += [
        {"ednConInfo": "edge.plain", "eess": []},
        {"ednConInfo": {"dnn": "edge.plain", "snssai": 1}, "eess": []},
        {"ednConInfo": {"dnn": ["edge.plain"], "snssai": {"sst": [1]}}, "eess": []},
        {"eess": []},
    ]


def _lifetime_of_the_wrong_type(doc):
    doc["ecs"]["provisioningLifetime"] = "1h"


def _dnn_that_is_not_a_dnn(doc):
    edn_entry(doc, "edn-stadium")["ednConInfo"]["dnn"] = "stadium_aurora"


def _ees_without_ees_id(doc):
    del edn_entry(doc, "edn-metro-north")["eess"][1]["eesId"]


def _ids_longer_than_their_columns(doc):
    edn_entry(doc, "edn-metro-north")["eess"][0]["eesId"] = "e" * 300
    edn_entry(doc, "edn-stadium")["id"] = "s" * 256


def _values_that_are_not_objects(doc):
    doc["ecs"]["homePlmns"] = ["001-01", {"mcc": "001", "mnc": 1}]
    edn_entry(doc, "edn-metro-south")["eess"].append("ees-south-2")


def _empty_ees_id(doc):
    edn_entry(doc, "edn-metro-north")["eess"][1]["eesId"] = ""


def _lifetime_over_a_year(doc):
    doc["ecs"]["provisioningLifetime"] = 365 * 24 * 3600 + 1


def _what_only_the_admin_refused(doc):
    """Values the model refuses that the file used to take (the admin refused them)."""
    north = edn_entry(doc, "edn-metro-north")
    north["eess"][0]["endPt"] = {"ipv4Addrs": ["198.51.100.256"]}
    north["eess"][1]["svcArea"] = {"nwAreaInfo": {"tai": [tai("0101")]}}
    north["eess"][1]["dnais"] = [""]
    north["ednConInfo"]["ednTopoSrvArea"]["geographicArea"] = []


BAD_FILES = {
    "bad MCC deep in the list": (
        _bad_mcc_deep_in_the_list,
        [
            "edns[2] (edn-stadium).eess[1] (ees-stadium-2)"
            "/svcArea/nwAreaInfo/tais/1/plmnId/mcc: '0A1'"
        ],
    ),
    "duplicate eesId": (
        _duplicate_ees_id,
        [
            "edns[2] (edn-stadium).eess[1] (ees-north-1): eesId also used at "
            "edns[0] (edn-metro-north).eess[0] (ees-north-1)"
        ],
    ),
    "unknown top-level key": (_unknown_top_level_key, ["partnerz: unknown top-level key"]),
    "EDN without ednConInfo": (
        _edn_without_edn_con_info,
        ["edns[1] (edn-metro-south).ednConInfo: required"],
    ),
    "ednConInfo not a mapping": (
        _edn_con_info_not_a_mapping,
        ["edns[1] (edn-metro-south).ednConInfo: required"],
    ),
    "snssai not a mapping": (
        _snssai_not_a_mapping,
        ["edns[1] (edn-metro-south).ednConInfo/snssai"],
    ),
    "EDNs without id whose ednConInfo is of the wrong type": (
        _edns_without_id_and_bad_edn_con_info,
        [
            "edns[4].ednConInfo: required, an EDNConInfo object",
            "edns[5] (dnn 'edge.plain').ednConInfo/snssai: must be of type object",
            "edns[6].ednConInfo/dnn: must be of type string",
            "edns[6].ednConInfo/snssai/sst: must be of type integer",
            "edns[7].ednConInfo: required",
        ],
    ),
    "provisioningLifetime of the wrong type": (
        _lifetime_of_the_wrong_type,
        ["ecs.provisioningLifetime: must be whole seconds"],
    ),
    "DNN with an underscore": (_dnn_that_is_not_a_dnn, ["edns[2] (edn-stadium).ednConInfo/dnn"]),
    "EES without eesId": (
        _ees_without_ees_id,
        ["edns[0] (edn-metro-north).eess[1]/eesId: is required"],
    ),
    "ids longer than their columns": (
        _ids_longer_than_their_columns,
        [
            f"edns[0] (edn-metro-north).eess[0] ({'e' * 300})/eesId: at most 255 characters, "
            "not 300",
            f"edns[2] ({'s' * 256}).id: at most 255 characters, not 256",
        ],
    ),
    "values that are not objects": (
        _values_that_are_not_objects,
        [
            "ecs.homePlmns[0]: must be of type object",
            "ecs.homePlmns[1]/mnc: must be of type string",
            "edns[1] (edn-metro-south).eess[1]: must be of type object",
        ],
    ),
    "empty eesId": (
        _empty_ees_id,
        ["edns[0] (edn-metro-north).eess[1]/eesId: must not be empty"],
    ),
    "provisioningLifetime over a year (the model's range)": (
        _lifetime_over_a_year,
        ["ecs.provisioningLifetime: at most 31536000, not 31536001"],
    ),
    "what only the admin used to refuse": (
        _what_only_the_admin_refused,
        [
            "edns[0] (edn-metro-north).eess[0] (ees-north-1)/endPt: "
            'ipv4Addrs[0] "198.51.100.256" is not an IPv4 address.',
            "edns[0] (edn-metro-north).eess[1] (ees-north-cloudedge)/svcArea: "
            "nwAreaInfo: 'tai' is not a member of 3GPP NetworkAreaInfo",
            "edns[0] (edn-metro-north).eess[1] (ees-north-cloudedge)/dnais: "
            "Must be a list of non-empty strings.",
            "edns[0] (edn-metro-north).ednConInfo/ednTopoSrvArea: "
            "'geographicArea' is not a member of 3GPP LocationArea5G",
        ],
    ),
}


def _with_valid_changes(doc):
    """Changes that are fine on their own: a partial apply would write them."""
    doc["ecs"]["ecsp"] = "renamed-operator"
    edn_entry(doc, "edn-metro-north")["eess"][0]["easIds"].append("com.example.new-app")
    doc["edns"].append(
        {"id": "edn-new", "ednConInfo": {"dnn": "edge.new"}, "eess": [{"eesId": "ees-new"}]}
    )
    doc["edns"][-1]["eess"][0]["eecRegConf"] = True


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_is_rejected_whole_and_names_entry_and_field(tmp_path, case):
    apply_config(DEMO_FILE)
    export_before, counts_before = export_config(), row_counts()
    breaker, expected = BAD_FILES[case]
    doc = demo_document()
    _with_valid_changes(doc)
    breaker(doc)
    path = write_config(tmp_path, doc)

    with pytest.raises(CommandError) as excinfo:
        apply_config(path)

    message = str(excinfo.value)
    assert f"({len(expected)} problem(s); nothing was changed)" in message
    for fragment in expected:
        assert fragment in message
    assert export_config() == export_before
    assert row_counts() == counts_before


def test_every_problem_is_reported_at_once(tmp_path):
    doc = demo_document()
    _bad_mcc_deep_in_the_list(doc)
    _unknown_top_level_key(doc)
    _lifetime_of_the_wrong_type(doc)

    with pytest.raises(CommandError) as excinfo:
        apply_config(write_config(tmp_path, doc))

    message = str(excinfo.value)
    assert "3 problem(s)" in message
    assert "edns[2] (edn-stadium).eess[1] (ees-stadium-2)/svcArea" in message
    assert "partnerz: unknown top-level key" in message
    assert "ecs.provisioningLifetime" in message
    assert row_counts() == dict.fromkeys(row_counts(), 0)


def test_file_that_is_not_yaml_is_rejected(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("ecs: [unclosed\n", encoding="utf-8")
    with pytest.raises(CommandError, match="not valid YAML or JSON"):
        apply_config(path)


def test_broken_json_file_is_rejected(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"ecs": {"id": "x",}}', encoding="utf-8")
    with pytest.raises(CommandError, match=r"broken\.json: not valid JSON"):
        apply_config(path)
    assert ECSConfiguration.objects.count() == 0


def test_missing_file_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="No such file"):
        apply_config(tmp_path / "absent.yaml")


# --- --check ---------------------------------------------------------------------------------


def test_check_validates_without_writing(tmp_path):
    apply_config(DEMO_FILE)
    export_before, counts_before = export_config(), row_counts()
    doc = demo_document()
    _with_valid_changes(doc)
    path = write_config(tmp_path, doc)

    output = apply_config(path, "--check")

    assert output.strip() == f"{path}: valid"
    assert export_config() == export_before
    assert row_counts() == counts_before

    _duplicate_ees_id(doc)
    with pytest.raises(CommandError, match=r"eesId also used at"):
        apply_config(write_config(tmp_path, doc), "--check")
    assert row_counts() == counts_before


# --- prune -----------------------------------------------------------------------------------


def _without_stadium_and_cloudedge(tmp_path):
    doc = demo_document()
    doc["edns"] = [e for e in doc["edns"] if e["id"] != "edn-stadium"]
    north = edn_entry(doc, "edn-metro-north")
    north["eess"] = [e for e in north["eess"] if e["eesId"] != "ees-north-cloudedge"]
    return write_config(tmp_path, doc)


def test_without_prune_what_the_file_no_longer_lists_stays(tmp_path):
    apply_config(DEMO_FILE)
    before = row_counts()

    output = apply_config(_without_stadium_and_cloudedge(tmp_path))

    assert stats_of(output) == {"ecs unchanged": 1, "edn unchanged": 2, "ees unchanged": 2}
    assert row_counts() == before
    assert EES.objects.filter(ees_id__in=["ees-stadium", "ees-north-cloudedge"]).count() == 2


def test_prune_removes_what_the_file_no_longer_lists_and_leaves_the_rest(tmp_path):
    apply_config(DEMO_FILE)
    south_stamp = EDN.objects.get(edn_id="edn-metro-south").updated

    output = apply_config(_without_stadium_and_cloudedge(tmp_path), "--prune")

    assert stats_of(output) == {
        "ecs unchanged": 1,
        "edn unchanged": 2,
        "ees unchanged": 2,
        "edn deleted": 1,
        "ees deleted": 2,
    }
    assert sorted(EDN.objects.values_list("edn_id", flat=True)) == [
        "edn-metro-north",
        "edn-metro-south",
    ]
    assert sorted(EES.objects.values_list("ees_id", flat=True)) == ["ees-north-1", "ees-south-1"]
    assert EDN.objects.get(edn_id="edn-metro-south").updated == south_stamp
    # The pruned EES no longer answers for its applications.
    north = EDN.objects.get(edn_id="edn-metro-north")
    assert not north.eess.filter(applications__eas_id="com.example.video-analytics").exists()
    # Pruning again finds nothing more to remove.
    output = apply_config(_without_stadium_and_cloudedge(tmp_path), "--prune")
    assert "deleted" not in output


def test_prune_leaves_sections_the_file_does_not_have(tmp_path):
    apply_config(DEMO_FILE)
    doc = demo_document()
    del doc["edns"]
    doc["ecs"]["provisioningLifetime"] = 60

    output = apply_config(write_config(tmp_path, doc), "--prune")

    assert stats_of(output) == {"ecs updated": 1}
    assert EDN.objects.count() == 3
    assert EES.objects.count() == 4
    assert ECSConfiguration.load().provisioning_lifetime == 60


# --- identity --------------------------------------------------------------------------------


def test_ees_moved_to_another_edn_in_the_file_moves(tmp_path):
    apply_config(DEMO_FILE)
    ees_pk = ees_by_id("ees-south-1").pk
    doc = demo_document()
    south = edn_entry(doc, "edn-metro-south")
    moved = south["eess"].pop(0)
    edn_entry(doc, "edn-metro-north")["eess"].append(moved)

    output = apply_config(write_config(tmp_path, doc))

    assert stats_of(output)["ees updated"] == 1
    ees = ees_by_id("ees-south-1")
    assert ees.pk == ees_pk  # the same EES, not a copy
    assert ees.edn.edn_id == "edn-metro-north"
    assert EES.objects.count() == 4
    assert EDN.objects.get(edn_id="edn-metro-south").eess.count() == 0
    exported = yaml.safe_load(export_config())
    assert [e["eesId"] for e in edn_entry(exported, "edn-metro-north")["eess"]] == [
        "ees-north-1",
        "ees-north-cloudedge",
        "ees-south-1",
    ]


def test_ees_moved_out_of_a_pruned_edn_survives(tmp_path):
    apply_config(DEMO_FILE)
    doc = demo_document()
    stadium = edn_entry(doc, "edn-stadium")
    doc["edns"].remove(stadium)
    edn_entry(doc, "edn-metro-north")["eess"] += stadium["eess"]

    apply_config(write_config(tmp_path, doc), "--prune")

    assert not EDN.objects.filter(edn_id="edn-stadium").exists()
    ees = ees_by_id("ees-stadium")
    assert ees.edn.edn_id == "edn-metro-north"
    assert ees.has_area  # its own geographic service area came with it


def test_edn_an_ees_moved_out_of_stops_serving_its_plmns(tmp_path):
    visited = plmn("002", "02")
    doc = demo_document()
    south = edn_entry(doc, "edn-metro-south")
    south["eess"][0]["svcArea"] = area(tais=[tai("0901", visited)])
    apply_config(write_config(tmp_path, doc))

    def served(edn_id: str) -> set[str]:
        return set(EDN.objects.get(edn_id=edn_id).served_plmns.values_list("plmn", flat=True))

    assert plmn_key(visited) in served("edn-metro-south")
    assert plmn_key(visited) not in served("edn-metro-north")

    edn_entry(doc, "edn-metro-north")["eess"].append(south["eess"].pop(0))
    apply_config(write_config(tmp_path, doc))

    assert plmn_key(visited) not in served("edn-metro-south")
    assert plmn_key(visited) in served("edn-metro-north")


def _plain_edn(sd: str, tac: str) -> dict:
    return {
        "ednConInfo": {
            "dnn": "edge.plain",
            "snssai": {"sst": 1, "sd": sd},
            "ednTopoSrvArea": area(tais=[tai(tac)]),
        },
        "eess": [{"eesId": "ees-plain", "easIds": ["app.plain"], "eecRegConf": False}],
    }


def test_edn_without_id_is_found_by_dnn_and_snssai_and_updated_in_place(tmp_path):
    doc = demo_document()
    doc["edns"].append(_plain_edn("0000b1", "0401"))
    apply_config(write_config(tmp_path, doc))
    plain = EDN.objects.get(dnn="edge.plain")
    assert plain.edn_id == ""

    doc["edns"][-1] = _plain_edn("0000B1", "0402")  # same S-NSSAI, other case; new area
    output = apply_config(write_config(tmp_path, doc))

    assert stats_of(output)["edn updated"] == 1
    assert "edn created" not in stats_of(output)
    assert EDN.objects.filter(dnn="edge.plain").count() == 1
    plain.refresh_from_db()
    assert plain.edn_topo_srv_area == area(tais=[tai("0402")])
    assert ees_by_id("ees-plain").edn_id == plain.pk
    exported = yaml.safe_load(export_config())
    plain_out = [e for e in exported["edns"] if "id" not in e]
    assert [e["ednConInfo"]["snssai"] for e in plain_out] == [{"sst": 1, "sd": "0000B1"}]


def test_two_edns_without_id_with_the_same_dnn_and_snssai_are_rejected(tmp_path):
    doc = demo_document()
    doc["edns"] += [_plain_edn("0000B1", "0401"), _plain_edn("0000b1", "0402")]
    doc["edns"][-1]["eess"][0]["eesId"] = "ees-plain-2"
    same = r"edns\[4\] \(dnn 'edge\.plain'\): same EDN as edns\[3\] \(dnn 'edge\.plain'\)"
    with pytest.raises(CommandError, match=same):
        apply_config(write_config(tmp_path, doc))
    assert EDN.objects.count() == 0


# --- export ----------------------------------------------------------------------------------


def _rich_document() -> dict:
    """The demo plus an EDN without id, unicode, and numbers that JSON writes with exponents."""
    doc = demo_document()
    doc["ecs"]["ecsp"] = "Aurora Mobilé"
    edn = _plain_edn("0000B1", "0401")
    edn["plmns"] = [plmn("002", "02"), plmn("001", "01")]
    edn["eess"][0]["svcArea"] = {"geographicAreas": [circle(0.00001, -0.00002, 25.5)]}
    edn["eess"][0]["ecspInfo"] = "Edge ÆØÅ"
    doc["edns"].insert(0, edn)
    return doc


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_export_is_byte_identical_whatever_order_the_data_was_written_in(tmp_path, fmt):
    doc = _rich_document()
    apply_config(write_config(tmp_path, doc))
    first = export_config(fmt)
    assert export_config(fmt) == first

    flush_configuration()
    doc["edns"].reverse()
    for entry in doc["edns"]:
        entry["eess"].reverse()
    apply_config(write_config(tmp_path, doc))

    assert export_config(fmt) == first


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_export_then_apply_into_an_empty_database_gives_the_same_export(tmp_path, fmt):
    apply_config(write_config(tmp_path, _rich_document()))
    exported = export_config(fmt)
    if fmt == "json":
        assert json.loads(exported)["ecs"]["id"] == "ecs.aurora-mobile.example"
    path = tmp_path / f"export.{fmt}"
    path.write_text(exported, encoding="utf-8")

    flush_configuration()
    output = apply_config(path)

    assert stats_of(output) == {"ecs created": 1, "edn created": 4, "ees created": 5}
    assert export_config(fmt) == exported
    ees = ees_by_id("ees-plain")
    assert ees.svc_area == {"geographicAreas": [circle(0.00001, -0.00002, 25.5)]}
    # And applying the export to the database it came from changes nothing.
    assert "created" not in apply_config(path) and "updated" not in apply_config(path)


def test_yaml_and_json_exports_hold_the_same_data(tmp_path):
    apply_config(write_config(tmp_path, _rich_document()))
    assert yaml.safe_load(export_config("yaml")) == json.loads(export_config("json"))


def test_export_of_an_empty_database_applies(tmp_path):
    exported = export_config()
    document = yaml.safe_load(exported)
    assert not any(v for k, v in document.items() if k not in ("ecs", "edns")), document
    assert own_sections(document) == {
        "ecs": {
            "id": "ecs.example.org",
            "ecsp": "",
            "homePlmns": [],
            "provisioningLifetime": 3600,
        },
        "edns": [],
    }
    path = tmp_path / "empty.yaml"
    path.write_text(exported, encoding="utf-8")
    assert stats_of(apply_config(path)) == {"ecs created": 1}
    assert export_config() == exported


def test_configuration_files_are_read_and_written_by_libyaml():
    # The pure-Python loader took 254 s for a 100,000-EES file; the wheels carry libyaml.
    import yaml

    from ecscore import yamlfiles

    assert yamlfiles.LOADER is yaml.CSafeLoader
    assert yamlfiles.DUMPER is yaml.CSafeDumper
    document = {"edns": [{"id": "é", "dnn": "edge.example", "lat": 1e-05, "on": True}]}
    assert yamlfiles.load(yamlfiles.dump(document, sort_keys=False)) == document
