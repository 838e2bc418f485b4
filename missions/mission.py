"""The `Mission` value type and its MAVLink items.

A `Mission` is a tuple of typed items (frozen dataclasses) plus the planned home position, a
`~missions.geofence.Geofence` and rally points. It converts to the MAVLink mission items MAVSDK
uploads (`to_mission_items`, a list of `~missions.items.MavlinkItem`) and back
(`Mission.from_mission_items`), to and from QGroundControl ``.plan`` JSON (`to_qgc_plan`,
`Mission.from_qgc_plan`, implemented in `missions.qgc`) and to GeoJSON (`to_geojson`).

Item encoding (what PX4 receives), after MAVSDK's ``Mission`` plugin:

============================  =======  =====  ==============================================
item                          command  frame  params / position
============================  =======  =====  ==============================================
`NavWaypoint`                 16       3      p1 hold s, p2 acceptance radius m, p3 0,
                                              p4 yaw deg (NaN: vehicle decides); x/y/z
`Takeoff`                     22       3      p1-p3 NaN, p4 yaw deg or NaN; x/y/z
`LoiterTime`                  19       3      p1 time s, p2 0, p3 0, p4 NaN; x/y/z
`Land`                        21       3      p1-p3 NaN, p4 yaw or NaN; x/y, z (default 0)
`ReturnToLaunch`              20       2      p1-p4 NaN; x = y = 0, z 0
`Orbit` (``DO_ORBIT``)        34       3      p1 radius m (+ clockwise, - counter-clockwise),
                                              p2 speed m/s, p3 yaw behaviour, p4 orbits
                                              (NaN: defaults / unlimited); x/y/z centre
`Delay` (``NAV_DELAY``)       93       2      p1 delay s, p2-p4 -1
`ChangeSpeed`                 178      2      p1 1 ground / 0 air speed, p2 m/s, p3 -1,
                                              p4 0, z NaN
`SetRoi` (``DO_SET_ROI_LOC``) 195      3      p1-p4 0; x/y/z
`RawItem`                     any      any    every field as given (anything else)
============================  =======  =====  ==============================================

Frame 3 is ``MAV_FRAME_GLOBAL_RELATIVE_ALT`` (altitude above home), which MAVSDK 4 sends in
``MISSION_ITEM_INT`` (x/y in degrees * 1e7); frame 6 (``..._INT``) is read as the same thing.
A ``speed_m_s`` on a positional item adds a ``DO_CHANGE_SPEED`` item right after it (exactly as
MAVSDK does: "3 waypoints -> 4 MAVLink items"). Sequence numbers start at 0 and ``current`` is
set on the first item.

Round trips. ``Mission.from_mission_items(m.to_mission_items(), ...) == m`` for every mission
(positions are stored at MAVLink's 1e-7 degree resolution, about 1 cm, so nothing is lost). Items
not written by us are read into typed items when they match an encoding above; parameters that
PX4 ignores for a multicopter (e.g. ``NAV_TAKEOFF`` pitch) may be given as 0 or NaN; anything
else becomes a `RawItem`, which keeps every field. ``seq`` and ``current`` are renumbered.

Examples
--------
>>> m = Mission(items=(
...     Takeoff(-6.8048, 110.8405, alt_rel_m=40.0),
...     NavWaypoint(-6.7900, 110.8500, alt_rel_m=60.0, speed_m_s=12.0),
...     NavWaypoint(-6.7800, 110.8600, alt_rel_m=60.0, hold_s=30.0),
...     ReturnToLaunch(),
... ))
>>> [(i.seq, i.command, i.frame) for i in m.to_mission_items()]
[(0, 22, 3), (1, 16, 3), (2, 178, 2), (3, 16, 3), (4, 20, 2)]
>>> Mission.from_mission_items(m.to_mission_items()) == m
True
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Union

from .errors import MissionError
from .geofence import FenceCircle, FencePolygon, Geofence, quantize_deg
from .items import Cmd, Frame, MavlinkItem, MissionType

__all__ = [
    "NavWaypoint",
    "Takeoff",
    "Land",
    "ReturnToLaunch",
    "LoiterTime",
    "Orbit",
    "Delay",
    "ChangeSpeed",
    "SetRoi",
    "RawItem",
    "MissionItem",
    "HomePosition",
    "RallyPoint",
    "Mission",
    "POSITIONAL_ITEMS",
]

NAN = math.nan
_RELATIVE_FRAMES = (Frame.GLOBAL_RELATIVE_ALT, Frame.GLOBAL_RELATIVE_ALT_INT)
#: Frame written for positional items (what MAVSDK 4's Mission plugin sends).
ITEM_FRAME = Frame.GLOBAL_RELATIVE_ALT


# ----------------------------------------------------------------------------- validation helpers
def _is_nan(v: float) -> bool:
    return isinstance(v, float) and math.isnan(v)


def _finite(value: Any, what: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise MissionError(f"{what}: must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise MissionError(f"{what}: must be a finite number, got {value!r}")
    return v


def _opt_finite(value: Any, what: str) -> float | None:
    return None if value is None else _finite(value, what)


def _check_position(obj: Any) -> None:
    name = type(obj).__name__
    lat = _finite(obj.lat_deg, f"{name}.lat_deg")
    lon = _finite(obj.lon_deg, f"{name}.lon_deg")
    if not -90.0 <= lat <= 90.0:
        hint = " (are lat and lon swapped?)" if -90.0 <= lon <= 90.0 else ""
        raise MissionError(f"{name}.lat_deg: {lat} is out of range [-90, 90]{hint}")
    if not -180.0 <= lon <= 180.0:
        raise MissionError(f"{name}.lon_deg: {lon} is out of range [-180, 180]")
    object.__setattr__(obj, "lat_deg", quantize_deg(lat))
    object.__setattr__(obj, "lon_deg", quantize_deg(lon))
    if hasattr(obj, "alt_rel_m"):
        object.__setattr__(obj, "alt_rel_m", _finite(obj.alt_rel_m, f"{name}.alt_rel_m"))


def _check_speed(obj: Any) -> None:
    name = type(obj).__name__
    speed = _opt_finite(obj.speed_m_s, f"{name}.speed_m_s")
    if speed is not None and speed <= 0.0:
        raise MissionError(f"{name}.speed_m_s: must be > 0 when given, got {speed}")
    object.__setattr__(obj, "speed_m_s", speed)


def _check_yaw(obj: Any) -> None:
    name = type(obj).__name__
    yaw = _opt_finite(obj.yaw_deg, f"{name}.yaw_deg")
    if yaw is not None and not -360.0 <= yaw <= 360.0:
        raise MissionError(f"{name}.yaw_deg: must be within [-360, 360], got {yaw}")
    object.__setattr__(obj, "yaw_deg", yaw)


def _non_negative(obj: Any, attr: str) -> None:
    name = type(obj).__name__
    v = _finite(getattr(obj, attr), f"{name}.{attr}")
    if v < 0.0:
        raise MissionError(f"{name}.{attr}: must be >= 0, got {v}")
    object.__setattr__(obj, attr, v)


def _e7(value_deg: float) -> int:
    return int(round(value_deg * 1e7))


def _nan_if_none(v: float | None) -> float:
    return NAN if v is None else float(v)


def _none_if_nan(v: float) -> float | None:
    return None if math.isnan(v) else float(v)


def _unused(v: float) -> bool:
    """PX4 ignores this parameter for a multicopter: 0 and NaN both mean "not set"."""
    return v == 0.0 or math.isnan(v)


# ----------------------------------------------------------------------------- item types
@dataclass(frozen=True, slots=True)
class NavWaypoint:
    """Fly to a position (``MAV_CMD_NAV_WAYPOINT``).

    Parameters
    ----------
    lat_deg, lon_deg : float
        Position (WGS84 degrees), stored at 1e-7 degree resolution.
    alt_rel_m : float
        Altitude above home, metres.
    hold_s : float
        Time to hover at the waypoint once reached (``param1``), seconds.
    acceptance_radius_m : float
        Distance at which the waypoint counts as reached (``param2``); 0 lets PX4 use
        ``NAV_ACC_RAD``.
    speed_m_s : float or None
        Ground speed commanded from this waypoint on (a ``DO_CHANGE_SPEED`` follows the item, as
        MAVSDK's ``MissionItem.speed_m_s``); None keeps the current speed.
    yaw_deg : float or None
        Heading to hold at the waypoint (``param4``); None lets the vehicle decide (NaN).
    """

    lat_deg: float
    lon_deg: float
    alt_rel_m: float
    hold_s: float = 0.0
    acceptance_radius_m: float = 1.0
    speed_m_s: float | None = None
    yaw_deg: float | None = None

    def __post_init__(self) -> None:
        _check_position(self)
        _non_negative(self, "hold_s")
        _non_negative(self, "acceptance_radius_m")
        _check_speed(self)
        _check_yaw(self)


@dataclass(frozen=True, slots=True)
class Takeoff:
    """Take off and climb to ``alt_rel_m`` above home at the given position (``NAV_TAKEOFF``)."""

    lat_deg: float
    lon_deg: float
    alt_rel_m: float
    speed_m_s: float | None = None
    yaw_deg: float | None = None

    def __post_init__(self) -> None:
        _check_position(self)
        _check_speed(self)
        _check_yaw(self)


@dataclass(frozen=True, slots=True)
class LoiterTime:
    """Fly to a position and hover there for ``time_s`` seconds (``NAV_LOITER_TIME``)."""

    lat_deg: float
    lon_deg: float
    alt_rel_m: float
    time_s: float
    speed_m_s: float | None = None

    def __post_init__(self) -> None:
        _check_position(self)
        _non_negative(self, "time_s")
        _check_speed(self)


@dataclass(frozen=True, slots=True)
class Land:
    """Fly to a position and land there (``NAV_LAND``). ``alt_rel_m`` is normally 0."""

    lat_deg: float
    lon_deg: float
    alt_rel_m: float = 0.0
    yaw_deg: float | None = None

    def __post_init__(self) -> None:
        _check_position(self)
        _check_yaw(self)


@dataclass(frozen=True, slots=True)
class ReturnToLaunch:
    """Return to the launch (home) position and land (``NAV_RETURN_TO_LAUNCH``)."""


@dataclass(frozen=True, slots=True)
class Orbit:
    """Circle a centre (``MAV_CMD_DO_ORBIT`` as a mission item).

    PX4 accepts ``DO_ORBIT`` as a command (``COMMAND_INT``); whether its mission mode executes
    it as a mission item depends on the firmware version. Use
    `missions.patterns.orbit_waypoints` for the form every PX4 flies.

    Parameters
    ----------
    lat_deg, lon_deg, alt_rel_m : float
        Centre and altitude above home.
    radius_m : float
        Radius, > 0 metres.
    clockwise : bool
        Direction (the sign of ``param1``).
    velocity_m_s : float or None
        Tangential speed; None: vehicle default.
    yaw_behaviour : int or None
        ``ORBIT_YAW_BEHAVIOUR`` (0: point to centre); None: vehicle default.
    orbits : float or None
        Number of turns; None: until told otherwise.
    """

    lat_deg: float
    lon_deg: float
    alt_rel_m: float
    radius_m: float
    clockwise: bool = True
    velocity_m_s: float | None = None
    yaw_behaviour: int | None = None
    orbits: float | None = None

    def __post_init__(self) -> None:
        _check_position(self)
        r = _finite(self.radius_m, "Orbit.radius_m")
        if r <= 0.0:
            raise MissionError(f"Orbit.radius_m: must be > 0, got {r}")
        object.__setattr__(self, "radius_m", r)
        object.__setattr__(self, "clockwise", bool(self.clockwise))
        v = _opt_finite(self.velocity_m_s, "Orbit.velocity_m_s")
        if v is not None and v <= 0.0:
            raise MissionError(f"Orbit.velocity_m_s: must be > 0 when given, got {v}")
        object.__setattr__(self, "velocity_m_s", v)
        if self.yaw_behaviour is not None:
            yb = _finite(self.yaw_behaviour, "Orbit.yaw_behaviour")
            if yb != int(yb) or not 0 <= yb <= 255:
                raise MissionError(f"Orbit.yaw_behaviour: must be an integer 0-255, got {self.yaw_behaviour!r}")
            object.__setattr__(self, "yaw_behaviour", int(yb))
        n = _opt_finite(self.orbits, "Orbit.orbits")
        if n is not None and n <= 0.0:
            raise MissionError(f"Orbit.orbits: must be > 0 when given, got {n}")
        object.__setattr__(self, "orbits", n)


@dataclass(frozen=True, slots=True)
class Delay:
    """Hover where the vehicle is for ``delay_s`` seconds (``NAV_DELAY``, MAVSDK's loiter time)."""

    delay_s: float

    def __post_init__(self) -> None:
        _non_negative(self, "delay_s")


@dataclass(frozen=True, slots=True)
class ChangeSpeed:
    """Change the commanded speed (``DO_CHANGE_SPEED``) for the following legs."""

    speed_m_s: float
    ground_speed: bool = True

    def __post_init__(self) -> None:
        v = _finite(self.speed_m_s, "ChangeSpeed.speed_m_s")
        if v <= 0.0:
            raise MissionError(f"ChangeSpeed.speed_m_s: must be > 0, got {v}")
        object.__setattr__(self, "speed_m_s", v)
        object.__setattr__(self, "ground_speed", bool(self.ground_speed))


@dataclass(frozen=True, slots=True)
class SetRoi:
    """Point the vehicle/camera at a location (``DO_SET_ROI_LOCATION``)."""

    lat_deg: float
    lon_deg: float
    alt_rel_m: float = 0.0

    def __post_init__(self) -> None:
        _check_position(self)


@dataclass(frozen=True, slots=True, eq=False)
class RawItem:
    """Any MAVLink mission item kept field for field (commands we do not model).

    Equality treats NaN parameters as equal to NaN (they mean "unset" in MAVLink).
    """

    command: int
    frame: int
    param1: float = 0.0
    param2: float = 0.0
    param3: float = 0.0
    param4: float = 0.0
    x: int = 0
    y: int = 0
    z: float = 0.0
    autocontinue: bool = True

    def __post_init__(self) -> None:
        for attr in ("command", "frame", "x", "y"):
            v = getattr(self, attr)
            if isinstance(v, bool) or not isinstance(v, int):
                if isinstance(v, float) and v.is_integer():
                    object.__setattr__(self, attr, int(v))
                else:
                    raise MissionError(f"RawItem.{attr}: must be an integer, got {v!r}")
        if not 0 <= self.command <= 65535:
            raise MissionError(f"RawItem.command: must be 0-65535, got {self.command}")
        if not 0 <= self.frame <= 255:
            raise MissionError(f"RawItem.frame: must be 0-255, got {self.frame}")
        for attr in ("param1", "param2", "param3", "param4", "z"):
            try:
                v = float(getattr(self, attr))
            except (TypeError, ValueError):
                raise MissionError(f"RawItem.{attr}: must be a number, got {getattr(self, attr)!r}") from None
            if math.isinf(v):
                raise MissionError(f"RawItem.{attr}: must be finite or NaN (unset), got {v}")
            object.__setattr__(self, attr, v)
        for attr in ("x", "y"):
            if not -(2**31) <= getattr(self, attr) < 2**31:
                raise MissionError(f"RawItem.{attr}: must fit in int32, got {getattr(self, attr)}")
        object.__setattr__(self, "autocontinue", bool(self.autocontinue))

    def _key(self) -> tuple[Any, ...]:
        def k(v: float) -> Any:
            return "nan" if math.isnan(v) else v

        return (
            self.command,
            self.frame,
            k(self.param1),
            k(self.param2),
            k(self.param3),
            k(self.param4),
            self.x,
            self.y,
            k(self.z),
            self.autocontinue,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RawItem):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    @property
    def has_position(self) -> bool:
        """True for a global-frame item whose x/y are a position (not ``MAV_FRAME_MISSION``)."""
        return self.frame != Frame.MISSION and (self.x != 0 or self.y != 0)


MissionItem = Union[
    NavWaypoint, Takeoff, LoiterTime, Land, ReturnToLaunch, Orbit, Delay, ChangeSpeed, SetRoi, RawItem
]
#: Item types that fly the vehicle to a position (used for paths, energy and GeoJSON).
POSITIONAL_ITEMS: tuple[type, ...] = (NavWaypoint, Takeoff, LoiterTime, Land, Orbit)
_SPEED_ITEMS = (NavWaypoint, Takeoff, LoiterTime)
_ITEM_TYPES = (NavWaypoint, Takeoff, LoiterTime, Land, ReturnToLaunch, Orbit, Delay, ChangeSpeed, SetRoi, RawItem)


@dataclass(frozen=True, slots=True)
class HomePosition:
    """Planned home (launch) position; ``alt_amsl_m`` is its altitude above mean sea level."""

    lat_deg: float
    lon_deg: float
    alt_amsl_m: float = 0.0

    def __post_init__(self) -> None:
        _check_position(self)
        object.__setattr__(self, "alt_amsl_m", _finite(self.alt_amsl_m, "HomePosition.alt_amsl_m"))


@dataclass(frozen=True, slots=True)
class RallyPoint:
    """A safe landing point (``NAV_RALLY_POINT``), altitude above home."""

    lat_deg: float
    lon_deg: float
    alt_rel_m: float = 0.0

    def __post_init__(self) -> None:
        _check_position(self)


# ----------------------------------------------------------------------------- encoding
def _item(command: int, frame: int, p1: float, p2: float, p3: float, p4: float, x: int, y: int, z: float,
          autocontinue: bool = True) -> MavlinkItem:
    # seq/current are filled in by Mission.to_mission_items
    return MavlinkItem(seq=0, frame=frame, command=command, param1=p1, param2=p2, param3=p3, param4=p4,
                       x=x, y=y, z=z, autocontinue=autocontinue)


def _speed_item(speed_m_s: float, ground: bool = True) -> MavlinkItem:
    return _item(Cmd.DO_CHANGE_SPEED, Frame.MISSION, 1.0 if ground else 0.0, speed_m_s, -1.0, 0.0, 0, 0, NAN)


def _encode(item: MissionItem) -> list[MavlinkItem]:
    out: list[MavlinkItem] = []
    if isinstance(item, NavWaypoint):
        out.append(_item(Cmd.NAV_WAYPOINT, ITEM_FRAME, item.hold_s, item.acceptance_radius_m, 0.0,
                         _nan_if_none(item.yaw_deg), _e7(item.lat_deg), _e7(item.lon_deg), item.alt_rel_m))
    elif isinstance(item, Takeoff):
        out.append(_item(Cmd.NAV_TAKEOFF, ITEM_FRAME, NAN, NAN, NAN, _nan_if_none(item.yaw_deg),
                         _e7(item.lat_deg), _e7(item.lon_deg), item.alt_rel_m))
    elif isinstance(item, LoiterTime):
        out.append(_item(Cmd.NAV_LOITER_TIME, ITEM_FRAME, item.time_s, 0.0, 0.0, NAN,
                         _e7(item.lat_deg), _e7(item.lon_deg), item.alt_rel_m))
    elif isinstance(item, Land):
        out.append(_item(Cmd.NAV_LAND, ITEM_FRAME, NAN, NAN, NAN, _nan_if_none(item.yaw_deg),
                         _e7(item.lat_deg), _e7(item.lon_deg), item.alt_rel_m))
    elif isinstance(item, ReturnToLaunch):
        out.append(_item(Cmd.NAV_RETURN_TO_LAUNCH, Frame.MISSION, NAN, NAN, NAN, NAN, 0, 0, 0.0))
    elif isinstance(item, Orbit):
        radius = item.radius_m if item.clockwise else -item.radius_m
        yb = NAN if item.yaw_behaviour is None else float(item.yaw_behaviour)
        out.append(_item(Cmd.DO_ORBIT, ITEM_FRAME, radius, _nan_if_none(item.velocity_m_s), yb,
                         _nan_if_none(item.orbits), _e7(item.lat_deg), _e7(item.lon_deg), item.alt_rel_m))
    elif isinstance(item, Delay):
        out.append(_item(Cmd.NAV_DELAY, Frame.MISSION, item.delay_s, -1.0, -1.0, -1.0, 0, 0, 0.0))
    elif isinstance(item, ChangeSpeed):
        out.append(_speed_item(item.speed_m_s, item.ground_speed))
    elif isinstance(item, SetRoi):
        out.append(_item(Cmd.DO_SET_ROI_LOCATION, ITEM_FRAME, 0.0, 0.0, 0.0, 0.0,
                         _e7(item.lat_deg), _e7(item.lon_deg), item.alt_rel_m))
    elif isinstance(item, RawItem):
        out.append(_item(item.command, item.frame, item.param1, item.param2, item.param3, item.param4,
                         item.x, item.y, item.z, item.autocontinue))
    else:  # pragma: no cover - Mission validates item types
        raise MissionError(f"cannot encode {type(item).__name__}")
    speed = getattr(item, "speed_m_s", None) if isinstance(item, _SPEED_ITEMS) else None
    if speed is not None:
        out.append(_speed_item(speed))
    return out


def _decode(mi: MavlinkItem) -> MissionItem:
    """One MAVLink item to a typed item (or a RawItem when it matches no typed encoding)."""
    raw = RawItem(mi.command, mi.frame, mi.param1, mi.param2, mi.param3, mi.param4, mi.x, mi.y, mi.z,
                  mi.autocontinue)
    if not mi.autocontinue:
        return raw
    c, f = mi.command, mi.frame
    p1, p2, p3, p4 = (float(mi.param1), float(mi.param2), float(mi.param3), float(mi.param4))
    lat, lon, z = mi.x / 1e7, mi.y / 1e7, float(mi.z)
    positional = f in _RELATIVE_FRAMES and math.isfinite(z) and -90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0
    yaw_ok = math.isnan(p4) or -360.0 <= p4 <= 360.0
    try:
        if c == Cmd.NAV_WAYPOINT and positional and p3 == 0.0 and yaw_ok:
            if math.isfinite(p1) and p1 >= 0.0 and math.isfinite(p2) and p2 >= 0.0:
                return NavWaypoint(lat, lon, z, hold_s=p1, acceptance_radius_m=p2, yaw_deg=_none_if_nan(p4))
        elif c == Cmd.NAV_TAKEOFF and positional and _unused(p1) and _unused(p2) and _unused(p3) and yaw_ok:
            return Takeoff(lat, lon, z, yaw_deg=_none_if_nan(p4))
        elif c == Cmd.NAV_LOITER_TIME and positional and _unused(p2) and _unused(p3) and _unused(p4):
            if math.isfinite(p1) and p1 >= 0.0:
                return LoiterTime(lat, lon, z, time_s=p1)
        elif c == Cmd.NAV_LAND and positional and _unused(p1) and _unused(p2) and _unused(p3) and yaw_ok:
            return Land(lat, lon, z, yaw_deg=_none_if_nan(p4))
        elif (c == Cmd.NAV_RETURN_TO_LAUNCH and all(_unused(p) for p in (p1, p2, p3, p4))
              and mi.x == 0 and mi.y == 0 and _unused(z)):
            return ReturnToLaunch()
        elif c == Cmd.DO_ORBIT and positional and math.isfinite(p1) and p1 != 0.0:
            yb = None if math.isnan(p3) else p3
            return Orbit(lat, lon, z, radius_m=abs(p1), clockwise=p1 > 0.0, velocity_m_s=_none_if_nan(p2),
                         yaw_behaviour=yb, orbits=_none_if_nan(p4))
        elif (c == Cmd.NAV_DELAY and f == Frame.MISSION and p2 == -1.0 and p3 == -1.0 and p4 == -1.0
              and math.isfinite(p1) and p1 >= 0.0):
            return Delay(p1)
        elif (c == Cmd.DO_CHANGE_SPEED and f == Frame.MISSION and p1 in (0.0, 1.0) and math.isfinite(p2)
              and p2 > 0.0 and p3 == -1.0 and p4 == 0.0 and mi.x == 0 and mi.y == 0 and _unused(z)):
            return ChangeSpeed(p2, ground_speed=p1 == 1.0)
        elif c == Cmd.DO_SET_ROI_LOCATION and positional and all(_unused(p) for p in (p1, p2, p3, p4)):
            return SetRoi(lat, lon, z)
    except MissionError:
        # Values outside our typed items' ranges: keep the item as it is.
        return raw
    return raw


def _normalize(items: Sequence[MissionItem]) -> tuple[MissionItem, ...]:
    """Fold a ground-speed ChangeSpeed that directly follows a positional item without a speed
    into that item's ``speed_m_s``: both encode to the same MAVLink items, so a value has one form."""
    out: list[MissionItem] = []
    for item in items:
        if (
            isinstance(item, ChangeSpeed)
            and item.ground_speed
            and out
            and isinstance(out[-1], _SPEED_ITEMS)
            and out[-1].speed_m_s is None
        ):
            out[-1] = replace(out[-1], speed_m_s=item.speed_m_s)
            continue
        out.append(item)
    return tuple(out)


# ----------------------------------------------------------------------------- Mission
@dataclass(frozen=True, slots=True)
class Mission:
    """A flight plan: items, planned home, geofence and rally points.

    Parameters
    ----------
    items : sequence of MissionItem
        The mission, in order. A ground-speed `ChangeSpeed` right after a positional item without
        a speed is folded into that item's ``speed_m_s`` (the same MAVLink items either way).
    home : HomePosition or None
        Planned home position (QGroundControl's ``plannedHomePosition``).
    geofence : Geofence
        Fence uploaded with the mission (``mission_type`` 1); empty by default.
    rally_points : sequence of RallyPoint
        Safe points (``mission_type`` 2).
    cruise_speed_m_s, hover_speed_m_s : float
        QGroundControl's planning speeds for fixed-wing and multicopter vehicles (``.plan``
        ``cruiseSpeed`` / ``hoverSpeed``); not sent to the vehicle.

    Examples
    --------
    >>> m = Mission([NavWaypoint(-6.80, 110.84, 50.0), ChangeSpeed(8.0)])
    >>> m.items[0].speed_m_s
    8.0
    >>> len(m.to_mission_items())
    2
    """

    items: tuple[MissionItem, ...] = ()
    home: HomePosition | None = None
    geofence: Geofence = field(default_factory=Geofence)
    rally_points: tuple[RallyPoint, ...] = ()
    cruise_speed_m_s: float = 15.0
    hover_speed_m_s: float = 5.0

    def __post_init__(self) -> None:
        items = tuple(self.items)
        for i, item in enumerate(items):
            if not isinstance(item, _ITEM_TYPES):
                raise MissionError(f"Mission.items[{i}]: {type(item).__name__} is not a mission item type")
        object.__setattr__(self, "items", _normalize(items))
        if self.home is not None and not isinstance(self.home, HomePosition):
            raise MissionError(f"Mission.home: expected HomePosition or None, got {type(self.home).__name__}")
        if not isinstance(self.geofence, Geofence):
            raise MissionError(f"Mission.geofence: expected Geofence, got {type(self.geofence).__name__}")
        rally = tuple(self.rally_points)
        for i, r in enumerate(rally):
            if not isinstance(r, RallyPoint):
                raise MissionError(f"Mission.rally_points[{i}]: expected RallyPoint, got {type(r).__name__}")
        object.__setattr__(self, "rally_points", rally)
        for attr in ("cruise_speed_m_s", "hover_speed_m_s"):
            v = _finite(getattr(self, attr), f"Mission.{attr}")
            if v <= 0.0:
                raise MissionError(f"Mission.{attr}: must be > 0, got {v}")
            object.__setattr__(self, attr, v)

    # ------------------------------------------------------------------ MAVLink
    def to_mission_items(self) -> list[MavlinkItem]:
        """The mission as MAVLink mission items (``mission_type`` 0), ready for MAVSDK's
        ``mission_raw.upload_mission``.

        Returns
        -------
        list of MavlinkItem
            Sequence numbers from 0; ``current`` on the first item; every item auto-continues
            unless it is a `RawItem` that says otherwise.

        Examples
        --------
        >>> items = Mission([NavWaypoint(-6.8048, 110.8405, 60.0, hold_s=5.0)]).to_mission_items()
        >>> i = items[0]
        >>> (i.seq, i.command, i.frame, i.param1, i.param2, i.x, i.y, i.z, i.current)
        (0, 16, 3, 5.0, 1.0, -68048000, 1108405000, 60.0, True)
        >>> import math; math.isnan(i.param4)      # yaw free
        True
        """
        encoded = [mi for item in self.items for mi in _encode(item)]
        return [replace(mi, seq=k, current=k == 0) for k, mi in enumerate(encoded)]

    @classmethod
    def from_mission_items(
        cls,
        items: Iterable[MavlinkItem],
        *,
        home: HomePosition | None = None,
        fence_items: Iterable[MavlinkItem] = (),
        rally_items: Iterable[MavlinkItem] = (),
    ) -> Mission:
        """Rebuild a mission from MAVLink items (e.g. as downloaded from a vehicle).

        Parameters
        ----------
        items : iterable of MavlinkItem
            Mission items (``mission_type`` 0), in sequence order.
        home : HomePosition, optional
        fence_items, rally_items : iterable of MavlinkItem
            Fence (type 1) and rally (type 2) items, if any.

        Raises
        ------
        MissionError
            If an item has the wrong ``mission_type``.

        Examples
        --------
        >>> from missions.items import MavlinkItem
        >>> m = Mission.from_mission_items([MavlinkItem(seq=0, frame=3, command=16, x=-68048000,
        ...     y=1108405000, z=60.0, param2=1.0, param4=float("nan"))])
        >>> m.items[0]
        NavWaypoint(lat_deg=-6.8048, lon_deg=110.8405, alt_rel_m=60.0, hold_s=0.0, acceptance_radius_m=1.0, speed_m_s=None, yaw_deg=None)
        """
        decoded: list[MissionItem] = []
        for i, mi in enumerate(items):
            if mi.mission_type != MissionType.MISSION:
                raise MissionError(f"mission item {i}: mission_type must be 0 (mission), got {mi.mission_type}")
            decoded.append(_decode(mi))
        rally: list[RallyPoint] = []
        for i, ri in enumerate(rally_items):
            if ri.mission_type != MissionType.RALLY or ri.command != Cmd.NAV_RALLY_POINT:
                raise MissionError(f"rally item {i}: expected command 5100 with mission_type 2")
            rally.append(RallyPoint(ri.x / 1e7, ri.y / 1e7, float(ri.z)))
        return cls(
            items=tuple(decoded),
            home=home,
            geofence=Geofence.from_mission_items(fence_items),
            rally_points=tuple(rally),
        )

    def to_fence_items(self) -> list[MavlinkItem]:
        """The geofence as MAVLink fence items (``mission_type`` 1); see `Geofence.to_mission_items`."""
        return self.geofence.to_mission_items()

    def to_rally_items(self) -> list[MavlinkItem]:
        """Rally points as ``NAV_RALLY_POINT`` (5100) items, frame 3, ``mission_type`` 2.

        Examples
        --------
        >>> Mission(rally_points=(RallyPoint(-6.8, 110.8, 20.0),)).to_rally_items()[0].command
        5100
        """
        return [
            MavlinkItem(seq=k, frame=ITEM_FRAME, command=Cmd.NAV_RALLY_POINT, x=_e7(r.lat_deg), y=_e7(r.lon_deg),
                        z=r.alt_rel_m, current=k == 0, autocontinue=True, mission_type=MissionType.RALLY)
            for k, r in enumerate(self.rally_points)
        ]

    # ------------------------------------------------------------------ QGroundControl / GeoJSON
    def to_qgc_plan(self) -> dict[str, Any]:
        """This mission as a QGroundControl ``.plan`` document (a JSON-ready dict).

        See `missions.qgc.plan_to_dict` for the format. Serialize with `missions.qgc.dumps_plan`
        (or ``json.dumps(..., allow_nan=False)``: NaN parameters are already ``None``).

        Examples
        --------
        >>> plan = Mission([NavWaypoint(-6.8048, 110.8405, 60.0)], home=HomePosition(-6.8048, 110.8405, 30.0)).to_qgc_plan()
        >>> plan["fileType"], plan["version"], plan["mission"]["items"][0]["command"]
        ('Plan', 1, 16)
        """
        from .qgc import plan_to_dict

        return plan_to_dict(self)

    @classmethod
    def from_qgc_plan(cls, plan: Mapping[str, Any]) -> Mission:
        """Read a QGroundControl ``.plan`` document (the parsed JSON dict).

        See `missions.qgc.plan_from_dict`; raises `~missions.errors.PlanFormatError` naming the
        JSON path of what is wrong.

        Examples
        --------
        >>> m = Mission([NavWaypoint(-6.8048, 110.8405, 60.0)], home=HomePosition(-6.8048, 110.8405, 30.0))
        >>> Mission.from_qgc_plan(m.to_qgc_plan()) == m
        True
        """
        from .qgc import plan_from_dict

        return plan_from_dict(plan)

    def to_geojson(self) -> dict[str, Any]:
        """GeoJSON FeatureCollection for display; see `missions.geojson.mission_to_geojson`."""
        from .geojson import mission_to_geojson

        return mission_to_geojson(self)

    # ------------------------------------------------------------------ queries
    def positions(self) -> list[tuple[float, float, float]]:
        """``(lat_deg, lon_deg, alt_rel_m)`` of every item that flies to a position, in order.

        `RawItem` positions are included when their frame is relative to home (3 or 6).

        Examples
        --------
        >>> Mission([Takeoff(-6.8, 110.8, 30.0), ReturnToLaunch()]).positions()
        [(-6.8, 110.8, 30.0)]
        """
        out: list[tuple[float, float, float]] = []
        for item in self.items:
            if isinstance(item, POSITIONAL_ITEMS):
                out.append((item.lat_deg, item.lon_deg, item.alt_rel_m))  # type: ignore[union-attr]
            elif isinstance(item, RawItem) and item.frame in _RELATIVE_FRAMES and item.has_position:
                out.append((item.x / 1e7, item.y / 1e7, item.z))
        return out
