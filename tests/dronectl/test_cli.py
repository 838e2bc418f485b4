"""The dronectl command: token create, report over HTTP, watch --once, bad config message."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dronectl.config import hash_token
from dronectl.store import Store
from typing import Any

from tests.dronectl.conftest import TOKENS, Live, auth

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("DRONECTL_")}
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "dronectl", *args], capture_output=True, text=True, env=e,
                          cwd=ROOT, timeout=timeout)


async def arun_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # The server runs on this test's event loop: run the child without blocking it.
    return await asyncio.to_thread(run_cli, *args, env=env)


def test_token_create_prints_token_and_stores_hash(tmp_path: Path) -> None:
    r = run_cli("token", "create", "--role", "dispatcher", "--name", "ops", "--data-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    assert token.startswith("dctl_") and len(token) > 30 and "\n" not in token
    s = Store(tmp_path / "dronectl.db")
    row = s.token(hash_token(token))
    s.close()
    assert row is not None and row["role"] == "dispatcher" and row["name"] == "ops"
    assert token.encode() not in (tmp_path / "dronectl.db").read_bytes()


def test_token_create_refuses_bad_input(tmp_path: Path) -> None:
    r = run_cli("token", "create", "--role", "officer", "--data-dir", str(tmp_path))
    assert r.returncode == 1 and "--subject" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("token", "create", "--role", "boss", "--data-dir", str(tmp_path))
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_bad_config_message_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[bases]]\nid = "hq"\nname = "HQ"\nlat_deg = 123\nlon_deg = 110\n')
    r = run_cli("serve", "--config", str(bad))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert f"{bad}: invalid configuration" in r.stderr
    assert "bases[0].lat_deg" in r.stderr and "drones" in r.stderr
    r = run_cli("token", "create", "--role", "admin", "--config", str(tmp_path / "missing.toml"))
    assert r.returncode == 2 and "missing.toml: file not found" in r.stderr


async def test_report_and_watch_over_http(live: Live) -> None:
    env = {"DRONECTL_URL": live.url, "DRONECTL_TOKEN": TOKENS["integration"]}
    r = await arun_cli("report", "--category", "crime", "--priority", "1", "--lat", "-6.8248", "--lon", "110.8405",
                       "--phone", "081234567890", "--external-id", "cli-1", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Laporan diterima: kejadian 1, status dispatched, misi 1")
    assert live.service.store.count("reports") == 1
    r = await arun_cli("report", "--category", "crime", "--priority", "9", "--lat", "-6.8", "--lon", "110.8",
                       "--lang", "en", env=env)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "priority: must be <= 5" in r.stderr
    r = await arun_cli("report", "--category", "fire", "--lat", "-6.8", "--lon", "110.8",
                       env={"DRONECTL_URL": live.url, "DRONECTL_TOKEN": "wrong-token-xxxxxxxxxx"})
    assert r.returncode == 1 and "HTTP 401" in r.stderr and "Token akses tidak dikenal" in r.stderr
    assert live.service.store.count("reports") == 1
    w = await arun_cli("watch", "--once", env={"DRONECTL_URL": live.url, "DRONECTL_TOKEN": TOKENS["dispatcher"]})
    assert w.returncode == 0, w.stderr
    assert "kudus-1" in w.stdout and "jati-1" in w.stdout and "dispatched" in w.stdout


def test_report_unreachable_server() -> None:
    r = run_cli("report", "--url", "http://127.0.0.1:9", "--token", "x" * 20, "--category", "fire",
                "--lat", "-6.8", "--lon", "110.8")
    assert r.returncode == 1 and "cannot reach http://127.0.0.1:9" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("argv", [["report", "--category", "fire", "--lat", "-6.8", "--lon", "110.8"],
                                  ["watch", "--once"]])
def test_missing_token_message(argv: list[str]) -> None:
    r = run_cli(*argv)
    assert r.returncode == 1 and "DRONECTL_TOKEN" in r.stderr


async def test_watch_live_redraws_from_the_stream(live: Live, report: Any) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRONECTL_")}
    env.update({"DRONECTL_URL": live.url, "DRONECTL_TOKEN": TOKENS["dispatcher"]})
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "dronectl", "watch", cwd=ROOT, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        out = ""
        async with asyncio.timeout(60):
            while out.count("dronectl watch") < 2:
                out += (await proc.stdout.readline()).decode()
            await live.client.post("/api/reports", json=report(), headers=auth("integration"))
            while "-> en_route" not in out:
                out += (await proc.stdout.readline()).decode()
        assert "kudus-1" in out and "\x1b[2J" not in out  # no screen clearing when not a terminal
        assert "report 1 -> incident 1" in out
    finally:
        proc.terminate()
        await proc.wait()
