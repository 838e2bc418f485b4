"""Failsafes as PX4 does them: data-link loss, battery levels, geofence, GPS loss; fence validation."""

from __future__ import annotations

import pytest

from sim.geo import distance_m, offset_deg
from sim.items import FENCE, MISSION, Item
from sim.steps import run_for, run_until, wait_until_ready
from sim.vehicle import (
    AutoSub,
    Event,
    Home,
    LandedState,
    MainMode,
    MavResult,
    ModeChanged,
    StatusText,
    Vehicle,
)

HOME = Home(-6.175392, 106.827153, 12.0)
NAN = float("nan")


def texts(ev: list[Event]) -> list[str]:
    return [e.text for e in ev if isinstance(e, StatusText)]


def flying(alt: float = 20.0, *, gcs: bool = True) -> Vehicle:
    v = Vehicle(HOME)
    wait_until_ready(v)
    if gcs:
        v.gcs_heartbeat()
    v.arm()
    v.takeoff(alt)
    run_until(v, lambda x: x.state.sub_mode == AutoSub.LOITER, 60, gcs=gcs)
    v.drain_events()
    return v


def goto(v: Vehicle, north: float, east: float, *, gcs: bool = True) -> tuple[float, float]:
    lat, lon = offset_deg(HOME.lat_deg, HOME.lon_deg, north, east)
    assert v.reposition(lat, lon, NAN).ok
    return lat, lon


def mode(v: Vehicle) -> tuple[MainMode, AutoSub]:
    return v.state.main_mode, v.state.sub_mode


def dist_home(v: Vehicle) -> float:
    s = v.state
    return distance_m(s.lat_deg, s.lon_deg, HOME.lat_deg, HOME.lon_deg)


# -- data link loss ----------------------------------------------------------------------------

def test_link_loss_with_nav_dll_act_2_returns_after_com_dl_loss_t_and_lands_home() -> None:
    v = flying()
    v.params.set("NAV_DLL_ACT", 2)
    goto(v, 300, 0)
    run_for(v, 60, gcs=True)
    ev: list[Event] = []
    v.gcs_heartbeat()  # the last one: the GCS goes silent now
    run_for(v, 9.9, events=ev)
    assert mode(v) == (MainMode.AUTO, AutoSub.LOITER) and not v.link_lost
    run_for(v, 0.3, events=ev)
    assert v.link_lost
    assert mode(v) == (MainMode.AUTO, AutoSub.RTL)
    assert "Connection to ground station lost" in texts(ev)
    assert ModeChanged(MainMode.AUTO, AutoSub.RTL) in ev
    run_until(v, lambda x: not x.state.armed, 400)
    assert dist_home(v) < 2.0


def test_link_loss_with_px4_sitl_default_nav_dll_act_0_only_warns() -> None:
    v = flying()
    assert v.params.get("NAV_DLL_ACT") == 0
    ev: list[Event] = []
    run_for(v, 15, events=ev)
    assert v.link_lost
    assert "Connection to ground station lost" in texts(ev)
    assert mode(v) == (MainMode.AUTO, AutoSub.LOITER)


@pytest.mark.parametrize(("act", "expected"), [(1, (MainMode.AUTO, AutoSub.LOITER)),
                                               (3, (MainMode.AUTO, AutoSub.LAND))])
def test_link_loss_other_actions(act: int, expected: tuple[MainMode, AutoSub]) -> None:
    v = flying()
    v.params.set("NAV_DLL_ACT", act)
    v.set_mode(MainMode.POSCTL)
    run_for(v, 11)
    assert mode(v) == expected


def test_no_link_loss_failsafe_when_no_gcs_was_ever_connected() -> None:
    v = flying(gcs=False)
    v.params.set("NAV_DLL_ACT", 2)
    ev: list[Event] = []
    run_for(v, 60, events=ev)
    assert not v.link_lost and mode(v) == (MainMode.AUTO, AutoSub.LOITER)


def test_link_regained_is_announced_and_timer_restarts() -> None:
    v = flying()
    run_for(v, 11)
    assert v.link_lost
    v.gcs_heartbeat()
    assert not v.link_lost
    assert "Data link regained" in texts(v.drain_events())
    run_for(v, 5)
    assert not v.link_lost


