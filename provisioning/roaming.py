"""Is the UE roaming, and where?  Resolved once per request, before local matching.

TS 23.558 clause 8.17.2.4.2.2 determines roaming "using the serving PLMN information in the
received service provisioning request, or by interacting with the H-PLMN".  ``provision``
asks the resolver once per request; the serving PLMN goes to the other sources
(``SourceContext.serving_plmn``) and a location the resolver learnt, when the request gave
none, to local matching.

Which resolver answers:

* ``ECS_ROAMING_RESOLVER`` (a dotted path to a class or factory taking no arguments): an
  operator's own, e.g. a gateway to its HSS/UDM;
* else the one an app registered with ``set_resolver`` (``partners`` registers the NEF
  resolver, which reads ``connInfo`` until a ``nef`` section is configured);
* else ``ConnectivityInfoResolver``: the UE roams when a ``connInfo`` PLMN is not one of our
  home PLMNs, and that PLMN is its serving (visited) PLMN.

A resolver never fails a request: what it cannot learn in time, it leaves out ("as if at
home").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from .areas import plmn_key

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RoamingStatus:
    """What a resolver learnt about the UE of one request."""

    #: The visited PLMN (a PlmnId) when the UE roams, else None.
    serving_plmn: dict[str, Any] | None = None
    #: Where the UE is, as a TS 29.122 ``LocationInfo`` (the type of ``locInf``), when the
    #: resolver learnt it; None when it did not.
    location_info: dict[str, Any] | None = None


AT_HOME = RoamingStatus()


class RoamingResolver(Protocol):
    def resolve(
        self, body: dict[str, Any], home_plmns: set[str], *, offline: bool = False
    ) -> RoamingStatus:
        """The UE's roaming status for a request ``body`` (ECSServProvReq members).

        ``offline``: answer from what is at hand, no network (subscription evaluation).
        """


class ConnectivityInfoResolver:
    """The request's own word: a ``connInfo`` PLMN that is not a home PLMN."""

    def resolve(
        self, body: dict[str, Any], home_plmns: set[str], *, offline: bool = False
    ) -> RoamingStatus:
        return RoamingStatus(serving_plmn=visited_plmn(body, home_plmns))


def visited_plmn(body: dict[str, Any], home_plmns: set[str]) -> dict[str, Any] | None:
    """The first ``connInfo`` PLMN that is not one of ours."""
    for info in body.get("connInfo") or []:
        plmn = info.get("plmnId") if isinstance(info, dict) else None
        key = plmn_key(plmn)
        if key and key not in home_plmns:
            return plmn
    return None


def names_plmn(body: dict[str, Any]) -> bool:
    """Whether the request's ``connInfo`` names any PLMN (ours or not)."""
    return any(
        plmn_key(info.get("plmnId")) is not None
        for info in body.get("connInfo") or []
        if isinstance(info, dict)
    )


_registered: RoamingResolver = ConnectivityInfoResolver()
_configured: tuple[str, RoamingResolver] | None = None


def resolver() -> RoamingResolver:
    """The resolver in force (see the module docstring for the order)."""
    global _configured
    path = getattr(settings, "ECS_ROAMING_RESOLVER", "")
    if not path:
        return _registered
    if _configured is None or _configured[0] != path:
        _configured = (path, import_string(path)())
    return _configured[1]


def set_resolver(new: RoamingResolver) -> None:
    global _registered
    _registered = new


def resolve(body: dict[str, Any], home_plmns: set[str], offline: bool = False) -> RoamingStatus:
    """The resolver's answer; a resolver that raises counts as knowing nothing beyond
    ``connInfo`` -- an operator's resolver must not turn an EEC's request into a 500."""
    try:
        return resolver().resolve(body, home_plmns, offline=offline)
    except Exception:
        logger.exception("roaming resolver failed; using connInfo only")
        return ConnectivityInfoResolver().resolve(body, home_plmns, offline=offline)
