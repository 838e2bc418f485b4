"""Mission execution in the model, item by item, as PX4's navigator does it."""

from __future__ import annotations

import math

import pytest

from sim.geo import distance_m, offset_deg
from sim.items import FENCE, MISSION, Item
from sim.steps import run_for, run_until, wait_until_ready
from sim.vehicle import (
    AutoSub,
    CurrentItemChanged,
    Event,
    Home,
    ItemReached,
    LandedState,
    MainMode,
    MavResult,
    ModeChanged,
    StatusText,
    Vehicle,
)

HOME = Home(-6.175392, 106.827153, 12.0)
NAN = float("nan")


def wp(seq: int, north_m: float, east_m: float, alt: float, *, hold_s: float = 0.0,
       acc_m: float = 1.0, frame: int = 6, cmd: int = 16) -> Item:
    lat, lon = offset_deg(HOME.lat_deg, HOME.lon_deg, north_m, east_m)
    return Item(seq, frame, cmd, hold_s, acc_m, 0.0, NAN, round(lat * 1e7), round(lon * 1e7), alt)


def speed_item(seq: int, speed: float) -> Item:
    return Item(seq, 2, 178, 1.0, speed, -1.0, 0.0, 0, 0, 0.0)


def ready() -> Vehicle:
    v = Vehicle(HOME)
    wait_until_ready(v)
    v.drain_events()
    return v


def reached(ev: list[Event]) -> list[int]:
    return [e.seq for e in ev if isinstance(e, ItemReached)]


def at(v: Vehicle, item: Item) -> float:
    s = v.state
    return distance_m(s.lat_deg, s.lon_deg, item.x * 1e-7, item.y * 1e-7)


def fly_mission(v: Vehicle, timeout_s: float = 1200.0) -> tuple[list[Event], float]:
    ev: list[Event] = []
    t = run_until(v, lambda x: x.state.mission_finished, timeout_s, events=ev)
    return ev, t


def test_start_mission_without_mission_is_denied_with_px4_text() -> None:
    v = ready()
    out = v.start_mission()
    assert out.result == MavResult.DENIED
    assert out.reason == "Mission rejected: no mission"
    assert v.set_mode(MainMode.AUTO, AutoSub.MISSION).result == MavResult.DENIED
    assert v.state.sub_mode == AutoSub.NONE


def test_upload_sets_current_zero_and_announces_it() -> None:
    v = ready()
    assert v.state.mission_current == -1
    items = [wp(0, 50, 0, 20), wp(1, 50, 50, 20)]
    assert v.set_items(MISSION, items) == MavResult.ACCEPTED
    assert v.items(MISSION) == items
    assert v.state.mission_current == 0 and v.state.mission_count == 2
    assert CurrentItemChanged(0) in v.drain_events()
    v.clear_items(MISSION)
    assert v.state.mission_current == -1 and v.items(MISSION) == []


def test_three_waypoints_from_ground_take_off_first_then_each_item_in_order_then_hold() -> None:
    v = ready()
    items = [wp(0, 60, 0, 20, acc_m=3.0), wp(1, 60, 80, 25, acc_m=3.0), wp(2, 0, 80, 30, acc_m=1.0)]
    v.set_items(MISSION, items)
    v.drain_events()
    assert v.arm().ok and v.start_mission().ok
    ev: list[Event] = []
    # Vertical takeoff first (PX4: to the first waypoint's altitude), reported as TAKEOFF.
    run_until(v, lambda x: x.state.landed_state == LandedState.TAKEOFF, 5, events=ev)
    run_until(v, lambda x: x.state.landed_state == LandedState.IN_AIR, 60, events=ev)
    assert v.state.alt_rel_m == pytest.approx(20, abs=1.0)
    assert distance_m(v.state.lat_deg, v.state.lon_deg, HOME.lat_deg, HOME.lon_deg) < 1.0
    # Then item by item; record where each ItemReached came out.
    seen: list[tuple[int, float]] = []
    def check(x: Vehicle) -> bool:
        for e in x.drain_events():
            ev.append(e)
            if isinstance(e, ItemReached):
                seen.append((e.seq, at(x, items[e.seq])))
        return x.state.mission_finished
    t0 = v.time_us
    while not check(v):
        v.step(0.05)
        assert v.time_us - t0 < 300e6
    assert [s for s, _ in seen] == [0, 1, 2]
    for seq, d in seen:
        assert d <= items[seq].param2 + 0.2  # acceptance radius (param2)
    currents = [e.seq for e in ev if isinstance(e, CurrentItemChanged)]
    assert currents == [1, 2]
    assert any(isinstance(e, StatusText) and "Mission finished" in e.text for e in ev)
    # PX4: at the end the vehicle stays in MISSION and loiters at the last waypoint.
    run_for(v, 30)
    s = v.state
    assert (s.main_mode, s.sub_mode, s.armed) == (MainMode.AUTO, AutoSub.MISSION, True)
    assert at(v, items[2]) < 1.5 and s.alt_rel_m == pytest.approx(30, abs=0.8)
    assert s.mission_finished and s.mission_current == 2


