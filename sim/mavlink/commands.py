"""COMMAND_LONG / COMMAND_INT -> Vehicle calls -> COMMAND_ACK, and the SET_MODE message.

Commands that concern the link rather than the vehicle (SET_MESSAGE_INTERVAL, REQUEST_MESSAGE)
are answered by :class:`sim.mavlink.server.VehicleServer`, which owns the per-link streams; this
module maps everything that the vehicle model decides.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sim.mavlink.codec import mavlink as m
from sim.vehicle import AutoSub, CommandOutcome, MainMode, MavResult, Vehicle

__all__ = ["Command", "from_message", "execute", "execute_set_mode", "FORCE_MAGIC", "GLOBAL_FRAMES_REL"]

FORCE_MAGIC = 21196  # COMPONENT_ARM_DISARM param2 that forces arm/disarm (as PX4 and MAVSDK use)
_INT32_MAX = 2**31 - 1
GLOBAL_FRAMES_REL = (m.MAV_FRAME_GLOBAL_RELATIVE_ALT, m.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT)


@dataclass(frozen=True, slots=True)
class Command:
    """A COMMAND_LONG or COMMAND_INT, normalised. For COMMAND_INT, ``lat_deg``/``lon_deg`` come
    from x/y (1e7); for COMMAND_LONG from param5/param6."""

    command: int
    param1: float
    param2: float
    param3: float
    param4: float
    lat_deg: float | None
    lon_deg: float | None
    param7: float
    frame: int
    is_int: bool
    source_system: int
    source_component: int


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None


def from_message(msg: m.MAVLink_message) -> Command:
    """Build a :class:`Command` from COMMAND_LONG or COMMAND_INT."""
    if msg.get_msgId() == m.MAVLINK_MSG_ID_COMMAND_INT:
        lat = None if msg.x in (0, _INT32_MAX) else msg.x / 1e7
        lon = None if msg.y in (0, _INT32_MAX) else msg.y / 1e7
        return Command(
            msg.command, msg.param1, msg.param2, msg.param3, msg.param4, lat, lon, msg.z, msg.frame,
            True, msg.get_srcSystem(), msg.get_srcComponent(),
        )
    return Command(
        msg.command, msg.param1, msg.param2, msg.param3, msg.param4, _finite(msg.param5),
        _finite(msg.param6), msg.param7, m.MAV_FRAME_GLOBAL, False, msg.get_srcSystem(),
        msg.get_srcComponent(),
    )


def _alt_amsl(vehicle: Vehicle, cmd: Command) -> float | None:
    alt = _finite(cmd.param7)
    if alt is None:
        return None
    if cmd.frame in GLOBAL_FRAMES_REL:
        return alt + vehicle.state.home.alt_amsl_m
    return alt


def _mode(main: int, sub: int) -> tuple[MainMode, AutoSub] | None:
    try:
        main_mode = MainMode(int(main))
        sub_mode = AutoSub(int(sub)) if main_mode == MainMode.AUTO else AutoSub.NONE
    except ValueError:
        return None
    if main_mode == MainMode.AUTO and sub_mode == AutoSub.NONE:
        sub_mode = AutoSub.LOITER
    return main_mode, sub_mode


def execute_set_mode(vehicle: Vehicle, base_mode: int, custom_mode: int) -> CommandOutcome:
    """SET_MODE message / DO_SET_MODE with a PX4 ``custom_mode`` (main << 16 | sub << 24)."""
    if not base_mode & m.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED:
        return CommandOutcome(MavResult.UNSUPPORTED, "Only PX4 custom modes are supported")
    mode = _mode((custom_mode >> 16) & 0xFF, (custom_mode >> 24) & 0xFF)
    if mode is None:
        return CommandOutcome(MavResult.UNSUPPORTED, "Unknown flight mode")
    return vehicle.set_mode(*mode)


def execute(vehicle: Vehicle, cmd: Command) -> CommandOutcome:
    """Carry out a vehicle command; UNSUPPORTED for anything the model does not know."""
    c = cmd.command
    if c == m.MAV_CMD_COMPONENT_ARM_DISARM:
        force = int(round(cmd.param2)) == FORCE_MAGIC if math.isfinite(cmd.param2) else False
        if cmd.param1 >= 0.5:
            return vehicle.arm(force=force)
        return vehicle.disarm(force=force)
    if c == m.MAV_CMD_NAV_TAKEOFF:
        alt = _alt_amsl(vehicle, cmd)
        rel = None if alt is None else alt - vehicle.state.home.alt_amsl_m
        return vehicle.takeoff(rel)
    if c == m.MAV_CMD_NAV_LAND:
        return vehicle.land()
    if c == m.MAV_CMD_NAV_RETURN_TO_LAUNCH:
        return vehicle.return_to_launch()
    if c == m.MAV_CMD_DO_SET_MODE:
        mode = _mode(cmd.param2, cmd.param3) if math.isfinite(cmd.param2) else None
        base = int(cmd.param1) if math.isfinite(cmd.param1) else 0
        if mode is None or not base & m.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED:
            return CommandOutcome(MavResult.UNSUPPORTED, "Unknown flight mode")
        return vehicle.set_mode(*mode)
    if c == m.MAV_CMD_MISSION_START:
        first = _finite(cmd.param1)
        return vehicle.start_mission(None if first is None or first <= 0 else int(first))
    if c == m.MAV_CMD_DO_REPOSITION:
        yaw = _finite(cmd.param4)
        lat, lon = cmd.lat_deg, cmd.lon_deg
        st = vehicle.state
        return vehicle.reposition(
            st.lat_deg if lat is None else lat,
            st.lon_deg if lon is None else lon,
            _alt_amsl(vehicle, cmd),
            None if yaw is None else math.degrees(yaw) % 360.0,
        )
    if c == m.MAV_CMD_DO_CHANGE_SPEED:
        speed = _finite(cmd.param2)
        if speed is None or speed <= 0:
            return CommandOutcome(MavResult.ACCEPTED)  # -1: "no change", as PX4 treats it
        return vehicle.change_speed(speed)
    if c == m.MAV_CMD_DO_ORBIT:
        radius = _finite(cmd.param1)
        velocity = _finite(cmd.param2)
        return vehicle.orbit(
            radius if radius is not None else 10.0,
            velocity if velocity is not None else 1.0,
            cmd.lat_deg, cmd.lon_deg, _alt_amsl(vehicle, cmd),
        )
    if c == m.MAV_CMD_DO_SET_MISSION_CURRENT:
        seq = _finite(cmd.param1)
        if seq is None or seq < 0:
            return CommandOutcome(MavResult.DENIED, "Invalid mission item")
        result = vehicle.set_current_item(int(seq))
        return CommandOutcome(result, "" if result == MavResult.ACCEPTED else "Invalid mission item")
    if c == m.MAV_CMD_DO_PAUSE_CONTINUE:
        if cmd.param1 < 0.5:
            return vehicle.set_mode(MainMode.AUTO, AutoSub.LOITER)
        return vehicle.set_mode(MainMode.AUTO, AutoSub.MISSION)
    return CommandOutcome(MavResult.UNSUPPORTED)
