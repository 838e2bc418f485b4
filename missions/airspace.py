"""Airspace: no-fly zones, service areas and the altitude cap, read from GeoJSON.

An `Airspace` is an immutable set of `Zone` values (airports, prisons, military and government
sites, temporary event restrictions), the `ServiceArea` of each base, and the maximum altitude
above ground (120 m by default, the Indonesian cap for small drones).

GeoJSON format
--------------
A ``FeatureCollection``; each feature is one zone or one service area.

* geometry: ``Polygon``, ``MultiPolygon``, or ``Point`` with a ``radius_m`` property (a circle).
* ``properties.name`` (str, unique) and ``properties.kind``: one of ``airport``, ``prison``,
  ``military``, ``government``, ``event`` (temporary), or ``service_area`` (then
  ``properties.base`` names the base whose drones may serve the area).
* optional ``floor_m`` / ``ceiling_m`` (metres above ground, the same reference as a mission's
  ``alt_m``): the zone forbids only altitudes ``floor_m <= alt_m <= ceiling_m``.
* optional ``active_from`` / ``active_until``: ISO-8601 datetimes **with** a UTC offset, e.g.
  ``"2026-08-17T06:00:00+07:00"`` (Asia/Jakarta is UTC+7). The zone is active for
  ``active_from <= t < active_until``; a missing bound is open.
* optional top-level foreign member ``max_alt_m`` (the altitude cap).

Any other property is kept and written back by `Airspace.to_geojson`.

Geometry conventions
--------------------
GeoJSON positions are ``[lon, lat]``. Circles are stored as a 64-gon that *circumscribes* the
circle (its edges touch the circle from outside, so the polygon never under-states the zone).
Queries and routing work in a `~missions.geodesy.LocalFrame` centred on the airspace, where
polygon edges are straight lines (for zones a few kilometres across this is within centimetres
of the geodesic).

Examples
--------
>>> fc = {"type": "FeatureCollection", "features": [
...     {"type": "Feature", "geometry": {"type": "Point", "coordinates": [110.8405, -6.8048]},
...      "properties": {"name": "Alun-alun", "kind": "event", "radius_m": 300}}]}
>>> a = Airspace.from_geojson(fc)
>>> a.check(-6.8048, 110.8405).flyable
False
>>> a.check(-6.8048, 110.8405).zone
'Alun-alun'
>>> a.check(-6.8200, 110.8405).flyable
True
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import shapely
import shapely.ops
from shapely.geometry import Point, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from missions.errors import AirspaceError, AltitudeError
from missions.geodesy import LocalFrame, check_latlon, destination, distance_m

__all__ = [
    "ZONE_KINDS",
    "DEFAULT_MAX_ALT_M",
    "CIRCLE_SEGMENTS",
    "MITRE_LIMIT",
    "grow_hull",
    "grow_vertices",
    "Zone",
    "ServiceArea",
    "Verdict",
    "FlyablePoint",
    "Airspace",
]

ZoneKind = Literal["airport", "prison", "military", "government", "event"]

#: Kinds of no-fly zone. ``event`` zones are temporary (they usually carry an active window).
ZONE_KINDS: tuple[str, ...] = ("airport", "prison", "military", "government", "event")
SERVICE_AREA_KIND = "service_area"
#: Default altitude cap above ground, metres (Indonesian rule for small drones).
DEFAULT_MAX_ALT_M = 120.0
#: Vertices of the polygon that stands for a circular zone.
CIRCLE_SEGMENTS = 64


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _require_aware(at: datetime | None, what: str = "at") -> datetime:
    if at is None:
        return _now()
    if not isinstance(at, datetime):
        raise TypeError(f"{what} must be a datetime, got {type(at).__name__}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (e.g. 2026-08-17T09:00:00+07:00), got {at!r}")
    return at


# --------------------------------------------------------------------------------------------
# Growing zones by a margin. Shared by `Airspace.nearest_flyable` and `missions.routing` so the
# two agree exactly on what "inside the margin" means.
# --------------------------------------------------------------------------------------------

#: Mitre joins are clipped at this multiple of the margin (corners sharper than 60 degrees).
MITRE_LIMIT = 2.0
#: Route nodes sit this far outside the grown zones (metres), so legs touching them never touch.
NODE_OFFSET_M = 1e-3


def grow_hull(geom_xy: BaseGeometry, margin_m: float) -> BaseGeometry:
    """Grow a local-frame zone by ``margin_m``; the result *contains* the exact (round) offset.

    Offset edges are joined with mitres clipped at ``MITRE_LIMIT * margin_m`` from the corner (one
    or two vertices per corner, where round joins need many). A clipped mitre contains the
    circular arc, so whatever stays outside the result is at least ``margin_m`` from the zone;
    it over-states the margin only at corners (by 0.1 % at a 64-gon's corners, by up to
    ``MITRE_LIMIT`` times at corners sharper than 60 degrees).

    Examples
    --------
    >>> from shapely.geometry import box
    >>> sq = box(0, 0, 100, 100)
    >>> grow_hull(sq, 10.0).contains(sq.buffer(10.0, quad_segs=64))
    True
    >>> len(grow_hull(sq, 10.0).exterior.coords)   # a square stays a square
    5
    """
    if margin_m <= 0.0:
        return geom_xy
    return geom_xy.buffer(margin_m, join_style="mitre", mitre_limit=MITRE_LIMIT)


def grow_vertices(geom_xy: BaseGeometry, margin_m: float) -> BaseGeometry:
    """`grow_hull` grown by a further millimetre: strictly larger, so its boundary (and every
    vertex) lies outside the hull. Points on it are legal end points for routing."""
    return grow_hull(geom_xy, margin_m).buffer(NODE_OFFSET_M, join_style="mitre", mitre_limit=MITRE_LIMIT)


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Zone:
    """One no-fly zone.

    Attributes
    ----------
    name : str
        Unique name, used in every message about the zone.
    kind : str
        One of `ZONE_KINDS`.
    geometry : shapely Polygon or MultiPolygon
        Footprint in lon/lat degrees (x = lon, y = lat). A circle is its circumscribing 64-gon.
    floor_m, ceiling_m : float
        The zone forbids altitudes ``floor_m <= alt_m <= ceiling_m`` (metres above ground);
        defaults 0 and infinity.
    active_from, active_until : datetime or None
        Active window (timezone-aware), ``active_from <= t < active_until``; None = open bound.
    center_lat_deg, center_lon_deg, radius_m : float or None
        Set for a zone given as a circle (Point + ``radius_m``).
    index : int
        Index of the feature in the GeoJSON it came from (-1 if built in code).
    properties : Mapping
        Any further GeoJSON properties, kept for `Airspace.to_geojson`.
    """

    name: str
    kind: str
    geometry: BaseGeometry = field(compare=False)
    floor_m: float = 0.0
    ceiling_m: float = math.inf
    active_from: datetime | None = None
    active_until: datetime | None = None
    center_lat_deg: float | None = None
    center_lon_deg: float | None = None
    radius_m: float | None = None
    index: int = -1
    properties: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "properties", MappingProxyType(dict(self.properties)))

    @property
    def temporary(self) -> bool:
        """True for an event zone or any zone with an active window."""
        return self.kind == "event" or self.active_from is not None or self.active_until is not None

    def is_active(self, at: datetime, until: datetime | None = None) -> bool:
        """Whether the zone is active at ``at`` (or at any moment of ``[at, until]``)."""
        end = at if until is None else until
        if self.active_from is not None and end < self.active_from:
            return False
        if self.active_until is not None and at >= self.active_until:
            return False
        return True

    def applies_at(self, alt_m: float | None) -> bool:
        """Whether the zone forbids altitude ``alt_m`` (None: any altitude, always True)."""
        if alt_m is None:
            return True
        return self.floor_m <= alt_m <= self.ceiling_m

    def applies_between(self, lo_m: float, hi_m: float) -> bool:
        """Whether the zone forbids any altitude in ``[lo_m, hi_m]``."""
        return self.floor_m <= hi_m and lo_m <= self.ceiling_m

    def describe(self) -> str:
        """Short English description, e.g. ``"airport zone 'Ngloram'"``."""
        return f"{self.kind} zone {self.name!r}"


@dataclass(frozen=True)
class ServiceArea:
    """The area a base's drones may serve.

    Attributes
    ----------
    base : str
        Identifier of the base (as the service names its bases).
    name : str
    geometry : shapely Polygon or MultiPolygon
        lon/lat degrees.
    index : int
        Feature index in the source GeoJSON.
    """

    base: str
    name: str
    geometry: BaseGeometry = field(compare=False)
    index: int = -1
    properties: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "properties", MappingProxyType(dict(self.properties)))


@dataclass(frozen=True)
class Verdict:
    """Answer of `Airspace.check`.

    Attributes
    ----------
    flyable : bool
    code : str
        ``"ok"``, ``"zone"`` (inside a no-fly zone) or ``"max_altitude"``.
    reason : str
        English explanation (the service translates it for operators).
    zone : str or None
        Name of the (first) zone that forbids the point.
    kind : str or None
        Its kind.
    zones : tuple of str
        Every zone that forbids the point.
    """

    flyable: bool
    code: str
    reason: str
    zone: str | None = None
    kind: str | None = None
    zones: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.flyable


@dataclass(frozen=True)
class FlyablePoint:
    """Answer of `Airspace.nearest_flyable`.

    Attributes
    ----------
    lat_deg, lon_deg : float
        The point to fly to (the incident itself when it is flyable).
    distance_m : float
        Geodesic distance from the incident to the point.
    moved : bool
        False when the incident itself is flyable.
    zone : str or None
        The zone the incident lies in (or whose margin it lies in).
    """

    lat_deg: float
    lon_deg: float
    distance_m: float
    moved: bool
    zone: str | None = None


# --------------------------------------------------------------------------------------------
# GeoJSON parsing
# --------------------------------------------------------------------------------------------


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, why: str) -> None:
        self.items.append(f"{where}: {why}")


def _where(index: int, props: Mapping[str, Any] | None) -> str:
    name = props.get("name") if isinstance(props, Mapping) else None
    return f"feature {index} ({name!r})" if isinstance(name, str) and name else f"feature {index}"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def _check_position(pos: Any, where: str, problems: _Problems) -> tuple[float, float] | None:
    if not isinstance(pos, (list, tuple)) or len(pos) < 2:
        problems.add(where, f"position {pos!r} is not [lon, lat]")
        return None
    lon, lat = _number(pos[0]), _number(pos[1])
    if lon is None or lat is None:
        problems.add(where, f"position {pos!r} has a non-numeric or non-finite coordinate")
        return None
    if not -90.0 <= lat <= 90.0:
        hint = " (GeoJSON order is [lon, lat])" if -90.0 <= lon <= 90.0 else ""
        problems.add(where, f"latitude {lat} out of range [-90, 90]{hint}")
        return None
    if not -180.0 <= lon <= 180.0:
        problems.add(where, f"longitude {lon} out of range [-180, 180]")
        return None
    return lon, lat


def _check_rings(rings: Any, where: str, problems: _Problems) -> bool:
    if not isinstance(rings, list) or not rings:
        problems.add(where, "polygon needs at least one linear ring")
        return False
    ok = True
    for r, ring in enumerate(rings):
        if not isinstance(ring, list) or len(ring) < 4:
            problems.add(where, f"ring {r} needs at least 4 positions (closed), got {ring!r:.60}")
            ok = False
            continue
        pts = [_check_position(p, where, problems) for p in ring]
        if any(p is None for p in pts):
            ok = False
            continue
        if pts[0] != pts[-1]:
            problems.add(where, f"ring {r} is not closed (first position {ring[0]} != last {ring[-1]})")
            ok = False
    return ok


def _parse_time(props: Mapping[str, Any], key: str, where: str, problems: _Problems) -> datetime | None:
    raw = props.get(key)
    if raw is None:
        return None
    if not isinstance(raw, str):
        problems.add(where, f"{key} must be an ISO-8601 string, got {raw!r}")
        return None
    try:
        t = datetime.fromisoformat(raw)
    except ValueError:
        problems.add(where, f"{key} {raw!r} is not an ISO-8601 datetime")
        return None
    if t.tzinfo is None or t.utcoffset() is None:
        problems.add(where, f"{key} {raw!r} has no UTC offset (write e.g. {raw}+07:00 for WIB)")
        return None
    return t


def _circle_lonlat(lat_deg: float, lon_deg: float, radius_m: float) -> Polygon:
    """Geodesic 64-gon circumscribing the circle (vertices at r / cos(pi/n))."""
    n = CIRCLE_SEGMENTS
    az = np.arange(n) * (360.0 / n)
    lat, lon = destination(np.full(n, lat_deg), np.full(n, lon_deg), az, radius_m / math.cos(math.pi / n))
    ring = np.column_stack([lon, lat])
    return Polygon(ring[::-1])  # counter-clockwise in lon/lat


_KNOWN_PROPS = {"name", "kind", "radius_m", "floor_m", "ceiling_m", "active_from", "active_until", "base"}


def _parse_feature(i: int, feat: Any, problems: _Problems) -> Zone | ServiceArea | None:
    if not isinstance(feat, Mapping) or feat.get("type") != "Feature":
        problems.add(f"feature {i}", "is not a GeoJSON Feature object")
        return None
    props = feat.get("properties")
    if props is None:
        props = {}
    if not isinstance(props, Mapping):
        problems.add(f"feature {i}", "properties must be an object")
        return None
    where = _where(i, props)
    n_before = len(problems.items)

    name = props.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.add(where, "properties.name is missing or empty")
    kind = props.get("kind")
    if kind not in ZONE_KINDS and kind != SERVICE_AREA_KIND:
        problems.add(where, f"unknown kind {kind!r} (expected one of {', '.join(ZONE_KINDS + (SERVICE_AREA_KIND,))})")

    geom = feat.get("geometry")
    gtype = geom.get("type") if isinstance(geom, Mapping) else None
    coords = geom.get("coordinates") if isinstance(geom, Mapping) else None
    geometry: BaseGeometry | None = None
    center: tuple[float, float] | None = None
    radius_m: float | None = None
    if gtype == "Point":
        pos = _check_position(coords, where, problems)
        if "radius_m" not in props:
            problems.add(where, "a Point zone needs a radius_m property (metres)")
        else:
            radius_m = _number(props.get("radius_m"))
            if radius_m is None or radius_m <= 0.0:
                problems.add(where, f"radius_m must be a positive number, got {props.get('radius_m')!r}")
                radius_m = None
        if pos is not None and radius_m is not None:
            center = (pos[1], pos[0])
            geometry = _circle_lonlat(pos[1], pos[0], radius_m)
    elif gtype == "Polygon":
        if _check_rings(coords, where, problems):
            geometry = shape(geom)
    elif gtype == "MultiPolygon":
        if not isinstance(coords, list) or not coords:
            problems.add(where, "MultiPolygon needs at least one polygon")
        elif all(_check_rings(p, where, problems) for p in coords):
            geometry = shape(geom)
    else:
        problems.add(where, f"geometry type {gtype!r} not supported (Polygon, MultiPolygon or Point with radius_m)")

    if geometry is not None and not geometry.is_valid:
        problems.add(where, f"invalid polygon: {explain_validity(geometry)}")
        geometry = None
    if geometry is not None and geometry.area <= 0.0:
        problems.add(where, "polygon has zero area")
        geometry = None

    if kind == SERVICE_AREA_KIND:
        base = props.get("base")
        if not isinstance(base, str) or not base:
            problems.add(where, "a service_area needs a base property (the base identifier)")
        if len(problems.items) > n_before or geometry is None:
            return None
        extra = {k: v for k, v in props.items() if k not in _KNOWN_PROPS}
        return ServiceArea(base=str(base), name=str(name), geometry=geometry, index=i, properties=extra)

    floor_m, ceiling_m = 0.0, math.inf
    if props.get("floor_m") is not None:
        f = _number(props["floor_m"])
        if f is None or f < 0.0:
            problems.add(where, f"floor_m must be a number >= 0, got {props['floor_m']!r}")
        else:
            floor_m = f
    if props.get("ceiling_m") is not None:
        c = _number(props["ceiling_m"])
        if c is None or c <= 0.0:
            problems.add(where, f"ceiling_m must be a positive number, got {props['ceiling_m']!r}")
        else:
            ceiling_m = c
    if floor_m >= ceiling_m:
        problems.add(where, f"floor_m {floor_m} must be below ceiling_m {ceiling_m}")
    t0 = _parse_time(props, "active_from", where, problems)
    t1 = _parse_time(props, "active_until", where, problems)
    if t0 is not None and t1 is not None and t0 >= t1:
        problems.add(where, f"active_from {t0.isoformat()} is not before active_until {t1.isoformat()}")

    if len(problems.items) > n_before or geometry is None:
        return None
    extra = {k: v for k, v in props.items() if k not in _KNOWN_PROPS}
    return Zone(
        name=str(name),
        kind=str(kind),
        geometry=geometry,
        floor_m=floor_m,
        ceiling_m=ceiling_m,
        active_from=t0,
        active_until=t1,
        center_lat_deg=center[0] if center else None,
        center_lon_deg=center[1] if center else None,
        radius_m=radius_m,
        index=i,
        properties=extra,
    )


def _load(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return obj
    if isinstance(obj, bytes):
        obj = obj.decode("utf-8")
    if isinstance(obj, str) and obj.lstrip().startswith(("{", "[")):
        try:
            return json.loads(obj)
        except json.JSONDecodeError as exc:
            raise AirspaceError(f"airspace: invalid JSON: {exc}") from exc
    if isinstance(obj, (str, os.PathLike)):
        path = Path(obj)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise AirspaceError(f"airspace: cannot read {path}: {exc.strerror or exc}") from exc
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise AirspaceError(f"airspace: {path} is not valid JSON: {exc}") from exc
    raise AirspaceError(f"airspace: expected a GeoJSON dict, JSON text or a path, got {type(obj).__name__}")


def _time_str(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()


# --------------------------------------------------------------------------------------------
# Airspace
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _XYZones:
    """Zones projected into one frame, with a spatial index (cached per frame)."""

    frame: LocalFrame
    geoms: tuple[BaseGeometry, ...]  # per zone, local metres
    tree: shapely.STRtree
    service: tuple[BaseGeometry, ...]


class _Grown:
    """Zones grown by one margin in one frame (cached per frame and margin)."""

    def __init__(self, geoms: tuple[BaseGeometry, ...], margin_m: float) -> None:
        self.margin_m = margin_m
        arr = np.asarray(geoms, dtype=object)
        if margin_m > 0.0 and len(arr):
            arr = shapely.buffer(arr, margin_m, join_style="mitre", mitre_limit=MITRE_LIMIT)
        #: per zone: contains the exact margin offset (`grow_hull`)
        self.hulls: tuple[BaseGeometry, ...] = tuple(arr.tolist())
        #: STRtree over the hulls; indices are zone indices
        self.tree = shapely.STRtree(list(self.hulls))
        self._verts: tuple[BaseGeometry, ...] | None = None
        self._verts_tree: shapely.STRtree | None = None

    @property
    def verts(self) -> tuple[BaseGeometry, ...]:
        """Per zone: `grow_vertices` (the hull grown by 1 mm), computed on first use."""
        if self._verts is None:
            arr = np.asarray(self.hulls, dtype=object)
            if len(arr):
                arr = shapely.buffer(arr, NODE_OFFSET_M, join_style="mitre", mitre_limit=MITRE_LIMIT)
            self._verts = tuple(arr.tolist())
        return self._verts

    @property
    def verts_tree(self) -> shapely.STRtree:
        if self._verts_tree is None:
            self._verts_tree = shapely.STRtree(list(self.verts))
        return self._verts_tree


@dataclass(frozen=True, eq=False)
class Airspace:
    """No-fly zones, service areas and the altitude cap of an operating area.

    Build it with `Airspace.from_geojson`, or directly from `Zone` / `ServiceArea` values.

    Parameters
    ----------
    zones : iterable of Zone
    service_areas : iterable of ServiceArea
    max_alt_m : float
        Altitude cap above ground in metres (default 120).

    Notes
    -----
    Every query takes ``at`` (timezone-aware datetime; default: now) because event zones come and
    go, and optionally ``alt_m`` because zones may have a floor or a ceiling. ``alt_m=None``
    means "any altitude": every zone counts, whatever its floor and ceiling.

    Examples
    --------
    >>> from datetime import datetime, timezone, timedelta
    >>> wib = timezone(timedelta(hours=7))
    >>> fc = {"type": "FeatureCollection", "features": [
    ...   {"type": "Feature", "geometry": {"type": "Point", "coordinates": [110.84, -6.80]},
    ...    "properties": {"name": "Car-free day", "kind": "event", "radius_m": 200,
    ...                   "active_from": "2026-08-17T06:00:00+07:00",
    ...                   "active_until": "2026-08-17T10:00:00+07:00"}}]}
    >>> a = Airspace.from_geojson(fc)
    >>> a.check(-6.80, 110.84, at=datetime(2026, 8, 17, 7, 0, tzinfo=wib)).reason
    "inside event zone 'Car-free day'"
    >>> a.check(-6.80, 110.84, at=datetime(2026, 8, 17, 11, 0, tzinfo=wib)).flyable
    True
    >>> a.check(-6.90, 110.84, alt_m=150.0).code
    'max_altitude'
    """

    zones: tuple[Zone, ...] = ()
    service_areas: tuple[ServiceArea, ...] = ()
    max_alt_m: float = DEFAULT_MAX_ALT_M
    _cache: dict[Any, Any] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "zones", tuple(self.zones))
        object.__setattr__(self, "service_areas", tuple(self.service_areas))
        m = _number(self.max_alt_m)
        if m is None or m <= 0.0:
            raise AltitudeError(f"max_alt_m must be a positive number of metres, got {self.max_alt_m!r}")
        object.__setattr__(self, "max_alt_m", m)
        counts = Counter(z.name for z in self.zones)
        dup = sorted(n for n, k in counts.items() if k > 1)
        if dup:
            raise AirspaceError(f"airspace: duplicate zone names {dup}")
        for z in self.zones:
            if z.kind not in ZONE_KINDS:
                raise AirspaceError(f"zone {z.name!r}: unknown kind {z.kind!r}")

    # ---- construction / output ---------------------------------------------------------------

    @classmethod
    def from_geojson(cls, obj_or_path: Any, max_alt_m: float | None = None) -> Airspace:
        """Read an airspace from GeoJSON.

        Parameters
        ----------
        obj_or_path : dict, str or path-like
            A GeoJSON ``FeatureCollection`` as a dict, as JSON text, or the path of a file.
        max_alt_m : float, optional
            Altitude cap in metres above ground. Default (None): the collection's top-level
            ``max_alt_m`` member if present, else `DEFAULT_MAX_ALT_M` (120 m, the Indonesian
            cap). A value given here overrides the file's.

        Returns
        -------
        Airspace

        Raises
        ------
        AirspaceError
            With every problem found, each naming the feature by index and name: invalid GeoJSON,
            unknown kind, missing name or radius, coordinates out of range, unclosed rings,
            self-intersecting polygons, bad floor/ceiling or active window, duplicate names.

        Examples
        --------
        >>> bad = {"type": "FeatureCollection", "features": [{"type": "Feature",
        ...   "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},
        ...   "properties": {"name": "Bow tie", "kind": "prison"}}]}
        >>> Airspace.from_geojson(bad)
        Traceback (most recent call last):
        ...
        missions.errors.AirspaceError: airspace has 1 problem(s):
          feature 0 ('Bow tie'): invalid polygon: Self-intersection[0.5 0.5]
        """
        data = _load(obj_or_path)
        if not isinstance(data, Mapping) or data.get("type") != "FeatureCollection":
            got = data.get("type") if isinstance(data, Mapping) else type(data).__name__
            raise AirspaceError(f"airspace: expected a GeoJSON FeatureCollection, got {got!r}")
        feats = data.get("features")
        if not isinstance(feats, list):
            raise AirspaceError("airspace: FeatureCollection.features must be a list")
        problems = _Problems()
        zones: list[Zone] = []
        areas: list[ServiceArea] = []
        seen: dict[str, int] = {}
        for i, feat in enumerate(feats):
            item = _parse_feature(i, feat, problems)
            if isinstance(item, Zone):
                if item.name in seen:
                    problems.add(_where(i, {"name": item.name}), f"duplicate zone name (also feature {seen[item.name]})")
                    continue
                seen[item.name] = i
                zones.append(item)
            elif isinstance(item, ServiceArea):
                areas.append(item)
        if max_alt_m is None:
            raw = data.get("max_alt_m", DEFAULT_MAX_ALT_M)
            max_alt_m = _number(raw)
            if max_alt_m is None or max_alt_m <= 0.0:
                problems.add("FeatureCollection", f"max_alt_m must be a positive number, got {raw!r}")
                max_alt_m = DEFAULT_MAX_ALT_M
        if problems.items:
            lines = "\n  ".join(problems.items)
            raise AirspaceError(f"airspace has {len(problems.items)} problem(s):\n  {lines}", problems.items)
        return cls(tuple(zones), tuple(areas), max_alt_m)

    def to_geojson(self) -> dict[str, Any]:
        """The airspace as a GeoJSON ``FeatureCollection`` that `from_geojson` reads back.

        Circles are written as a ``Point`` with ``radius_m``; times as ISO-8601 with offset.

        Examples
        --------
        >>> a = Airspace.from_geojson({"type": "FeatureCollection", "features": [
        ...   {"type": "Feature", "geometry": {"type": "Point", "coordinates": [111.5481, -7.195]},
        ...    "properties": {"name": "Ngloram", "kind": "airport", "radius_m": 5000}}]})
        >>> fc = a.to_geojson()
        >>> fc["features"][0]["geometry"], fc["max_alt_m"]
        ({'type': 'Point', 'coordinates': [111.5481, -7.195]}, 120.0)
        >>> Airspace.from_geojson(fc).zones == a.zones
        True
        """
        feats: list[dict[str, Any]] = []
        for z in self.zones:
            props: dict[str, Any] = {"name": z.name, "kind": z.kind}
            if z.radius_m is not None and z.center_lat_deg is not None:
                geom: dict[str, Any] = {"type": "Point", "coordinates": [z.center_lon_deg, z.center_lat_deg]}
                props["radius_m"] = z.radius_m
            else:
                geom = _geom_json(z.geometry)
            if z.floor_m > 0.0:
                props["floor_m"] = z.floor_m
            if math.isfinite(z.ceiling_m):
                props["ceiling_m"] = z.ceiling_m
            if z.active_from is not None:
                props["active_from"] = _time_str(z.active_from)
            if z.active_until is not None:
                props["active_until"] = _time_str(z.active_until)
            props.update(z.properties)
            feats.append({"type": "Feature", "geometry": geom, "properties": props})
        for s in self.service_areas:
            props = {"name": s.name, "kind": SERVICE_AREA_KIND, "base": s.base, **s.properties}
            feats.append({"type": "Feature", "geometry": _geom_json(s.geometry), "properties": props})
        return {"type": "FeatureCollection", "max_alt_m": self.max_alt_m, "features": feats}

    # ---- frame and projection ----------------------------------------------------------------

    @property
    def frame(self) -> LocalFrame | None:
        """Local frame centred on the bounds of all zones and service areas (None if empty)."""
        if "frame" not in self._cache:
            geoms = [z.geometry for z in self.zones] + [s.geometry for s in self.service_areas]
            if not geoms:
                self._cache["frame"] = None
            else:
                b = shapely.bounds(np.asarray(geoms, dtype=object))
                self._cache["frame"] = LocalFrame.for_points(
                    [b[:, 1].min(), b[:, 3].max()], [b[:, 0].min(), b[:, 2].max()]
                )
        frame: LocalFrame | None = self._cache["frame"]
        return frame

    def frame_for(self, *points: tuple[float, float]) -> LocalFrame:
        """The frame to plan in around ``points`` ((lat, lon) pairs).

        The airspace's own frame when the points lie within 150 km of its centre (so projected
        zones can be reused), else a frame centred on the points.
        """
        frame = self.frame
        if frame is not None and points:
            lats = np.array([p[0] for p in points], dtype=float)
            lons = np.array([p[1] for p in points], dtype=float)
            if float(np.max(distance_m(frame.lat0_deg, frame.lon0_deg, lats, lons))) <= 150_000.0:
                return frame
        if not points:
            if frame is None:
                raise ValueError("an empty airspace has no frame; give a point")
            return frame
        return LocalFrame.for_points([p[0] for p in points], [p[1] for p in points])

    def xy(self, frame: LocalFrame) -> _XYZones:
        """Zones and service areas projected into ``frame`` (cached per frame)."""
        key = ("xy", frame)
        hit = self._cache.get(key)
        if hit is None:
            geoms = _project_all([z.geometry for z in self.zones], frame)
            service = _project_all([s.geometry for s in self.service_areas], frame)
            hit = _XYZones(frame, geoms, shapely.STRtree(list(geoms)), service)
            if sum(1 for k in self._cache if isinstance(k, tuple) and k[0] == "xy") >= 8:
                for k in [k for k in self._cache if isinstance(k, tuple) and k[0] == "xy"]:
                    self._cache.pop(k, None)
            self._cache[key] = hit
        return hit

    def grown(self, frame: LocalFrame, margin_m: float) -> _Grown:
        """Every zone grown by ``margin_m`` in ``frame`` (`grow_hull`, `grow_vertices`), cached."""
        key = ("grown", frame, float(margin_m))
        hit = self._cache.get(key)
        if hit is None:
            hit = _Grown(self.xy(frame).geoms, float(margin_m))
            old = [k for k in self._cache if isinstance(k, tuple) and k[0] == "grown"]
            if len(old) >= 16:
                self._cache.pop(old[0], None)
            self._cache[key] = hit
        return hit

    # ---- queries -----------------------------------------------------------------------------

    def zone(self, name: str) -> Zone:
        """The zone called ``name`` (KeyError if none)."""
        for z in self.zones:
            if z.name == name:
                return z
        raise KeyError(f"no zone named {name!r}")

    def active_zones(self, at: datetime | None = None, until: datetime | None = None) -> tuple[Zone, ...]:
        """Zones active at ``at`` (default now), or at any moment of ``[at, until]``.

        Examples
        --------
        >>> Airspace().active_zones()
        ()
        """
        t = _require_aware(at)
        end = None if until is None else _require_aware(until, "until")
        return tuple(z for z in self.zones if z.is_active(t, end))

    def zones_at(
        self, lat_deg: float, lon_deg: float, alt_m: float | None = None, at: datetime | None = None
    ) -> tuple[Zone, ...]:
        """Every active zone that forbids the point (at ``alt_m``, if given)."""
        check_latlon(lat_deg, lon_deg)
        t = _require_aware(at)
        if not self.zones:
            return ()
        frame = self.frame_for((lat_deg, lon_deg))
        xy = self.xy(frame)
        p = Point(*frame.to_xy(lat_deg, lon_deg))
        idx = sorted(int(i) for i in xy.tree.query(p, predicate="intersects"))
        return tuple(
            self.zones[i] for i in idx if self.zones[i].is_active(t) and self.zones[i].applies_at(alt_m)
        )

    def zone_at(
        self, lat_deg: float, lon_deg: float, alt_m: float | None = None, at: datetime | None = None
    ) -> Zone | None:
        """The first active zone that forbids the point, or None.

        Examples
        --------
        >>> Airspace().zone_at(-6.8, 110.8) is None
        True
        """
        found = self.zones_at(lat_deg, lon_deg, alt_m, at)
        return found[0] if found else None

    def check(
        self, lat_deg: float, lon_deg: float, alt_m: float | None = None, at: datetime | None = None
    ) -> Verdict:
        """Is the point flyable (at ``alt_m`` metres above ground, at time ``at``)?

        Parameters
        ----------
        lat_deg, lon_deg : float
        alt_m : float, optional
            Altitude above ground; None checks every altitude (a zone with a floor still counts).
        at : datetime, optional
            Timezone-aware time; default now.

        Returns
        -------
        Verdict
            ``flyable``, ``code`` (``ok``/``zone``/``max_altitude``), ``reason``, ``zone``, ``kind``.

        Examples
        --------
        >>> Airspace(max_alt_m=100.0).check(-6.8, 110.8, alt_m=110.0).reason
        'altitude 110.0 m is above the maximum of 100.0 m'
        """
        if alt_m is not None:
            a = _number(alt_m)
            if a is None or a < 0.0:
                raise ValueError(f"alt_m must be a number >= 0, got {alt_m!r}")
            if a > self.max_alt_m:
                return Verdict(False, "max_altitude", f"altitude {a} m is above the maximum of {self.max_alt_m} m")
        found = self.zones_at(lat_deg, lon_deg, alt_m, at)
        if not found:
            return Verdict(True, "ok", "flyable")
        z = found[0]
        return Verdict(False, "zone", f"inside {z.describe()}", z.name, z.kind, tuple(f.name for f in found))

    def nearest_flyable(
        self,
        lat_deg: float,
        lon_deg: float,
        *,
        margin_m: float = 0.0,
        alt_m: float | None = None,
        at: datetime | None = None,
    ) -> FlyablePoint:
        """The nearest point at least ``margin_m`` away from every active zone.

        For an incident inside a zone the drone observes from the edge: plan the route to the
        returned point with the same ``margin_m`` (it is never inside the margin as
        `missions.plan_route` draws it).

        Parameters
        ----------
        lat_deg, lon_deg : float
            The incident.
        margin_m : float
            Safety margin around zones, metres.
        alt_m : float, optional
            Only zones forbidding this altitude count (None: all zones).
        at : datetime, optional
            Timezone-aware time; default now.

        Returns
        -------
        FlyablePoint

        Examples
        --------
        >>> a = Airspace.from_geojson({"type": "FeatureCollection", "features": [
        ...   {"type": "Feature", "geometry": {"type": "Point", "coordinates": [110.8405, -6.8048]},
        ...    "properties": {"name": "Alun-alun", "kind": "event", "radius_m": 300}}]})
        >>> p = a.nearest_flyable(-6.8048, 110.8405, margin_m=50.0)
        >>> p.moved, p.zone, 350.0 <= p.distance_m < 356.0
        (True, 'Alun-alun', True)
        """
        check_latlon(lat_deg, lon_deg, "incident")
        if margin_m < 0.0 or not math.isfinite(margin_m):
            raise ValueError(f"margin_m must be a finite number >= 0, got {margin_m!r}")
        t = _require_aware(at)
        zones = [i for i, z in enumerate(self.zones) if z.is_active(t) and z.applies_at(alt_m)]
        if not zones:
            return FlyablePoint(float(lat_deg), float(lon_deg), 0.0, False)
        frame = self.frame_for((lat_deg, lon_deg))
        grown = self.grown(frame, margin_m)
        p = Point(*frame.to_xy(lat_deg, lon_deg))
        relevant = set(zones)
        inside = sorted(int(i) for i in grown.tree.query(p, predicate="intersects") if int(i) in relevant)
        if not inside:
            return FlyablePoint(float(lat_deg), float(lon_deg), 0.0, False)
        # the nearest point outside every grown zone (and outside by the routing nodes' 1 mm)
        q = _nearest_outside(grown, inside, relevant, p)
        lat, lon = frame.to_latlon(q.x, q.y)
        first = self.zones[inside[0]]
        return FlyablePoint(float(lat), float(lon), float(distance_m(lat_deg, lon_deg, lat, lon)), True, first.name)

    # ---- service areas -----------------------------------------------------------------------

    def service_areas_at(self, lat_deg: float, lon_deg: float) -> tuple[ServiceArea, ...]:
        """Service areas that contain the point (their ``base`` values tell which bases serve it).

        Examples
        --------
        >>> Airspace().service_areas_at(-6.8, 110.8)
        ()
        """
        check_latlon(lat_deg, lon_deg)
        if not self.service_areas:
            return ()
        frame = self.frame_for((lat_deg, lon_deg))
        xy = self.xy(frame)
        p = Point(*frame.to_xy(lat_deg, lon_deg))
        return tuple(s for s, g in zip(self.service_areas, xy.service, strict=True) if g.intersects(p))

    def bases_serving(self, lat_deg: float, lon_deg: float) -> tuple[str, ...]:
        """Identifiers of the bases whose service area contains the point."""
        return tuple(dict.fromkeys(s.base for s in self.service_areas_at(lat_deg, lon_deg)))

    def in_service_area(self, lat_deg: float, lon_deg: float, base: str) -> bool:
        """Whether ``base``'s service area contains the point.

        Raises
        ------
        KeyError
            If the airspace defines no service area for ``base``.
        """
        if not any(s.base == base for s in self.service_areas):
            raise KeyError(f"no service area defined for base {base!r}")
        return base in self.bases_serving(lat_deg, lon_deg)


def _nearest_outside(grown: _Grown, inside: Iterable[int], relevant: set[int], p: Point) -> Point:
    """Nearest point to ``p`` outside every ``relevant`` zone's grown hull (by the 1 mm node offset).

    ``inside`` are the relevant zones whose hull contains ``p`` (at least one). The answer lies on
    the boundary of the union of the slightly larger vertex polygons (`grow_vertices`): outside
    every hull, so routing accepts it, and as close as the geometry allows. Only zones within reach
    matter: if the answer q lies within radius R of p, zones not meeting the disk (p, R) cannot
    change it; R grows until that holds.
    """
    verts_tree = grown.verts_tree
    members = set(inside)
    while True:
        union = shapely.union_all([grown.verts[i] for i in sorted(members)])
        q: Point = shapely.ops.nearest_points(union.boundary, p)[0]
        reach = p.distance(q) * (1.0 + 1e-9) + 1e-6
        near = {int(i) for i in verts_tree.query(p.buffer(reach, quad_segs=16).envelope)} & relevant
        if near <= members:
            return q
        members |= near


def _project_all(geoms: list[BaseGeometry], frame: LocalFrame) -> tuple[BaseGeometry, ...]:
    """Project lon/lat geometries into ``frame`` (one vectorised pyproj call for all)."""
    if not geoms:
        return ()

    def tx(coords: np.ndarray) -> np.ndarray:
        x, y = frame.to_xy(coords[:, 1], coords[:, 0])
        return np.column_stack([np.atleast_1d(x), np.atleast_1d(y)])

    out = shapely.transform(np.asarray(geoms, dtype=object), tx)
    bad = ~shapely.is_valid(out)
    if bad.any():  # projection can, in pathological slivers, flip validity
        out[bad] = shapely.make_valid(out[bad])
    return tuple(out.tolist())


def _geom_json(geom: BaseGeometry) -> dict[str, Any]:
    m = mapping(geom)
    return json.loads(json.dumps(m))  # tuples -> lists