def test_mission_takes_about_the_time_px4_defaults_imply() -> None:
    """500 m straight at MPC_XY_CRUISE 5 m/s: ~100 s plus acceleration; the same mission on PX4
    SITL takes about the same simulated time (issue 2, item 6)."""
    v = ready()
    items = [wp(0, 0, 0, 10), wp(1, 500, 0, 10)]
    v.set_items(MISSION, items)
    v.arm()
    v.start_mission()
    run_until(v, lambda x: x.state.mission_current == 1, 60)
    _, t = fly_mission(v)
    assert 100 <= t <= 110


def test_hold_time_and_loiter_time_and_delay_items_wait() -> None:
    v = ready()
    lat, lon = offset_deg(HOME.lat_deg, HOME.lon_deg, 40, 0)
    items = [
        wp(0, 40, 0, 15, hold_s=8.0),
        Item(1, 6, 19, 6.0, 0, 0, 0, round(lat * 1e7), round(lon * 1e7), 15),  # LOITER_TIME 6 s
        Item(2, 2, 93, 5.0, -1, -1, -1, 0, 0, 0),  # NAV_DELAY 5 s
        wp(3, 40, 40, 15),
    ]
    v.set_items(MISSION, items)
    v.arm()
    v.start_mission()
    times: dict[int, float] = {}
    arrival: float | None = None
    def check(x: Vehicle) -> bool:
        nonlocal arrival
        if arrival is None and at(x, items[0]) < 1.0 and abs(x.state.alt_rel_m - 15) < 0.8:
            arrival = x.time_us * 1e-6
        for e in x.drain_events():
            if isinstance(e, ItemReached):
                times[e.seq] = x.time_us * 1e-6
        return x.state.mission_finished
    run_until(v, check, 300)
    assert arrival is not None
    assert times[0] - arrival == pytest.approx(8.0, abs=0.3)
    assert times[1] - times[0] == pytest.approx(6.0, abs=0.3)
    assert times[2] - times[1] == pytest.approx(5.0, abs=0.2)
    assert sorted(times) == [0, 1, 2, 3]


def test_do_change_speed_item_changes_cruise_speed() -> None:
    v = ready()
    items = [wp(0, 0, 0, 10), speed_item(1, 10.0), wp(2, 600, 0, 10), speed_item(3, 2.0),
             wp(4, 600, 200, 10)]
    v.set_items(MISSION, items)
    v.arm()
    v.start_mission()
    run_until(v, lambda x: x.state.mission_current == 2, 60)
    run_for(v, 20)
    assert math.hypot(v.state.vn_m_s, v.state.ve_m_s) == pytest.approx(10.0, abs=0.01)
    run_until(v, lambda x: x.state.mission_current == 4, 200)
    run_for(v, 20)
    assert math.hypot(v.state.vn_m_s, v.state.ve_m_s) == pytest.approx(2.0, abs=0.01)
    ev, _ = fly_mission(v)


def test_takeoff_item_then_land_item_lands_there_and_disarms() -> None:
    v = ready()
    land_lat, land_lon = offset_deg(HOME.lat_deg, HOME.lon_deg, 100, 100)
    items = [
        Item(0, 6, 22, 0, 0, 0, NAN, 0, 0, 12.0),  # NAV_TAKEOFF to 12 m here
        wp(1, 100, 0, 20),
        Item(2, 6, 21, 0, 0, 0, NAN, round(land_lat * 1e7), round(land_lon * 1e7), 0.0),
    ]
    v.set_items(MISSION, items)
    v.arm()
    v.start_mission()
    ev: list[Event] = []
    run_until(v, lambda x: 0 in reached(ev), 60, events=ev)
    assert v.state.alt_rel_m == pytest.approx(12, abs=0.8)
    run_until(v, lambda x: not x.state.armed, 300, events=ev)
    assert reached(ev) == [0, 1, 2]
    s = v.state
    assert s.mission_finished and s.landed_state == LandedState.ON_GROUND
    assert distance_m(s.lat_deg, s.lon_deg, land_lat, land_lon) < 1.0


def test_return_to_launch_item_switches_to_rtl_and_lands_within_2_m_of_home() -> None:
    v = ready()
    items = [wp(0, 200, 0, 20), wp(1, 200, 200, 20), Item(2, 2, 20, 0, 0, 0, 0, 0, 0, 0)]
    v.set_items(MISSION, items)
    v.arm()
    v.start_mission()
    ev: list[Event] = []
    run_until(v, lambda x: not x.state.armed, 600, events=ev)
    assert reached(ev) == [0, 1, 2]
    assert ModeChanged(MainMode.AUTO, AutoSub.RTL) in ev
    s = v.state
    assert s.mission_finished
    assert distance_m(s.lat_deg, s.lon_deg, HOME.lat_deg, HOME.lon_deg) < 2.0


