"""sim's MAVLink services bytes-in/bytes-out (no sockets): heartbeat, streams, commands, params."""

from __future__ import annotations

import math
import struct

from sim.mavlink.codec import mavlink as m
from sim.mavlink.server import statustext_chunks
from sim.vehicle import AutoSub, MainMode, MavResult

from tests.sim.mavlink_harness import GCS_COMPID, GCS_SYSID, HOME, SYSID, Harness, ack_of, of_type


def test_heartbeat_is_px4_quadrotor_with_custom_mode() -> None:
    h = Harness()
    msgs = h.run(1.5)
    hbs = of_type(msgs, "HEARTBEAT")
    assert hbs, "no heartbeat in 1.5 s"
    hb = hbs[-1]
    assert (hb.type, hb.autopilot) == (m.MAV_TYPE_QUADROTOR, m.MAV_AUTOPILOT_PX4)
    assert hb.base_mode & m.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
    assert not hb.base_mode & m.MAV_MODE_FLAG_SAFETY_ARMED
    assert hb.custom_mode == h.vehicle.state.custom_mode
    assert hb.get_srcSystem() == SYSID and hb.get_srcComponent() == 1
    assert hb.get_header().mlen > 0 and hb.get_msgbuf()[0] == 0xFD  # MAVLink 2 framing


def test_health_bits_false_until_estimator_converges_and_while_gps_lost() -> None:
    h = Harness()
    st = of_type(h.run(1.2), "SYS_STATUS")[-1]
    assert not st.onboard_control_sensors_health & m.MAV_SYS_STATUS_SENSOR_GPS
    assert not st.onboard_control_sensors_health & m.MAV_SYS_STATUS_PREARM_CHECK
    assert st.onboard_control_sensors_present & m.MAV_SYS_STATUS_PREARM_CHECK
    h.ready()
    st = of_type(h.run(1.2), "SYS_STATUS")[-1]
    assert st.onboard_control_sensors_health & m.MAV_SYS_STATUS_SENSOR_GPS
    assert st.onboard_control_sensors_health & m.MAV_SYS_STATUS_PREARM_CHECK
    h.vehicle.set_gps_lost(True)
    msgs = h.run(1.2)
    st = of_type(msgs, "SYS_STATUS")[-1]
    assert not st.onboard_control_sensors_health & m.MAV_SYS_STATUS_SENSOR_GPS
    assert of_type(msgs, "GPS_RAW_INT")[-1].fix_type < m.GPS_FIX_TYPE_2D_FIX


def test_home_position_only_once_position_is_ok() -> None:
    h = Harness()
    h.run(0.5)
    msgs = h.command(m.MAV_CMD_REQUEST_MESSAGE, m.MAVLINK_MSG_ID_HOME_POSITION)
    assert ack_of(msgs, m.MAV_CMD_REQUEST_MESSAGE).result == m.MAV_RESULT_FAILED
    assert not of_type(msgs, "HOME_POSITION")
    h.ready()
    msgs = h.command(m.MAV_CMD_REQUEST_MESSAGE, m.MAVLINK_MSG_ID_HOME_POSITION)
    assert ack_of(msgs, m.MAV_CMD_REQUEST_MESSAGE).result == m.MAV_RESULT_ACCEPTED
    home = of_type(msgs, "HOME_POSITION")[0]
    assert home.latitude == round(HOME.lat_deg * 1e7) and home.longitude == round(HOME.lon_deg * 1e7)
    assert home.altitude == round(HOME.alt_amsl_m * 1000)


def test_autopilot_version_announces_mission_int() -> None:
    h = Harness()
    msgs = h.command(m.MAV_CMD_REQUEST_MESSAGE, m.MAVLINK_MSG_ID_AUTOPILOT_VERSION)
    av = of_type(msgs, "AUTOPILOT_VERSION")[0]
    assert av.capabilities & m.MAV_PROTOCOL_CAPABILITY_MISSION_INT
    assert av.capabilities & m.MAV_PROTOCOL_CAPABILITY_MAVLINK2


