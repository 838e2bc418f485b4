"""Point-mass dynamics and geodesy: limits respected, positions accurate to < 1 m over 20 km."""

from __future__ import annotations

import math

import pytest

from sim.dynamics import PointMass, velocity_toward, wrap_deg
from sim.geo import GEOD, distance_m, ne_offset_m, offset_deg, radii_m

DT = 0.05


def _fly_const(pm: PointMass, vn: float, ve: float, seconds: float,
               track: list[tuple[float, float]] | None = None) -> None:
    n = int(round(seconds / DT))
    for i in range(n):
        # Huge acceleration limit: the speed is exact from the first step.
        pm.step(DT, vn, ve, 0.0, None, 1e6, 1e6, 1e6, 45.0)
        if track is not None and i % 20 == 19:
            track.append((pm.lat_deg, pm.lon_deg))


@pytest.mark.parametrize(("lat", "lon"), [(47.397742, 8.545594), (-6.2, 106.816666), (64.1, -21.9)])
def test_20_km_north_matches_pyproj_meridian_within_1_m(lat: float, lon: float) -> None:
    pm = PointMass(lat, lon, 100.0)
    _fly_const(pm, 10.0, 0.0, 2000.0)
    lon_ref, lat_ref, _ = GEOD.fwd(lon, lat, 0.0, 20000.0)
    assert distance_m(pm.lat_deg, pm.lon_deg, lat_ref, lon_ref) < 1.0


@pytest.mark.parametrize(("lat", "lon"), [(47.397742, 8.545594), (-6.2, 106.816666), (64.1, -21.9)])
def test_20_km_east_stays_on_the_parallel_and_its_length_matches_pyproj(lat: float, lon: float) -> None:
    """Constant east velocity follows the parallel (a rhumb line), whose length pyproj measures."""
    pm = PointMass(lat, lon, 100.0)
    _fly_const(pm, 0.0, 10.0, 2000.0)
    assert pm.lat_deg == pytest.approx(lat, abs=1e-9)
    n = 2000
    lons = [lon + (pm.lon_deg - lon) * i / n for i in range(n + 1)]
    length = GEOD.line_length(lons, [lat] * (n + 1))
    assert length == pytest.approx(20000.0, abs=1.0)


@pytest.mark.parametrize(("lat", "lon", "az"), [(-6.2, 106.816666, 37.0), (47.4, 8.5, 225.0),
                                                (64.1, -21.9, 300.0)])
def test_20_km_any_heading_path_length_and_end_distance_match_pyproj(lat: float, lon: float,
                                                                      az: float) -> None:
    pm = PointMass(lat, lon, 100.0)
    track: list[tuple[float, float]] = [(lat, lon)]
    _fly_const(pm, 10.0 * math.cos(math.radians(az)), 10.0 * math.sin(math.radians(az)), 2000.0,
               track)
    lats = [p[0] for p in track]
    lons = [p[1] for p in track]
    assert GEOD.line_length(lons, lats) == pytest.approx(20000.0, abs=1.0)
    # A rhumb line of 20 km is longer than the geodesic between its ends by only centimetres.
    assert distance_m(lat, lon, pm.lat_deg, pm.lon_deg) == pytest.approx(20000.0, abs=1.0)


def test_ne_offset_and_offset_deg_agree_with_pyproj_at_20_km() -> None:
    lat0, lon0 = -6.2, 106.8
    lat1, lon1 = offset_deg(lat0, lon0, 12000.0, -16000.0)
    dn, de = ne_offset_m(lat0, lon0, lat1, lon1)
    assert dn == pytest.approx(12000.0, abs=0.05)
    assert de == pytest.approx(-16000.0, abs=0.05)
    assert distance_m(lat0, lon0, lat1, lon1) == pytest.approx(20000.0, abs=1.0)


def test_radii_match_wgs84() -> None:
    m, n = radii_m(0.0)
    assert n == pytest.approx(6378137.0)
    assert m == pytest.approx(6335439.327, abs=0.01)
    m90, n90 = radii_m(89.999999)
    assert n90 == pytest.approx(0.0, abs=1.0)


