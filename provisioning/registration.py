"""EES registration (EDGE-6, TS 29.558 clause 8.4.4; TS29558_Eecs_EESRegistration.yaml).

A registered EES sits beside the configured ones: same table, ``source = registered``, its
3GPP ``EESProfile`` kept as sent so GET/PUT/PATCH return exactly it.  The profile is mapped
to our EESInfo-shaped fields (``svcArea`` ServiceArea -> LocationArea5G, ``provId`` ->
``ecspInfo``, ``appLocs`` -> DNAIs, maps -> lists) so matching treats both kinds alike.

A registration expires at the granted ``expTime`` (the proposed one, capped by
``ECS_REGISTRATION_MAX_SECONDS``; without a proposal, that maximum): an expired EES is no
longer provisioned, and ``expire_registrations`` deletes it.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from ecscore import errors
from ecscore.datetimes import format_datetime, granted_expiry

from .models import EDN, EES

FILE = "TS29558_Eecs_EESRegistration.yaml"


def default_max_seconds() -> int:
    return int(getattr(settings, "ECS_REGISTRATION_MAX_SECONDS", 86400))


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


def _edn_for(profile: dict[str, Any]) -> EDN:
    dnn = (profile.get("ednInfoSets") or {}).get("dnn")
    if dnn:
        edn = EDN.objects.filter(dnn=dnn).order_by("edn_id", "pk").first()
        if edn is None:
            edn = EDN.objects.create(edn_id=f"registered:{dnn}", dnn=dnn)
        return edn
    edns = list(EDN.objects.all()[:2])
    if len(edns) == 1:
        return edns[0]
    raise errors.InvalidRequest(
        "This ECS has several EDNs: the profile must name its EDN in ednInfoSets.dnn.",
        "MANDATORY_IE_MISSING",
        [{"param": "/eesProf/ednInfoSets", "reason": "needed to place the EES in an EDN"}],
    )


def representation(ees: EES) -> dict[str, Any]:
    body: dict[str, Any] = {"eesProf": ees.registered_profile}
    if ees.expires_at is not None:
        body["expTime"] = format_datetime(ees.expires_at)
    return body


def _check_ees_id(ees_id: str, registration_id: str | None) -> None:
    others = EES.objects.filter(ees_id=ees_id)
    if registration_id:
        others = others.exclude(registration_id=registration_id)
    if others.filter(source=EES.SOURCE_CONFIGURED).exists():
        raise errors.Forbidden(
            f"EES {ees_id!r} is configured by the operator and cannot be registered.",
            "EES_ID_CONFIGURED",
        )
    now = timezone.now()
    live = others.filter(source=EES.SOURCE_REGISTERED).exclude(expires_at__lte=now)
    if live.exists():
        raise errors.Forbidden(
            f"EES {ees_id!r} is already registered under another registration.",
            "EES_ALREADY_REGISTERED",
        )
    # An expired registration the worker has not deleted yet does not hold on to its eesId.
    for stale in others.filter(source=EES.SOURCE_REGISTERED, expires_at__lte=now):
        stale._change_reason = "EES registration expired"
        stale.delete()


@transaction.atomic
def create(body: dict[str, Any]) -> EES:
    profile = body["eesProf"]
    _check_ees_id(profile["eesId"], None)
    ees = EES(
        edn=_edn_for(profile),
        source=EES.SOURCE_REGISTERED,
        registration_id=uuid.uuid4().hex,
        registered_profile=profile,
        expires_at=granted_expiry(body.get("expTime"), default_max_seconds()),
        **profile_fields(profile),
    )
    ees._change_reason = "EES registration"
    try:
        with transaction.atomic():
            ees.save()
    except IntegrityError as exc:  # the same eesId, configured or registered meanwhile
        raise errors.Forbidden(
            f"EES {profile['eesId']!r} is already known to this ECS.",
            "EES_ALREADY_REGISTERED",
        ) from exc
    return ees


def get(registration_id: str) -> EES:
    ees = (
        EES.objects.filter(source=EES.SOURCE_REGISTERED, registration_id=registration_id)
        .select_related("edn")
        .first()
    )
    if ees is None or (ees.expires_at is not None and ees.expires_at <= timezone.now()):
        raise errors.NotFound("No such EES registration.", "RESOURCE_NOT_FOUND")
    return ees


@transaction.atomic
def replace(registration_id: str, body: dict[str, Any]) -> EES:
    ees = get(registration_id)
    profile = body["eesProf"]
    if profile["eesId"] != ees.ees_id:
        raise errors.InvalidRequest(
            "eesId cannot change in an update.",
            "INVALID_MSG_FORMAT",
            [{"param": "/eesProf/eesId", "reason": f"must stay {ees.ees_id!r}"}],
        )
    for field, value in profile_fields(profile).items():
        setattr(ees, field, value)
    ees.edn = _edn_for(profile)
    ees.registered_profile = profile
    ees.expires_at = granted_expiry(body.get("expTime"), default_max_seconds())
    ees._change_reason = "EES registration update"
    ees.save()
    return ees


@transaction.atomic
def patch(registration_id: str, body: dict[str, Any]) -> EES:
    """JSON merge patch (RFC 7396) of EESRegistrationPatch: eesProf and/or expTime."""
    ees = get(registration_id)
    merged: dict[str, Any] = {"eesProf": ees.registered_profile}
    if "eesProf" in body:
        merged["eesProf"] = body["eesProf"]
    if "expTime" in body:
        merged["expTime"] = body["expTime"]  # null removes: the maximum period applies
    elif ees.expires_at is not None:
        merged["expTime"] = format_datetime(ees.expires_at)
    return replace(registration_id, merged)


@transaction.atomic
def delete(registration_id: str) -> None:
    ees = get(registration_id)
    ees._change_reason = "EES deregistration"
    ees.delete()


def expire_registrations() -> int:
    """Delete registrations whose expiry has passed; returns how many."""
    count = 0
    expired = EES.objects.filter(source=EES.SOURCE_REGISTERED, expires_at__lte=timezone.now())
    for ees in expired.select_related("edn"):
        ees._change_reason = "EES registration expired"
        ees.delete()
        count += 1
    return count
