"""``ecs_apply`` writes EDNs and EESs in bulk: the same rows as saving them one by one.

The reference is the row-by-row path (``EDN.save()`` / ``EES.save()`` / ``delete()``, as the
admin and the APIs write), applied to the same files from the same starting database.
"""

from __future__ import annotations

import copy
import io
from collections import Counter
from typing import Any

import pytest
import yaml
from cachalot.api import cachalot_disabled
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from ecscore import configfile
from ecscore.middleware import request_id_scope
from provisioning import bulk, datamodel, signals
from provisioning.configsection import _edn_identity, _model_identity
from provisioning.models import EDN, EES, AreaKey, ECSConfiguration, EDNPlmn, EESApplication
from tests.builders import area, circle, edge4_request, ees_ids, plmn, tai, ue_at
from tests.ecsportal.configtools import (
    apply_config,
    demo_document,
    export_config,
    flush_configuration,
    row_counts,
    write_config,
)

# Real commits: deferred foreign keys are checked at commit, where a row the bulk path
# forgot (an index row of a deleted EES, say) would fail.
pytestmark = pytest.mark.django_db(transaction=True)

VISITED = plmn("002", "02")


def entry(doc: dict, edn_id: str) -> dict:
    return next(e for e in doc["edns"] if e.get("id") == edn_id)


def first_document() -> dict:
    """The demo plus an EDN without id, one served through its EES's area, one to prune."""
    doc = demo_document()
    doc["edns"] += [
        {
            "ednConInfo": {
                "dnn": "edge.plain",
                "snssai": {"sst": 1, "sd": "0000b1"},
                "ednTopoSrvArea": area(tais=[tai("0401")]),
            },
            "eess": [
                {"eesId": "ees-plain", "easIds": ["app.plain"], "eecRegConf": False},
                {
                    "eesId": "ees-plain-visited",
                    "svcArea": area(tais=[tai("0402", VISITED)]),
                    "eecRegConf": False,
                },
            ],
        },
        {
            "id": "edn-roaming",
            "ednConInfo": {"dnn": "edge.roaming"},
            "eess": [
                {
                    "eesId": "ees-roaming-1",
                    "easIds": ["app.roam", "app.roam"],
                    "svcArea": area(tais=[tai("0501", VISITED)]),
                    "eecRegConf": False,
                },
                {"eesId": "ees-roaming-2", "easIds": ["app.roam"], "eecRegConf": False},
            ],
        },
        {
            "id": "edn-gone",
            "ednConInfo": {"dnn": "edge.gone", "ednTopoSrvArea": area(tais=[tai("0601")])},
            "eess": [{"eesId": "ees-gone", "easIds": ["app.gone"], "eecRegConf": False}],
        },
    ]
    return doc


def second_document() -> dict:
    """Creates, updates, moves, unchanged entries and (with --prune) deletions."""
    doc = first_document()
    doc["ecs"] = copy.deepcopy(doc["ecs"])  # unchanged
    north = entry(doc, "edn-metro-north")
    north["eess"][0]["easIds"].append("com.example.new-app")  # EES updated
    north["ednConInfo"]["ednTopoSrvArea"] = area(tais=[tai("0103")])  # EDN updated
    south = entry(doc, "edn-metro-south")
    north["eess"].append(south["eess"].pop(0))  # EES moved to another EDN
    roaming = entry(doc, "edn-roaming")
    moved_out = roaming["eess"].pop(0)  # its EDN no longer serves 002-02 through it
    stadium = entry(doc, "edn-stadium")
    stadium["eess"][0]["svcArea"] = {"geographicAreas": [circle(59.9, 10.7, 250.0)]}
    doc["edns"] = [e for e in doc["edns"] if e.get("id") != "edn-gone"]  # pruned
    doc["edns"].append(
        {
            "id": "edn-new",
            "ednConInfo": {
                "dnn": "edge.new",
                "snssai": {"sst": 3},
                "ednTopoSrvArea": area(tais=[tai("0701")]),
            },
            "plmns": [VISITED],
            "eess": [
                moved_out,  # moved into a new EDN
                {"eesId": "ees-new", "easIds": ["app.new", "app.plain"], "eecRegConf": True},
            ],
        }
    )
    # A new EES in an EDN that is otherwise unchanged.
    south["eess"].append({"eesId": "ees-roaming-3", "easIds": ["app.roam"], "eecRegConf": False})
    # Pruned (or left alone): the only thing that changes for the plain EDN.
    plain = next(e for e in doc["edns"] if "id" not in e)
    plain["eess"] = [e for e in plain["eess"] if e["eesId"] != "ees-plain-visited"]
    # ees-north-cloudedge is no longer listed: pruned (or left alone without --prune).
    north["eess"] = [e for e in north["eess"] if e["eesId"] != "ees-north-cloudedge"]
    return doc


