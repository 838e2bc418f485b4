"""Property-based tests of missions.routing over random zone sets.

For random circles and random (possibly non-convex, possibly overlapping) polygons, random
margins and random start/goal points:

* the route never comes closer than the margin (minus 1 cm) to any zone;
* it is never shorter than the straight line;
* its length equals, within 0.1 %, the shortest path found by Dijkstra (networkx) on a
  brute-force visibility graph built here independently: every vertex of every grown zone,
  every pair of nodes tested against every grown zone;
* it raises NoRouteError exactly when the brute force finds no path or an end is inside a zone.

The grown zones are defined as the library documents them (``missions.airspace.grow_hull``):
shapely mitre-joined buffer by the margin, mitre limit 2; route nodes 1 mm outside them.
"""

from __future__ import annotations

import math
from typing import Any

import networkx as nx
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point, Polygon

from missions import Airspace, LocalFrame, NoRouteError, distance_m, plan_route

CENTRE = (-6.80, 110.90)  # Kudus-Pati area
FRAME = LocalFrame(*CENTRE)


# ---- strategies ---------------------------------------------------------------------------------


@st.composite
def zone_features(draw: st.DrawFn, index: int) -> dict[str, Any]:
    x = draw(st.floats(-3000, 3000))
    y = draw(st.floats(-2500, 2500))
    name = f"z{index}"
    if draw(st.booleans()):
        r = draw(st.floats(80, 900))
        lat, lon = FRAME.to_latlon(x, y)
        return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
                "properties": {"name": name, "kind": "government", "radius_m": r}}  # fmt: skip
    n = draw(st.integers(3, 8))
    angles = sorted(draw(st.lists(st.floats(0, 2 * math.pi), min_size=n, max_size=n, unique=True)))
    radii = draw(st.lists(st.floats(60, 1200), min_size=n, max_size=n))
    xs = [x + r * math.cos(t) for r, t in zip(radii, angles, strict=True)]
    ys = [y + r * math.sin(t) for r, t in zip(radii, angles, strict=True)]
    poly = Polygon(zip(xs, ys, strict=True))
    assume(poly.is_valid and poly.area > 1000.0)
    lat, lon = FRAME.to_latlon(np.array(xs), np.array(ys))
    ring = [[float(a), float(b)] for a, b in zip(lon, lat, strict=True)]
    ring.append(ring[0])
    assume(Polygon(ring).is_valid)  # near-degenerate slivers may not survive the projection
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"name": name, "kind": "prison"}}  # fmt: skip


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Airspace, tuple[float, float], tuple[float, float], float]:
    n = draw(st.integers(1, 10))
    feats = [draw(zone_features(i)) for i in range(n)]
    a = Airspace.from_geojson({"type": "FeatureCollection", "features": feats})
    margin = draw(st.sampled_from([0.0, 20.0, 50.0, 80.0]))
    pts = []
    across = draw(st.booleans())  # half the time: ends on opposite sides of the zone field
    for side in (-1.0, 1.0):
        x = side * draw(st.floats(3500, 4500)) if across else draw(st.floats(-4500, 4500))
        y = draw(st.floats(-2500, 2500)) if across else draw(st.floats(-4500, 4500))
        lat, lon = FRAME.to_latlon(x, y)
        pts.append((float(lat), float(lon)))
    return a, pts[0], pts[1], margin


# ---- the independent reference ------------------------------------------------------------------


def project(geom: Any, frame: LocalFrame) -> Any:
    return shapely.transform(geom, lambda c: np.column_stack(frame.to_xy(c[:, 1], c[:, 0])))


class BruteGraph:
    """Full visibility graph over every vertex of every grown zone (built once per zone set)."""

    def __init__(self, zones_xy: list[Any], margin: float) -> None:
        self.hulls = [z.buffer(margin, join_style="mitre", mitre_limit=2.0) if margin > 0 else z for z in zones_xy]
        self.tree = shapely.STRtree(self.hulls)
        nodes: list[tuple[float, float]] = []
        for h in self.hulls:
            grown = h.buffer(1e-3, join_style="mitre", mitre_limit=2.0)
            for part in getattr(grown, "geoms", [grown]):
                for ring in [part.exterior, *part.interiors]:
                    nodes.extend(ring.coords[:-1])
        P = np.asarray(nodes, dtype=float).reshape(-1, 2)
        free = np.ones(len(P), dtype=bool)
        free[self.tree.query(shapely.points(P), predicate="intersects")[0]] = False
        self.P = P[free]
        i, j = np.triu_indices(len(self.P), k=1)
        self.G = nx.Graph()
        self.G.add_nodes_from(range(len(self.P)))
        self._connect(i, j)

    def _connect(self, i: np.ndarray, j: np.ndarray, P: np.ndarray | None = None, G: nx.Graph | None = None) -> None:
        P = self.P if P is None else P
        G = self.G if G is None else G
        if len(i) == 0:
            return
        segs = shapely.linestrings(np.stack([P[i], P[j]], axis=1))
        blocked = np.zeros(len(segs), dtype=bool)
        blocked[self.tree.query(segs, predicate="intersects")[0]] = True
        w = np.hypot(*(P[i] - P[j]).T)
        G.add_weighted_edges_from(zip(i[~blocked].tolist(), j[~blocked].tolist(), w[~blocked].tolist(), strict=True))

    def shortest(self, s: tuple[float, float], g: tuple[float, float]) -> tuple[str, float | None]:
        """('start'|'goal', None) if an end is inside a grown zone, ('none', None) if
        unreachable, else ('ok', length) from Dijkstra."""
        if self.tree.query(Point(s), predicate="intersects").size:
            return "start", None
        if self.tree.query(Point(g), predicate="intersects").size:
            return "goal", None
        n = len(self.P)
        P = np.vstack([self.P, [s, g]])
        G = self.G.copy()
        G.add_nodes_from([n, n + 1])
        k = np.arange(n + 1)
        self._connect(np.full(n + 1, n + 1), k, P, G)  # goal to every node and to the start
        self._connect(np.full(n, n), np.arange(n), P, G)  # start to every node
        try:
            return "ok", float(nx.dijkstra_path_length(G, n, n + 1))
        except nx.NetworkXNoPath:
            return "none", None


