"""The EDGE-4 wire format (TS 24.558, TS24558_Eecs_ServiceProvisioning.yaml) in one place.

Converts between our models and 3GPP ``EESInfo``, ``EDNConInfo`` and ``EDNConfigInfo``
objects, and formats 3GPP ``DateTime`` values.  A change of the 3GPP data model touches
this module and nothing else.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import EDN, EES

EDGE4_FILE = "TS24558_Eecs_ServiceProvisioning.yaml"

#: EES model field -> EESInfo member, in the order 3GPP lists them.
FIELD_TO_MEMBER = {
    "ees_id": "eesId",
    "end_pt": "endPt",
    "eas_ids": "easIds",
    "app_group_ids": "appGroupIdList",
    "ecsp_info": "ecspInfo",
    "svc_area": "svcArea",
    "dnais": "dnais",
    "ees_svc_cont_supp": "eesSvcContSupp",
    "eec_reg_conf": "eecRegConf",
    "eas_inst_infos": "easInstInfos",
    "ees_auth_methods": "eesAuthMethods",
    "eas_bundle_infos": "easBundleInfos",
}
_EMPTY = (None, "", [], {})


def format_datetime(value: dt.datetime) -> str:
    """A 3GPP DateTime (RFC 3339, UTC, whole seconds)."""
    return value.astimezone(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(value: str) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return None
    if parsed.tzinfo is None:
        return None
    return parsed


def ees_info(ees: EES) -> dict[str, Any]:
    """An EES as 3GPP EESInfo; optional members that are empty are left out."""
    info: dict[str, Any] = {}
    for field, member in FIELD_TO_MEMBER.items():
        value = getattr(ees, field)
        if member in ("eesId", "eecRegConf") or value not in _EMPTY:
            info[member] = value
    return info


def ees_fields(info: dict[str, Any]) -> dict[str, Any]:
    """Model field values from a 3GPP EESInfo (already schema-valid)."""
    fields: dict[str, Any] = {}
    for field, member in FIELD_TO_MEMBER.items():
        value = info.get(member)
        if field == "eec_reg_conf":
            value = bool(value)
        elif field in ("end_pt", "svc_area"):
            value = value or None
        elif field in ("ees_id", "ecsp_info"):
            value = value or ""
        else:
            value = list(value or [])
        fields[field] = value
    return fields


def edn_con_info(edn: EDN) -> dict[str, Any]:
    info: dict[str, Any] = {"dnn": edn.dnn}
    if edn.snssai is not None:
        info["snssai"] = edn.snssai
    if edn.edn_topo_srv_area:
        info["ednTopoSrvArea"] = edn.edn_topo_srv_area
    return info


def edn_fields(con_info: dict[str, Any]) -> dict[str, Any]:
    """Model field values from a 3GPP EDNConInfo."""
    snssai = con_info.get("snssai") or {}
    return {
        "dnn": con_info.get("dnn", ""),
        "snssai_sst": snssai.get("sst"),
        "snssai_sd": str(snssai.get("sd", "")).upper(),
        "edn_topo_srv_area": con_info.get("ednTopoSrvArea") or None,
    }


def edn_config_info(
    edn: EDN, eess: list[dict[str, Any]], lifetime: dt.datetime | None
) -> dict[str, Any]:
    info: dict[str, Any] = {"ednConInfo": edn_con_info(edn), "eess": eess}
    if lifetime is not None:
        info["lifeTime"] = format_datetime(lifetime)
    return info
