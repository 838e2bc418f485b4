"""MAVSDK (native core) flies sim over UDP: connect and health, arming, takeoff/hold/land, goto,
parameters, and three vehicles at once on their own ports."""

from __future__ import annotations

import asyncio
import math

import pytest
from mavsdk.plugins.action import ActionError, OrbitYawBehavior
from mavsdk.plugins.telemetry import FlightMode, LandedState

from sim.vehicle import ESTIMATOR_CONVERGE_S
from tests.sim.conftest import JAKARTA
from tests.support.flight import connect, distance_m

pytestmark = pytest.mark.flight


async def test_connect_health_false_at_boot_then_true_and_false_while_gps_lost(make_fleet) -> None:
    fleet = make_fleet(speedup=2)
    async with connect(fleet, speedup=2) as (f,):
        # However long discovery took on a loaded machine, boot again now: the estimator needs
        # ESTIMATOR_CONVERGE_S simulated seconds, during which MAVSDK must not call it healthy.
        fleet.reboot(0)
        t_boot = fleet.sim_time_s

        async def not_ready() -> bool:
            h = await f.tel.health()
            return not h.is_global_position_ok and not h.is_armable
        await f.wait_until(not_ready, ESTIMATOR_CONVERGE_S - 1.0, "unhealthy while the estimator converges")
        await f.wait_until_ready(timeout_s=20)
        assert fleet.sim_time_s - t_boot >= ESTIMATOR_CONVERGE_S - 0.5  # not before it converged
        home = await f.tel.home()
        assert distance_m(home.latitude_deg, home.longitude_deg, JAKARTA.lat_deg, JAKARTA.lon_deg) < 0.1
        pos = await f.tel.position()
        assert abs(pos.absolute_altitude_m - JAKARTA.alt_amsl_m) < 0.1
        assert await f.tel.flight_mode() in (FlightMode.POSCTL, FlightMode.HOLD, FlightMode.READY)

        fleet.set_gps_lost(0, True)

        async def gps_bad() -> bool:
            h = await f.tel.health()
            return not h.is_global_position_ok and not h.is_armable
        await f.wait_until(gps_bad, 5, "reporting GPS loss")
        gps = await f.tel.gps_info()
        assert gps.num_satellites == 0
        fleet.set_gps_lost(0, False)
        await f.wait_until_ready(timeout_s=10)


async def test_arming_denied_before_ready_with_reason(make_fleet) -> None:
    fleet = make_fleet(speedup=1)
    async with connect(fleet) as (f,):
        fleet.reboot(0)  # booting now, whatever discovery took: the estimator has not converged
        # A rebooting PX4 is silent for a few wall seconds (sim.runtime.REBOOT_SILENCE_S) and its
        # clock starts again from 0 when it speaks again: wait until it has been up for 1 s.
        await f.wait_until(lambda: fleet.state(0).time_us > 1_000_000, 30, "back from the reboot")
        with pytest.raises(ActionError) as err:
            await f.action.arm()
        assert "TEMPORARILY_REJECTED" in str(err.value) or "DENIED" in str(err.value)
        text = await f.tel.status_text()
        assert text.text.startswith("Arming denied"), text
        assert not await f.tel.armed()
        assert not fleet.state(0).armed


async def test_arm_takeoff_hold_land_auto_disarm(make_fleet) -> None:
    fleet = make_fleet(speedup=5)
    async with connect(fleet, speedup=5) as (f,):
        await f.wait_until_ready()
        takeoff_alt = await f.action.get_takeoff_altitude()
        assert takeoff_alt == pytest.approx(2.5)
        await f.action.set_takeoff_altitude(6.0)
        await f.action.arm()
        assert await f.tel.armed()  # the HEARTBEAT came before the ACK
        await f.action.takeoff()
        await f.wait_until_in_air()
        await f.wait_until_altitude(6.0, 0.3)
        await f.wait_flight_mode(FlightMode.HOLD)
        t0 = fleet.sim_time_s
        p0 = await f.tel.position()
        await f.wait_until(lambda: fleet.sim_time_s - t0 > 5.0, 10, "holding 5 s")
        p1 = await f.tel.position()
        assert distance_m(p0.latitude_deg, p0.longitude_deg, p1.latitude_deg, p1.longitude_deg) < 0.5
        assert abs(p1.relative_altitude_m - 6.0) < 0.3
        await f.action.land()
        await f.wait_flight_mode(FlightMode.LAND, 5)
        await f.wait_until_landed(60)
        assert await f.tel.landed_state() == LandedState.ON_GROUND
        assert not fleet.state(0).armed


