"""The stepping loop: simulated vehicles, their MAVLink servers and UDP links on one asyncio loop.

Simulated time runs ``speedup`` times faster than wall time (like PX4_SIM_SPEED_FACTOR), advanced in
substeps of at most 0.05 s. Datagrams are answered the moment they arrive (not on the tick); vehicle
events (arm/mode change -> HEARTBEAT at once, mission progress, texts) and due stream messages go
out after every tick. If the machine stalls, simulated time waits (as PX4's lockstep does) instead
of jumping: one tick never covers more than ``MAX_TICK_WALL_S`` of wall time.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sim.link import PortInUseError, UdpLink, VehiclePorts
from sim.mavlink.server import VehicleServer
from sim.vehicle import Home, Vehicle

__all__ = [
    "VehicleSpec", "VehicleRunner", "Runtime", "MAX_SUBSTEP_S", "TICK_S", "REBOOT_SILENCE_S", "PortInUseError",
]

MAX_SUBSTEP_S = 0.05
TICK_S = 0.02
MAX_TICK_WALL_S = 0.2
HOST = "127.0.0.1"
#: A rebooting PX4 sends and hears nothing for a few seconds (process restart, boot of the
#: modules) before its first HEARTBEAT: long enough for MAVSDK (3 s heartbeat timeout) to report
#: the link lost. Wall seconds, since a restart is not sped up by the simulation's speed factor,
#: and at least as many simulated seconds for a slowed-down simulation.
REBOOT_SILENCE_S = 4.0


@dataclass(frozen=True, slots=True)
class VehicleSpec:
    """What one simulated vehicle is: where it boots, who it is, where it listens."""

    home: Home
    system_id: int
    ports: VehiclePorts


class VehicleRunner:
    """One vehicle: model, MAVLink server, links, and its link-loss fault."""

    def __init__(self, spec: VehicleSpec, runtime: Runtime) -> None:
        self.spec = spec
        self._runtime = runtime
        self.vehicle = Vehicle(spec.home)
        self.links: dict[str, UdpLink] = {}
        names = ["api"] + (["gcs"] if spec.ports.gcs_listen is not None else [])
        self.server = VehicleServer(
            self.vehicle, system_id=spec.system_id, send=self._send, links=names,
            clock=runtime.clock, on_reboot=self._on_reboot,
        )
        self.link_down_until_s: float | None = None  # simulated seconds
        # While rebooting: (wall clock, simulated time) until which the vehicle is silent and its
        # model does not advance (the autopilot is not running yet).
        self.rebooting_until: tuple[float, float] | None = None

    async def open(self) -> None:
        p = self.spec.ports
        try:
            self.links["api"] = await UdpLink.open(
                "api", host=HOST, listen_port=p.api_listen, remote=(HOST, p.api_remote),
                on_datagram=lambda d: self._receive("api", d),
            )
            if p.gcs_listen is not None:
                remote = None if p.gcs_remote is None else (HOST, p.gcs_remote)
                self.links["gcs"] = await UdpLink.open(
                    "gcs", host=HOST, listen_port=p.gcs_listen, remote=remote,
                    on_datagram=lambda d: self._receive("gcs", d),
                )
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for link in self.links.values():
            link.close()

    @property
    def link_up(self) -> bool:
        return self.link_down_until_s is None

    def _send(self, name: str, data: bytes) -> None:
        link = self.links.get(name)
        if link is not None:
            link.send(data)

    def _receive(self, name: str, data: bytes) -> None:
        self.server.receive(name, data)

    @property
    def rebooting(self) -> bool:
        return self.rebooting_until is not None

    def set_link(self, up: bool, until_s: float | None = None) -> None:
        self.link_down_until_s = None if up else (math.inf if until_s is None else until_s)
        self._apply_link()

    def _apply_link(self) -> None:
        up = self.link_down_until_s is None and self.rebooting_until is None
        for link in self.links.values():
            link.up = up

    def _on_reboot(self) -> None:
        self.rebooting_until = (self._runtime.clock() + REBOOT_SILENCE_S,
                                self._runtime.sim_time_s + REBOOT_SILENCE_S)
        self._apply_link()

    def step(self, dt_s: float, n: int, sim_time_s: float) -> None:
        if self.link_down_until_s is not None and sim_time_s >= self.link_down_until_s:
            self.set_link(True)
        if self.rebooting_until is not None:
            wall_until, sim_until = self.rebooting_until
            if self._runtime.clock() < wall_until or sim_time_s < sim_until:
                return  # still booting: no model time, nothing sent or heard
            self.rebooting_until = None
            self._apply_link()
        for _ in range(n):
            self.vehicle.step(dt_s)
        self.server.poll()


class Runtime:
    """Runs vehicles on the current asyncio loop.

    Parameters
    ----------
    specs:
        One :class:`VehicleSpec` per vehicle.
    speedup:
        Simulated seconds per wall second (K).
    clock:
        Wall clock (monotonic seconds); tests may pass their own.
    """

    def __init__(self, specs: Sequence[VehicleSpec], *, speedup: float = 1.0,
                 clock: Callable[[], float] = time.monotonic, tick_s: float = TICK_S) -> None:
        if speedup <= 0:
            raise ValueError("speedup must be > 0")
        self.speedup = float(speedup)
        self.clock = clock
        self.tick_s = tick_s
        self.runners = [VehicleRunner(s, self) for s in specs]
        self.sim_time_s = 0.0
        self._task: asyncio.Task[None] | None = None
        self.tick_count = 0

    async def start(self) -> None:
        """Bind every link (raises :class:`PortInUseError`, closing what was opened) and start
        stepping."""
        try:
            for r in self.runners:
                await r.open()
        except BaseException:
            self.close()
            raise
        self._task = asyncio.get_running_loop().create_task(self._run(), name="sim-runtime")

    def close(self) -> None:
        for r in self.runners:
            r.close()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        self.close()

    async def wait(self) -> None:
        """Until stopped (or the stepping task fails, re-raising its error)."""
        if self._task is not None:
            await self._task

    def advance(self, wall_dt_s: float) -> None:
        """One tick: ``wall_dt_s`` of wall time -> K times that of simulated time, in substeps."""
        sim_dt = min(wall_dt_s, MAX_TICK_WALL_S) * self.speedup
        if sim_dt <= 0:
            return
        n = max(1, math.ceil(sim_dt / MAX_SUBSTEP_S - 1e-9))
        self.sim_time_s += sim_dt
        for r in self.runners:
            r.step(sim_dt / n, n, self.sim_time_s)
        self.tick_count += 1

    async def _run(self) -> None:
        last = self.clock()
        while True:
            await asyncio.sleep(max(0.0, last + self.tick_s - self.clock()))
            now = self.clock()
            self.advance(now - last)
            last = now
