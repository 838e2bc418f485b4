"""Redirecting a drone that has drifted into a zone's safety margin (GPS drift near an edge).

The router refuses a start inside a margin by default (a take-off there would be illegal). A drone
already in the air must still be re-plannable: it leaves the margin by the shortest way first.
A drone inside the zone itself is still refused: that is a violation for the operator to handle.
"""

from __future__ import annotations

import pytest
from shapely.geometry import Point, Polygon

from dronectl.config import Category, Settings
from dronectl.planning import Infeasible, Planner, load_airspace
from missions.airspace import Zone
from missions.geodesy import LocalFrame, distance_m
from tests.dronectl.test_planning_safety import EVENT_ZONE, _example_active


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return _example_active(tmp_path_factory.mktemp("air"))


def _zone(example: Settings) -> Zone:
    return next(z for z in load_airspace(example).active_zones() if z.name == EVENT_ZONE)


def _west_of_zone(example: Settings, dist_m: float) -> tuple[float, float]:
    """A point ``dist_m`` due west of the event zone's westmost vertex (outside the zone)."""
    geom = _zone(example).geometry
    assert isinstance(geom, Polygon)
    frame = LocalFrame(geom.centroid.y, geom.centroid.x)
    lons, lats = (list(v) for v in zip(*geom.exterior.coords))
    xs, ys = frame.to_xy(lats, lons)
    poly = Polygon(zip(xs, ys))
    k = min(range(len(xs)), key=lambda i: xs[i])
    p = Point(xs[k] - dist_m, ys[k])
    assert poly.distance(p) == pytest.approx(dist_m, rel=0.05)
    lat, lon = frame.to_latlon(p.x, p.y)
    return float(lat), float(lon)


def test_airborne_drone_in_margin_is_replanned_out_of_it(example: Settings) -> None:
    planner = Planner(example, load_airspace(example))
    drone = next(d for d in example.drones if d.base == "polres-kudus")
    here = _west_of_zone(example, example.flight.margin_m / 2)  # in the margin, not in the zone
    target = _west_of_zone(example, 800.0)
    # The same point as a take-off point is illegal: refused.
    with pytest.raises(Infeasible) as ei:
        planner.plan(drone, target, Category.CRIME, battery_pct=100.0, start=here)
    assert ei.value.code == "no_route"
    # In the air it is re-planned, and its first waypoint is out of the margin.
    plan = planner.plan(drone, target, Category.CRIME, battery_pct=100.0, start=here, in_air=True,
                        start_alt_m=example.flight.cruise_alt_m)
    nav = [i for i in plan.items if i.command == 16]
    first = nav[0]
    zone = _zone(example).geometry
    frame = LocalFrame(zone.centroid.y, zone.centroid.x)
    lons, lats = (list(v) for v in zip(*zone.exterior.coords))
    poly = Polygon(zip(*frame.to_xy(lats, lons)))
    fx, fy = frame.to_xy(first.lat_deg, first.lon_deg)
    assert poly.distance(Point(fx, fy)) >= example.flight.margin_m - 0.05
    assert distance_m(here[0], here[1], first.lat_deg, first.lon_deg) < example.flight.margin_m


def test_airborne_drone_inside_zone_is_still_refused(example: Settings) -> None:
    planner = Planner(example, load_airspace(example))
    drone = next(d for d in example.drones if d.base == "polres-kudus")
    inside = _zone(example).geometry.representative_point()
    with pytest.raises(Infeasible) as ei:
        planner.plan(drone, _west_of_zone(example, 800.0), Category.CRIME, battery_pct=100.0,
                     start=(inside.y, inside.x), in_air=True, start_alt_m=example.flight.cruise_alt_m)
    assert ei.value.code == "no_route"
