"""Hypothesis strategies for mission values (shared by the mission, QGC and geofence tests)."""

from __future__ import annotations

import math

from hypothesis import strategies as st

from missions.geofence import FenceCircle, FencePolygon, Geofence
from missions.items import MavlinkItem
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

# Around the Muria region, but anywhere on Earth works the same.
lats = st.floats(min_value=-89.9, max_value=89.9, allow_nan=False)
lons = st.floats(min_value=-179.9, max_value=179.9, allow_nan=False)
alts = st.floats(min_value=-100.0, max_value=5000.0, allow_nan=False)
positive = st.floats(min_value=0.01, max_value=500.0, allow_nan=False)
non_negative = st.floats(min_value=0.0, max_value=3600.0, allow_nan=False)
yaws = st.none() | st.floats(min_value=-360.0, max_value=360.0, allow_nan=False)
speeds = st.none() | st.floats(min_value=0.1, max_value=40.0, allow_nan=False)
params = st.floats(allow_nan=True, allow_infinity=False, width=32)

nav_waypoints = st.builds(
    NavWaypoint, lats, lons, alts, hold_s=non_negative, acceptance_radius_m=non_negative, speed_m_s=speeds, yaw_deg=yaws
)
takeoffs = st.builds(Takeoff, lats, lons, alts, speed_m_s=speeds, yaw_deg=yaws)
loiters = st.builds(LoiterTime, lats, lons, alts, time_s=non_negative, speed_m_s=speeds)
lands = st.builds(Land, lats, lons, alts, yaw_deg=yaws)
orbits = st.builds(
    Orbit,
    lats,
    lons,
    alts,
    radius_m=positive,
    clockwise=st.booleans(),
    velocity_m_s=st.none() | positive,
    yaw_behaviour=st.none() | st.integers(0, 4),
    orbits=st.none() | positive,
)
delays = st.builds(Delay, non_negative)
change_speeds = st.builds(ChangeSpeed, positive, ground_speed=st.booleans())
rois = st.builds(SetRoi, lats, lons, alts)
raw_items = st.builds(
    RawItem,
    command=st.sampled_from([177, 183, 203, 206, 2000, 31000]),
    frame=st.sampled_from([0, 2, 3]),
    param1=params,
    param2=params,
    param3=params,
    param4=params,
    x=st.integers(-900000000, 900000000),
    y=st.integers(-1800000000, 1800000000),
    z=params,
    autocontinue=st.booleans(),
)

mission_items = st.one_of(
    nav_waypoints,
    takeoffs,
    loiters,
    lands,
    st.just(ReturnToLaunch()),
    orbits,
    delays,
    change_speeds,
    rois,
    raw_items,
)

# vertices on the 1e-7 degree grid and distinct, so that no two collapse when quantized
grid_lats = st.integers(-899_000_000, 899_000_000).map(lambda v: v / 1e7)
grid_lons = st.integers(-1_799_000_000, 1_799_000_000).map(lambda v: v / 1e7)
fence_polygons = st.builds(
    FencePolygon,
    st.lists(st.tuples(grid_lats, grid_lons), min_size=3, max_size=8, unique=True).map(tuple),
    inclusion=st.booleans(),
)
fence_circles = st.builds(FenceCircle, lats, lons, positive, inclusion=st.booleans())


@st.composite
def geofences(draw: st.DrawFn) -> Geofence:
    polys = draw(st.lists(fence_polygons, max_size=3))
    circles = draw(st.lists(fence_circles, max_size=3))
    return Geofence(tuple(polys), tuple(circles))


def _no_dangling_jumps(items: list) -> list:
    # DO_JUMP (177) in a .plan names its target by doJumpId: keep targets inside the mission.
    out = []
    for it in items:
        if isinstance(it, RawItem) and it.command == 177:
            it = RawItem(177, it.frame, 0.0, it.param2, it.param3, it.param4, it.x, it.y, it.z)
        out.append(it)
    return out


missions_ = st.builds(
    Mission,
    items=st.lists(mission_items, max_size=12).map(_no_dangling_jumps).map(tuple),
    home=st.none() | st.builds(HomePosition, lats, lons, alts),
    geofence=geofences(),
    rally_points=st.lists(st.builds(RallyPoint, lats, lons, alts), max_size=3).map(tuple),
    cruise_speed_m_s=positive,
    hover_speed_m_s=positive,
)


def item_key(mi: MavlinkItem) -> tuple:
    """A MavlinkItem as a tuple in which NaN compares equal to NaN."""

    def k(v: float) -> object:
        return "nan" if isinstance(v, float) and math.isnan(v) else v

    return (
        mi.seq,
        mi.frame,
        mi.command,
        k(mi.param1),
        k(mi.param2),
        k(mi.param3),
        k(mi.param4),
        mi.x,
        mi.y,
        k(mi.z),
        mi.current,
        mi.autocontinue,
        mi.mission_type,
    )
