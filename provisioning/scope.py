"""What a change to the inventory can affect: the keys matching uses, seen from the change.

A ``ChangeScope`` says which requests could get another answer after a change: those asking
for one of ``eas_ids`` (or for no EAS at all), from a location in ``area_keys`` or inside one
of ``boxes`` (or from no location at all) -- or from anywhere when ``everywhere``. It is a
necessary condition, never a sufficient one: a subscription outside the scope cannot be
affected; one inside it is evaluated again and notified only if its answer really changed.
``everything`` is for what may change every answer (the ECS's own configuration, a bulk
load): all subscriptions are evaluated.

Scopes merge (a burst of changes is evaluated once), and travel as JSON in the change
events (``provisioning.changes``). ``subscription_keys`` gives a subscription's side of the
same keys, which ``provisioning.subscription_index`` stores: its EAS keys, and one *pair* key
per (EAS key, location key) it asks for. A change looks its pairs up (``pair_lookup``), so
that a lookup returns only subscriptions that match on both at once: a change for an
application nobody asks for, in the most crowded cell, reads no row.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from . import areas

#: Size of the grid cells (degrees) by which subscribed points and changed shapes meet.
GRID_DEGREES = 0.1
#: A change whose shapes cover more cells than this is taken to reach everywhere.
MAX_CELLS = 4096
# Partner cache entries keep points rounded to 1e-3 degrees: widen them by that much.
POINT_SLACK = 0.001

ANY_EAS = "eas:*"
ANY_LOCATION = "loc:*"
#: A change whose (EAS key x location key) pairs exceed this is looked up by EAS keys alone:
#: a wider candidate set (still a necessary condition) rather than a lookup of that size.
MAX_PAIRS = 20_000


def _cell(value: float) -> int:
    return math.floor(value / GRID_DEGREES)


def point_key(lat: float, lon: float) -> str:
    return f"geo:{_cell(lat)}:{_cell(lon)}"


def box_keys(box: tuple[float, float, float, float]) -> list[str] | None:
    """The grid cells a (min_lat, max_lat, min_lon, max_lon) box touches; None if too many."""
    min_lat, max_lat, min_lon, max_lon = box
    lats = range(_cell(min_lat), _cell(max_lat) + 1)
    lons = range(_cell(min_lon), _cell(max_lon) + 1)
    if len(lats) * len(lons) > MAX_CELLS:
        return None
    return [f"geo:{a}:{o}" for a in lats for o in lons]


def pair_key(eas_key: str, where_key: str) -> str:
    """One (EAS key, location key) pair as one fixed-width index key.

    Hashed, because the two keys together can be longer than an index entry should be; a
    collision (96 bits) would only add a candidate, which evaluation then finds unchanged."""
    digest = hashlib.blake2b(f"{eas_key}\n{where_key}".encode(), digest_size=12).hexdigest()
    return f"pair:{digest}"


def subscription_keys(eas_ids: Iterable[str], location: areas.UELocation) -> list[str]:
    """The index keys of a subscription's query: its EAS keys (for changes that reach
    everywhere) and a pair key per EAS key and location key (for the others)."""
    eas = sorted({f"eas:{e}" for e in eas_ids}) or [ANY_EAS]
    where = sorted({f"loc:{k}" for k in location.keys})
    where += sorted({point_key(lat, lon) for lat, lon in location.points})
    return eas + sorted({pair_key(e, w) for e in eas for w in where or [ANY_LOCATION]})


@dataclass(frozen=True)
class ChangeScope:
    everything: bool = False
    eas_ids: frozenset[str] = field(default_factory=frozenset)
    everywhere: bool = False
    area_keys: frozenset[str] = field(default_factory=frozenset)
    boxes: frozenset[tuple[float, float, float, float]] = field(default_factory=frozenset)

    @property
    def empty(self) -> bool:
        """Reaches no request at all."""
        return not (self.everything or self.everywhere or self.area_keys or self.boxes)

    def merge(self, other: ChangeScope) -> ChangeScope:
        if self.everything or other.everything:
            return EVERYTHING
        return ChangeScope(
            eas_ids=self.eas_ids | other.eas_ids,
            everywhere=self.everywhere or other.everywhere,
            area_keys=self.area_keys | other.area_keys,
            boxes=self.boxes | other.boxes,
        )

    def eas_lookup(self) -> list[str]:
        """The EAS keys to look up. Requests naming no EAS id are always among them: any EES
        (whatever it serves) answers those."""
        return [ANY_EAS, *sorted(f"eas:{e}" for e in self.eas_ids)]

    def location_lookup(self) -> list[str] | None:
        """The location keys to look up; None when location does not narrow the scope."""
        if self.everywhere:
            return None
        keys = {ANY_LOCATION, *(f"loc:{k}" for k in self.area_keys)}
        for box in self.boxes:
            cells = box_keys(box)
            if cells is None:
                return None
            keys.update(cells)
        return sorted(keys)

    def pair_lookup(self) -> list[str] | None:
        """The pair keys to look up; None when location does not narrow the scope, or when
        the pairs would be more than ``MAX_PAIRS`` (then EAS keys alone are looked up)."""
        where = self.location_lookup()
        if where is None:
            return None
        eas = self.eas_lookup()
        if len(eas) * len(where) > MAX_PAIRS:
            return None
        return sorted({pair_key(e, w) for e in eas for w in where})

    def to_json(self) -> dict[str, Any]:
        if self.everything:
            return {"everything": True}
        return {
            "easIds": sorted(self.eas_ids),
            "everywhere": self.everywhere,
            "areaKeys": sorted(self.area_keys),
            "boxes": sorted(list(b) for b in self.boxes),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChangeScope:
        if data.get("everything"):
            return EVERYTHING
        return cls(
            eas_ids=frozenset(data.get("easIds") or ()),
            everywhere=bool(data.get("everywhere")),
            area_keys=frozenset(data.get("areaKeys") or ()),
            boxes=frozenset(tuple(b) for b in data.get("boxes") or ()),
        )


EVERYTHING = ChangeScope(everything=True)
NOTHING = ChangeScope()


def of_area(area: dict[str, Any] | None) -> ChangeScope:
    """Every location an area serves (everywhere when it does not restrict)."""
    if not areas.restricts(area):
        return ChangeScope(everywhere=True)
    return ChangeScope(
        area_keys=frozenset(areas.network_keys(area)), boxes=frozenset(areas.bboxes(area))
    )


def of_ees(
    eas_ids: Iterable[str], svc_area: dict[str, Any] | None, edn_area: dict[str, Any] | None
) -> ChangeScope:
    """The requests one EES (in one state) can answer: its EAS ids where it serves."""
    where = of_area(svc_area if areas.restricts(svc_area) else edn_area)
    return ChangeScope(
        eas_ids=frozenset(eas_ids or ()),
        everywhere=where.everywhere,
        area_keys=where.area_keys,
        boxes=where.boxes,
    )


def of_query(
    eas_ids: Iterable[str], keys: Iterable[str], points: Iterable[Iterable[float]]
) -> ChangeScope:
    """The requests with these filters (a partner cache entry's canonical query)."""
    keys, points = frozenset(keys), [tuple(p) for p in points]
    boxes = frozenset(
        (lat - POINT_SLACK, lat + POINT_SLACK, lon - POINT_SLACK, lon + POINT_SLACK)
        for lat, lon in points
    )
    return ChangeScope(
        eas_ids=frozenset(eas_ids),
        everywhere=not keys and not boxes,
        area_keys=keys,
        boxes=boxes,
    )