def brute_force(
    zones_xy: list[Any], s: tuple[float, float], g: tuple[float, float], margin: float
) -> tuple[str, float | None]:
    return BruteGraph(zones_xy, margin).shortest(s, g)


def near_boundary(zones_xy: list[Any], p: tuple[float, float], margin: float) -> bool:
    """Ends within 5 cm of a grown zone's boundary are numerically ambiguous: skip them."""
    pt = Point(p)
    for z in zones_xy:
        h = z.buffer(margin, join_style="mitre", mitre_limit=2.0) if margin > 0 else z
        if h.exterior.distance(pt) < 0.05 or any(r.distance(pt) < 0.05 for r in h.interiors if True):
            return True
        for part in getattr(h, "geoms", []):
            if part.boundary.distance(pt) < 0.05:
                return True
    return False


# ---- properties ---------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(scenarios())
def test_route_is_legal_and_equals_the_brute_force_shortest_path(
    scenario: tuple[Airspace, tuple[float, float], tuple[float, float], float],
) -> None:
    a, start, goal, margin = scenario
    frame = a.frame_for(start, goal)
    zones_xy = [project(z.geometry, frame) for z in a.zones]
    s_xy = frame.to_xy(*start)
    g_xy = frame.to_xy(*goal)
    assume(not near_boundary(zones_xy, s_xy, margin) and not near_boundary(zones_xy, g_xy, margin))
    expected, ref_len = brute_force(zones_xy, s_xy, g_xy, margin)
    event(f"reference: {expected}")

    if expected != "ok":
        with pytest.raises(NoRouteError) as err:
            plan_route(start, goal, a, margin_m=margin)
        want = {"start": "start_in_zone", "goal": "goal_in_zone", "none": "unreachable"}[expected]
        assert err.value.reason == want, str(err.value)
        return

    r = plan_route(start, goal, a, margin_m=margin)
    assert r.frame == frame
    lat = np.array([w.lat_deg for w in r.waypoints])
    lon = np.array([w.lon_deg for w in r.waypoints])
    xy = np.column_stack(frame.to_xy(lat, lon))
    line = LineString(xy) if len(xy) > 1 else Point(xy[0])
    for z in zones_xy:
        # never closer than the margin (minus 1 cm) to any zone
        assert line.distance(z) >= margin - 0.01
        if margin > 0.01:
            assert not line.intersects(z.buffer(margin - 0.01, quad_segs=32))
        else:
            assert not line.crosses(z) and not line.within(z)
    plane_len = float(np.hypot(*np.diff(xy, axis=0).T).sum())
    straight = math.dist(s_xy, g_xy)
    assert plane_len >= straight - 1e-6
    assert r.length_m >= float(distance_m(*start, *goal)) - 1e-6
    assert ref_len is not None
    event("detour" if len(xy) > 2 else "straight")
    assert plane_len == pytest.approx(ref_len, rel=1e-3)
    # in practice the two agree to well below a millimetre per kilometre
    assert abs(plane_len - ref_len) <= 1e-5 * ref_len + 0.01
    # altitudes: cruise everywhere, never above the cap
    assert all(w.alt_m == r.cruise_alt_m <= a.max_alt_m for w in r.waypoints)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(scenarios(), st.floats(0, 1))
