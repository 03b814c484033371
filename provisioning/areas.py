"""Service areas: the canonical keys of TAIs and cells, and point-in-area geometry.

An area is a 3GPP ``LocationArea5G`` (``nwAreaInfo`` with TAIs and cells, ``geographicAreas``,
``civicAddresses``).  For matching, only TAIs, NR/E-UTRA cells, polygons and circles count
(``POINT_UNCERTAINTY_CIRCLE``); an area with none of them restricts nothing.

TAIs and cells are reduced to strings such as ``tai:001-01:00a1`` or ``ncgi:001-01:00000a1b2``
(hex lower-cased, NID ignored) so that they can be indexed and compared.  Geometry works on
the WGS 84 longitude/latitude plane; a point on a polygon's edge or a circle's rim is inside.
Areas that cross the antimeridian are not supported.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

EARTH_RADIUS_M = 6_371_008.8
# Slack for floating-point error when a point sits exactly on an edge (about 1 cm).
EPSILON_DEG = 1e-7
# The same slack for a point exactly on a circle's rim.
EPSILON_M = 0.01


def plmn_key(plmn: dict[str, Any] | None) -> str | None:
    if not plmn or "mcc" not in plmn or "mnc" not in plmn:
        return None
    return f"{plmn['mcc']}-{plmn['mnc']}"


def tai_key(tai: dict[str, Any]) -> str | None:
    plmn = plmn_key(tai.get("plmnId"))
    if plmn is None or "tac" not in tai:
        return None
    return f"tai:{plmn}:{str(tai['tac']).lower()}"


def ncgi_key(ncgi: dict[str, Any]) -> str | None:
    plmn = plmn_key(ncgi.get("plmnId"))
    if plmn is None or "nrCellId" not in ncgi:
        return None
    return f"ncgi:{plmn}:{str(ncgi['nrCellId']).lower()}"


def ecgi_key(ecgi: dict[str, Any]) -> str | None:
    plmn = plmn_key(ecgi.get("plmnId"))
    if plmn is None or "eutraCellId" not in ecgi:
        return None
    return f"ecgi:{plmn}:{str(ecgi['eutraCellId']).lower()}"


def key_plmn(key: str) -> str:
    """The PLMN ("mcc-mnc") of a TAI or cell key."""
    return key.split(":", 2)[1]


@dataclass(frozen=True)
class Circle:
    lat: float
    lon: float
    radius_m: float

    def contains(self, lat: float, lon: float) -> bool:
        return haversine_m(self.lat, self.lon, lat, lon) <= self.radius_m + EPSILON_M

    def bbox(self) -> tuple[float, float, float, float]:
        """A lat/lon box holding every point ``contains`` accepts.

        On the sphere a circle is widest in longitude north or south of its centre's
        latitude (towards the pole), by asin(sin d / cos lat), which is more than
        d / cos lat: a narrower box would drop points on or near the rim.
        """
        d = (self.radius_m + EPSILON_M) / EARTH_RADIUS_M
        dlat = math.degrees(d)
        min_lat, max_lat = self.lat - dlat, self.lat + dlat
        sin_d, coslat = math.sin(d), math.cos(math.radians(self.lat))
        if d >= math.pi / 2 or sin_d >= coslat:  # the circle holds a pole: every longitude
            return (max(min_lat, -90.0), min(max_lat, 90.0), -180.0, 180.0)
        dlon = math.degrees(math.asin(sin_d / coslat)) + EPSILON_DEG
        return (min_lat - EPSILON_DEG, max_lat + EPSILON_DEG, self.lon - dlon, self.lon + dlon)


@dataclass(frozen=True)
class Polygon:
    points: tuple[tuple[float, float], ...]  # (lat, lon)

    def contains(self, lat: float, lon: float) -> bool:
        return point_in_polygon(lat, lon, self.points)

    def bbox(self) -> tuple[float, float, float, float]:
        # Widened by the slack ``contains`` allows for points on an edge.
        lats = [p[0] for p in self.points]
        lons = [p[1] for p in self.points]
        return (
            min(lats) - EPSILON_DEG,
            max(lats) + EPSILON_DEG,
            min(lons) - EPSILON_DEG,
            max(lons) + EPSILON_DEG,
        )


Shape = Circle | Polygon


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _on_segment(lat: float, lon: float, a: tuple[float, float], b: tuple[float, float]) -> bool:
    (y1, x1), (y2, x2) = a, b
    cross = (lon - x1) * (y2 - y1) - (lat - y1) * (x2 - x1)
    length = math.hypot(x2 - x1, y2 - y1)
    if length == 0:
        return math.hypot(lon - x1, lat - y1) <= EPSILON_DEG
    if abs(cross) / length > EPSILON_DEG:
        return False
    return (
        min(x1, x2) - EPSILON_DEG <= lon <= max(x1, x2) + EPSILON_DEG
        and min(y1, y2) - EPSILON_DEG <= lat <= max(y1, y2) + EPSILON_DEG
    )


def point_in_polygon(lat: float, lon: float, points: tuple[tuple[float, float], ...]) -> bool:
    """Ray casting on the lon/lat plane; a point on an edge or a vertex counts as inside."""
    n = len(points)
    inside = False
    for i in range(n):
        a, b = points[i], points[(i + 1) % n]
        if _on_segment(lat, lon, a, b):
            return True
        (y1, x1), (y2, x2) = a, b
        if (y1 > lat) != (y2 > lat):
            x_cross = x1 + (lat - y1) * (x2 - x1) / (y2 - y1)
            if lon < x_cross:
                inside = not inside
    return inside


def _coords(point: dict[str, Any]) -> tuple[float, float] | None:
    try:
        return float(point["lat"]), float(point["lon"])
    except (KeyError, TypeError, ValueError):
        return None


def shapes(area: dict[str, Any] | None) -> Iterator[Shape]:
    """The polygons and circles of an area's ``geographicAreas``."""
    for geo in (area or {}).get("geographicAreas") or []:
        shape = geo.get("shape") if isinstance(geo, dict) else None
        if shape == "POLYGON":
            pts = [_coords(p) for p in geo.get("pointList") or []]
            if len(pts) >= 3 and all(pts):
                yield Polygon(tuple(pts))  # type: ignore[arg-type]
        elif shape == "POINT_UNCERTAINTY_CIRCLE":
            centre = _coords(geo.get("point") or {})
            if centre is not None and isinstance(geo.get("uncertainty"), int | float):
                yield Circle(centre[0], centre[1], float(geo["uncertainty"]))


