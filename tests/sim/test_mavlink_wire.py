"""What sim says on the wire, pinned to PX4's numbers (bytes in/bytes out, no sockets): HEARTBEAT
base_mode/custom_mode for every mode the controller meets, telemetry message contents against the
true state, COMMAND_ACK result kinds for the commands MAVSDK sends, offboard setpoints and their
loss, rally lists."""

from __future__ import annotations

import math

import pytest

from sim.items import MISSION, RALLY, Item
from sim.mavlink.codec import mavlink as m
from sim.vehicle import AutoSub, MainMode
from tests.sim.mavlink_harness import HOME, SYSID, Harness, ack_of, of_type

NAN = math.nan
# base_mode as PX4's mavlink module derives it (get_mavlink_navigation_mode).
CUSTOM = m.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
ARMED = m.MAV_MODE_FLAG_SAFETY_ARMED
AUTO_FLAGS = m.MAV_MODE_FLAG_AUTO_ENABLED | m.MAV_MODE_FLAG_STABILIZE_ENABLED | m.MAV_MODE_FLAG_GUIDED_ENABLED
POSCTL_FLAGS = (m.MAV_MODE_FLAG_MANUAL_INPUT_ENABLED | m.MAV_MODE_FLAG_STABILIZE_ENABLED
                | m.MAV_MODE_FLAG_GUIDED_ENABLED)


def flying(alt_rel_m: float = 10.0) -> Harness:
    h = Harness()
    h.ready()
    assert ack_of(h.command(m.MAV_CMD_COMPONENT_ARM_DISARM, 1), 400).result == m.MAV_RESULT_ACCEPTED
    assert ack_of(h.command(m.MAV_CMD_NAV_TAKEOFF, NAN, NAN, NAN, NAN, NAN, NAN, HOME.alt_amsl_m + alt_rel_m),
                  22).result == m.MAV_RESULT_ACCEPTED
    h.run(alt_rel_m / 1.5 + 6.0)
    assert h.vehicle.state.sub_mode == AutoSub.LOITER
    return h


def heartbeat_of(msgs: list[m.MAVLink_message]) -> m.MAVLink_message:
    hbs = of_type(msgs, "HEARTBEAT")
    assert hbs, f"no HEARTBEAT at once: {[x.get_type() for x in msgs]}"
    return hbs[-1]


def set_mode(h: Harness, main: int, sub: int = 0) -> list[m.MAVLink_message]:
    return h.command(m.MAV_CMD_DO_SET_MODE, CUSTOM | ARMED, main, sub)


def setpoint_local(h: Harness, *, pos: tuple[float, float, float] | None = None,
                   vel: tuple[float, float, float] | None = None, yaw_rad: float = NAN,
                   frame: int = m.MAV_FRAME_LOCAL_NED) -> None:
    mask = 0b110111000000 if yaw_rad != yaw_rad else 0b100111000000  # ignore accel, yaw rate (and yaw)
    if pos is None:
        mask |= 0b111
    if vel is None:
        mask |= 0b111000
    x, y, z = pos or (0.0, 0.0, 0.0)
    vx, vy, vz = vel or (0.0, 0.0, 0.0)
    assert h.feed(m.MAVLink_set_position_target_local_ned_message(
        0, SYSID, 1, frame, mask, x, y, z, vx, vy, vz, 0, 0, 0, yaw_rad, 0)) == []


