"""HEARTBEAT and telemetry streams, built from the vehicle's state as PX4 sends them.

Each link has its own table of stream intervals (PX4 keeps one per MAVLink instance), changed with
MAV_CMD_SET_MESSAGE_INTERVAL; MAV_CMD_REQUEST_MESSAGE builds one message on demand. Intervals run on
the runtime's wall clock, so a speed-up does not multiply the message rate (and CPU) by K.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from sim.geo import ne_offset_m
from sim.mavlink.codec import mavlink as m
from sim.vehicle import AutoSub, MainMode, MavResult, VehicleState

__all__ = [
    "DEFAULT_RATES_HZ",
    "MAX_RATE_HZ",
    "Streams",
    "heartbeat",
    "build_message",
    "REQUESTABLE",
    "SENSORS_PRESENT",
    "sys_status_health",
    "px4_base_mode",
]

# Default rates on every link (PX4's "normal"/"onboard" profiles send more; these keep MAVSDK fed
# while 50 vehicles fit on one core). MAVSDK raises what it needs with SET_MESSAGE_INTERVAL.
DEFAULT_RATES_HZ: dict[int, float] = {
    m.MAVLINK_MSG_ID_HEARTBEAT: 1.0,
    m.MAVLINK_MSG_ID_SYS_STATUS: 1.0,
    m.MAVLINK_MSG_ID_EXTENDED_SYS_STATE: 1.0,
    m.MAVLINK_MSG_ID_GPS_RAW_INT: 1.0,
    m.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: 5.0,
    m.MAVLINK_MSG_ID_ATTITUDE: 5.0,
    m.MAVLINK_MSG_ID_ALTITUDE: 2.0,
    m.MAVLINK_MSG_ID_VFR_HUD: 2.0,
    m.MAVLINK_MSG_ID_BATTERY_STATUS: 1.0,
    m.MAVLINK_MSG_ID_HOME_POSITION: 0.5,
    m.MAVLINK_MSG_ID_MISSION_CURRENT: 1.0,
}
MAX_RATE_HZ = 50.0
# Streams PX4 also has, off by default here, on when a GCS asks (MAVSDK's set_rate_* calls).
OPTIONAL_STREAMS = frozenset({
    m.MAVLINK_MSG_ID_ATTITUDE_QUATERNION,
    m.MAVLINK_MSG_ID_LOCAL_POSITION_NED,
    m.MAVLINK_MSG_ID_SYSTEM_TIME,
})

# SYS_STATUS sensor bits PX4 reports for a multicopter in SITL.
_S = m
SENSORS_PRESENT = (
    _S.MAV_SYS_STATUS_SENSOR_3D_GYRO
    | _S.MAV_SYS_STATUS_SENSOR_3D_ACCEL
    | _S.MAV_SYS_STATUS_SENSOR_3D_MAG
    | _S.MAV_SYS_STATUS_SENSOR_ABSOLUTE_PRESSURE
    | _S.MAV_SYS_STATUS_SENSOR_GPS
    | _S.MAV_SYS_STATUS_SENSOR_ANGULAR_RATE_CONTROL
    | _S.MAV_SYS_STATUS_SENSOR_ATTITUDE_STABILIZATION
    | _S.MAV_SYS_STATUS_SENSOR_YAW_POSITION
    | _S.MAV_SYS_STATUS_SENSOR_Z_ALTITUDE_CONTROL
    | _S.MAV_SYS_STATUS_SENSOR_XY_POSITION_CONTROL
    | _S.MAV_SYS_STATUS_SENSOR_MOTOR_OUTPUTS
    | _S.MAV_SYS_STATUS_AHRS
    | _S.MAV_SYS_STATUS_SENSOR_BATTERY
    | _S.MAV_SYS_STATUS_PREARM_CHECK
)

# Protocol capabilities PX4 announces in AUTOPILOT_VERSION (MISSION_INT is the one MAVSDK checks).
CAPABILITIES = (
    m.MAV_PROTOCOL_CAPABILITY_MISSION_FLOAT
    | m.MAV_PROTOCOL_CAPABILITY_PARAM_FLOAT
    | m.MAV_PROTOCOL_CAPABILITY_MISSION_INT
    | m.MAV_PROTOCOL_CAPABILITY_COMMAND_INT
    | m.MAV_PROTOCOL_CAPABILITY_PARAM_ENCODE_BYTEWISE
    | m.MAV_PROTOCOL_CAPABILITY_SET_POSITION_TARGET_LOCAL_NED
    | m.MAV_PROTOCOL_CAPABILITY_SET_POSITION_TARGET_GLOBAL_INT
    | m.MAV_PROTOCOL_CAPABILITY_MAVLINK2
    | m.MAV_PROTOCOL_CAPABILITY_MISSION_FENCE
    | m.MAV_PROTOCOL_CAPABILITY_MISSION_RALLY
)
PX4_VERSION = (1 << 24) | (15 << 16) | (0 << 8) | 255  # v1.15.0, FIRMWARE_VERSION_TYPE_OFFICIAL


def _armable(state: VehicleState) -> bool:
    ready = getattr(state, "ready_to_arm", None)  # the model may expose PX4's pre-arm verdict
    if ready is not None:
        return bool(ready)
    return state.position_ok and state.gps_ok


def sys_status_health(state: VehicleState) -> int:
    """SYS_STATUS health bits: GPS healthy only with a converged position; PREARM_CHECK when armable."""
    health = SENSORS_PRESENT & ~(m.MAV_SYS_STATUS_SENSOR_GPS | m.MAV_SYS_STATUS_PREARM_CHECK)
    if state.position_ok and state.gps_ok:
        health |= m.MAV_SYS_STATUS_SENSOR_GPS
    if _armable(state) or state.armed:
        health |= m.MAV_SYS_STATUS_PREARM_CHECK
    return health


def px4_base_mode(state: VehicleState) -> int:
    """base_mode flags as PX4's mavlink module derives them from the navigation state."""
    base = m.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
    if state.armed:
        base |= m.MAV_MODE_FLAG_SAFETY_ARMED
    if state.main_mode in (MainMode.AUTO, MainMode.OFFBOARD):
        base |= (
            m.MAV_MODE_FLAG_AUTO_ENABLED
            | m.MAV_MODE_FLAG_STABILIZE_ENABLED
            | m.MAV_MODE_FLAG_GUIDED_ENABLED
        )
    elif state.main_mode == MainMode.POSCTL:
        base |= (
            m.MAV_MODE_FLAG_MANUAL_INPUT_ENABLED
            | m.MAV_MODE_FLAG_STABILIZE_ENABLED
            | m.MAV_MODE_FLAG_GUIDED_ENABLED
        )
    else:
        base |= m.MAV_MODE_FLAG_MANUAL_INPUT_ENABLED | m.MAV_MODE_FLAG_STABILIZE_ENABLED
    return base


