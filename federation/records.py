"""What the ECS-ER's two APIs hand to the repository: an ECS profile, discovery filters, a
discovery subscription, read by each API's wire module from its 3GPP-named members."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from provisioning.areas import UELocation


@dataclass(frozen=True)
class Profile:
    """An ECSProfile (TS 23.558 clause 8.2.12)."""

    ecs_id: str
    api_root: str
    ecsp_id: str
    #: PLMN key ("mcc-mnc") -> the ECSP ids its SupportedPlmn names.
    plmns: dict[str, tuple[str, ...]]
    #: spatialValidity as a LocationArea5G, or None.
    area: dict[str, Any] | None
    #: The ECSProfile as sent.
    document: dict[str, Any]


@dataclass(frozen=True)
class Filters:
    """Discovery filters (an EcsInfoDiscoveryReq, or a subscription's discoveryFilters)."""

    target_plmn: str | None = None
    ecsp_ids: frozenset[str] = frozenset()
    location: UELocation = field(default_factory=UELocation)
    #: The location as sent (a LocationInfo), kept with a subscription.
    location_info: dict[str, Any] | None = None

    @classmethod
    def of(
        cls, target_plmn: str | None, ecsp_ids: Any, location_info: dict[str, Any] | None
    ) -> Filters:
        return cls(
            target_plmn=target_plmn,
            ecsp_ids=frozenset(ecsp_ids or ()),
            location=UELocation.from_location_info(location_info),
            location_info=location_info,
        )


@dataclass(frozen=True)
class Subscription:
    """An EcsInfoDiscSubscription."""

    requestor_id: str
    destination: str
    filters: Filters
    proposed_expiry: str | None
    test_notification: bool
    #: The EcsInfoDiscSubscription as sent.
    document: dict[str, Any]
