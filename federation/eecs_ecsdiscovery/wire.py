"""The ECS discovery wire format (``openapi/ECSPortal_Eecs_ECSDiscovery.yaml``).

Reads an ``EcsInfoDiscoveryReq`` or an ``EcsInfoDiscSubscription``'s ``discoveryFilters``
into the repository's ``Filters``, a subscription into ``Subscription``, and writes
``EcsInfoDiscoveryResp`` and ``EcsInfoDiscNotif``.  Its ``ECSProfile`` is the registration
API's (that file is registered here too, since this one refers to it).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ecscore import schemas
from ecscore.datetimes import format_datetime
from provisioning.areas import plmn_key

from ..models import DiscoverySubscription, ECSRegistration
from ..records import Filters, Subscription
from . import API

OPENAPI_FILE = API.schema_file
OPENAPI_PATH = Path(__file__).resolve().parent / str(API.own_openapi)
REQUEST_SCHEMA = (OPENAPI_FILE, "EcsInfoDiscoveryReq")
RESPONSE_SCHEMA = (OPENAPI_FILE, "EcsInfoDiscoveryResp")
SUBSCRIPTION_SCHEMA = (OPENAPI_FILE, "EcsInfoDiscSubscription")
PATCH_SCHEMA = (OPENAPI_FILE, "EcsInfoDiscSubscriptionPatch")
NOTIFICATION_SCHEMA = (OPENAPI_FILE, "EcsInfoDiscNotif")


def register_schemas() -> None:
    schemas.add_document(OPENAPI_FILE, OPENAPI_PATH)


def filters(document: dict[str, Any]) -> Filters:
    """The filters of an EcsInfoDiscoveryReq or of a subscription's discoveryFilters."""
    return Filters.of(
        plmn_key(document.get("targetPlmn")), document.get("ecspIds"), document.get("ueLocation")
    )


def subscription(body: dict[str, Any]) -> Subscription:
    return Subscription(
        requestor_id=body["requestorId"],
        destination=body["notificationDestination"],
        filters=filters(body.get("discoveryFilters") or {}),
        proposed_expiry=body.get("expTime"),
        test_notification=bool(body.get("requestTestNotification")),
        document={k: v for k, v in body.items() if k not in ("expTime", "requestTestNotification")},
    )


def ecs_info(registrations: Iterable[ECSRegistration]) -> list[dict[str, Any]]:
    return [{"ecsProfile": r.profile} for r in registrations]


def response(registrations: Iterable[ECSRegistration], lifetime: int) -> dict[str, Any]:
    return {"ecsInfo": ecs_info(registrations), "lifetime": lifetime}


def notification(subscription_id: str, registrations: Iterable[ECSRegistration]) -> dict:
    return {"subscriptionId": subscription_id, "ecsInfo": ecs_info(registrations)}


def representation(sub: DiscoverySubscription) -> dict[str, Any]:
    return {**sub.body, "expTime": format_datetime(sub.expires_at)}


def patched(sub: DiscoverySubscription, changes: dict[str, Any]) -> dict[str, Any]:
    """The EcsInfoDiscSubscription a merge patch makes (top-level members replaced whole)."""
    merged = representation(sub)
    for member, value in changes.items():
        if value is None:
            merged.pop(member, None)
        else:
            merged[member] = value
    return merged
