"""Offboard setpoints: SET_POSITION_TARGET_LOCAL_NED / _GLOBAL_INT -> the model's offboard setpoint.

What MAVSDK's Offboard plugin sends (``set_velocity_ned``, ``set_velocity_body``,
``set_position_ned``, ``set_position_global``, ``set_position_velocity_ned``), decoded the way PX4's
mavlink receiver reads it: the type mask says which fields count; a position wins over a velocity
(PX4 then uses the velocity as feed-forward only). The local NED origin is home, the same origin
the LOCAL_POSITION_NED stream uses (:func:`local_ned_m`), so a position read back there and sent
again as a setpoint is the same point.
"""

from __future__ import annotations

import math

from sim.geo import ne_offset_m, offset_deg
from sim.mavlink.codec import mavlink as m
from sim.vehicle import VehicleState

__all__ = ["setpoint_from_message", "local_ned_m", "Setpoint"]

Setpoint = tuple[str, float, float, float, float | None]  # kind, a, b, c, yaw_deg

_POS_IGNORE = (m.POSITION_TARGET_TYPEMASK_X_IGNORE | m.POSITION_TARGET_TYPEMASK_Y_IGNORE
               | m.POSITION_TARGET_TYPEMASK_Z_IGNORE)
_VEL_IGNORE = (m.POSITION_TARGET_TYPEMASK_VX_IGNORE | m.POSITION_TARGET_TYPEMASK_VY_IGNORE
               | m.POSITION_TARGET_TYPEMASK_VZ_IGNORE)
_BODY_FRAMES = frozenset({m.MAV_FRAME_BODY_NED, m.MAV_FRAME_BODY_OFFSET_NED, m.MAV_FRAME_BODY_FRD})
_LOCAL_FRAMES = frozenset({m.MAV_FRAME_LOCAL_NED, m.MAV_FRAME_LOCAL_OFFSET_NED}) | _BODY_FRAMES
_AMSL_FRAMES = frozenset({m.MAV_FRAME_GLOBAL, m.MAV_FRAME_GLOBAL_INT})
_REL_FRAMES = frozenset({m.MAV_FRAME_GLOBAL_RELATIVE_ALT, m.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT,
                         m.MAV_FRAME_GLOBAL_TERRAIN_ALT, m.MAV_FRAME_GLOBAL_TERRAIN_ALT_INT})


def local_ned_m(state: VehicleState) -> tuple[float, float, float]:
    """The vehicle's local NED position (m) relative to home."""
    h = state.home
    north, east = ne_offset_m(h.lat_deg, h.lon_deg, state.lat_deg, state.lon_deg)
    return north, east, -state.alt_rel_m


def _yaw_deg(msg: m.MAVLink_message) -> float | None:
    if msg.type_mask & m.POSITION_TARGET_TYPEMASK_YAW_IGNORE or not math.isfinite(msg.yaw):
        return None
    return math.degrees(msg.yaw) % 360.0


def _rotate(heading_deg: float, fwd: float, right: float) -> tuple[float, float]:
    h = math.radians(heading_deg)
    return fwd * math.cos(h) - right * math.sin(h), fwd * math.sin(h) + right * math.cos(h)


def setpoint_from_message(msg: m.MAVLink_message, state: VehicleState) -> Setpoint | None:
    """The offboard setpoint a SET_POSITION_TARGET_* message carries, or None if it carries none
    the simulator flies (unknown frame, only accelerations, non-finite values)."""
    mask = msg.type_mask
    yaw = _yaw_deg(msg)
    if msg.get_msgId() == m.MAVLINK_MSG_ID_SET_POSITION_TARGET_GLOBAL_INT:
        if not mask & _POS_IGNORE:
            if msg.coordinate_frame in _AMSL_FRAMES:
                alt = msg.alt
            elif msg.coordinate_frame in _REL_FRAMES:
                alt = state.home.alt_amsl_m + msg.alt
            else:
                return None
            return "pos", msg.lat_int / 1e7, msg.lon_int / 1e7, alt, yaw
        if not mask & _VEL_IGNORE:
            return "vel", msg.vx, msg.vy, msg.vz, yaw
        return None
    frame = msg.coordinate_frame
    if frame not in _LOCAL_FRAMES:
        return None
    if not mask & _POS_IGNORE:
        x, y, z = msg.x, msg.y, msg.z
        if frame == m.MAV_FRAME_LOCAL_NED:
            h = state.home
            lat, lon = offset_deg(h.lat_deg, h.lon_deg, x, y)
            return "pos", lat, lon, h.alt_amsl_m - z, yaw
        if frame in _BODY_FRAMES:
            x, y = _rotate(state.heading_deg, x, y)
        lat, lon = offset_deg(state.lat_deg, state.lon_deg, x, y)  # offsets from where it is now
        return "pos", lat, lon, state.alt_amsl_m - z, yaw
    if not mask & _VEL_IGNORE:
        vn, ve = msg.vx, msg.vy
        if frame in _BODY_FRAMES:
            vn, ve = _rotate(state.heading_deg, vn, ve)
        return "vel", vn, ve, msg.vz, yaw
    return None
