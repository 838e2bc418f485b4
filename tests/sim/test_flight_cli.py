"""``python -m sim`` as a user runs it: MAVSDK flies three vehicles on PX4's port layout with no
sim-specific code; faults and state through the CLI; clean Ctrl-C; a one-line error for a taken port."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mavsdk.plugins.follow_me import Config as FollowConfig
from mavsdk.plugins.follow_me import TargetLocation as FollowTarget
from mavsdk.plugins.geofence import FenceType, GeofenceData, Point, Polygon
from mavsdk.plugins.mission import MissionItem, MissionPlan
from mavsdk.plugins.telemetry import FlightMode

from sim import ControlClient, free_udp_port
from tests.support.flight import Flight, connect, distance_m
from tests.support.sysids import next_sysid_base

ROOT = Path(__file__).resolve().parents[2]


def _free_base_port(n: int) -> int:
    """A base port P with P..P+n-1 and P+40..P+40+n-1 free on 127.0.0.1 (PX4's layout)."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 60000)
        socks = []
        try:
            for port in [base + i for i in range(n)] + [base + 40 + i for i in range(n)]:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port block")


def _sim(*args: str) -> list[str]:
    return [sys.executable, "-m", "sim", *args]


class CliFleet:
    """What tests.support.flight.connect needs, known from the CLI's arguments alone."""

    def __init__(self, n: int, base_port: int, sysid_base: int, control_port: int) -> None:
        self.n, self.base_port, self.sysid_base = n, base_port, sysid_base
        self.client = ControlClient(control_port)

    def __len__(self) -> int:
        return self.n

    def api_url(self, i: int) -> str:
        return f"udpin://0.0.0.0:{self.base_port + i}"  # exactly PX4 SITL instance i's

    def system_id(self, i: int) -> int:
        return self.sysid_base + i

    @property
    def sim_time_s(self) -> float:
        return float(self.client.call("info")["sim_time_s"])


def _wait_line(proc: subprocess.Popen[str], needle: str, timeout_s: float = 30.0) -> list[str]:
    lines: list[str] = []
    end = time.monotonic() + timeout_s
    assert proc.stdout is not None
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if needle in line:
            return lines
    raise AssertionError(f"{needle!r} not printed; got {lines}")


@pytest.fixture
def cli_fleet(big_executor: None) -> Iterator[tuple[CliFleet, subprocess.Popen[str]]]:
    n = 3
    base = _free_base_port(n)
    sysid = next_sysid_base(n)
    control = free_udp_port()
    proc = subprocess.Popen(
        _sim("--vehicles", str(n), "--base-port", str(base), "--speedup", "5", "--no-gcs",
             "--sysid-base", str(sysid), "--control-port", str(control)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
        env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        _wait_line(proc, "Ctrl-C stops")
        yield CliFleet(n, base, sysid, control), proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


@pytest.mark.flight
async def test_python_m_sim_three_vehicles_flown_by_plain_mavsdk(cli_fleet) -> None:
    """Issue 2's "done when": the CLI fleet flown by MAVSDK's usual calls, as PX4 SITL 0-2 would be:
    vehicle 0 a mission (upload, download, start, progress) then RTL home; vehicle 1 takeoff, goto,
    then a CLI battery fault -> RTL; vehicle 2 a geofence, then follow-me until the target leads it
    out of the fence -> Hold (GF_ACTION default)."""
    fleet, proc = cli_fleet
    async with connect(fleet, speedup=5) as flights:
        assert [f.system_id for f in flights] == [fleet.system_id(i) for i in range(3)]
        await asyncio.gather(*(f.wait_until_ready() for f in flights))
        await asyncio.gather(_mission_then_rtl(flights[0]), _goto_then_cli_battery_fault(flights[1], fleet),
                             _geofence_and_follow_me(flights[2], fleet))


async def _mission_then_rtl(f: Flight) -> None:
    home = await f.tel.home()
    lat0, lon0 = home.latitude_deg, home.longitude_deg
    plan = MissionPlan([MissionItem(latitude_deg=lat0 + dn, longitude_deg=lon0 + de, relative_altitude_m=8.0,
                                    speed_m_s=6.0, is_fly_through=True, acceptance_radius_m=2.0)
                        for dn, de in ((0.0002, 0.0), (0.0002, -0.0002), (0.0, -0.0002))])
    await f.mission.set_return_to_launch_after_mission(True)
    await f.action.set_return_to_launch_altitude(12.0)
    await f.mission.upload_mission(plan)
    assert len((await f.mission.download_mission()).mission_items) == 3
    seen = [current for current, _ in await f.fly_mission(180, settle_s=0.0)]
    await f.wait_until_landed(180)
    assert seen == sorted(seen) and {1, 2, 3} <= set(seen), seen
    p = await f.tel.position()
    assert distance_m(p.latitude_deg, p.longitude_deg, lat0, lon0) < 2.0


async def _goto_then_cli_battery_fault(f: Flight, fleet: CliFleet) -> None:
    home = await f.tel.home()
    await f.arm_and_takeoff()
    lat, lon = home.latitude_deg + 0.0003, home.longitude_deg + 0.0002
    await f.action.goto_location(lat, lon, home.absolute_altitude_m + 10.0, 0.0)
    await f.wait_until_near(lat, lon, 1.0, timeout_s=90)
    assert await f.tel.flight_mode() == FlightMode.HOLD
    # A fault through the CLI: the battery drops below BAT_LOW_THR -> the vehicle returns.
    out = await asyncio.to_thread(subprocess.run, _sim(
        "fault", "battery", "12", "--vehicle", "1", "--control-port", str(fleet.client.port)),
        capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("ok"), out.stderr
    await f.wait_flight_mode(FlightMode.RETURN_TO_LAUNCH, 10)
    state = await asyncio.to_thread(subprocess.run, _sim(
        "state", "--vehicle", "1", "--control-port", str(fleet.client.port)),
        capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert state.returncode == 0, state.stderr
    st = json.loads(state.stdout)
    assert st["state"]["battery_pct"] == pytest.approx(12.0, abs=0.5) and st["link_up"] is True
    await f.wait_until_landed(180)
    p = await f.tel.position()
    assert distance_m(p.latitude_deg, p.longitude_deg, home.latitude_deg, home.longitude_deg) < 2.0


async def _geofence_and_follow_me(f: Flight, fleet: CliFleet) -> None:
    home = await f.tel.home()
    lat0, lon0, alt0 = home.latitude_deg, home.longitude_deg, home.absolute_altitude_m
    d = 0.0004  # ~44 m
    await f.geofence.upload_geofence(GeofenceData(polygons=[Polygon(
        [Point(lat0 - d, lon0 - d), Point(lat0 - d, lon0 + d), Point(lat0 + d, lon0 + d),
         Point(lat0 + d, lon0 - d)], FenceType.INCLUSION)]))
    assert len((await f.geofence.download_geofence()).polygons) == 1
    await f.arm_and_takeoff()
    await f.follow_me.set_config(FollowConfig(follow_height_m=8.0, follow_distance_m=5.0, responsiveness=0.1,
                                              max_tangential_vel_m_s=8.0, follow_angle_deg=180.0))
    await f.follow_me.start()
    await f.wait_flight_mode(FlightMode.FOLLOW_ME, 10)
    t0 = fleet.sim_time_s
    speed_n = 3.0  # the officer heads north, out of the fence
    while await f.tel.flight_mode() == FlightMode.FOLLOW_ME:
        dt = fleet.sim_time_s - t0
        assert dt < 60.0, "never left the fence"
        await f.follow_me.set_target_location(
            FollowTarget(lat0 + speed_n * dt / 111_319.49, lon0, alt0, speed_n, 0.0, 0.0))
        await asyncio.sleep(0.1)
    await f.wait_flight_mode(FlightMode.HOLD, 5)  # GF_ACTION 2 (PX4's default): hold
    p = await f.tel.position()
    assert distance_m(p.latitude_deg, p.longitude_deg, lat0, lon0) > 40.0  # it went along, to the fence
    await f.action.land()
    await f.wait_until_landed(120)


def test_ctrl_c_stops_cleanly() -> None:
    control = free_udp_port()
    proc = subprocess.Popen(
        _sim("--vehicles", "2", "--base-port", str(_free_base_port(2)), "--no-gcs", "--control-port",
             str(control)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    _wait_line(proc, "Ctrl-C stops")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert "stopped" in out
    assert "Traceback" not in err


def test_taken_port_is_a_one_line_error() -> None:
    base = _free_base_port(1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", base + 40))  # the port vehicle 0 listens on
        out = subprocess.run(
            _sim("--vehicles", "1", "--base-port", str(base), "--no-gcs", "--control-port",
                 str(free_udp_port())), capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "already in use" in lines[0] and str(base + 40) in lines[0]


def test_bad_arguments_and_no_simulator_are_clear_errors() -> None:
    out = subprocess.run(_sim("--home", "200,0,0"), capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert out.returncode == 2 and "latitude" in out.stderr and "Traceback" not in out.stderr
    out = subprocess.run(_sim("fault", "reboot", "--control-port", str(free_udp_port())),
                         capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert out.returncode == 1 and "no simulator answers" in out.stderr and "Traceback" not in out.stderr


def test_every_cli_fault_kind_reaches_its_vehicle(capsys: pytest.CaptureFixture[str]) -> None:
    from sim import Fleet, Home
    from sim.__main__ import main
    from sim.vehicle import MavResult

    control = free_udp_port()
    homes = [Home(-6.2088, 106.8456, 10.0), Home(-6.2088, 106.8458, 10.0)]
    with Fleet(homes, speedup=10, sysid_base=next_sysid_base(2), api_ports=[free_udp_port(), free_udp_port()],
               gcs=False, control_port=control) as fleet:

        def cli(*args: str) -> tuple[int, str, str]:
            rc = main([*args, "--control-port", str(control)])
            out = capsys.readouterr()
            return rc, out.out, out.err

        def wait(cond, what: str) -> None:  # type: ignore[no-untyped-def]
            end = time.monotonic() + 30.0
            while not cond():
                assert time.monotonic() < end, what
                time.sleep(0.02)

        wait(lambda: fleet.state(0).position_ok and fleet.state(1).position_ok, "ready")
        assert cli("fault", "gps-loss", "on", "--vehicle", "1")[0] == 0
        assert not fleet.state(1).gps_ok and fleet.state(0).gps_ok
        assert cli("fault", "gps-loss", "off", "--vehicle", "1")[0] == 0
        assert fleet.state(1).gps_ok
        rc, out, _ = cli("fault", "battery", "33", "--vehicle", "0")
        assert rc == 0 and out.startswith("ok")
        assert fleet.state(0).battery_pct == pytest.approx(33.0, abs=0.1)
        assert cli("fault", "link-loss", "3", "--vehicle", "0")[0] == 0  # 3 simulated s = 0.3 s at 10x
        assert not fleet.link_up(0) and fleet.link_up(1)
        wait(lambda: fleet.link_up(0), "link back after 3 simulated seconds")
        assert cli("fault", "link-loss", "--vehicle", "1")[0] == 0  # until restored
        t0 = fleet.sim_time_s
        wait(lambda: fleet.sim_time_s - t0 > 5.0, "time passing")
        assert not fleet.link_up(1)
        assert cli("fault", "link-restore", "--vehicle", "1")[0] == 0
        assert fleet.link_up(1)
        assert cli("fault", "reject-next", "--vehicle", "0")[0] == 0
        vehicle = fleet._runtime.runners[0].vehicle  # noqa: SLF001 - the model answers the next command
        assert fleet._on_loop(lambda: vehicle.arm().result) == MavResult.TEMPORARILY_REJECTED  # noqa: SLF001
        assert fleet._on_loop(lambda: vehicle.arm().result) == MavResult.ACCEPTED  # noqa: SLF001
        t_before = fleet.state(0).time_us
        assert cli("fault", "reboot", "--vehicle", "0")[0] == 0
        st = fleet.state(0)
        assert st.time_us < t_before and not st.armed and not st.position_ok
        rc, out, _ = cli("state", "--vehicle", "1")
        assert rc == 0 and json.loads(out)["state"]["home"]["lon_deg"] == pytest.approx(106.8458)
        rc, _, err = cli("fault", "battery", "150", "--vehicle", "0")
        assert rc == 1 and "0..100" in err
        rc, _, err = cli("fault", "gps-loss", "on", "--vehicle", "5")
        assert rc == 1 and "no vehicle 5" in err


def test_fleet_file_errors_and_console_script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import entry_points

    from sim.__main__ import main

    (ep,) = [e for e in entry_points(group="console_scripts") if e.name == "dronectl-sim"]
    assert ep.value == "sim.__main__:main"
    with pytest.raises(SystemExit) as err:
        main(["--fleet", str(tmp_path / "missing.json")])
    assert "no such file" in str(err.value)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"homes": [{"lat_deg": -6.2, "lon_deg": 106.8}]}))
    with pytest.raises(SystemExit) as err:
        main(["--fleet", str(bad)])
    assert "alt_amsl_m" in str(err.value) and "\n" not in str(err.value)
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"homes": []}))
    with pytest.raises(SystemExit) as err:
        main(["--fleet", str(empty)])
    assert "no homes" in str(err.value)
    assert main(["--vehicles", "0"]) == 2 and "1..200" in capsys.readouterr().err
    assert main(["--speedup", "0"]) == 2 and "--speedup" in capsys.readouterr().err


def test_cli_param_reads_and_sets_a_running_vehicle(capsys: pytest.CaptureFixture[str]) -> None:
    from sim import Fleet, Home
    from sim.__main__ import main

    control = free_udp_port()
    homes = [Home(-6.2088, 106.8456, 10.0), Home(-6.2088, 106.8458, 10.0)]
    with Fleet(homes, speedup=5, sysid_base=next_sysid_base(2), api_ports=[free_udp_port(), free_udp_port()],
               gcs=False, control_port=control) as fleet:

        def cli(*args: str) -> tuple[int, str, str]:
            rc = main([*args, "--control-port", str(control)])
            out = capsys.readouterr()
            return rc, out.out, out.err

        assert cli("param", "NAV_DLL_ACT", "--vehicle", "1") == (0, "NAV_DLL_ACT = 0\n", "")
        assert cli("param", "NAV_DLL_ACT", "2", "--vehicle", "1") == (0, "NAV_DLL_ACT = 2\n", "")
        assert fleet.param(1, "NAV_DLL_ACT") == 2.0 and fleet.param(0, "NAV_DLL_ACT") == 0.0
        assert cli("param", "--vehicle", "0", "MPC_XY_CRUISE", "7.5") == (0, "MPC_XY_CRUISE = 7.5\n", "")
        assert fleet.param(0, "MPC_XY_CRUISE") == pytest.approx(7.5)
        rc, out, err = cli("param", "NAV_DLL_ACT", "9")
        assert rc == 1 and "above maximum" in err and fleet.param(0, "NAV_DLL_ACT") == 0.0
        rc, out, err = cli("param", "NOPE")
        assert rc == 1 and "unknown parameter 'NOPE'" in err and out == ""


def test_api_ports_option_errors(capsys: pytest.CaptureFixture[str]) -> None:
    from sim.__main__ import main

    assert main(["--vehicles", "2", "--api-ports", "40100"]) == 2
    assert "--api-ports has 1 port(s) for 2 vehicle(s)" in capsys.readouterr().err
    assert main(["--vehicles", "1", "--api-listen-ports", "40100"]) == 2
    assert "--api-listen-ports needs --api-ports" in capsys.readouterr().err
    out = subprocess.run(_sim("--api-ports", "40100,x"), capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert out.returncode == 2 and "comma-separated UDP ports" in out.stderr and "Traceback" not in out.stderr
    out = subprocess.run(_sim("--api-ports", "70000"), capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert out.returncode == 2 and "1..65535" in out.stderr
