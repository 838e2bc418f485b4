"""Energy, ETA and feasibility."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from missions.airspace import Airspace
from missions.energy import (
    EnergyProfile,
    Wind,
    assess_feasibility,
    eta_s,
    ground_speed_m_s,
    leg_estimate,
    max_onscene_s,
    mission_estimate,
    path_estimate,
)
from missions.errors import MissionError
from missions.geodesy import destination, distance_m
from missions.mission import (
    ChangeSpeed,
    Delay,
    HomePosition,
    Land,
    LoiterTime,
    Mission,
    NavWaypoint,
    Orbit,
    RawItem,
    ReturnToLaunch,
    Takeoff,
)
from missions.routing import plan_route

KUDUS = (-6.8048, 110.8405)  # approximate town centre
P = EnergyProfile()  # 12 m/s, 3 / 1.5 m/s vertical, 4 / 3.6 / 6 / 3.2 %/min


def test_default_profile_hovers_about_25_minutes() -> None:
    assert P.hover_endurance_s == pytest.approx(25 * 60)
    est = path_estimate([(*KUDUS, 50.0)], P, hover_at_end_s=25 * 60)
    assert est.energy_pct == pytest.approx(100.0)


def test_flat_leg_hand_computed() -> None:
    lat, lon = destination(*KUDUS, 90.0, 6000.0)
    leg = leg_estimate((*KUDUS, 60.0), (lat, lon, 60.0), P)
    assert leg.distance_m == pytest.approx(6000.0, abs=1e-6)
    assert leg.time_s == pytest.approx(500.0)  # 6000 m / 12 m/s
    assert leg.energy_pct == pytest.approx(500.0 / 60.0 * 3.6)  # 30 %
    assert (leg.climb_s, leg.descent_s, leg.cruise_s) == (0.0, 0.0, pytest.approx(500.0))


def test_climb_and_descent_hand_computed() -> None:
    up = leg_estimate((*KUDUS, 0.0), (*KUDUS, 60.0), P)
    assert (up.time_s, up.energy_pct) == (20.0, 2.0)  # 60 m / 3 m/s at 6 %/min
    down = leg_estimate((*KUDUS, 60.0), (*KUDUS, 30.0), P)
    assert down.time_s == pytest.approx(20.0) and down.energy_pct == pytest.approx(20.0 / 60.0 * 3.2)
    # climbing while flying: the climb takes 20 s of the 50 s leg, at the climb rate
    lat, lon = destination(*KUDUS, 0.0, 600.0)
    mixed = leg_estimate((*KUDUS, 0.0), (lat, lon, 60.0), P)
    assert mixed.time_s == pytest.approx(50.0)
    assert mixed.energy_pct == pytest.approx((20.0 * 6.0 + 30.0 * 3.6) / 60.0)


def test_landing_follows_px4s_profile() -> None:
    est = path_estimate([(*KUDUS, 60.0)], P, to_ground=True)
    t = 55.0 / 1.5 + 5.0 / 0.7  # MPC_Z_V_AUTO_DN to 5 m, then MPC_LAND_SPEED
    assert est.time_s == pytest.approx(t)
    assert est.descent_s == pytest.approx(t)
    assert est.energy_pct == pytest.approx(t / 60.0 * 3.2)


def test_wind_changes_ground_speed_by_leg_heading() -> None:
    north_wind = Wind(10.0, from_deg=0.0)  # blows toward the south
    assert ground_speed_m_s(12.0, 180.0, north_wind) == pytest.approx(22.0)
    assert ground_speed_m_s(12.0, 0.0, north_wind) == pytest.approx(2.0)
    assert ground_speed_m_s(12.0, 90.0, north_wind) == pytest.approx(math.sqrt(12.0**2 - 10.0**2))
    assert ground_speed_m_s(12.0, 0.0, Wind(13.0, 0.0)) == pytest.approx(-1.0)
    assert ground_speed_m_s(12.0, 90.0, Wind(13.0, 0.0)) == 0.0
    # a 2 km leg south then back north: the round trip costs more than without wind
    lat, lon = destination(*KUDUS, 180.0, 2000.0)
    out = path_estimate([(*KUDUS, 60.0), (lat, lon, 60.0), (*KUDUS, 60.0)], P, wind=north_wind)
    calm = path_estimate([(*KUDUS, 60.0), (lat, lon, 60.0), (*KUDUS, 60.0)], P)
    assert out.legs[0].time_s == pytest.approx(2000.0 / 22.0, rel=1e-6)
    assert out.legs[1].time_s == pytest.approx(2000.0 / 2.0, rel=1e-6)
    assert out.time_s > calm.time_s


def test_headwind_stronger_than_airspeed_is_not_flyable() -> None:
    lat, lon = destination(*KUDUS, 0.0, 3000.0)
    route = [(*KUDUS, 60.0), (lat, lon, 60.0)]
    est = path_estimate(route, P, wind=Wind(15.0, from_deg=0.0))
    assert not est.flyable and math.isinf(est.time_s)
    verdict = assess_feasibility(route, P, wind=Wind(15.0, from_deg=0.0))
    assert (verdict.feasible, verdict.code) == (False, "wind")
    assert "wind stops headway" in verdict.reason
    assert verdict.max_onscene_s == 0.0


distances = st.floats(min_value=0.0, max_value=20_000.0)
bearings = st.floats(min_value=0.0, max_value=359.9)
winds = st.none() | st.builds(Wind, st.floats(0.0, 8.0), st.floats(0.0, 359.0))


@settings(deadline=None, max_examples=60)
@given(distances, distances, bearings, winds, st.floats(10.0, 120.0))
def test_energy_is_monotonic_in_distance(d1: float, d2: float, bearing: float, wind: Wind | None, alt: float) -> None:
    near, far = sorted((d1, d2))
    a = destination(*KUDUS, bearing, near)
    b = destination(*KUDUS, bearing, far)
    e_near = assess_feasibility([(*KUDUS, alt), (*a, alt)], P, wind=wind)
    e_far = assess_feasibility([(*KUDUS, alt), (*b, alt)], P, wind=wind)
    assert e_far.outbound.energy_pct >= e_near.outbound.energy_pct - 1e-9
    assert e_far.outbound.time_s >= e_near.outbound.time_s - 1e-9
    assert e_far.remaining_pct <= e_near.remaining_pct + 1e-9
    assert e_far.max_onscene_s <= e_near.max_onscene_s + 1e-6


@settings(deadline=None, max_examples=60)
@given(st.floats(0.0, 3600.0), st.floats(0.0, 3600.0), st.floats(0.0, 10_000.0), winds)
def test_energy_is_monotonic_in_hover_time(t1: float, t2: float, d: float, wind: Wind | None) -> None:
    short, long_ = sorted((t1, t2))
    target = destination(*KUDUS, 45.0, d)
    route = [(*KUDUS, 60.0), (*target, 60.0)]
    v_short = assess_feasibility(route, P, onscene_s=short, wind=wind)
    v_long = assess_feasibility(route, P, onscene_s=long_, wind=wind)
    assert v_long.remaining_pct <= v_short.remaining_pct + 1e-9
    assert v_long.total_s >= v_short.total_s


@settings(deadline=None, max_examples=60)
@given(st.floats(0.0, 8000.0), bearings, winds, st.floats(30.0, 100.0), st.floats(10.0, 40.0))
def test_max_onscene_time_respects_the_reserve_exactly(
    d: float, bearing: float, wind: Wind | None, battery: float, reserve: float
) -> None:
    battery = max(battery, reserve + 1.0)
    target = destination(*KUDUS, bearing, d)
    route = [(*KUDUS, 60.0), (*target, 60.0)]
    best = max_onscene_s(route, P, battery_pct=battery, reserve_pct=reserve, wind=wind)
    assume(best > 1.0)
    at_best = assess_feasibility(route, P, onscene_s=best, battery_pct=battery, reserve_pct=reserve, wind=wind)
    assert at_best.feasible and at_best.remaining_pct == pytest.approx(reserve, abs=1e-6)
    over = assess_feasibility(route, P, onscene_s=best + 1.0, battery_pct=battery, reserve_pct=reserve, wind=wind)
    assert not over.feasible and over.code == "reserve"
    assert over.remaining_pct < reserve


def test_feasibility_hand_computed() -> None:
    # 3 km out at 60 m, 5 min on scene, 3 km back and land, calm air, default profile
    target = destination(*KUDUS, 90.0, 3000.0)
    route = [(*KUDUS, 60.0), (*target, 60.0)]
    v = assess_feasibility(route, P, onscene_s=300.0, battery_pct=90.0)
    climb = 20.0 / 60.0 * 6.0
    cruise = 250.0 / 60.0 * 3.6  # 3000 m at 12 m/s
    hover = 5.0 * 4.0
    land_s = 55.0 / 1.5 + 5.0 / 0.7
    land = land_s / 60.0 * 3.2
    used = climb + cruise + hover + cruise + land
    assert v.feasible and v.code == "ok"
    assert v.remaining_pct == pytest.approx(90.0 - used)
    assert v.total_s == pytest.approx(20.0 + 250.0 + 300.0 + 250.0 + land_s)
    assert v.max_onscene_s == pytest.approx((90.0 - 20.0 - (used - hover)) / 4.0 * 60.0)
    low = assess_feasibility(route, P, battery_pct=20.0)
    assert (low.feasible, low.code) == (False, "battery_low")


def test_eta_along_a_real_route() -> None:
    airspace = Airspace.from_geojson(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [110.8605, -6.8048]},
                    "properties": {"name": "Lapas (example)", "kind": "prison", "radius_m": 400},
                }
            ],
        }
    )
    route = plan_route(KUDUS, (-6.8048, 110.8805), airspace, cruise_alt_m=60.0)
    eta = eta_s(route, P)
    # climb 20 s, then the route's length at cruise speed
    assert eta == pytest.approx(20.0 + route.length_m / P.cruise_speed_m_s, rel=1e-6)
    assert eta_s(route, P, to_index=0) == pytest.approx(20.0)
    assert eta_s(route, P, to_index=1) < eta
    with pytest.raises(MissionError, match="to_index"):
        eta_s(route, P, to_index=len(route.waypoints))
    v = assess_feasibility(route, P, onscene_s=300.0)
    assert v.feasible and v.inbound.distance_m == pytest.approx(route.length_m, rel=1e-9)


def test_mission_estimate_counts_each_item() -> None:
    home = HomePosition(*KUDUS)
    east = destination(*KUDUS, 90.0, 1200.0)
    m = Mission(
        [
            Takeoff(*KUDUS, 20.0),  # climb 20 m: 6.67 s
            NavWaypoint(*east, 20.0, hold_s=60.0, speed_m_s=6.0),  # 100 s at 12 m/s, then 6 m/s
            LoiterTime(*KUDUS, 20.0, time_s=30.0),  # 200 s at 6 m/s, hover 30 s
            Delay(10.0),
            ChangeSpeed(12.0),
            Orbit(*KUDUS, 20.0, radius_m=100.0, velocity_m_s=5.0, orbits=1.0),  # 100 m out, 1 turn
            RawItem(206, 2, 25.0),
            ReturnToLaunch(),  # climbs to 30 m, flies home, lands
        ],
        home=home,
    )
    est = mission_estimate(m, P)
    orbit_s = 2 * math.pi * 100.0 / 5.0
    rtl_back_s = 100.0 / 12.0
    land_s = 25.0 / 1.5 + 5.0 / 0.7
    expected = 20.0 / 3.0 + 100.0 + 60.0 + 200.0 + 30.0 + 10.0 + 100.0 / 12.0 + orbit_s + 10.0 / 3.0 + rtl_back_s + land_s
    assert est.time_s == pytest.approx(expected, abs=0.01)  # positions are quantized to 1 cm
    assert est.hover_s == pytest.approx(100.0)
    assert any("command 206 not modelled" in n for n in est.notes)
    # an unlimited orbit adds nothing and says so
    est2 = mission_estimate(Mission([Takeoff(*KUDUS, 20.0), Orbit(*KUDUS, 20.0, radius_m=50.0), Land(*KUDUS)]), P)
    assert any("orbit without a number of turns" in n for n in est2.notes)


def test_profile_and_arguments_are_validated() -> None:
    with pytest.raises(MissionError, match="EnergyProfile.cruise_speed_m_s: must be > 0"):
        EnergyProfile(cruise_speed_m_s=0.0)
    with pytest.raises(MissionError, match="Wind.speed_m_s"):
        Wind(-1.0, 0.0)
    with pytest.raises(MissionError, match="onscene_s"):
        assess_feasibility([(*KUDUS, 60.0)], P, onscene_s=-1.0)
    with pytest.raises(MissionError, match="reserve_pct"):
        assess_feasibility([(*KUDUS, 60.0)], P, reserve_pct=100.0)
    with pytest.raises(MissionError, match="route point 0"):
        path_estimate([object()], P)


def test_return_route_can_differ() -> None:
    out_pt = destination(*KUDUS, 0.0, 2000.0)
    detour = destination(*KUDUS, 30.0, 2500.0)
    route = [(*KUDUS, 60.0), (*out_pt, 60.0)]
    straight = assess_feasibility(route, P)
    longer = assess_feasibility(route, P, route_back=[(*out_pt, 60.0), (*detour, 60.0), (*KUDUS, 60.0)])
    assert longer.inbound.distance_m > straight.inbound.distance_m
    assert longer.remaining_pct < straight.remaining_pct
    assert distance_m(*KUDUS, *out_pt) == pytest.approx(straight.inbound.distance_m)
