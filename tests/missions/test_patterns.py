"""Geometry of the flight patterns, and their clipping to airspace."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
import shapely
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, MultiPoint, Point, Polygon

from missions.airspace import Airspace
from missions.errors import AltitudeError, PatternError
from missions.geodesy import LocalFrame, bearing_deg, destination, distance_m
from missions.patterns import (
    OfficerFix,
    escort_along_route,
    escort_from_fixes,
    expanding_square,
    lawnmower,
    officer_motion,
    onscene_hold,
    orbit_item,
    orbit_waypoints,
)

KUDUS = (-6.8048, 110.8405)  # approximate town centre
F = LocalFrame(*KUDUS)
WIB = timezone(timedelta(hours=7))
NOON = datetime(2026, 8, 17, 12, 0, tzinfo=WIB)


def _circle_zone(name: str, x: float, y: float, radius_m: float, kind: str = "prison", **props: object) -> dict:
    lat, lon = F.to_latlon(x, y)
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [float(lon), float(lat)]},
        "properties": {"name": name, "kind": kind, "radius_m": radius_m, **props},
    }


def _airspace(*features: dict) -> Airspace:
    return Airspace.from_geojson({"type": "FeatureCollection", "features": list(features)})


def _xy(lat: float, lon: float) -> tuple[float, float]:
    x, y = F.to_xy(lat, lon)
    return float(x), float(y)


def _zone_xy(airspace: Airspace, name: str) -> Polygon:
    z = airspace.zone(name)
    ring = np.array(z.geometry.exterior.coords)
    x, y = F.to_xy(ring[:, 1], ring[:, 0])
    return Polygon(list(zip(x, y, strict=True)))


def _legs_xy(pattern) -> list[LineString]:
    pts = [_xy(w.lat_deg, w.lon_deg) for w in pattern.waypoints]
    return [LineString([a, b]) for a, b in zip(pts, pts[1:], strict=False)]


# ----------------------------------------------------------------------------- on-scene hold
def test_onscene_hold_over_a_flyable_incident() -> None:
    p = onscene_hold(*KUDUS, 60.0, hold_s=300.0)
    [w] = p.waypoints
    assert (w.lat_deg, w.lon_deg, w.alt_rel_m, w.hold_s) == (*KUDUS, 60.0, 300.0)
    assert not p.clipped


def test_onscene_hold_inside_a_zone_moves_to_the_edge_with_the_reason() -> None:
    a = _airspace(_circle_zone("Lapas Kudus (example)", 0.0, 0.0, 300.0))
    p = onscene_hold(*KUDUS, 60.0, hold_s=120.0, airspace=a, margin_m=30.0, at=NOON)
    [w] = p.waypoints
    [adj] = p.adjustments
    assert (adj.action, adj.code, adj.zone) == ("moved", "zone", "Lapas Kudus (example)")
    assert adj.reason == "inside prison zone 'Lapas Kudus (example)'"
    assert (adj.new_lat_deg, adj.new_lon_deg) == pytest.approx((w.lat_deg, w.lon_deg), abs=1e-7)
    assert a.check(w.lat_deg, w.lon_deg, alt_m=60.0, at=NOON).flyable
    d = distance_m(*KUDUS, w.lat_deg, w.lon_deg)
    assert 330.0 <= d < 336.0  # edge of the zone (its 64-gon circumscribes 300 m) plus the 30 m margin
    assert w.hold_s == 120.0


def test_zone_with_a_ceiling_below_the_altitude_does_not_move_the_hold() -> None:
    a = _airspace(_circle_zone("Low", 0.0, 0.0, 300.0, kind="government", ceiling_m=40.0))
    assert not onscene_hold(*KUDUS, 60.0, 60.0, airspace=a, at=NOON).clipped
    assert onscene_hold(*KUDUS, 30.0, 60.0, airspace=a, at=NOON).clipped


def test_temporary_zone_only_counts_when_active() -> None:
    a = _airspace(
        _circle_zone("Car-free day", 0.0, 0.0, 200.0, kind="event",
                     active_from="2026-08-17T06:00:00+07:00", active_until="2026-08-17T10:00:00+07:00")
    )
    assert onscene_hold(*KUDUS, 60.0, 60.0, airspace=a, at=NOON.replace(hour=8)).clipped
    assert not onscene_hold(*KUDUS, 60.0, 60.0, airspace=a, at=NOON).clipped


# ----------------------------------------------------------------------------- orbit
@settings(deadline=None, max_examples=50)
@given(
    st.floats(-60.0, 60.0),
    st.floats(-179.0, 179.0),
    st.floats(10.0, 3000.0),
    st.integers(3, 36),
    st.booleans(),
    st.floats(0.0, 359.0),
)
def test_orbit_points_lie_on_the_circle(lat: float, lon: float, radius: float, n: int, cw: bool, start: float) -> None:
    p = orbit_waypoints(lat, lon, radius, 50.0, n_points=n, clockwise=cw, start_bearing_deg=start)
    assert len(p.waypoints) == n + 1
    d = np.array([distance_m(lat, lon, w.lat_deg, w.lon_deg) for w in p.waypoints])
    assert np.all(np.abs(d - radius) <= 0.5)
    first, last = p.waypoints[0], p.waypoints[-1]
    assert distance_m(first.lat_deg, first.lon_deg, last.lat_deg, last.lon_deg) < 0.05  # closed
    b = [bearing_deg(lat, lon, w.lat_deg, w.lon_deg) for w in p.waypoints]
    steps = [((b2 - b1 + 180.0) % 360.0) - 180.0 for b1, b2 in zip(b, b[1:], strict=False)]
    # equal steps in the chosen direction (within 5 cm along the circle: positions are 1e-7 deg)
    assert all(abs(s - (360.0 / n if cw else -360.0 / n)) * math.pi / 180.0 * radius < 0.05 for s in steps)
    assert {w.alt_rel_m for w in p.waypoints} == {50.0}


def test_orbit_keeps_the_longest_flyable_arc() -> None:
    a = _airspace(_circle_zone("Rutan", 200.0, 0.0, 60.0))  # sits on the east of a 200 m orbit
    p = orbit_waypoints(*KUDUS, 200.0, 60.0, n_points=24, airspace=a, at=NOON, margin_m=10.0)
    assert p.clipped and 0 < len(p.waypoints) < 25
    zone = _zone_xy(a, "Rutan").buffer(10.0)
    for w in p.waypoints:
        assert not zone.intersects(Point(_xy(w.lat_deg, w.lon_deg)))
    for leg in _legs_xy(p):
        assert not zone.intersects(leg)
    assert all(adj.action == "dropped" and adj.zone == "Rutan" for adj in p.adjustments)
    assert len(p.waypoints) + len(p.adjustments) == 24  # the closing point is the first one again


def test_orbit_item() -> None:
    o = orbit_item(*KUDUS, 150.0, 70.0, clockwise=False, velocity_m_s=4.0)
    assert (o.lat_deg, o.lon_deg, o.radius_m, o.clockwise, o.velocity_m_s, o.yaw_behaviour) == (*KUDUS, 150.0, False, 4.0, 0)
    a = _airspace(_circle_zone("Rutan", 150.0, 0.0, 30.0))
    with pytest.raises(PatternError, match=r"enters zone 'Rutan'; use orbit_waypoints"):
        orbit_item(*KUDUS, 150.0, 70.0, airspace=a, at=NOON)
    assert orbit_item(*KUDUS, 50.0, 70.0, airspace=a, at=NOON).radius_m == 50.0


# ----------------------------------------------------------------------------- expanding square
def test_expanding_square_geometry() -> None:
    p = expanding_square(*KUDUS, 50.0, 80.0, legs=9, first_bearing_deg=30.0)
    pts = np.array([_xy(w.lat_deg, w.lon_deg) for w in p.waypoints])
    seg = np.diff(pts, axis=0)
    lengths = np.hypot(seg[:, 0], seg[:, 1])
    assert lengths == pytest.approx([80, 80, 160, 160, 240, 240, 320, 320, 400], abs=0.01)
    headings = np.degrees(np.arctan2(seg[:, 0], seg[:, 1])) % 360.0
    assert headings[0] == pytest.approx(30.0, abs=0.02)  # 1 cm quantization over 80 m
    turns = (np.diff(headings) + 180.0) % 360.0 - 180.0
    assert turns == pytest.approx([90.0] * 8, abs=0.02)  # always right
    ext = expanding_square(*KUDUS, 50.0, 100.0, max_extent_m=250.0)
    xy = np.array([_xy(w.lat_deg, w.lon_deg) for w in ext.waypoints])
    # legs 100, 100, 200, 200, 300, 300, 400, 400 reach +-200 m; the next (500 m) would reach 300 m
    assert np.abs(xy).max() == pytest.approx(200.0, abs=0.01) and len(ext.waypoints) == 9


def test_expanding_square_avoids_a_zone() -> None:
    a = _airspace(_circle_zone("Pos jaga", 100.0, 150.0, 60.0, kind="military"))
    p = expanding_square(*KUDUS, 50.0, 100.0, legs=8, airspace=a, at=NOON, margin_m=20.0)
    zone = _zone_xy(a, "Pos jaga").buffer(19.0)
    for w in p.waypoints:
        assert a.check(w.lat_deg, w.lon_deg, alt_m=50.0, at=NOON).flyable
    for leg in _legs_xy(p):
        assert not zone.intersects(leg)
    assert any(adj.action == "detour" and adj.zone == "Pos jaga" for adj in p.adjustments)


# ----------------------------------------------------------------------------- lawnmower
@st.composite
def convex_areas(draw: st.DrawFn) -> list[tuple[float, float]]:
    pts = draw(st.lists(st.tuples(st.floats(-600, 600), st.floats(-600, 600)), min_size=3, max_size=8))
    hull = MultiPoint(pts).convex_hull
    assume(isinstance(hull, Polygon) and hull.area > 2000.0)
    assume(min(hull.minimum_rotated_rectangle.exterior.length, 1e9) > 0)
    return [tuple(float(v) for v in F.to_latlon(x, y)) for x, y in list(hull.exterior.coords)[:-1]]


def _area_xy(area: list[tuple[float, float]]) -> Polygon:
    return Polygon([_xy(lat, lon) for lat, lon in area])


@settings(deadline=None, max_examples=40)
@given(convex_areas(), st.floats(15.0, 150.0), st.none() | st.floats(0.0, 179.0))
def test_lawnmower_covers_the_area_with_the_spacing(area, spacing: float, bearing: float | None) -> None:
    p = lawnmower(area, 50.0, spacing, track_bearing_deg=bearing)
    poly = _area_xy(area)
    path = LineString([_xy(w.lat_deg, w.lon_deg) for w in p.waypoints] * (2 if len(p.waypoints) == 1 else 1))
    uncovered = poly.difference(path.buffer(spacing / 2.0 + 0.05, quad_segs=16))
    assert uncovered.area <= 1e-6 * poly.area
    # tracks are parallel, spaced by the track spacing
    pts = np.array([_xy(w.lat_deg, w.lon_deg) for w in p.waypoints])
    tracks = pts.reshape(-1, 2, 2)  # (start, end) of each track, in flying order
    d = tracks[:, 1] - tracks[:, 0]
    lengths = np.hypot(d[:, 0], d[:, 1])
    ref = d[np.argmax(lengths)] / lengths.max()  # direction of the longest track (least rounding)
    normal = np.array([-ref[1], ref[0]])
    offsets = tracks[:, 0] @ normal
    long_enough = lengths > 20.0
    assert np.all(np.abs(np.abs((d[long_enough] / lengths[long_enough, None]) @ ref) - 1.0) < 1e-6)
    assert np.abs(np.diff(offsets)) == pytest.approx([spacing] * (len(tracks) - 1), abs=0.1)  # 1 cm grid


def test_lawnmower_on_a_concave_area() -> None:
    lshape = [(0, 0), (600, 0), (600, 200), (200, 200), (200, 600), (0, 600)]
    area = [tuple(float(v) for v in F.to_latlon(x, y)) for x, y in lshape]
    p = lawnmower(area, 50.0, 50.0, track_bearing_deg=90.0)
    poly = _area_xy(area)
    path = LineString([_xy(w.lat_deg, w.lon_deg) for w in p.waypoints])
    assert poly.difference(path.buffer(25.05)).area <= 1e-6 * poly.area


@settings(deadline=None, max_examples=15)
@given(
    st.lists(st.tuples(st.floats(-400, 400), st.floats(-400, 400), st.floats(30.0, 150.0)), min_size=1, max_size=3),
    st.floats(30.0, 100.0),
)
def test_nothing_of_the_lawnmower_is_inside_a_no_fly_zone(zones, spacing: float) -> None:
    a = _airspace(*[_circle_zone(f"Z{i}", x, y, r) for i, (x, y, r) in enumerate(zones)])
    area = [tuple(float(v) for v in F.to_latlon(x, y)) for x, y in [(-500, -500), (500, -500), (500, 500), (-500, 500)]]
    try:
        p = lawnmower(area, 50.0, spacing, airspace=a, at=NOON, margin_m=20.0)
    except PatternError:
        return  # area entirely blocked: reported, nothing planned
    grown = [_zone_xy(a, f"Z{i}").buffer(19.0) for i in range(len(zones))]
    for w in p.waypoints:
        assert a.check(w.lat_deg, w.lon_deg, alt_m=50.0, at=NOON).flyable
        assert not any(g.contains(Point(_xy(w.lat_deg, w.lon_deg))) for g in grown)
    for leg in _legs_xy(p):
        assert not any(g.intersects(leg) for g in grown)
    # every point at least half a spacing away from the grown zones is still covered
    free = _area_xy(area).difference(shapely.union_all(grown).buffer(1.0 + spacing / 2.0))
    path = LineString([_xy(w.lat_deg, w.lon_deg) for w in p.waypoints] * (2 if len(p.waypoints) == 1 else 1))
    assert free.difference(path.buffer(spacing / 2.0 + 0.05)).area <= 1e-6 * free.area


def test_lawnmower_errors() -> None:
    area = [tuple(float(v) for v in F.to_latlon(x, y)) for x, y in [(0, 0), (100, 0), (100, 100), (0, 100)]]
    with pytest.raises(PatternError, match="track_spacing_m must be a positive number"):
        lawnmower(area, 50.0, 0.0)
    with pytest.raises(PatternError, match="needs at least 3 vertices"):
        lawnmower(area[:2], 50.0, 10.0)
    a = _airspace(_circle_zone("Big", 50.0, 50.0, 1000.0))
    with pytest.raises(PatternError, match="entirely inside no-fly zones"):
        lawnmower(area, 50.0, 10.0, airspace=a, at=NOON)
    with pytest.raises(AltitudeError, match="above the airspace maximum of 120.0 m"):
        lawnmower(area, 150.0, 10.0, airspace=a, at=NOON)


# ----------------------------------------------------------------------------- escort
def _offset_of(officer: tuple[float, float], heading: float, target: tuple[float, float]) -> tuple[float, float]:
    """(ahead, right) components of target - officer along the heading, metres."""
    d = distance_m(*officer, *target)
    rel = math.radians(bearing_deg(*officer, *target) - heading)
    return d * math.cos(rel), d * math.sin(rel)


@settings(deadline=None, max_examples=40)
@given(st.floats(0.0, 359.0), st.floats(0.0, 150.0), st.floats(-80.0, 80.0), st.floats(300.0, 3000.0))
def test_escort_stays_at_the_offset_along_a_route(bearing: float, ahead: float, lateral: float, length: float) -> None:
    mid = destination(*KUDUS, bearing, length / 2.0)
    turn = (bearing + 70.0) % 360.0
    end = destination(*mid, turn, length / 2.0)
    route = [KUDUS, mid, end]
    p = escort_along_route(route, ahead_m=ahead, lateral_m=lateral, alt_rel_m=40.0, spacing_m=100.0)
    # reconstruct the officer samples independently: every 100 m along each segment, plus the end
    samples = []
    for a, b in ((KUDUS, mid), (mid, end)):
        d = distance_m(*a, *b)
        n = max(1, math.ceil(d / 100.0 - 1e-9))
        for k in range(n):
            s = destination(*a, bearing_deg(*a, *b), d * k / n)
            samples.append((s, bearing_deg(*s, *b)))
    samples.append((end, (bearing_deg(*end, *mid) + 180.0) % 360.0))
    assert len(p.waypoints) == len(samples)
    for w, (officer, heading) in zip(p.waypoints, samples, strict=True):
        fwd, right = _offset_of(officer, heading, (w.lat_deg, w.lon_deg))
        assert fwd == pytest.approx(ahead, abs=0.5)
        assert right == pytest.approx(lateral, abs=0.5)
        assert w.alt_rel_m == 40.0


def test_escort_point_in_a_zone_moves_out_with_the_reason() -> None:
    a = _airspace(_circle_zone("Kantor Bupati (example)", 0.0, 300.0, 80.0, kind="government"))
    route = [KUDUS, tuple(float(v) for v in F.to_latlon(0.0, 600.0))]
    p = escort_along_route(route, ahead_m=50.0, alt_rel_m=40.0, spacing_m=50.0, airspace=a, at=NOON, margin_m=10.0)
    assert p.clipped
    for w in p.waypoints:
        assert a.check(w.lat_deg, w.lon_deg, alt_m=40.0, at=NOON).flyable
    assert {adj.zone for adj in p.adjustments} == {"Kantor Bupati (example)"}
    moved = [adj for adj in p.adjustments if adj.action == "moved"]
    assert moved and all(adj.code in ("zone", "margin") for adj in moved)
    # the officer walks straight through the zone: the drone's points on either side of it are
    # joined by a detour around it, not by a leg across it
    zone = _zone_xy(a, "Kantor Bupati (example)").buffer(10.0 - 0.01)
    for leg in _legs_xy(p):
        assert not zone.intersects(leg)
    [detour] = [adj for adj in p.adjustments if adj.action == "detour"]
    assert (detour.code, detour.zone) == ("leg", "Kantor Bupati (example)")


def test_escort_from_fixes_never_crosses_a_zone_ahead_of_the_officer() -> None:
    a = _airspace(_circle_zone("Rutan (example)", 0.0, 200.0, 60.0))
    fixes = [(*F.to_latlon(0.0, 1.5 * t), float(t)) for t in range(0, 21, 5)]  # 1.5 m/s north
    p = escort_from_fixes(fixes, ahead_m=40.0, alt_rel_m=45.0, horizon_s=180.0, step_s=10.0,
                          airspace=a, at=NOON, margin_m=15.0)
    zone = _zone_xy(a, "Rutan (example)").buffer(15.0 - 0.01)
    assert not any(zone.intersects(Point(_xy(w.lat_deg, w.lon_deg))) for w in p.waypoints)
    for leg in _legs_xy(p):
        assert not zone.intersects(leg)
    assert {adj.action for adj in p.adjustments} == {"moved", "detour"}
    assert all(w.speed_m_s == pytest.approx(1.5) for w in p.waypoints)


def test_search_detour_from_above_a_low_zone() -> None:
    """A pattern flies at its altitude: a detour that starts above a zone with a lower ceiling is
    legal (it used to be refused as if the drone took off there)."""
    a = _airspace(
        _circle_zone("Low", 0.0, 0.0, 150.0, kind="government", ceiling_m=40.0),
        _circle_zone("Pos jaga", 0.0, 100.0, 30.0, kind="military"),
    )
    p = expanding_square(*KUDUS, 50.0, 200.0, legs=4, airspace=a, at=NOON, margin_m=10.0)
    assert [adj.action for adj in p.adjustments] == ["detour"]
    assert len(p.waypoints) > 5
    zone = _zone_xy(a, "Pos jaga").buffer(10.0 - 0.01)
    for leg in _legs_xy(p):
        assert not zone.intersects(leg)


def test_officer_motion_from_noisy_fixes() -> None:
    rng = np.random.default_rng(7)
    h = math.radians(60.0)
    fixes = []
    for t in range(0, 31, 2):
        x = 1.4 * t * math.sin(h) + rng.normal(0, 1.0)
        y = 1.4 * t * math.cos(h) + rng.normal(0, 1.0)
        fixes.append(OfficerFix(*F.to_latlon(x, y), float(t)))
    m = officer_motion(list(reversed(fixes)))  # order does not matter
    assert m.speed_m_s == pytest.approx(1.4, abs=0.15)
    assert m.heading_deg == pytest.approx(60.0, abs=5.0)
    assert m.t_s == 30.0


def test_escort_from_fixes_leads_the_officer() -> None:
    h = 135.0
    fixes = [(*destination(*KUDUS, h, 1.2 * t), float(t)) for t in range(0, 21, 4)]
    p = escort_from_fixes(fixes, ahead_m=60.0, lateral_m=-15.0, alt_rel_m=45.0, lead_s=3.0, horizon_s=10.0, step_s=5.0)
    assert len(p.waypoints) == 3  # t + 3, + 8, + 13 s
    for k, w in enumerate(p.waypoints):
        officer = destination(*KUDUS, h, 1.2 * (20.0 + 3.0 + 5.0 * k))
        fwd, right = _offset_of(officer, h, (w.lat_deg, w.lon_deg))
        assert fwd == pytest.approx(60.0, abs=0.5) and right == pytest.approx(-15.0, abs=0.5)
        assert w.speed_m_s == pytest.approx(1.2, abs=1e-6) or w.speed_m_s == 1.0
    assert not p.notes


def test_stationary_officer_gets_the_drone_overhead() -> None:
    fixes = [(*KUDUS, float(t)) for t in range(0, 20, 5)]
    p = escort_from_fixes(fixes, ahead_m=50.0, alt_rel_m=40.0)
    [w] = p.waypoints
    assert distance_m(*KUDUS, w.lat_deg, w.lon_deg) < 0.01
    assert "officer stationary" in p.notes[0]
    # shuffling north at 0.2 m/s (below min_speed): the offset follows the overall displacement
    slow = [(*destination(*KUDUS, 0.0, 0.2 * t), float(t)) for t in range(0, 31)]
    p2 = escort_from_fixes(slow, ahead_m=50.0, alt_rel_m=40.0, window_s=30.0)
    assert "heading of their last movement" in p2.notes[0]
    [w2] = p2.waypoints
    fwd, right = _offset_of(destination(*KUDUS, 0.0, 6.0), 0.0, (w2.lat_deg, w2.lon_deg))
    assert fwd == pytest.approx(50.0, abs=0.5) and right == pytest.approx(0.0, abs=0.5)


def test_pattern_arguments_are_validated() -> None:
    with pytest.raises(AltitudeError, match="alt_rel_m must be a positive number"):
        onscene_hold(*KUDUS, 0.0, 10.0)
    with pytest.raises(PatternError, match="radius_m must be a positive number"):
        orbit_waypoints(*KUDUS, -5.0, 50.0)
    with pytest.raises(PatternError, match="n_points must be >= 3"):
        orbit_waypoints(*KUDUS, 50.0, 50.0, n_points=2)
    with pytest.raises(PatternError, match="give legs or max_extent_m"):
        expanding_square(*KUDUS, 50.0, 100.0)
    with pytest.raises(PatternError, match="needs at least two points"):
        escort_along_route([KUDUS], ahead_m=10.0, alt_rel_m=40.0)
    with pytest.raises(PatternError, match="need at least one position"):
        officer_motion([])
    with pytest.raises(ValueError, match="latitude 96.0 is out of range"):
        onscene_hold(96.0, 110.0, 50.0, 10.0)


@settings(deadline=None, max_examples=15)
@given(
    st.lists(st.tuples(st.floats(-300, 300), st.floats(100, 900), st.floats(20.0, 120.0)), min_size=1, max_size=3),
    st.floats(-60.0, 60.0),
    st.floats(0.0, 80.0),
)
def test_no_escort_leg_crosses_a_no_fly_zone(zones, lateral: float, ahead: float) -> None:
    """The officer walks 1 km north through random zones: every drone waypoint and every leg
    between two keeps the margin (or a point is dropped as unreachable, with the reason)."""
    a = _airspace(*[_circle_zone(f"Z{i}", x, y, r) for i, (x, y, r) in enumerate(zones)])
    route = [KUDUS, tuple(float(v) for v in F.to_latlon(0.0, 1000.0))]
    p = escort_along_route(route, ahead_m=ahead, lateral_m=lateral, alt_rel_m=40.0, spacing_m=50.0,
                           airspace=a, at=NOON, margin_m=15.0)
    grown = [_zone_xy(a, f"Z{i}").buffer(15.0 - 0.01) for i in range(len(zones))]
    for w in p.waypoints:
        assert not any(g.intersects(Point(_xy(w.lat_deg, w.lon_deg))) for g in grown)
    for leg in _legs_xy(p):
        assert not any(g.intersects(leg) for g in grown)
    assert all(adj.action in ("moved", "detour") or adj.code == "unreachable" for adj in p.adjustments)
