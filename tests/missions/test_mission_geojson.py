"""GeoJSON output of missions, fences, routes and patterns (for display)."""

from __future__ import annotations

import json
import math

import pytest

from missions.airspace import Airspace
from missions.geodesy import distance_m
from missions.geofence import FenceCircle, FencePolygon, Geofence
from missions.geojson import geofence_to_geojson, mission_to_geojson, pattern_to_geojson, route_to_geojson
from missions.mission import (
    ChangeSpeed,
    HomePosition,
    Mission,
    NavWaypoint,
    Orbit,
    RallyPoint,
    RawItem,
    ReturnToLaunch,
    Takeoff,
)
from missions.patterns import onscene_hold
from missions.routing import plan_route

KUDUS = (-6.8048, 110.8405)  # approximate


def _strict(obj: dict) -> dict:
    return json.loads(json.dumps(obj, allow_nan=False))


def test_mission_geojson_has_path_items_home_fence_and_rally() -> None:
    m = Mission(
        [
            Takeoff(*KUDUS, 40.0),
            NavWaypoint(-6.79, 110.85, 60.0, hold_s=30.0, speed_m_s=10.0),
            ChangeSpeed(5.0, ground_speed=False),
            Orbit(-6.79, 110.85, 60.0, radius_m=80.0),
            RawItem(206, 2, 25.0, math.nan),
            ReturnToLaunch(),
        ],
        home=HomePosition(*KUDUS, 45.0),
        geofence=Geofence(
            polygons=(FencePolygon(((-6.77, 110.81), (-6.77, 110.88), (-6.83, 110.88)), True),),
            circles=(FenceCircle(-6.80355, 110.84552, 150.0, inclusion=False),),
        ),
        rally_points=(RallyPoint(-6.801, 110.838, 30.0),),
    )
    fc = _strict(m.to_geojson())
    assert fc["type"] == "FeatureCollection"
    roles = [f["properties"]["role"] for f in fc["features"]]
    assert roles == ["path", "item", "item", "item", "item", "orbit", "item", "item", "home",
                     "fence_inclusion", "fence_exclusion", "rally"]
    path = fc["features"][0]["geometry"]["coordinates"]
    assert path == [[110.8405, -6.8048, 40.0], [110.85, -6.79, 60.0], [110.85, -6.79, 60.0]]
    wp = fc["features"][2]
    assert wp["properties"]["kind"] == "NavWaypoint" and wp["properties"]["hold_s"] == 30.0
    raw = fc["features"][6]["properties"]
    assert raw["kind"] == "RawItem" and raw["param2"] is None  # NaN -> null
    assert fc["features"][6]["geometry"]["coordinates"] == [110.85, -6.79]  # where it happens
    fence_circle = fc["features"][10]["geometry"]["coordinates"][0]
    assert len(fence_circle) == 65 and fence_circle[0] == fence_circle[-1]
    for lon, lat in fence_circle:
        assert distance_m(-6.80355, 110.84552, lat, lon) == pytest.approx(150.0, abs=0.01)


def test_geofence_polygon_ring_is_closed_lon_lat() -> None:
    [f] = geofence_to_geojson(Geofence(polygons=(FencePolygon(((-6.77, 110.81), (-6.77, 110.88), (-6.83, 110.88)), False),)))
    assert f["geometry"]["coordinates"] == [[[110.81, -6.77], [110.88, -6.77], [110.88, -6.83], [110.81, -6.77]]]
    assert f["properties"]["role"] == "fence_exclusion"


def test_route_and_pattern_geojson() -> None:
    route = plan_route(KUDUS, (-6.79, 110.86), Airspace(), cruise_alt_m=60.0)
    fc = _strict(route_to_geojson(route))
    assert fc["features"][0]["properties"] == {"role": "route", "length_m": route.length_m}
    assert len(fc["features"]) == 1 + len(route.waypoints)
    a = Airspace.from_geojson({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [KUDUS[1], KUDUS[0]]},
         "properties": {"name": "Alun-alun", "kind": "event", "radius_m": 200}}]})
    p = onscene_hold(*KUDUS, 50.0, 60.0, airspace=a)
    pfc = _strict(pattern_to_geojson(p))
    [adj] = [f for f in pfc["features"] if f["properties"]["role"] == "adjustment"]
    assert adj["properties"]["action"] == "moved" and adj["properties"]["zone"] == "Alun-alun"
    assert adj["geometry"]["coordinates"] == [KUDUS[1], KUDUS[0]]