def test_heartbeat_base_mode_and_custom_mode_per_px4_mode() -> None:
    h = Harness()
    hb = heartbeat_of(h.run(1.2))
    assert (hb.type, hb.autopilot, hb.system_status) == (m.MAV_TYPE_QUADROTOR, m.MAV_AUTOPILOT_PX4,
                                                         m.MAV_STATE_STANDBY)
    assert (hb.base_mode, hb.custom_mode) == (CUSTOM | POSCTL_FLAGS, 3 << 16)  # POSCTL, disarmed
    h = flying()
    h.vehicle.set_items(MISSION, [Item(seq=0, frame=3, command=16, param2=2.0,
                                       x=int((HOME.lat_deg + 0.0003) * 1e7), y=int(HOME.lon_deg * 1e7),
                                       z=10.0)])
    expected = [  # (request, PX4 main, sub, base_mode)
        ((4, 4), 4, 4, CUSTOM | ARMED | AUTO_FLAGS),      # AUTO.MISSION
        ((4, 3), 4, 3, CUSTOM | ARMED | AUTO_FLAGS),      # AUTO.LOITER (Hold)
        ((4, 8), 4, 8, CUSTOM | ARMED | AUTO_FLAGS),      # AUTO.FOLLOW_TARGET
        ((3, 0), 3, 0, CUSTOM | ARMED | POSCTL_FLAGS),    # POSCTL
        ((4, 5), 4, 5, CUSTOM | ARMED | AUTO_FLAGS),      # AUTO.RTL
        ((4, 2), 4, 2, CUSTOM | ARMED | AUTO_FLAGS),      # AUTO.TAKEOFF
        ((4, 6), 4, 6, CUSTOM | ARMED | AUTO_FLAGS),      # AUTO.LAND
    ]
    for (main, sub), e_main, e_sub, e_base in expected:
        msgs = set_mode(h, main, sub)
        assert ack_of(msgs, m.MAV_CMD_DO_SET_MODE).result == m.MAV_RESULT_ACCEPTED, (main, sub)
        hb = heartbeat_of(msgs)
        assert hb.custom_mode == (e_main << 16) | (e_sub << 24), (main, sub)
        assert hb.base_mode == e_base, (main, sub)
        assert hb.system_status == m.MAV_STATE_ACTIVE
    # OFFBOARD: refused without a setpoint stream, accepted with one (auto flags, as PX4).
    set_mode(h, 4, 3)
    msgs = set_mode(h, 6, 0)
    assert ack_of(msgs, m.MAV_CMD_DO_SET_MODE).result == m.MAV_RESULT_TEMPORARILY_REJECTED
    assert "Offboard" in "".join(x.text for x in of_type(msgs, "STATUSTEXT"))
    setpoint_local(h, vel=(0.0, 0.0, 0.0))
    msgs = set_mode(h, 6, 0)
    assert ack_of(msgs, m.MAV_CMD_DO_SET_MODE).result == m.MAV_RESULT_ACCEPTED
    hb = heartbeat_of(msgs)
    assert (hb.base_mode, hb.custom_mode) == (CUSTOM | ARMED | AUTO_FLAGS, 6 << 16)
    # DO_ORBIT runs in POSCTL with PX4's orbit sub mode 1.
    msgs = h.command(m.MAV_CMD_DO_ORBIT, 20.0, 2.0, NAN, NAN, NAN, NAN, NAN)
    assert ack_of(msgs, m.MAV_CMD_DO_ORBIT).result == m.MAV_RESULT_ACCEPTED
    hb = heartbeat_of(msgs)
    assert (hb.base_mode, hb.custom_mode) == (CUSTOM | ARMED | POSCTL_FLAGS, (3 << 16) | (1 << 24))


def _request(h: Harness, msg_id: int) -> m.MAVLink_message:
    msgs = h.command(m.MAV_CMD_REQUEST_MESSAGE, msg_id)
    assert ack_of(msgs, m.MAV_CMD_REQUEST_MESSAGE).result == m.MAV_RESULT_ACCEPTED
    (out,) = [x for x in msgs if x.get_msgId() == msg_id]
    return out


