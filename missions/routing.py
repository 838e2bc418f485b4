"""Shortest legal routes around no-fly zones.

`plan_route` finds the exact shortest path in the plane of a `~missions.geodesy.LocalFrame`
from a base to a target around every zone that is active and forbids the cruise altitude, each
zone grown by a safety margin.

Algorithm
---------
1. Each relevant zone is grown by the margin (`missions.airspace.grow_hull`: mitre joins, so
   the *hull* contains the exact round offset; a leg that does not intersect it is at least
   ``margin_m`` from the zone). The graph's nodes are the convex vertices of the hulls moved
   ``NODE_OFFSET_M`` (1 mm) outwards along their bisectors: legs that touch a node never touch
   a hull, so "leg intersects a hull" is the whole legality test.
2. If the straight segment is clear, that is the route (fast path).
3. Otherwise A* (heapq, Euclidean heuristic) on the *reduced* visibility graph: from a node
   only the nodes whose supporting line is tangent at both ends are candidates (a shortest path
   bends only at convex vertices, tangentially), computed vectorised with numpy; each candidate
   leg is checked lazily, when popped from the heap, against only the hulls a shapely
   ``STRtree`` returns for it.
4. The search runs in rounds over the nodes inside the ellipse ``|sp| + |pg| <= C`` for
   growing bounds ``C`` (1.02, 1.1, 1.4 and 2.5 times the straight distance, then all nodes). A
   path no longer than ``C`` found in a round is the global optimum: every path of length
   ``<= C`` lies inside that ellipse, and legs are always checked against every hull.
   This is exact: the tests compare it with Dijkstra (networkx) on the full visibility graph.
5. When the first round fails, the connected free regions are computed once per obstacle set
   (union of the hulls and its holes), so that an enclosed start or goal is reported quickly as
   unreachable instead of by exhausting the graph.

Prepared obstacles are cached on the `Airspace` per (frame, margin, set of zones), so the
second query on the same airspace costs only the search.

Examples
--------
>>> from missions.airspace import Airspace
>>> fc = {"type": "FeatureCollection", "features": [
...   {"type": "Feature", "geometry": {"type": "Point", "coordinates": [110.8405, -6.8048]},
...    "properties": {"name": "Alun-alun", "kind": "event", "radius_m": 300}}]}
>>> a = Airspace.from_geojson(fc)
>>> r = plan_route((-6.8048, 110.8305), (-6.8048, 110.8505), a)
>>> len(r.waypoints) > 2, r.length_m > distance_m(-6.8048, 110.8305, -6.8048, 110.8505)
(True, True)
>>> [w.alt_m for w in r.waypoints][:2]
[60.0, 60.0]
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString, Point, Polygon
from shapely.geometry.polygon import orient
from shapely.geometry.base import BaseGeometry

from missions.airspace import NODE_OFFSET_M, Airspace, Zone, _nearest_outside, _require_aware
from missions.errors import AltitudeError, NoRouteError
from missions.geodesy import LocalFrame, bearing_deg, check_latlon, distance_m

__all__ = ["Waypoint", "Leg", "Route", "plan_route", "DEFAULT_MARGIN_M", "DEFAULT_CRUISE_ALT_M", "START_POLICIES"]

DEFAULT_MARGIN_M = 50.0
DEFAULT_CRUISE_ALT_M = 60.0
#: Values of `plan_route`'s ``start_policy``: what to do when the start is not a legal point.
START_POLICIES: tuple[str, ...] = ("strict", "escape", "escape_zone")

# Pops of the A* heap after which the free regions are computed to detect enclosure early.
_ENCLOSURE_CHECK_AFTER_POPS = 3000
# Relative tolerance of the tangency test (sine of the angle); permissive on purpose: an extra
# candidate costs a little time, a missing one could cost optimality.
_TANGENT_TOL = 1e-9


@dataclass(frozen=True)
class Waypoint:
    """A point of a route.

    Attributes
    ----------
    lat_deg, lon_deg : float
        WGS84 degrees.
    alt_m : float
        Altitude relative to home (the take-off point), metres.
    """

    lat_deg: float
    lon_deg: float
    alt_m: float


@dataclass(frozen=True)
class Leg:
    """One straight piece of a route.

    Attributes
    ----------
    start, end : Waypoint
    kind : str
        ``"climb"`` and ``"descend"`` are vertical (same position), ``"cruise"`` is horizontal.
    horizontal_m : float
        Geodesic length, metres.
    vertical_m : float
        Signed altitude change, metres (positive = up).
    bearing_deg : float or None
        Initial azimuth of a cruise leg; None for vertical legs.
    """

    start: Waypoint
    end: Waypoint
    kind: str
    horizontal_m: float
    vertical_m: float
    bearing_deg: float | None


@dataclass(frozen=True)
class Route:
    """A legal route from a base to a target.

    Attributes
    ----------
    waypoints : tuple of Waypoint
        The start at cruise altitude (the vehicle climbs vertically there from the ground, or
        from ``start_alt_m`` when airborne), the exit point when the start was inside a zone's
        margin and ``start_policy`` let the route leave it (see ``escaped``), every turning point
        at cruise altitude, the target at cruise altitude, and the target at on-scene altitude
        when that differs.
    legs : tuple of Leg
        The climb at the start (from the ground, alt 0, or from ``start_alt_m``, to cruise
        altitude; none when an airborne start is already at cruise altitude), the cruise legs,
        and the descent (or climb) at the target to on-scene altitude.
    length_m : float
        Horizontal geodesic length of the cruise legs, metres.
    margin_m, cruise_alt_m, onscene_alt_m : float
        As planned.
    avoided : tuple of str
        Names of the zones the route bends around.
    frame : LocalFrame
        The plane the route was planned in.
    escaped : tuple of str
        Names of the zones whose margin (or, with ``start_policy="escape_zone"``, interior) the
        start lay in: the first cruise leg is then the shortest way out, and only that leg comes
        closer than the margin to them. Empty for an ordinary route.
    """

    waypoints: tuple[Waypoint, ...]
    legs: tuple[Leg, ...]
    length_m: float
    margin_m: float
    cruise_alt_m: float
    onscene_alt_m: float
    avoided: tuple[str, ...] = ()
    frame: LocalFrame | None = field(default=None, compare=False)
    escaped: tuple[str, ...] = ()

    @property
    def climb_m(self) -> float:
        """Total altitude gained, metres."""
        return sum(leg.vertical_m for leg in self.legs if leg.vertical_m > 0)

    @property
    def descent_m(self) -> float:
        """Total altitude lost, metres (positive)."""
        return -sum(leg.vertical_m for leg in self.legs if leg.vertical_m < 0)

    def to_linestring(self) -> LineString:
        """The route as a 3-D shapely ``LineString`` of (lon, lat, alt_m)."""
        pts = [(w.lon_deg, w.lat_deg, w.alt_m) for w in self.waypoints]
        if len(pts) == 1:
            pts = pts * 2
        return LineString(pts)

    def to_geojson(self) -> dict[str, Any]:
        """The route as a GeoJSON ``Feature`` (LineString of [lon, lat, alt_m]).

        Examples
        --------
        >>> from missions.airspace import Airspace
        >>> r = plan_route((-6.80, 110.84), (-6.81, 110.85), Airspace())
        >>> f = r.to_geojson()
        >>> f["geometry"]["type"], len(f["geometry"]["coordinates"]), f["properties"]["length_m"] > 0
        ('LineString', 2, True)
        """
        return {
            "type": "Feature",
            "geometry": {
                "type": "LineString",
                "coordinates": [[w.lon_deg, w.lat_deg, w.alt_m] for w in self.waypoints],
            },
            "properties": {
                "length_m": self.length_m,
                "margin_m": self.margin_m,
                "cruise_alt_m": self.cruise_alt_m,
                "onscene_alt_m": self.onscene_alt_m,
                "avoided": list(self.avoided),
                "escaped": list(self.escaped),
            },
        }


# --------------------------------------------------------------------------------------------
# Prepared obstacles
# --------------------------------------------------------------------------------------------


@dataclass
class _Obstacles:
    frame: LocalFrame
    margin_m: float
    zone_ids: tuple[int, ...]  # airspace.zones indices that are obstacles
    hulls: list[BaseGeometry]  # one geometry per obstacle zone
    hull_zone: np.ndarray  # hull -> airspace zone index
    tree: shapely.STRtree | None
    pts: np.ndarray  # (V, 2) node coordinates
    prev: np.ndarray  # (V, 2) previous vertex on the ring
    nxt: np.ndarray  # (V, 2) next vertex on the ring
    node_zone: np.ndarray  # (V,) airspace zone index
    regions: list[tuple[float, Polygon]] | None = None  # holes of the hull union (lazy)

    def blocked(self, a: np.ndarray, b: np.ndarray) -> bool:
        if self.tree is None:
            return False
        return bool(self.tree.query(LineString([a, b]), predicate="intersects").size)

    def hulls_hit(self, geom: BaseGeometry) -> list[int]:
        if self.tree is None:
            return []
        return [int(i) for i in self.tree.query(geom, predicate="intersects")]

    def region_of(self, p: Point) -> int:
        """Index of the innermost hole of the hull union containing ``p`` (-1: the outside)."""
        if self.regions is None:
            union = shapely.union_all(self.hulls) if self.hulls else Polygon()
            parts = getattr(union, "geoms", [union])
            regions = []
            for poly in parts:
                for ring in getattr(poly, "interiors", []):
                    hole = Polygon(ring)
                    regions.append((hole.area, hole))
            self.regions = regions
        best, best_area = -1, math.inf
        for i, (area, hole) in enumerate(self.regions):
            if area < best_area and hole.contains(p):
                best, best_area = i, area
        return best


def _hull_nodes(hulls: list[BaseGeometry], zone_of: np.ndarray) -> tuple[np.ndarray, ...]:
    """Route nodes of the given hulls, vectorised over all their rings.

    Every ring is oriented with the obstacle on its left and each vertex moved outwards along its
    bisector by ``NODE_OFFSET_M``; the nodes are the convex vertices (so each node is exactly
    that far from its hull, however sharp the corner).

    Returns
    -------
    pts, prev, nxt : (V, 2) arrays
        Nodes and their neighbours on the offset ring (for the tangency test).
    zone : (V,) int array
        The zone each node belongs to.
    """
    empty = (np.zeros((0, 2)), np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0, dtype=np.int64))
    if not hulls:
        return empty
    parts, part_of = shapely.get_parts(np.asarray(hulls, dtype=object), return_index=True)
    parts = shapely.orient_polygons(parts, exterior_cw=False)  # shells CCW, holes CW
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    if len(rings) == 0:
        return empty
    coords, ring_of = shapely.get_coordinates(rings, return_index=True)
    counts = np.bincount(ring_of, minlength=len(rings))
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    local = np.arange(len(coords)) - first[ring_of]
    keep = local < (counts[ring_of] - 1)  # drop each ring's closing coordinate
    V = coords[keep]
    rid = ring_of[keep]
    n = counts[rid] - 1
    loc = local[keep]
    idx = np.arange(len(V))
    prev_i = np.where(loc == 0, idx + n - 1, idx - 1)
    next_i = np.where(loc == n - 1, idx - (n - 1), idx + 1)
    e1 = V - V[prev_i]
    e2 = V[next_i] - V
    l1 = np.maximum(np.hypot(e1[:, 0], e1[:, 1]), 1e-300)
    l2 = np.maximum(np.hypot(e2[:, 0], e2[:, 1]), 1e-300)
    n1 = np.column_stack([e1[:, 1], -e1[:, 0]]) / l1[:, None]  # outward = right of travel
    n2 = np.column_stack([e2[:, 1], -e2[:, 0]]) / l2[:, None]
    # Along the outer bisector by exactly NODE_OFFSET_M: for a convex vertex that is the distance
    # to the hull (the vertex is the nearest point), however sharp the corner.
    u = n1 + n2
    lu = np.hypot(u[:, 0], u[:, 1])
    u = np.where(lu[:, None] > 1e-12, u / np.maximum(lu, 1e-300)[:, None], n1)
    M = V + NODE_OFFSET_M * u
    cross = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    convex = cross > 1e-12 * l1 * l2
    zone = zone_of[part_of[ring_part[rid]]]
    return M[convex], M[prev_i][convex], M[next_i][convex], zone[convex].astype(np.int64)


def _prepare(airspace: Airspace, frame: LocalFrame, margin_m: float, zone_ids: tuple[int, ...]) -> _Obstacles:
    key = ("route", frame, float(margin_m), zone_ids)
    hit = airspace._cache.get(key)
    if hit is not None:
        return hit  # type: ignore[no-any-return]
    if zone_ids:
        grown = airspace.grown(frame, margin_m)
        hulls = [grown.hulls[i] for i in zone_ids]
        tree = grown.tree if len(zone_ids) == len(airspace.zones) else shapely.STRtree(hulls)
        hull_zone = np.asarray(zone_ids, dtype=np.int64)
        P, A, B, Z = _hull_nodes(hulls, hull_zone)
        # Nodes inside another zone's hull are not in free space. Only overlapping hulls can
        # hide nodes (a leg from a hidden node would be rejected anyway: this is for speed).
        pairs = tree.query(np.asarray(hulls, dtype=object), predicate="intersects")
        overlapping = np.unique(hull_zone[pairs[0][pairs[0] != pairs[1]]])
        if overlapping.size and len(P):
            cand = np.flatnonzero(np.isin(Z, overlapping))
            hit_idx = tree.query(shapely.points(P[cand]), predicate="intersects")
            bad = np.zeros(len(P), dtype=bool)
            bad[cand[hit_idx[0]]] = True
            P, A, B, Z = P[~bad], A[~bad], B[~bad], Z[~bad]
    else:
        hulls, tree, hull_zone = [], None, np.zeros(0, dtype=np.int64)
        P = A = B = np.zeros((0, 2))
        Z = np.zeros(0, dtype=np.int64)
    ob = _Obstacles(frame, margin_m, zone_ids, hulls, hull_zone, tree, P, A, B, Z)
    # bounded cache: a dispatcher uses a handful of (margin, time-window) combinations
    route_keys = [k for k in airspace._cache if isinstance(k, tuple) and k[0] == "route"]
    if len(route_keys) >= 16:
        airspace._cache.pop(route_keys[0], None)
    airspace._cache[key] = ob
    return ob


# --------------------------------------------------------------------------------------------
# Search
# --------------------------------------------------------------------------------------------

# Successive bounds on the path length, as multiples of the straight distance. A round only
# uses the nodes inside the ellipse {p : |sp| + |pg| <= C}; if it finds a path no longer than
# C, that path is the global optimum (any path of length <= C lies inside the ellipse, and legs
# are always checked against every hull), otherwise the next round widens the ellipse.
_ELLIPSE_FACTORS = (1.02, 1.1, 1.4, 2.5)


def _search(ob: _Obstacles, s: np.ndarray, g: np.ndarray) -> list[int] | None:
    """Exact shortest path; returns node indices into ``ob.pts`` with -1 = start, -2 = goal."""
    V = len(ob.pts)
    if V == 0:
        return None
    L0 = float(np.hypot(*(g - s)))
    ds = np.hypot(ob.pts[:, 0] - s[0], ob.pts[:, 1] - s[1])
    dg = np.hypot(ob.pts[:, 0] - g[0], ob.pts[:, 1] - g[1])
    span = ds + dg
    last_count = -1
    regions_checked = ob.regions is not None  # known free regions: check them at once
    if regions_checked and ob.region_of(Point(s)) != ob.region_of(Point(g)):
        return None
    for factor in (*_ELLIPSE_FACTORS, None):
        if factor is None:
            sub = np.arange(V)
            limit = math.inf
        else:
            limit = L0 * factor
            sub = np.flatnonzero(span <= limit)
            if len(sub) == last_count:
                continue
        last_count = len(sub)
        found = _astar(ob, sub, s, g, dg[sub], limit, exhaustive=factor is None)
        if found is not None:
            return found
        if not regions_checked:
            # After the first failed round: an end enclosed by zones is unreachable, and finding
            # that out from the free regions is much cheaper than widening the search to all.
            regions_checked = True
            if ob.region_of(Point(s)) != ob.region_of(Point(g)):
                return None
    return None


def _astar(
    ob: _Obstacles, sub: np.ndarray, s: np.ndarray, g: np.ndarray, hX: np.ndarray, limit: float, exhaustive: bool
) -> list[int] | None:
    """A* over nodes ``sub`` (plus start/goal), lazily checking legs; entries with f > limit
    are dropped. Returns a path of global node indices (-1 start, -2 goal) or None."""
    n = len(sub)
    S, G = n, n + 1
    X = ob.pts[sub]
    ea = ob.prev[sub] - X
    eb = ob.nxt[sub] - X
    ea /= np.maximum(np.hypot(ea[:, 0], ea[:, 1]), 1e-300)[:, None]
    eb /= np.maximum(np.hypot(eb[:, 0], eb[:, 1]), 1e-300)[:, None]
    P = np.vstack([X, s[None, :], g[None, :]])
    closed = np.zeros(n + 2, dtype=bool)
    parent = np.full(n + 2, -1, dtype=np.int64)
    heap: list[tuple[float, float, int, int]] = [(float(np.hypot(*(g - s))), 0.0, S, -1)]
    pops = 0
    checked_regions = False
    limit_tol = limit * (1.0 + 1e-12)
    while heap:
        _f, gu, u, par = heapq.heappop(heap)
        if closed[u]:
            continue
        pops += 1
        if exhaustive and not checked_regions and pops > _ENCLOSURE_CHECK_AFTER_POPS:
            checked_regions = True
            if ob.region_of(Point(s)) != ob.region_of(Point(g)):
                return None
        if par >= 0 and ob.blocked(P[par], P[u]):
            continue
        closed[u] = True
        parent[u] = par
        if u == G:
            break
        pu = P[u]
        ua, ub = (ea[u], eb[u]) if u < n else (None, None)
        # the goal: tangency only at u
        if not closed[G]:
            dgoal = g - pu
            if ua is None or _supports(dgoal[None, :], ua, ub)[0]:
                fg = gu + float(np.hypot(*dgoal))
                if fg <= limit_tol:
                    heapq.heappush(heap, (fg, fg, G, u))
        if n == 0:
            continue
        d = X - pu
        dist = np.hypot(d[:, 0], d[:, 1])
        fv = gu + dist + hX
        ok = (fv <= limit_tol) & ~closed[:n] & (dist > 1e-9)
        idx = np.flatnonzero(ok)
        if idx.size == 0:
            continue
        dd = d[idx] / dist[idx, None]
        # tangent at the far end: both ring neighbours of v on one side of the line u-v
        sa = dd[:, 0] * ea[idx, 1] - dd[:, 1] * ea[idx, 0]
        sb = dd[:, 0] * eb[idx, 1] - dd[:, 1] * eb[idx, 0]
        keep = ~(((sa < -_TANGENT_TOL) & (sb > _TANGENT_TOL)) | ((sa > _TANGENT_TOL) & (sb < -_TANGENT_TOL)))
        if ua is not None:
            keep &= _supports(dd, ua, ub)
        idx = idx[keep]
        for fi, gi, vi in zip(fv[idx].tolist(), (gu + dist[idx]).tolist(), idx.tolist(), strict=True):
            heapq.heappush(heap, (fi, gi, vi, u))
    if not closed[G]:
        return None
    path = [G]
    while path[-1] != S:
        path.append(int(parent[path[-1]]))
    path.reverse()
    return [-1 if k == S else -2 if k == G else int(sub[k]) for k in path]


def _supports(dd: np.ndarray, ua: np.ndarray, ub: np.ndarray) -> np.ndarray:
    """Directions ``dd`` (unit rows) leaving a node whose ring neighbours are along unit vectors
    ``ua``/``ub``: True where both neighbours are on one side (the leg is tangent there)."""
    sa = dd[:, 0] * ua[1] - dd[:, 1] * ua[0]
    sb = dd[:, 0] * ub[1] - dd[:, 1] * ub[0]
    return ~(((sa < -_TANGENT_TOL) & (sb > _TANGENT_TOL)) | ((sa > _TANGENT_TOL) & (sb < -_TANGENT_TOL)))


# --------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------


def _fmt(p: tuple[float, float]) -> str:
    return f"({p[0]:.6f}, {p[1]:.6f})"


def _point_problem(
    airspace: Airspace,
    zone_ids: Sequence[int],
    frame: LocalFrame,
    p_xy: np.ndarray,
    margin_m: float,
) -> Zone | None:
    """Return the zone (among ``zone_ids``) whose grown hull contains the point, if any."""
    if not zone_ids:
        return None
    grown = airspace.grown(frame, margin_m)
    allowed = set(zone_ids)
    hits = sorted(int(i) for i in grown.tree.query(Point(p_xy), predicate="intersects") if int(i) in allowed)
    return airspace.zones[hits[0]] if hits else None


def _endpoint_error(
    airspace: Airspace,
    frame: LocalFrame,
    zone: Zone,
    which: str,
    p: tuple[float, float],
    p_xy: np.ndarray,
    margin_m: float,
    policy: str = "strict",
) -> NoRouteError:
    inside = airspace.xy(frame).geoms[airspace.zones.index(zone)].intersects(Point(p_xy))
    where = "inside" if inside else f"within the {margin_m:g} m safety margin of"
    if which == "goal":
        hint = " (use Airspace.nearest_flyable to observe from the edge)"
    elif inside and policy != "escape_zone":
        hint = " (a drone already there can leave it by the shortest way with start_policy='escape_zone')"
    elif not inside and policy == "strict":
        hint = " (a drone already there can leave the margin by the shortest way with start_policy='escape')"
    else:
        hint = ""
    return NoRouteError(
        f"no route: the {which} {_fmt(p)} is {where} {zone.describe()}{hint}",
        reason=f"{which}_in_zone",
        zone=zone.name,
    )


def plan_route(
    start: tuple[float, float],
    goal: tuple[float, float],
    airspace: Airspace,
    *,
    margin_m: float = DEFAULT_MARGIN_M,
    cruise_alt_m: float = DEFAULT_CRUISE_ALT_M,
    onscene_alt_m: float | None = None,
    at: datetime | None = None,
    until: datetime | None = None,
    frame: LocalFrame | None = None,
    start_alt_m: float | None = None,
    start_policy: str = "strict",
) -> Route:
    """Plan the shortest legal route from ``start`` to ``goal``.

    Parameters
    ----------
    start, goal : (lat_deg, lon_deg)
        The base (or where an airborne drone is) and the target, WGS84 degrees.
    airspace : Airspace
        Zones, and the altitude cap.
    margin_m : float
        Safety margin kept around every zone, metres (default 50).
    cruise_alt_m : float
        Cruise altitude above home, metres (default 60). Zones whose floor/ceiling range does
        not contain it are not obstacles.
    onscene_alt_m : float, optional
        Altitude at the target (default: the cruise altitude).
    at : datetime, optional
        Timezone-aware time of the flight (default now): only zones active then count.
    until : datetime, optional
        End of the flight: zones active at any moment of ``[at, until]`` count.
    frame : LocalFrame, optional
        Plane to plan in; default the airspace's frame (or one centred on start and goal when
        they are far from it).
    start_alt_m : float, optional
        None (default): the start is on the ground (a base); the route climbs there from 0 to
        cruise altitude, so every zone forbidding an altitude in ``[0, cruise_alt_m]`` counts at
        the start. A number: the drone is already airborne at this altitude above home (a
        redirect); only zones forbidding an altitude between it and ``cruise_alt_m`` count at
        the start, and the first leg changes altitude from it to cruise altitude (no such leg
        when they are equal).
    start_policy : {"strict", "escape", "escape_zone"}
        What to do when the start lies inside a zone or its margin (the default is the same as
        for the goal):

        * ``"strict"`` (default): raise `NoRouteError` (``reason="start_in_zone"``);
        * ``"escape"``: for a drone already flying that drifted into a margin (GPS drift near
          an edge): the first cruise leg leaves the margin by the shortest way (to the nearest
          point outside every grown zone), then the route continues as usual from there. A
          start inside a zone itself still raises: a violation has already happened;
        * ``"escape_zone"``: as ``"escape"``, and also from inside a zone (ask for it
          explicitly): the first leg is the shortest exit from the zone and its margin.

        The exit leg may cross only the zones the start is inside; if the shortest way out
        would cross another zone, `NoRouteError` (``reason="start_in_zone"``) is raised.
        ``Route.escaped`` names the zones left this way. The exit is chosen for safety (the
        least time inside the margin), not for the goal's direction: in a gap between two
        zones whose margins overlap it may leave on the side away from the goal.

    Returns
    -------
    Route

    Raises
    ------
    AltitudeError
        If ``cruise_alt_m`` or ``onscene_alt_m`` is not positive or above ``airspace.max_alt_m``.
    NoRouteError
        ``reason="start_in_zone"`` / ``"goal_in_zone"`` (message names the zone) when an end lies
        inside a zone or its margin (see ``start_policy``); ``reason="unreachable"`` when the
        goal cannot be reached (enclosed by zones).
    ValueError
        For coordinates out of range, a negative margin or start altitude, an unknown
        ``start_policy`` or a naive datetime.

    Examples
    --------
    >>> from missions.airspace import Airspace
    >>> r = plan_route((-6.8048, 110.8405), (-6.7550, 111.0380), Airspace(), cruise_alt_m=80.0)
    >>> round(r.length_m), [w.alt_m for w in r.waypoints]
    (22517, [80.0, 80.0])
    >>> plan_route((-6.8, 110.8), (-6.7, 110.9), Airspace(), cruise_alt_m=150.0)
    Traceback (most recent call last):
    ...
    missions.errors.AltitudeError: cruise_alt_m 150.0 m is above the airspace maximum of 120.0 m

    A drone flying 20 m inside the 50 m margin of a zone leaves it first:

    >>> fc = {"type": "FeatureCollection", "features": [
    ...   {"type": "Feature", "geometry": {"type": "Point", "coordinates": [110.8405, -6.8048]},
    ...    "properties": {"name": "Lapas", "kind": "prison", "radius_m": 300}}]}
    >>> a = Airspace.from_geojson(fc)
    >>> from missions.geodesy import destination
    >>> here = destination(-6.8048, 110.8405, 0.0, 330.0)
    >>> plan_route(here, (-6.7900, 110.8405), a, start_alt_m=60.0).length_m
    Traceback (most recent call last):
    ...
    missions.errors.NoRouteError: no route: the start (-6.801816, 110.840500) is within the 50 m safety margin of prison zone 'Lapas' (a drone already there can leave the margin by the shortest way with start_policy='escape')
    >>> r = plan_route(here, (-6.7900, 110.8405), a, start_alt_m=60.0, start_policy="escape")
    >>> r.escaped, round(r.legs[0].horizontal_m, 1)
    (('Lapas',), 20.4)
    """
    check_latlon(start[0], start[1], "start")
    check_latlon(goal[0], goal[1], "goal")
    start = (float(start[0]), float(start[1]))
    goal = (float(goal[0]), float(goal[1]))
    if not math.isfinite(margin_m) or margin_m < 0.0:
        raise ValueError(f"margin_m must be a finite number >= 0, got {margin_m!r}")
    if start_policy not in START_POLICIES:
        raise ValueError(f"start_policy must be one of {', '.join(START_POLICIES)}, got {start_policy!r}")
    if start_alt_m is not None and (not math.isfinite(start_alt_m) or start_alt_m < 0.0):
        raise ValueError(f"start_alt_m must be a finite number of metres >= 0, got {start_alt_m!r}")
    onscene = cruise_alt_m if onscene_alt_m is None else onscene_alt_m
    for name, alt in (("cruise_alt_m", cruise_alt_m), ("onscene_alt_m", onscene)):
        if not math.isfinite(alt) or alt <= 0.0:
            raise AltitudeError(f"{name} must be a positive number of metres, got {alt!r}")
        if alt > airspace.max_alt_m:
            raise AltitudeError(f"{name} {alt} m is above the airspace maximum of {airspace.max_alt_m} m")
    t = _require_aware(at)
    t_end = None if until is None else _require_aware(until, "until")
    frame = frame if frame is not None else airspace.frame_for(start, goal)
    active = [i for i, z in enumerate(airspace.zones) if z.is_active(t, t_end)]
    obstacle_ids = tuple(i for i in active if airspace.zones[i].applies_at(cruise_alt_m))
    alt0 = 0.0 if start_alt_m is None else float(start_alt_m)
    s_lo, s_hi = min(alt0, cruise_alt_m), max(alt0, cruise_alt_m)
    start_ids = [i for i in active if airspace.zones[i].applies_between(s_lo, s_hi)]
    lo, hi = min(cruise_alt_m, onscene), max(cruise_alt_m, onscene)
    goal_ids = [i for i in active if airspace.zones[i].applies_between(lo, hi)]

    s_xy = np.array(frame.to_xy(*start), dtype=float)
    g_xy = np.array(frame.to_xy(*goal), dtype=float)
    z = _point_problem(airspace, start_ids, frame, s_xy, margin_m)
    exit_xy: np.ndarray | None = None
    escaped: tuple[str, ...] = ()
    if z is not None:
        if start_policy == "strict":
            raise _endpoint_error(airspace, frame, z, "start", start, s_xy, margin_m, start_policy)
        exit_xy, escaped = _escape(airspace, frame, start, s_xy, margin_m, start_ids, obstacle_ids, start_policy)
    z = _point_problem(airspace, goal_ids, frame, g_xy, margin_m)
    if z is not None:
        raise _endpoint_error(airspace, frame, z, "goal", goal, g_xy, margin_m)

    ob = _prepare(airspace, frame, margin_m, obstacle_ids)
    head: list[np.ndarray] = []
    if exit_xy is not None and not np.array_equal(exit_xy, s_xy):
        head, s_xy = [s_xy], exit_xy  # the exit leg, then an ordinary route from the exit point
    if float(np.hypot(*(g_xy - s_xy))) < 1e-9 or not ob.blocked(s_xy, g_xy):
        path_xy = [*head, s_xy, g_xy]
        node_path: list[int] = []
    else:
        node_path_opt = _search(ob, s_xy, g_xy)
        if node_path_opt is None:
            raise _unreachable(airspace, ob, start, goal, s_xy, g_xy)
        node_path = node_path_opt
        path_xy = [*head, *(s_xy if n == -1 else g_xy if n == -2 else ob.pts[n] for n in node_path)]

    inner = [n for n in node_path if n >= 0]
    avoided = tuple(dict.fromkeys(airspace.zones[int(ob.node_zone[n])].name for n in inner))
    return _build_route(
        path_xy, frame, start, goal, margin_m, cruise_alt_m, onscene, avoided, start_alt_m=start_alt_m, escaped=escaped
    )


def _escape(
    airspace: Airspace,
    frame: LocalFrame,
    start: tuple[float, float],
    s_xy: np.ndarray,
    margin_m: float,
    start_ids: Sequence[int],
    obstacle_ids: Sequence[int],
    policy: str,
) -> tuple[np.ndarray, tuple[str, ...]]:
    """The exit point of a start inside zones' margins (``start_policy`` escape/escape_zone).

    Returns the nearest point outside every obstacle's grown hull (``s_xy`` itself when the
    start is only in the margin of zones that do not forbid the cruise altitude: the altitude
    change at the start leaves them) and the names of the zones whose margin holds the start.
    """
    p = Point(s_xy)
    xy = airspace.xy(frame)
    grown = airspace.grown(frame, margin_m)
    band = set(start_ids)
    in_margin = sorted(int(i) for i in grown.tree.query(p, predicate="intersects") if int(i) in band)
    in_zone = sorted(int(i) for i in xy.tree.query(p, predicate="intersects") if int(i) in band)
    if in_zone and policy != "escape_zone":
        raise _endpoint_error(airspace, frame, airspace.zones[in_zone[0]], "start", start, s_xy, margin_m, policy)
    names = tuple(airspace.zones[i].name for i in in_margin)
    obstacles = set(obstacle_ids)
    inside = [i for i in in_margin if i in obstacles]
    if not inside:
        return s_xy, names
    q = _nearest_outside(grown, inside, obstacles, p)
    leg = LineString([s_xy, (q.x, q.y)])
    crossed = sorted(
        int(i) for i in xy.tree.query(leg, predicate="intersects") if int(i) in obstacles and int(i) not in in_zone
    )
    if crossed:
        z = airspace.zones[crossed[0]]
        raise NoRouteError(
            f"no route: the start {_fmt(start)} is within the {margin_m:g} m safety margin of "
            f"{airspace.zones[inside[0]].describe()} and the shortest way out crosses {z.describe()}",
            reason="start_in_zone",
            zone=airspace.zones[inside[0]].name,
        )
    return np.array([q.x, q.y], dtype=float), names


def _unreachable(
    airspace: Airspace, ob: _Obstacles, start: tuple[float, float], goal: tuple[float, float], s_xy: np.ndarray, g_xy: np.ndarray
) -> NoRouteError:
    rs, rg = ob.region_of(Point(s_xy)), ob.region_of(Point(g_xy))
    enclosed_xy, which = (g_xy, "goal") if rg != -1 else (s_xy, "start")
    if rs == rg == -1:
        names: list[str] = []
    else:
        # zones whose hulls form the ring around the enclosed end
        region = ob.regions[rg if rg != -1 else rs][1] if ob.regions is not None else None
        ring = region.buffer(1.0) if region is not None else Point(enclosed_xy)
        names = list(dict.fromkeys(airspace.zones[int(ob.hull_zone[i])].name for i in ob.hulls_hit(ring.boundary)))
    by = f" by {', '.join(repr(n) for n in names)}" if names else ""
    p = goal if which == "goal" else start
    return NoRouteError(
        f"no route: the {which} {_fmt(p)} is enclosed{by} (with the {ob.margin_m:g} m margin); "
        "the goal is unreachable",
        reason="unreachable",
        zone=names[0] if names else None,
    )


def _build_route(
    path_xy: Sequence[np.ndarray],
    frame: LocalFrame,
    start: tuple[float, float],
    goal: tuple[float, float],
    margin_m: float,
    cruise_alt_m: float,
    onscene_alt_m: float,
    avoided: tuple[str, ...],
    *,
    start_alt_m: float | None = None,
    escaped: tuple[str, ...] = (),
) -> Route:
    xy = np.asarray(path_xy, dtype=float)
    lat, lon = frame.to_latlon(xy[:, 0], xy[:, 1])
    lat = np.atleast_1d(lat).astype(float)
    lon = np.atleast_1d(lon).astype(float)
    lat[0], lon[0] = start
    lat[-1], lon[-1] = goal
    if len(lat) == 2 and start == goal:
        lat, lon = lat[:1], lon[:1]
    seg = distance_m(lat[:-1], lon[:-1], lat[1:], lon[1:]) if len(lat) > 1 else np.zeros(0)
    brg = bearing_deg(lat[:-1], lon[:-1], lat[1:], lon[1:]) if len(lat) > 1 else np.zeros(0)
    seg = np.atleast_1d(seg)
    brg = np.atleast_1d(brg)
    wps = [Waypoint(float(a), float(o), float(cruise_alt_m)) for a, o in zip(lat, lon, strict=True)]
    alt0 = 0.0 if start_alt_m is None else float(start_alt_m)
    legs: list[Leg] = []
    if alt0 != cruise_alt_m:  # from the ground at a base, or from where an airborne drone is
        first = Waypoint(wps[0].lat_deg, wps[0].lon_deg, alt0)
        kind = "climb" if alt0 < cruise_alt_m else "descend"
        legs.append(Leg(first, wps[0], kind, 0.0, float(cruise_alt_m - alt0), None))
    for k in range(len(wps) - 1):
        legs.append(Leg(wps[k], wps[k + 1], "cruise", float(seg[k]), 0.0, float(brg[k])))
    if onscene_alt_m != cruise_alt_m:
        last = Waypoint(wps[-1].lat_deg, wps[-1].lon_deg, float(onscene_alt_m))
        kind = "descend" if onscene_alt_m < cruise_alt_m else "climb"
        legs.append(Leg(wps[-1], last, kind, 0.0, float(onscene_alt_m - cruise_alt_m), None))
        wps.append(last)
    return Route(
        waypoints=tuple(wps),
        legs=tuple(legs),
        length_m=float(seg.sum()),
        margin_m=float(margin_m),
        cruise_alt_m=float(cruise_alt_m),
        onscene_alt_m=float(onscene_alt_m),
        avoided=avoided,
        frame=frame,
        escaped=escaped,
    )
