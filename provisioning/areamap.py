"""The map of service areas: EDN topology areas and EES service areas in a viewport, as
GeoJSON, with the pairs of EDNs whose areas overlap.

What is drawn: the polygons and circles of an area's ``geographicAreas``, and its TAIs and
cells where the operator gave their coordinates (``AreaCoordinates``: a centre and a radius,
drawn as a circle).  TAIs and cells without coordinates are counted per area, not drawn.  An
EES without a service area of its own serves its EDN's and is not drawn twice.

Cost follows what is shown: the areas are found through the matching index
(``AreaKey``: the bounding boxes of shapes, the TAI/cell keys of placed coordinates) for one
viewport, and at most ``limit`` areas are returned (``truncated`` says there were more; the
page asks the operator to zoom in).  Overlaps are worked out among the areas returned only.

Geometry is on the WGS 84 sphere as in ``areas``: circles by great-circle distance, polygons
on the longitude/latitude plane; areas across the antimeridian are not supported.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from cachalot.api import cachalot_disabled
from django.db.models import Q
from django.utils import timezone

from . import areas
from .models import EDN, EES, AreaCoordinates, AreaKey

DEFAULT_LIMIT = 200
MAX_LIMIT = 1000
#: Placed TAIs/cells looked up per viewport: beyond this many the map says "zoom in".
MAX_PLACED = 5000
#: Unplaced TAI/cell keys named per area (the count is always complete).
UNPLACED_NAMED = 20
#: A placed TAI or cell is found by its centre; widen the viewport by this much so that one
#: whose centre lies just outside but whose circle reaches in is found too.
PLACED_MARGIN_DEG = 0.5
#: Index rows read per area asked for (see ``_owner_ids``).
ROWS_PER_AREA = 4


@dataclass(frozen=True)
class Viewport:
    """A latitude/longitude box (degrees)."""

    south: float = -90.0
    west: float = -180.0
    north: float = 90.0
    east: float = 180.0

    @classmethod
    def parse(cls, text: str | None) -> Viewport:
        """``west,south,east,north`` (GeoJSON's bbox order); empty: the whole world.

        Raises ``ValueError`` with a reason for anything else.
        """
        if not text:
            return cls()
        parts = text.split(",")
        if len(parts) != 4:
            raise ValueError("bbox is west,south,east,north in degrees")
        try:
            west, south, east, north = (float(p) for p in parts)
        except ValueError:
            raise ValueError("bbox is west,south,east,north in degrees") from None
        if not all(math.isfinite(v) for v in (west, south, east, north)):
            raise ValueError("bbox values must be finite numbers")
        if south > north or west > east:
            raise ValueError("bbox must have south <= north and west <= east")
        # Leaflet's viewport may extend past the poles and the antimeridian: clamp.
        return cls(max(south, -90.0), max(west, -180.0), min(north, 90.0), min(east, 180.0))

    def widened(self, deg: float) -> Viewport:
        return Viewport(self.south - deg, self.west - deg, self.north + deg, self.east + deg)


@dataclass
class Owner:
    """An EDN's topology area or an EES's service area, as drawn."""

    layer: str  # "edn" or "ees"
    pk: int
    label: str
    edn_pk: int
    edn_label: str
    area: dict[str, Any] | None
    shapes: list[tuple[str, areas.Shape, dict[str, Any]]] = field(default_factory=list)
    unplaced: list[str] = field(default_factory=list)


def _q_geo(view: Viewport) -> Q:
    return Q(
        kind=AreaKey.KIND_GEO,
        min_lat__lte=view.north,
        max_lat__gte=view.south,
        min_lon__lte=view.east,
        max_lon__gte=view.west,
    )


def _in_view(view: Viewport) -> Q:
    return Q(lat__gte=view.south, lat__lte=view.north, lon__gte=view.west, lon__lte=view.east)


def _owner_ids(
    view: Viewport, limit: int, edns: bool, eess: bool
) -> tuple[list[tuple[int | None, int | None]], bool]:
    """``(edn_pk, ees_pk)`` of the areas that reach into the viewport (one of them None),
    at most ``limit``, and whether there were more."""
    placed = list(
        AreaCoordinates.objects.filter(_in_view(view.widened(PLACED_MARGIN_DEG)))
        .order_by("lat", "lon")
        .values_list("key", flat=True)[: MAX_PLACED + 1]
    )
    truncated = len(placed) > MAX_PLACED
    placed = placed[:MAX_PLACED]
    owners_q = Q()
    if not edns:
        owners_q &= Q(edn__isnull=True)
    if not eess:
        owners_q &= Q(ees__isnull=True)
    reach = _q_geo(view) | Q(kind=AreaKey.KIND_NETWORK, key__in=placed) if placed else _q_geo(view)
    # No DISTINCT or ORDER BY: the database stops after the rows asked for instead of
    # sorting every area in the viewport.  An area has a few index rows (one per shape or
    # TAI/cell), so this many rows hold ``limit`` areas but for the most fragmented ones.
    cap = (limit + 1) * ROWS_PER_AREA
    rows = list(
        AreaKey.objects.filter(reach, owners_q).order_by().values_list("edn_id", "ees_id")[:cap]
    )
    found = dict.fromkeys(rows)
    if len(found) > limit or len(rows) == cap:
        truncated = True
    return list(found)[:limit], truncated


def _load_owners(ids: Iterable[tuple[int | None, int | None]]) -> list[Owner]:
    edn_pks = [edn for edn, _ in ids if edn is not None]
    ees_pks = [ees for _, ees in ids if ees is not None]
    now = timezone.now()
    ees_rows = list(
        EES.objects.filter(pk__in=ees_pks)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))  # expired: not served
        .values_list("pk", "ees_id", "edn_id", "svc_area")
    )
    edn_labels: dict[int, str] = {}
    edn_areas: dict[int, Any] = {}
    wanted = set(edn_pks) | {row[2] for row in ees_rows}
    for edn in EDN.objects.filter(pk__in=wanted).only(
        "pk", "edn_id", "dnn", "snssai_sst", "snssai_sd", "edn_topo_srv_area"
    ):
        edn_labels[edn.pk] = str(edn)
        edn_areas[edn.pk] = edn.edn_topo_srv_area
    owners = [
        Owner("edn", pk, edn_labels[pk], pk, edn_labels[pk], edn_areas[pk])
        for pk in edn_pks
        if pk in edn_labels
    ]
    owners += [
        Owner("ees", pk, ees_id, edn_pk, edn_labels.get(edn_pk, ""), svc_area)
        for pk, ees_id, edn_pk, svc_area in ees_rows
    ]
    return owners


def _place(owners: list[Owner]) -> None:
    """Fill each owner's shapes: its geographic ones, and its placed TAIs and cells."""
    keys = {key for owner in owners for key in areas.network_keys(owner.area)}
    coordinates = {
        row.key: row
        for row in AreaCoordinates.objects.filter(key__in=sorted(keys)).only(
            "key", "kind", "name", "lat", "lon", "radius_m"
        )
    }
    for owner in owners:
        for shape in areas.shapes(owner.area):
            part = "polygon" if isinstance(shape, areas.Polygon) else "circle"
            owner.shapes.append((part, shape, {}))
        for key in sorted(areas.network_keys(owner.area)):
            row = coordinates.get(key)
            if row is None:
                owner.unplaced.append(key)
                continue
            circle = areas.Circle(row.lat, row.lon, float(row.radius_m))
            owner.shapes.append((key.split(":", 1)[0], circle, {"key": key, "name": row.name}))


def _geometry(shape: areas.Shape) -> dict[str, Any]:
    if isinstance(shape, areas.Polygon):
        ring = [[lon, lat] for lat, lon in shape.points]
        return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}
    return {"type": "Point", "coordinates": [shape.lon, shape.lat]}