def test_telemetry_messages_carry_the_true_state() -> None:
    h = flying(12.0)
    lat, lon = HOME.lat_deg + 0.001, HOME.lon_deg + 0.001  # north-east, ~157 m
    cmd = m.MAVLink_command_int_message(SYSID, 1, m.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, m.MAV_CMD_DO_REPOSITION,
                                        0, 0, -1, 1, 0, NAN, int(lat * 1e7), int(lon * 1e7), 40.0)
    assert ack_of(h.feed(cmd), m.MAV_CMD_DO_REPOSITION).result == m.MAV_RESULT_ACCEPTED
    h.vehicle.set_battery_pct(63.0)
    h.run(4.0)  # cruising and climbing toward the point
    st = h.vehicle.state
    assert math.hypot(st.vn_m_s, st.ve_m_s) > 3.0 and st.vd_m_s < -0.2
    gpi = _request(h, m.MAVLINK_MSG_ID_GLOBAL_POSITION_INT)
    assert (gpi.lat, gpi.lon) == (round(st.lat_deg * 1e7), round(st.lon_deg * 1e7))
    assert (gpi.alt, gpi.relative_alt) == (round(st.alt_amsl_m * 1000), round(st.alt_rel_m * 1000))
    assert (gpi.vx, gpi.vy, gpi.vz) == (round(st.vn_m_s * 100), round(st.ve_m_s * 100), round(st.vd_m_s * 100))
    assert gpi.hdg == round(st.heading_deg * 100) % 36000 and 40.0 < st.heading_deg < 50.0  # toward NE
    gps = _request(h, m.MAVLINK_MSG_ID_GPS_RAW_INT)
    assert gps.fix_type == m.GPS_FIX_TYPE_3D_FIX and gps.satellites_visible >= 6
    assert (gps.lat, gps.lon, gps.alt) == (gpi.lat, gpi.lon, gpi.alt)
    assert gps.vel == int(math.hypot(st.vn_m_s, st.ve_m_s) * 100) and gps.cog == gpi.hdg
    att = _request(h, m.MAVLINK_MSG_ID_ATTITUDE)
    assert att.yaw == pytest.approx(math.radians(st.heading_deg), abs=1e-6)
    assert (att.roll, att.pitch) == pytest.approx((st.roll_rad, st.pitch_rad), abs=1e-6)
    alt = _request(h, m.MAVLINK_MSG_ID_ALTITUDE)
    assert alt.altitude_amsl == pytest.approx(st.alt_amsl_m, abs=1e-3)
    assert alt.altitude_relative == pytest.approx(st.alt_rel_m, abs=1e-3)
    hud = _request(h, m.MAVLINK_MSG_ID_VFR_HUD)
    assert hud.groundspeed == pytest.approx(math.hypot(st.vn_m_s, st.ve_m_s), abs=1e-3)
    assert hud.climb == pytest.approx(-st.vd_m_s, abs=1e-3) and hud.heading == round(st.heading_deg) % 360
    assert hud.alt == pytest.approx(st.alt_amsl_m, abs=1e-3)
    bat = _request(h, m.MAVLINK_MSG_ID_BATTERY_STATUS)
    assert bat.battery_remaining == round(st.battery_pct) and 60 <= bat.battery_remaining <= 63
    assert bat.voltages[0] == int(st.battery_voltage_v * 1000) and 13_000 < bat.voltages[0] < 17_000
    assert bat.current_battery == int(st.battery_current_a * 100) and bat.current_battery > 0
    sys_status = _request(h, m.MAVLINK_MSG_ID_SYS_STATUS)
    assert sys_status.battery_remaining == bat.battery_remaining
    assert sys_status.voltage_battery == bat.voltages[0]
    ext = _request(h, m.MAVLINK_MSG_ID_EXTENDED_SYS_STATE)
    assert ext.landed_state == m.MAV_LANDED_STATE_IN_AIR
    home = _request(h, m.MAVLINK_MSG_ID_HOME_POSITION)
    assert (home.latitude, home.longitude) == (round(HOME.lat_deg * 1e7), round(HOME.lon_deg * 1e7))