def test_com_dl_loss_t_is_honoured() -> None:
    v = flying()
    v.params.set("COM_DL_LOSS_T", 30)
    run_for(v, 25)
    assert not v.link_lost
    run_for(v, 6)
    assert v.link_lost


# -- battery -------------------------------------------------------------------------------------

def test_low_battery_returns_and_critical_lands() -> None:
    v = flying()
    goto(v, 400, 0)
    run_for(v, 90, gcs=True)
    ev: list[Event] = []
    v.set_battery_pct(14)
    run_for(v, 0.1, events=ev, gcs=True)
    assert mode(v) == (MainMode.AUTO, AutoSub.RTL)
    assert any("Low battery" in t for t in texts(ev))
    run_for(v, 10, gcs=True)
    v.set_battery_pct(6.5)
    run_for(v, 0.1, events=ev, gcs=True)
    assert mode(v) == (MainMode.AUTO, AutoSub.LAND)
    assert any("Critical battery" in t for t in texts(ev))
    run_until(v, lambda x: not x.state.armed, 200, gcs=True)
    assert dist_home(v) > 100  # landed where it was, not at home


def test_low_battery_level_acts_once_then_operator_may_override() -> None:
    v = flying()
    v.set_battery_pct(14)
    run_for(v, 0.1, gcs=True)
    assert mode(v) == (MainMode.AUTO, AutoSub.RTL)
    v.set_mode(MainMode.AUTO, AutoSub.LOITER)
    run_for(v, 20, gcs=True)
    assert mode(v) == (MainMode.AUTO, AutoSub.LOITER)


def test_battery_drains_into_the_low_threshold_by_itself() -> None:
    v = flying()
    v.set_battery_pct(15.05)
    ev: list[Event] = []
    run_until(v, lambda x: x.state.sub_mode == AutoSub.RTL, 60, events=ev, gcs=True)
    assert v.state.battery_pct <= 15.0


def test_takeoff_with_low_battery_returns_at_once() -> None:
    v = Vehicle(HOME)
    wait_until_ready(v)
    v.set_battery_pct(14)
    run_for(v, 0.1)
    assert any("Low battery" in t for t in texts(v.drain_events()))
    assert v.arm().ok  # low (not critical) does not block arming, as in PX4
    v.takeoff(20)
    run_until(v, lambda x: x.state.sub_mode == AutoSub.RTL, 10)
    run_until(v, lambda x: not x.state.armed, 120)
    assert dist_home(v) < 2.0


def test_com_low_bat_act_0_only_warns() -> None:
    v = flying()
    v.params.set("COM_LOW_BAT_ACT", 0)
    ev: list[Event] = []
    v.set_battery_pct(6)
    run_for(v, 1, events=ev, gcs=True)
    assert mode(v) == (MainMode.AUTO, AutoSub.LOITER)
    assert any("battery" in t for t in texts(ev))


def test_arming_denied_with_critical_battery() -> None:
    v = Vehicle(HOME)
    wait_until_ready(v)
    v.set_battery_pct(5)
    out = v.arm()
    assert out.result == MavResult.TEMPORARILY_REJECTED and "battery" in out.reason


# -- geofence ------------------------------------------------------------------------------------

def square_fence(half_m: float, *, inclusion: bool = True, north: float = 0.0) -> list[Item]:
    corners = [(north - half_m, -half_m), (north - half_m, half_m), (north + half_m, half_m),
               (north + half_m, -half_m)]
    cmd = 5001 if inclusion else 5002
    out = []
    for i, (n, e) in enumerate(corners):
        lat, lon = offset_deg(HOME.lat_deg, HOME.lon_deg, n, e)
        out.append(Item(i, 5, cmd, 4.0, 0, 0, 0, round(lat * 1e7), round(lon * 1e7), 0, mission_type=FENCE))
    return out


def circle(seq: int, north: float, east: float, radius: float, *, inclusion: bool) -> Item:
    lat, lon = offset_deg(HOME.lat_deg, HOME.lon_deg, north, east)
    return Item(seq, 5, 5003 if inclusion else 5004, radius, 0, 0, 0, round(lat * 1e7),
                round(lon * 1e7), 0, mission_type=FENCE)


