"""The 3GPP data types our inventory is made of, and their mapping to our models.

``EESInfo``, ``EDNConInfo`` and ``EDNConfigInfo`` are defined by TS 24.558
(TS24558_Eecs_ServiceProvisioning.yaml) and reused by every API that hands out provisioning
information: EDGE-4, T-EES discovery (EDGE-6) and EDGE-10, so no API package owns them.
The EDN and EES models keep these members in 3GPP form; this module says which model field
is which member, so a change of the 3GPP data model touches it and the models alone.
It imports nothing of the models (they import it), and takes any object with their fields.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ecscore.datetimes import format_datetime

from .areas import UELocation, plmn_key
from .query import ProvisioningQuery

#: The 3GPP file that defines these types (TS 24.558).
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


def empty_value(field: str) -> Any:
    """What an EES model field holds when its member is absent."""
    if field in ("end_pt", "svc_area"):
        return None
    if field in ("ees_id", "ecsp_info"):
        return ""
    if field == "eec_reg_conf":
        return False
    return []


def ees_info(ees: Any) -> dict[str, Any]:
    """An EES as 3GPP EESInfo; optional members that are empty are left out."""
    wire = getattr(ees, "wire", None)
    if wire is not None:  # a record of the in-memory index keeps its EESInfo near wire form
        return wire()
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


def edn_con_info(edn: Any) -> dict[str, Any]:
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
    edn: Any, eess: list[dict[str, Any]], lifetime: dt.datetime | None
) -> dict[str, Any]:
    info: dict[str, Any] = {"ednConInfo": edn_con_info(edn), "eess": eess}
    if lifetime is not None:
        info["lifeTime"] = format_datetime(lifetime)
    return info


def edn_config_infos(matches: list[Any], lifetime: dt.datetime | None) -> list[dict[str, Any]]:
    """EDNConfigInfo for each match of ``matching.match`` (an EDN with the EESs it offers)."""
    return [edn_config_info(m.edn, [ees_info(e) for e in m.eess], lifetime) for m in matches]


def _sorted_unique(values: Any) -> tuple[str, ...]:
    return tuple(sorted({v for v in values if isinstance(v, str) and v}))


def provisioning_query(body: dict[str, Any]) -> ProvisioningQuery:
    """The query of an ECSServProvReq (EDGE-4), or of the same members of a partner's
    ServProvReq (EDGE-10 reuses them): EAS ids, location, connection PLMNs, ECSPs, ACR."""
    ac_profs = [p for p in body.get("acProfs") or [] if isinstance(p, dict)]
    eas_ids = [
        eas.get("easId")
        for prof in ac_profs
        for eas in prof.get("eass") or []
        if isinstance(eas, dict)
    ]
    ecsps = list(body.get("ecspIds") or [])
    acr = list(body.get("eecSvcContSupp") or [])
    for prof in ac_profs:
        ecsps += prof.get("prefEcsps") or []
        acr += prof.get("acSvcContSupp") or []
    plmns = [
        plmn_key(info.get("plmnId"))
        for info in body.get("connInfo") or []
        if isinstance(info, dict)
    ]
    return ProvisioningQuery(
        eas_ids=_sorted_unique(eas_ids),
        location=UELocation.from_location_info(body.get("locInf")),
        serving_plmns=_sorted_unique(plmns),
        ecsp_ids=_sorted_unique(ecsps),
        acr_scenarios=_sorted_unique(acr),
        ue_id=body.get("ueId") if isinstance(body.get("ueId"), str) else None,
    )