def test_command_ack_result_kinds_for_the_commands_mavsdk_sends() -> None:
    h = Harness()
    h.run(0.5)
    # Before the estimator converged: temporarily rejected, with PX4's reason text.
    for cmd in (m.MAV_CMD_NAV_RETURN_TO_LAUNCH, m.MAV_CMD_NAV_TAKEOFF):
        msgs = h.command(cmd, *[NAN] * 7)
        assert ack_of(msgs, cmd).result == m.MAV_RESULT_TEMPORARILY_REJECTED
        assert "currently not possible" in "".join(x.text for x in of_type(msgs, "STATUSTEXT"))
    h.ready()
    # Mission start without a mission: denied ("no mission"); unknown command: unsupported.
    msgs = h.command(m.MAV_CMD_MISSION_START, 0, 0)
    assert ack_of(msgs, m.MAV_CMD_MISSION_START).result == m.MAV_RESULT_DENIED
    assert "no mission" in "".join(x.text for x in of_type(msgs, "STATUSTEXT"))
    assert ack_of(h.command(m.MAV_CMD_DO_SET_ROI_NONE), m.MAV_CMD_DO_SET_ROI_NONE).result == m.MAV_RESULT_UNSUPPORTED
    assert ack_of(h.command(m.MAV_CMD_REQUEST_MESSAGE, 12345), m.MAV_CMD_REQUEST_MESSAGE).result \
        == m.MAV_RESULT_UNSUPPORTED
    # Orbit on the ground: temporarily rejected.
    assert ack_of(h.command(m.MAV_CMD_DO_ORBIT, 20, 2, NAN, NAN, NAN, NAN, NAN), m.MAV_CMD_DO_ORBIT).result \
        == m.MAV_RESULT_TEMPORARILY_REJECTED
    # Disarm while flying: temporarily rejected; accepted on the ground.
    h = flying(10.0)
    msgs = h.command(m.MAV_CMD_COMPONENT_ARM_DISARM, 0)
    assert ack_of(msgs, 400).result == m.MAV_RESULT_TEMPORARILY_REJECTED
    # DO_CHANGE_SPEED (MAVSDK set_current_speed): accepted, then reposition flies at that speed.
    assert ack_of(h.command(m.MAV_CMD_DO_CHANGE_SPEED, 1, 8.0, -1), m.MAV_CMD_DO_CHANGE_SPEED).result \
        == m.MAV_RESULT_ACCEPTED
    cmd = m.MAVLink_command_int_message(SYSID, 1, m.MAV_FRAME_GLOBAL, m.MAV_CMD_DO_REPOSITION, 0, 0, -1, 1, 0,
                                        NAN, int((HOME.lat_deg + 0.003) * 1e7), int(HOME.lon_deg * 1e7), NAN)
    assert ack_of(h.feed(cmd), m.MAV_CMD_DO_REPOSITION).result == m.MAV_RESULT_ACCEPTED
    h.run(10.0)
    assert h.vehicle.state.vn_m_s == pytest.approx(8.0, abs=0.2)
    # RTL command: accepted; the HEARTBEAT in AUTO.RTL goes out before the ACK.
    msgs = h.command(m.MAV_CMD_NAV_RETURN_TO_LAUNCH)
    kinds = [x.get_type() for x in msgs]
    assert ack_of(msgs, m.MAV_CMD_NAV_RETURN_TO_LAUNCH).result == m.MAV_RESULT_ACCEPTED
    assert kinds.index("HEARTBEAT") < kinds.index("COMMAND_ACK")
    assert heartbeat_of(msgs).custom_mode == (4 << 16) | (5 << 24)
    # MISSION_START with a mission: accepted, AUTO.MISSION.
    h.vehicle.set_items(MISSION, [Item(seq=0, frame=3, command=16, x=int(HOME.lat_deg * 1e7),
                                       y=int(HOME.lon_deg * 1e7), z=10.0)])
    msgs = h.command(m.MAV_CMD_MISSION_START, 0, 0)
    assert ack_of(msgs, m.MAV_CMD_MISSION_START).result == m.MAV_RESULT_ACCEPTED
    assert heartbeat_of(msgs).custom_mode == (4 << 16) | (4 << 24)
    # DO_SET_MISSION_CURRENT (MAVSDK set_current_mission_item): valid accepted, out of range denied.
    msgs = h.command(m.MAV_CMD_DO_SET_MISSION_CURRENT, 0)
    assert ack_of(msgs, m.MAV_CMD_DO_SET_MISSION_CURRENT).result == m.MAV_RESULT_ACCEPTED
    assert of_type(msgs, "MISSION_CURRENT")[-1].seq == 0
    assert ack_of(h.command(m.MAV_CMD_DO_SET_MISSION_CURRENT, 5), m.MAV_CMD_DO_SET_MISSION_CURRENT).result \
        == m.MAV_RESULT_DENIED
    # Orbit flying: accepted; an absurd radius is denied.
    assert ack_of(h.command(m.MAV_CMD_DO_ORBIT, 5000, 2, NAN, NAN, NAN, NAN, NAN), m.MAV_CMD_DO_ORBIT).result \
        == m.MAV_RESULT_DENIED
    assert ack_of(h.command(m.MAV_CMD_DO_ORBIT, 25, 3, NAN, NAN, NAN, NAN, NAN), m.MAV_CMD_DO_ORBIT).result \
        == m.MAV_RESULT_ACCEPTED
    h.run(40.0)
    st = h.vehicle.state
    assert math.hypot(st.vn_m_s, st.ve_m_s) == pytest.approx(3.0, abs=0.3)