async def test_goto_location(make_fleet) -> None:
    fleet = make_fleet(speedup=10)
    async with connect(fleet, speedup=10) as (f,):
        await f.wait_until_ready()
        await f.arm_and_takeoff()
        home = await f.tel.home()
        lat, lon = home.latitude_deg + 0.0009, home.longitude_deg + 0.0005  # ~115 m
        amsl = home.absolute_altitude_m + 20.0
        await f.action.set_current_speed(8.0)  # DO_CHANGE_SPEED: the goto flies at 8 m/s, not 5
        await f.action.goto_location(lat, lon, amsl, math.nan)  # NaN yaw: face the travel direction

        async def cruising() -> bool:
            st = fleet.state(0)
            fw = await f.tel.fixedwing_metrics()  # VFR_HUD
            return abs(math.hypot(st.vn_m_s, st.ve_m_s) - 8.0) < 0.2 and abs(fw.groundspeed_m_s - 8.0) < 0.3
        await f.wait_until(cruising, 30, "cruising at 8 m/s")
        course = math.degrees(math.atan2((lon - home.longitude_deg) * math.cos(math.radians(lat)),
                                         lat - home.latitude_deg))
        yaw = (await f.tel.attitude_euler()).yaw_deg  # ATTITUDE
        assert abs((yaw - course + 180.0) % 360.0 - 180.0) < 5.0, (yaw, course)
        assert abs((await f.tel.heading()).heading_deg - yaw % 360.0) < 5.0  # GLOBAL_POSITION_INT hdg
        await f.wait_until_near(lat, lon, 1.0, timeout_s=90)
        await f.wait_until_altitude(20.0, 0.5, timeout_s=30)
        st = fleet.state(0)
        assert distance_m(st.lat_deg, st.lon_deg, lat, lon) < 1.0
        assert await f.tel.flight_mode() == FlightMode.HOLD
        alt = await f.tel.altitude()  # ALTITUDE
        assert alt.altitude_relative_m == pytest.approx(st.alt_rel_m, abs=0.3)
        assert alt.altitude_amsl_m == pytest.approx(st.alt_amsl_m, abs=0.3)
        bat = await f.tel.battery()  # BATTERY_STATUS
        assert bat.remaining_percent == pytest.approx(st.battery_pct, abs=1.0) and 13.0 < bat.voltage_v < 17.0

        # DO_ORBIT (MAVSDK do_orbit): circles the point in PX4's POSCTL orbit mode.
        await f.action.do_orbit(15.0, 3.0, OrbitYawBehavior.HOLD_FRONT_TO_CIRCLE_CENTER, lat, lon, amsl)
        await f.wait_flight_mode(FlightMode.POSCTL, 5)
        t0 = fleet.sim_time_s
        await f.wait_until(lambda: fleet.sim_time_s - t0 > 25.0, 40, "orbiting 25 s")
        st = fleet.state(0)
        assert distance_m(st.lat_deg, st.lon_deg, lat, lon) == pytest.approx(15.0, abs=1.5)
        assert math.hypot(st.vn_m_s, st.ve_m_s) == pytest.approx(3.0, abs=0.4)
        await f.action.return_to_launch()
        await f.wait_until_landed(180)
        st = fleet.state(0)
        assert distance_m(st.lat_deg, st.lon_deg, home.latitude_deg, home.longitude_deg) < 2.0


async def test_parameters_get_set_int_and_float(make_fleet) -> None:
    fleet = make_fleet(speedup=2)
    async with connect(fleet, speedup=2) as (f,):
        assert await f.param.get_param_int("NAV_DLL_ACT") == 0
        assert await f.param.get_param_float("MPC_XY_CRUISE") == pytest.approx(5.0)
        await f.param.set_param_int("NAV_DLL_ACT", 2)
        await f.param.set_param_float("MPC_XY_CRUISE", 8.5)
        assert await f.param.get_param_int("NAV_DLL_ACT") == 2
        assert await f.param.get_param_float("MPC_XY_CRUISE") == pytest.approx(8.5)
        assert fleet._runtime.runners[0].vehicle.params.get("NAV_DLL_ACT") == 2  # noqa: SLF001
        await f.action.set_return_to_launch_altitude(42.0)
        assert await f.action.get_return_to_launch_altitude() == pytest.approx(42.0)
        # MAVSDK's set_rate_* calls (SET_MESSAGE_INTERVAL) are accepted for what PX4 streams.
        for name in ("position", "home", "in_air", "landed_state", "attitude_euler",
                     "attitude_quaternion", "velocity_ned", "gps_info", "raw_gps", "battery",
                     "position_velocity_ned", "altitude", "health", "unix_epoch_time"):
            await getattr(f.tel, f"set_rate_{name}")(4.0)
        await f.tel.set_rate_position(20.0)
        all_params = await f.param.get_all_params()
        names = {p.name for p in all_params.int_params} | {p.name for p in all_params.float_params}
        for required in ("MIS_TAKEOFF_ALT", "MPC_XY_CRUISE", "MPC_Z_VEL_MAX_UP", "RTL_RETURN_ALT",
                         "NAV_DLL_ACT", "COM_DL_LOSS_T", "BAT_LOW_THR", "BAT_CRIT_THR", "GF_ACTION",
                         "NAV_ACC_RAD"):
            assert required in names
        async def local_position() -> bool:
            pos = (await f.tel.position_velocity_ned()).position
            return abs(pos.north_m) < 0.5 and abs(pos.east_m) < 0.5 and abs(pos.down_m) < 0.5
        await f.wait_until(local_position, 10, "streaming LOCAL_POSITION_NED")
        assert fleet._runtime.runners[0].server.streams["api"].interval_s(33) == pytest.approx(0.05)  # noqa: SLF001


async def test_three_vehicles_at_once_on_their_own_ports(make_fleet) -> None:
    fleet = make_fleet(3, speedup=5)
    async with connect(fleet, speedup=5) as flights:
        assert len({f.system_id for f in flights}) == 3
        await asyncio.gather(*(f.wait_until_ready() for f in flights))
        await asyncio.gather(*(f.action.arm() for f in flights))
        for f, alt in zip(flights, (4.0, 6.0, 8.0)):
            await f.action.set_takeoff_altitude(alt)
        await asyncio.gather(*(f.action.takeoff() for f in flights))
        await asyncio.gather(*(f.wait_until_altitude(alt, 0.3) for f, alt in zip(flights, (4.0, 6.0, 8.0))))
        for i, f in enumerate(flights):
            p = await f.tel.position()
            st = fleet.state(i)
            assert distance_m(p.latitude_deg, p.longitude_deg, st.lat_deg, st.lon_deg) < 0.5
            assert math.isclose(p.longitude_deg, fleet.homes[i].lon_deg, abs_tol=2e-5)
        await asyncio.gather(*(f.action.land() for f in flights))
        await asyncio.gather(*(f.wait_until_landed(60) for f in flights))
