"""The pure vehicle model: boot, arming, takeoff, hold, land, goto, orbit, follow, RTL, battery,
faults. Simulated time only (sim.steps); every scenario would fail if the behaviour broke."""

from __future__ import annotations

import math

import pytest

from sim.geo import GEOD, distance_m, ne_offset_m, offset_deg
from sim.items import MISSION, Item
from sim.steps import run_for, run_until, wait_until_ready
from sim.vehicle import (
    ESTIMATOR_CONVERGE_S,
    POSCTL_ORBIT_SUB,
    ArmedChanged,
    AutoSub,
    CurrentItemChanged,
    Event,
    Home,
    LandedState,
    MainMode,
    MavResult,
    ModeChanged,
    StatusText,
    Vehicle,
)

HOME = Home(-6.175392, 106.827153, 12.0)  # Monas, Jakarta


def texts(events: list[Event]) -> list[str]:
    return [e.text for e in events if isinstance(e, StatusText)]


def ready_vehicle(home: Home = HOME) -> Vehicle:
    v = Vehicle(home)
    wait_until_ready(v)
    v.drain_events()
    return v


def flying(alt_rel_m: float = 20.0, home: Home = HOME) -> Vehicle:
    """Armed, hovering in HOLD at ``alt_rel_m`` above home."""
    v = ready_vehicle(home)
    assert v.arm().ok
    assert v.takeoff(alt_rel_m).ok
    run_until(v, lambda x: x.state.sub_mode == AutoSub.LOITER, 120)
    run_for(v, 3)
    v.drain_events()
    return v


def horizontal_m(v: Vehicle, lat: float, lon: float) -> float:
    s = v.state
    return distance_m(s.lat_deg, s.lon_deg, lat, lon)


# -- boot and arming -------------------------------------------------------------------------

def test_boot_state_is_disarmed_on_ground_in_position_mode_at_home() -> None:
    v = Vehicle(HOME)
    s = v.state
    assert (s.armed, s.main_mode, s.sub_mode) == (False, MainMode.POSCTL, AutoSub.NONE)
    assert s.landed_state == LandedState.ON_GROUND
    assert (s.lat_deg, s.lon_deg, s.alt_amsl_m, s.alt_rel_m) == (HOME.lat_deg, HOME.lon_deg, 12.0, 0.0)
    assert s.home == HOME
    assert s.mission_current == -1 and s.mission_count == 0
    assert s.battery_pct == 100.0
    assert s.gps_ok and not s.position_ok
    assert s.custom_mode == 3 << 16


def test_arming_denied_until_estimator_converges_with_px4_like_statustext() -> None:
    v = Vehicle(HOME)
    out = v.arm()
    assert out.result == MavResult.TEMPORARILY_REJECTED and not out.ok
    assert out.reason.startswith("Arming denied")
    assert out.reason in texts(v.drain_events())
    assert not v.state.armed
    waited = wait_until_ready(v)
    assert waited == pytest.approx(ESTIMATOR_CONVERGE_S, abs=0.06)
    assert 2.0 <= ESTIMATOR_CONVERGE_S <= 10.0
    assert v.arm().result == MavResult.ACCEPTED
    ev = v.drain_events()
    assert ArmedChanged(True) in ev
    assert v.state.armed


def test_force_arm_bypasses_checks() -> None:
    v = Vehicle(HOME)
    assert v.arm(force=True).ok
    assert v.state.armed


def test_arm_and_disarm_are_idempotent() -> None:
    v = ready_vehicle()
    assert v.arm().ok and v.arm().ok
    assert [e for e in v.drain_events() if isinstance(e, ArmedChanged)] == [ArmedChanged(True)]
    assert v.disarm().ok and v.disarm().ok
    assert not v.state.armed


def test_auto_disarm_preflight_after_com_disarm_prflt_when_not_taking_off() -> None:
    v = ready_vehicle()
    v.arm()
    run_for(v, 9.5)
    assert v.state.armed
    ev: list[Event] = []
    run_for(v, 0.6, events=ev)
    assert not v.state.armed
    assert ArmedChanged(False) in ev


def test_auto_disarm_preflight_disabled_by_negative_param() -> None:
    v = ready_vehicle()
    v.params.set("COM_DISARM_PRFLT", -1)
    v.arm()
    run_for(v, 30)
    assert v.state.armed


