"""`dronectl demo` as a user runs it: python -m sim child + controller, a report flies, Ctrl-C stops both."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from dronectl.api.server import free_tcp_port
from dronectl.demo import SimProcess, activate_event_zones, fleet_layout, link_loss_timeout_for
from dronectl.config import load_settings
from tests.support.sysids import next_sysid_base

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "muria" / "config.toml"


def _udp_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_block(n: int) -> int:
    """P such that P..P+n-1 and P+40..P+40+n-1 (sim's listening side) are free UDP ports."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            p = int(s.getsockname()[1])
        if p + 50 < 65535 and all(_udp_free(p + k) and _udp_free(p + 40 + k) for k in range(n)):
            return p
    raise RuntimeError("no free UDP port block")


def test_fleet_layout_and_event_zone_activation(tmp_path: Path) -> None:
    s = load_settings(EXAMPLE)
    homes, base_port, sysid = fleet_layout(s)
    assert (base_port, sysid, len(homes)) == (14540, 1, 3)
    assert homes[2] == {"lat_deg": -6.8262, "lon_deg": 110.8452, "alt_amsl_m": 45.0}
    assert s.airspace_file is not None
    names = activate_event_zones(s.airspace_file, tmp_path / "a.geojson")
    assert names and all("Acara" in n for n in names)
    s2 = s.with_overrides(airspace_path=tmp_path / "a.geojson")
    from dronectl.planning import load_airspace

    assert not load_airspace(s2).check(-6.8048, 110.8405).flyable  # the town centre is closed now
    assert load_airspace(s).check(-6.8048, 110.8405).flyable  # as shipped: only on its morning


def test_link_loss_timeout_scales_with_the_speedup() -> None:
    assert link_loss_timeout_for(10.0, 1.0) == 10.0
    assert link_loss_timeout_for(10.0, 10.0) == 100.0  # still 10 wall seconds
    assert link_loss_timeout_for(10.0, 0.5) == 5.0  # PX4's minimum
    assert link_loss_timeout_for(10.0, 100.0) == 300.0  # PX4's maximum


def test_sim_process_stops_with_the_block(tmp_path: Path) -> None:
    base = free_port_block(1)
    ctl = free_port_block(1)
    with SimProcess([{"lat_deg": -6.8, "lon_deg": 110.84, "alt_amsl_m": 40.0}], base_port=base,
                    sysid_base=next_sysid_base(1),
                    speedup=1.0, log_dir=tmp_path, control_port=ctl, gcs=False) as sim:
        sim.check_alive(grace_s=1.0)
        assert sim.proc is not None and sim.proc.poll() is None
        assert sim.proc.args[1:3] == ["-m", "sim"]
        assert sim.env()["PYTHONPATH"] == str(ROOT) and "DRONECTL_TOKEN" not in sim.env()
        assert json.loads(sim.fleet_path.read_text())["homes"][0]["lat_deg"] == -6.8
    assert sim.proc.returncode is not None
    assert sim.log_path.exists()


@pytest.mark.flight
@pytest.mark.slow
@pytest.mark.timeout(240)
def test_demo_end_to_end(tmp_path: Path) -> None:
    base = free_port_block(3)
    http_port = free_tcp_port()
    cfg = EXAMPLE.read_text()
    for i in range(3):
        cfg = cfg.replace(f"udpin://0.0.0.0:{14540 + i}", f"udpin://0.0.0.0:{base + i}")
    cfg = cfg.replace('airspace_path = "airspace.geojson"', f'airspace_path = "{EXAMPLE.parent / "airspace.geojson"}"')
    (tmp_path / "demo.toml").write_text(cfg)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRONECTL_")}
    control_port = free_port_block(1)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dronectl", "demo", "--config", str(tmp_path / "demo.toml"), "--port", str(http_port),
         "--data-dir", str(tmp_path / "data"), "--speedup", "10", "--sim-control-port",
         str(control_port), "--no-gcs"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=env, start_new_session=True)
    banner: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            banner.append(line.rstrip())
            if "Ctrl-C stops everything" in line:
                break
        text = "\n".join(banner)
        assert "Ctrl-C stops everything" in text, text
        token = re.search(r"dispatcher\s+(dctl_\S+)", text)
        assert token, text
        assert f"http://127.0.0.1:{http_port}" in text and "event zones active" in text
        assert "COM_DL_LOSS_T 100 simulated s = 10 wall s" in text
        h = {"Authorization": f"Bearer {token.group(1)}"}
        url = f"http://127.0.0.1:{http_port}"
        with httpx.Client(base_url=url, headers=h, timeout=10) as c:
            deadline = time.monotonic() + 90
            while not all(d["available"] for d in c.get("/api/drones").json()["drones"]):
                assert time.monotonic() < deadline, c.get("/api/drones").json()
                time.sleep(0.2)
            r = c.post("/api/reports", json={"category": "crime", "priority": 1, "channel": "phone",
                                             "location": {"lat": -6.8047, "lon": 110.8277}})
            assert r.status_code == 201 and r.json()["mission_id"], r.text
            mid = r.json()["mission_id"]
            # The vehicles hold the link-loss timeout scaled for the speed-up (10 wall seconds).
            from sim import ControlClient

            assert ControlClient(control_port).param(0, "COM_DL_LOSS_T") == 100.0
            # The drone must really get there: at 10x an unscaled COM_DL_LOSS_T (10 simulated s =
            # 1 wall s) fires the link-loss RTL between MAVSDK's heartbeats right after take-off.
            deadline = time.monotonic() + 150
            states: list[str] = []
            while (st := c.get(f"/api/missions/{mid}").json()["state"]) != "on_scene":
                if not states or states[-1] != st:
                    states.append(st)
                assert st not in ("returning", "landed", "aborted", "failed"), (states, c.get(f"/api/missions/{mid}").json())
                assert time.monotonic() < deadline, c.get(f"/api/missions/{mid}").json()
                time.sleep(0.2)
            m = c.get(f"/api/missions/{mid}").json()
            assert m["drone_id"] in ("kudus-1", "kudus-2") and len(m["route_out"]) > 3  # bends around the zone
            d = c.get(f"/api/drones/{m['drone_id']}").json()
            assert d["telemetry"]["flight_mode"] == "mission", d
    finally:
        os.killpg(proc.pid, signal.SIGINT) if proc.poll() is None else None
        try:
            rest, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            rest, _ = proc.communicate()
    assert proc.returncode == 0, rest
    assert "demo stopped (controller and simulator)" in rest
    assert all(_udp_free(base + 40 + k) for k in range(3))  # the simulator released its ports
