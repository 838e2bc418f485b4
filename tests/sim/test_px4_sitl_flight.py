"""The flight scenarios written against MAVSDK telemetry only, run against `sim` and, when
``PX4_SITL_BUILD`` names a PX4 build, against real PX4 SITL (SIH quadrotor) — the evidence that
MAVSDK cannot tell the two apart for what the controller uses.

The sim variants run in every suite (so these scenarios never rot); the PX4 variants are marked
``px4_sitl`` and skipped with the reason when no build is named. Faults (link loss, battery) are
sim-only (PX4's SIH cannot inject them through MAVLink) and live in test_flight_failsafe.py.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager

import pytest
from mavsdk.plugins.action import ActionError
from mavsdk.plugins.follow_me import Config, TargetLocation
from mavsdk.plugins.geofence import FenceType, GeofenceData, Point, Polygon
from mavsdk.plugins.mission import MissionItem, MissionPlan
from mavsdk.plugins.telemetry import FlightMode

from tests.support.flight import Flight, connect, distance_m

PX4_BUILD = os.environ.get("PX4_SITL_BUILD")
PX4_SPEED = float(os.environ.get("PX4_SITL_SPEED", "1"))
SIM_SPEED = 10.0
HOMES = [(-6.2088, 106.8456, 10.0), (-6.2088, 106.8458, 10.0), (-6.2088, 106.8460, 10.0)]


class _Px4Vehicles:
    """Px4Sitl seen through tests.support.flight's Vehicles protocol (clock = wall x speed)."""

    def __init__(self, px4: object, speed: float) -> None:
        self.px4 = px4
        self.speed = speed
        self.t0 = time.monotonic()

    def __len__(self) -> int:
        return len(self.px4.instances)  # type: ignore[attr-defined]

    def api_url(self, i: int) -> str:
        return self.px4.instances[i].mavsdk_url  # type: ignore[attr-defined]

    def system_id(self, i: int) -> int:
        return self.px4.instances[i].system_id  # type: ignore[attr-defined]

    @property
    def sim_time_s(self) -> float:
        return (time.monotonic() - self.t0) * self.speed


@pytest.fixture(params=[
    pytest.param("sim", marks=pytest.mark.flight),
    pytest.param("px4", marks=[pytest.mark.px4_sitl, pytest.mark.slow, pytest.mark.skipif(
        not PX4_BUILD, reason="PX4_SITL_BUILD is not set (point it at PX4-Autopilot's build/px4_sitl_default)")]),
])
def launch(request: pytest.FixtureRequest, make_fleet) -> Iterator[Callable[[int], object]]:
    """``async with launch(n) as flights`` -> n vehicles of the backend, connected through MAVSDK."""
    backend = request.param

    @asynccontextmanager
    async def run(n: int, sim_speedup: float = SIM_SPEED) -> AsyncIterator[list[Flight]]:
        if backend == "sim":
            from sim import Home
            fleet = make_fleet(n, speedup=sim_speedup, homes=[Home(*h) for h in HOMES[:n]])
            async with connect(fleet, speedup=sim_speedup) as flights:
                yield flights
        else:
            from sim.px4_sitl import Px4Sitl
            from sim.fleet import free_udp_port
            with Px4Sitl(n, homes=HOMES[:n], speed_factor=PX4_SPEED,
                         api_ports=[free_udp_port() for _ in range(n)]) as px4:
                vehicles = _Px4Vehicles(px4, PX4_SPEED)
                async with connect(vehicles, speedup=PX4_SPEED, discover_timeout_s=60) as flights:
                    yield flights

    yield run


async def test_scenario_boot_health_arm_denied_then_takeoff_hold_land(launch) -> None:
    # Slow enough that the boot window (estimator not converged) outlasts discovery.
    async with launch(1, sim_speedup=2.0) as (f,):
        health = await f.tel.health()
        if not health.is_armable:
            with pytest.raises(ActionError):
                await f.action.arm()
        await f.wait_until_ready(timeout_s=60)
        await f.action.arm()
        await f.action.takeoff()
        await f.wait_until_in_air()
        takeoff_alt = await f.action.get_takeoff_altitude()
        await f.wait_until_altitude(takeoff_alt, 0.5)
        await f.wait_flight_mode(FlightMode.HOLD, 30)
        await f.action.land()
        await f.wait_until_landed(120)


async def test_scenario_params_get_set(launch) -> None:
    async with launch(1) as (f,):
        await f.param.set_param_int("NAV_DLL_ACT", 2)
        assert await f.param.get_param_int("NAV_DLL_ACT") == 2
        await f.param.set_param_float("MPC_XY_CRUISE", 6.5)
        assert await f.param.get_param_float("MPC_XY_CRUISE") == pytest.approx(6.5)


