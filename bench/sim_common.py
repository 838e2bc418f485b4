"""Shared pieces of the ``bench/sim_*.py`` benchmarks: the process's one MAVSDK core, finding a
vehicle by system id, and raw mission items."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mavsdk import logging as mavsdk_logging  # noqa: E402
from mavsdk.asyncio import ComponentType, Configuration, Mavsdk  # noqa: E402
from mavsdk.asyncio.system import System  # noqa: E402
from mavsdk.plugins.mission_raw import MissionItem  # noqa: E402

from sim.geo import offset_deg  # noqa: E402
from sim.vehicle import Home  # noqa: E402

HOME = Home(-6.175392, 106.827153, 12.0)

_CORE: Mavsdk | None = None
_LOG_LINES: list[str] = []


def _quiet(level: object, message: str, file: str | None, line: int) -> bool:
    # Keep the native core's chatter off the benchmark output; errors still print.
    if level == mavsdk_logging.LogLevel.ERROR:
        print(f"mavsdk: {message}", file=sys.stderr)
    _LOG_LINES.append(message)
    del _LOG_LINES[:-200]
    return True


def core() -> Mavsdk:
    """One ``Mavsdk`` per process (several crash at exit: see the shared notes)."""
    global _CORE
    if _CORE is None:
        mavsdk_logging.log_subscribe(_quiet)
        _CORE = Mavsdk(Configuration.create_with_component_type(ComponentType.GROUND_STATION))
    return _CORE


async def find_system(url: str, system_id: int, timeout_s: float = 30.0) -> System:
    mav = core()
    await mav.add_any_connection(url)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for s in await mav.get_systems():
            if await s.get_system_id() == system_id and await s.is_connected() and await s.has_autopilot():
                return s
        await asyncio.sleep(0.05)
    raise SystemExit(f"MAVSDK did not find system {system_id} on {url} within {timeout_s} s")


def raw_waypoints(n: int, home: Home = HOME, spacing_m: float = 40.0, alt_m: float = 30.0) -> list[MissionItem]:
    """``n`` NAV_WAYPOINT items on a lawn-mower pattern (rows of 10) north-east of home."""
    items = []
    for i in range(n):
        row, col = divmod(i, 10)
        east = col if row % 2 == 0 else 9 - col
        lat, lon = offset_deg(home.lat_deg, home.lon_deg, spacing_m * (row + 1), spacing_m * east)
        items.append(MissionItem(
            seq=i, frame=6, command=16, current=1 if i == 0 else 0, autocontinue=1,
            param1=0.0, param2=3.0, param3=0.0, param4=float("nan"),
            x=round(lat * 1e7), y=round(lon * 1e7), z=alt_m, mission_type=0,
        ))
    return items