def test_set_message_interval_changes_the_rate_per_link() -> None:
    h = Harness()
    base = len(of_type(h.run(2.0), "GLOBAL_POSITION_INT"))
    msgs = h.command(m.MAV_CMD_SET_MESSAGE_INTERVAL, m.MAVLINK_MSG_ID_GLOBAL_POSITION_INT, 50_000)
    assert ack_of(msgs, m.MAV_CMD_SET_MESSAGE_INTERVAL).result == m.MAV_RESULT_ACCEPTED
    fast = len(of_type(h.run(2.0), "GLOBAL_POSITION_INT"))
    assert 36 <= fast <= 42 and fast > 3 * base  # 20 Hz for 2 s
    h.command(m.MAV_CMD_SET_MESSAGE_INTERVAL, m.MAVLINK_MSG_ID_GLOBAL_POSITION_INT, -1)
    assert not of_type(h.run(2.0), "GLOBAL_POSITION_INT")
    h.command(m.MAV_CMD_SET_MESSAGE_INTERVAL, m.MAVLINK_MSG_ID_GLOBAL_POSITION_INT, 0)
    assert abs(len(of_type(h.run(2.0), "GLOBAL_POSITION_INT")) - base) <= 1
    # The GCS link kept its own default rate meanwhile.
    assert h.server.streams["gcs"].interval_s(m.MAVLINK_MSG_ID_GLOBAL_POSITION_INT) == 0.2
    msgs = h.command(m.MAV_CMD_SET_MESSAGE_INTERVAL, 9999, 1000)
    assert ack_of(msgs, m.MAV_CMD_SET_MESSAGE_INTERVAL).result == m.MAV_RESULT_UNSUPPORTED


def test_arming_denied_before_ready_with_statustext_reason() -> None:
    h = Harness()
    h.run(0.5)
    msgs = h.command(m.MAV_CMD_COMPONENT_ARM_DISARM, 1)
    ack = ack_of(msgs, m.MAV_CMD_COMPONENT_ARM_DISARM)
    assert ack.result == m.MAV_RESULT_TEMPORARILY_REJECTED
    assert (ack.target_system, ack.target_component) == (GCS_SYSID, GCS_COMPID)
    chunks = of_type(msgs, "STATUSTEXT")
    assert len({c.id for c in chunks}) == 1  # one text (long ones come in chunks of one id)
    assert "".join(c.text for c in chunks).startswith("Arming denied")
    assert chunks[0].severity == m.MAV_SEVERITY_CRITICAL
    assert not h.vehicle.state.armed


def test_arm_sends_heartbeat_before_the_ack_then_takeoff_and_land() -> None:
    h = Harness()
    h.ready()
    msgs = h.command(m.MAV_CMD_COMPONENT_ARM_DISARM, 1)
    kinds = [x.get_type() for x in msgs]
    assert kinds.index("HEARTBEAT") < kinds.index("COMMAND_ACK")
    assert of_type(msgs, "HEARTBEAT")[0].base_mode & m.MAV_MODE_FLAG_SAFETY_ARMED
    assert ack_of(msgs, m.MAV_CMD_COMPONENT_ARM_DISARM).result == m.MAV_RESULT_ACCEPTED
    nan = math.nan
    msgs = h.command(m.MAV_CMD_NAV_TAKEOFF, nan, nan, nan, nan, nan, nan, nan)
    assert ack_of(msgs, m.MAV_CMD_NAV_TAKEOFF).result == m.MAV_RESULT_ACCEPTED
    hb = of_type(msgs, "HEARTBEAT")[0]
    assert hb.custom_mode == (MainMode.AUTO << 16) | (AutoSub.TAKEOFF << 24)
    got = h.run(15.0)
    assert abs(h.vehicle.state.alt_rel_m - h.vehicle.params.get("MIS_TAKEOFF_ALT")) < 0.3
    assert of_type(got, "EXTENDED_SYS_STATE")[-1].landed_state == m.MAV_LANDED_STATE_IN_AIR
    msgs = h.command(m.MAV_CMD_NAV_LAND)
    assert ack_of(msgs, m.MAV_CMD_NAV_LAND).result == m.MAV_RESULT_ACCEPTED
    got = h.run(20.0)
    assert not h.vehicle.state.armed
    assert not of_type(got, "HEARTBEAT")[-1].base_mode & m.MAV_MODE_FLAG_SAFETY_ARMED


