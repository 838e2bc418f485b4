"""An in-memory :class:`~dronectl.gateway.VehicleGateway` for fast unit tests of dispatch logic.

It flies nothing: commands are recorded in :attr:`MemoryGateway.calls` and change the snapshot the
way PX4 would at once (arm -> armed, start -> MISSION and in the air, RTL -> RETURN_TO_LAUNCH ...);
the test moves the vehicle along with :meth:`MemoryGateway.update` (position, mission progress,
landing, link loss). It is never the evidence an issue asks for: that crosses the MAVLink wire
through :mod:`dronectl.vehicles.mavsdk_gateway` against ``sim``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from dronectl.events import now_us
from dronectl.gateway import (
    CommandRejected,
    FlightMode,
    LinkState,
    NotConnected,
    Telemetry,
    VehicleError,
)
from missions.items import MavlinkItem

__all__ = ["MemoryGateway"]


class MemoryGateway:
    """A fleet in memory. ``homes`` maps drone id -> (lat_deg, lon_deg, alt_amsl_m)."""

    def __init__(self, homes: Mapping[str, tuple[float, float, float]], *, battery_pct: float = 100.0) -> None:
        self.homes = dict(homes)
        self.calls: list[tuple[str, str, tuple[Any, ...]]] = []
        self.missions: dict[str, list[MavlinkItem]] = {}
        self.fail: dict[tuple[str, str], VehicleError] = {}  # (drone, action) -> raised once
        self._snap: dict[str, Telemetry] = {}
        self._changed: dict[str, asyncio.Event] = {}
        self.started = False
        for d, (lat, lon, alt) in self.homes.items():
            self._snap[d] = Telemetry(
                drone_id=d, time_us=now_us(), link=LinkState.CONNECTED, lat_deg=lat, lon_deg=lon,
                alt_amsl_m=alt, alt_rel_m=0.0, heading_deg=0.0, ground_speed_m_s=0.0,
                battery_pct=battery_pct, flight_mode=FlightMode.HOLD, armed=False, in_air=False,
                mission_current=0, mission_total=0, health_ok=True, params_ok=True,
            )
            self._changed[d] = asyncio.Event()

    # -- test controls -------------------------------------------------------------------------
    def update(self, drone_id: str, **fields: Any) -> Telemetry:
        """Change the snapshot (e.g. ``mission_current=3``, ``in_air=False``, ``link=LinkState.LOST``)."""
        snap = dataclasses.replace(self._snap[drone_id], time_us=now_us(), **fields)
        if snap.link is not LinkState.CONNECTED:
            snap = dataclasses.replace(snap, health_ok=False)
        self._snap[drone_id] = snap
        ev = self._changed[drone_id]
        ev.set()
        self._changed[drone_id] = asyncio.Event()
        return snap

    def actions(self, drone_id: str | None = None) -> list[str]:
        return [a for d, a, _ in self.calls if drone_id is None or d == drone_id]

    # -- VehicleGateway ------------------------------------------------------------------------
    async def start(self) -> None:
        self.started = True

    async def close(self) -> None:
        self.started = False

    def drone_ids(self) -> Sequence[str]:
        return list(self._snap)

    def latest(self, drone_id: str) -> Telemetry:
        return self._snap[drone_id]

    async def telemetry(self, drone_id: str) -> AsyncIterator[Telemetry]:
        yield self._snap[drone_id]
        while True:
            await self._changed[drone_id].wait()
            yield self._snap[drone_id]

    async def _command(self, drone_id: str, action: str, *args: Any) -> None:
        self.calls.append((drone_id, action, args))
        await asyncio.sleep(0)
        err = self.fail.pop((drone_id, action), None)
        if err is not None:
            raise err
        if self._snap[drone_id].link is not LinkState.CONNECTED:
            raise NotConnected(drone_id, action, "no link")

    async def upload_mission(self, drone_id: str, items: Sequence[MavlinkItem]) -> None:
        await self._command(drone_id, "upload_mission", len(items))
        self.missions[drone_id] = list(items)
        self.update(drone_id, mission_current=0, mission_total=len(items))

    async def upload_geofence(self, drone_id: str, items: Sequence[MavlinkItem]) -> None:
        await self._command(drone_id, "upload_geofence", len(items))

    async def arm(self, drone_id: str) -> None:
        await self._command(drone_id, "arm")
        if not self._snap[drone_id].health_ok:
            raise CommandRejected(drone_id, "arm", "preflight checks failed")
        self.update(drone_id, armed=True)

    async def start_mission(self, drone_id: str) -> None:
        await self._command(drone_id, "start_mission")
        self.update(drone_id, flight_mode=FlightMode.MISSION, in_air=True)

    async def hold(self, drone_id: str) -> None:
        await self._command(drone_id, "hold")
        self.update(drone_id, flight_mode=FlightMode.HOLD)

    async def goto(self, drone_id: str, lat_deg: float, lon_deg: float, alt_amsl_m: float) -> None:
        await self._command(drone_id, "goto", lat_deg, lon_deg, alt_amsl_m)
        self.update(drone_id, flight_mode=FlightMode.HOLD)

    async def return_to_launch(self, drone_id: str) -> None:
        await self._command(drone_id, "return_to_launch")
        self.update(drone_id, flight_mode=FlightMode.RETURN_TO_LAUNCH)

    async def land(self, drone_id: str) -> None:
        await self._command(drone_id, "land")
        self.update(drone_id, flight_mode=FlightMode.LAND)

    async def follow_target(self, drone_id: str, lat_deg: float, lon_deg: float, alt_amsl_m: float) -> None:
        await self._command(drone_id, "follow_target", lat_deg, lon_deg, alt_amsl_m)
        self.update(drone_id, flight_mode=FlightMode.FOLLOW_ME)
