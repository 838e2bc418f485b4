"""Flight tests in the style of PX4's ``AutopilotTester``: MAVSDK (the process's one core) flying a
vehicle over UDP, with every timeout counted in SIMULATED seconds.

Usage::

    async with connect(fleet) as (flight,):
        await flight.wait_until_ready()
        await flight.upload(plan)
        await flight.arm_and_takeoff()
        await flight.wait_until_landed()

The helper speaks only MAVSDK to the vehicle. It reads the simulated clock (``clock``) to count
timeouts, and nothing else of the simulator, so the same scenarios run against real PX4 SITL (whose
clock is estimated from wall time times its speed factor).
"""

from __future__ import annotations

import asyncio
import inspect
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from mavsdk.asyncio.plugins.action import ActionAsync
from mavsdk.asyncio.plugins.follow_me import FollowMeAsync
from mavsdk.asyncio.plugins.geofence import GeofenceAsync
from mavsdk.asyncio.plugins.mission import MissionAsync
from mavsdk.asyncio.plugins.mission_raw import MissionRawAsync
from mavsdk.asyncio.plugins.param import ParamAsync
from mavsdk.asyncio.plugins.telemetry import TelemetryAsync
from mavsdk.asyncio.system import System
from mavsdk.plugins.mission import MissionPlan
from mavsdk.plugins.telemetry import FlightMode, LandedState

from tests.support.mavsdk_core import core

__all__ = ["Flight", "Vehicles", "connect", "FlightTimeout", "distance_m"]


class FlightTimeout(AssertionError):
    """A condition did not hold within its simulated-time budget."""


