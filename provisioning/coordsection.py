"""The ``areaCoordinates`` section of the configuration file: where TAIs and cells lie.

``areaCoordinates``: a list of ``{tai: Tai | ncgi: Ncgi | ecgi: Ecgi, lat, lon, radius, name}``
(exactly one of ``tai``, ``ncgi``, ``ecgi``, in 3GPP's TS 29.571 shape; ``radius`` in metres,
default 1000; ``name`` optional).  An entry is identified by its TAI or cell.  Only the
admin's map of service areas reads these rows (``provisioning.areamap``); matching never does.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ecscore import configfile

from .models import AreaCoordinates

COORD_KEYS = configfile.ModelKeys(
    AreaCoordinates,
    {"name": "name", "lat": "lat", "lon": "lon", "radius": "radius_m"},
    wording={"radius": "must be whole metres"},
)
KINDS = tuple(AreaCoordinates.SCHEMAS)  # the file key of each kind is its name: tai, ncgi, ecgi


def _label(index: int) -> str:
    return f"areaCoordinates[{index}]"


def _kind(entry: dict[str, Any]) -> str | None:
    given = [kind for kind in KINDS if kind in entry]
    return given[0] if len(given) == 1 else None


def _instance(entry: dict[str, Any], invalid: set[str] | None = None) -> AreaCoordinates:
    kind = _kind(entry) or ""
    row = AreaCoordinates(kind=kind, area=entry.get(kind))
    for name, value in COORD_KEYS.values(entry, invalid=invalid or set()).items():
        setattr(row, name, value)
    row.key = row.derived_key() or ""
    return row


class AreaCoordinatesSection(configfile.ConfigSection):
    key = "areaCoordinates"
    order = 30

    def validate(self, data: Any, document: dict[str, Any]) -> list[str]:
        if not isinstance(data, list):
            return ["areaCoordinates: must be a list of {tai | ncgi | ecgi, lat, lon, radius}"]
        errors: list[str] = []
        seen: dict[str, int] = {}
        for index, entry in enumerate(data):
            label = _label(index)
            if not isinstance(entry, dict):
                errors.append(f"{label}: must be a mapping")
                continue
            errors += [
                f"{label}.{key}: unknown key"
                for key in entry
                if key not in COORD_KEYS.keys and key not in KINDS
            ]
            if _kind(entry) is None:
                errors.append(f"{label}: give exactly one of {', '.join(KINDS)}")
                continue
            found, bad = COORD_KEYS.type_errors(label, entry)
            missing = {key for key in ("lat", "lon") if key not in entry}
            errors += found + [f"{label}.{key}: required" for key in sorted(missing)]
            bad |= missing
            row = _instance(entry, invalid=bad)
            # The key is derived from the TAI or cell, whose own errors name it.
            excluded = ["key", *(COORD_KEYS.keys[key] for key in bad)]
            keys = {**COORD_KEYS.fields, "area": _kind(entry) or ""}
            errors += configfile.model_errors(row, label, keys, exclude=excluded)
            if row.key:
                if row.key in seen:
                    errors.append(f"{label}: same {row.kind} as areaCoordinates[{seen[row.key]}]")
                seen.setdefault(row.key, index)
        return errors

    def apply(self, data: Any, prune: bool, stats: Counter) -> None:
        wanted = {row.key: row for row in (_instance(entry) for entry in data)}
        stored = {row.key: row for row in AreaCoordinates.objects.filter(key__in=list(wanted))}
        for key, row in wanted.items():
            current = stored.get(key)
            values = {
                "kind": row.kind,
                "area": row.area,
                **{f: getattr(row, f) for f in ("name", "lat", "lon", "radius_m")},
            }
            configfile.save_if_changed(
                current or AreaCoordinates(),
                values,
                stats,
                "area coordinates",
                created=current is None,
                label=f"areaCoordinates ({key})",
                keys=COORD_KEYS.fields,
            )
        if prune:
            gone = AreaCoordinates.objects.exclude(key__in=list(wanted))
            for row in gone:
                row._change_reason = "ecs_apply --prune"
                row.delete()
                stats["area coordinates deleted"] += 1

    def export(self) -> Any:
        rows = list(AreaCoordinates.objects.order_by("key"))
        if not rows:
            return None
        return [
            {row.kind: configfile.canonical(row.area), **COORD_KEYS.export(row)} for row in rows
        ]


configfile.register(AreaCoordinatesSection())
