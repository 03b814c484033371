"""The T-EES discovery wire format (EDGE-6, TS 23.558 clause 8.8.3.3).

TS29558_Eecs_TargetEESDiscovery.yaml: its query parameters, read into a provisioning query.

An S-EES asks which EESs can serve a UE's application elsewhere.  The query parameters are
turned into the same provisioning query as an EEC's request and answered through the same
path (``service.provision``): local matching, then partner ECSs and their cache when the UE
roams or nothing local matches.  The requesting S-EES itself is not offered as a target, and
``target-dnai`` keeps only EESs that list that DNAI.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.http import QueryDict

from ecscore import errors, jsontext, schemas

from .. import areas, datamodel
from ..query import ProvisioningQuery
from . import API

FILE = API.schema_file
PARAMS = {
    "ees-id",
    "eas-id",
    "target-dnai",
    "ue-id",
    "ue-location",
    "eec-srv-cont-supp",
    "ac-svc-cont-supp",
    "bdl-id",
    "bdl-type",
    "ens-ind",
    "app-grp-id",
    "supported-features",
}


def _problems(value: Any, file_name: str, schema: str) -> list[dict[str, str]]:
    return schemas.invalid_params(schemas.validator(file_name, schema), value)


def _json_param(params: QueryDict, name: str, file_name: str, schema: str) -> Any:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        value = jsontext.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise errors.InvalidRequest(
            f"{name} must be JSON.",
            "INVALID_QUERY_PARAM",
            [{"param": name, "reason": "not valid JSON"}],
        ) from exc
    unstorable = jsontext.problem(value)
    if unstorable is not None:
        # Infinity, NaN or a lone surrogate would not survive matching, caching or logging.
        pointer, reason = unstorable
        raise errors.InvalidRequest(
            f"{name} holds a value this ECS does not accept.",
            "INVALID_QUERY_PARAM",
            [{"param": name + pointer, "reason": reason}],
        )
    problems = _problems(value, file_name, schema)
    if problems:
        raise errors.InvalidRequest(
            f"{name} does not conform to {schema}.",
            "INVALID_QUERY_PARAM",
            [{"param": name + p["param"].rstrip("/"), "reason": p["reason"]} for p in problems],
        )
    return value


def _list_param(params: QueryDict, name: str) -> list[str]:
    values: list[str] = []
    for raw in params.getlist(name):
        values += [v for v in raw.split(",") if v]
    return values


def location_info(area: dict[str, Any] | None) -> dict[str, Any] | None:
    """A LocationArea5G (ue-location) as the LocationInfo an EEC would send (locInf)."""
    if not area:
        return None
    info = area.get("nwAreaInfo") or {}
    tais, ncgis, ecgis = info.get("tais") or [], info.get("ncgis") or [], info.get("ecgis") or []
    loc: dict[str, Any] = {}
    if tais and ncgis:
        loc["userLocation"] = {"nrLocation": {"tai": tais[0], "ncgi": ncgis[0]}}
    elif tais and ecgis:
        loc["userLocation"] = {"eutraLocation": {"tai": tais[0], "ecgi": ecgis[0]}}
    for geo in area.get("geographicAreas") or []:
        if geo.get("shape") in ("POINT", "POINT_UNCERTAINTY_CIRCLE"):
            loc["geographicArea"] = geo
            break
    return loc or None


def ue_location(area: dict[str, Any] | None) -> areas.UELocation:
    """Every TAI, cell and point of a LocationArea5G, for matching."""
    points = []
    for geo in (area or {}).get("geographicAreas") or []:
        if geo.get("shape") in ("POINT", "POINT_UNCERTAINTY_CIRCLE"):
            point = geo.get("point") or {}
            points.append((float(point["lat"]), float(point["lon"])))
    return areas.UELocation(frozenset(areas.network_keys(area)), tuple(points))


def parse(params: QueryDict) -> tuple[dict[str, Any], ProvisioningQuery, dict[str, Any]]:
    """The request as an ECSServProvReq-shaped body (what partners are sent), the query we
    match with, and the discovery options."""
    unknown = sorted(set(params) - PARAMS)
    if unknown:
        raise errors.InvalidRequest(
            "Unknown query parameters.",
            "INVALID_QUERY_PARAM",
            [{"param": name, "reason": "not a parameter of GetEESProfiles"} for name in unknown],
        )
    missing = [name for name in ("ees-id", "eas-id") if not params.get(name)]
    if missing:
        raise errors.InvalidRequest(
            "ees-id and eas-id are required.",
            "MANDATORY_IE_MISSING",
            [{"param": name, "reason": "is required"} for name in missing],
        )
    area = _json_param(params, "ue-location", "TS29122_CommonData.yaml", "LocationArea5G")
    eec_cont = _json_param(
        params,
        "eec-srv-cont-supp",
        "TS29558_Eees_EECContextRelocation.yaml",
        "EECSrvContinuitySupport",
    )
    acr = _list_param(params, "ac-svc-cont-supp")
    if eec_cont and eec_cont.get("srvContSupp"):
        acr += eec_cont.get("acrScenarios") or []
    profile: dict[str, Any] = {"acId": "t-ees-discovery", "eass": [{"easId": params["eas-id"]}]}
    if acr:
        profile["acSvcContSupp"] = acr
    body: dict[str, Any] = {"eecId": f"ees:{params['ees-id']}", "acProfs": [profile]}
    loc = location_info(area)
    if loc:
        body["locInf"] = loc
    plmns = sorted({areas.key_plmn(k) for k in areas.network_keys(area)})
    if plmns:
        body["connInfo"] = [
            {"plmnId": {"mcc": p.split("-")[0], "mnc": p.split("-")[1]}} for p in plmns
        ]
    if params.get("ue-id"):
        body["ueId"] = params["ue-id"]
    options = {"source_ees": params["ees-id"], "target_dnai": params.get("target-dnai")}
    query = dataclasses.replace(datamodel.provisioning_query(body), location=ue_location(area))
    return body, query, options


def targets_only(configs: list[dict[str, Any]], options: dict[str, Any]) -> list[dict[str, Any]]:
    """Drop the requesting S-EES, and EESs without the target DNAI when one was named."""
    kept = []
    for cfg in configs:
        eess = [
            ees
            for ees in cfg["eess"]
            if ees.get("eesId") != options["source_ees"]
            and (not options["target_dnai"] or options["target_dnai"] in (ees.get("dnais") or []))
        ]
        if eess:
            kept.append({**cfg, "eess": eess})
    return kept