class Vehicles(Protocol):
    """What :func:`connect` needs of a fleet: URLs, system ids, and the simulated clock."""

    def __len__(self) -> int: ...

    def api_url(self, i: int) -> str: ...

    def system_id(self, i: int) -> int: ...

    @property
    def sim_time_s(self) -> float: ...


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Equirectangular distance, fine at test scales (< 10 km)."""
    k = 111_319.49
    dn = (lat2 - lat1) * k
    de = (lon2 - lon1) * k * math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot(dn, de)


@dataclass
class Flight:
    """One vehicle as MAVSDK sees it, with AutopilotTester-style waits (simulated-time budgets)."""

    system: System
    system_id: int
    clock: Callable[[], float]
    speedup: float
    tel: TelemetryAsync = field(init=False)
    action: ActionAsync = field(init=False)
    mission: MissionAsync = field(init=False)
    mission_raw: MissionRawAsync = field(init=False)
    geofence: GeofenceAsync = field(init=False)
    follow_me: FollowMeAsync = field(init=False)
    param: ParamAsync = field(init=False)

    def __post_init__(self) -> None:
        self.tel = TelemetryAsync(self.system)
        self.action = ActionAsync(self.system)
        self.mission = MissionAsync(self.system)
        self.mission_raw = MissionRawAsync(self.system)
        self.geofence = GeofenceAsync(self.system)
        self.follow_me = FollowMeAsync(self.system)
        self.param = ParamAsync(self.system)

    def close(self) -> None:
        for p in (self.tel, self.action, self.mission, self.mission_raw, self.geofence, self.follow_me,
                  self.param):
            p.destroy()

    # -- waiting ----------------------------------------------------------------------------------
    async def wait_until(self, cond: Callable[[], Awaitable[bool] | bool], timeout_s: float,
                         what: str, *, poll_s: float = 0.05) -> None:
        """Until ``cond()`` is true; :class:`FlightTimeout` after ``timeout_s`` SIMULATED seconds."""
        start = self.clock()
        # A stalled simulator must not hang the suite: also give up after a generous wall time.
        wall_deadline = time.monotonic() + 30.0 + 4.0 * timeout_s / self.speedup
        while True:
            ok = cond()
            if inspect.isawaitable(ok):
                ok = await ok
            if ok:
                return
            now = self.clock()
            if now - start > timeout_s or time.monotonic() > wall_deadline:
                raise FlightTimeout(f"vehicle {self.system_id}: not {what} after {now - start:.1f} "
                                    f"simulated s")
            await asyncio.sleep(poll_s)

    async def wait_until_ready(self, timeout_s: float = 30.0) -> None:
        """Global position, home and armable, as MAVSDK's health reports them."""
        async def ready() -> bool:
            h = await self.tel.health()
            return bool(h.is_global_position_ok and h.is_home_position_ok and h.is_armable)
        await self.wait_until(ready, timeout_s, "ready to arm")

    async def wait_flight_mode(self, mode: FlightMode, timeout_s: float = 30.0) -> None:
        async def is_mode() -> bool:
            return await self.tel.flight_mode() == mode
        await self.wait_until(is_mode, timeout_s, f"in {mode.name}")

    async def wait_until_in_air(self, timeout_s: float = 30.0) -> None:
        async def in_air() -> bool:
            return bool(await self.tel.in_air())
        await self.wait_until(in_air, timeout_s, "in the air")

    async def wait_until_altitude(self, alt_rel_m: float, tolerance_m: float = 0.5,
                                  timeout_s: float = 60.0) -> None:
        async def at_alt() -> bool:
            return abs((await self.tel.position()).relative_altitude_m - alt_rel_m) <= tolerance_m
        await self.wait_until(at_alt, timeout_s, f"at {alt_rel_m} m")

    async def wait_until_landed(self, timeout_s: float = 120.0) -> None:
        """On the ground and disarmed (PX4 auto-disarms COM_DISARM_LAND after landing)."""
        async def landed() -> bool:
            return (await self.tel.landed_state() == LandedState.ON_GROUND
                    and not await self.tel.armed())
        await self.wait_until(landed, timeout_s, "landed and disarmed")

    async def wait_until_near(self, lat_deg: float, lon_deg: float, radius_m: float,
                              timeout_s: float = 120.0) -> None:
        async def near() -> bool:
            p = await self.tel.position()
            return distance_m(p.latitude_deg, p.longitude_deg, lat_deg, lon_deg) <= radius_m
        await self.wait_until(near, timeout_s, f"within {radius_m} m of {lat_deg:.6f},{lon_deg:.6f}")

    # -- doing ------------------------------------------------------------------------------------
    async def upload(self, plan: MissionPlan | Sequence[Any]) -> None:
        """Upload a MissionPlan (mission plugin) or raw mission items (mission_raw plugin)."""
        if isinstance(plan, MissionPlan):
            await self.mission.upload_mission(plan)
        else:
            await self.mission_raw.upload_mission(list(plan))

    async def fly_mission(self, timeout_s: float, *, settle_s: float = 0.2) -> list[tuple[int, int]]:
        """Arm, start the uploaded mission and record MAVSDK's progress until it is finished.

        Returns each distinct ``(current, total)`` in the order seen; the caller asserts on them
        (an assertion inside the recording task would be lost when the task is cancelled).
        ``settle_s`` lets the last progress update reach the recorder.
        """
        seen: list[tuple[int, int]] = []

        async def record() -> None:
            async for p in self.mission.subscribe_mission_progress():
                if not seen or seen[-1] != (p.current, p.total):
                    seen.append((p.current, p.total))

        task = asyncio.get_running_loop().create_task(record())
        try:
            await self.action.arm()
            await self.mission.start_mission()
            await self.wait_until(self.mission.is_mission_finished, timeout_s, "done with the mission")
            await asyncio.sleep(settle_s)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        return seen

    async def arm_and_takeoff(self, timeout_s: float = 60.0) -> None:
        await self.action.arm()
        await self.action.takeoff()
        await self.wait_until_in_air(timeout_s)

    async def home(self) -> tuple[float, float, float]:
        h = await self.tel.home()
        return h.latitude_deg, h.longitude_deg, h.absolute_altitude_m


async def _find_system(system_id: int, timeout_s: float) -> System:
    mav = core()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for s in await mav.get_systems():
            if await s.get_system_id() == system_id and await s.is_connected() and await s.has_autopilot():
                return s
        await asyncio.sleep(0.05)
    raise FlightTimeout(f"MAVSDK did not discover system {system_id} within {timeout_s} s")


@asynccontextmanager
async def connect(vehicles: Vehicles, *, speedup: float = 1.0,
                  discover_timeout_s: float = 20.0) -> AsyncIterator[list[Flight]]:
    """Connect the process's MAVSDK core to every vehicle (``udpin`` on its API port, as for PX4
    SITL) and yield one :class:`Flight` each; connections are removed on exit."""
    mav = core()
    handles: list[Any] = []
    flights: list[Flight] = []
    try:
        for i in range(len(vehicles)):
            handles.append(await mav.add_any_connection(vehicles.api_url(i)))
        for i in range(len(vehicles)):
            system = await _find_system(vehicles.system_id(i), discover_timeout_s)
            flights.append(Flight(system, vehicles.system_id(i), lambda: vehicles.sim_time_s, speedup))
        yield flights
    finally:
        for f in flights:
            f.close()
        for h in handles:
            await mav.remove_connection(h)
