"""The EES registration wire format (EDGE-6, TS29558_Eecs_EESRegistration.yaml).

Reads ``EESRegistration`` bodies into the domain's ``Registration`` (the ``EESProfile`` mapped
to our EESInfo-shaped fields: ``svcArea`` ServiceArea -> LocationArea5G, ``provId`` ->
``ecspInfo``, ``appLocs`` -> DNAIs, maps -> lists), merges an ``EESRegistrationPatch``, and
writes a registration back as ``EESRegistration``.
"""

from __future__ import annotations

from typing import Any

from ecscore import errors
from ecscore.datetimes import format_datetime

from ..models import EES, dnn_problem
from ..registration import Registration


def service_area(area: dict[str, Any] | None) -> dict[str, Any] | None:
    """A 3GPP ServiceArea (EESProfile.svcArea) as LocationArea5G."""
    if not area:
        return None
    top = area.get("topServAr") or {}
    geo = area.get("geoServAr") or {}
    out: dict[str, Any] = {}
    nw = {k: top[k] for k in ("tais", "ncgis", "ecgis") if top.get(k)}
    if nw:
        out["nwAreaInfo"] = nw
    if geo.get("geoArs"):
        out["geographicAreas"] = geo["geoArs"]
    if geo.get("civicAddrs"):
        out["civicAddresses"] = geo["civicAddrs"]
    return out or None


def profile_fields(profile: dict[str, Any]) -> dict[str, Any]:
    bundles = [b for infos in (profile.get("easBdlInfos") or {}).values() for b in infos]
    return {
        "ees_id": profile["eesId"],
        "end_pt": profile.get("endPt"),
        "eas_ids": list(profile.get("easIds") or []),
        "ecsp_info": profile.get("provId", ""),
        "svc_area": service_area(profile.get("svcArea")),
        "dnais": list(profile.get("appLocs") or []),
        "ees_svc_cont_supp": list(profile.get("svcContSupp") or []),
        "eec_reg_conf": bool(profile.get("eecRegConf", False)),
        "eas_inst_infos": list((profile.get("easInstInfo") or {}).values()),
        "eas_bundle_infos": bundles,
    }


def representation(ees: EES) -> dict[str, Any]:
    body: dict[str, Any] = {"eesProf": ees.registered_profile}
    if ees.expires_at is not None:
        body["expTime"] = format_datetime(ees.expires_at)
    return body


def edn_dnn(profile: dict[str, Any]) -> str | None:
    """The DNN the profile's ``ednInfoSets`` (EDNInfo) names; 400 when it is no DNN: the
    schema's Dnn is any string, and an EDN is created with it."""
    edn_info = profile.get("ednInfoSets")
    if not isinstance(edn_info, dict) or "dnn" not in edn_info:
        return None
    dnn = edn_info["dnn"]
    problem = dnn_problem(dnn)
    if problem:
        raise errors.InvalidRequest(
            f"ednInfoSets.dnn is not a DNN: {problem}.",
            "INVALID_MSG_FORMAT",
            [{"param": "/eesProf/ednInfoSets/dnn", "reason": problem}],
        )
    return dnn


def registration(body: dict[str, Any]) -> Registration:
    """An EESRegistration (schema-valid) as the domain's Registration."""
    profile = body["eesProf"]
    return Registration(
        fields=profile_fields(profile),
        profile=profile,
        dnn=edn_dnn(profile),
        proposed_expiry=body.get("expTime"),
    )


def patched(ees: EES, changes: dict[str, Any]) -> Registration:
    """JSON merge patch (RFC 7396) of EESRegistrationPatch onto a registration: eesProf
    and/or expTime (``null`` removes it: the maximum period applies)."""
    merged: dict[str, Any] = {"eesProf": ees.registered_profile}
    if "eesProf" in changes:
        merged["eesProf"] = changes["eesProf"]
    if "expTime" in changes:
        merged["expTime"] = changes["expTime"]
    elif ees.expires_at is not None:
        merged["expTime"] = format_datetime(ees.expires_at)
    return registration(merged)