# -- takeoff, hold, land ---------------------------------------------------------------------

def test_takeoff_to_mis_takeoff_alt_then_hold_with_landed_states() -> None:
    v = ready_vehicle()
    v.arm()
    assert v.takeoff().ok  # None = NaN on the wire = MIS_TAKEOFF_ALT
    ev = v.drain_events()
    assert ModeChanged(MainMode.AUTO, AutoSub.TAKEOFF) in ev
    seen: set[LandedState] = set()
    max_climb = 0.0
    def check(x: Vehicle) -> bool:
        nonlocal max_climb
        seen.add(x.state.landed_state)
        max_climb = max(max_climb, -x.state.vd_m_s)
        return x.state.sub_mode == AutoSub.LOITER
    t = run_until(v, check, 30, events=ev)
    assert LandedState.TAKEOFF in seen
    assert max_climb <= 1.5 + 1e-6  # MPC_TKO_SPEED
    assert t >= 2.5 / 1.5
    s = v.state
    assert s.alt_rel_m == pytest.approx(2.5, abs=0.4)
    assert s.landed_state == LandedState.IN_AIR
    assert ModeChanged(MainMode.AUTO, AutoSub.LOITER) in ev


def test_takeoff_to_given_altitude_and_param_change_is_used() -> None:
    v = ready_vehicle()
    v.params.set("MIS_TAKEOFF_ALT", 15)
    v.arm()
    v.takeoff()
    run_until(v, lambda x: x.state.sub_mode == AutoSub.LOITER, 60)
    assert v.state.alt_rel_m == pytest.approx(15, abs=0.8)
    v2 = ready_vehicle()
    v2.arm()
    v2.takeoff(40.0)
    run_until(v2, lambda x: x.state.sub_mode == AutoSub.LOITER, 60)
    assert v2.state.alt_rel_m == pytest.approx(40, abs=0.8)


def test_takeoff_while_disarmed_waits_in_takeoff_mode_until_armed() -> None:
    v = ready_vehicle()
    assert v.takeoff(10).ok
    run_for(v, 3)
    assert v.state.sub_mode == AutoSub.TAKEOFF and v.state.landed_state == LandedState.ON_GROUND
    v.arm()
    run_until(v, lambda x: x.state.sub_mode == AutoSub.LOITER, 60)
    assert v.state.alt_rel_m == pytest.approx(10, abs=0.8)


def test_takeoff_rejected_before_position_is_valid() -> None:
    v = Vehicle(HOME)
    out = v.takeoff()
    assert out.result == MavResult.TEMPORARILY_REJECTED
    assert "Takeoff" in out.reason


def test_hold_keeps_position_and_altitude() -> None:
    v = flying(20)
    s0 = v.state
    run_for(v, 120)
    s1 = v.state
    assert distance_m(s0.lat_deg, s0.lon_deg, s1.lat_deg, s1.lon_deg) < 0.2
    assert s1.alt_rel_m == pytest.approx(20, abs=0.5)
    assert math.hypot(s1.vn_m_s, s1.ve_m_s) < 0.05


def test_land_descends_with_px4_speed_profile_then_auto_disarms_after_com_disarm_land() -> None:
    v = flying(30)
    assert v.land().ok
    ev: list[Event] = []
    speeds: dict[str, float] = {"high": 0.0, "low": 0.0}
    states: set[LandedState] = set()
    def check(x: Vehicle) -> bool:
        s = x.state
        states.add(s.landed_state)
        if s.alt_rel_m > 12:
            speeds["high"] = max(speeds["high"], s.vd_m_s)
        elif 0.5 < s.alt_rel_m < 4:
            speeds["low"] = max(speeds["low"], s.vd_m_s)
        return s.landed_state == LandedState.ON_GROUND
    run_until(v, check, 120, events=ev)
    assert LandedState.LANDING in states
    assert speeds["high"] == pytest.approx(1.5, abs=0.05)  # MPC_Z_V_AUTO_DN
    assert speeds["low"] == pytest.approx(0.7, abs=0.05)  # MPC_LAND_SPEED
    assert v.state.alt_rel_m == 0.0 and v.state.armed
    assert "Landing detected" in texts(ev)
    run_for(v, 1.9)
    assert v.state.armed
    run_for(v, 0.2, events=ev)
    assert not v.state.armed
    assert ArmedChanged(False) in ev


