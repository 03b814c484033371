"""The ECS registration wire format (``openapi/ECSPortal_Eecs_ECSRegistration.yaml``).

Reads an ``ECSRegistration`` body into the repository's ``Profile`` (``supportedPlmns`` to
PLMN keys, ``spatialValidity`` ServiceArea to LocationArea5G), merges an
``ECSRegistrationPatch``, and writes a registration back as ``ECSRegistration``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ecscore import addresses, errors, schemas
from ecscore.datetimes import format_datetime
from provisioning.areas import plmn_key

from ..models import ECSRegistration
from ..records import Profile
from . import API

OPENAPI_FILE = API.schema_file
OPENAPI_PATH = Path(__file__).resolve().parent / str(API.own_openapi)
REGISTRATION_SCHEMA = (OPENAPI_FILE, "ECSRegistration")
PATCH_SCHEMA = (OPENAPI_FILE, "ECSRegistrationPatch")
#: The longest apiRoot kept (the column's length).
MAX_URI_LENGTH = 1000


def register_schemas() -> None:
    schemas.add_document(OPENAPI_FILE, OPENAPI_PATH)


def service_area(area: dict[str, Any] | None) -> dict[str, Any] | None:
    """A 3GPP ServiceArea (topServAr, geoServAr) as the LocationArea5G matching reads."""
    if not isinstance(area, dict):
        return None
    top = area.get("topServAr") or {}
    geo = area.get("geoServAr") or {}
    out: dict[str, Any] = {}
    network = {k: top[k] for k in ("tais", "ncgis", "ecgis") if top.get(k)}
    if network:
        out["nwAreaInfo"] = network
    if geo.get("geoArs"):
        out["geographicAreas"] = geo["geoArs"]
    return out or None


def profile(document: dict[str, Any], pointer: str = "/ecsProfile") -> Profile:
    """An ECSProfile (schema-valid) as the repository's Profile; its address must be an
    http(s) URI (the ECS's apiRoot: members call it over EDGE-10)."""
    uri = (document.get("ecsAddr") or {}).get("uri")
    if not uri:
        reason = "the ECS's apiRoot is required"
    elif len(uri) > MAX_URI_LENGTH:
        reason = f"longer than {MAX_URI_LENGTH} characters"
    else:
        # Its form only: where it leads is for the members that call it to judge (they
        # refuse private addresses unless allowed); the ECS-ER never calls it.
        reason = addresses.problem_with(uri, public_only=False)
    if reason:
        raise errors.InvalidRequest(
            "ecsAddr must give the ECS's apiRoot as its uri.",
            "INVALID_MSG_FORMAT",
            [{"param": f"{pointer}/ecsAddr/uri", "reason": reason}],
        )
    plmns: dict[str, tuple[str, ...]] = {}
    for supported in document.get("supportedPlmns") or []:
        key = plmn_key(supported.get("plmnId"))
        if key:
            plmns[key] = tuple(sorted({*plmns.get(key, ()), *(supported.get("ecspIds") or [])}))
    return Profile(
        ecs_id=document["ecsId"],
        api_root=uri,
        ecsp_id=document.get("ecspId", ""),
        plmns=plmns,
        area=service_area(document.get("spatialValidity")),
        document=document,
    )


def representation(registration: ECSRegistration) -> dict[str, Any]:
    body: dict[str, Any] = {"ecsProfile": registration.profile}
    if registration.expires_at is not None:
        body["expTime"] = format_datetime(registration.expires_at)
    if registration.supp_feat:
        body["suppFeat"] = registration.supp_feat
    return body


def patched(registration: ECSRegistration, changes: dict[str, Any]) -> dict[str, Any]:
    """The ECSRegistration an ECSRegistrationPatch makes of a registration (RFC 7396 at the
    top level: ``ecsProfile`` is replaced whole; ``expTime: null`` asks for the maximum)."""
    merged = representation(registration)
    for member in ("ecsProfile", "expTime"):
        if member in changes:
            if changes[member] is None:
                merged.pop(member, None)
            else:
                merged[member] = changes[member]
    return merged