@pytest.mark.parametrize(("action", "expected_sub"), [(2, AutoSub.LOITER), (3, AutoSub.RTL),
                                                      (4, AutoSub.LAND), (5, AutoSub.LAND)])
def test_leaving_inclusion_polygon_triggers_gf_action(action: int, expected_sub: AutoSub) -> None:
    v = flying()
    assert v.set_items(FENCE, square_fence(100)) == MavResult.ACCEPTED
    v.params.set("GF_ACTION", action)
    goto(v, 300, 0)
    ev: list[Event] = []
    run_until(v, lambda x: x.state.geofence_breached, 120, events=ev, gcs=True)
    s = v.state
    north = distance_m(HOME.lat_deg, HOME.lon_deg, s.lat_deg, HOME.lon_deg)
    assert 100 <= north <= 102  # detected within a step or two of the boundary
    assert mode(v) == (MainMode.AUTO, expected_sub)
    assert "Geofence violation" in texts(ev)
    if action == 2:  # hold: stops just outside
        run_for(v, 10, gcs=True)
        s = v.state
        assert distance_m(HOME.lat_deg, HOME.lon_deg, s.lat_deg, HOME.lon_deg) < 110


def test_gf_action_1_warns_only_and_breach_clears_when_back_inside() -> None:
    v = flying()
    v.set_items(FENCE, square_fence(100))
    v.params.set("GF_ACTION", 1)
    goto(v, 150, 0)
    ev: list[Event] = []
    run_until(v, lambda x: x.state.geofence_breached, 120, events=ev, gcs=True)
    assert "Geofence violation" in texts(ev)
    run_for(v, 5, gcs=True)
    assert mode(v) == (MainMode.AUTO, AutoSub.LOITER) and v.state.geofence_breached
    goto(v, 0, 0)
    run_until(v, lambda x: not x.state.geofence_breached, 120, gcs=True)


def test_exclusion_circle_breach_default_action_holds() -> None:
    v = flying()
    v.set_items(FENCE, [circle(0, 200, 0, 50, inclusion=False)])
    assert v.params.get("GF_ACTION") == 2
    v.set_mode(MainMode.POSCTL)
    goto(v, 300, 0)
    run_until(v, lambda x: x.state.geofence_breached, 120, gcs=True)
    assert 149 <= distance_m(HOME.lat_deg, HOME.lon_deg, v.state.lat_deg, HOME.lon_deg) <= 152


def test_inclusion_circle_and_exclusion_polygon_combine_like_px4() -> None:
    v = flying()
    fence = [circle(0, 0, 0, 500, inclusion=True)] + [
        Item(i + 1, it.frame, it.command, it.param1, 0, 0, 0, it.x, it.y, 0, mission_type=FENCE)
        for i, it in enumerate(square_fence(30, inclusion=False, north=200))]
    assert v.set_items(FENCE, fence) == MavResult.ACCEPTED
    goto(v, 0, 300)  # inside the circle, away from the exclusion
    run_for(v, 80, gcs=True)
    assert not v.state.geofence_breached
    goto(v, 200, 300)
    run_for(v, 50, gcs=True)
    assert not v.state.geofence_breached
    goto(v, 200, 0)  # into the exclusion square
    run_until(v, lambda x: x.state.geofence_breached, 120, gcs=True)


def test_gf_max_hor_dist_and_gf_max_ver_dist() -> None:
    v = flying()
    v.params.set("GF_MAX_HOR_DIST", 150)
    v.params.set("GF_ACTION", 3)
    goto(v, 0, 300)
    run_until(v, lambda x: x.state.geofence_breached, 120, gcs=True)
    assert mode(v) == (MainMode.AUTO, AutoSub.RTL)
    assert 149 <= dist_home(v) <= 152
    w = flying()
    w.params.set("GF_MAX_VER_DIST", 40)
    w.reposition(NAN, NAN, HOME.alt_amsl_m + 60)
    run_until(w, lambda x: x.state.geofence_breached, 60, gcs=True)
    assert w.state.alt_rel_m == pytest.approx(40, abs=0.5)
    assert mode(w) == (MainMode.AUTO, AutoSub.LOITER)


