"""The dronectl command in operation: `serve` starts (and a second controller on the same drones is
refused), a bad airspace file is a one-line configuration error, `token create` writes where the
demo reads, and `watch` survives a controller restart."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dronectl.api import create_app
from dronectl.api.server import free_tcp_port, serve_app
from dronectl.cli import DEMO_DATA_DIR, _data_dir, build_parser
from dronectl.config import ConfigError, Settings, hash_token, load_settings
from dronectl.store import Store
from sim import free_udp_port
from tests.dronectl.conftest import TOKENS, auth, memory_gateway

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "muria" / "config.toml"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRONECTL_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def example_on_free_ports(tmp_path: Path, airspace: Path | None = None) -> tuple[Path, list[int]]:
    """The example configuration with its drones on free UDP ports (and an absolute airspace path)."""
    ports = [free_udp_port() for _ in range(3)]
    cfg = EXAMPLE.read_text()
    for i, p in enumerate(ports):
        cfg = cfg.replace(f"udpin://0.0.0.0:{14540 + i}", f"udpin://0.0.0.0:{p}")
    air = airspace or EXAMPLE.parent / "airspace.geojson"
    cfg = cfg.replace('airspace_path = "airspace.geojson"', f'airspace_path = "{air}"')
    path = tmp_path / "area.toml"
    path.write_text(cfg)
    return path, ports


# -- bad airspace --------------------------------------------------------------------------------
BAD_AIRSPACE = {
    "point without radius": (json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [110.84, -6.80]},
         "properties": {"name": "Zona Uji", "kind": "event"}}]}), ["feature 0", "Zona Uji", "radius_m"]),
    "not json": ("{ this is not json", ["not valid JSON"]),
}


@pytest.mark.parametrize("case", list(BAD_AIRSPACE))
def test_bad_airspace_is_a_config_error_naming_file_and_feature(tmp_path: Path, case: str) -> None:
    text, fragments = BAD_AIRSPACE[case]
    air = tmp_path / "zones.geojson"
    air.write_text(text)
    cfg, _ = example_on_free_ports(tmp_path, air)
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    msg = str(err.value)
    assert msg.startswith(f"{cfg}: airspace_path: {air}"), msg
    for frag in fragments:
        assert frag in msg, msg


def test_serve_with_bad_airspace_prints_one_message_without_traceback(tmp_path: Path) -> None:
    air = tmp_path / "zones.geojson"
    air.write_text(BAD_AIRSPACE["point without radius"][0])
    cfg, _ = example_on_free_ports(tmp_path, air)
    r = subprocess.run([sys.executable, "-m", "dronectl", "serve", "--config", str(cfg), "--port", "0",
                        "--data-dir", str(tmp_path / "d")], capture_output=True, text=True, env=clean_env(),
                       cwd=ROOT, timeout=60)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert f"{cfg}: airspace_path: {air}" in r.stderr and "Zona Uji" in r.stderr


# -- a second controller on the same drones ------------------------------------------------------
def test_second_serve_on_the_same_drones_is_refused(tmp_path: Path) -> None:
    cfg, ports = example_on_free_ports(tmp_path)
    first = subprocess.Popen(
        [sys.executable, "-m", "dronectl", "serve", "--config", str(cfg), "--port", str(free_tcp_port()),
         "--data-dir", str(tmp_path / "d1")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(), cwd=ROOT,
        start_new_session=True)
    try:
        assert first.stdout is not None
        deadline = time.monotonic() + 60
        lines: list[str] = []
        while time.monotonic() < deadline:
            line = first.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "dronectl listening on" in line:
                break
        assert any("dronectl listening on" in x for x in lines), lines  # `serve` really starts
        # MAVSDK holds the drones' ports (with SO_REUSEADDR: a plain second bind would succeed).
        second = subprocess.run(
            [sys.executable, "-m", "dronectl", "serve", "--config", str(cfg), "--port", str(free_tcp_port()),
             "--data-dir", str(tmp_path / "d2")], capture_output=True, text=True, env=clean_env(), cwd=ROOT,
            timeout=60)
        assert second.returncode == 1, second.stderr
        assert "Traceback" not in second.stderr
        err = [x for x in second.stderr.splitlines() if x.startswith("dronectl:")]
        assert len(err) == 1, second.stderr
        assert f"drone kudus-1: UDP port {ports[0]}" in err[0] and "already in use" in err[0], err
        assert "listening" not in second.stdout
        assert first.poll() is None  # the first controller is untouched
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGINT)
        try:
            out, _ = first.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(first.pid, signal.SIGKILL)
            out, _ = first.communicate()
    assert "dronectl stopped" in out


def test_port_held_with_reuseaddr_is_detected(tmp_path: Path) -> None:
    """What MAVSDK does (bind with SO_REUSEADDR) by another process is seen by the probe."""
    from dronectl.cli import CliError, check_mavlink_ports

    cfg, ports = example_on_free_ports(tmp_path)
    settings = load_settings(cfg, data_dir=tmp_path / "d")
    check_mavlink_ports(settings)  # all free: no error, nothing kept bound
    check_mavlink_ports(settings)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("0.0.0.0", ports[2]))
        with pytest.raises(CliError, match=f"drone jati-1: UDP port {ports[2]}"):
            check_mavlink_ports(settings)


# -- data directory: token create agrees with the demo --------------------------------------------
def test_token_create_and_demo_use_the_same_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DRONECTL_DATA_DIR", raising=False)
    monkeypatch.delenv("DRONECTL_CONFIG", raising=False)
    p = build_parser()
    demo = _data_dir(p.parse_args(["demo"])) or DEMO_DATA_DIR.resolve()
    token = _data_dir(p.parse_args(["token", "create", "--role", "admin"]))
    serve = _data_dir(p.parse_args(["serve"]))
    assert demo == token == serve == tmp_path / "data" / "demo"
    # An explicit directory, or $DRONECTL_DATA_DIR, wins for every command alike.
    monkeypatch.setenv("DRONECTL_DATA_DIR", str(tmp_path / "elsewhere"))
    assert _data_dir(p.parse_args(["demo"])) == _data_dir(p.parse_args(["token", "create", "--role", "admin"])) \
        == tmp_path / "elsewhere"
    # Another configuration keeps its own data_dir unless told otherwise.
    monkeypatch.delenv("DRONECTL_DATA_DIR")
    assert _data_dir(p.parse_args(["token", "create", "--role", "admin", "--config", "x.toml"])) is None

    # The command itself: without --data-dir the token lands in ./data/demo, where the demo looks.
    r = subprocess.run([sys.executable, "-m", "dronectl", "token", "create", "--role", "dispatcher"],
                       capture_output=True, text=True, env=clean_env(), cwd=tmp_path, timeout=60)
    assert r.returncode == 0, r.stderr
    db = tmp_path / "data" / "demo" / "dronectl.db"
    assert str(db) in r.stderr
    s = Store(db)
    try:
        assert s.token(hash_token(r.stdout.strip())) is not None
    finally:
        s.close()


# -- watch survives a controller restart ----------------------------------------------------------
async def _read_into(stream: asyncio.StreamReader, buf: list[str]) -> None:
    while line := await stream.readline():
        buf.append(line.decode())


async def _until(buf: list[str], pred, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not pred("".join(buf)):
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {''.join(buf)[-2000:]}"
        await asyncio.sleep(0.05)


async def test_watch_reconnects_when_the_controller_restarts(settings: Settings, report) -> None:  # type: ignore[no-untyped-def]
    port = free_tcp_port()
    env = clean_env(DRONECTL_URL=f"http://127.0.0.1:{port}", DRONECTL_TOKEN=TOKENS["dispatcher"])
    out: list[str] = []
    err: list[str] = []
    app = create_app(settings, gateway=memory_gateway(settings), queue_poll_s=0.1)
    async with serve_app(app, port=port):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "dronectl", "watch", cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        readers = [asyncio.create_task(_read_into(proc.stdout, out)),
                   asyncio.create_task(_read_into(proc.stderr, err))]
        await _until(out, lambda s: s.count("dronectl watch") >= 2, 60, "the first screens")
    try:
        # The controller is gone (as in a restart): watch says so and keeps trying.
        await _until(err, lambda s: "reconnecting in" in s, 30, "the reconnect message")
        assert proc.returncode is None
        await asyncio.sleep(1.0)  # at least one failed attempt while it is down
        assert proc.returncode is None
        app2 = create_app(settings, gateway=memory_gateway(settings), queue_poll_s=0.1)
        async with serve_app(app2, port=port) as url:
            await _until(err, lambda s: "reconnected to" in s, 30, "reconnected")
            n = "".join(out).count("dronectl watch")
            import httpx

            async with httpx.AsyncClient(base_url=url) as c:
                r = await c.post("/api/reports", json=report(), headers=auth("integration"))
                assert r.status_code == 201, r.text
            # The live view carries on with the new controller's events.
            await _until(out, lambda s: "-> en_route" in s and s.count("dronectl watch") > n, 60,
                         "events after the restart")
        assert "Traceback" not in "".join(err)
        text = "".join(out)
        assert "controller connection lost" in text and "reconnected" in text
    finally:
        if proc.returncode is None:
            proc.terminate()
        await proc.wait()
        for t in readers:
            t.cancel()
