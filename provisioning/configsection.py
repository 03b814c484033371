"""The ``ecs`` and ``edns`` sections of the configuration file.

``ecs``:  ``{id, ecsp, homePlmns: [PlmnId], provisioningLifetime: seconds}``
``edns``: a list of 3GPP ``EDNConfigInfo`` objects (``ednConInfo``, ``eess`` as ``EESInfo``)
          plus an optional ``id`` and ``plmns: [PlmnId]`` per EDN.  An EDN is identified by
          its ``id`` when given, else by its DNN and S-NSSAI; an EES by its ``eesId``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.core.exceptions import ValidationError

from ecscore import configfile, schemas
from ecscore.configfile import canonical

from . import bulk, datamodel, signals
from .models import (
    COMMON_29571,
    EDGE4,
    EDN,
    EES,
    REGISTERED_EDN_PREFIX,
    ECSConfiguration,
    dnn_validator,
)

ECS_KEYS = {"id", "ecsp", "homePlmns", "provisioningLifetime"}
EDN_KEYS = {"id", "ednConInfo", "eess", "plmns", "lifeTime"}  # lifeTime is computed; ignored


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


def _length_errors(
    where: str, data: dict[str, Any], model: Any, fields: dict[str, str]
) -> list[str]:
    """Strings longer than their column: PostgreSQL would fail mid-apply, SQLite keep them."""
    errors = []
    for member, field in fields.items():
        limit = model._meta.get_field(field).max_length
        value = data.get(member)
        if isinstance(value, str) and len(value) > limit:
            errors.append(f"{where}{member}: at most {limit} characters, not {len(value)}")
    return errors


def _plmn_errors(where: str, value: Any) -> list[str]:
    if not isinstance(value, list):
        return [f"{where}: must be a list of PlmnId"]
    errors = []
    for i, plmn in enumerate(value):
        errors += _schema_errors(f"{where}[{i}]", plmn, COMMON_29571, "PlmnId")
    return errors


class ECSSection(configfile.ConfigSection):
    key = "ecs"
    order = 10

    def validate(self, data: Any, document: dict[str, Any]) -> list[str]:
        if not isinstance(data, dict):
            return ["ecs: must be a mapping with id, ecsp, homePlmns, provisioningLifetime"]
        errors = [f"ecs.{k}: unknown key" for k in data if k not in ECS_KEYS]
        if not isinstance(data.get("id"), str) or not data.get("id"):
            errors.append("ecs.id: required, a non-empty string")
        if "ecsp" in data and not isinstance(data["ecsp"], str):
            errors.append("ecs.ecsp: must be a string")
        errors += _length_errors("ecs.", data, ECSConfiguration, {"id": "ecs_id", "ecsp": "ecsp"})
        if "homePlmns" in data:
            errors += _plmn_errors("ecs.homePlmns", data["homePlmns"])
        lifetime = data.get("provisioningLifetime", 3600)
        if (
            not isinstance(lifetime, int)
            or isinstance(lifetime, bool)
            or not (0 <= lifetime <= 365 * 24 * 3600)
        ):
            errors.append("ecs.provisioningLifetime: must be whole seconds, 0 to one year")
        return errors

    def apply(self, data: Any, prune: bool, stats: Counter) -> None:
        with signals.deferred(ECSConfiguration):
            self._apply(data, stats)

    def _apply(self, data: Any, stats: Counter) -> None:
        config = ECSConfiguration.load()
        wanted = {
            "ecs_id": data["id"],
            "ecsp": data.get("ecsp", ""),
            "home_plmns": data.get("homePlmns", []),
            "provisioning_lifetime": data.get("provisioningLifetime", 3600),
        }
        _save_if_changed(config, wanted, stats, "ecs", created=config._state.adding)

    def export(self) -> Any:
        config = ECSConfiguration.load()
        return {
            "id": config.ecs_id,
            "ecsp": config.ecsp,
            "homePlmns": canonical(config.home_plmns),
            "provisioningLifetime": config.provisioning_lifetime,
        }


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
            if "id" in entry and (not isinstance(entry["id"], str) or not entry["id"]):
                errors.append(f"{label}.id: must be a non-empty string")
            errors += _length_errors(f"{label}.", entry, EDN, {"id": "edn_id"})
            con = entry.get("ednConInfo")
            if not isinstance(con, dict):
                errors.append(f"{label}.ednConInfo: required, an EDNConInfo object")
            else:
                errors += _schema_errors(f"{label}.ednConInfo", con, EDGE4, "EDNConInfo")
                errors += _length_errors(f"{label}.ednConInfo/", con, EDN, {"dnn": "dnn"})
                if not con.get("dnn"):
                    errors.append(f"{label}.ednConInfo/dnn: required")
                elif isinstance(con["dnn"], str):
                    # The admin refuses such a DNN (model validator); so must the file.
                    try:
                        dnn_validator(con["dnn"])
                    except ValidationError as exc:
                        errors += [f"{label}.ednConInfo/dnn: {m}" for m in exc.messages]
            if "plmns" in entry:
                errors += _plmn_errors(f"{label}.plmns", entry["plmns"])
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
                if isinstance(ees, dict) and ees.get("eesId") == "":
                    errors.append(f"{where}/eesId: must not be empty")
                elif isinstance(ees, dict) and isinstance(ees.get("eesId"), str):
                    where += f" ({ees['eesId']})"
                    if ees["eesId"] in ees_ids:
                        errors.append(f"{where}: eesId also used at {ees_ids[ees['eesId']]}")
                    if ees["eesId"] in registered:
                        errors.append(f"{where}: eesId is registered by the EES itself (EDGE-6)")
                    ees_ids.setdefault(ees["eesId"], where)
                errors += _schema_errors(where, ees, EDGE4, "EESInfo")
                if isinstance(ees, dict):
                    errors += _length_errors(
                        f"{where}/", ees, EES, {"eesId": "ees_id", "ecspInfo": "ecsp_info"}
                    )
            configfile.progress("validating EDNs", index + 1, len(data))
        return errors

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
            wanted = {
                "edn_id": entry.get("id", ""),
                **datamodel.edn_fields(entry["ednConInfo"]),
                "plmns": entry.get("plmns", []),
            }
            created = edn._state.adding
            if _set_if_changed(edn, wanted, stats, "edn", created):
                (changes.created_edns if created else changes.updated_edns).append(edn)
            if not created:
                kept_edns.add(edn.pk)
            for info in entry.get("eess", []):
                ees = existing_eess.get(info["eesId"]) or EES()
                ees_created = ees._state.adding
                # An EES moving to another EDN is an update (a new EDN has no key yet).
                moved = not ees_created and ees.edn_id != edn.pk
                if _set_if_changed(
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
            entry: dict[str, Any] = {}
            if edn.edn_id:
                entry["id"] = edn.edn_id
            entry["ednConInfo"] = canonical(datamodel.edn_con_info(edn))
            if edn.plmns:
                entry["plmns"] = canonical(edn.plmns)
            entry["eess"] = [canonical_ees(e) for e in by_edn.get(edn.pk, [])]
            out.append(entry)
        return out


def canonical_ees(ees: EES) -> dict[str, Any]:
    info = datamodel.ees_info(ees)
    return {k: canonical(v) for k, v in info.items()}


def _model_identity(edn: EDN) -> tuple:
    if edn.edn_id:
        return ("id", edn.edn_id)
    return ("dnn", edn.dnn, edn.snssai_sst, (edn.snssai_sd or "").upper())


def _sort_key(identity: tuple) -> tuple:
    return tuple("" if v is None else str(v) for v in identity)


def _set_if_changed(
    obj: Any, wanted: dict[str, Any], stats: Counter, kind: str, created: bool, moved: bool = False
) -> bool:
    """Set ``wanted`` on ``obj`` and count it; False (and nothing set) when nothing differs."""
    changed = created or moved or any(getattr(obj, k) != v for k, v in wanted.items())
    if not changed:
        stats[f"{kind} unchanged"] += 1
        return False
    for k, v in wanted.items():
        setattr(obj, k, v)
    stats[f"{kind} {'created' if created else 'updated'}"] += 1
    return True


def _save_if_changed(
    obj: Any, wanted: dict[str, Any], stats: Counter, kind: str, created: bool
) -> None:
    if _set_if_changed(obj, wanted, stats, kind, created):
        obj._change_reason = "ecs_apply"
        obj.save()


configfile.register(ECSSection())
configfile.register(EDNSection())
