"""Other sources of provisioning information, beside our own EDNs.

``provisioning`` knows nothing of partner ECSs: the ``partners`` app registers a source here
when it loads, and the EDGE-4 (and T-EES discovery) flows ask every registered source after
matching locally.  With no source registered, provisioning works on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from .query import ProvisioningQuery


@dataclass
class SourceContext:
    """What a source may need beyond the query itself."""

    body: dict[str, Any]
    home_plmns: set[str]
    local_match_count: int
    # Offline: answer only from what is already at hand (no network), e.g. when evaluating
    # subscriptions inside a database transaction.
    offline: bool = False
    # The UE's serving (visited) PLMN, a PlmnId, when it roams: ``provision`` resolved it
    # once for the request (``provisioning.roaming``), so every source sees the same answer.
    serving_plmn: dict[str, Any] | None = None
    # Whether the answer can carry redirectedECS: EDGE-4 and its notifications can, T-EES
    # discovery and EDGE-10 cannot, so a source must provide the information itself there.
    redirect_allowed: bool = False


@dataclass
class SourceResult:
    """EDNConfigInfo objects from other sources, ECSs to redirect the EEC to, and whether
    every source could answer."""

    edn_configs: list[dict[str, Any]] = field(default_factory=list)
    # A source that should have answered but could not (down, slow, invalid answer).
    unavailable: bool = False
    # Each source caps the lifeTime of what it returns itself (partners: its cache expiry).
    retry_after: int | None = None
    # ECSRedirectInfo objects (TS 24.558): other ECSs the EEC should ask itself; only when
    # the context allows a redirect.
    redirects: list[dict[str, Any]] = field(default_factory=list)


class ProvisioningSource(Protocol):
    def gather(self, query: ProvisioningQuery, context: SourceContext) -> SourceResult: ...


_sources: list[ProvisioningSource] = []


def register(source: ProvisioningSource) -> None:
    if source not in _sources:
        _sources.append(source)


def unregister(source: ProvisioningSource) -> None:
    if source in _sources:
        _sources.remove(source)


def registered() -> tuple[ProvisioningSource, ...]:
    return tuple(_sources)