def heartbeat(state: VehicleState) -> m.MAVLink_heartbeat_message:
    """HEARTBEAT as PX4 sends it (quadrotor, autopilot PX4, custom main/sub mode)."""
    status = m.MAV_STATE_ACTIVE if state.armed else m.MAV_STATE_STANDBY
    return m.MAVLink_heartbeat_message(
        m.MAV_TYPE_QUADROTOR, m.MAV_AUTOPILOT_PX4, px4_base_mode(state), state.custom_mode, status, 3
    )


def _wrap_pi(rad: float) -> float:
    return (rad + math.pi) % (2 * math.pi) - math.pi


def _cdeg(heading_deg: float) -> int:
    return int(round(heading_deg * 100)) % 36000


def mission_current(state: VehicleState) -> m.MAVLink_mission_current_message:
    """MISSION_CURRENT with PX4's mission_state (1 none, 2 not started, 3 active, 4 paused, 5 done)."""
    if state.mission_count <= 0:
        return m.MAVLink_mission_current_message(0, 0, m.MISSION_STATE_NO_MISSION, 0)
    in_mission = state.main_mode == MainMode.AUTO and state.sub_mode == AutoSub.MISSION
    if state.mission_finished:
        mstate = m.MISSION_STATE_COMPLETE
    elif in_mission:
        mstate = m.MISSION_STATE_ACTIVE
    elif state.mission_current > 0:
        mstate = m.MISSION_STATE_PAUSED
    else:
        mstate = m.MISSION_STATE_NOT_STARTED
    seq = max(0, state.mission_current)
    return m.MAVLink_mission_current_message(seq, state.mission_count, mstate, 1 if in_mission else 0)


