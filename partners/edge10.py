"""The EDGE-10 wire format (ECS <-> partner ECS) in one module.

3GPP TS 29.558 V20 defines Eecs_ECSServiceProvisioning (Annex A.18) but its YAML could not be
had; ``partners/openapi/ECSPortal_Eecs_ECSServiceProvisioning.yaml`` is our description of it,
reusing the EDGE-4 types.  Everything that knows the paths, member names or schema names of
EDGE-10 lives here, so the official file can replace ours by changing this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ecsportal import schemas

OPENAPI_FILE = "ECSPortal_Eecs_ECSServiceProvisioning.yaml"
OPENAPI_PATH = Path(__file__).resolve().parent / "openapi" / OPENAPI_FILE
API_NAME = "eecs-ecsserviceprovisioning"
API_VERSION = "v1"
REQUEST_PATH = f"/{API_NAME}/{API_VERSION}/request"

REQUEST_SCHEMA = (OPENAPI_FILE, "ServProvReq")
RESPONSE_SCHEMA = (OPENAPI_FILE, "ServProvResp")

# Members of an ECSServProvReq (EDGE-4) that are forwarded to a partner as they are.
FORWARDED_MEMBERS = ("acProfs", "locInf", "connInfo", "ecspIds", "eecSvcContSupp", "suppFeat")


def register_schemas() -> None:
    schemas.add_document(OPENAPI_FILE, OPENAPI_PATH)


def request_url(api_root: str) -> str:
    return api_root.rstrip("/") + REQUEST_PATH


def build_request(
    body: dict[str, Any],
    requester_id: str,
    serving_plmn: dict[str, Any] | None,
    share_ue_id: bool,
) -> dict[str, Any]:
    """A ServProvReq carrying the EEC's filters, location and (when roaming) serving PLMN."""
    request: dict[str, Any] = {"reqEcsId": requester_id}
    if serving_plmn:
        request["servingPlmn"] = dict(serving_plmn)
    for member in FORWARDED_MEMBERS:
        if body.get(member) not in (None, [], {}):
            request[member] = body[member]
    if share_ue_id and isinstance(body.get("ueId"), str):
        request["ueId"] = body["ueId"]
    return request


def query_body(request: dict[str, Any]) -> dict[str, Any]:
    """A partner's ServProvReq as the members our matching reads (servingPlmn joins connInfo)."""
    body = dict(request)
    if isinstance(request.get("servingPlmn"), dict):
        body["connInfo"] = [{"plmnId": request["servingPlmn"]}]
    return body


def response_errors(body: Any) -> list[dict[str, str]]:
    return schemas.invalid_params(schemas.validator(*RESPONSE_SCHEMA), body)


def edn_configs(body: dict[str, Any]) -> list[dict[str, Any]]:
    """A partner's EDNConfigInfo objects (schema-valid), each EES once.

    An EES the answer lists again -- in the same EDN or another -- is dropped: the first
    listing wins, and an EDN left without EESs is dropped with it.
    """
    seen: set[str] = set()
    configs = []
    for cfg in body.get("ednCnfgInfo") or []:
        eess = []
        for ees in cfg.get("eess") or []:
            if ees.get("eesId") not in seen:
                seen.add(ees.get("eesId"))
                eess.append(ees)
        if len(eess) == len(cfg.get("eess") or []):
            configs.append(cfg)
        elif eess:
            configs.append({**cfg, "eess": eess})
    return configs
