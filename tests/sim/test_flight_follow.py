"""MAVSDK follow_me: the vehicle tracks a moving target (FOLLOW_TARGET) within 10 m."""

from __future__ import annotations

import asyncio
import math

import pytest
from mavsdk.plugins.follow_me import Config, TargetLocation
from mavsdk.plugins.telemetry import FlightMode

from tests.support.flight import connect, distance_m

pytestmark = pytest.mark.flight


async def test_follow_me_tracks_a_moving_target_within_10_m(make_fleet) -> None:
    speedup = 5.0
    fleet = make_fleet(speedup=speedup)
    async with connect(fleet, speedup=speedup) as (f,):
        await f.wait_until_ready()
        await f.action.set_takeoff_altitude(8.0)
        await f.arm_and_takeoff()
        await f.wait_until_altitude(8.0, 0.5)
        await f.follow_me.set_config(Config(follow_height_m=8.0, follow_distance_m=5.0,
                                            responsiveness=0.1, max_tangential_vel_m_s=8.0,
                                            follow_angle_deg=180.0))
        home = await f.tel.home()
        lat0, lon0, alt0 = home.latitude_deg, home.longitude_deg, home.absolute_altitude_m
        speed_n, speed_e = 2.0, 1.5  # the patrol officer walks/rides north-east at 2.5 m/s
        t0 = fleet.sim_time_s

        def target() -> tuple[float, float]:
            dt = fleet.sim_time_s - t0
            return (lat0 + speed_n * dt / 111_319.49,
                    lon0 + speed_e * dt / (111_319.49 * math.cos(math.radians(lat0))))

        async def send_target() -> None:
            lat, lon = target()
            await f.follow_me.set_target_location(
                TargetLocation(lat, lon, alt0, speed_n, speed_e, 0.0))

        await f.follow_me.start()
        await f.wait_flight_mode(FlightMode.FOLLOW_ME, 5)
        await f.wait_until(f.follow_me.is_active, 10, "follow-me active")
        worst_late = 0.0
        while fleet.sim_time_s - t0 < 40.0:
            await send_target()
            await asyncio.sleep(0.1)
            if fleet.sim_time_s - t0 > 20.0:  # after catching up
                st = fleet.state(0)
                lat, lon = target()
                worst_late = max(worst_late, distance_m(st.lat_deg, st.lon_deg, lat, lon))
        assert 0 < worst_late <= 10.0, worst_late
        moved = distance_m(lat0, lon0, fleet.state(0).lat_deg, fleet.state(0).lon_deg)
        assert moved > 60.0  # it really went along (40 s at 2.5 m/s)
        await f.follow_me.stop()
        await f.wait_flight_mode(FlightMode.HOLD, 5)
