"""MavsdkGateway against ``sim`` vehicles over the real MAVLink wire (MAVSDK's native core).

Every assertion about the vehicle compares what came over MAVLink with the sim's true state or
true parameters, read on the sim's side.
"""

from __future__ import annotations

import socket
import time

import pytest

from dronectl.gateway import (
    CommandRejected,
    FlightMode,
    LinkState,
    NotConnected,
    SafetyParams,
    Telemetry,
)
from missions.geodesy import distance_m
from missions.items import Cmd, MavlinkItem, MissionType
from sim import Fleet
from sim.vehicle import AutoSub
from tests.dronectl.e2e_support import (
    KUDUS_HOMES,
    Flight,
    make_gateway,
    mission_items,
    offset,
    safety_for,
    sim_fleet,
    wait_until,
)

pytestmark = [pytest.mark.flight, pytest.mark.timeout(180)]

SPEEDUP = 10.0
PARAM_NAMES = {
    "NAV_DLL_ACT": "nav_dll_act",
    "COM_DL_LOSS_T": "com_dl_loss_t_s",
    "RTL_RETURN_ALT": "rtl_return_alt_m",
    "GF_ACTION": "gf_action",
}


def assert_true_params(fleet: Fleet, i: int, safety: SafetyParams) -> None:
    for px4_name, attr in PARAM_NAMES.items():
        want = float(getattr(safety, attr))
        assert fleet.param(i, px4_name) == pytest.approx(want, abs=1e-3), px4_name


async def test_three_drones_connect_with_safety_params_confirmed() -> None:
    # A non-default RTL altitude, so that a vehicle default cannot pass for ours.
    safety = safety_for(SPEEDUP, rtl_return_alt_m=55.0)
    with sim_fleet(KUDUS_HOMES, speedup=SPEEDUP) as fleet:
        for i in range(3):  # PX4 SITL defaults: link-loss failsafe off
            assert fleet.param(i, "NAV_DLL_ACT") == 0
        gw = make_gateway(fleet, safety=safety)
        await gw.start()
        try:
            for i in range(3):
                flight = Flight(gw, fleet, i, f"d{i}")
                snap = await flight.wait_until_ready()
                assert snap.link is LinkState.CONNECTED
                assert_true_params(fleet, i, safety)
                truth = fleet.state(i)
                assert snap.lat_deg is not None and snap.lon_deg is not None
                assert distance_m(snap.lat_deg, snap.lon_deg, truth.lat_deg, truth.lon_deg) < 1.0
                assert snap.alt_amsl_m == pytest.approx(truth.alt_amsl_m, abs=0.5)
                assert snap.battery_pct == pytest.approx(truth.battery_pct, abs=2.0)
                assert not snap.armed and not snap.in_air
        finally:
            await gw.close()


async def test_mission_upload_start_progress_rtl_and_landing() -> None:
    home = KUDUS_HOMES[0]
    wps = [offset(home, 0.0, 250.0), offset(home, 90.0, 250.0), offset(home, 90.0, 100.0)]
    items = mission_items(home, wps, alt_rel_m=30.0, speed_m_s=10.0)
    safety = safety_for(SPEEDUP)
    with sim_fleet([home], speedup=SPEEDUP) as fleet:
        gw = make_gateway(fleet, safety=safety, rate_hz=5.0)
        await gw.start()
        flight = Flight(gw, fleet, 0, "d0")
        try:
            await flight.wait_until_ready()
            await gw.upload_mission("d0", items)
            truth = fleet.state(0)
            assert truth.mission_count == len(items)

            await gw.arm("d0")
            assert gw.latest("d0").armed and fleet.state(0).armed
            await gw.start_mission("d0")
            assert gw.latest("d0").flight_mode is FlightMode.MISSION

            # Follow the flight to the last item; count distinct positions while airborne.
            progress: list[int] = []
            airborne: list[Telemetry] = []
            last_item = len(items) - 1
            t_first: float | None = None
            t_last = 0.0

            def track(s: Telemetry) -> bool:
                nonlocal t_first, t_last
                if not progress or progress[-1] != s.mission_current:
                    progress.append(s.mission_current)
                if s.in_air:
                    if t_first is None:
                        t_first = time.monotonic()
                    t_last = time.monotonic()
                    airborne.append(s)
                # MAVSDK counts "current" up to the total once the last item is done.
                return s.mission_current >= last_item and fleet.state(0).mission_finished

            done = await flight.wait_for(track, 120.0, "mission finished")
            assert done.mission_total == len(items)
            assert progress == sorted(progress), progress
            assert progress[-1] in (last_item, len(items))
            assert len(set(progress)) >= 3  # progress seen item by item, not just start/end
            # Final waypoint reached in the sim's truth.
            truth = fleet.state(0)
            assert distance_m(truth.lat_deg, truth.lon_deg, *wps[-1]) < 10.0

            # Telemetry at the configured 5 Hz really carries fresh positions (>= 4 Hz).
            assert t_first is not None and t_last - t_first > 3.0
            distinct = {(s.lat_deg, s.lon_deg, s.alt_amsl_m) for s in airborne}
            assert len(distinct) / (t_last - t_first) >= 4.0
            # ... and they match the vehicle: the last snapshot is close to the truth.
            snap = gw.latest("d0")
            assert snap.lat_deg is not None and snap.lon_deg is not None
            assert distance_m(snap.lat_deg, snap.lon_deg, truth.lat_deg, truth.lon_deg) < 25.0

            await gw.return_to_launch("d0")
            assert gw.latest("d0").flight_mode in {FlightMode.RETURN_TO_LAUNCH, FlightMode.LAND}
            landed = await flight.wait_until_landed(120.0)
            assert not landed.in_air
            assert flight.distance_to_home_m() < 2.0

            # Uploading the same mission again starts from the first item (stored mission
            # cleared first: PX4 would otherwise keep the finished progress).
            await gw.upload_mission("d0", items)
            truth = fleet.state(0)
            assert truth.mission_count == len(items)
            assert truth.mission_current == 0 and not truth.mission_finished
        finally:
            await gw.close()