async def test_scenario_mission_progress_then_rtl_home(launch) -> None:
    async with launch(1) as (f,):
        await f.wait_until_ready(timeout_s=60)
        await f.action.set_return_to_launch_altitude(15.0)
        home = await f.tel.home()
        lat0, lon0 = home.latitude_deg, home.longitude_deg
        items = [MissionItem(latitude_deg=lat0 + dn, longitude_deg=lon0 + de, relative_altitude_m=10.0,
                             speed_m_s=5.0, is_fly_through=False, acceptance_radius_m=1.0)
                 for dn, de in ((0.0002, 0.0), (0.0002, 0.0002), (0.0, 0.0002))]
        await f.mission.set_return_to_launch_after_mission(True)
        await f.upload(MissionPlan(items))
        got = await f.mission.download_mission()
        assert [(round(i.latitude_deg, 7), round(i.longitude_deg, 7)) for i in got.mission_items] == \
            [(round(i.latitude_deg, 7), round(i.longitude_deg, 7)) for i in items]
        seen = [current for current, _ in await f.fly_mission(300, settle_s=0.3)]
        assert seen == sorted(seen) and {1, 2, 3} <= set(seen)
        await f.wait_until_landed(300)
        p = await f.tel.position()
        assert distance_m(p.latitude_deg, p.longitude_deg, lat0, lon0) < 2.0


async def test_scenario_goto_and_geofence_breach(launch) -> None:
    async with launch(1) as (f,):
        await f.wait_until_ready(timeout_s=60)
        home = await f.tel.home()
        lat0, lon0 = home.latitude_deg, home.longitude_deg
        d = 0.0006
        square = [Point(lat0 - d, lon0 - d), Point(lat0 - d, lon0 + d), Point(lat0 + d, lon0 + d),
                  Point(lat0 + d, lon0 - d)]
        await f.geofence.upload_geofence(GeofenceData(polygons=[Polygon(square, FenceType.INCLUSION)]))
        await f.param.set_param_int("GF_ACTION", 3)
        await f.arm_and_takeoff()
        # Inside the fence: a plain goto.
        lat1, lon1 = lat0 + d / 2, lon0
        await f.action.goto_location(lat1, lon1, home.absolute_altitude_m + 10.0, 0.0)
        await f.wait_until_near(lat1, lon1, 1.5, timeout_s=120)
        # Outside: the breach makes it return.
        await f.action.goto_location(lat0 + 3 * d, lon0, home.absolute_altitude_m + 10.0, 0.0)
        await f.wait_flight_mode(FlightMode.RETURN_TO_LAUNCH, 120)
        await f.wait_until_landed(300)


async def test_scenario_follow_me(launch) -> None:
    # MAVSDK forwards the target at its own (wall-clock) pace: keep the sim's speed-up moderate.
    async with launch(1, sim_speedup=5.0) as (f,):
        await f.wait_until_ready(timeout_s=60)
        await f.arm_and_takeoff()
        await f.follow_me.set_config(Config(follow_height_m=8.0, follow_distance_m=5.0,
                                            responsiveness=0.1, max_tangential_vel_m_s=8.0,
                                            follow_angle_deg=180.0))
        home = await f.tel.home()
        lat0, lon0, alt0 = home.latitude_deg, home.longitude_deg, home.absolute_altitude_m
        t0 = f.clock()

        def target() -> tuple[float, float]:
            dt = f.clock() - t0
            return lat0 + 2.0 * dt / 111_319.49, lon0

        await f.follow_me.start()
        await f.wait_flight_mode(FlightMode.FOLLOW_ME, 10)
        await f.wait_until(f.follow_me.is_active, 10, "follow-me active")
        worst = 0.0
        while f.clock() - t0 < 40.0:
            lat, lon = target()
            await f.follow_me.set_target_location(TargetLocation(lat, lon, alt0, 2.0, 0.0, 0.0))
            await asyncio.sleep(0.1)
            if f.clock() - t0 > 20.0:
                p = await f.tel.position()
                worst = max(worst, distance_m(p.latitude_deg, p.longitude_deg, *target()))
        assert 0.0 < worst <= 10.0
        await f.follow_me.stop()


async def test_scenario_three_vehicles(launch) -> None:
    async with launch(3) as flights:
        assert len({f.system_id for f in flights}) == 3
        await asyncio.gather(*(f.wait_until_ready(timeout_s=60) for f in flights))
        await asyncio.gather(*(f.arm_and_takeoff() for f in flights))
        positions = [await f.tel.position() for f in flights]
        assert all(not math.isnan(p.latitude_deg) for p in positions)
        await asyncio.gather(*(f.action.land() for f in flights))
        await asyncio.gather(*(f.wait_until_landed(120) for f in flights))