def test_disarm_in_air_denied_unless_forced() -> None:
    v = flying(10)
    out = v.disarm()
    assert out.result == MavResult.TEMPORARILY_REJECTED and "not landed" in out.reason
    assert v.state.armed
    assert v.disarm(force=True).ok
    run_until(v, lambda x: x.state.landed_state == LandedState.ON_GROUND, 30)
    assert not v.state.armed


# -- goto / reposition, speed ----------------------------------------------------------------

def test_reposition_flies_at_cruise_speed_then_holds_there() -> None:
    v = flying(20)
    lat, lon = offset_deg(HOME.lat_deg, HOME.lon_deg, 300.0, 400.0)
    assert v.reposition(lat, lon, HOME.alt_amsl_m + 35.0).ok
    assert v.state.sub_mode == AutoSub.LOITER
    max_speed = 0.0
    headings: list[float] = []
    def check(x: Vehicle) -> bool:
        nonlocal max_speed
        s = x.state
        sp = math.hypot(s.vn_m_s, s.ve_m_s)
        max_speed = max(max_speed, sp)
        if sp > 4.9:
            headings.append(s.heading_deg)
        return horizontal_m(x, lat, lon) < 0.5 and sp < 0.1
    t = run_until(v, check, 300)
    assert max_speed == pytest.approx(5.0, abs=0.01)  # MPC_XY_CRUISE
    assert 500 / 5.0 <= t <= 500 / 5.0 + 15
    bearing = math.degrees(math.atan2(400, 300))
    assert headings and abs(headings[-1] - bearing) < 2.0  # yaw toward travel
    assert v.state.alt_rel_m == pytest.approx(35, abs=0.5)
    run_for(v, 30)
    assert horizontal_m(v, lat, lon) < 0.5


def test_reposition_nan_keeps_coordinates_and_is_rejected_on_ground() -> None:
    v = flying(20)
    s0 = v.state
    assert v.reposition(float("nan"), float("nan"), HOME.alt_amsl_m + 50).ok
    run_for(v, 40)
    assert horizontal_m(v, s0.lat_deg, s0.lon_deg) < 0.5
    assert v.state.alt_rel_m == pytest.approx(50, abs=0.5)
    g = ready_vehicle()
    assert g.reposition(HOME.lat_deg, HOME.lon_deg, 50).result == MavResult.TEMPORARILY_REJECTED


def test_change_speed_sets_cruise_and_is_capped_by_mpc_xy_vel_max() -> None:
    v = flying(20)
    assert v.change_speed(10.0).ok
    lat, lon = offset_deg(HOME.lat_deg, HOME.lon_deg, 1000.0, 0.0)
    v.reposition(lat, lon, float("nan"))
    run_for(v, 20)
    assert v.state.vn_m_s == pytest.approx(10.0, abs=0.01)
    v.change_speed(50.0)
    run_for(v, 5)
    assert v.state.vn_m_s == pytest.approx(12.0, abs=0.01)


def test_goto_20_km_ends_within_1_m_of_the_target() -> None:
    v = flying(50)
    v.params.set("COM_LOW_BAT_ACT", 0)  # 20 km at 12 m/s is more than one pack: warnings only
    lon_t, lat_t, _ = GEOD.fwd(HOME.lon_deg, HOME.lat_deg, 63.0, 20000.0)
    v.change_speed(12.0)
    v.reposition(lat_t, lon_t, float("nan"))
    run_until(v, lambda x: horizontal_m(x, lat_t, lon_t) < 0.3 and x.state.vn_m_s ** 2 < 0.01,
              20000 / 12 + 120)
    run_for(v, 10)
    assert horizontal_m(v, lat_t, lon_t) < 1.0


# -- RTL ------------------------------------------------------------------------------------