def test_arming_outside_the_fence_is_denied() -> None:
    v = Vehicle(HOME)
    wait_until_ready(v)
    v.set_items(FENCE, [circle(0, 500, 0, 50, inclusion=True)])
    out = v.arm()
    assert out.result == MavResult.TEMPORARILY_REJECTED and "geofence" in out.reason


@pytest.mark.parametrize("items", [
    [Item(0, 5, 5001, 4, 0, 0, 0, 1, 1, 0, mission_type=FENCE)] * 3,  # 3 vertices, param1 says 4
    [Item(i, 5, 5001, 2, 0, 0, 0, i, i, 0, mission_type=FENCE) for i in range(2)],  # < 3 vertices
    [Item(0, 5, 5001, 3, 0, 0, 0, 1, 1, 0, mission_type=FENCE),
     Item(1, 5, 5002, 3, 0, 0, 0, 2, 2, 0, mission_type=FENCE),
     Item(2, 5, 5001, 3, 0, 0, 0, 3, 3, 0, mission_type=FENCE)],  # mixed run
    [Item(0, 5, 5003, 0.0, 0, 0, 0, 1, 1, 0, mission_type=FENCE)],  # zero radius
    [Item(0, 5, 16, 10.0, 0, 0, 0, 1, 1, 0, mission_type=FENCE)],  # not a fence item
    [Item(0, 1, 5003, 10.0, 0, 0, 0, 1, 1, 0, mission_type=FENCE)],  # local frame
])
def test_invalid_fence_uploads_are_denied_and_keep_the_previous_fence(items: list[Item]) -> None:
    v = Vehicle(HOME)
    good = [circle(0, 0, 0, 300, inclusion=True)]
    assert v.set_items(FENCE, good) == MavResult.ACCEPTED
    assert v.set_items(FENCE, items) == MavResult.DENIED
    assert v.items(FENCE) == good
    assert any("Geofence invalid" in t for t in texts(v.drain_events()))


def test_fence_clear_removes_breach_checks() -> None:
    v = flying()
    v.set_items(FENCE, square_fence(50))
    v.clear_items(FENCE)
    goto(v, 200, 0)
    run_for(v, 60, gcs=True)
    assert not v.state.geofence_breached and v.items(FENCE) == []


# -- GPS loss --------------------------------------------------------------------------------

def test_gps_loss_in_mission_lands_and_health_is_false_until_recovered() -> None:
    v = Vehicle(HOME)
    wait_until_ready(v)
    lat, lon = offset_deg(HOME.lat_deg, HOME.lon_deg, 500, 0)
    v.set_items(MISSION, [Item(0, 6, 16, 0, 1, 0, NAN, round(lat * 1e7), round(lon * 1e7), 30)])
    v.arm()
    v.start_mission()
    run_for(v, 40, gcs=True)
    v.drain_events()
    v.set_gps_lost(True)
    ev: list[Event] = []
    run_for(v, 0.1, events=ev, gcs=True)
    s = v.state
    assert not s.gps_ok and not s.position_ok
    assert mode(v) == (MainMode.AUTO, AutoSub.LAND)
    assert "GPS signal lost" in texts(ev)
    assert any("no global position" in t for t in texts(ev))
    # Modes that need a position are refused while it is lost.
    assert v.set_mode(MainMode.AUTO, AutoSub.LOITER).result == MavResult.TEMPORARILY_REJECTED
    assert v.return_to_launch().result == MavResult.TEMPORARILY_REJECTED
    run_until(v, lambda x: x.state.landed_state == LandedState.ON_GROUND, 120, gcs=True)
    run_for(v, 3, gcs=True)
    assert not v.state.armed
    assert v.arm().result == MavResult.TEMPORARILY_REJECTED
    v.set_gps_lost(False)
    assert v.state.gps_ok and not v.state.position_ok
    run_for(v, 1.05)
    assert v.state.position_ok
    assert v.arm().ok