def test_amsl_frame_and_relative_frame_altitudes() -> None:
    v = ready()
    items = [wp(0, 30, 0, 40.0, frame=5), wp(1, 30, 30, 40.0, frame=6),
             wp(2, 0, 30, 40.0, frame=0), wp(3, 0, 0, 40.0, frame=3)]
    v.set_items(MISSION, items)
    v.arm()
    v.start_mission()
    alts: dict[int, float] = {}
    def check(x: Vehicle) -> bool:
        for e in x.drain_events():
            if isinstance(e, ItemReached):
                alts[e.seq] = x.state.alt_amsl_m
        return x.state.mission_finished
    run_until(v, check, 300)
    assert alts[0] == pytest.approx(40.0, abs=0.8)  # AMSL
    assert alts[1] == pytest.approx(52.0, abs=0.8)  # home 12 m + 40 m
    assert alts[2] == pytest.approx(40.0, abs=0.8)
    assert alts[3] == pytest.approx(52.0, abs=0.8)


def test_two_hundred_items_progress_one_by_one_then_rtl_lands_near_home() -> None:
    v = ready()
    items = [wp(i, 30.0 * (i // 20) * (1 if (i // 20) % 2 == 0 else 1),
                15.0 * (i % 20 if (i // 20) % 2 == 0 else 19 - i % 20), 25, acc_m=3.0)
             for i in range(200)]
    v.set_items(MISSION, items)
    v.drain_events()
    v.arm()
    v.start_mission()
    ev: list[Event] = []
    run_until(v, lambda x: x.state.mission_finished, 3000, events=ev, dt_s=0.05)
    assert reached(ev) == list(range(200))
    assert [e.seq for e in ev if isinstance(e, CurrentItemChanged)] == list(range(1, 200))
    assert v.return_to_launch().ok
    run_until(v, lambda x: not x.state.armed, 600)
    s = v.state
    assert distance_m(s.lat_deg, s.lon_deg, HOME.lat_deg, HOME.lon_deg) < 2.0


def test_set_current_item_jumps_and_finished_mission_restarts_from_start() -> None:
    v = ready()
    items = [wp(0, 30, 0, 10), wp(1, 30, 30, 10), wp(2, 0, 30, 10)]
    v.set_items(MISSION, items)
    assert v.set_current_item(2) == MavResult.ACCEPTED
    assert v.set_current_item(3) == MavResult.DENIED
    v.arm()
    v.start_mission()
    ev, _ = fly_mission(v)
    assert reached(ev) == [2]
    v.set_mode(MainMode.AUTO, AutoSub.LOITER)
    assert v.start_mission().ok
    assert v.state.mission_current == 0 and not v.state.mission_finished
    ev, _ = fly_mission(v)
    assert reached(ev) == [0, 1, 2]


def test_do_jump_repeats() -> None:
    v = ready()
    items = [wp(0, 20, 0, 10), wp(1, 20, 20, 10), Item(2, 2, 177, 0, 2, 0, 0, 0, 0, 0), wp(3, 0, 0, 10)]
    v.set_items(MISSION, items)
    v.arm()
    v.start_mission()
    ev, _ = fly_mission(v)
    assert reached(ev) == [0, 1, 2, 0, 1, 2, 0, 1, 2, 3]


def test_first_waypoint_too_far_is_rejected_like_px4_mis_dist_1wp() -> None:
    v = ready()
    v.set_items(MISSION, [wp(0, 11000, 0, 50)])
    out = v.start_mission()
    assert out.result == MavResult.DENIED and out.reason.startswith("Mission rejected")
    v.params.set("MIS_DIST_1WP", 20000)
    assert v.start_mission().ok


def test_mission_through_geofence_is_rejected() -> None:
    v = ready()
    fence = [Item(0, 0, 5003, 100.0, 0, 0, 0, round(HOME.lat_deg * 1e7), round(HOME.lon_deg * 1e7), 0,
                  mission_type=FENCE)]
    assert v.set_items(FENCE, fence) == MavResult.ACCEPTED
    v.set_items(MISSION, [wp(0, 50, 0, 10), wp(1, 300, 0, 10)])
    out = v.start_mission()
    assert out.result == MavResult.DENIED and "geofence" in out.reason


def test_mission_mode_disarmed_waits_on_ground_until_armed() -> None:
    v = ready()
    v.set_items(MISSION, [wp(0, 30, 0, 10)])
    assert v.start_mission().ok
    run_for(v, 5)
    assert v.state.landed_state == LandedState.ON_GROUND and v.state.mission_current == 0
    v.arm()
    ev, _ = fly_mission(v)
    assert reached(ev) == [0]


def test_new_upload_while_flying_restarts_from_item_zero() -> None:
    v = ready()
    v.set_items(MISSION, [wp(0, 100, 0, 10), wp(1, 200, 0, 10)])
    v.arm()
    v.start_mission()
    run_until(v, lambda x: x.state.mission_current == 1, 120)
    new = [wp(0, 0, 100, 10)]
    v.drain_events()
    v.set_items(MISSION, new)
    ev, _ = fly_mission(v)
    assert reached(ev) == [0]
    assert at(v, new[0]) < 1.5