async def test_rejected_commands_carry_the_vehicles_reason() -> None:
    with sim_fleet(KUDUS_HOMES[:1], speedup=SPEEDUP) as fleet:
        gw = make_gateway(fleet, safety=safety_for(SPEEDUP))
        await gw.start()
        flight = Flight(gw, fleet, 0, "d0")
        try:
            await flight.wait_until_ready()
            fleet.reject_next_command(0)
            with pytest.raises(CommandRejected) as info:
                await gw.arm("d0")
            assert info.value.drone_id == "d0" and info.value.action == "arm"
            assert "temporarily rejected" in info.value.reason.lower()
            assert not fleet.state(0).armed

            # Arming denied by the vehicle's pre-arm checks (no GPS), with its words.
            fleet.set_gps_lost(0, True)
            await flight.wait_for(lambda s: not s.health_ok, 30.0, "health not ok")
            with pytest.raises(CommandRejected) as info:
                await gw.arm("d0")
            assert "arming denied" in info.value.reason.lower()
            assert not fleet.state(0).armed
            fleet.set_gps_lost(0, False)
            await flight.wait_until_ready()
            await gw.arm("d0")  # and it arms once ready again
            assert fleet.state(0).armed
        finally:
            await gw.close()


async def test_link_loss_in_flight_is_reported_and_recovered() -> None:
    home = KUDUS_HOMES[0]
    far = offset(home, 45.0, 1500.0)
    with sim_fleet([home], speedup=SPEEDUP) as fleet:
        gw = make_gateway(fleet, safety=safety_for(SPEEDUP))
        await gw.start()
        flight = Flight(gw, fleet, 0, "d0")
        try:
            await flight.wait_until_ready()
            await gw.upload_mission("d0", mission_items(home, [far], speed_m_s=10.0))
            await gw.arm("d0")
            await gw.start_mission("d0")
            await flight.wait_for(
                lambda s: s.in_air and (s.alt_rel_m or 0) > 20, 60.0, "climbing out"
            )

            fleet.link_loss(0)  # until restored
            lost = await flight.wait_for(lambda s: s.link is LinkState.LOST, 30.0, "link lost")
            assert not lost.health_ok and not lost.params_ok
            assert gw.latest("d0").link is LinkState.LOST
            with pytest.raises(NotConnected):
                await gw.hold("d0")
            # The vehicle's own failsafe (NAV_DLL_ACT=2, set by the gateway) brings it home.
            await wait_until(
                lambda: fleet.state(0).sub_mode == AutoSub.RTL, 60.0, "vehicle RTL by failsafe"
            )
            assert gw.latest("d0").link is LinkState.LOST  # never a stale "ok" meanwhile

            fleet.restore_link(0)
            back = await flight.wait_for(
                lambda s: s.link is LinkState.CONNECTED and s.params_ok, 30.0, "link back"
            )
            assert back.flight_mode in {FlightMode.RETURN_TO_LAUNCH, FlightMode.LAND}
            # The stream resumed: fresh positions that follow the vehicle.
            seen: set[tuple[float | None, float | None, float | None]] = set()
            await flight.wait_for(
                lambda s: seen.add((s.lat_deg, s.lon_deg, s.alt_amsl_m)) or len(seen) >= 5,
                10.0,
                "five fresh positions",
            )
            snap, truth = gw.latest("d0"), fleet.state(0)
            assert snap.lat_deg is not None and snap.lon_deg is not None
            assert distance_m(snap.lat_deg, snap.lon_deg, truth.lat_deg, truth.lon_deg) < 25.0
            await flight.wait_until_landed(180.0)
            assert flight.distance_to_home_m() < 2.0
        finally:
            await gw.close()