def add_registered_ees() -> None:
    """An EES registered over EDGE-6 in edn-gone: the file neither lists nor prunes it."""
    EES.objects.create(
        edn=EDN.objects.get(edn_id="edn-gone"),
        ees_id="ees-registered",
        source=EES.SOURCE_REGISTERED,
        registration_id="reg-1",
        eas_ids=["app.registered"],
        svc_area=area(tais=[tai("0801", plmn("003", "03"))]),
    )


def apply_row_by_row(document: dict, prune: bool = False) -> None:
    """The reference: every EDN and EES saved (and deleted) on its own, as before."""
    with request_id_scope("row-by-row"), transaction.atomic():
        config = ECSConfiguration.load()
        config.ecs_id = document["ecs"]["id"]
        config.ecsp = document["ecs"].get("ecsp", "")
        config.home_plmns = document["ecs"].get("homePlmns", [])
        config.save()
        existing_edns = {_model_identity(edn): edn for edn in EDN.objects.all()}
        existing_eess = {e.ees_id: e for e in EES.objects.filter(source=EES.SOURCE_CONFIGURED)}
        registered = set(
            EES.objects.filter(source=EES.SOURCE_REGISTERED).values_list("edn_id", flat=True)
        )
        kept_edns, kept_eess = set(), set()
        for item in document["edns"]:
            edn = existing_edns.get(_edn_identity(item)) or EDN()
            wanted = {
                "edn_id": item.get("id", ""),
                **datamodel.edn_fields(item["ednConInfo"]),
                "plmns": item.get("plmns", []),
            }
            if edn._state.adding or any(getattr(edn, k) != v for k, v in wanted.items()):
                for k, v in wanted.items():
                    setattr(edn, k, v)
                edn.save()
            kept_edns.add(edn.pk)
            for info in item.get("eess", []):
                ees = existing_eess.get(info["eesId"]) or EES()
                wanted = {"edn_id": edn.pk, **datamodel.ees_fields(info)}
                if ees._state.adding or any(getattr(ees, k) != v for k, v in wanted.items()):
                    for k, v in wanted.items():
                        setattr(ees, k, v)
                    ees.save()
                kept_eess.add(ees.ees_id)
        if prune:
            for ees_id, ees in existing_eess.items():
                if ees_id not in kept_eess:
                    ees.delete()
            for edn in existing_edns.values():
                if edn.pk not in kept_edns and edn.pk not in registered:
                    edn.delete()


IGNORED = {"id", "created", "updated", "edn"}


def snapshot() -> dict[str, Any]:
    """Every configuration row and index row, keyed by identity rather than database ids."""
    edn_names = {edn.pk: _model_identity(edn) for edn in EDN.objects.all()}
    ees_names = dict(EES.objects.values_list("pk", "ees_id"))

    def fields(obj: Any) -> dict[str, Any]:
        return {
            f.attname: getattr(obj, f.attname)
            for f in obj._meta.concrete_fields
            if f.attname not in IGNORED | {"edn_id"}
        }

    edns = {edn_names[e.pk]: fields(e) for e in EDN.objects.all()}
    eess = {e.ees_id: {**fields(e), "edn": edn_names[e.edn_id]} for e in EES.objects.all()}
    area_keys = Counter(
        (
            edn_names.get(k.edn_id),
            ees_names.get(k.ees_id),
            k.kind,
            k.key,
            k.min_lat,
            k.max_lat,
            k.min_lon,
            k.max_lon,
        )
        for k in AreaKey.objects.all()
    )
    applications = Counter((ees_names[a.ees_id], a.eas_id) for a in EESApplication.objects.all())
    plmns = Counter((edn_names[p.edn_id], p.plmn) for p in EDNPlmn.objects.all())
    null_areas = sorted(EES.objects.filter(svc_area__isnull=True).values_list("ees_id", flat=True))
    return {
        "edns": edns,
        "eess": eess,
        "area_keys": area_keys,
        "applications": applications,
        "plmns": plmns,
        "ees_without_area": null_areas,  # SQL NULL, not JSON null, as a save stores it
        "export": export_config(),
    }


