"""The EDGE-10 wire format (ECS <-> partner ECS) in one module.

3GPP TS 29.558 V20 defines Eecs_ECSServiceProvisioning (Annex A.18) but its YAML could not be
had; ``openapi/ECSPortal_Eecs_ECSServiceProvisioning.yaml`` beside this module is our
description of it, reusing the EDGE-4 types.  Everything that knows the paths, member names or
schema names of EDGE-10 lives here, so the official file can replace ours by changing this
module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ecscore import schemas

from . import API

OPENAPI_FILE = API.schema_file
OPENAPI_PATH = Path(__file__).resolve().parent / str(API.own_openapi)
API_NAME = API.name
API_VERSION = API.version
REQUEST_PATH = f"/{API_NAME}/{API_VERSION}/request"
SUBSCRIPTIONS_PATH = f"/{API_NAME}/{API_VERSION}/subscriptions"
# Where we receive a partner's ServProvNotif (the notificationDestination we give it).
NOTIFICATIONS_PATH = f"/{API_NAME}/{API_VERSION}/notifications"

REQUEST_SCHEMA = (OPENAPI_FILE, "ServProvReq")
RESPONSE_SCHEMA = (OPENAPI_FILE, "ServProvResp")
SUBSCRIPTION_SCHEMA = (OPENAPI_FILE, "ServProvSubsc")
SUBSCRIPTION_PATCH_SCHEMA = (OPENAPI_FILE, "ServProvSubscPatch")
NOTIFICATION_SCHEMA = (OPENAPI_FILE, "ServProvNotif")

# Members of a ServProvSubsc that are not part of the query (the rest is a ServProvReq).
SUBSCRIPTION_ONLY_MEMBERS = ("notificationDestination", "expTime")

# Members of an ECSServProvReq (EDGE-4) that are forwarded to a partner as they are.
FORWARDED_MEMBERS = ("acProfs", "locInf", "connInfo", "ecspIds", "eecSvcContSupp", "suppFeat")


def register_schemas() -> None:
    schemas.add_document(OPENAPI_FILE, OPENAPI_PATH)


def request_url(api_root: str) -> str:
    return api_root.rstrip("/") + REQUEST_PATH


def subscriptions_url(api_root: str) -> str:
    return api_root.rstrip("/") + SUBSCRIPTIONS_PATH


def subscription_request(subscription: dict[str, Any]) -> dict[str, Any]:
    """The ServProvReq a ServProvSubsc asks about (without its subscription members)."""
    return {k: v for k, v in subscription.items() if k not in SUBSCRIPTION_ONLY_MEMBERS}


def build_subscription(
    request: dict[str, Any], destination: str, exp_time: str | None = None
) -> dict[str, Any]:
    """A ServProvSubsc for the query of a ServProvReq we sent."""
    body = {**subscription_request(request), "notificationDestination": destination}
    if exp_time:
        body["expTime"] = exp_time
    return body


def notification(sub_id: str, configs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"subId": sub_id, "ednCnfgInfo": configs}


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
