"""A provisioning query: what an EEC (or a partner ECS, or an EES) asks for, in canonical form.

Everything matching needs is reduced to sorted, de-duplicated tuples, so two requests that
ask the same thing give equal queries (the partner cache keys on this form).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .areas import UELocation, plmn_key


def _sorted_unique(values: Any) -> tuple[str, ...]:
    return tuple(sorted({v for v in values if isinstance(v, str) and v}))


@dataclass(frozen=True)
class ProvisioningQuery:
    eas_ids: tuple[str, ...] = ()
    location: UELocation = field(default_factory=UELocation)
    serving_plmns: tuple[str, ...] = ()
    ecsp_ids: tuple[str, ...] = ()
    acr_scenarios: tuple[str, ...] = ()
    ue_id: str | None = None

    @classmethod
    def from_request(cls, body: dict[str, Any]) -> ProvisioningQuery:
        """From an ECSServProvReq (EDGE-4) or the same members of a partner's request."""
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
        return cls(
            eas_ids=_sorted_unique(eas_ids),
            location=UELocation.from_location_info(body.get("locInf")),
            serving_plmns=_sorted_unique(plmns),
            ecsp_ids=_sorted_unique(ecsps),
            acr_scenarios=_sorted_unique(acr),
            ue_id=body.get("ueId") if isinstance(body.get("ueId"), str) else None,
        )