def build_message(msg_id: int, state: VehicleState, *, home_set: bool) -> m.MAVLink_message | None:
    """The message ``msg_id`` built from ``state``, or None when it has nothing to say (no home)."""
    t_ms = (state.time_us // 1000) & 0xFFFFFFFF
    if msg_id == m.MAVLINK_MSG_ID_HEARTBEAT:
        return heartbeat(state)
    if msg_id == m.MAVLINK_MSG_ID_SYS_STATUS:
        remaining = int(round(max(0.0, min(100.0, state.battery_pct))))
        return m.MAVLink_sys_status_message(
            SENSORS_PRESENT, SENSORS_PRESENT, sys_status_health(state), 250,
            int(state.battery_voltage_v * 1000), int(state.battery_current_a * 100), remaining,
            0, 0, 0, 0, 0, 0, 0, 0, 0,
        )
    if msg_id == m.MAVLINK_MSG_ID_EXTENDED_SYS_STATE:
        return m.MAVLink_extended_sys_state_message(m.MAV_VTOL_STATE_UNDEFINED, int(state.landed_state))
    if msg_id == m.MAVLINK_MSG_ID_GPS_RAW_INT:
        fix = m.GPS_FIX_TYPE_3D_FIX if state.gps_ok else m.GPS_FIX_TYPE_NO_FIX
        sats = 12 if state.gps_ok else 0
        ground = math.hypot(state.vn_m_s, state.ve_m_s)
        return m.MAVLink_gps_raw_int_message(
            state.time_us, fix, int(round(state.lat_deg * 1e7)), int(round(state.lon_deg * 1e7)),
            int(round(state.alt_amsl_m * 1000)), 70 if state.gps_ok else 9999,
            100 if state.gps_ok else 9999, int(ground * 100), _cdeg(state.heading_deg), sats,
            int(round(state.alt_amsl_m * 1000)), 500, 800, 200, 0, 0,
        )
    if msg_id == m.MAVLINK_MSG_ID_GLOBAL_POSITION_INT:
        return m.MAVLink_global_position_int_message(
            t_ms, int(round(state.lat_deg * 1e7)), int(round(state.lon_deg * 1e7)),
            int(round(state.alt_amsl_m * 1000)), int(round(state.alt_rel_m * 1000)),
            int(round(state.vn_m_s * 100)), int(round(state.ve_m_s * 100)),
            int(round(state.vd_m_s * 100)), _cdeg(state.heading_deg),
        )
    if msg_id == m.MAVLINK_MSG_ID_ATTITUDE:
        return m.MAVLink_attitude_message(
            t_ms, state.roll_rad, state.pitch_rad, _wrap_pi(math.radians(state.heading_deg)), 0.0, 0.0, 0.0
        )
    if msg_id == m.MAVLINK_MSG_ID_ALTITUDE:
        return m.MAVLink_altitude_message(
            state.time_us, state.alt_amsl_m, state.alt_amsl_m, state.alt_rel_m, state.alt_rel_m,
            float("nan"), float("nan"),
        )
    if msg_id == m.MAVLINK_MSG_ID_VFR_HUD:
        ground = math.hypot(state.vn_m_s, state.ve_m_s)
        throttle = 0 if not state.armed else 50
        return m.MAVLink_vfr_hud_message(
            ground, ground, int(round(state.heading_deg)) % 360, throttle, state.alt_amsl_m, -state.vd_m_s
        )
    if msg_id == m.MAVLINK_MSG_ID_BATTERY_STATUS:
        cells = [int(state.battery_voltage_v * 1000)] + [65535] * 9
        return m.MAVLink_battery_status_message(
            0, m.MAV_BATTERY_FUNCTION_ALL, m.MAV_BATTERY_TYPE_LIPO, 32767, cells,
            int(state.battery_current_a * 100), -1, -1,
            int(round(max(0.0, min(100.0, state.battery_pct)))), 0, 0, [0, 0, 0, 0], 0, 0,
        )
    if msg_id == m.MAVLINK_MSG_ID_HOME_POSITION:
        if not home_set:
            return None
        h = state.home
        return m.MAVLink_home_position_message(
            int(round(h.lat_deg * 1e7)), int(round(h.lon_deg * 1e7)), int(round(h.alt_amsl_m * 1000)),
            0.0, 0.0, 0.0, [1.0, 0.0, 0.0, 0.0], 0.0, 0.0, 0.0, state.time_us,
        )
    if msg_id == m.MAVLINK_MSG_ID_MISSION_CURRENT:
        return mission_current(state)
    if msg_id == m.MAVLINK_MSG_ID_ATTITUDE_QUATERNION:
        return m.MAVLink_attitude_quaternion_message(
            t_ms, *_quaternion(state.roll_rad, state.pitch_rad, math.radians(state.heading_deg)),
            0.0, 0.0, 0.0, [0.0, 0.0, 0.0, 0.0])
    if msg_id == m.MAVLINK_MSG_ID_LOCAL_POSITION_NED:
        # NED from home (the EKF origin is where PX4 first got a fix, i.e. home on the ground); the
        # offboard setpoints in LOCAL_NED use the same origin and conversion.
        h = state.home
        north, east = ne_offset_m(h.lat_deg, h.lon_deg, state.lat_deg, state.lon_deg)
        return m.MAVLink_local_position_ned_message(
            t_ms, north, east, -state.alt_rel_m, state.vn_m_s, state.ve_m_s, state.vd_m_s)
    if msg_id == m.MAVLINK_MSG_ID_SYSTEM_TIME:
        return m.MAVLink_system_time_message(int(time.time() * 1e6), t_ms)
    if msg_id == m.MAVLINK_MSG_ID_AUTOPILOT_VERSION:
        return m.MAVLink_autopilot_version_message(
            CAPABILITIES, PX4_VERSION, PX4_VERSION, 0, 0, [0] * 8, [0] * 8, [0] * 8, 0x26AC, 0x11,
            0x53494D, [0] * 18,
        )
    return None


REQUESTABLE = frozenset(DEFAULT_RATES_HZ) | OPTIONAL_STREAMS | {m.MAVLINK_MSG_ID_AUTOPILOT_VERSION}


def _quaternion(roll: float, pitch: float, yaw: float) -> tuple[float, float, float, float]:
    cr, sr = math.cos(roll / 2), math.sin(roll / 2)
    cp, sp = math.cos(pitch / 2), math.sin(pitch / 2)
    cy, sy = math.cos(yaw / 2), math.sin(yaw / 2)
    return (cr * cp * cy + sr * sp * sy, sr * cp * cy - cr * sp * sy,
            cr * sp * cy + sr * cp * sy, cr * cp * sy - sr * sp * cy)


class Streams:
    """Per-link periodic messages with SET_MESSAGE_INTERVAL semantics.

    Parameters
    ----------
    clock:
        Seconds, monotonic (the runtime passes wall time; tests pass a fake).
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._interval_s: dict[int, float] = {}
        self._due_s: dict[int, float] = {}
        self.reset()

    def reset(self) -> None:
        """Back to the default rates (after a reboot)."""
        now = self._clock()
        self._interval_s = {mid: 1.0 / hz for mid, hz in DEFAULT_RATES_HZ.items()}
        # Spread first sends a little so one tick does not carry every stream at once.
        self._due_s = {mid: now + 0.01 * i for i, mid in enumerate(self._interval_s)}

    def interval_s(self, msg_id: int) -> float | None:
        """Current interval, None when the stream is off."""
        return self._interval_s.get(msg_id)

    def set_interval(self, msg_id: int, interval_us: float) -> MavResult:
        """MAV_CMD_SET_MESSAGE_INTERVAL: -1 off, 0 default, > 0 that interval (capped at 50 Hz)."""
        if msg_id not in REQUESTABLE or msg_id == m.MAVLINK_MSG_ID_AUTOPILOT_VERSION:
            return MavResult.UNSUPPORTED
        if interval_us < 0:
            self._interval_s.pop(msg_id, None)
            self._due_s.pop(msg_id, None)
            return MavResult.ACCEPTED
        if interval_us == 0:
            hz = DEFAULT_RATES_HZ.get(msg_id)
            if hz is None:
                self._interval_s.pop(msg_id, None)
                self._due_s.pop(msg_id, None)
                return MavResult.ACCEPTED
            interval = 1.0 / hz
        else:
            interval = max(interval_us / 1e6, 1.0 / MAX_RATE_HZ)
        self._interval_s[msg_id] = interval
        self._due_s[msg_id] = min(self._due_s.get(msg_id, math.inf), self._clock() + interval)
        return MavResult.ACCEPTED

    def due(self) -> list[int]:
        """Message ids whose time has come (their next time is advanced)."""
        now = self._clock()
        out: list[int] = []
        for mid, at in self._due_s.items():
            if at <= now:
                out.append(mid)
                interval = self._interval_s[mid]
                nxt = at + interval
                # After a stall (loaded machine) do not burst to catch up: resynchronise.
                self._due_s[mid] = nxt if nxt > now else now + interval
        return out

    def next_due_s(self) -> float:
        return min(self._due_s.values(), default=math.inf)

    def restart(self, msg_id: int) -> None:
        """The message was just sent out of turn (e.g. HEARTBEAT on a mode change)."""
        if msg_id in self._interval_s:
            self._due_s[msg_id] = self._clock() + self._interval_s[msg_id]
