"""PX4 behaviours a controller has to cope with, reproduced by ``sim`` so that tests can catch a
controller that forgets them:

* an upload identical to the stored mission keeps its progress (a finished mission stays finished),
  only a changed list or MISSION_CLEAR_ALL starts it again at item 0;
* a rebooting PX4 is silent for a few wall seconds before its first HEARTBEAT (MAVSDK sees the link
  lost), and its model does not advance meanwhile.
"""

from __future__ import annotations

import math
import socket
import time

from sim import Fleet, Home, free_udp_port
from sim.geo import offset_deg
from sim.items import MISSION, Item
from sim.mavlink.codec import Codec
from sim.mavlink.codec import mavlink as m
from sim.runtime import REBOOT_SILENCE_S
from sim.steps import run_until, wait_until_ready
from sim.vehicle import MavResult, Vehicle
from tests.support.sysids import next_sysid_base

HOME = Home(-6.8048, 110.8405, 50.0)
NAN = float("nan")


def wp(seq: int, north_m: float, east_m: float, alt: float = 10.0) -> Item:
    lat, lon = offset_deg(HOME.lat_deg, HOME.lon_deg, north_m, east_m)
    # param4 NaN as MAVSDK sends it: NaN must compare equal to NaN for "identical".
    return Item(seq, 6, 16, 0.0, 1.0, 0.0, NAN, round(lat * 1e7), round(lon * 1e7), alt)


def finished_vehicle(items: list[Item]) -> Vehicle:
    v = Vehicle(HOME)
    wait_until_ready(v)
    assert v.set_items(MISSION, items) == MavResult.ACCEPTED
    assert v.arm().ok and v.start_mission().ok
    run_until(v, lambda x: x.state.mission_finished, 300)
    return v


def test_identical_reupload_keeps_a_finished_mission_finished() -> None:
    items = [wp(0, 0, 0), wp(1, 40, 0), wp(2, 40, 40)]
    v = finished_vehicle(items)
    last = v.state.mission_current
    assert last == len(items) - 1
    v.drain_events()
    # The same list again (fresh objects, NaN yaw): progress kept, as PX4 does.
    assert v.set_items(MISSION, [wp(0, 0, 0), wp(1, 40, 0), wp(2, 40, 40)]) == MavResult.ACCEPTED
    st = v.state
    assert st.mission_finished and st.mission_current == last
    # ... and it is announced again (MISSION_CURRENT goes out), unchanged.
    assert any(getattr(e, "seq", None) == last for e in v.drain_events())


def test_changed_or_cleared_mission_starts_at_item_0() -> None:
    items = [wp(0, 0, 0), wp(1, 40, 0), wp(2, 40, 40)]
    v = finished_vehicle(items)
    changed = [wp(0, 0, 0), wp(1, 40, 0), wp(2, 40, 41)]  # one waypoint 1 m further east
    assert v.set_items(MISSION, changed) == MavResult.ACCEPTED
    assert v.state.mission_current == 0 and not v.state.mission_finished

    v = finished_vehicle(items)
    v.clear_items(MISSION)  # MISSION_CLEAR_ALL, as a careful GCS sends before uploading
    assert v.set_items(MISSION, items) == MavResult.ACCEPTED
    assert v.state.mission_current == 0 and not v.state.mission_finished


def test_identical_reupload_mid_mission_keeps_the_current_item() -> None:
    items = [wp(0, 0, 0), wp(1, 200, 0), wp(2, 200, 200)]
    v = Vehicle(HOME)
    wait_until_ready(v)
    v.set_items(MISSION, items)
    v.arm()
    v.start_mission()
    run_until(v, lambda x: x.state.mission_current == 2, 200)
    v.set_items(MISSION, list(items))
    assert v.state.mission_current == 2 and not v.state.mission_finished


def _heartbeat_times(sock: socket.socket, codec: Codec, until: float, *, first: bool = False) -> list[float]:
    times: list[float] = []
    while time.monotonic() < until:
        sock.settimeout(max(0.01, until - time.monotonic()))
        try:
            data = sock.recv(65535)
        except TimeoutError:
            break
        for msg in codec.decode(data):
            if msg.get_msgId() == m.MAVLINK_MSG_ID_HEARTBEAT:
                times.append(time.monotonic())
                if first:
                    return times
    return times


def test_reboot_is_silent_for_a_few_wall_seconds_then_boots() -> None:
    speedup = 10.0
    port = free_udp_port()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", port))
        codec = Codec(245, 190)
        with Fleet([HOME], speedup=speedup, sysid_base=next_sysid_base(), api_ports=[port],
                   gcs=False) as fleet:
            before = _heartbeat_times(sock, codec, time.monotonic() + 1.5)
            assert len(before) >= 1  # 1 Hz heartbeats while up
            t_rebooted = time.monotonic()
            fleet.reboot(0)
            sim_t0 = fleet.sim_time_s
            after = _heartbeat_times(sock, codec, time.monotonic() + REBOOT_SILENCE_S + 3.0, first=True)
            assert after, "the vehicle never came back after the reboot"
            silence = after[0] - t_rebooted
            # Longer than MAVSDK's 3 s heartbeat timeout, however fast the simulation runs.
            assert silence >= REBOOT_SILENCE_S - 0.3, silence
            assert silence < REBOOT_SILENCE_S + 2.5, silence
            # The model did not run while booting: it came back at the start of its boot,
            # estimator not converged, although ~40 simulated seconds went by for the fleet.
            st = fleet.state(0)
            assert fleet.sim_time_s - sim_t0 > 3.0 * speedup
            assert not st.position_ok and st.time_us < 1_000_000 * speedup
            assert math.isfinite(st.lat_deg)


def test_locked_parameter_set_is_answered_with_the_unchanged_value() -> None:
    from sim.mavlink.params import ParamService, encode_value
    from sim.params import Params, ParamType

    svc = ParamService(Params.px4_defaults(), system_id=1)
    svc.locked.add("NAV_DLL_ACT")
    gcs = Codec(245, 190)
    sent = gcs.encode(m.MAVLink_param_set_message(1, 1, b"NAV_DLL_ACT", encode_value(2, ParamType.INT32),
                                                         m.MAV_PARAM_TYPE_INT32))
    [msg] = gcs.decode(sent)
    out = svc.handle(msg)
    assert out[0].get_type() == "PARAM_VALUE" and svc.params.get("NAV_DLL_ACT") == 0.0
    assert any(o.get_type() == "STATUSTEXT" for o in out)
    svc.locked.discard("NAV_DLL_ACT")
    svc.handle(msg)
    assert svc.params.get("NAV_DLL_ACT") == 2.0