def _feature(owner: Owner, part: str, shape: areas.Shape, extra: dict[str, Any]) -> dict:
    properties: dict[str, Any] = {
        "layer": owner.layer,
        "pk": owner.pk,
        "id": owner.label,
        "edn": owner.edn_label,
        "ednPk": owner.edn_pk,
        "part": part,
        **extra,
    }
    if isinstance(shape, areas.Circle):
        properties["radius"] = shape.radius_m
    return {"type": "Feature", "geometry": _geometry(shape), "properties": properties}


# --- Overlaps ------------------------------------------------------------------------------


def _local_xy(lat0: float, lon0: float, lat: float, lon: float) -> tuple[float, float]:
    """Metres east and north of (lat0, lon0), equirectangular: good within a few km."""
    k = math.pi / 180 * areas.EARTH_RADIUS_M
    return (lon - lon0) * k * math.cos(math.radians(lat0)), (lat - lat0) * k


def _segment_distance(p: tuple[float, float], a: tuple[float, float], b: tuple[float, float]):
    (px, py), (ax, ay), (bx, by) = p, a, b
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / length2))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


def _cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _segments_cross(p1, p2, q1, q2) -> bool:  # type: ignore[no-untyped-def]
    d1, d2 = _cross(q1, q2, p1), _cross(q1, q2, p2)
    d3, d4 = _cross(p1, p2, q1), _cross(p1, p2, q2)
    return (d1 > 0) != (d2 > 0) and (d3 > 0) != (d4 > 0)


def _edges(points: tuple[tuple[float, float], ...]):  # type: ignore[no-untyped-def]
    return zip(points, points[1:] + points[:1], strict=True)


