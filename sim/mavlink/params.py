"""The MAVLink parameter protocol (PARAM_REQUEST_READ / _LIST, PARAM_SET -> PARAM_VALUE).

INT32 parameters travel in PX4's bytewise encoding: the four bytes of the int32 are sent as the
bytes of the float ``param_value`` (not converted), which is what MAVSDK expects from PX4.
"""

from __future__ import annotations

import math
import struct

from sim.mavlink.codec import mavlink as m
from sim.params import Params, ParamType

__all__ = ["ParamService", "encode_value", "decode_value"]


def encode_value(value: float, ptype: ParamType) -> float:
    """The float that carries ``value`` on the wire (bytewise for INT32)."""
    if ptype == ParamType.INT32:
        return struct.unpack("<f", struct.pack("<i", int(round(value))))[0]
    return float(value)


def decode_value(wire: float, ptype: int) -> float:
    """Inverse of :func:`encode_value` for an incoming PARAM_SET."""
    if ptype in (m.MAV_PARAM_TYPE_INT32, m.MAV_PARAM_TYPE_UINT32, m.MAV_PARAM_TYPE_INT16,
                 m.MAV_PARAM_TYPE_UINT16, m.MAV_PARAM_TYPE_INT8, m.MAV_PARAM_TYPE_UINT8):
        return float(struct.unpack("<i", struct.pack("<f", wire))[0])
    return float(wire)


def _name(raw: str | bytes) -> str:
    if isinstance(raw, bytes):
        raw = raw.decode("ascii", "replace")
    return raw.split("\x00", 1)[0]


class ParamService:
    """Answers the parameter protocol from a :class:`sim.params.Params` table."""

    def __init__(self, params: Params, system_id: int) -> None:
        self.params = params
        self.system_id = system_id
        #: Names whose PARAM_SET the vehicle refuses (a fault: a parameter another component keeps
        #: forcing back, or a set the autopilot does not accept); answered with the unchanged value.
        self.locked: set[str] = set()

    def value_message(self, name: str) -> m.MAVLink_message:
        spec = self.params.spec(name)
        return m.MAVLink_param_value_message(
            name.encode(), encode_value(self.params.get(name), spec.type), int(spec.type),
            len(self.params), self.params.index(name),
        )

    def handle(self, msg: m.MAVLink_message) -> list[m.MAVLink_message]:
        """Answer one PARAM_* message; unknown names get no answer (as PX4: the GCS times out)."""
        if msg.target_system not in (self.system_id, 0):
            return []
        mid = msg.get_msgId()
        if mid == m.MAVLINK_MSG_ID_PARAM_REQUEST_LIST:
            return [self.value_message(n) for n in self.params.names()]
        if mid == m.MAVLINK_MSG_ID_PARAM_REQUEST_READ:
            if msg.param_index >= 0:
                names = self.params.names()
                if msg.param_index >= len(names):
                    return []
                return [self.value_message(names[msg.param_index])]
            name = _name(msg.param_id)
            try:
                return [self.value_message(name)]
            except KeyError:
                return []
        if mid == m.MAVLINK_MSG_ID_PARAM_SET:
            name = _name(msg.param_id)
            try:
                self.params.spec(name)
            except KeyError:
                return []
            value = decode_value(msg.param_value, msg.param_type)
            if not math.isfinite(value):
                return [self.value_message(name)]
            try:
                if name in self.locked:
                    raise ValueError("locked, not changed")
                self.params.set(name, value)
            except ValueError as exc:
                # Refused: answer the unchanged value so the GCS sees the set did not take.
                text = f"param {name}: {exc}".encode()[:50]
                return [self.value_message(name), m.MAVLink_statustext_message(
                    m.MAV_SEVERITY_WARNING, text, 0, 0)]
            return [self.value_message(name)]
        return []