def network_keys(area: dict[str, Any] | None) -> set[str]:
    """TAI and cell keys of an area's ``nwAreaInfo``."""
    info = (area or {}).get("nwAreaInfo") or {}
    keys: set[str | None] = set()
    keys.update(tai_key(t) for t in info.get("tais") or [] if isinstance(t, dict))
    keys.update(ncgi_key(c) for c in info.get("ncgis") or [] if isinstance(c, dict))
    keys.update(ecgi_key(c) for c in info.get("ecgis") or [] if isinstance(c, dict))
    keys.discard(None)
    return keys  # type: ignore[return-value]


def restricts(area: dict[str, Any] | None) -> bool:
    """True when the area holds at least one TAI, cell, polygon or circle."""
    return bool(network_keys(area)) or any(True for _ in shapes(area))


def plmns_of(area: dict[str, Any] | None) -> set[str]:
    return {key_plmn(k) for k in network_keys(area)}


@dataclass(frozen=True)
class UELocation:
    """Where the UE is, reduced to what matching uses."""

    keys: frozenset[str] = frozenset()
    points: tuple[tuple[float, float], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.keys or self.points)

    @classmethod
    def from_location_info(cls, loc: dict[str, Any] | None) -> UELocation:
        """From a TS 29.122 LocationInfo (``locInf`` of ECSServProvReq)."""
        if not isinstance(loc, dict):
            return cls()
        keys: set[str | None] = set()
        user = loc.get("userLocation") or {}
        nr = user.get("nrLocation") or {}
        eutra = user.get("eutraLocation") or {}
        # A TAI or cell the sender flags with ignoreTai/ignoreNcgi/ignoreEcgi is not used.
        if isinstance(nr.get("tai"), dict) and not nr.get("ignoreTai"):
            keys.add(tai_key(nr["tai"]))
        if isinstance(nr.get("ncgi"), dict) and not nr.get("ignoreNcgi"):
            keys.add(ncgi_key(nr["ncgi"]))
        if isinstance(eutra.get("tai"), dict) and not eutra.get("ignoreTai"):
            keys.add(tai_key(eutra["tai"]))
        if isinstance(eutra.get("ecgi"), dict) and not eutra.get("ignoreEcgi"):
            keys.add(ecgi_key(eutra["ecgi"]))
        keys.discard(None)
        points: list[tuple[float, float]] = []
        geo = loc.get("geographicArea") or {}
        if geo.get("shape") in ("POINT", "POINT_UNCERTAINTY_CIRCLE"):
            centre = _coords(geo.get("point") or {})
            if centre is not None:
                points.append(centre)
        return cls(frozenset(keys), tuple(points))  # type: ignore[arg-type]

    def served_by(self, area: dict[str, Any] | None) -> bool:
        """Whether an area (that restricts) contains this location."""
        if self.keys & network_keys(area):
            return True
        return any(shape.contains(lat, lon) for shape in shapes(area) for lat, lon in self.points)


def bboxes(area: dict[str, Any] | None) -> Iterable[tuple[float, float, float, float]]:
    return (shape.bbox() for shape in shapes(area))