def run_both(tmp_path, prune: bool) -> tuple[dict, dict]:
    """The two files applied row by row, then (from an empty database) by ecs_apply."""
    first, second = first_document(), second_document()
    apply_row_by_row(first)
    add_registered_ees()
    apply_row_by_row(second, prune=prune)
    expected = snapshot()

    EES.objects.all().delete()
    flush_configuration()
    apply_config(write_config(tmp_path, first))
    add_registered_ees()
    apply_config(write_config(tmp_path, second), *(["--prune"] if prune else []))
    return expected, snapshot()


@pytest.mark.parametrize("prune", [False, True], ids=["keep", "prune"])
def test_bulk_apply_leaves_the_rows_saving_one_by_one_leaves(tmp_path, prune):
    expected, got = run_both(tmp_path, prune)

    assert got["edns"] == expected["edns"]
    assert got["eess"] == expected["eess"]
    assert got["area_keys"] == expected["area_keys"]
    assert got["applications"] == expected["applications"]
    assert got["plmns"] == expected["plmns"]
    assert got["ees_without_area"] == expected["ees_without_area"]
    assert got["export"] == expected["export"]
    # What the files did, to be sure the comparison covers it.
    assert ("edn-roaming", "002-02") not in {(n[1], p) for n, p in got["plmns"]}
    assert got["edns"][("id", "edn-roaming")]["serves_home"]  # its roaming EES left
    assert (("id", "edn-new"), "002-02") in got["plmns"]
    assert got["eess"]["ees-south-1"]["edn"] == ("id", "edn-metro-north")
    assert ("id", "edn-gone") in got["edns"]  # it holds a registered EES
    assert ("ees-north-cloudedge" in got["eess"]) is not prune
    assert ("ees-gone" in got["eess"]) is not prune
    plain = ("dnn", "edge.plain", 1, "0000B1")
    assert ((plain, "002-02") in got["plmns"]) is not prune


def test_every_change_has_its_change_log_row_with_the_apply_request_id(tmp_path):
    apply_config(write_config(tmp_path, first_document()))
    add_registered_ees()
    edn_before = {e.pk: e for e in EDN.objects.all()}
    ees_before = {e.pk: e for e in EES.objects.all()}
    edn_last = EDN.history.order_by("-history_id").values_list("history_id", flat=True)[0]
    ees_last = EES.history.order_by("-history_id").values_list("history_id", flat=True)[0]

    output = apply_config(write_config(tmp_path, second_document()), "--prune")

    edn_rows = list(EDN.history.filter(history_id__gt=edn_last))
    ees_rows = list(EES.history.filter(history_id__gt=ees_last))
    assert sorted((r.history_type, r.edn_id) for r in edn_rows) == [
        ("+", "edn-new"),
        ("~", "edn-metro-north"),
    ]
    assert sorted((r.history_type, r.ees_id) for r in ees_rows) == [
        ("+", "ees-new"),
        ("+", "ees-roaming-3"),
        ("-", "ees-gone"),
        ("-", "ees-north-cloudedge"),
        ("-", "ees-plain-visited"),
        ("~", "ees-north-1"),
        ("~", "ees-roaming-1"),
        ("~", "ees-south-1"),
        ("~", "ees-stadium"),
    ]
    assert "edn deleted" not in output  # edn-gone keeps its registered EES
    rows = edn_rows + ees_rows
    (request_id,) = {r.request_id for r in rows}
    assert request_id.startswith("apply-")
    assert {r.actor for r in rows} == {f"command ({request_id})"}
    assert {r.history_change_reason for r in rows} == {"ecs_apply"}
    assert {r.history_user for r in rows} == {None}
    # A row holds the object as written (deleted: as it was).
    for row in ees_rows:
        if row.history_type == "-":
            assert row.eas_ids == ees_before[row.id].eas_ids
        else:
            current = EES.objects.get(pk=row.id)
            assert (row.eas_ids, row.edn_id, row.updated, row.has_area) == (
                current.eas_ids,
                current.edn_id,
                current.updated,
                current.has_area,
            )
    north = EDN.objects.get(edn_id="edn-metro-north")
    assert north.updated > edn_before[north.pk].updated