def test_nearest_flyable_point_is_a_legal_goal(
    scenario: tuple[Airspace, tuple[float, float], tuple[float, float], float], frac: float
) -> None:
    """An incident anywhere (often inside a zone) -> its nearest flyable point is outside every
    grown zone, no farther than the nearest vertex-polygon boundary point, and routable as goal."""
    a, start, _, margin = scenario
    z0 = a.zones[0]
    c = z0.geometry.centroid
    lat, lon = float(c.y), float(c.x)
    p = a.nearest_flyable(lat, lon, margin_m=margin)
    frame = a.frame_for((lat, lon))
    q = Point(frame.to_xy(p.lat_deg, p.lon_deg))
    zones_xy = [project(z.geometry, frame) for z in a.zones]
    for z in zones_xy:
        assert q.distance(z) >= margin - 1e-6
    inc = Point(frame.to_xy(lat, lon))
    free_now = all(inc.distance(z) >= margin + 1e-3 for z in zones_xy)
    if free_now:
        assert not p.moved
    # a sample of candidate boundary points of the union: none is nearer
    union = shapely.union_all([z.buffer(margin + 2e-3, join_style="mitre", mitre_limit=2.0) if margin else z.buffer(2e-3) for z in zones_xy])
    sample = union.boundary.interpolate(frac, normalized=True)
    assert inc.distance(q) <= inc.distance(sample) + 0.01
    # and the router accepts it as a goal with the same margin (or reports a clear reason)
    try:
        plan_route(start, (p.lat_deg, p.lon_deg), a, margin_m=margin)
    except NoRouteError as err:
        assert err.reason in ("start_in_zone", "unreachable"), str(err)


@pytest.mark.parametrize("seed", [1, 2])
def test_dense_random_field_matches_the_brute_force(seed: int) -> None:
    """12 random zones in a 9 x 6 km field, ends on opposite sides: routes are detours."""
    rng = np.random.default_rng(seed)
    feats = []
    for k in range(12):
        lat, lon = FRAME.to_latlon(rng.uniform(-3500, 3500), rng.uniform(-2500, 2500))
        feats.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [float(lon), float(lat)]},
                      "properties": {"name": f"c{k}", "kind": "event", "radius_m": float(rng.uniform(150, 700))}})  # fmt: skip
    a = Airspace.from_geojson({"type": "FeatureCollection", "features": feats})
    frame = FRAME
    zones_xy = [project(z.geometry, frame) for z in a.zones]
    ref = BruteGraph(zones_xy, 50.0)
    done = detours = 0
    for _ in range(40):
        s_xy = (-4500.0, float(rng.uniform(-2500, 2500)))
        g_xy = (4500.0, float(rng.uniform(-2500, 2500)))
        expected, ref_len = ref.shortest(s_xy, g_xy)
        if expected != "ok":
            continue
        start = tuple(float(v) for v in frame.to_latlon(*s_xy))
        goal = tuple(float(v) for v in frame.to_latlon(*g_xy))
        r = plan_route(start, goal, a, margin_m=50.0, frame=frame)  # type: ignore[arg-type]
        xy = np.column_stack(frame.to_xy(np.array([w.lat_deg for w in r.waypoints]), np.array([w.lon_deg for w in r.waypoints])))
        plane_len = float(np.hypot(*np.diff(xy, axis=0).T).sum())
        assert ref_len is not None
        assert abs(plane_len - ref_len) <= 1e-5 * ref_len + 0.01
        line = LineString(xy)
        assert min(line.distance(z) for z in zones_xy) >= 50.0 - 0.01
        done += 1
        detours += len(xy) > 2
        if done == 6:
            break
    assert done == 6 and detours >= 3


@pytest.mark.parametrize("margin", [0.0, 30.0])
def test_a_sharp_spike_matches_the_brute_force(margin: float) -> None:
    """A 3-degree spike the route wraps around at its tip: nodes stay 1 mm from the tip, not
    several centimetres out along a mitre."""
    half = math.radians(1.5)
    xs = [0.0, -1200 * math.tan(half), 0.0, 1200 * math.tan(half)]
    ys = [1200.0, 0.0, -30.0, 0.0]
    lat, lon = FRAME.to_latlon(np.array(xs), np.array(ys))
    ring = [[float(b), float(a)] for a, b in zip(lat, lon, strict=True)]
    spike = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring + [ring[0]]]},
             "properties": {"name": "spike", "kind": "military"}}  # fmt: skip
    a = Airspace.from_geojson({"type": "FeatureCollection", "features": [spike]})
    zones_xy = [project(z.geometry, FRAME) for z in a.zones]
    ref = BruteGraph(zones_xy, margin)
    s_xy, g_xy = (-300.0, 800.0), (300.0, 800.0)
    expected, ref_len = ref.shortest(s_xy, g_xy)
    assert expected == "ok" and ref_len is not None
    start = tuple(float(v) for v in FRAME.to_latlon(*s_xy))
    goal = tuple(float(v) for v in FRAME.to_latlon(*g_xy))
    r = plan_route(start, goal, a, margin_m=margin, frame=FRAME)  # type: ignore[arg-type]
    xy = np.column_stack(FRAME.to_xy(np.array([w.lat_deg for w in r.waypoints]), np.array([w.lon_deg for w in r.waypoints])))
    assert len(xy) in (3, 4)  # over the tip (clipped into two corners when grown)
    plane_len = float(np.hypot(*np.diff(xy, axis=0).T).sum())
    assert abs(plane_len - ref_len) <= 0.005
    assert LineString(xy).distance(zones_xy[0]) >= margin - 0.01