def test_do_set_mode_and_set_mode_message() -> None:
    h = Harness()
    h.ready()
    msgs = h.command(m.MAV_CMD_DO_SET_MODE, 1 | 128, MainMode.AUTO, AutoSub.LOITER)
    assert ack_of(msgs, m.MAV_CMD_DO_SET_MODE).result == m.MAV_RESULT_ACCEPTED
    assert h.vehicle.state.sub_mode == AutoSub.LOITER
    custom = (MainMode.POSCTL << 16)
    msgs = h.feed(m.MAVLink_set_mode_message(SYSID, m.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, custom))
    assert ack_of(msgs, m.MAV_CMD_DO_SET_MODE).result == m.MAV_RESULT_ACCEPTED
    assert h.vehicle.state.main_mode == MainMode.POSCTL
    msgs = h.command(m.MAV_CMD_DO_SET_MODE, 1, 99, 0)
    assert ack_of(msgs, m.MAV_CMD_DO_SET_MODE).result == m.MAV_RESULT_UNSUPPORTED


def test_unknown_and_misaddressed_commands() -> None:
    h = Harness()
    msgs = h.command(m.MAV_CMD_DO_WINCH)
    assert ack_of(msgs, m.MAV_CMD_DO_WINCH).result == m.MAV_RESULT_UNSUPPORTED
    other = m.MAVLink_command_long_message(SYSID + 1, 1, m.MAV_CMD_COMPONENT_ARM_DISARM, 0, 1, 0, 0, 0, 0, 0, 0)
    assert not of_type(h.feed(other), "COMMAND_ACK")


def test_reject_next_command_fault() -> None:
    h = Harness()
    h.ready()
    h.vehicle.reject_next_command()
    msgs = h.command(m.MAV_CMD_COMPONENT_ARM_DISARM, 1)
    assert ack_of(msgs, m.MAV_CMD_COMPONENT_ARM_DISARM).result == MavResult.TEMPORARILY_REJECTED
    msgs = h.command(m.MAV_CMD_COMPONENT_ARM_DISARM, 1)
    assert ack_of(msgs, m.MAV_CMD_COMPONENT_ARM_DISARM).result == MavResult.ACCEPTED


def test_command_int_reposition_uses_amsl_altitude() -> None:
    h = Harness()
    h.ready()
    h.command(m.MAV_CMD_COMPONENT_ARM_DISARM, 1)
    h.command(m.MAV_CMD_NAV_TAKEOFF, *[math.nan] * 7)
    h.run(12.0)
    lat, lon = HOME.lat_deg + 0.0003, HOME.lon_deg
    cmd = m.MAVLink_command_int_message(
        SYSID, 1, m.MAV_FRAME_GLOBAL, m.MAV_CMD_DO_REPOSITION, 0, 0, -1, 1, 0, math.nan,
        int(lat * 1e7), int(lon * 1e7), HOME.alt_amsl_m + 15.0)
    assert ack_of(h.feed(cmd), m.MAV_CMD_DO_REPOSITION).result == m.MAV_RESULT_ACCEPTED
    h.run(30.0)
    st = h.vehicle.state
    assert abs(st.lat_deg - lat) * 111_000 < 1.5
    assert abs(st.alt_rel_m - 15.0) < 0.5


