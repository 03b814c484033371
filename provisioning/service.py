"""Service provisioning (TS 24.558 clause 7.2.2): from a request to an ECSServProvResp.

The EDGE-4 view calls ``provision``; later the T-EES discovery flow does too, so both take
the same path: local matching, then every registered other source, then one merged answer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from ecscore.datetimes import format_datetime, parse_datetime

from . import datamodel, matching, sources
from .models import ECSConfiguration
from .query import ProvisioningQuery


@dataclass
class ProvisioningAnswer:
    status: int  # 200, 204 or 503
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _merge(local: list[dict[str, Any]], remote: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Local EDNs first; an EES id already listed (by us or an earlier source) is dropped."""
    seen = {ees["eesId"] for cfg in local for ees in cfg["eess"]}
    merged = list(local)
    for cfg in remote:
        eess = []
        for ees in cfg.get("eess", []):
            if ees.get("eesId") not in seen:
                seen.add(ees.get("eesId"))
                eess.append(ees)
        if eess:
            merged.append({**cfg, "eess": eess})
    return merged


def _cap_lifetimes(configs: list[dict[str, Any]], latest: dt.datetime) -> None:
    """No lifetime we hand out is later than ``latest``."""
    for cfg in configs:
        current = parse_datetime(cfg.get("lifeTime", ""))
        if current is None or current > latest:
            cfg["lifeTime"] = format_datetime(latest)


def provision(
    body: dict[str, Any], query: ProvisioningQuery | None = None, offline: bool = False
) -> ProvisioningAnswer:
    query = query or ProvisioningQuery.from_request(body)
    config = ECSConfiguration.current()
    home = config.home_plmn_keys()
    lifetime = timezone.now() + dt.timedelta(seconds=config.provisioning_lifetime)
    local = datamodel.edn_config_infos(matching.match(query, home), lifetime)
    remote: list[dict[str, Any]] = []
    unavailable = False
    retry_after: int | None = None
    context = sources.SourceContext(
        body=body, home_plmns=home, local_match_count=len(local), offline=offline
    )
    for source in sources.registered():
        result = source.gather(query, context)
        if result.expires is not None:
            _cap_lifetimes(result.edn_configs, result.expires)
        remote.extend(result.edn_configs)
        unavailable = unavailable or result.unavailable
        if result.retry_after is not None:
            retry_after = max(retry_after or 0, result.retry_after)
    merged = _merge(local, remote)
    if merged:
        return ProvisioningAnswer(200, {"ednCnfgInfo": merged})
    if unavailable:
        return ProvisioningAnswer(503, headers={"Retry-After": str(retry_after or 5)})
    return ProvisioningAnswer(204)
