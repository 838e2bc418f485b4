"""Raw MAVLink over real UDP sockets (pymavlink framing, no MAVSDK): the mission protocol's
retransmissions and recovery, the GCS link, the link-loss fault dropping both directions, and
``Fleet.param`` / ``set_param`` against what the parameter protocol serves."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable, Iterator

import pytest

from sim import ControlError, Fleet, Home, free_udp_port
from sim.items import MISSION
from sim.mavlink.codec import Codec
from sim.mavlink.codec import mavlink as m
from tests.support.sysids import next_sysid_base

HOME = Home(-6.2088, 106.8456, 10.0)


class RawGcs:
    """A UDP socket speaking MAVLink as system 245 (pymavlink framing)."""

    def __init__(self, listen_port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", listen_port))
        self.codec = Codec(245, 190)
        self.peer: tuple[str, int] | None = None

    def close(self) -> None:
        self.sock.close()

    def send(self, msg: m.MAVLink_message, to: tuple[str, int] | None = None) -> None:
        dest = to or self.peer
        assert dest is not None, "nobody to talk to yet"
        self.sock.sendto(self.codec.encode(msg), dest)

    def recv(self, want: Callable[[m.MAVLink_message], bool], timeout_s: float) -> list[tuple[float, m.MAVLink_message]]:
        """Every wanted message until ``timeout_s`` passes (with its arrival time)."""
        got: list[tuple[float, m.MAVLink_message]] = []
        end = time.monotonic() + timeout_s
        while (left := end - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data, addr = self.sock.recvfrom(65535)
            except TimeoutError:
                break
            self.peer = addr
            for msg in self.codec.decode(data):
                if want(msg):
                    got.append((time.monotonic(), msg))
        return got

    def first(self, want: Callable[[m.MAVLink_message], bool], timeout_s: float = 5.0) -> m.MAVLink_message:
        end = time.monotonic() + timeout_s
        while (left := end - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data, addr = self.sock.recvfrom(65535)
            except TimeoutError:
                break
            self.peer = addr
            for msg in self.codec.decode(data):
                if want(msg):
                    return msg
        raise AssertionError("expected message did not arrive")


@pytest.fixture
def fleet_and_gcs() -> Iterator[tuple[Fleet, RawGcs]]:
    port = free_udp_port()
    gcs = RawGcs(port)
    fleet = Fleet([HOME], speedup=1.0, sysid_base=next_sysid_base(), api_ports=[port], gcs=False).start()
    try:
        gcs.first(lambda x: x.get_type() == "HEARTBEAT")
        yield fleet, gcs
    finally:
        fleet.stop()
        gcs.close()


def _wp(sysid: int, seq: int) -> m.MAVLink_message:
    return m.MAVLink_mission_item_int_message(
        sysid, 1, seq, m.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, m.MAV_CMD_NAV_WAYPOINT, 0, 1, 0, 1, 0, 0,
        int((HOME.lat_deg + 0.0001 * seq) * 1e7), int(HOME.lon_deg * 1e7), 20.0, MISSION)


def test_vehicle_retransmits_requests_then_completes_when_the_gcs_answers_late(fleet_and_gcs) -> None:
    fleet, gcs = fleet_and_gcs
    sysid = fleet.system_id(0)
    gcs.send(m.MAVLink_mission_count_message(sysid, 1, 3, MISSION))
    reqs = gcs.recv(lambda x: x.get_type() == "MISSION_REQUEST_INT", 2.0)
    # PX4 re-requests every 250 ms: about 8 requests for item 0 in 2 s, all the same (the exact
    # timing is pinned with a fake clock in test_mavlink_mission.py; here the loop may stall).
    assert 4 <= len(reqs) <= 9, [t for t, _ in reqs]
    assert {r.seq for _, r in reqs} == {0}
    assert all(r.target_system == 245 and r.target_component == 190 for _, r in reqs)
    for seq in range(3):
        gcs.send(_wp(sysid, seq))
        if seq < 2:
            nxt = gcs.first(lambda x: x.get_type() == "MISSION_REQUEST_INT" and x.seq == seq + 1)
            assert nxt.seq == seq + 1
    ack = gcs.first(lambda x: x.get_type() == "MISSION_ACK")
    assert ack.type == m.MAV_MISSION_ACCEPTED and ack.mission_type == MISSION
    assert fleet.state(0).mission_count == 3
    # The final ACK "got lost": the GCS repeats the last item and gets the ACK again.
    gcs.send(_wp(sysid, 2))
    assert gcs.first(lambda x: x.get_type() == "MISSION_ACK").type == m.MAV_MISSION_ACCEPTED
    # A repeated MISSION_COUNT (GCS retry) restarts at item 0.
    gcs.send(m.MAVLink_mission_count_message(sysid, 1, 2, MISSION))
    gcs.send(m.MAVLink_mission_count_message(sysid, 1, 2, MISSION))
    first = gcs.first(lambda x: x.get_type() == "MISSION_REQUEST_INT")
    assert first.seq == 0
    gcs.send(_wp(sysid, 0))
    gcs.first(lambda x: x.get_type() == "MISSION_REQUEST_INT" and x.seq == 1)
    gcs.send(_wp(sysid, 1))
    assert gcs.first(lambda x: x.get_type() == "MISSION_ACK").type == m.MAV_MISSION_ACCEPTED
    # Download answers every request, in any order.
    gcs.send(m.MAVLink_mission_request_list_message(sysid, 1, MISSION))
    assert gcs.first(lambda x: x.get_type() == "MISSION_COUNT").count == 2
    gcs.send(m.MAVLink_mission_request_int_message(sysid, 1, 1, MISSION))
    item = gcs.first(lambda x: x.get_type() == "MISSION_ITEM_INT")
    assert item.seq == 1 and item.x == int((HOME.lat_deg + 0.0001) * 1e7)


def test_link_loss_fault_drops_both_directions(fleet_and_gcs) -> None:
    fleet, gcs = fleet_and_gcs
    sysid = fleet.system_id(0)
    gcs.send(m.MAVLink_ping_message(1, 1, 0, 0))
    assert gcs.first(lambda x: x.get_type() == "PING").target_system == 245
    fleet.link_loss(0)  # until restored
    time.sleep(0.1)
    gcs.recv(lambda x: True, 0.05)  # drain what was already in flight
    gcs.send(m.MAVLink_param_set_message(sysid, 1, b"MPC_XY_CRUISE", 9.0, m.MAV_PARAM_TYPE_REAL32))
    assert gcs.recv(lambda x: True, 1.5) == []  # nothing out, not even heartbeats
    assert not fleet.link_up(0)
    fleet.restore_link(0)
    assert gcs.first(lambda x: x.get_type() == "HEARTBEAT", 3.0).get_srcSystem() == sysid
    # The PARAM_SET sent during the outage never reached the vehicle.
    gcs.send(m.MAVLink_param_request_read_message(sysid, 1, b"MPC_XY_CRUISE", -1))
    pv = gcs.first(lambda x: x.get_type() == "PARAM_VALUE")
    assert pv.param_value == pytest.approx(5.0)


def test_gcs_link_sends_to_the_gcs_port_and_answers_there() -> None:
    gcs_port = free_udp_port()
    listen = free_udp_port()
    gcs = RawGcs(gcs_port)
    fleet = Fleet([HOME], sysid_base=next_sysid_base(), api_ports=[free_udp_port()], gcs=True,
                  gcs_port=gcs_port, gcs_listen_base=listen).start()
    try:
        hb = gcs.first(lambda x: x.get_type() == "HEARTBEAT")
        assert hb.get_srcSystem() == fleet.system_id(0) and hb.autopilot == m.MAV_AUTOPILOT_PX4
        assert gcs.peer == ("127.0.0.1", listen)
        gcs.send(m.MAVLink_param_request_read_message(fleet.system_id(0), 1, b"RTL_RETURN_ALT", -1))
        assert gcs.first(lambda x: x.get_type() == "PARAM_VALUE").param_value == pytest.approx(30.0)
    finally:
        fleet.stop()
        gcs.close()


def _param_value(gcs: RawGcs, sysid: int, name: bytes) -> m.MAVLink_message:
    """PARAM_REQUEST_READ over the wire, answered by PARAM_VALUE (retried: UDP, a busy machine)."""
    for _ in range(5):
        gcs.send(m.MAVLink_param_request_read_message(sysid, 1, name, -1))
        try:
            return gcs.first(lambda x: x.get_type() == "PARAM_VALUE" and x.param_id == name.decode(), 2.0)
        except AssertionError:
            continue
    raise AssertionError(f"no PARAM_VALUE for {name!r}")


@pytest.mark.parametrize("subprocess", [False, True], ids=["in-process", "subprocess"])
def test_fleet_params_match_the_wire_and_api_ports_are_honoured(subprocess: bool) -> None:
    """Fleet.param / set_param read and change what MAVLink's parameter protocol serves, in both
    modes; a subprocess fleet sends to the api_ports asked for and listens on api_listen_ports."""
    port, listen = free_udp_port(), free_udp_port()
    gcs = RawGcs(port)
    fleet = Fleet([HOME], speedup=2.0, sysid_base=next_sysid_base(), api_ports=[port],
                  api_listen_ports=[listen], gcs=False, subprocess=subprocess)
    with fleet:
        try:
            hb = gcs.first(lambda x: x.get_type() == "HEARTBEAT", 30.0)  # only on the port asked for
            sysid = fleet.system_id(0)
            assert hb.get_srcSystem() == sysid and gcs.peer == ("127.0.0.1", listen)
            assert fleet.info()["vehicles"][0]["api_listen"] == listen
            assert fleet.param(0, "MPC_XY_CRUISE") == pytest.approx(5.0)  # PX4 default
            # Changed on the vehicle's side: MAVLink reads the new value.
            assert fleet.set_param(0, "MPC_XY_CRUISE", 8.5) == pytest.approx(8.5)
            assert _param_value(gcs, sysid, b"MPC_XY_CRUISE").param_value == pytest.approx(8.5)
            # INT32 values are stored rounded and travel in PX4's bytewise encoding.
            assert fleet.set_param(0, "NAV_DLL_ACT", 2.4) == 2.0
            pv = _param_value(gcs, sysid, b"NAV_DLL_ACT")
            assert pv.param_type == m.MAV_PARAM_TYPE_INT32
            assert struct.unpack("<i", struct.pack("<f", pv.param_value))[0] == 2
            # Changed over MAVLink: the fleet reads the new value.
            gcs.send(m.MAVLink_param_set_message(sysid, 1, b"RTL_RETURN_ALT", 42.0, m.MAV_PARAM_TYPE_REAL32))
            gcs.first(lambda x: x.get_type() == "PARAM_VALUE" and x.param_id == "RTL_RETURN_ALT")
            assert fleet.param(0, "RTL_RETURN_ALT") == pytest.approx(42.0)
            # Refusals name the reason and change nothing.
            with pytest.raises(ControlError, match="unknown parameter 'NO_SUCH_PARAM'"):
                fleet.param(0, "NO_SUCH_PARAM")
            with pytest.raises(ControlError, match="above maximum"):
                fleet.set_param(0, "NAV_DLL_ACT", 99)
            with pytest.raises(ControlError, match="no vehicle 1"):
                fleet.param(1, "NAV_DLL_ACT")
            assert fleet.param(0, "NAV_DLL_ACT") == 2.0
        finally:
            gcs.close()
    assert not fleet.running