def shapes_overlap(a: areas.Shape, b: areas.Shape) -> bool:
    """Whether two shapes share a point (touching counts, as ``contains`` counts edges)."""
    if isinstance(a, areas.Circle) and isinstance(b, areas.Circle):
        return areas.haversine_m(a.lat, a.lon, b.lat, b.lon) <= a.radius_m + b.radius_m
    if isinstance(a, areas.Polygon) and isinstance(b, areas.Polygon):
        if any(b.contains(lat, lon) for lat, lon in a.points):
            return True
        if any(a.contains(lat, lon) for lat, lon in b.points):
            return True
        return any(
            _segments_cross(p1, p2, q1, q2)
            for p1, p2 in _edges(a.points)
            for q1, q2 in _edges(b.points)
        )
    circle, polygon = (a, b) if isinstance(a, areas.Circle) else (b, a)
    assert isinstance(circle, areas.Circle) and isinstance(polygon, areas.Polygon)
    if polygon.contains(circle.lat, circle.lon):
        return True
    pts = [_local_xy(circle.lat, circle.lon, lat, lon) for lat, lon in polygon.points]
    return any(
        _segment_distance((0.0, 0.0), p, q) <= circle.radius_m
        for p, q in zip(pts, pts[1:] + pts[:1], strict=True)
    )


def _boxes_meet(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1] and a[2] <= b[3] and b[2] <= a[3]


def overlaps(owners: list[Owner]) -> list[dict[str, Any]]:
    """The pairs of EDNs whose drawn areas (their own and their EESs') overlap: a TAI or cell
    both list (placed or not), or shapes that meet.  Sorted by the EDNs' names."""
    labels = {owner.edn_pk: owner.edn_label for owner in owners}
    reasons: dict[tuple[int, int], str] = {}

    def pair(x: int, y: int) -> tuple[int, int]:
        return (x, y) if labels[x] <= labels[y] else (y, x)

    by_key: dict[str, set[int]] = defaultdict(set)
    for owner in owners:
        for key in areas.network_keys(owner.area):
            by_key[key].add(owner.edn_pk)
    for key in sorted(by_key):
        for x, y in combinations(sorted(by_key[key]), 2):
            reasons.setdefault(pair(x, y), f"both list {key}")
    # Sweep by west edge: only shapes whose longitudes meet are compared.
    items = sorted(
        ((shape.bbox(), owner.edn_pk, shape) for owner in owners for _, shape, _ in owner.shapes),
        key=lambda item: item[0][2],
    )
    active: list[tuple[tuple[float, ...], int, areas.Shape]] = []
    for box, edn_pk, shape in items:
        active = [item for item in active if item[0][3] >= box[2]]
        for other_box, other_edn, other in active:
            if other_edn == edn_pk or pair(edn_pk, other_edn) in reasons:
                continue
            if _boxes_meet(box, other_box) and shapes_overlap(shape, other):
                reasons[pair(edn_pk, other_edn)] = "shapes meet"
        active.append((box, edn_pk, shape))
    return sorted(
        (
            {"a": labels[x], "aPk": x, "b": labels[y], "bPk": y, "why": why}
            for (x, y), why in reasons.items()
        ),
        key=lambda o: (o["a"], o["b"]),
    )


# --- The map -------------------------------------------------------------------------------


def service_map(
    view: Viewport, limit: int = DEFAULT_LIMIT, edns: bool = True, eess: bool = True
) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of the areas in ``view`` (one feature per polygon,
    circle or placed TAI/cell; circles as Points with a ``radius`` in metres), with
    ``overlaps``, ``truncated``, ``unplaced`` (TAI/cell keys without coordinates) and
    ``bbox`` (of what is drawn; absent when nothing is).  ``edns``/``eess``: which layers
    the caller may see."""
    limit = max(1, min(limit, MAX_LIMIT))
    # Each viewport is asked for about once: caching its queries would only fill the cache.
    with cachalot_disabled():
        ids, truncated = _owner_ids(view, limit, edns, eess) if edns or eess else ([], False)
        owners = _load_owners(ids)
        _place(owners)
    features = [
        _feature(owner, part, shape, extra)
        for owner in owners
        for part, shape, extra in owner.shapes
    ]
    result: dict[str, Any] = {
        "type": "FeatureCollection",
        "features": features,
        "overlaps": overlaps(owners),
        "truncated": truncated,
        "limit": limit,
        "areas": {
            "edns": sum(o.layer == "edn" for o in owners),
            "eess": sum(o.layer == "ees" for o in owners),
        },
        "unplaced": [
            {
                "layer": o.layer,
                "id": o.label,
                "count": len(o.unplaced),
                "keys": o.unplaced[:UNPLACED_NAMED],
            }
            for o in owners
            if o.unplaced
        ],
    }
    boxes = [shape.bbox() for owner in owners for _, shape, _ in owner.shapes]
    if boxes:
        result["bbox"] = [
            min(b[2] for b in boxes),
            min(b[0] for b in boxes),
            max(b[3] for b in boxes),
            max(b[1] for b in boxes),
        ]
    return result