def test_offboard_setpoints_fly_and_their_loss_falls_back_per_com_obl_rc_act() -> None:
    h = flying(10.0)
    setpoint_local(h, pos=(40.0, -30.0, -25.0), yaw_rad=math.radians(270.0))
    assert ack_of(set_mode(h, 6), m.MAV_CMD_DO_SET_MODE).result == m.MAV_RESULT_ACCEPTED
    for _ in range(60):  # keep streaming at 10 Hz of simulated time for 30 s
        setpoint_local(h, pos=(40.0, -30.0, -25.0), yaw_rad=math.radians(270.0))
        h.run(0.5)
    lpn = _request(h, m.MAVLINK_MSG_ID_LOCAL_POSITION_NED)
    assert (lpn.x, lpn.y, lpn.z) == pytest.approx((40.0, -30.0, -25.0), abs=0.3)
    assert h.vehicle.state.heading_deg == pytest.approx(270.0, abs=1.0)
    # Body-frame velocity: forward at 2 m/s while facing west = west at 2 m/s.
    for _ in range(20):
        setpoint_local(h, vel=(2.0, 0.0, 0.0), frame=m.MAV_FRAME_BODY_NED)
        h.run(0.25)
    st = h.vehicle.state
    assert (st.vn_m_s, st.ve_m_s) == pytest.approx((0.0, -2.0), abs=0.15)
    # Global setpoint, relative altitude.
    lat, lon = HOME.lat_deg - 0.0002, HOME.lon_deg + 0.0001
    for _ in range(60):
        h.feed(m.MAVLink_set_position_target_global_int_message(
            0, SYSID, 1, m.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, 0b110111111000, int(lat * 1e7), int(lon * 1e7),
            15.0, 0, 0, 0, 0, 0, 0, 0, 0))
        h.run(0.5)
    st = h.vehicle.state
    assert abs(st.lat_deg - lat) * 111_000 < 0.5 and st.alt_rel_m == pytest.approx(15.0, abs=0.3)
    # The stream stops: after COM_OF_LOSS_T (1 s) PX4 leaves OFFBOARD; COM_OBL_RC_ACT 3 = Return.
    h.vehicle.params.set("COM_OBL_RC_ACT", 3)
    msgs = h.run(1.5)
    assert heartbeat_of(msgs).custom_mode == (4 << 16) | (5 << 24)
    assert any("no offboard signal" in x.text for x in of_type(msgs, "STATUSTEXT"))
    # Default (0, Position mode; no RC in SITL) falls back to Hold.
    h = flying(10.0)
    setpoint_local(h, vel=(1.0, 0.0, 0.0))
    assert ack_of(set_mode(h, 6), m.MAV_CMD_DO_SET_MODE).result == m.MAV_RESULT_ACCEPTED
    msgs = h.run(1.5)
    assert heartbeat_of(msgs).custom_mode == (4 << 16) | (3 << 24)


def test_offboard_lifts_off_from_the_ground_when_asked_to_climb() -> None:
    h = Harness()
    h.ready()
    h.command(m.MAV_CMD_COMPONENT_ARM_DISARM, 1)
    setpoint_local(h, pos=(0.0, 0.0, -5.0))
    assert ack_of(set_mode(h, 6), m.MAV_CMD_DO_SET_MODE).result == m.MAV_RESULT_ACCEPTED
    for _ in range(20):
        setpoint_local(h, pos=(0.0, 0.0, -5.0))
        h.run(0.5)
    assert h.vehicle.state.alt_rel_m == pytest.approx(5.0, abs=0.3) and h.vehicle.state.armed


def test_rally_points_upload_download_clear() -> None:
    h = Harness()
    rally = [Item(seq=i, frame=m.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, command=m.MAV_CMD_NAV_RALLY_POINT,
                  x=int((HOME.lat_deg + 0.001 * (i + 1)) * 1e7), y=int(HOME.lon_deg * 1e7), z=15.0,
                  mission_type=RALLY) for i in range(2)]
    (req,) = h.feed(m.MAVLink_mission_count_message(SYSID, 1, 2, RALLY))
    assert (req.get_type(), req.seq, req.mission_type) == ("MISSION_REQUEST_INT", 0, RALLY)
    (req,) = h.feed(m.MAVLink_mission_item_int_message(SYSID, 1, 0, 6, 5100, 0, 1, 0, 0, 0, 0, rally[0].x,
                                                       rally[0].y, 15.0, RALLY))
    assert req.seq == 1
    (ack,) = h.feed(m.MAVLink_mission_item_int_message(SYSID, 1, 1, 6, 5100, 0, 1, 0, 0, 0, 0, rally[1].x,
                                                       rally[1].y, 15.0, RALLY))
    assert (ack.type, ack.mission_type) == (m.MAV_MISSION_ACCEPTED, RALLY)
    assert [i.x for i in h.vehicle.items(RALLY)] == [r.x for r in rally] and h.vehicle.items(MISSION) == []
    (count,) = h.feed(m.MAVLink_mission_request_list_message(SYSID, 1, RALLY))
    assert (count.count, count.mission_type) == (2, RALLY)
    (item,) = h.feed(m.MAVLink_mission_request_int_message(SYSID, 1, 1, RALLY))
    assert (item.seq, item.command, item.x, item.mission_type) == (1, 5100, rally[1].x, RALLY)
    (ack,) = h.feed(m.MAVLink_mission_clear_all_message(SYSID, 1, RALLY))
    assert (ack.type, ack.mission_type) == (m.MAV_MISSION_ACCEPTED, RALLY)
    assert h.vehicle.items(RALLY) == []


def test_mav_sys_id_parameter_is_the_system_id() -> None:
    from sim.mavlink.server import VehicleServer
    from sim.vehicle import Vehicle

    server = VehicleServer(Vehicle(HOME), system_id=7, send=lambda link, data: None)
    assert server.vehicle.params.get("MAV_SYS_ID") == 7