async def test_reboot_reconfirms_safety_params() -> None:
    safety = safety_for(SPEEDUP)
    with sim_fleet(KUDUS_HOMES[:1], speedup=SPEEDUP) as fleet:
        gw = make_gateway(fleet, safety=safety)
        await gw.start()
        flight = Flight(gw, fleet, 0, "d0")
        try:
            await flight.wait_until_ready()
            # A vehicle that comes back from reboot with a parameter reset (as after a
            # parameter wipe): the gateway must notice and set it again.
            fleet.set_param(0, "NAV_DLL_ACT", 0)
            fleet.reboot(0)
            saw_unconfirmed = False
            links: list[LinkState] = []

            def reconfirmed(snap: Telemetry) -> bool:
                nonlocal saw_unconfirmed
                if not links or links[-1] is not snap.link:
                    links.append(snap.link)
                if snap.link is LinkState.LOST:
                    # A silent vehicle is never shown as healthy or confirmed.
                    assert not snap.health_ok, snap
                saw_unconfirmed = saw_unconfirmed or not snap.params_ok
                return saw_unconfirmed and snap.params_ok and snap.health_ok

            await flight.wait_for(reconfirmed, 45.0, "parameters re-confirmed after reboot")
            # PX4 is silent for a few seconds while it reboots: the gateway saw the link lost,
            # then the drone back, re-checked its parameters and confirmed them.
            assert LinkState.LOST in links and links[-1] is LinkState.CONNECTED, links
            assert links.index(LinkState.LOST) < len(links) - 1
            assert gw.latest("d0").params_ok
            assert_true_params(fleet, 0, safety)
        finally:
            await gw.close()


async def test_hold_goto_follow_target_and_land() -> None:
    home = KUDUS_HOMES[1]
    with sim_fleet([home], speedup=SPEEDUP) as fleet:
        gw = make_gateway(fleet, safety=safety_for(SPEEDUP))
        await gw.start()
        flight = Flight(gw, fleet, 0, "d0")
        try:
            await flight.wait_until_ready()
            await gw.upload_mission(
                "d0", mission_items(home, [offset(home, 0.0, 400.0)], speed_m_s=10.0)
            )
            await gw.arm("d0")
            await gw.start_mission("d0")
            await flight.wait_for(lambda s: (s.alt_rel_m or 0) > 25, 60.0, "at altitude")

            await gw.hold("d0")
            assert gw.latest("d0").flight_mode is FlightMode.HOLD

            target = offset(home, 180.0, 150.0)
            alt_amsl = home.alt_amsl_m + 35.0
            await gw.goto("d0", target[0], target[1], alt_amsl)
            await wait_until(
                lambda: distance_m(fleet.state(0).lat_deg, fleet.state(0).lon_deg, *target) < 3.0
                and abs(fleet.state(0).alt_amsl_m - alt_amsl) < 2.0,
                60.0,
                "vehicle at the goto point",
            )

            person = offset(home, 200.0, 200.0)
            await gw.follow_target("d0", person[0], person[1], home.alt_amsl_m)
            assert gw.latest("d0").flight_mode is FlightMode.FOLLOW_ME
            for step in range(1, 6):  # the officer walks on; the drone keeps up
                person = offset(home, 200.0, 200.0 + 10.0 * step)
                await gw.follow_target("d0", person[0], person[1], home.alt_amsl_m)
                await wait_until(lambda: True, 0.1, "tick", poll_s=0.3)
            await wait_until(
                lambda: distance_m(fleet.state(0).lat_deg, fleet.state(0).lon_deg, *person)
                < 15.0,
                60.0,
                "drone near the followed target",
            )

            await gw.land("d0")
            assert gw.latest("d0").flight_mode is FlightMode.LAND
            await flight.wait_until_landed(120.0)
        finally:
            await gw.close()


