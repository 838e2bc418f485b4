"""MAVSDK's Offboard plugin flies sim: refused without setpoints, velocity and position setpoints,
HEARTBEAT in OFFBOARD, stop -> Hold (as PX4)."""

from __future__ import annotations

import pytest
from mavsdk.plugins.offboard import OffboardError, PositionGlobalYaw, PositionNedYaw, VelocityNedYaw
from mavsdk.plugins.telemetry import FlightMode

from sim.vehicle import MainMode
from tests.support.flight import connect, distance_m

pytestmark = pytest.mark.flight


async def test_offboard_velocity_then_position_setpoints(make_fleet) -> None:
    fleet = make_fleet(speedup=5)
    async with connect(fleet, speedup=5) as (f,):
        from mavsdk.asyncio.plugins.offboard import OffboardAsync

        ofb = OffboardAsync(f.system)
        try:
            await f.wait_until_ready()
            # PX4 refuses OFFBOARD before any setpoint arrived (MAVSDK sends none yet).
            with pytest.raises(OffboardError):
                await ofb.start()
            await f.action.arm()
            await ofb.set_velocity_ned(VelocityNedYaw(0.0, 0.0, -2.0, 0.0))  # climb at 2 m/s
            await ofb.start()
            await f.wait_flight_mode(FlightMode.OFFBOARD, 5)
            assert fleet.state(0).main_mode == MainMode.OFFBOARD
            await f.wait_until_in_air(10)
            await f.wait_until(lambda: fleet.state(0).alt_rel_m > 8.0, 20, "climbing in offboard")
            st = fleet.state(0)
            assert st.vd_m_s == pytest.approx(-2.0, abs=0.3)

            await ofb.set_velocity_ned(VelocityNedYaw(3.0, 0.0, 0.0, 0.0))  # north at 3 m/s
            await f.wait_until(lambda: abs(fleet.state(0).vn_m_s - 3.0) < 0.2, 10, "flying north at 3 m/s")
            assert abs(fleet.state(0).vd_m_s) < 0.3

            # Local NED position (origin: home), then a global position with a relative altitude.
            await ofb.set_position_ned(PositionNedYaw(30.0, 20.0, -15.0, 90.0))
            home = await f.tel.home()

            async def at_ned() -> bool:
                pos = (await f.tel.position_velocity_ned()).position
                return abs(pos.north_m - 30) < 0.5 and abs(pos.east_m - 20) < 0.5 and abs(pos.down_m + 15) < 0.5
            await f.tel.set_rate_position_velocity_ned(5.0)
            await f.wait_until(at_ned, 60, "at NED 30/20/-15")
            assert fleet.state(0).heading_deg == pytest.approx(90.0, abs=2.0)
            lat, lon = home.latitude_deg - 0.0002, home.longitude_deg
            await ofb.set_position_global(PositionGlobalYaw(lat, lon, 10.0, 0.0,
                                                            PositionGlobalYaw.AltitudeType.REL_HOME))
            await f.wait_until_near(lat, lon, 0.5, timeout_s=60)
            await f.wait_until_altitude(10.0, 0.5, timeout_s=30)

            await ofb.stop()
            await f.wait_flight_mode(FlightMode.HOLD, 5)
            st = fleet.state(0)
            assert distance_m(st.lat_deg, st.lon_deg, lat, lon) < 2.0
        finally:
            ofb.destroy()