def test_horizontal_acceleration_limit_and_speed_reached() -> None:
    pm = PointMass(0.0, 0.0, 0.0)
    speeds = []
    for _ in range(60):
        pm.step(DT, 12.0, 0.0, 0.0, None, 3.0, 4.0, 3.0, 45.0)
        speeds.append(pm.ground_speed_m_s)
    diffs = [b - a for a, b in zip([0.0] + speeds, speeds)]
    assert max(diffs) <= 3.0 * DT + 1e-9
    assert speeds[-1] == pytest.approx(3.0 * 60 * DT)  # still accelerating at 3 m/s^2 after 3 s
    for _ in range(100):
        pm.step(DT, 12.0, 0.0, 0.0, None, 3.0, 4.0, 3.0, 45.0)
    assert pm.ground_speed_m_s == pytest.approx(12.0)


def test_vertical_limits_up_and_down_are_separate() -> None:
    pm = PointMass(0.0, 0.0, 100.0)
    pm.step(DT, 0.0, 0.0, -3.0, None, 3.0, 4.0, 2.0, 45.0)
    assert pm.vd_m_s == pytest.approx(-4.0 * DT)
    pm2 = PointMass(0.0, 0.0, 100.0)
    pm2.step(DT, 0.0, 0.0, 1.5, None, 3.0, 4.0, 2.0, 45.0)
    assert pm2.vd_m_s == pytest.approx(2.0 * DT)
    for _ in range(40):
        pm.step(DT, 0.0, 0.0, -3.0, None, 3.0, 4.0, 2.0, 45.0)
    assert pm.alt_amsl_m > 100.0 and pm.vd_m_s == pytest.approx(-3.0)


def test_yaw_rate_limited_and_wraps() -> None:
    pm = PointMass(0.0, 0.0, 0.0, yaw_deg=350.0)
    pm.step(1.0, 0.0, 0.0, 0.0, 20.0, 3.0, 3.0, 3.0, 45.0)
    assert pm.yaw_deg == pytest.approx(20.0)  # 30 deg the short way, within 45 deg/s
    pm.step(1.0, 0.0, 0.0, 0.0, 150.0, 3.0, 3.0, 3.0, 45.0)
    assert pm.yaw_deg == pytest.approx(65.0)
    assert wrap_deg(190.0) == pytest.approx(-170.0)


def test_tilt_follows_acceleration() -> None:
    pm = PointMass(0.0, 0.0, 0.0, yaw_deg=0.0)
    pm.step(DT, 5.0, 0.0, 0.0, None, 3.0, 3.0, 3.0, 45.0)  # accelerating north = forward
    assert pm.pitch_rad < -0.2  # nose down
    assert abs(pm.roll_rad) < 1e-9
    pm2 = PointMass(0.0, 0.0, 0.0, yaw_deg=0.0)
    pm2.step(DT, 0.0, 5.0, 0.0, None, 3.0, 3.0, 3.0, 45.0)  # east = to the right
    assert pm2.roll_rad > 0.2


def test_velocity_toward_brakes_to_stop_without_overshoot() -> None:
    pm = PointMass(10.0, 10.0, 0.0)
    target = offset_deg(10.0, 10.0, 300.0, 400.0)
    max_d_after_arrival = 0.0
    arrived = False
    for _ in range(int(200 / DT)):
        dn, de = pm.offset_to(*target)
        vn, ve, d = velocity_toward(dn, de, 12.0, 3.0)
        pm.step(DT, vn, ve, 0.0, None, 3.0, 3.0, 3.0, 45.0)
        if d < 0.2:
            arrived = True
        if arrived:
            max_d_after_arrival = max(max_d_after_arrival, d)
    assert arrived
    assert max_d_after_arrival < 0.5
    assert distance_m(pm.lat_deg, pm.lon_deg, *target) < 0.05
