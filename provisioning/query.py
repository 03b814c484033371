"""A provisioning query: what an EEC (or a partner ECS, or an EES) asks for, in canonical form.

Everything matching needs is reduced to sorted, de-duplicated tuples, so two requests that
ask the same thing give equal queries (the partner cache keys on this form). The APIs build
queries from their own wire formats (``datamodel.provisioning_query`` for the filters of an
ECSServProvReq, which EDGE-10 reuses; T-EES discovery from its query parameters).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .areas import UELocation


@dataclass(frozen=True)
class ProvisioningQuery:
    eas_ids: tuple[str, ...] = ()
    location: UELocation = field(default_factory=UELocation)
    serving_plmns: tuple[str, ...] = ()
    ecsp_ids: tuple[str, ...] = ()
    acr_scenarios: tuple[str, ...] = ()
    ue_id: str | None = None