def test_rtl_climbs_to_rtl_return_alt_first_returns_lands_within_2_m_of_home_and_disarms() -> None:
    v = flying(15)
    lat, lon = offset_deg(HOME.lat_deg, HOME.lon_deg, -600.0, 800.0)
    v.reposition(lat, lon, float("nan"))
    run_until(v, lambda x: horizontal_m(x, lat, lon) < 1.0, 400)
    ev: list[Event] = []
    assert v.return_to_launch().ok
    assert (v.state.main_mode, v.state.sub_mode) == (MainMode.AUTO, AutoSub.RTL)
    # Climb phase: almost no horizontal motion until near RTL_RETURN_ALT.
    run_until(v, lambda x: x.state.alt_rel_m > 28.0, 60, events=ev)
    assert horizontal_m(v, lat, lon) < 2.0
    max_alt = 0.0
    def landed(x: Vehicle) -> bool:
        nonlocal max_alt
        max_alt = max(max_alt, x.state.alt_rel_m)
        return not x.state.armed
    run_until(v, landed, 600, events=ev)
    assert max_alt == pytest.approx(30.0, abs=1.0)
    s = v.state
    assert horizontal_m(v, HOME.lat_deg, HOME.lon_deg) < 2.0
    assert s.alt_rel_m == 0.0 and s.landed_state == LandedState.ON_GROUND
    assert "Returning to launch" in texts(ev)


@pytest.mark.parametrize(("rtl_type", "lands_at_rally"), [(0, True), (1, False)])
def test_rtl_goes_to_the_closest_rally_point_when_nearer_than_home(rtl_type: int, lands_at_rally: bool) -> None:
    from sim.items import RALLY

    v = flying(15)
    v.params.set("RTL_TYPE", rtl_type)
    near = offset_deg(HOME.lat_deg, HOME.lon_deg, 500.0, 0.0)  # 100 m from where RTL starts
    far = offset_deg(HOME.lat_deg, HOME.lon_deg, 0.0, 900.0)
    assert v.set_items(RALLY, [Item(seq=i, frame=3, command=5100, x=int(round(lat * 1e7)),
                                    y=int(round(lon * 1e7)), z=15.0, mission_type=RALLY)
                               for i, (lat, lon) in enumerate((far, near))]) == MavResult.ACCEPTED
    lat, lon = offset_deg(HOME.lat_deg, HOME.lon_deg, 600.0, 0.0)
    v.reposition(lat, lon, float("nan"))
    run_until(v, lambda x: horizontal_m(x, lat, lon) < 1.0, 400)
    assert v.return_to_launch().ok
    run_until(v, lambda x: not x.state.armed, 600)
    dest = near if lands_at_rally else (HOME.lat_deg, HOME.lon_deg)
    assert horizontal_m(v, *dest) < 2.0


def test_rtl_from_above_return_alt_keeps_altitude_and_rtl_land_delay_hovers() -> None:
    v = flying(60)
    v.params.set("RTL_LAND_DELAY", 5.0)
    lat, lon = offset_deg(HOME.lat_deg, HOME.lon_deg, 200.0, 0.0)
    v.reposition(lat, lon, float("nan"))
    run_until(v, lambda x: horizontal_m(x, lat, lon) < 1.0, 200)
    v.return_to_launch()
    run_until(v, lambda x: horizontal_m(x, HOME.lat_deg, HOME.lon_deg) < 1.0, 200)
    assert v.state.alt_rel_m == pytest.approx(60, abs=1.0)
    run_until(v, lambda x: x.state.alt_rel_m < 10.8, 120)
    run_for(v, 4.0)
    assert v.state.alt_rel_m == pytest.approx(10, abs=0.8)  # RTL_DESCEND_ALT, waiting
    run_until(v, lambda x: not x.state.armed, 120)
    assert horizontal_m(v, HOME.lat_deg, HOME.lon_deg) < 2.0


# -- orbit, follow target, modes -------------------------------------------------------------

def test_orbit_circles_the_centre_at_radius_and_speed() -> None:
    v = flying(20)
    c_lat, c_lon = offset_deg(HOME.lat_deg, HOME.lon_deg, 50.0, 0.0)
    assert v.orbit(25.0, 4.0, c_lat, c_lon, HOME.alt_amsl_m + 30).ok
    s = v.state
    assert (s.main_mode, s.sub_mode) == (MainMode.POSCTL, POSCTL_ORBIT_SUB)
    assert s.custom_mode == (3 << 16) | (1 << 24)
    run_for(v, 60)
    radii, speeds, angles = [], [], []
    for _ in range(400):
        run_for(v, 0.1)
        s = v.state
        dn, de = ne_offset_m(c_lat, c_lon, s.lat_deg, s.lon_deg)
        radii.append(math.hypot(dn, de))
        speeds.append(math.hypot(s.vn_m_s, s.ve_m_s))
        angles.append(math.atan2(de, dn))
    assert min(radii) > 24.0 and max(radii) < 26.0
    assert sum(speeds) / len(speeds) == pytest.approx(4.0, abs=0.2)
    # 40 s at 4 m/s on a 25 m circle = ~1 revolution: the angle sweeps most of the circle.
    unwrapped = [angles[0]]
    for a in angles[1:]:
        d = (a - unwrapped[-1] + math.pi) % (2 * math.pi) - math.pi
        unwrapped.append(unwrapped[-1] + d)
    assert abs(unwrapped[-1] - unwrapped[0]) > 5.0
    assert v.state.alt_rel_m == pytest.approx(30, abs=0.5)


