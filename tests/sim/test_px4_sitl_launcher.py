"""The real-PX4-SITL launcher, tested without PX4: a stand-in ``bin/px4`` records how it was
started, talks UDP like PX4's API link, and obeys (or ignores) SIGINT."""

from __future__ import annotations

import json
import os
import socket
import sys
import textwrap
import time
from pathlib import Path

import pytest

from sim.px4_sitl import Px4Sitl, Px4SitlError, netns_available

FAKE_PX4 = textwrap.dedent("""\
    #!{python}
    import json, os, signal, socket, sys, time
    argv = sys.argv
    i = int(argv[argv.index("-i") + 1])
    cwd = os.getcwd()
    listing = sorted(os.listdir(cwd))
    with open(os.path.join(cwd, "invocation.json"), "w") as f:
        json.dump({{"argv": argv, "env": dict(os.environ), "cwd": cwd, "listing": listing}}, f)
    # What PX4 leaves behind in its working directory:
    open(os.path.join(cwd, "parameters.bson"), "w").write("stale")
    os.makedirs(os.path.join(cwd, "dataman_dir"), exist_ok=True)
    open(os.path.join(cwd, "dataman"), "w").write("stale mission")
    build = os.path.dirname(os.path.dirname(os.path.abspath(argv[0])))
    ignore = os.path.exists(os.path.join(build, "IGNORE_SIGINT"))
    def on_int(signum, frame):
        if ignore:
            print("fake px4: ignoring SIGINT", flush=True)
            return
        open(os.path.join(cwd, "stopped"), "w").write("SIGINT")
        print("fake px4: SIGINT, exiting", flush=True)
        sys.exit(0)
    signal.signal(signal.SIGINT, on_int)
    print("fake px4 instance", i, "started", flush=True)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("0.0.0.0", 14580 + i))
    except OSError as exc:
        print("fake px4: bind failed", exc, flush=True)
        s = None
    if s is not None:
        s.settimeout(0.1)
    while True:
        if s is None:
            time.sleep(0.1)
            continue
        try:
            s.sendto(b"hb-%d" % i, ("127.0.0.1", 14540 + i))
        except OSError:
            pass
        try:
            data, addr = s.recvfrom(1000)
            s.sendto(b"echo:" + data, ("127.0.0.1", 14540 + i))
        except OSError:
            pass
    """)


@pytest.fixture
def fake_build(tmp_path: Path) -> Path:
    build = tmp_path / "build" / "px4_sitl_default"
    (build / "bin").mkdir(parents=True)
    (build / "etc" / "init.d-posix").mkdir(parents=True)
    px4 = build / "bin" / "px4"
    px4.write_text(FAKE_PX4.format(python=sys.executable))
    px4.chmod(0o755)
    return build


def wait_file(path: Path, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.02)
    time.sleep(0.05)


def invocation(inst_dir: Path) -> dict:
    wait_file(inst_dir / "invocation.json")
    for _ in range(100):
        try:
            return json.loads((inst_dir / "invocation.json").read_text())
        except json.JSONDecodeError:
            time.sleep(0.02)
    raise AssertionError("invocation.json unreadable")


# -- configuration errors --------------------------------------------------------------------

def test_unset_px4_sitl_build_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PX4_SITL_BUILD", raising=False)
    with pytest.raises(Px4SitlError, match="PX4_SITL_BUILD is not set"):
        Px4Sitl(1)


def test_wrong_build_dirs_are_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PX4_SITL_BUILD", str(tmp_path / "nope"))
    with pytest.raises(Px4SitlError, match="not a directory"):
        Px4Sitl(1)
    (tmp_path / "b").mkdir()
    with pytest.raises(Px4SitlError, match="no executable bin/px4"):
        Px4Sitl(1, build_dir=tmp_path / "b")
    (tmp_path / "b" / "bin").mkdir()
    (tmp_path / "b" / "bin" / "px4").write_text("#!/bin/sh\n")
    (tmp_path / "b" / "bin" / "px4").chmod(0o755)
    with pytest.raises(Px4SitlError, match="no etc/"):
        Px4Sitl(1, build_dir=tmp_path / "b")


def test_argument_validation(fake_build: Path) -> None:
    with pytest.raises(ValueError, match="homes"):
        Px4Sitl(2, build_dir=fake_build, homes=[(0.0, 0.0, 0.0)])
    with pytest.raises(ValueError, match="count"):
        Px4Sitl(0, build_dir=fake_build)


# -- host network: command line, environment, fresh working dirs, stop sequence ----------------