def test_param_read_by_name_and_index_int_bytewise() -> None:
    h = Harness()
    (pv,) = h.feed(m.MAVLink_param_request_read_message(SYSID, 1, b"NAV_DLL_ACT", -1))
    assert pv.param_id == "NAV_DLL_ACT" and pv.param_type == m.MAV_PARAM_TYPE_INT32
    assert struct.unpack("<i", struct.pack("<f", pv.param_value))[0] == 0
    assert pv.param_count == len(h.vehicle.params)
    (by_index,) = h.feed(m.MAVLink_param_request_read_message(SYSID, 1, b"", pv.param_index))
    assert by_index.param_id == "NAV_DLL_ACT"
    assert h.feed(m.MAVLink_param_request_read_message(SYSID, 1, b"NO_SUCH_PARAM", -1)) == []


def test_param_set_int_and_float_and_list() -> None:
    h = Harness()
    wire = struct.unpack("<f", struct.pack("<i", 2))[0]
    (pv,) = h.feed(m.MAVLink_param_set_message(SYSID, 1, b"NAV_DLL_ACT", wire, m.MAV_PARAM_TYPE_INT32))
    assert struct.unpack("<i", struct.pack("<f", pv.param_value))[0] == 2
    assert h.vehicle.params.get("NAV_DLL_ACT") == 2
    (pv,) = h.feed(m.MAVLink_param_set_message(SYSID, 1, b"MPC_XY_CRUISE", 7.5, m.MAV_PARAM_TYPE_REAL32))
    assert pv.param_value == 7.5 and h.vehicle.params.get("MPC_XY_CRUISE") == 7.5
    values = h.feed(m.MAVLink_param_request_list_message(SYSID, 1))
    assert [v.param_id for v in values] == h.vehicle.params.names()
    assert [v.param_index for v in values] == list(range(len(values)))


def test_ping_timesync_and_gcs_heartbeat() -> None:
    h = Harness()
    (pong,) = h.feed(m.MAVLink_ping_message(123, 7, 0, 0))
    assert (pong.time_usec, pong.seq, pong.target_system) == (123, 7, GCS_SYSID)
    (ts,) = h.feed(m.MAVLink_timesync_message(0, 555))
    assert ts.ts1 == 555 and ts.tc1 >= 0
    h.feed(m.MAVLink_heartbeat_message(m.MAV_TYPE_GCS, m.MAV_AUTOPILOT_INVALID, 0, 0, 0, 3))
    assert h.vehicle._gcs_seen  # noqa: SLF001 - the model's DLL timer was fed


def test_long_statustext_is_chunked() -> None:
    text = "x" * 120
    chunks = statustext_chunks(4, text, 9)
    assert len(chunks) == 3 and all(c.id == 9 for c in chunks)
    assert [c.chunk_seq for c in chunks] == [0, 1, 2]
    assert statustext_chunks(4, "short", 3)[0].id == 0


def test_reboot_command_acks_then_boots_again() -> None:
    h = Harness()
    h.ready()
    assert h.vehicle.state.position_ok
    msgs = h.command(m.MAV_CMD_PREFLIGHT_REBOOT_SHUTDOWN, 1)
    assert ack_of(msgs, m.MAV_CMD_PREFLIGHT_REBOOT_SHUTDOWN).result == m.MAV_RESULT_ACCEPTED
    assert not h.vehicle.state.position_ok and h.vehicle.time_us < 1_000_000
    msgs = h.command(m.MAV_CMD_REQUEST_MESSAGE, m.MAVLINK_MSG_ID_HOME_POSITION)
    assert ack_of(msgs, m.MAV_CMD_REQUEST_MESSAGE).result == m.MAV_RESULT_FAILED  # home not set yet
    msgs = h.command(m.MAV_CMD_PREFLIGHT_REBOOT_SHUTDOWN, 2)
    assert ack_of(msgs, m.MAV_CMD_PREFLIGHT_REBOOT_SHUTDOWN).result == m.MAV_RESULT_UNSUPPORTED
