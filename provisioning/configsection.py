"""The ``ecs`` and ``edns`` sections of the configuration file.

``ecs``:  ``{id, ecsp, homePlmns: [PlmnId], provisioningLifetime: seconds}``
``edns``: a list of 3GPP ``EDNConfigInfo`` objects (``ednConInfo``, ``eess`` as ``EESInfo``)
          plus an optional ``id`` and ``plmns: [PlmnId]`` per EDN.  An EDN is identified by
          its ``id`` when given, else by its DNN and S-NSSAI; an EES by its ``eesId``.

The models say what is right (``ECSConfiguration``, ``EDN``, ``EES``: defaults, ranges, the
3GPP schemas, ``clean``); this module says which member of the file is which field, which
entry is which, and checks each entry with the model before anything is written.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.core.exceptions import ValidationError

from ecscore import configfile, schemas
from ecscore.configfile import canonical

from . import bulk, datamodel, signals
from .models import (
    EDGE4,
    EDN,
    EES,
    REGISTERED_EDN_PREFIX,
    ECSConfiguration,
    ees_info_errors,
)

ECS_KEYS = configfile.ModelKeys(
    ECSConfiguration,
    {
        "id": "ecs_id",
        "ecsp": "ecsp",
        "homePlmns": "home_plmns",
        "provisioningLifetime": "provisioning_lifetime",
    },
    wording={"provisioningLifetime": "must be whole seconds"},
)
EDN_KEYS = {"id", "ednConInfo", "eess", "plmns", "lifeTime"}  # lifeTime is computed; ignored
# EDN field -> where the file holds it (after the EDN's label and a dot).
EDN_FIELD_KEYS = {
    "edn_id": "id",
    "dnn": "ednConInfo/dnn",
    "snssai_sst": "ednConInfo/snssai/sst",
    "snssai_sd": "ednConInfo/snssai/sd",
    "edn_topo_srv_area": "ednConInfo/ednTopoSrvArea",
    "plmns": "plmns",
}
CON_INFO_FIELDS = ("dnn", "snssai_sst", "snssai_sd", "edn_topo_srv_area")
# EES fields the file does not hold (the EDN is the entry the EES is listed in).
EES_NOT_IN_FILE = [
    f.name for f in EES._meta.fields if f.name not in datamodel.FIELD_TO_MEMBER and f.name != "id"
]


def _edn_identity(entry: dict[str, Any]) -> tuple:
    # Also called on entries that are not valid yet (to name them): anything of the wrong
    # type counts as absent rather than crashing or making the identity unhashable.
    if isinstance(entry.get("id"), str) and entry["id"]:
        return ("id", entry["id"])
    con = entry.get("ednConInfo")
    con = con if isinstance(con, dict) else {}
    snssai = con.get("snssai")
    snssai = snssai if isinstance(snssai, dict) else {}
    dnn = con.get("dnn") if isinstance(con.get("dnn"), str) else None
    sst = snssai.get("sst") if isinstance(snssai.get("sst"), int) else None
    return ("dnn", dnn, sst, str(snssai.get("sd", "")).upper())


def _edn_label(index: int, entry: Any) -> str:
    if isinstance(entry, dict):
        ident = _edn_identity(entry)
        if ident[0] == "id":
            return f"edns[{index}] ({ident[1]})"
        if ident[1]:
            return f"edns[{index}] (dnn {ident[1]!r})"
    return f"edns[{index}]"


def _schema_errors(where: str, value: Any, file_name: str, schema_name: str) -> list[str]:
    """``where/pointer: reason`` per problem; ``where: reason`` when the whole value is wrong."""
    validator = schemas.validator(file_name, schema_name)
    if validator.is_valid(value):
        return []  # the common case, and cheaper than collecting errors
    params = schemas.invalid_params(validator, value)
    return [f"{where}{'' if p['param'] == '/' else p['param']}: {p['reason']}" for p in params]


class ECSSection(configfile.ConfigSection):
    key = "ecs"
    order = 10

    def validate(self, data: Any, document: dict[str, Any]) -> list[str]:
        if not isinstance(data, dict):
            return ["ecs: must be a mapping with id, ecsp, homePlmns, provisioningLifetime"]
        errors = ECS_KEYS.unknown("ecs", data)
        bad: set[str] = set()
        if not isinstance(data.get("id"), str) or not data.get("id"):
            errors.append("ecs.id: required, a non-empty string")
            bad.add("id")
        found, wrong_type = ECS_KEYS.type_errors("ecs", data, skip={"id"})
        bad |= wrong_type
        config = ECSConfiguration.load()
        for name, value in ECS_KEYS.values(data, invalid=bad).items():
            setattr(config, name, value)
        return errors + found + ECS_KEYS.errors(config, "ecs", exclude=bad)

    def apply(self, data: Any, prune: bool, stats: Counter) -> None:
        with signals.deferred(ECSConfiguration):
            config = ECSConfiguration.load()
            configfile.save_if_changed(
                config,
                ECS_KEYS.values(data),
                stats,
                "ecs",
                created=config._state.adding,
                label="ecs",
                keys=ECS_KEYS.fields,
            )

    def export(self) -> Any:
        return ECS_KEYS.export(ECSConfiguration.load())


class EDNSection(configfile.ConfigSection):
    key = "edns"
    order = 20

    def validate(self, data: Any, document: dict[str, Any]) -> list[str]:
        if not isinstance(data, list):
            return ["edns: must be a list of EDNConfigInfo objects"]
        errors: list[str] = []
        identities: dict[tuple, str] = {}
        ees_ids: dict[str, str] = {}
        registered = set(
            EES.objects.filter(source=EES.SOURCE_REGISTERED).values_list("ees_id", flat=True)
        )
        for index, entry in enumerate(data):
            label = _edn_label(index, entry)
            if not isinstance(entry, dict):
                errors.append(f"{label}: must be a mapping")
                continue
            errors += [f"{label}.{k}: unknown key" for k in entry if k not in EDN_KEYS]
            errors += self.edn_entry_errors(label, entry)
            identity = _edn_identity(entry)
            if identity[1] is not None:  # an id or a DNN; without either it is reported above
                if identity in identities:
                    errors.append(f"{label}: same EDN as {identities[identity]}")
                identities.setdefault(identity, label)
            eess = entry.get("eess", [])
            if not isinstance(eess, list):
                errors.append(f"{label}.eess: must be a list of EESInfo objects")
                continue
            for j, ees in enumerate(eess):
                where = f"{label}.eess[{j}]"
                if isinstance(ees, dict) and isinstance(ees.get("eesId"), str) and ees["eesId"]:
                    where += f" ({ees['eesId']})"
                    if ees["eesId"] in ees_ids:
                        errors.append(f"{where}: eesId also used at {ees_ids[ees['eesId']]}")
                    if ees["eesId"] in registered:
                        errors.append(f"{where}: eesId is registered by the EES itself (EDGE-6)")
                    ees_ids.setdefault(ees["eesId"], where)
                errors += ees_entry_errors(where, ees)
            configfile.progress("validating EDNs", index + 1, len(data))
        return errors

    @staticmethod
    def edn_entry_errors(label: str, entry: dict[str, Any]) -> list[str]:
        """The EDN's members, checked by 3GPP's EDNConInfo schema and then by the model."""
        errors: list[str] = []
        exclude: set[str] = set()
        edn_id = entry.get("id", "")
        if not isinstance(edn_id, str) or ("id" in entry and not edn_id):
            errors.append(f"{label}.id: must be a non-empty string")
            exclude.add("edn_id")
        con = entry.get("ednConInfo")
        if not isinstance(con, dict):
            errors.append(f"{label}.ednConInfo: required, an EDNConInfo object")
            con_errors = ["reported"]
        else:
            con_errors = _schema_errors(f"{label}.ednConInfo", con, EDGE4, "EDNConInfo")
            errors += con_errors
        if con_errors:  # the model cannot tell more about members of the wrong shape
            exclude.update(CON_INFO_FIELDS)
        edn = EDN(
            edn_id=edn_id if "edn_id" not in exclude else "",
            plmns=entry.get("plmns", []),
            **(datamodel.edn_fields(con) if not con_errors else {}),
        )
        return errors + configfile.model_errors(edn, label, EDN_FIELD_KEYS, exclude=exclude)

    def apply(self, data: Any, prune: bool, stats: Counter) -> None:
        with signals.deferred(EDN), bulk.cachalot_reads_off():
            changes = self._changes(data, prune, stats)
            if changes:
                bulk.write(changes, "ecs_apply", configfile.progress)
                # One inventory_changed for the whole section (deferred() sends it).
                signals.changed(EDN)

    def _changes(self, data: Any, prune: bool, stats: Counter) -> bulk.InventoryChanges:
        """Compare the file with the database: what to create, update and delete.

        Unchanged rows are left out, so applying the same file again writes nothing.
        """
        existing_edns = {_model_identity(edn): edn for edn in EDN.objects.all()}
        # Registered EESs are the EESs' own (EDGE-6): the file neither lists nor prunes them.
        existing_eess = {
            ees.ees_id: ees for ees in EES.objects.filter(source=EES.SOURCE_CONFIGURED)
        }
        with_registrations = set(
            EES.objects.filter(source=EES.SOURCE_REGISTERED).values_list("edn_id", flat=True)
        )
        changes = bulk.InventoryChanges(
            edn_fields=["edn_id", *datamodel.edn_fields({}), "plmns"],
            ees_fields=list(datamodel.FIELD_TO_MEMBER),
        )
        kept_edns: set[int] = set()
        kept_eess: set[str] = set()
        for index, entry in enumerate(data):
            identity = _edn_identity(entry)
            edn = existing_edns.get(identity) or EDN()
            wanted = edn_values(entry)
            created = edn._state.adding
            if configfile.set_if_changed(edn, wanted, stats, "edn", created):
                (changes.created_edns if created else changes.updated_edns).append(edn)
            if not created:
                kept_edns.add(edn.pk)
            for info in entry.get("eess", []):
                ees = existing_eess.get(info["eesId"]) or EES()
                ees_created = ees._state.adding
                # An EES moving to another EDN is an update (a new EDN has no key yet).
                moved = not ees_created and ees.edn_id != edn.pk
                if configfile.set_if_changed(
                    ees, datamodel.ees_fields(info), stats, "ees", ees_created, moved
                ):
                    if ees_created:
                        changes.created_eess.append((ees, edn))
                    else:
                        changes.updated_eess.append((ees, edn))
                        if moved:  # the EDN it leaves no longer serves its PLMNs
                            changes.touched_edn_pks.add(ees.edn_id)
                kept_eess.add(ees.ees_id)
            configfile.progress("comparing EDNs", index + 1, len(data))
        if prune:
            for ees_id, ees in existing_eess.items():
                if ees_id not in kept_eess:
                    changes.deleted_eess.append(ees)
                    changes.touched_edn_pks.add(ees.edn_id)
                    stats["ees deleted"] += 1
            for edn in existing_edns.values():
                if edn.pk not in kept_edns and edn.pk not in with_registrations:
                    changes.deleted_edns.append(edn)
                    stats["edn deleted"] += 1
        return changes

    def export(self) -> Any:
        edns = sorted(EDN.objects.all(), key=lambda e: _sort_key(_model_identity(e)))
        by_edn: dict[int, list[EES]] = {}
        # Sorted here, not by the database, whose collation may order ids differently.
        configured = EES.objects.filter(source=EES.SOURCE_CONFIGURED)
        for ees in sorted(configured, key=lambda e: e.ees_id):
            by_edn.setdefault(ees.edn_id, []).append(ees)
        out = []
        for edn in edns:
            if edn.edn_id.startswith(REGISTERED_EDN_PREFIX) and edn.pk not in by_edn:
                continue  # made for EES registrations, not by the operator
            out.append(export_edn(edn, by_edn.get(edn.pk, [])))
        return out


def ees_entry_errors(where: str, info: Any) -> list[str]:
    """One EESInfo of the file, checked as the model checks an EES.

    ``EES.clean`` is 3GPP's EESInfo schema: it runs here once, on the EESInfo as the file
    writes it (also what the file's values must be before they can be fields); then the
    fields' own validators.  Which EES is which is the file's (eesId across the file).
    """
    found = ees_info_errors(info)
    if found:
        error = ValidationError(found)
        return configfile.model_messages(error, where, datamodel.FIELD_TO_MEMBER, EES, sep="/")
    ees = EES(**datamodel.ees_fields(info))
    try:
        ees.clean_fields(exclude=EES_NOT_IN_FILE)
    except ValidationError as error:
        return configfile.model_messages(error, where, datamodel.FIELD_TO_MEMBER, EES, sep="/")
    return []


def edn_values(entry: dict[str, Any]) -> dict[str, Any]:
    """The EDN field values of a valid ``edns`` entry (its EESs aside)."""
    return {
        "edn_id": entry.get("id", ""),
        **datamodel.edn_fields(entry["ednConInfo"]),
        "plmns": entry.get("plmns", []),
    }


def export_edn(edn: EDN, eess: list[EES]) -> dict[str, Any]:
    """An EDN as an ``edns`` entry, with ``eess`` (EESInfo) in the order given."""
    entry: dict[str, Any] = {}
    if edn.edn_id:
        entry["id"] = edn.edn_id
    entry["ednConInfo"] = canonical(datamodel.edn_con_info(edn))
    if edn.plmns:
        entry["plmns"] = canonical(edn.plmns)
    entry["eess"] = [canonical_ees(e) for e in eess]
    return entry


def canonical_ees(ees: EES) -> dict[str, Any]:
    info = datamodel.ees_info(ees)
    return {k: canonical(v) for k, v in info.items()}


def _model_identity(edn: EDN) -> tuple:
    if edn.edn_id:
        return ("id", edn.edn_id)
    return ("dnn", edn.dnn, edn.snssai_sst, (edn.snssai_sd or "").upper())


def _sort_key(identity: tuple) -> tuple:
    return tuple("" if v is None else str(v) for v in identity)


configfile.register(ECSSection())
configfile.register(EDNSection())