def test_command_line_environment_and_fresh_workdirs(fake_build: Path, tmp_path: Path) -> None:
    base = tmp_path / "run"
    stale = base / "instance_1"
    stale.mkdir(parents=True)
    (stale / "parameters.bson").write_text("old")
    (stale / "dataman").write_text("old mission")
    homes = [(-6.175392, 106.827153, 12.0), (-6.2, 106.8, 30.5)]
    sitl = Px4Sitl(2, build_dir=fake_build, homes=homes, speed_factor=5.0, base_dir=base,
                   netns="never")
    with sitl:
        assert [i.system_id for i in sitl.instances] == [1, 2]
        assert [i.mavsdk_url for i in sitl.instances] == ["udpin://0.0.0.0:14540",
                                                          "udpin://0.0.0.0:14541"]
        for inst in sitl.instances:
            inv = invocation(inst.workdir)
            i = inst.index
            assert inv["argv"] == [str(fake_build / "bin" / "px4"), "-d", "-i", str(i), "-w",
                                   str(inst.workdir), str(fake_build / "etc")]
            assert Path(inv["cwd"]) == inst.workdir
            assert inv["listing"] == []  # fresh: stale parameters/dataman were wiped
            env = inv["env"]
            assert env["PX4_SIMULATOR"] == "sihsim"
            assert env["PX4_SIM_MODEL"] == "sihsim_quadx"
            assert env["PX4_SYS_AUTOSTART"] == "10040"
            assert float(env["PX4_HOME_LAT"]) == homes[i][0]
            assert float(env["PX4_HOME_LON"]) == homes[i][1]
            assert float(env["PX4_HOME_ALT"]) == homes[i][2]
            assert float(env["PX4_SIM_SPEED_FACTOR"]) == 5.0
            # Explicit environment: nothing leaks in from the test process.
            assert set(env) - {"PWD", "SHLVL", "_", "LC_CTYPE"} == {
                "PATH", "HOME", "LANG", "PX4_SIMULATOR", "PX4_SIM_MODEL", "PX4_SYS_AUTOSTART",
                "PX4_HOME_LAT", "PX4_HOME_LON", "PX4_HOME_ALT", "PX4_SIM_SPEED_FACTOR"}
            assert not inst.in_netns
        sitl.wait_for_log(1, r"fake px4 instance 1 started", timeout_s=20)
    # Stopped with SIGINT: each instance saw it and exited cleanly.
    for inst in sitl.instances:
        assert (inst.workdir / "stopped").read_text() == "SIGINT"
        log = inst.log_path.read_text()
        assert "network namespace disabled" in log and "fake px4: SIGINT, exiting" in log
    assert sitl.returncodes() == []  # handles released
    # A second run in the same base dir starts from empty working directories again.
    with Px4Sitl(2, build_dir=fake_build, base_dir=base, netns="never") as again:
        assert invocation(again.instances[1].workdir)["listing"] == []
        assert float(invocation(again.instances[0].workdir)["env"]["PX4_HOME_LAT"]) == 47.397742


def test_without_namespace_requested_ports_fall_back_to_px4s_and_the_log_says_so(
        fake_build: Path, tmp_path: Path) -> None:
    with Px4Sitl(2, build_dir=fake_build, base_dir=tmp_path / "r", netns="never",
                 api_ports=[40000, 40001]) as sitl:
        assert [i.mavsdk_url for i in sitl.instances] == ["udpin://0.0.0.0:14540",
                                                          "udpin://0.0.0.0:14541"]
        assert "requested API port 40001 cannot be honoured" in sitl.read_log(1)


def test_require_netns_fails_clearly_when_unavailable(fake_build: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sim.px4_sitl.netns_available", lambda: False)
    with pytest.raises(Px4SitlError, match="cannot make a network namespace"):
        Px4Sitl(1, build_dir=fake_build, netns="require").start()


def test_stop_escalates_to_sigkill_when_sigint_is_ignored(fake_build: Path, tmp_path: Path) -> None:
    (fake_build / "IGNORE_SIGINT").write_text("")
    sitl = Px4Sitl(1, build_dir=fake_build, base_dir=tmp_path / "r", netns="never", stop_timeout_s=1.0)
    sitl.start()
    procs = list(sitl._procs)
    invocation(sitl.instances[0].workdir)
    t0 = time.monotonic()
    sitl.stop()
    assert time.monotonic() - t0 < 10
    assert procs[0].returncode == -9
    assert "ignoring SIGINT" in sitl.instances[0].log_path.read_text()


def test_temp_base_dir_removed_and_processes_stopped_on_exception(fake_build: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with Px4Sitl(1, build_dir=fake_build, netns="never") as sitl:
            base = sitl.base_dir
            invocation(sitl.instances[0].workdir)
            procs = list(sitl._procs)
            raise RuntimeError("boom")
    assert procs[0].returncode == 0
    assert not base.exists()


def test_wait_for_log_reports_an_instance_that_died(fake_build: Path, tmp_path: Path) -> None:
    (fake_build / "bin" / "px4").write_text(f"#!{sys.executable}\nprint('boom'); raise SystemExit(3)\n")
    with Px4Sitl(1, build_dir=fake_build, base_dir=tmp_path / "r", netns="never") as sitl:
        with pytest.raises(Px4SitlError, match="exited with 3"):
            sitl.wait_for_log(0, "Ready for takeoff", timeout_s=20)


# -- private network namespace with the API-link relay ---------------------------------------

needs_netns = pytest.mark.skipif(not netns_available(), reason="unshare -rn cannot make a network namespace here")


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@needs_netns
def test_netns_relays_the_api_link_both_ways_to_free_host_ports(fake_build: Path, tmp_path: Path) -> None:
    ports = [free_udp_port(), free_udp_port()]
    socks = []
    for p in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", p))
        s.settimeout(20)
        socks.append(s)
    try:
        with Px4Sitl(2, build_dir=fake_build, base_dir=tmp_path / "r", netns="require",
                     api_ports=ports) as sitl:
            assert [i.mavsdk_url for i in sitl.instances] == [f"udpin://0.0.0.0:{p}" for p in ports]
            assert all(i.in_netns for i in sitl.instances)
            for i, s in enumerate(socks):
                data, addr = s.recvfrom(1000)
                assert data == b"hb-%d" % i  # PX4 -> 127.0.0.1:14540+i in the namespace -> host
                s.sendto(b"ping", addr)  # host -> relay -> PX4's 14580+i in the namespace
                while True:
                    data, _ = s.recvfrom(1000)
                    if data.startswith(b"echo:"):
                        break
                assert data == b"echo:ping"
            assert "private network namespace" in sitl.read_log(0)
            pids = sitl.pids()
        for inst in sitl.instances:
            assert (inst.workdir / "stopped").read_text() == "SIGINT"
        for pid in pids:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
    finally:
        for s in socks:
            s.close()
