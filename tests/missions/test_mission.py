"""Mission value type <-> MAVLink mission items (the contract the vehicle adapter uploads)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymavlink.dialects.v20 import common as mavlink2

from missions.errors import MissionError
from missions.items import Cmd, Frame, MavlinkItem, MissionType
from missions.mission import (
    ChangeSpeed,
    Delay,
    HomePosition,
    Land,
    LoiterTime,
    Mission,
    NavWaypoint,
    Orbit,
    RallyPoint,
    RawItem,
    ReturnToLaunch,
    SetRoi,
    Takeoff,
)
from tests.missions.strategies import item_key, mission_items, missions_

KUDUS = (-6.8048, 110.8405)  # town centre, approximate
PATI = (-6.7550, 111.0380)  # approximate

nan = math.nan


def _params(mi: MavlinkItem) -> list[object]:
    return ["nan" if math.isnan(p) else p for p in (mi.param1, mi.param2, mi.param3, mi.param4)]


def test_waypoint_is_encoded_as_mavsdk_does() -> None:
    [mi] = Mission([NavWaypoint(*KUDUS, alt_rel_m=60.0, hold_s=5.0, acceptance_radius_m=3.0)]).to_mission_items()
    assert (mi.seq, mi.command, mi.frame, mi.current, mi.autocontinue, mi.mission_type) == (
        0,
        Cmd.NAV_WAYPOINT,
        Frame.GLOBAL_RELATIVE_ALT,
        True,
        True,
        MissionType.MISSION,
    )
    assert _params(mi) == [5.0, 3.0, 0.0, "nan"]  # hold, acceptance radius, pass radius, yaw free
    assert (mi.x, mi.y, mi.z) == (-68048000, 1108405000, 60.0)
    assert (mi.lat_deg, mi.lon_deg) == KUDUS


def test_yaw_is_param4_in_degrees() -> None:
    [mi] = Mission([NavWaypoint(*KUDUS, 60.0, yaw_deg=270.0)]).to_mission_items()
    assert mi.param4 == 270.0


def test_speed_adds_a_do_change_speed_after_the_item() -> None:
    m = Mission(
        [
            NavWaypoint(*KUDUS, 60.0),
            NavWaypoint(*PATI, 60.0, speed_m_s=12.5),
            NavWaypoint(-6.76, 111.0, 60.0),
        ]
    )
    items = m.to_mission_items()
    # MAVSDK: "3 waypoints -> 4 MAVLink items"
    assert [i.command for i in items] == [16, 16, 178, 16]
    speed = items[2]
    assert speed.frame == Frame.MISSION
    assert _params(speed) == [1.0, 12.5, -1.0, 0.0]  # ground speed, m/s, no throttle change, absolute
    assert (speed.x, speed.y) == (0, 0) and math.isnan(speed.z)
    assert [i.seq for i in items] == [0, 1, 2, 3]
    assert [i.current for i in items] == [True, False, False, False]


def test_takeoff_land_rtl_loiter_delay_orbit_roi_encodings() -> None:
    m = Mission(
        [
            Takeoff(*KUDUS, alt_rel_m=40.0),
            LoiterTime(-6.80, 110.85, 50.0, time_s=45.0),
            Delay(10.0),
            Orbit(-6.79, 110.86, 70.0, radius_m=80.0, clockwise=False, velocity_m_s=5.0),
            SetRoi(-6.79, 110.86, 0.0),
            Land(-6.80, 110.84),
            ReturnToLaunch(),
        ]
    )
    items = m.to_mission_items()
    assert [i.command for i in items] == [22, 19, 93, 34, 195, 21, 20]
    takeoff, loiter, delay, orbit, roi, land, rtl = items
    assert _params(takeoff) == ["nan"] * 4 and takeoff.z == 40.0 and takeoff.frame == 3
    assert _params(loiter) == [45.0, 0.0, 0.0, "nan"] and loiter.z == 50.0
    assert _params(delay) == [10.0, -1.0, -1.0, -1.0] and delay.frame == Frame.MISSION
    assert _params(orbit) == [-80.0, 5.0, "nan", "nan"]  # negative radius: counter-clockwise
    assert (orbit.x, orbit.y, orbit.z) == (-67900000, 1108600000, 70.0)
    assert _params(roi) == [0.0] * 4 and roi.frame == 3
    assert _params(land) == ["nan"] * 4 and land.z == 0.0 and land.frame == 3
    assert _params(rtl) == ["nan"] * 4 and rtl.frame == Frame.MISSION and (rtl.x, rtl.y, rtl.z) == (0, 0, 0.0)


def test_items_survive_the_mavlink_wire_encoding() -> None:
    """Every item packs into a real MISSION_ITEM_INT and unpacks to the same values (float32)."""
    m = Mission(
        [
            Takeoff(*KUDUS, 40.0, speed_m_s=10.0),
            NavWaypoint(*PATI, 60.0, hold_s=30.0, yaw_deg=90.0),
            Orbit(*PATI, 60.0, radius_m=100.0),
            ReturnToLaunch(),
        ]
    )
    mav = mavlink2.MAVLink(None, srcSystem=245, srcComponent=190)
    for mi in m.to_mission_items():
        msg = mavlink2.MAVLink_mission_item_int_message(
            1, 1, mi.seq, mi.frame, mi.command, int(mi.current), int(mi.autocontinue),
            mi.param1, mi.param2, mi.param3, mi.param4, mi.x, mi.y, mi.z, mi.mission_type,
        )  # fmt: skip
        decoded = mav.decode(bytearray(msg.pack(mav)))
        assert (decoded.seq, decoded.command, decoded.frame, decoded.x, decoded.y) == (
            mi.seq,
            mi.command,
            mi.frame,
            mi.x,
            mi.y,
        )
        for ours, theirs in ((mi.param1, decoded.param1), (mi.param4, decoded.param4), (mi.z, decoded.z)):
            assert (math.isnan(ours) and math.isnan(theirs)) or ours == pytest.approx(theirs, rel=1e-6)


def test_positions_are_stored_at_mavlink_resolution() -> None:
    wp = NavWaypoint(-6.804812345678, 110.840598765432, 50.0)
    assert (wp.lat_deg, wp.lon_deg) == (-6.8048123, 110.8405988)
    [mi] = Mission([wp]).to_mission_items()
    assert (mi.x, mi.y) == (-68048123, 1108405988)


def test_ground_speed_change_after_a_positional_item_is_folded_into_it() -> None:
    folded = Mission([NavWaypoint(*KUDUS, 50.0), ChangeSpeed(8.0)])
    assert folded == Mission([NavWaypoint(*KUDUS, 50.0, speed_m_s=8.0)])
    # not folded: airspeed, a second change, or nothing positional before it
    assert len(Mission([NavWaypoint(*KUDUS, 50.0), ChangeSpeed(8.0, ground_speed=False)]).items) == 2
    assert len(Mission([NavWaypoint(*KUDUS, 50.0, speed_m_s=5.0), ChangeSpeed(8.0)]).items) == 2
    assert len(Mission([ChangeSpeed(8.0), NavWaypoint(*KUDUS, 50.0)]).items) == 2


@settings(deadline=None)
@given(missions_)
def test_mission_to_items_and_back_is_lossless(mission: Mission) -> None:
    items = mission.to_mission_items()
    back = Mission.from_mission_items(
        items,
        home=mission.home,
        fence_items=mission.to_fence_items(),
        rally_items=mission.to_rally_items(),
    )
    assert back.items == mission.items
    assert back.geofence == mission.geofence
    assert back.rally_points == mission.rally_points


@settings(deadline=None)
@given(st.lists(mission_items, max_size=10))
def test_our_items_decode_and_reencode_identically(items: list) -> None:
    encoded = Mission(items).to_mission_items()
    again = Mission.from_mission_items(encoded).to_mission_items()
    assert [item_key(i) for i in again] == [item_key(i) for i in encoded]
    assert [i.seq for i in encoded] == list(range(len(encoded)))
    assert [i.current for i in encoded] == [k == 0 for k in range(len(encoded))]


finite32 = st.floats(allow_nan=False, allow_infinity=False, width=32)


@settings(deadline=None)
@given(
    st.lists(
        st.builds(
            MavlinkItem,
            seq=st.integers(0, 5),
            frame=st.sampled_from([0, 2, 3, 5, 6]),
            command=st.sampled_from([16, 19, 20, 21, 22, 34, 93, 178, 195, 206, 177]),
            param1=finite32 | st.just(nan),
            param2=finite32 | st.just(nan),
            param3=st.sampled_from([0.0, nan, -1.0, 2.0]),
            param4=st.sampled_from([0.0, nan, -1.0, 45.0]),
            x=st.integers(-900_000_000, 900_000_000),
            y=st.integers(-1_800_000_000, 1_800_000_000),
            z=finite32 | st.just(nan),
            current=st.booleans(),
            autocontinue=st.booleans(),
        ),
        max_size=8,
    )
)
def test_any_items_decode_without_losing_meaning(items: list[MavlinkItem]) -> None:
    """Foreign items: command, frame, position and every meaningful parameter are kept; only
    parameters PX4 ignores may change between 0 and NaN, and frame 6 reads as frame 3."""
    again = Mission.from_mission_items(items).to_mission_items()
    assert len(again) == len(items)
    for k, (a, b) in enumerate(zip(items, again, strict=True)):
        assert b.seq == k and b.current == (k == 0)
        assert (a.command, a.autocontinue) == (b.command, b.autocontinue)
        assert a.frame == b.frame or {a.frame, b.frame} == {3, 6}
        if a.frame != Frame.MISSION or b.frame != Frame.MISSION:
            assert (a.x, a.y) == (b.x, b.y)
        za = "nan" if math.isnan(a.z) else a.z
        zb = "nan" if math.isnan(b.z) else b.z
        for pa, pb in zip([*_params(a), za], [*_params(b), zb], strict=True):
            unset = {"nan", 0.0}
            assert pa == pb or (pa in unset and pb in unset)


def test_qgc_style_zero_params_read_as_typed_items() -> None:
    items = [
        MavlinkItem(0, 3, 22, 0.0, 0.0, 0.0, nan, -68048000, 1108405000, 40.0),
        MavlinkItem(1, 2, 178, 1.0, 10.0, -1.0, 0.0, 0, 0, 0.0),
        MavlinkItem(2, 6, 16, 0.0, 0.0, 0.0, nan, -67990000, 1108480000, 60.0),
        MavlinkItem(3, 3, 21, 0.0, 0.0, 0.0, nan, -67990000, 1108480000, 0.0),
        MavlinkItem(4, 2, 20, 0.0, 0.0, 0.0, 0.0, 0, 0, 0.0),
    ]
    m = Mission.from_mission_items(items)
    assert m.items == (
        Takeoff(*KUDUS, 40.0, speed_m_s=10.0),
        NavWaypoint(-6.799, 110.848, 60.0, acceptance_radius_m=0.0),
        Land(-6.799, 110.848),
        ReturnToLaunch(),
    )


def test_unmodelled_items_are_kept_raw() -> None:
    cam = MavlinkItem(0, 2, 206, 25.0, 0.0, 1.0, 0.0, 0, 0, 0.0)
    stop = MavlinkItem(1, 3, 16, 0.0, 0.0, 0.0, nan, 1, 2, 3.0, autocontinue=False)  # waits for the pilot
    m = Mission.from_mission_items([cam, stop])
    assert m.items == (RawItem(206, 2, 25.0, 0.0, 1.0, 0.0, 0, 0, 0.0), RawItem(16, 3, 0.0, 0.0, 0.0, nan, 1, 2, 3.0, False))
    assert not m.to_mission_items()[1].autocontinue


def test_raw_item_equality_treats_nan_as_equal() -> None:
    assert RawItem(206, 2, nan) == RawItem(206, 2, nan)
    assert hash(RawItem(206, 2, nan)) == hash(RawItem(206, 2, nan))
    assert RawItem(206, 2, nan) != RawItem(206, 2, 0.0)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: NavWaypoint(110.8, -6.8, 50.0), "NavWaypoint.lat_deg: 110.8 is out of range [-90, 90] (are lat and lon swapped?)"),
        (lambda: NavWaypoint(-6.8, 190.0, 50.0), "NavWaypoint.lon_deg: 190.0 is out of range"),
        (lambda: NavWaypoint(-6.8, 110.8, nan), "NavWaypoint.alt_rel_m: must be a finite number"),
        (lambda: NavWaypoint(-6.8, 110.8, 50.0, hold_s=-1.0), "NavWaypoint.hold_s: must be >= 0"),
        (lambda: NavWaypoint(-6.8, 110.8, 50.0, speed_m_s=0.0), "NavWaypoint.speed_m_s: must be > 0"),
        (lambda: Takeoff(-6.8, 110.8, 50.0, yaw_deg=400.0), "Takeoff.yaw_deg: must be within [-360, 360]"),
        (lambda: Orbit(-6.8, 110.8, 50.0, radius_m=0.0), "Orbit.radius_m: must be > 0"),
        (lambda: ChangeSpeed(-2.0), "ChangeSpeed.speed_m_s: must be > 0"),
        (lambda: RawItem(16, 3, x=2**31), "RawItem.x: must fit in int32"),
        (lambda: RawItem(16, 3, param1=math.inf), "RawItem.param1: must be finite or NaN"),
        (lambda: Mission(["waypoint"]), "Mission.items[0]: str is not a mission item type"),
        (lambda: Mission(cruise_speed_m_s=0.0), "Mission.cruise_speed_m_s: must be > 0"),
    ],
)
def test_invalid_values_are_rejected_with_the_field_named(make, message: str) -> None:
    with pytest.raises(MissionError) as exc:
        make()
    assert message in str(exc.value)


def test_wrong_mission_type_is_rejected() -> None:
    fence_item = MavlinkItem(0, 0, 5001, 3.0, mission_type=MissionType.FENCE)
    with pytest.raises(MissionError, match=r"mission item 0: mission_type must be 0"):
        Mission.from_mission_items([fence_item])


def test_rally_items() -> None:
    m = Mission(rally_points=(RallyPoint(-6.801, 110.838, 30.0), RallyPoint(-6.79, 110.85)))
    items = m.to_rally_items()
    assert [(i.seq, i.command, i.frame, i.mission_type, i.current) for i in items] == [
        (0, 5100, 3, 2, True),
        (1, 5100, 3, 2, False),
    ]
    assert Mission.from_mission_items([], rally_items=items).rally_points == m.rally_points


def test_positions_lists_every_flown_position() -> None:
    m = Mission(
        [
            Takeoff(*KUDUS, 30.0),
            ChangeSpeed(9.0, ground_speed=False),
            NavWaypoint(*PATI, 60.0),
            RawItem(16, 3, x=-67000000, y=1110000000, z=55.0),
            RawItem(206, 2, 25.0),
            Land(*PATI),
        ]
    )
    assert m.positions() == [(*KUDUS, 30.0), (*PATI, 60.0), (-6.7, 111.0, 55.0), (*PATI, 0.0)]


def test_values_are_frozen() -> None:
    wp = NavWaypoint(*KUDUS, 50.0)
    with pytest.raises(AttributeError):
        wp.alt_rel_m = 10.0  # type: ignore[misc]
    with pytest.raises(AttributeError):
        Mission().items = ()  # type: ignore[misc]
    assert HomePosition(*KUDUS) == HomePosition(*KUDUS)
