"""Flight patterns: on-scene hold, orbit, expanding-square and lawnmower search, escort.

Every function is pure and returns a `Pattern`: a tuple of `~missions.mission.NavWaypoint` plus
the `Adjustment` s made to respect the airspace. With an ``airspace``, no waypoint lies in an
active no-fly zone (grown by ``margin_m``) and no leg between consecutive waypoints crosses one:

* **on-scene hold** and **escort** *move* a forbidden point to the nearest flyable point (the
  drone watches from the edge; `Airspace.nearest_flyable`); an escort leg that would still cross
  a zone (the officer walks through it) is replaced by the shortest legal detour;
* **orbit** keeps the longest flyable arc of the circle and *drops* the rest (moving points would
  no longer be an orbit); `orbit_item` (one ``DO_ORBIT``) refuses a circle that is not entirely
  flyable;
* **search** patterns search only the flyable part of the area: track segments are cut where they
  would enter a zone, and a transit leg that would cross a zone is replaced by the shortest legal
  detour (`missions.routing.plan_route`).

Altitudes are metres above home (``alt_rel_m``); an altitude above ``airspace.max_alt_m`` raises
`~missions.errors.AltitudeError`. Geometry is computed in a `~missions.geodesy.LocalFrame`
(azimuthal equidistant) centred on the pattern, so distances are true to the centimetre.

Examples
--------
>>> p = orbit_waypoints(-6.8048, 110.8405, radius_m=100.0, alt_rel_m=60.0, n_points=8)
>>> len(p.waypoints), p.adjustments
(9, ())
>>> from missions.geodesy import distance_m
>>> {round(distance_m(-6.8048, 110.8405, w.lat_deg, w.lon_deg), 1) for w in p.waypoints}
{100.0}
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import LineString, Point, Polygon, box
from shapely.geometry.base import BaseGeometry

from .airspace import Airspace, grow_hull
from .errors import AltitudeError, NoRouteError, PatternError
from .geodesy import LocalFrame, bearing_deg, check_latlon, destination, distance_m
from .mission import NavWaypoint, Orbit

__all__ = [
    "Adjustment",
    "Pattern",
    "OfficerFix",
    "OfficerMotion",
    "onscene_hold",
    "orbit_waypoints",
    "orbit_item",
    "expanding_square",
    "lawnmower",
    "officer_motion",
    "escort_along_route",
    "escort_from_fixes",
]


@dataclass(frozen=True, slots=True)
class Adjustment:
    """A change made to a pattern to respect the airspace.

    Attributes
    ----------
    index : int
        Index of the point in the pattern as it would be without an airspace.
    lat_deg, lon_deg : float
        The original point.
    action : str
        ``"moved"`` (to ``new_lat_deg`` / ``new_lon_deg``), ``"dropped"``, or ``"detour"`` (the
        leg arriving at this point was replaced by a detour around ``zone``).
    code : str
        ``"zone"`` (inside a no-fly zone), ``"margin"`` (within ``margin_m`` of one), ``"leg"``
        (a leg would cross one) or ``"unreachable"`` (no legal detour exists).
    reason : str
        English explanation naming the zone.
    zone : str or None
    new_lat_deg, new_lon_deg : float or None
    """

    index: int
    lat_deg: float
    lon_deg: float
    action: str
    code: str
    reason: str
    zone: str | None = None
    new_lat_deg: float | None = None
    new_lon_deg: float | None = None


@dataclass(frozen=True, slots=True)
class Pattern:
    """Waypoints of a pattern and the adjustments made to respect the airspace.

    Attributes
    ----------
    waypoints : tuple of NavWaypoint
    adjustments : tuple of Adjustment
        Empty when the pattern needed no change.
    notes : tuple of str
        Other remarks (e.g. "officer stationary").
    """

    waypoints: tuple[NavWaypoint, ...]
    adjustments: tuple[Adjustment, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def clipped(self) -> bool:
        """True when the airspace changed the pattern."""
        return bool(self.adjustments)

    def positions(self) -> list[tuple[float, float]]:
        """``(lat_deg, lon_deg)`` of the waypoints."""
        return [(w.lat_deg, w.lon_deg) for w in self.waypoints]


# ----------------------------------------------------------------------------- airspace helpers
def _check_alt(alt_rel_m: float, airspace: Airspace | None) -> float:
    alt = float(alt_rel_m)
    if not math.isfinite(alt) or alt <= 0.0:
        raise AltitudeError(f"alt_rel_m must be a positive number of metres, got {alt_rel_m!r}")
    if airspace is not None and alt > airspace.max_alt_m:
        raise AltitudeError(f"alt_rel_m {alt} m is above the airspace maximum of {airspace.max_alt_m} m")
    return alt


def _positive(value: float, name: str) -> float:
    v = float(value)
    if not (math.isfinite(v) and v > 0.0):
        raise PatternError(f"{name} must be a positive number, got {value!r}")
    return v


class _Space:
    """The airspace as the pattern sees it: active zones forbidding ``alt``, grown by ``margin``,
    projected into one local frame."""

    def __init__(
        self,
        airspace: Airspace | None,
        frame: LocalFrame,
        alt_m: float,
        at: datetime | None,
        margin_m: float,
    ) -> None:
        if not (math.isfinite(margin_m) and margin_m >= 0.0):
            raise PatternError(f"margin_m must be a finite number >= 0, got {margin_m!r}")
        self.airspace = airspace
        self.frame = frame
        self.alt_m = alt_m
        self.at = at if at is not None else datetime.now(timezone.utc)
        self.margin_m = margin_m
        self.blocked: BaseGeometry | None = None
        if airspace is not None and airspace.zones:
            xy = airspace.xy(frame)
            geoms = [
                grow_hull(xy.geoms[i], margin_m)
                for i, z in enumerate(airspace.zones)
                if z.is_active(self.at) and z.applies_at(alt_m)
            ]
            if geoms:
                self.blocked = shapely.union_all(geoms)
                shapely.prepare(self.blocked)

    def xy(self, lat: float, lon: float) -> tuple[float, float]:
        x, y = self.frame.to_xy(lat, lon)
        return float(x), float(y)

    def latlon(self, x: float, y: float) -> tuple[float, float]:
        lat, lon = self.frame.to_latlon(x, y)
        return float(lat), float(lon)

    def point_ok(self, lat: float, lon: float) -> bool:
        return self.blocked is None or not self.blocked.intersects(Point(self.xy(lat, lon)))

    def leg_ok(self, a: tuple[float, float], b: tuple[float, float]) -> bool:
        if self.blocked is None:
            return True
        return not self.blocked.intersects(LineString([self.xy(*a), self.xy(*b)]))

    def why(self, lat: float, lon: float) -> tuple[str, str, str | None]:
        """(code, reason, zone) for a point that is not ok."""
        assert self.airspace is not None
        v = self.airspace.check(lat, lon, alt_m=self.alt_m, at=self.at)
        if not v.flyable:
            return ("zone", v.reason, v.zone)
        fp = self.airspace.nearest_flyable(lat, lon, margin_m=self.margin_m, alt_m=self.alt_m, at=self.at)
        return ("margin", f"within the {self.margin_m:g} m margin of zone {fp.zone!r}", fp.zone)

    def leg_zone(self, a: tuple[float, float], b: tuple[float, float]) -> str | None:
        """Name of a zone the leg a-b crosses (None if it crosses none)."""
        assert self.airspace is not None
        line = LineString([self.xy(*a), self.xy(*b)])
        xy = self.airspace.xy(self.frame)
        for i, z in enumerate(self.airspace.zones):
            if z.is_active(self.at) and z.applies_at(self.alt_m):
                if grow_hull(xy.geoms[i], self.margin_m).intersects(line):
                    return z.name
        return None

    def nearest(self, lat: float, lon: float) -> tuple[float, float]:
        assert self.airspace is not None
        fp = self.airspace.nearest_flyable(lat, lon, margin_m=self.margin_m, alt_m=self.alt_m, at=self.at)
        return fp.lat_deg, fp.lon_deg

    def detour(self, a: tuple[float, float], b: tuple[float, float]) -> list[tuple[float, float]]:
        """Intermediate points of the shortest legal path a -> b (raises NoRouteError)."""
        from .routing import plan_route  # routing imports airspace only; imported here to stay light

        assert self.airspace is not None
        # the drone is already flying at the pattern's altitude: only zones at that altitude count
        route = plan_route(a, b, self.airspace, margin_m=self.margin_m, cruise_alt_m=self.alt_m, at=self.at,
                           frame=self.frame, start_alt_m=self.alt_m)
        return [(w.lat_deg, w.lon_deg) for w in route.waypoints[1:-1]]


def _wp(lat: float, lon: float, alt: float, **kw: Any) -> NavWaypoint:
    return NavWaypoint(lat, lon, alt, **kw)


def _move_points(
    points: Sequence[tuple[float, float]], space: _Space
) -> tuple[list[tuple[float, float]], list[Adjustment]]:
    out: list[tuple[float, float]] = []
    adj: list[Adjustment] = []
    for k, (lat, lon) in enumerate(points):
        if space.point_ok(lat, lon):
            out.append((lat, lon))
            continue
        code, reason, zone = space.why(lat, lon)
        nlat, nlon = space.nearest(lat, lon)
        adj.append(Adjustment(k, lat, lon, "moved", code, reason, zone, nlat, nlon))
        out.append((nlat, nlon))
    return out, adj


def _legal_path(
    points: Sequence[tuple[float, float]], space: _Space
) -> tuple[list[tuple[float, float]], list[Adjustment]]:
    """Drop points inside zones, then replace legs that cross zones by detours."""
    kept: list[tuple[int, tuple[float, float]]] = []
    adj: list[Adjustment] = []
    for k, (lat, lon) in enumerate(points):
        if space.point_ok(lat, lon):
            kept.append((k, (lat, lon)))
        else:
            code, reason, zone = space.why(lat, lon)
            adj.append(Adjustment(k, lat, lon, "dropped", code, reason, zone))
    path, more = _fly_around(kept, space)
    return path, adj + more


def _fly_around(
    kept: Sequence[tuple[int, tuple[float, float]]], space: _Space
) -> tuple[list[tuple[float, float]], list[Adjustment]]:
    """Join flyable points (with their pattern indices) by legal legs: a leg that would cross a
    zone (grown by the margin) is replaced by the shortest legal detour; a point that cannot be
    reached at all is dropped. Both are recorded as adjustments."""
    adj: list[Adjustment] = []
    if space.blocked is None or not kept:
        return [p for _, p in kept], adj
    path = [kept[0][1]]
    for k, p in kept[1:]:
        a = path[-1]
        if space.leg_ok(a, p):
            path.append(p)
            continue
        zone = space.leg_zone(a, p)
        try:
            via = space.detour(a, p)
        except NoRouteError as exc:
            adj.append(Adjustment(k, p[0], p[1], "dropped", "unreachable", f"no legal path: {exc}", exc.zone))
            continue
        adj.append(Adjustment(k, p[0], p[1], "detour", "leg", f"the leg would cross zone {zone!r}; flying around it", zone))
        path.extend(via)
        path.append(p)
    return path, adj


# ----------------------------------------------------------------------------- on-scene hold
def onscene_hold(
    lat_deg: float,
    lon_deg: float,
    alt_rel_m: float,
    hold_s: float,
    *,
    airspace: Airspace | None = None,
    at: datetime | None = None,
    margin_m: float = 0.0,
    acceptance_radius_m: float = 2.0,
    yaw_deg: float | None = None,
) -> Pattern:
    """Hover ``hold_s`` seconds over an incident (one waypoint with a hold time).

    If the incident lies in a no-fly zone (or within ``margin_m`` of one) the hold point is moved
    to the nearest flyable point, from where the drone observes.

    Examples
    --------
    >>> p = onscene_hold(-6.8048, 110.8405, 60.0, hold_s=300.0)
    >>> w = p.waypoints[0]
    >>> (w.lat_deg, w.lon_deg, w.alt_rel_m, w.hold_s)
    (-6.8048, 110.8405, 60.0, 300.0)
    """
    check_latlon(lat_deg, lon_deg, "incident")
    alt = _check_alt(alt_rel_m, airspace)
    if not (math.isfinite(hold_s) and hold_s >= 0):
        raise PatternError(f"hold_s must be a number >= 0, got {hold_s!r}")
    space = _Space(airspace, LocalFrame(lat_deg, lon_deg), alt, at, margin_m)
    [(lat, lon)], adj = _move_points([(lat_deg, lon_deg)], space)
    wp = _wp(lat, lon, alt, hold_s=float(hold_s), acceptance_radius_m=acceptance_radius_m, yaw_deg=yaw_deg)
    return Pattern((wp,), tuple(adj))


# ----------------------------------------------------------------------------- orbit
def orbit_waypoints(
    lat_deg: float,
    lon_deg: float,
    radius_m: float,
    alt_rel_m: float,
    *,
    n_points: int = 12,
    turns: int = 1,
    clockwise: bool = True,
    start_bearing_deg: float = 0.0,
    speed_m_s: float | None = None,
    airspace: Airspace | None = None,
    at: datetime | None = None,
    margin_m: float = 0.0,
) -> Pattern:
    """An orbit as waypoints: ``n_points`` per turn on the circle (geodesic radius), closed.

    Parameters
    ----------
    lat_deg, lon_deg : float
        Centre (the incident).
    radius_m, alt_rel_m : float
    n_points : int
        Points per turn (>= 3).
    turns : int
        Number of turns; the last point closes the circle.
    clockwise : bool
        Seen from above.
    start_bearing_deg : float
        Bearing of the first point from the centre.
    speed_m_s : float, optional
        Speed set on the first waypoint.
    airspace, at, margin_m :
        With an airspace, only the longest arc whose points and chords are all flyable is kept;
        the other points are dropped with the reason.

    Examples
    --------
    >>> p = orbit_waypoints(-6.8048, 110.8405, 50.0, 40.0, n_points=4, clockwise=True)
    >>> [round(bearing_deg(-6.8048, 110.8405, w.lat_deg, w.lon_deg)) % 360 for w in p.waypoints]
    [0, 90, 180, 270, 0]
    """
    check_latlon(lat_deg, lon_deg, "orbit centre")
    alt = _check_alt(alt_rel_m, airspace)
    r = _positive(radius_m, "radius_m")
    if int(n_points) < 3:
        raise PatternError(f"n_points must be >= 3, got {n_points!r}")
    if int(turns) < 1:
        raise PatternError(f"turns must be >= 1, got {turns!r}")
    n = int(n_points) * int(turns)
    step = 360.0 / int(n_points) * (1.0 if clockwise else -1.0)
    bearings = [(start_bearing_deg + k * step) % 360.0 for k in range(n + 1)]
    lats, lons = destination(np.full(n + 1, float(lat_deg)), np.full(n + 1, float(lon_deg)), np.array(bearings), r)
    pts = [(float(a), float(b)) for a, b in zip(lats, lons, strict=True)]
    space = _Space(airspace, LocalFrame(lat_deg, lon_deg), alt, at, margin_m)
    keep = list(range(n + 1))
    adj: list[Adjustment] = []
    if space.blocked is not None:
        ok = [space.point_ok(*p) for p in pts[:n]]
        # chord k joins point k to point k+1 (point n is point 0 again: the circle is cyclic)
        chord = [ok[k] and ok[(k + 1) % n] and space.leg_ok(pts[k], pts[k + 1]) for k in range(n)]
        if not all(chord):
            # the longest cyclic run of clear chords, as (first chord, number of chords)
            best = (0, 0)
            for k in range(n):
                if chord[k] and not chord[k - 1]:
                    m = 0
                    while m < n and chord[(k + m) % n]:
                        m += 1
                    if m > best[1]:
                        best = (k, m)
            if best[1] > 0:
                keep = [(best[0] + j) % n for j in range(best[1] + 1)]
            else:
                keep = [k for k in range(n) if ok[k]][:1]
            blocking = None
            for k in range(n):
                if not ok[k]:
                    blocking = space.why(*pts[k])[2]
                    break
            if blocking is None:
                blocking = next(space.leg_zone(pts[k], pts[k + 1]) for k in range(n) if not chord[k])
            kept = set(keep)
            for k in range(n):
                if k not in kept:
                    lat, lon = pts[k]
                    if ok[k]:
                        code, zone = "leg", blocking
                        reason = f"outside the longest flyable arc (the circle crosses zone {zone!r})"
                    else:
                        code, reason, zone = space.why(lat, lon)
                    adj.append(Adjustment(k, lat, lon, "dropped", code, reason, zone))
    wps = tuple(
        _wp(*pts[k], alt, acceptance_radius_m=2.0, speed_m_s=speed_m_s if i == 0 else None)
        for i, k in enumerate(keep)
    )
    return Pattern(wps, tuple(adj))


def orbit_item(
    lat_deg: float,
    lon_deg: float,
    radius_m: float,
    alt_rel_m: float,
    *,
    clockwise: bool = True,
    velocity_m_s: float | None = None,
    orbits: float | None = None,
    yaw_behaviour: int | None = 0,
    airspace: Airspace | None = None,
    at: datetime | None = None,
    margin_m: float = 0.0,
) -> Orbit:
    """An orbit as one ``MAV_CMD_DO_ORBIT`` item (yaw toward the centre by default).

    Raises
    ------
    PatternError
        If any part of the circle is not flyable (the message names the zone; use
        `orbit_waypoints` to fly the flyable arc instead).

    Examples
    --------
    >>> orbit_item(-6.8048, 110.8405, 80.0, 60.0).radius_m
    80.0
    """
    check_latlon(lat_deg, lon_deg, "orbit centre")
    alt = _check_alt(alt_rel_m, airspace)
    r = _positive(radius_m, "radius_m")
    space = _Space(airspace, LocalFrame(lat_deg, lon_deg), alt, at, margin_m)
    if space.blocked is not None:
        # the circle as a 256-gon whose edges lie outside the true circle (circumscribed)
        k = 256
        rr = r / math.cos(math.pi / k)
        ring = LineString([(rr * math.sin(2 * math.pi * i / k), rr * math.cos(2 * math.pi * i / k)) for i in range(k + 1)])
        inner = Point(0.0, 0.0).buffer(r * math.cos(math.pi / k), quad_segs=64).exterior
        if space.blocked.intersects(ring) or space.blocked.intersects(inner):
            zone = None
            assert airspace is not None
            xy = airspace.xy(space.frame)
            for i, z in enumerate(airspace.zones):
                if z.is_active(space.at) and z.applies_at(alt):
                    g = grow_hull(xy.geoms[i], margin_m)
                    if g.intersects(ring) or g.intersects(inner):
                        zone = z.name
                        break
            raise PatternError(
                f"orbit of {r:g} m around {lat_deg:.6f}, {lon_deg:.6f} enters zone {zone!r}; "
                "use orbit_waypoints to fly the flyable arc"
            )
    return Orbit(lat_deg, lon_deg, alt, radius_m=r, clockwise=clockwise, velocity_m_s=velocity_m_s,
                 yaw_behaviour=yaw_behaviour, orbits=orbits)


# ----------------------------------------------------------------------------- search patterns
def expanding_square(
    lat_deg: float,
    lon_deg: float,
    alt_rel_m: float,
    track_spacing_m: float,
    *,
    legs: int | None = None,
    max_extent_m: float | None = None,
    first_bearing_deg: float = 0.0,
    turn_right: bool = True,
    airspace: Airspace | None = None,
    at: datetime | None = None,
    margin_m: float = 0.0,
) -> Pattern:
    """Expanding-square search (IAMSAR) from a datum.

    Legs of 1, 1, 2, 2, 3, 3, ... times ``track_spacing_m``, each turning 90 degrees (right by
    default) from the previous; the first leg heads ``first_bearing_deg``.

    Parameters
    ----------
    lat_deg, lon_deg : float
        Datum (last known position).
    alt_rel_m, track_spacing_m : float
    legs : int, optional
        Number of legs.
    max_extent_m : float, optional
        Instead of ``legs``: stop before the square's half-width exceeds this.

    Examples
    --------
    >>> p = expanding_square(-6.8048, 110.8405, 50.0, 100.0, legs=4)
    >>> f = LocalFrame(-6.8048, 110.8405)
    >>> [tuple(round(float(v)) for v in f.to_xy(w.lat_deg, w.lon_deg)) for w in p.waypoints]
    [(0, 0), (0, 100), (100, 100), (100, -100), (-100, -100)]
    """
    check_latlon(lat_deg, lon_deg, "datum")
    alt = _check_alt(alt_rel_m, airspace)
    s = _positive(track_spacing_m, "track_spacing_m")
    if legs is None and max_extent_m is None:
        raise PatternError("give legs or max_extent_m")
    if legs is not None and int(legs) < 1:
        raise PatternError(f"legs must be >= 1, got {legs!r}")
    frame = LocalFrame(lat_deg, lon_deg)
    pts_xy = [(0.0, 0.0)]
    heading = math.radians(first_bearing_deg)
    x = y = 0.0
    k = 0
    while True:
        if legs is not None and k >= int(legs):
            break
        length = s * (k // 2 + 1)
        nx, ny = x + length * math.sin(heading), y + length * math.cos(heading)
        if max_extent_m is not None and max(abs(nx), abs(ny)) > max_extent_m + 1e-9:
            break
        x, y = nx, ny
        pts_xy.append((x, y))
        heading += math.pi / 2 if turn_right else -math.pi / 2
        k += 1
    lats, lons = frame.to_latlon(np.array([p[0] for p in pts_xy]), np.array([p[1] for p in pts_xy]))
    pts = [(float(a), float(b)) for a, b in zip(np.atleast_1d(lats), np.atleast_1d(lons), strict=True)]
    space = _Space(airspace, frame, alt, at, margin_m)
    path, adj = _legal_path(pts, space)
    return Pattern(tuple(_wp(lat, lon, alt, acceptance_radius_m=2.0) for lat, lon in path), tuple(adj))


def _area_polygon(area: Any, what: str = "area") -> list[tuple[float, float]]:
    if isinstance(area, Polygon):  # lon/lat shapely polygon
        verts = [(float(y), float(x)) for x, y in list(area.exterior.coords)[:-1]]
    else:
        verts = [(float(v[0]), float(v[1])) for v in area]
    if len(verts) >= 2 and verts[0] == verts[-1]:
        verts = verts[:-1]
    if len(verts) < 3:
        raise PatternError(f"{what}: needs at least 3 vertices, got {len(verts)}")
    for i, (lat, lon) in enumerate(verts):
        check_latlon(lat, lon, f"{what} vertex {i}")
    return verts


def lawnmower(
    area: Sequence[tuple[float, float]] | Polygon,
    alt_rel_m: float,
    track_spacing_m: float,
    *,
    track_bearing_deg: float | None = None,
    airspace: Airspace | None = None,
    at: datetime | None = None,
    margin_m: float = 0.0,
) -> Pattern:
    """Lawnmower (boustrophedon) search over a polygon.

    Parallel tracks ``track_spacing_m`` apart, flown alternately in opposite directions. Every
    point of the area (minus no-fly zones) lies within ``track_spacing_m / 2`` of a track: each
    track spans the full width of the area within half a spacing of it, so it may overshoot the
    area's edge slightly where the edge is slanted.

    Parameters
    ----------
    area : sequence of (lat_deg, lon_deg) or shapely Polygon (x = lon, y = lat)
        The area to search.
    alt_rel_m, track_spacing_m : float
    track_bearing_deg : float, optional
        Direction of the tracks; default along the longer side of the area's minimum rotated
        rectangle (fewest turns).
    airspace, at, margin_m :
        Zones (grown by ``margin_m``) are cut out of the area; transit legs that would cross
        one fly around it.

    Raises
    ------
    PatternError
        If the area is invalid or entirely inside no-fly zones.

    Examples
    --------
    >>> f = LocalFrame(-6.80, 110.84)
    >>> corners = [f.to_latlon(x, y) for x, y in [(0, 0), (400, 0), (400, 200), (0, 200)]]
    >>> p = lawnmower(corners, 50.0, 100.0)
    >>> [tuple(round(float(v)) for v in f.to_xy(w.lat_deg, w.lon_deg)) for w in p.waypoints]
    [(0, 50), (400, 50), (400, 150), (0, 150)]
    """
    verts = _area_polygon(area)
    alt = _check_alt(alt_rel_m, airspace)
    s = _positive(track_spacing_m, "track_spacing_m")
    frame = LocalFrame.for_points([v[0] for v in verts], [v[1] for v in verts])
    xs, ys = frame.to_xy(np.array([v[0] for v in verts]), np.array([v[1] for v in verts]))
    poly = Polygon(list(zip(np.atleast_1d(xs), np.atleast_1d(ys), strict=True)))
    if not poly.is_valid or poly.area <= 0.0:
        raise PatternError(f"area: not a valid polygon ({shapely.validation.explain_validity(poly)})")
    space = _Space(airspace, frame, alt, at, margin_m)
    free = poly
    clear = None
    if space.blocked is not None:
        # half a metre of clearance so that track ends are strictly outside the grown zones
        clear = space.blocked.buffer(0.5)
        free = poly.difference(clear)
        if free.is_empty or free.area < 1e-6:
            raise PatternError("area: lies entirely inside no-fly zones (or their margins)")
    if track_bearing_deg is None:
        rect = poly.minimum_rotated_rectangle
        c = list(rect.exterior.coords)
        e1 = (c[1][0] - c[0][0], c[1][1] - c[0][1])
        e2 = (c[2][0] - c[1][0], c[2][1] - c[1][1])
        ex, ey = e1 if math.hypot(*e1) >= math.hypot(*e2) else e2
        angle = math.degrees(math.atan2(ey, ex))  # of the tracks, from the x axis
    else:
        angle = 90.0 - float(track_bearing_deg)
    angle = (angle + 90.0) % 180.0 - 90.0  # a track direction, not a vector: keep it in [-90, 90)
    # rotate so that tracks run along x
    rot = affinity.rotate(free, -angle, origin=(0.0, 0.0))
    minx, miny, maxx, maxy = rot.bounds
    n = max(1, math.ceil((maxy - miny) / s - 1e-9))
    # centre the tracks on the area's height
    y0 = (miny + maxy) / 2.0 - (n - 1) * s / 2.0
    blocked_rot = None if clear is None else affinity.rotate(clear, -angle, origin=(0.0, 0.0))
    rows: list[list[tuple[float, float]]] = []
    for k in range(n):
        y = y0 + k * s
        strip = rot.intersection(box(minx - 1.0, y - s / 2.0, maxx + 1.0, y + s / 2.0))
        pieces = [g for g in getattr(strip, "geoms", [strip]) if not g.is_empty and g.area > 0.0]
        segs: list[tuple[float, float]] = []
        for piece in sorted(pieces, key=lambda g: g.bounds[0]):
            a, b = piece.bounds[0], piece.bounds[2]
            seg = LineString([(a, y), (b, y)])
            if blocked_rot is not None:
                seg = seg.difference(blocked_rot)
            parts = [g for g in getattr(seg, "geoms", [seg]) if isinstance(g, LineString) and g.length > 0.0]
            segs.extend((g.coords[0][0], g.coords[-1][0]) for g in parts)
        merged = sorted({(round(a, 6), round(b, 6)) for a, b in segs})
        row: list[tuple[float, float]] = []
        for a, b in merged:
            row.extend([(a, y), (b, y)])
        if row:
            rows.append(row)
    if not rows:
        raise PatternError("area: no track fits in the flyable part of the area")
    pts_rot: list[tuple[float, float]] = []
    for k, row in enumerate(rows):
        pts_rot.extend(row if k % 2 == 0 else row[::-1])
    # rotate the track points back into the frame
    a = math.radians(angle)
    pr = np.array(pts_rot)
    bx = pr[:, 0] * math.cos(a) - pr[:, 1] * math.sin(a)
    by = pr[:, 0] * math.sin(a) + pr[:, 1] * math.cos(a)
    lats, lons = frame.to_latlon(bx, by)
    pts = [(float(a), float(b)) for a, b in zip(np.atleast_1d(lats), np.atleast_1d(lons), strict=True)]
    path, adj = _legal_path(pts, space)
    return Pattern(tuple(_wp(lat, lon, alt, acceptance_radius_m=2.0) for lat, lon in path), tuple(adj))


# ----------------------------------------------------------------------------- escort
@dataclass(frozen=True, slots=True)
class OfficerFix:
    """A position report of the patrol officer: WGS84 position and time in seconds (any epoch)."""

    lat_deg: float
    lon_deg: float
    t_s: float


@dataclass(frozen=True, slots=True)
class OfficerMotion:
    """Where the officer is and how they move (from `officer_motion`).

    ``heading_deg`` is None when the officer has not moved enough to tell.
    """

    lat_deg: float
    lon_deg: float
    t_s: float
    speed_m_s: float
    heading_deg: float | None


def _fixes(fixes: Sequence[Any]) -> list[OfficerFix]:
    out = []
    for i, f in enumerate(fixes):
        fx = f if isinstance(f, OfficerFix) else OfficerFix(*f)
        check_latlon(fx.lat_deg, fx.lon_deg, f"fix {i}")
        if not math.isfinite(fx.t_s):
            raise PatternError(f"fix {i}: t_s must be finite")
        out.append(fx)
    if not out:
        raise PatternError("fixes: need at least one position")
    return sorted(out, key=lambda f: f.t_s)


def officer_motion(
    fixes: Sequence[OfficerFix | tuple[float, float, float]],
    *,
    window_s: float = 30.0,
    min_speed_m_s: float = 0.3,
) -> OfficerMotion:
    """Current position, speed and heading of the officer from timestamped fixes.

    A least-squares straight-line fit of the fixes of the last ``window_s`` seconds (in a local
    metric frame) gives the velocity; the fitted position at the latest time smooths GPS noise.
    Below ``min_speed_m_s`` the officer counts as stationary and the heading is that of the
    overall displacement in the window if it exceeds 5 m, else None.

    Examples
    --------
    >>> f = LocalFrame(-6.80, 110.84)
    >>> fixes = [(*f.to_latlon(0.0, 1.5 * t), float(t)) for t in range(0, 20, 5)]   # 1.5 m/s north
    >>> m = officer_motion(fixes)
    >>> round(m.speed_m_s, 3), round(m.heading_deg, 3) % 360
    (1.5, 0.0)
    """
    fx = _fixes(fixes)
    last = fx[-1]
    recent = [f for f in fx if f.t_s >= last.t_s - window_s]
    frame = LocalFrame(last.lat_deg, last.lon_deg)
    if len(recent) < 2 or recent[-1].t_s - recent[0].t_s <= 0.0:
        return OfficerMotion(last.lat_deg, last.lon_deg, last.t_s, 0.0, None)
    t = np.array([f.t_s for f in recent]) - last.t_s
    x, y = frame.to_xy(np.array([f.lat_deg for f in recent]), np.array([f.lon_deg for f in recent]))
    A = np.vstack([np.ones_like(t), t]).T
    (x0, vx), *_ = np.linalg.lstsq(A, np.asarray(x), rcond=None)
    (y0, vy), *_ = np.linalg.lstsq(A, np.asarray(y), rcond=None)
    speed = float(math.hypot(vx, vy))
    lat, lon = frame.to_latlon(float(x0), float(y0))
    if speed >= min_speed_m_s:
        heading: float | None = math.degrees(math.atan2(vx, vy)) % 360.0
    else:
        first = recent[0]
        d = float(distance_m(first.lat_deg, first.lon_deg, last.lat_deg, last.lon_deg))
        heading = float(bearing_deg(first.lat_deg, first.lon_deg, last.lat_deg, last.lon_deg)) if d > 5.0 else None
    return OfficerMotion(float(lat), float(lon), last.t_s, speed, heading)


def _offset(lat: float, lon: float, heading_deg: float, ahead_m: float, lateral_m: float) -> tuple[float, float]:
    """Point ``ahead_m`` along the heading and ``lateral_m`` to its right (negative: left)."""
    f = LocalFrame(lat, lon)
    h = math.radians(heading_deg)
    x = ahead_m * math.sin(h) + lateral_m * math.cos(h)
    y = ahead_m * math.cos(h) - lateral_m * math.sin(h)
    a, b = f.to_latlon(x, y)
    return float(a), float(b)


def _offsets(samples: Sequence[tuple[float, float, float]], ahead_m: float, lateral_m: float) -> list[tuple[float, float]]:
    """`_offset` for many (lat, lon, heading) samples at once, in one frame centred on them
    (within millimetres of per-point frames for routes of a few kilometres)."""
    arr = np.array(samples, dtype=float)
    f = LocalFrame.for_points(arr[:, 0], arr[:, 1])
    x, y = f.to_xy(arr[:, 0], arr[:, 1])
    h = np.radians(arr[:, 2])
    tx = np.asarray(x) + ahead_m * np.sin(h) + lateral_m * np.cos(h)
    ty = np.asarray(y) + ahead_m * np.cos(h) - lateral_m * np.sin(h)
    lat, lon = f.to_latlon(tx, ty)
    return [(float(a), float(b)) for a, b in zip(np.atleast_1d(lat), np.atleast_1d(lon), strict=True)]


def escort_along_route(
    route: Sequence[tuple[float, float]],
    *,
    ahead_m: float,
    lateral_m: float = 0.0,
    alt_rel_m: float,
    spacing_m: float | None = 50.0,
    speed_m_s: float | None = None,
    airspace: Airspace | None = None,
    at: datetime | None = None,
    margin_m: float = 0.0,
) -> Pattern:
    """Waypoints that keep the drone ``ahead_m`` ahead of and ``lateral_m`` to the right of the
    officer (negative: left) as they walk or ride ``route``, at ``alt_rel_m`` above home.

    The officer's route is sampled every ``spacing_m`` metres (and at every vertex; None: only
    at vertices). For each officer position the heading is that of the route segment they are
    on, and the drone's point is offset along and across it. Forbidden points move to the
    nearest flyable point (with the reason), and a leg between two points that would cross a
    zone flies the shortest legal detour instead (an ``"detour"`` adjustment).

    Examples
    --------
    >>> f = LocalFrame(-6.80, 110.84)
    >>> route = [f.to_latlon(0.0, 0.0), f.to_latlon(0.0, 200.0)]          # 200 m due north
    >>> p = escort_along_route(route, ahead_m=30.0, lateral_m=10.0, alt_rel_m=40.0, spacing_m=100.0)
    >>> [tuple(round(float(v), 2) for v in f.to_xy(w.lat_deg, w.lon_deg)) for w in p.waypoints]
    [(10.0, 30.0), (10.0, 130.0), (10.0, 230.0)]
    """
    pts = [(float(a), float(b)) for a, b in route]
    if not pts:
        raise PatternError("route: needs at least one point")
    for i, (lat, lon) in enumerate(pts):
        check_latlon(lat, lon, f"route point {i}")
    alt = _check_alt(alt_rel_m, airspace)
    if spacing_m is not None:
        _positive(spacing_m, "spacing_m")
    if len(pts) == 1:
        raise PatternError("route: needs at least two points to have a heading; use escort_from_fixes")
    samples: list[tuple[float, float, float]] = []  # lat, lon, heading
    for i in range(len(pts) - 1):
        a, b = pts[i], pts[i + 1]
        d = float(distance_m(*a, *b))
        if d < 1e-6:
            continue
        h = float(bearing_deg(*a, *b))
        n = 1 if spacing_m is None else max(1, math.ceil(d / spacing_m - 1e-9))
        for k in range(n):
            lat, lon = destination(a[0], a[1], h, d * k / n)
            samples.append((float(lat), float(lon), float(bearing_deg(float(lat), float(lon), *b))))
        last_heading = float(bearing_deg(*b, *a)) + 180.0
        final = (b[0], b[1], last_heading % 360.0)
    if not samples:
        raise PatternError("route: all points coincide; use escort_from_fixes")
    samples.append(final)
    targets = _offsets(samples, ahead_m, lateral_m)
    frame = LocalFrame.for_points([t[0] for t in targets], [t[1] for t in targets])
    space = _Space(airspace, frame, alt, at, margin_m)
    moved, adj = _move_points(targets, space)
    path, around = _fly_around(list(enumerate(moved)), space)
    wps = tuple(_wp(lat, lon, alt, acceptance_radius_m=2.0, speed_m_s=speed_m_s if i == 0 else None)
                for i, (lat, lon) in enumerate(path))
    return Pattern(wps, tuple(adj + around))


def escort_from_fixes(
    fixes: Sequence[OfficerFix | tuple[float, float, float]],
    *,
    ahead_m: float,
    lateral_m: float = 0.0,
    alt_rel_m: float,
    lead_s: float = 0.0,
    horizon_s: float = 0.0,
    step_s: float = 5.0,
    window_s: float = 30.0,
    min_speed_m_s: float = 0.3,
    airspace: Airspace | None = None,
    at: datetime | None = None,
    margin_m: float = 0.0,
) -> Pattern:
    """Escort waypoints from the officer's latest timestamped positions.

    The officer's velocity comes from `officer_motion`; their position is predicted ``lead_s``
    seconds after the last fix (to cover link and control latency) and then every ``step_s``
    up to ``lead_s + horizon_s``. Each waypoint is ``ahead_m`` along the officer's heading and
    ``lateral_m`` to its right, at ``alt_rel_m``; its ``speed_m_s`` is the officer's speed (at
    least 1 m/s). A stationary officer with no known heading gets the drone straight overhead
    (noted).

    Examples
    --------
    >>> f = LocalFrame(-6.80, 110.84)
    >>> fixes = [(*f.to_latlon(2.0 * t, 0.0), float(t)) for t in range(0, 30, 5)]   # 2 m/s east
    >>> p = escort_from_fixes(fixes, ahead_m=40.0, lateral_m=0.0, alt_rel_m=35.0, lead_s=5.0)
    >>> w = p.waypoints[0]
    >>> tuple(round(float(v), 2) + 0.0 for v in f.to_xy(w.lat_deg, w.lon_deg)), round(w.speed_m_s, 3)
    ((100.0, 0.0), 2.0)
    """
    alt = _check_alt(alt_rel_m, airspace)
    if not (math.isfinite(lead_s) and lead_s >= 0 and math.isfinite(horizon_s) and horizon_s >= 0):
        raise PatternError("lead_s and horizon_s must be numbers >= 0")
    _positive(step_s, "step_s")
    m = officer_motion(fixes, window_s=window_s, min_speed_m_s=min_speed_m_s)
    notes: list[str] = []
    moving = m.speed_m_s >= min_speed_m_s and m.heading_deg is not None
    frame = LocalFrame(m.lat_deg, m.lon_deg)
    times = [lead_s + k * step_s for k in range(int(math.floor(horizon_s / step_s + 1e-9)) + 1)]
    targets = []
    for dt in times:
        if moving:
            assert m.heading_deg is not None
            h = math.radians(m.heading_deg)
            ox, oy = m.speed_m_s * dt * math.sin(h), m.speed_m_s * dt * math.cos(h)
            plat, plon = frame.to_latlon(ox, oy)
        else:
            plat, plon = m.lat_deg, m.lon_deg
        if m.heading_deg is None:
            targets.append((float(plat), float(plon)))
        else:
            targets.append(_offset(float(plat), float(plon), m.heading_deg, ahead_m, lateral_m))
    if m.heading_deg is None:
        notes.append("officer stationary with no known heading: the drone holds overhead")
    elif not moving:
        notes.append("officer stationary: offsets use the heading of their last movement")
    space = _Space(airspace, LocalFrame.for_points([t[0] for t in targets], [t[1] for t in targets]), alt, at, margin_m)
    moved, adj = _move_points(targets, space)
    path, around = _fly_around(list(enumerate(moved)), space)
    speed = max(1.0, m.speed_m_s)
    wps = tuple(_wp(lat, lon, alt, acceptance_radius_m=2.0, speed_m_s=speed) for lat, lon in path)
    return Pattern(wps, tuple(adj + around), tuple(notes))
