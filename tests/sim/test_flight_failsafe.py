"""Failsafes seen through MAVSDK: data-link loss -> RTL, low battery -> RTL / critical -> land,
geofence breach -> GF_ACTION."""

from __future__ import annotations

import pytest
from mavsdk.plugins.geofence import FenceType, GeofenceData, Point, Polygon
from mavsdk.plugins.telemetry import FlightMode

from sim.vehicle import AutoSub
from tests.support.flight import connect

pytestmark = pytest.mark.flight


async def test_data_link_loss_triggers_rtl_while_mavsdk_sees_the_link_lost(make_fleet) -> None:
    fleet = make_fleet(speedup=4)
    async with connect(fleet, speedup=4) as (f,):
        await f.param.set_param_int("NAV_DLL_ACT", 2)
        assert await f.param.get_param_int("NAV_DLL_ACT") == 2
        loss_t = await f.param.get_param_int("COM_DL_LOSS_T")
        await f.wait_until_ready()
        await f.arm_and_takeoff()
        await f.wait_flight_mode(FlightMode.HOLD)
        t0 = fleet.sim_time_s
        fleet.link_loss(0, duration_s=26.0)

        async def mavsdk_lost() -> bool:
            return not await f.system.is_connected()
        await f.wait_until(mavsdk_lost, 20, "seen as disconnected by MAVSDK")
        # While MAVSDK sees no vehicle, the vehicle is returning on its own.
        await f.wait_until(lambda: fleet.state(0).sub_mode == AutoSub.RTL, 20, "in RTL")
        assert fleet.sim_time_s - t0 >= loss_t - 0.5
        assert not await f.system.is_connected()
        assert not fleet.link_up(0)

        async def mavsdk_back() -> bool:
            return bool(await f.system.is_connected())
        await f.wait_until(mavsdk_back, 40, "reconnected")
        await f.wait_flight_mode(FlightMode.RETURN_TO_LAUNCH, 10)
        await f.wait_until_landed(240)


async def test_low_battery_rtl_then_critical_land(make_fleet) -> None:
    fleet = make_fleet(speedup=5)
    async with connect(fleet, speedup=5) as (f,):
        low = await f.param.get_param_float("BAT_LOW_THR")
        crit = await f.param.get_param_float("BAT_CRIT_THR")
        await f.wait_until_ready()
        await f.action.set_takeoff_altitude(10.0)
        await f.arm_and_takeoff()
        await f.wait_until_altitude(10.0, 0.5)
        fleet.set_battery(0, low * 100 - 1)
        await f.wait_flight_mode(FlightMode.RETURN_TO_LAUNCH, 5)

        async def battery_low() -> bool:
            return abs((await f.tel.battery()).remaining_percent - (low * 100 - 1)) < 1.5
        await f.wait_until(battery_low, 5, "reporting the low battery")
        fleet.set_battery(0, crit * 100 - 1)
        await f.wait_flight_mode(FlightMode.LAND, 5)
        await f.wait_until_landed(120)


async def test_geofence_upload_download_and_breach_triggers_gf_action(make_fleet) -> None:
    fleet = make_fleet(speedup=10)
    async with connect(fleet, speedup=10) as (f,):
        await f.wait_until_ready()
        home = await f.tel.home()
        lat0, lon0 = home.latitude_deg, home.longitude_deg
        d = 0.0005  # ~55 m
        square = [Point(lat0 - d, lon0 - d), Point(lat0 - d, lon0 + d), Point(lat0 + d, lon0 + d),
                  Point(lat0 + d, lon0 - d)]
        await f.geofence.upload_geofence(GeofenceData(polygons=[Polygon(square, FenceType.INCLUSION)]))
        got = await f.geofence.download_geofence()
        assert len(got.polygons) == 1
        assert [(round(p.latitude_deg, 7), round(p.longitude_deg, 7)) for p in got.polygons[0].points] \
            == [(round(p.latitude_deg, 7), round(p.longitude_deg, 7)) for p in square]
        await f.param.set_param_int("GF_ACTION", 3)  # return
        await f.arm_and_takeoff()
        await f.action.goto_location(lat0 + 3 * d, lon0, home.absolute_altitude_m + 10.0, 0.0)
        await f.wait_flight_mode(FlightMode.RETURN_TO_LAUNCH, 60)
        assert fleet.state(0).geofence_breached or fleet.state(0).sub_mode == AutoSub.RTL
        await f.wait_until_landed(240)