@pytest.mark.parametrize("speed_m_s", [1.5, 10.0])  # walking officer, patrol car
def test_follow_target_tracks_a_moving_target_within_10_m(speed_m_s: float) -> None:
    v = flying(8)
    assert v.set_mode(MainMode.AUTO, AutoSub.FOLLOW_TARGET).ok
    lat, lon = offset_deg(HOME.lat_deg, HOME.lon_deg, 20.0, 0.0)
    course = 90.0
    worst = 0.0
    # The target heads east, turns left through 90 degrees on a curve of ~30 m radius (a street
    # corner) at 60 s, then heads north; FOLLOW_TARGET arrives at 1 Hz as MAVSDK sends it.
    turn_rate_deg_s = math.degrees(speed_m_s / 30.0)
    for second in range(150):
        v.follow_target_update(lat, lon, HOME.alt_amsl_m,
                               speed_m_s * math.cos(math.radians(course)),
                               speed_m_s * math.sin(math.radians(course)))
        for _ in range(20):
            v.step(0.05)
            if second >= 60 and course > 0.0:
                course = max(0.0, course - turn_rate_deg_s * 0.05)
            vn = speed_m_s * math.cos(math.radians(course))
            ve = speed_m_s * math.sin(math.radians(course))
            lat, lon = offset_deg(lat, lon, vn * 0.05, ve * 0.05)
            if second >= 15:
                worst = max(worst, horizontal_m(v, lat, lon))
    assert worst < 10.0, worst
    s = v.state
    assert s.alt_rel_m == pytest.approx(8.0, abs=0.5)  # FLW_TGT_HT
    assert horizontal_m(v, lat, lon) == pytest.approx(8.0, abs=2.0)  # FLW_TGT_DST behind


def test_follow_target_without_updates_holds() -> None:
    v = flying(10)
    s0 = v.state
    v.set_mode(MainMode.AUTO, AutoSub.FOLLOW_TARGET)
    run_for(v, 20)
    assert horizontal_m(v, s0.lat_deg, s0.lon_deg) < 0.5


def test_position_mode_holds_and_offboard_and_manual_modes_are_rejected() -> None:
    v = flying(10)
    assert v.set_mode(MainMode.POSCTL).ok
    s0 = v.state
    run_for(v, 20)
    assert horizontal_m(v, s0.lat_deg, s0.lon_deg) < 0.5 and v.state.alt_rel_m == pytest.approx(10, abs=0.5)
    for mode in (MainMode.OFFBOARD, MainMode.MANUAL, MainMode.ALTCTL, MainMode.STABILIZED, MainMode.ACRO):
        out = v.set_mode(mode)
        assert out.result == MavResult.TEMPORARILY_REJECTED
        assert "currently not possible" in out.reason
    assert v.state.main_mode == MainMode.POSCTL
    assert v.set_mode(MainMode.AUTO, AutoSub.READY).result == MavResult.UNSUPPORTED


def test_every_mode_change_is_announced_once() -> None:
    v = flying(10)
    for main, sub in [(MainMode.AUTO, AutoSub.RTL), (MainMode.AUTO, AutoSub.LOITER),
                      (MainMode.POSCTL, AutoSub.NONE), (MainMode.AUTO, AutoSub.LAND)]:
        assert v.set_mode(main, sub).ok
        ev = [e for e in v.drain_events() if isinstance(e, ModeChanged)]
        assert ev == [ModeChanged(main, sub)]
        assert v.set_mode(main, sub).ok
        assert not [e for e in v.drain_events() if isinstance(e, ModeChanged)]


# -- battery ---------------------------------------------------------------------------------