async def test_geofence_upload_and_breach_action() -> None:
    home = KUDUS_HOMES[0]
    corners = [offset(home, b, 200.0) for b in (45.0, 135.0, 225.0, 315.0)]
    fence = [
        MavlinkItem(
            seq=i,
            frame=3,
            command=Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION,
            param1=float(len(corners)),
            x=round(lat * 1e7),
            y=round(lon * 1e7),
            mission_type=MissionType.FENCE,
        )
        for i, (lat, lon) in enumerate(corners)
    ]
    outside = offset(home, 0.0, 600.0)
    with sim_fleet([home], speedup=SPEEDUP) as fleet:
        gw = make_gateway(fleet, safety=safety_for(SPEEDUP, gf_action=3))
        await gw.start()
        flight = Flight(gw, fleet, 0, "d0")
        try:
            await flight.wait_until_ready()
            await gw.upload_geofence("d0", fence)
            # The vehicle knows the fence: a mission leaving it is refused, with its reason.
            await gw.upload_mission("d0", mission_items(home, [outside], speed_m_s=10.0))
            await gw.arm("d0")
            with pytest.raises(CommandRejected) as info:
                await gw.start_mission("d0")
            assert "geofence" in info.value.reason.lower()
            inside = offset(home, 0.0, 80.0)
            await gw.upload_mission("d0", mission_items(home, [inside], speed_m_s=10.0))
            await gw.arm("d0")
            await gw.start_mission("d0")
            await flight.wait_for(lambda s: (s.alt_rel_m or 0) > 25, 60.0, "at altitude")
            # A goto across the fence: GF_ACTION=3 (set and confirmed by the gateway) -> Return.
            await gw.goto("d0", outside[0], outside[1], home.alt_amsl_m + 30.0)
            await wait_until(lambda: fleet.state(0).geofence_breached, 90.0, "geofence breach")
            await flight.wait_for(
                lambda s: s.flight_mode is FlightMode.RETURN_TO_LAUNCH, 30.0, "RTL on breach"
            )
            truth = fleet.state(0)
            assert distance_m(truth.lat_deg, truth.lon_deg, *outside) > 300.0
        finally:
            await gw.close()


async def test_reattach_to_flying_drone_reports_its_real_state_first() -> None:
    # A controller restart: a new gateway on a drone in mid-mission must never show it as
    # "connected, disarmed, on the ground" (the defaults) before the vehicle has spoken.
    home = KUDUS_HOMES[0]
    with sim_fleet([home], speedup=SPEEDUP) as fleet:
        gw = make_gateway(fleet, safety=safety_for(SPEEDUP))
        await gw.start()
        try:
            flight = Flight(gw, fleet, 0, "d0")
            await flight.wait_until_ready()
            await gw.upload_mission("d0", mission_items(home, [offset(home, 90.0, 1500.0)]))
            await gw.arm("d0")
            await gw.start_mission("d0")
            await flight.wait_for(lambda s: (s.alt_rel_m or 0) > 20, 60.0, "climbing out")
        finally:
            await gw.close()
        gw2 = make_gateway(fleet, safety=safety_for(SPEEDUP))
        await gw2.start()
        try:
            first = await Flight(gw2, fleet, 0, "d0").wait_for(
                lambda s: s.link is LinkState.CONNECTED, 30.0, "connected again"
            )
            assert first.armed and first.in_air and first.flight_mode is FlightMode.MISSION
            assert first.alt_rel_m is not None and first.alt_rel_m > 20
        finally:
            await gw2.close()


async def test_close_removes_connections() -> None:
    with sim_fleet(KUDUS_HOMES[:2], speedup=SPEEDUP) as fleet:
        gw = make_gateway(fleet, safety=safety_for(SPEEDUP))
        await gw.start()
        await Flight(gw, fleet, 0, "d0").wait_until_ready()
        ports = [int(fleet.api_url(i).rsplit(":", 1)[1]) for i in range(2)]
        for port in ports:  # MAVSDK holds the port while connected
            with pytest.raises(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind(("0.0.0.0", port))
        await gw.close()
        for port in ports:  # ... and let go of it on close()
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind(("0.0.0.0", port))
        assert gw.latest("d0").link is LinkState.LOST
        with pytest.raises(NotConnected):
            await gw.arm("d0")
        await gw.close()  # idempotent
