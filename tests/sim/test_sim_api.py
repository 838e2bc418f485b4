"""sim's public API: exports pinned; Fleet in-process and as a subprocess (state and faults through
the control port); reboot and reject-next faults; a taken port raises PortInUseError; port
arguments checked (parameters and api_ports of both modes: test_mavlink_udp)."""

from __future__ import annotations

import socket
import time

import pytest

import sim
from sim import Fleet, Home, PortInUseError, free_udp_port
from sim.vehicle import AutoSub, MainMode
from tests.support.sysids import next_sysid_base

HOME = Home(-6.2088, 106.8456, 10.0)


def test_public_api_is_pinned() -> None:
    assert sorted(sim.__all__) == sorted([
        "ControlClient", "ControlError", "Fleet", "FleetError", "Home", "PortInUseError", "Vehicle",
        "VehiclePorts", "VehicleState", "free_udp_port",
    ])
    for name in sim.__all__:
        assert getattr(sim, name) is not None


def test_px4_port_layout() -> None:
    fleet = Fleet([HOME] * 3)
    assert [p.api_remote for p in fleet.ports] == [14540, 14541, 14542]
    assert [p.api_listen for p in fleet.ports] == [14580, 14581, 14582]
    assert [p.gcs_listen for p in fleet.ports] == [18570, 18571, 18572]
    assert {p.gcs_remote for p in fleet.ports} == {14550}
    assert [fleet.system_id(i) for i in range(3)] == [1, 2, 3]
    assert fleet.api_url(1) == "udpin://0.0.0.0:14541"


def _wait(cond, timeout_s: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < end, "condition not met"
        time.sleep(0.05)


def test_in_process_faults_reboot_and_sim_time() -> None:
    with Fleet([HOME], speedup=10, sysid_base=next_sysid_base(), api_ports=[free_udp_port()],
               gcs=False, control_port=free_udp_port()) as fleet:
        _wait(lambda: fleet.state(0).position_ok)
        assert fleet.sim_time_s > 4.0
        fleet.set_gps_lost(0, True)
        st = fleet.state(0)
        assert not st.gps_ok and not st.position_ok
        fleet.set_gps_lost(0, False)
        fleet.set_battery(0, 42.0)
        assert fleet.state(0).battery_pct == pytest.approx(42.0, abs=0.1)
        with pytest.raises(sim.ControlError):
            fleet.set_battery(0, 140.0)
        t_before = fleet.state(0).time_us
        fleet.reboot(0)
        st = fleet.state(0)
        assert st.time_us < t_before and not st.position_ok  # booting again
        info = fleet.info()
        assert info["vehicles"][0]["system_id"] == fleet.system_id(0)
        # The control port serves this in-process fleet too (the CLI's way in).
        client = sim.ControlClient(fleet.control_port)  # type: ignore[arg-type]
        client.call("link_loss", vehicle=0, duration_s=5.0)
        assert not fleet.link_up(0)
        _wait(lambda: fleet.link_up(0))  # 5 simulated seconds = 0.5 s at 10x


def test_subprocess_fleet_state_and_faults() -> None:
    with Fleet([HOME, Home(HOME.lat_deg, HOME.lon_deg + 0.0002, 12.0)], speedup=10, subprocess=True,
               sysid_base=next_sysid_base(2), api_ports=None, base_port=_block(), gcs=False) as fleet:
        assert fleet.state(1).home.alt_amsl_m == 12.0
        _wait(lambda: fleet.state(0).position_ok)
        fleet.set_gps_lost(1, True)
        assert not fleet.state(1).gps_ok and fleet.state(0).gps_ok
        fleet.reject_next_command(0)
        fleet.link_loss(0, 3.0)
        assert not fleet.link_up(0)
        st = fleet.state(0)
        assert st.main_mode in (MainMode.POSCTL, MainMode.AUTO) and st.sub_mode in tuple(AutoSub)
        assert fleet.sim_time_s > 0
    assert not fleet.running


def _block() -> int:
    """A base port whose PX4 layout (P, P+1, P+40, P+41) is free."""
    for _ in range(100):
        base = free_udp_port()
        if base + 41 > 65535:
            continue
        socks = []
        try:
            for port in (base, base + 1, base + 40, base + 41):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free block")


def test_taken_port_raises_port_in_use_and_releases_others() -> None:
    taken = free_udp_port()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", taken))
        free = free_udp_port()
        fleet = Fleet([HOME, HOME], sysid_base=next_sysid_base(2), api_ports=[1, 2],
                      api_listen_ports=[free, taken], gcs=False)
        with pytest.raises(PortInUseError) as err:
            fleet.start()
        assert str(taken) in str(err.value)
    # The first vehicle's port was released when the second failed.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s2:
        s2.bind(("127.0.0.1", free))


def test_port_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="api_ports needs one port per vehicle"):
        Fleet([HOME, HOME], api_ports=[1])
    with pytest.raises(ValueError, match="api_listen_ports needs api_ports"):
        Fleet([HOME], api_listen_ports=[1])
    with pytest.raises(ValueError, match="api_listen_ports needs one port per vehicle"):
        Fleet([HOME], api_ports=[1], api_listen_ports=[1, 2])
