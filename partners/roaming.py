"""Is the UE roaming, and where?  Behind a small interface so the home network can be asked.

The default resolver reads the request: the UE roams when a ``connInfo`` PLMN is not one of
our home PLMNs, and that PLMN is its serving (visited) PLMN.  A resolver that asks the NEF
(TS 24.558 step c.2) can replace it with ``set_resolver``.
"""

from __future__ import annotations

from typing import Any, Protocol

from provisioning.areas import plmn_key


class RoamingResolver(Protocol):
    def serving_plmn(self, body: dict[str, Any], home_plmns: set[str]) -> dict[str, Any] | None:
        """The visited PLMN (a PlmnIdNid) when the UE roams, else None."""


class ConnectivityInfoResolver:
    def serving_plmn(self, body: dict[str, Any], home_plmns: set[str]) -> dict[str, Any] | None:
        for info in body.get("connInfo") or []:
            plmn = info.get("plmnId") if isinstance(info, dict) else None
            key = plmn_key(plmn)
            if key and key not in home_plmns:
                return plmn
        return None


_resolver: RoamingResolver = ConnectivityInfoResolver()


def resolver() -> RoamingResolver:
    return _resolver


def set_resolver(new: RoamingResolver) -> None:
    global _resolver
    _resolver = new
