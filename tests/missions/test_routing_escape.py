"""plan_route from where an airborne drone is: ``start_alt_m`` and ``start_policy``.

A redirect plans from the drone's current position. GPS drift near an edge can put it inside a
zone's safety margin; ``start_policy="escape"`` then leaves the margin by the shortest way first.
A start inside a zone itself needs ``start_policy="escape_zone"`` (a violation already happened).
The default (``"strict"``) is unchanged: such a start raises ``start_in_zone``.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
import shapely.ops
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point

from missions import Airspace, LocalFrame, NoRouteError, Route, destination, distance_m, plan_route
from missions.routing import START_POLICIES
from tests.missions.test_routing_properties import project, scenarios

WIB = timezone(timedelta(hours=7))
DURING = datetime(2026, 8, 17, 9, 0, tzinfo=WIB)
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "muria" / "airspace.geojson"
CENTRE = (-6.80, 110.90)
F = LocalFrame(*CENTRE)


def circle(lat: float, lon: float, radius_m: float, **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": {"radius_m": radius_m, **props}}  # fmt: skip


def rect(x0: float, y0: float, x1: float, y1: float, **props: Any) -> dict[str, Any]:
    corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
    ring = [[float(lon), float(lat)] for lat, lon in (F.to_latlon(x, y) for x, y in corners)]
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]}, "properties": props}


def airspace(*features: dict[str, Any]) -> Airspace:
    return Airspace.from_geojson({"type": "FeatureCollection", "features": list(features)})


def xy_of(r: Route) -> np.ndarray:
    assert r.frame is not None
    lat = np.array([w.lat_deg for w in r.waypoints])
    lon = np.array([w.lon_deg for w in r.waypoints])
    return np.column_stack(r.frame.to_xy(lat, lon))


LAPAS = airspace(circle(*CENTRE, 500, name="Lapas", kind="prison"))
GOAL = destination(*CENTRE, 10.0, 3000.0)  # north, behind nothing


def expected_exit(d: float, bearing: float, r: float = 500.0, margin: float = 50.0) -> float:
    """Shortest way out of LAPAS grown by the margin from ``d`` metres from its centre: its 64-gon
    circumscribes the circle (vertices at bearings k * 5.625, edges tangent to the circle at
    bearings (k + 0.5) * 5.625), and growing offsets every edge by the margin."""
    normals = (np.arange(64) + 0.5) * 5.625
    return float(np.min(r + margin - d * np.cos(np.radians(normals - bearing))))


def drifted(into_margin_m: float, bearing: float = 0.0) -> tuple[float, float]:
    """A point ``into_margin_m`` inside the 50 m margin of LAPAS (circumscribing 64-gon ~500.3 m)."""
    lat, lon = destination(*CENTRE, bearing, 500.0 + 50.0 - into_margin_m)
    return float(lat), float(lon)


# ---- default behaviour unchanged ----------------------------------------------------------------


def test_default_still_refuses_a_start_in_the_margin_and_says_how_to_leave_it() -> None:
    start = drifted(20.0)
    for kw in ({}, {"start_alt_m": 60.0}, {"start_policy": "strict"}):
        with pytest.raises(NoRouteError) as err:
            plan_route(start, GOAL, LAPAS, **kw)  # type: ignore[arg-type]
        assert err.value.reason == "start_in_zone" and err.value.zone == "Lapas"
        assert "within the 50 m safety margin of prison zone 'Lapas'" in str(err.value)
        assert "start_policy='escape'" in str(err.value)


def test_escape_outside_every_margin_is_the_ordinary_route() -> None:
    start = destination(*CENTRE, 200.0, 2000.0)
    for policy in START_POLICIES:
        r = plan_route(start, GOAL, LAPAS, start_policy=policy)
        assert r == plan_route(start, GOAL, LAPAS) and r.escaped == ()


def test_unknown_policy_and_bad_start_altitude() -> None:
    with pytest.raises(ValueError, match="start_policy must be one of strict, escape, escape_zone"):
        plan_route(drifted(20.0), GOAL, LAPAS, start_policy="ignore")
    with pytest.raises(ValueError, match="start_alt_m"):
        plan_route(drifted(20.0), GOAL, LAPAS, start_alt_m=-1.0)


# ---- escape from the margin ---------------------------------------------------------------------


@pytest.mark.parametrize("bearing", [0.0, 33.0, 200.0])
def test_escape_leaves_the_margin_by_the_shortest_way_then_routes(bearing: float) -> None:
    start = drifted(20.0, bearing)
    goal = destination(*CENTRE, (bearing + 180.0) % 360.0, 3000.0)  # the far side: a detour
    r = plan_route(start, goal, LAPAS, start_alt_m=60.0, start_policy="escape")
    assert r.escaped == ("Lapas",) and r.avoided == ("Lapas",)
    xy = xy_of(r)
    zone = LAPAS.xy(r.frame).geoms[0]  # type: ignore[arg-type]
    assert (r.waypoints[0].lat_deg, r.waypoints[0].lon_deg) == start
    # the first leg is the shortest way out (~20 m: to the nearest edge of the grown 64-gon)
    exit_pt = Point(xy[1])
    assert r.legs[0].horizontal_m == pytest.approx(expected_exit(530.0, bearing), abs=0.01)
    assert zone.distance(exit_pt) >= 50.0
    assert LineString(xy[:2]).distance(zone) >= Point(xy[0]).distance(zone) - 1e-6  # never nearer the zone
    # everything after it keeps the margin, and is the ordinary shortest route from the exit point
    assert LineString(xy[1:]).distance(zone) >= 50.0 - 0.01
    lat, lon = r.frame.to_latlon(*xy[1])  # type: ignore[union-attr]
    rest = plan_route((float(lat), float(lon)), goal, LAPAS)
    assert r.length_m == pytest.approx(r.legs[0].horizontal_m + rest.length_m, abs=0.05)
    # the drone is already at cruise altitude: no vertical leg at the start
    assert [leg.kind for leg in r.legs][:2] == ["cruise", "cruise"]


def test_escape_still_refuses_a_start_inside_the_zone_itself() -> None:
    with pytest.raises(NoRouteError) as err:
        plan_route(CENTRE, GOAL, LAPAS, start_alt_m=60.0, start_policy="escape")
    assert err.value.reason == "start_in_zone" and err.value.zone == "Lapas"
    assert "is inside prison zone 'Lapas'" in str(err.value)
    assert "start_policy='escape_zone'" in str(err.value)


def test_escape_zone_leaves_the_zone_and_its_margin_by_the_shortest_way() -> None:
    start = destination(*CENTRE, 90.0, 400.0)  # 100 m inside the zone
    r = plan_route(start, GOAL, LAPAS, start_alt_m=60.0, start_policy="escape_zone")
    assert r.escaped == ("Lapas",)
    zone = LAPAS.xy(r.frame).geoms[0]  # type: ignore[arg-type]
    xy = xy_of(r)
    assert zone.distance(Point(xy[1])) >= 50.0
    assert r.legs[0].horizontal_m == pytest.approx(expected_exit(400.0, 90.0), abs=0.01)  # ~150 m
    assert LineString(xy[1:]).distance(zone) >= 50.0 - 0.01


def test_the_way_out_may_not_cross_another_zone() -> None:
    # a drone in the 60 m gap between a long block and a thin wall: the nearest way out of the
    # margins goes through the wall (5 m thick), which the escape must not do
    a = airspace(
        rect(-2000.0, 0.0, 2000.0, 1000.0, name="Block", kind="military"),
        rect(-2000.0, -65.0, 2000.0, -60.0, name="Wall", kind="government"),
    )
    start = tuple(float(v) for v in F.to_latlon(0.0, -20.0))
    goal = tuple(float(v) for v in F.to_latlon(0.0, -3000.0))
    with pytest.raises(NoRouteError) as err:
        plan_route(start, goal, a, start_alt_m=60.0, start_policy="escape")  # type: ignore[arg-type]
    assert err.value.reason == "start_in_zone"
    assert "the shortest way out crosses government zone 'Wall'" in str(err.value)


def test_a_low_zone_under_an_airborne_drone_is_left_by_the_altitude_change() -> None:
    # in the margin of a zone with a 50 m ceiling, at 45 m, cruising at 80 m: climbing leaves it
    a = airspace(circle(*CENTRE, 500, name="Low", kind="government", ceiling_m=50))
    start = drifted(20.0)
    with pytest.raises(NoRouteError, match="start_policy='escape'"):
        plan_route(start, GOAL, a, start_alt_m=45.0, cruise_alt_m=80.0)
    r = plan_route(start, GOAL, a, start_alt_m=45.0, cruise_alt_m=80.0, start_policy="escape")
    assert r.escaped == ("Low",) and len(r.waypoints) == 2  # straight on, no exit leg
    assert r.legs[0].kind == "climb" and r.legs[0].vertical_m == 35.0
    # above its ceiling already: nothing to leave (there is no vertical margin)
    assert plan_route(start, GOAL, a, start_alt_m=55.0, cruise_alt_m=80.0).escaped == ()


# ---- airborne starts ----------------------------------------------------------------------------


def test_airborne_start_above_a_low_zone_is_legal_and_starts_at_its_altitude() -> None:
    a = airspace(circle(*CENTRE, 500, name="Low", kind="government", ceiling_m=40))
    with pytest.raises(NoRouteError, match="start .* inside government zone 'Low'"):
        plan_route(CENTRE, GOAL, a, cruise_alt_m=60.0)  # taking off there would cross it
    r = plan_route(CENTRE, GOAL, a, cruise_alt_m=60.0, start_alt_m=60.0)
    assert len(r.waypoints) == 2 and [leg.kind for leg in r.legs] == ["cruise"]
    up = plan_route(destination(*CENTRE, 0.0, 900.0), GOAL, a, cruise_alt_m=60.0, start_alt_m=45.0)
    assert (up.legs[0].kind, up.legs[0].start.alt_m, up.legs[0].vertical_m) == ("climb", 45.0, 15.0)
    down = plan_route(destination(*CENTRE, 0.0, 900.0), GOAL, a, cruise_alt_m=60.0, start_alt_m=100.0)
    assert (down.legs[0].kind, down.legs[0].vertical_m) == ("descend", -40.0)
    assert down.climb_m == 0.0 and down.descent_m == 40.0
    # descending from 60 m to a 30 m cruise over the zone would enter it
    with pytest.raises(NoRouteError, match="start"):
        plan_route(CENTRE, GOAL, a, cruise_alt_m=30.0, start_alt_m=60.0)


def test_redirect_of_a_drone_drifted_into_the_event_zone_margin() -> None:
    """Muria example: a drone flying past the Simpang Tujuh event (during it) drifts 10 m into
    its margin and is redirected west of the alun-alun."""
    a = Airspace.from_geojson(EXAMPLE)
    event = a.zone("Acara Alun-alun Simpang Tujuh Kudus")
    frame = a.frame
    assert frame is not None
    zone_xy = a.xy(frame).geoms[a.zones.index(event)]
    # a point 40 m from the zone's edge (10 m inside the 50 m margin), south of it
    c = zone_xy.centroid
    edge = shapely.ops.nearest_points(zone_xy.exterior, Point(c.x, c.y - 10_000.0))[0]
    start = tuple(float(v) for v in frame.to_latlon(edge.x, edge.y - 40.0))
    west = (-6.8049, 110.8340)
    with pytest.raises(NoRouteError, match="start_in_zone|within the 50 m safety margin"):
        plan_route(start, west, a, at=DURING, start_alt_m=60.0)  # type: ignore[arg-type]
    r = plan_route(start, west, a, at=DURING, start_alt_m=60.0, start_policy="escape")  # type: ignore[arg-type]
    assert r.escaped == (event.name,)
    xy = xy_of(r)
    assert 10.0 - 0.01 <= r.legs[0].horizontal_m <= 10.5
    for z, g in zip(a.zones, a.xy(frame).geoms, strict=True):
        if z.is_active(DURING) and z.applies_at(60.0):
            assert LineString(xy[1:]).distance(g) >= 50.0 - 0.01, z.name
            assert LineString(xy[:2]).distance(g) >= 40.0 - 0.01, z.name
    assert r.to_geojson()["properties"]["escaped"] == [event.name]


# ---- property: escapes over random zone sets ----------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(scenarios(), st.floats(0.0, 2 * math.pi), st.floats(0.05, 0.95))
def test_escape_exits_by_the_shortest_way_and_the_rest_is_legal(
    scenario: tuple[Airspace, tuple[float, float], tuple[float, float], float], angle: float, depth: float
) -> None:
    a, _, goal, margin = scenario
    assume(margin > 0.0)
    frame = a.frame_for(goal)
    zones_xy = [project(z.geometry, frame) for z in a.zones]
    grown = [z.buffer(margin, join_style="mitre", mitre_limit=2.0) for z in zones_xy]
    # a start inside zone 0's margin (not inside the zone), `depth` of the way in along `angle`
    z0 = zones_xy[0]
    far = Point(z0.centroid.x + 1e5 * math.cos(angle), z0.centroid.y + 1e5 * math.sin(angle))
    edge = shapely.ops.nearest_points(z0.exterior, far)[0]
    ray = LineString([edge, far])
    out_of_hull = ray.intersection(grown[0].exterior)
    assume(not out_of_hull.is_empty)
    d_out = edge.distance(out_of_hull)
    p = ray.interpolate(max(1e-3, min(d_out * (1.0 - depth), d_out - 0.05)))
    assume(all(not z.intersects(p) for z in zones_xy))
    assume(all(g.exterior.distance(p) > 0.05 for g in grown))  # not numerically on an edge
    start = tuple(float(v) for v in frame.to_latlon(p.x, p.y))
    try:
        r = plan_route(start, goal, a, margin_m=margin, start_policy="escape", frame=frame)  # type: ignore[arg-type]
    except NoRouteError as err:
        event(f"no route: {err.reason}")
        assert err.reason in ("goal_in_zone", "unreachable", "start_in_zone"), str(err)
        if err.reason == "start_in_zone":
            assert "the shortest way out crosses" in str(err)
        return
    assert "z0" in r.escaped
    event("escaped")
    xy = xy_of(r)
    q = Point(xy[1]) if len(xy) > 1 else Point(xy[0])
    # the exit point is outside every grown zone, and no boundary point is nearer
    assert all(not g.intersects(q) for g in grown)
    nearest = shapely.union_all(grown).boundary.distance(p)
    assert p.distance(q) <= nearest + 0.01
    # the exit leg enters no zone; the rest keeps the margin from every zone
    assert all(not z.intersects(LineString(xy[:2])) for z in zones_xy)
    if len(xy) > 2:
        rest = LineString(xy[1:])
        assert min(rest.distance(z) for z in zones_xy) >= margin - 0.01
    assert r.length_m >= float(distance_m(*start, *goal)) - 1e-6
