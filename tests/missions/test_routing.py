"""Tests for missions.routing: legality, altitudes, errors, time windows, Muria examples."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from shapely.geometry import LineString, Point

from missions import (
    Airspace,
    AltitudeError,
    LocalFrame,
    NoRouteError,
    Route,
    destination,
    distance_m,
    plan_route,
)

WIB = timezone(timedelta(hours=7))
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "muria" / "airspace.geojson"
POLRES_KUDUS = (-6.8036, 110.8417)  # bases of examples/muria/config.toml (approximate)
POLSEK_JATI = (-6.8262, 110.8452)
ALUN_ALUN = (-6.8048, 110.8405)
DURING = datetime(2026, 8, 17, 9, 0, tzinfo=WIB)
AFTER = datetime(2026, 8, 17, 14, 0, tzinfo=WIB)


def circle(lat: float, lon: float, radius_m: float, **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": {"radius_m": radius_m, **props}}  # fmt: skip


def polygon(ring_latlon: list[tuple[float, float]], holes: list[list[tuple[float, float]]] = (), **props: Any) -> dict[str, Any]:  # type: ignore[assignment]
    rings = [[[lon, lat] for lat, lon in r] + [[r[0][1], r[0][0]]] for r in [ring_latlon, *holes]]
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": rings}, "properties": props}


def airspace(*features: dict[str, Any], **kw: Any) -> Airspace:
    return Airspace.from_geojson({"type": "FeatureCollection", "features": list(features)}, **kw)


def route_xy(r: Route) -> np.ndarray:
    assert r.frame is not None
    lat = np.array([w.lat_deg for w in r.waypoints])
    lon = np.array([w.lon_deg for w in r.waypoints])
    return np.column_stack(r.frame.to_xy(lat, lon))


def assert_legal(r: Route, a: Airspace, margin_m: float, at: datetime | None = None) -> None:
    """Every cruise leg keeps at least margin - 1 cm from every active zone at cruise altitude."""
    assert r.frame is not None
    xy = route_xy(r)
    line = LineString(xy) if len(xy) > 1 else Point(xy[0])
    geoms = a.xy(r.frame).geoms
    for z, g in zip(a.zones, geoms, strict=True):
        if z.is_active(at or datetime.now(timezone.utc)) and z.applies_at(r.cruise_alt_m):
            assert line.distance(g) >= margin_m - 0.01, z.name
    for w in r.waypoints:
        assert 0.0 < w.alt_m <= a.max_alt_m


# ---- basics -------------------------------------------------------------------------------------


def test_clear_straight_line_is_the_route() -> None:
    a = airspace(circle(-6.70, 110.80, 500, name="Far", kind="prison"))
    r = plan_route(POLRES_KUDUS, (-6.7550, 111.0380), a)
    assert [(w.lat_deg, w.lon_deg) for w in r.waypoints] == [POLRES_KUDUS, (-6.7550, 111.0380)]
    assert r.length_m == pytest.approx(float(distance_m(*POLRES_KUDUS, -6.7550, 111.0380)), rel=1e-12)
    assert r.avoided == ()


def test_route_goes_around_a_zone_on_the_straight_line() -> None:
    a = airspace(circle(-6.80, 110.90, 1000, name="Blocker", kind="military"))
    start, goal = (-6.80, 110.85), (-6.80, 110.95)
    r = plan_route(start, goal, a)
    assert len(r.waypoints) > 2 and r.avoided == ("Blocker",)
    assert_legal(r, a, 50.0)
    straight = float(distance_m(*start, *goal))
    assert r.length_m > straight
    # analytic bound: going around a disc of radius R = 1050 m from 5.5 km away on each side
    R, d = 1050.0, straight / 2
    tangent = np.sqrt(d * d - R * R)
    arc = R * (np.pi - 2 * np.arccos(R / d))
    exact = 2 * tangent + arc
    assert exact <= r.length_m <= exact * 1.002
    assert r.waypoints[0] == r.legs[0].end and r.waypoints[-1].lat_deg == goal[0]


def test_altitude_profile_and_legs() -> None:
    a = airspace(circle(-6.80, 110.90, 1000, name="Blocker", kind="military"))
    r = plan_route((-6.80, 110.85), (-6.80, 110.95), a, cruise_alt_m=80.0, onscene_alt_m=30.0)
    alts = [w.alt_m for w in r.waypoints]
    assert alts[:-1] == [80.0] * (len(alts) - 1) and alts[-1] == 30.0
    kinds = [leg.kind for leg in r.legs]
    assert kinds[0] == "climb" and kinds[-1] == "descend" and set(kinds[1:-1]) == {"cruise"}
    assert r.legs[0].start.alt_m == 0.0 and r.legs[0].vertical_m == 80.0
    assert r.legs[-1].vertical_m == -50.0
    assert r.climb_m == 80.0 and r.descent_m == 50.0
    cruise = [leg for leg in r.legs if leg.kind == "cruise"]
    assert sum(leg.horizontal_m for leg in cruise) == pytest.approx(r.length_m)
    for leg in cruise:
        assert leg.bearing_deg is not None and 0.0 <= leg.bearing_deg < 360.0
    # on-scene above cruise: the last vertical leg climbs
    up = plan_route((-6.80, 110.85), (-6.80, 110.86), a, cruise_alt_m=50.0, onscene_alt_m=70.0)
    assert up.legs[-1].kind == "climb" and up.waypoints[-1].alt_m == 70.0
    # default on-scene altitude = cruise: no vertical leg at the goal
    same = plan_route((-6.80, 110.85), (-6.80, 110.86), a)
    assert [leg.kind for leg in same.legs] == ["climb", "cruise"]


def test_altitude_limits() -> None:
    a = airspace(max_alt_m=100.0)
    with pytest.raises(AltitudeError, match="cruise_alt_m 120.0 m is above the airspace maximum of 100.0 m"):
        plan_route((-6.80, 110.85), (-6.80, 110.86), a, cruise_alt_m=120.0)
    with pytest.raises(AltitudeError, match="onscene_alt_m"):
        plan_route((-6.80, 110.85), (-6.80, 110.86), a, cruise_alt_m=60.0, onscene_alt_m=101.0)
    with pytest.raises(AltitudeError, match="positive"):
        plan_route((-6.80, 110.85), (-6.80, 110.86), a, cruise_alt_m=0.0)
    r = plan_route((-6.80, 110.85), (-6.80, 110.86), a, cruise_alt_m=100.0)
    assert max(w.alt_m for w in r.waypoints) == 100.0


def test_same_start_and_goal() -> None:
    r = plan_route((-6.80, 110.85), (-6.80, 110.85), Airspace(), onscene_alt_m=20.0)
    assert r.length_m == 0.0
    assert [(w.alt_m) for w in r.waypoints] == [60.0, 20.0]


def test_bad_inputs() -> None:
    a = Airspace()
    with pytest.raises(ValueError, match="start: latitude"):
        plan_route((110.8, -6.8), (-6.80, 110.86), a)
    with pytest.raises(ValueError, match="goal: longitude"):
        plan_route((-6.8, 110.8), (-6.80, 210.86), a)
    with pytest.raises(ValueError, match="margin_m"):
        plan_route((-6.8, 110.8), (-6.80, 110.86), a, margin_m=-5.0)
    with pytest.raises(ValueError, match="timezone-aware"):
        plan_route((-6.8, 110.8), (-6.80, 110.86), a, at=datetime(2026, 1, 1))


# ---- errors -------------------------------------------------------------------------------------


def test_start_inside_a_zone() -> None:
    a = airspace(circle(-6.80, 110.90, 1000, name="Lapas", kind="prison"))
    with pytest.raises(NoRouteError) as err:
        plan_route((-6.80, 110.90), (-6.80, 110.95), a)
    assert err.value.reason == "start_in_zone" and err.value.zone == "Lapas"
    assert "the start (-6.800000, 110.900000) is inside prison zone 'Lapas'" in str(err.value)


def test_goal_inside_the_margin_only() -> None:
    a = airspace(circle(-6.80, 110.90, 1000, name="Lapas", kind="prison"))
    goal = destination(-6.80, 110.90, 90.0, 1030.0)
    with pytest.raises(NoRouteError) as err:
        plan_route((-6.80, 110.85), goal, a, margin_m=50.0)
    assert err.value.reason == "goal_in_zone" and err.value.zone == "Lapas"
    assert "within the 50 m safety margin of prison zone 'Lapas'" in str(err.value)
    assert "nearest_flyable" in str(err.value)
    # with a smaller margin it is fine
    assert plan_route((-6.80, 110.85), goal, a, margin_m=20.0).length_m > 0


def test_enclosed_goal_is_unreachable() -> None:
    # a ring-shaped zone (polygon with a hole) around the goal
    outer = [(-6.79, 110.89), (-6.79, 110.91), (-6.81, 110.91), (-6.81, 110.89)]
    inner = [(-6.795, 110.895), (-6.805, 110.895), (-6.805, 110.905), (-6.795, 110.905)]
    a = airspace(polygon(outer, [inner], name="Ring", kind="military"))
    with pytest.raises(NoRouteError) as err:
        plan_route((-6.80, 110.85), (-6.80, 110.90), a)
    assert err.value.reason == "unreachable" and err.value.zone == "Ring"
    assert "the goal (-6.800000, 110.900000) is enclosed by 'Ring'" in str(err.value)
    assert "unreachable" in str(err.value)
    # and the other way round
    with pytest.raises(NoRouteError, match="the start .* is enclosed by 'Ring'"):
        plan_route((-6.80, 110.90), (-6.80, 110.85), a)
    # inside the same hole: a route exists
    r = plan_route((-6.799, 110.899), (-6.801, 110.901), a)
    assert len(r.waypoints) == 2


def test_goal_enclosed_by_several_overlapping_zones() -> None:
    centre = (-6.80, 110.90)
    feats = []
    for k in range(12):  # 12 circles of 300 m on a 1 km ring overlap into a closed wall
        lat, lon = destination(*centre, k * 30.0, 1000.0)
        feats.append(circle(float(lat), float(lon), 300, name=f"wall-{k}", kind="government"))
    a = airspace(*feats)
    with pytest.raises(NoRouteError) as err:
        plan_route((-6.80, 110.85), centre, a, margin_m=50.0)
    assert err.value.reason == "unreachable"
    assert all(f"'wall-{k}'" in str(err.value) for k in range(12))
    # with a wide enough gap (a missing circle) it goes in
    r = plan_route((-6.80, 110.85), centre, airspace(*feats[1:]), margin_m=50.0)
    assert r.length_m > float(distance_m(-6.80, 110.85, *centre))


def test_zone_wider_than_the_margin_gap_blocks_a_corridor() -> None:
    # two zones 150 m apart: a 50 m margin leaves a 50 m corridor, a 90 m margin closes it
    a = airspace(
        polygon([(-6.78, 110.895), (-6.78, 110.899), (-6.7995, 110.899), (-6.7995, 110.895)], name="N", kind="government"),
        polygon([(-6.801, 110.895), (-6.801, 110.899), (-6.82, 110.899), (-6.82, 110.895)], name="S", kind="government"),
    )
    gap = float(distance_m(-6.7995, 110.897, -6.801, 110.897))
    assert 160.0 < gap < 170.0
    through = plan_route((-6.8003, 110.89), (-6.8003, 110.905), a, margin_m=50.0)
    assert len(through.waypoints) == 2  # straight through the corridor
    around = plan_route((-6.8003, 110.89), (-6.8003, 110.905), a, margin_m=90.0)
    assert around.length_m > through.length_m + 1000.0
    assert_legal(around, a, 90.0)


# ---- altitude bands and time windows ------------------------------------------------------------


def test_zones_outside_the_cruise_altitude_are_not_obstacles() -> None:
    a = airspace(
        circle(-6.80, 110.90, 1000, name="Low", kind="government", ceiling_m=50),
        circle(-6.80, 111.00, 1000, name="High", kind="military", floor_m=100),
    )
    start, goal = (-6.80, 110.85), (-6.80, 111.05)
    assert len(plan_route(start, goal, a, cruise_alt_m=60.0).waypoints) == 2
    assert plan_route(start, goal, a, cruise_alt_m=40.0).avoided == ("Low",)
    assert plan_route(start, goal, a, cruise_alt_m=110.0).avoided == ("High",)
    # climbing at a base under a low zone passes through it
    with pytest.raises(NoRouteError, match="start .* inside government zone 'Low'"):
        plan_route((-6.80, 110.90), goal, a, cruise_alt_m=60.0)
    # descending into a low zone at the goal too
    with pytest.raises(NoRouteError, match="goal .* inside government zone 'Low'"):
        plan_route(start, (-6.80, 110.90), a, cruise_alt_m=60.0, onscene_alt_m=30.0)
    # hovering above it is fine
    plan_route(start, (-6.80, 110.90), a, cruise_alt_m=70.0, onscene_alt_m=60.0)


def test_time_windows() -> None:
    a = Airspace.from_geojson(EXAMPLE)
    west = (-6.8049, 110.8340)  # an incident west of the alun-alun: the event zone is in between
    during = plan_route(POLRES_KUDUS, west, a, at=DURING)
    after = plan_route(POLRES_KUDUS, west, a, at=AFTER)
    assert "Acara Alun-alun Simpang Tujuh Kudus" in during.avoided
    assert len(after.waypoints) == 2 and after.avoided == ()
    assert during.length_m > after.length_m
    assert_legal(during, a, 50.0, DURING)
    # a flight starting before the event but still flying when it starts must avoid it
    early = datetime(2026, 8, 17, 5, 55, tzinfo=WIB)
    assert plan_route(POLRES_KUDUS, west, a, at=early).avoided == ()
    late = plan_route(POLRES_KUDUS, west, a, at=early, until=early + timedelta(minutes=10))
    assert late.avoided == during.avoided


# ---- Muria examples -----------------------------------------------------------------------------


def test_muria_polres_to_incident_across_the_event_goes_around_it() -> None:
    a = Airspace.from_geojson(EXAMPLE)
    incident = (-6.8060, 110.8350)  # west-south-west of the alun-alun (approximate)
    r = plan_route(POLRES_KUDUS, incident, a, at=DURING, cruise_alt_m=60.0, onscene_alt_m=40.0)
    assert r.avoided == ("Acara Alun-alun Simpang Tujuh Kudus",)
    assert_legal(r, a, 50.0, DURING)
    assert r.waypoints[-1] == type(r.waypoints[-1])(incident[0], incident[1], 40.0)
    straight = float(distance_m(*POLRES_KUDUS, *incident))
    assert straight < r.length_m < straight * 1.5


def test_muria_incident_inside_the_event_is_observed_from_the_edge() -> None:
    a = Airspace.from_geojson(EXAMPLE)
    with pytest.raises(NoRouteError, match="goal .* inside event zone"):
        plan_route(POLSEK_JATI, ALUN_ALUN, a, at=DURING)
    p = a.nearest_flyable(*ALUN_ALUN, margin_m=50.0, at=DURING)
    r = plan_route(POLSEK_JATI, (p.lat_deg, p.lon_deg), a, at=DURING, onscene_alt_m=40.0)
    assert_legal(r, a, 50.0, DURING)
    assert float(distance_m(r.waypoints[-1].lat_deg, r.waypoints[-1].lon_deg, *ALUN_ALUN)) < 150.0


def test_muria_long_route_to_pati_and_around_its_zones() -> None:
    a = Airspace.from_geojson(EXAMPLE)
    # from Kudus to a point just east of Pati's government and prison zones, through them
    goal = (-6.7490, 111.0500)
    r = plan_route(POLRES_KUDUS, goal, a, at=DURING)
    assert_legal(r, a, 50.0, DURING)
    assert r.length_m >= float(distance_m(*POLRES_KUDUS, *goal))


def test_route_to_geojson_and_linestring() -> None:
    a = Airspace.from_geojson(EXAMPLE)
    r = plan_route(POLRES_KUDUS, (-6.8060, 110.8350), a, at=DURING, onscene_alt_m=40.0)
    ls = r.to_linestring()
    assert ls.has_z and len(ls.coords) == len(r.waypoints)
    assert ls.coords[0] == (POLRES_KUDUS[1], POLRES_KUDUS[0], 60.0)
    f = r.to_geojson()
    assert f["geometry"]["coordinates"][-1] == [110.8350, -6.8060, 40.0]
    assert f["properties"]["avoided"] == ["Acara Alun-alun Simpang Tujuh Kudus"]


def test_repeated_queries_use_the_cache_and_agree() -> None:
    a = Airspace.from_geojson(EXAMPLE)
    r1 = plan_route(POLRES_KUDUS, (-6.8060, 110.8350), a, at=DURING)
    r2 = plan_route(POLRES_KUDUS, (-6.8060, 110.8350), a, at=DURING)
    r3 = plan_route(POLRES_KUDUS, (-6.8060, 110.8350), Airspace.from_geojson(EXAMPLE), at=DURING)
    assert r1 == r2 == r3
    # another margin is another obstacle set
    r4 = plan_route(POLRES_KUDUS, (-6.8060, 110.8350), a, at=DURING, margin_m=80.0)
    assert r4.length_m > r1.length_m


def test_explicit_frame() -> None:
    a = Airspace.from_geojson(EXAMPLE)
    f = LocalFrame(*POLRES_KUDUS)
    r = plan_route(POLRES_KUDUS, (-6.8060, 110.8350), a, at=DURING, frame=f)
    r0 = plan_route(POLRES_KUDUS, (-6.8060, 110.8350), a, at=DURING)
    assert r.frame == f
    assert r.length_m == pytest.approx(r0.length_m, rel=1e-4)
    assert_legal(r, a, 50.0, DURING)