def test_deleting_an_edn_logs_it(tmp_path):
    doc = first_document()
    apply_config(write_config(tmp_path, doc))
    doc["edns"] = [e for e in doc["edns"] if e.get("id") != "edn-gone"]

    output = apply_config(write_config(tmp_path, doc), "--prune")

    assert "edn deleted: 1" in output and "ees deleted: 1" in output
    (row,) = EDN.history.filter(history_type="-")
    assert (row.edn_id, row.request_id[:6]) == ("edn-gone", "apply-")
    assert not AreaKey.objects.filter(key="tai:001-01:0601").exists()


def test_applying_an_unchanged_file_writes_nothing(tmp_path):
    path = write_config(tmp_path, second_document())
    apply_config(path)
    before = row_counts()
    stamps = sorted(EES.objects.values_list("ees_id", "updated"))

    with CaptureQueriesContext(connection) as queries:
        output = apply_config(path, "--prune")

    assert "created" not in output and "updated" not in output and "deleted" not in output
    assert row_counts() == before  # no change-log row either
    assert sorted(EES.objects.values_list("ees_id", "updated")) == stamps
    writes = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE")
    ]
    assert writes == []


def test_an_invalid_file_writes_nothing(tmp_path):
    apply_config(write_config(tmp_path, first_document()))
    export_before, counts_before = export_config(), row_counts()
    doc = second_document()
    entry(doc, "edn-new")["eess"][1]["svcArea"] = area(tais=[tai("0901", plmn("0A1", "01"))])

    with pytest.raises(CommandError, match=r"edns\[\d+\] \(edn-new\)\.eess\[1\] \(ees-new\)"):
        apply_config(write_config(tmp_path, doc), "--prune")

    assert export_config() == export_before
    assert row_counts() == counts_before