def test_battery_lasts_about_25_minutes_of_hover() -> None:
    v = flying(10)
    v.params.set("COM_LOW_BAT_ACT", 0)  # warnings only: keep hovering
    start = v.state.battery_pct
    run_for(v, 12.5 * 60, dt_s=0.1)
    used_half = start - v.state.battery_pct
    assert used_half == pytest.approx(50.0, abs=3.0)
    # Extrapolated full-pack hover endurance within 24..26 minutes.
    assert 24 * 60 <= 12.5 * 60 * 100 / used_half <= 26 * 60


def test_battery_drains_faster_fast_and_climbing_voltage_and_current_follow() -> None:
    hover = flying(10)
    fast = flying(10)
    lat, lon = offset_deg(HOME.lat_deg, HOME.lon_deg, 20000.0, 0.0)
    fast.change_speed(12.0)
    fast.reposition(lat, lon, HOME.alt_amsl_m + 100)
    b0h, b0f = hover.state.battery_pct, fast.state.battery_pct
    v0 = hover.state.battery_voltage_v
    run_for(hover, 60)
    run_for(fast, 60)
    used_h = b0h - hover.state.battery_pct
    used_f = fast.state.battery_pct - b0f
    assert -used_f > 1.3 * used_h
    s = hover.state
    assert s.battery_voltage_v < v0
    assert 14.0 < s.battery_voltage_v < 16.3  # 4S, PX4 BAT1_V_CHARGED/EMPTY
    assert 5.0 < s.battery_current_a < 30.0
    assert fast.state.battery_current_a > s.battery_current_a


def test_battery_nearly_idle_when_disarmed() -> None:
    v = ready_vehicle()
    run_for(v, 600, dt_s=0.1)
    assert v.state.battery_pct > 99.0


# -- faults ----------------------------------------------------------------------------------

def test_reject_next_command_rejects_exactly_one_command() -> None:
    v = ready_vehicle()
    v.reject_next_command()
    out = v.arm()
    assert out.result == MavResult.TEMPORARILY_REJECTED
    assert not v.state.armed
    assert v.arm().ok


def test_reboot_returns_to_boot_state_but_keeps_mission_and_params() -> None:
    v = flying(20)
    lat, lon = offset_deg(HOME.lat_deg, HOME.lon_deg, 100.0, 0.0)
    v.set_items(MISSION, [Item(0, 6, 16, 0, 1, 0, float("nan"), int(lat * 1e7), int(lon * 1e7), 20)])
    v.params.set("RTL_RETURN_ALT", 45)
    v.set_battery_pct(60)
    v.drain_events()
    v.reboot()
    ev = v.drain_events()
    s = v.state
    assert ArmedChanged(False) in ev and ModeChanged(MainMode.POSCTL, AutoSub.NONE) in ev
    assert CurrentItemChanged(0) in ev
    assert s.time_us == 0 and not s.armed and not s.position_ok
    assert s.landed_state == LandedState.ON_GROUND and s.alt_rel_m == 0.0
    assert (s.lat_deg, s.lon_deg) == (HOME.lat_deg, HOME.lon_deg)
    assert s.mission_count == 1 and s.mission_current == 0
    assert v.params.get("RTL_RETURN_ALT") == 45
    assert s.battery_pct == pytest.approx(60, abs=0.1)
    assert v.arm().result == MavResult.TEMPORARILY_REJECTED


def test_home_is_set_where_the_vehicle_arms() -> None:
    v = flying(10)
    lat, lon = offset_deg(HOME.lat_deg, HOME.lon_deg, 0.0, 150.0)
    v.reposition(lat, lon, float("nan"))
    run_until(v, lambda x: horizontal_m(x, lat, lon) < 0.5, 120)
    v.land()
    run_until(v, lambda x: not x.state.armed, 120)
    assert v.arm().ok
    assert distance_m(v.state.home.lat_deg, v.state.home.lon_deg, lat, lon) < 1.0


def test_model_is_deterministic() -> None:
    def scenario() -> tuple[float, float, float, float]:
        v = flying(20)
        lat, lon = offset_deg(HOME.lat_deg, HOME.lon_deg, 123.0, -77.0)
        v.reposition(lat, lon, float("nan"))
        run_for(v, 17.3)
        s = v.state
        return s.lat_deg, s.lon_deg, s.alt_amsl_m, s.battery_pct
    assert scenario() == scenario()
