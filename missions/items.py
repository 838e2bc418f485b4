"""MAVLink mission items as plain values.

`MavlinkItem` mirrors MAVLink's ``MISSION_ITEM_INT`` (and MAVSDK's ``mission_raw.MissionItem``)
field for field, so a plan can be handed to any MAVLink uploader without this package knowing
about sockets or MAVSDK.

Examples
--------
>>> item = MavlinkItem(seq=0, frame=3, command=16, x=-68048000, y=1108405000, z=60.0)
>>> item.lat_deg, item.lon_deg
(-6.8048, 110.8405)
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MavlinkItem", "MissionType", "Frame", "Cmd"]


class MissionType:
    """MAV_MISSION_TYPE values."""

    MISSION = 0
    FENCE = 1
    RALLY = 2


class Frame:
    """MAV_FRAME values used by PX4 missions."""

    MISSION = 2  # for DO_ commands without a position
    GLOBAL_INT = 5  # altitude AMSL
    GLOBAL_RELATIVE_ALT_INT = 6  # altitude above home
    GLOBAL = 0
    GLOBAL_RELATIVE_ALT = 3  # what MAVSDK's Mission plugin uses (x/y still sent as 1e7 ints)


class Cmd:
    """MAV_CMD values used in our missions."""

    NAV_WAYPOINT = 16
    NAV_LOITER_UNLIM = 17
    NAV_LOITER_TIME = 19
    NAV_RETURN_TO_LAUNCH = 20
    NAV_LAND = 21
    NAV_TAKEOFF = 22
    NAV_DELAY = 93
    DO_CHANGE_SPEED = 178
    DO_SET_ROI_LOCATION = 195
    DO_ORBIT = 34
    NAV_FENCE_POLYGON_VERTEX_INCLUSION = 5001
    NAV_FENCE_POLYGON_VERTEX_EXCLUSION = 5002
    NAV_FENCE_CIRCLE_INCLUSION = 5003
    NAV_FENCE_CIRCLE_EXCLUSION = 5004
    NAV_RALLY_POINT = 5100


@dataclass(frozen=True, slots=True)
class MavlinkItem:
    """One MISSION_ITEM_INT. ``x``/``y`` are latitude/longitude in degrees * 1e7 (int)."""

    seq: int
    frame: int
    command: int
    param1: float = 0.0
    param2: float = 0.0
    param3: float = 0.0
    param4: float = 0.0
    x: int = 0
    y: int = 0
    z: float = 0.0
    current: bool = False
    autocontinue: bool = True
    mission_type: int = MissionType.MISSION

    @property
    def lat_deg(self) -> float:
        return self.x / 1e7

    @property
    def lon_deg(self) -> float:
        return self.y / 1e7