def test_a_failure_while_writing_rolls_everything_back(tmp_path, monkeypatch):
    apply_config(write_config(tmp_path, first_document()))
    counts_before = row_counts()

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(bulk, "_reindex_edns", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        apply_config(write_config(tmp_path, second_document()), "--prune")

    assert row_counts() == counts_before


def test_one_inventory_signal_per_apply(tmp_path):
    sent: list[Any] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        sent.append(sender)

    signals.inventory_changed.connect(receiver)
    try:
        apply_config(write_config(tmp_path, first_document()))
        assert sent.count(EDN) == 1
        sent.clear()
        apply_config(write_config(tmp_path, second_document()), "--prune")
        assert sent == [EDN]  # the ecs section did not change
        sent.clear()
        apply_config(write_config(tmp_path, second_document()), "--prune")
        assert sent == []
    finally:
        signals.inventory_changed.disconnect(receiver)


def test_matching_finds_eess_imported_in_bulk(tmp_path, edge4):
    doc = second_document()
    doc["edns"] += [
        {
            "id": f"edn-bulk-{i}",
            "ednConInfo": {"dnn": "edge.bulk", "ednTopoSrvArea": area(tais=[tai(f"1{i:03d}")])},
            "eess": [
                {"eesId": f"ees-bulk-{i}-{k}", "easIds": [f"app.bulk-{k}"], "eecRegConf": False}
                for k in range(3)
            ],
        }
        for i in range(30)
    ]
    apply_config(write_config(tmp_path, doc))
    at = ue_at(tai("1017"))

    response = edge4(edge4_request(["app.bulk-2"], at, plmns=[plmn()]))

    assert response.status_code == 200, response.content
    assert ees_ids(response) == ["ees-bulk-17-2"]

    # The next apply's changes are seen at once (no stale cached rows).
    doc["edns"][-13]["eess"][0]["easIds"].append("app.bulk-2")
    apply_config(write_config(tmp_path, doc))
    response = edge4(edge4_request(["app.bulk-2"], at, plmns=[plmn()]))
    assert sorted(ees_ids(response)) == ["ees-bulk-17-0", "ees-bulk-17-2"]


def _reads() -> dict[str, Any]:
    """Every table an apply writes, change log included, read through the ORM."""
    return {
        **snapshot(),
        "edn_log": sorted(EDN.history.values_list("history_id", "dnn", "history_type")),
        "ees_log": sorted(EES.history.values_list("history_id", "ees_id", "history_type")),
    }


def test_cached_reads_see_every_row_an_apply_writes(tmp_path):
    """The bulk path's hand-written writes invalidate the query cache as ORM writes do."""
    doc = first_document()
    apply_config(write_config(tmp_path, doc))
    before = _reads()  # now in the query cache
    # Updates and deletions only: no row is created through the ORM (whose writes
    # invalidate their tables anyway).
    entry(doc, "edn-metro-north")["eess"][0]["easIds"].append("com.example.new-app")
    entry(doc, "edn-stadium")["ednConInfo"]["dnn"] = "stadium.renamed"
    doc["edns"] = [e for e in doc["edns"] if e.get("id") != "edn-gone"]

    output = apply_config(write_config(tmp_path, doc), "--prune")

    assert "created" not in output and "edn deleted: 1" in output, output
    with cachalot_disabled():
        stored = _reads()
    assert stored != before
    assert _reads() == stored


def test_only_the_index_tables_refer_to_edns_and_eess():
    """The bulk delete removes these rows itself; a new reference needs handling there."""
    refs = {
        (rel.related_model.__name__, rel.field.name)
        for model in (EDN, EES)
        for rel in model._meta.related_objects
        if not rel.related_model.__name__.startswith("Historical")
    }
    assert refs == {
        ("EES", "edn"),
        ("AreaKey", "edn"),
        ("AreaKey", "ees"),
        ("EDNPlmn", "edn"),
        ("EESApplication", "ees"),
    }


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_shown_on_a_terminal_only(tmp_path):
    path = write_config(tmp_path, first_document())
    terminal = FakeTerminal()
    call_command("ecs_apply", str(path), stdout=terminal)
    shown = terminal.getvalue()
    assert "\rvalidating EDNs: 6/6 (100%)\n" in shown
    assert "\rEESs created: 9/9 (100%)\n" in shown
    assert shown.rstrip().splitlines()[-1].startswith("Applied ")

    piped = io.StringIO()
    call_command("ecs_apply", str(path), stdout=piped)
    assert "\r" not in piped.getvalue()
    assert piped.getvalue().startswith("Applied ")


def test_the_inlined_validator_agrees_with_the_registry():
    """Validation runs on schemas with their references inlined: same verdict, same errors."""
    from openapi_schema_validator import OAS30Validator, oas30_format_checker

    from ecscore import schemas
    from provisioning.models import EDGE4

    doc = yaml.safe_load(yaml.safe_dump(second_document()))
    good = [e for edn in doc["edns"] for e in edn["eess"]]
    bad = [
        {"eesId": 1},
        {"eesId": "x", "endPt": {}},
        {"eesId": "x", "endPt": {"uri": "u", "fqdn": "f"}},
        {"eesId": "x", "svcArea": area(tais=[tai("0901", plmn("0A1", "01"))])},
        {"eesId": "x", "svcArea": {"geographicAreas": [{"shape": "POINT"}]}},
        {"eesId": "x", "easIds": "app"},
        {"eesId": "x", "eecRegConf": "yes"},
        {"eesId": "x", "easInstInfos": [{"status": "INSTANTIABLE"}]},
    ]

    def by_registry(name: str) -> OAS30Validator:
        ref = {"$ref": f"{schemas.BASE_URI}{EDGE4}#/components/schemas/{name}"}
        return OAS30Validator(
            ref, registry=schemas._registry(), format_checker=oas30_format_checker
        )

    inlined, resolved = schemas.validator(EDGE4, "EESInfo"), by_registry("EESInfo")
    for value in good + bad:
        assert inlined.is_valid(value) == resolved.is_valid(value), value
        assert schemas.invalid_params(inlined, value) == schemas.invalid_params(resolved, value)
    assert not any(inlined.is_valid(v) for v in bad)
    con = schemas.validator(EDGE4, "EDNConInfo")
    assert con.is_valid(doc["edns"][0]["ednConInfo"])
    assert not con.is_valid({"dnn": "x", "snssai": {"sst": "1"}})
    assert not con.is_valid({"dnn": "x", "ednTopoSrvArea": area(tais=[{"tac": "01"}])})
    assert configfile.validate_document({"edns": doc["edns"]}) == []
