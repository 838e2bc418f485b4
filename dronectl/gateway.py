"""The interface the service uses to fly drones, and the values that cross it.

Only :mod:`dronectl.vehicles.mavsdk_gateway` talks MAVLink (through MAVSDK); everything else in
``dronectl`` uses :class:`VehicleGateway`. MAVSDK errors are translated into the
:class:`VehicleError` family at that boundary, so callers never see a MAVSDK type.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from missions.items import MavlinkItem

__all__ = [
    "DroneLink",
    "SafetyParams",
    "LinkState",
    "FlightMode",
    "Telemetry",
    "VehicleGateway",
    "VehicleError",
    "CommandRejected",
    "CommandTimeout",
    "NotConnected",
    "NotReady",
]


@dataclass(frozen=True, slots=True)
class DroneLink:
    """How to reach one configured drone."""

    drone_id: str
    url: str  # MAVSDK connection URL, e.g. "udpin://0.0.0.0:14540"
    system_id: int  # MAVLink system id (PX4 SITL instance i has i+1)


@dataclass(frozen=True, slots=True)
class SafetyParams:
    """PX4 parameters the controller relies on; set and read back on every (re)connection."""

    nav_dll_act: int = 2  # data-link loss action: 2 = Return mode
    com_dl_loss_t_s: float = 10.0  # data-link loss timeout
    rtl_return_alt_m: float = 60.0  # RTL climbs to this above home (must clear buildings)
    gf_action: int = 3  # geofence breach action: 3 = Return mode


class LinkState(enum.StrEnum):
    CONNECTING = "connecting"  # never heard from since start
    CONNECTED = "connected"
    LOST = "lost"  # was connected, heartbeats stopped


class FlightMode(enum.StrEnum):
    """PX4 flight modes as MAVSDK names them (lower-case)."""

    UNKNOWN = "unknown"
    READY = "ready"
    TAKEOFF = "takeoff"
    HOLD = "hold"
    MISSION = "mission"
    RETURN_TO_LAUNCH = "return_to_launch"
    LAND = "land"
    OFFBOARD = "offboard"
    FOLLOW_ME = "follow_me"
    MANUAL = "manual"
    ALTCTL = "altctl"
    POSCTL = "posctl"
    ACRO = "acro"
    STABILIZED = "stabilized"
    RATTITUDE = "rattitude"


@dataclass(frozen=True, slots=True)
class Telemetry:
    """One snapshot of a drone, as the service sees it. Units are in the field names."""

    drone_id: str
    time_us: int  # controller wall clock (time.time() in microseconds) when assembled
    link: LinkState
    lat_deg: float | None
    lon_deg: float | None
    alt_amsl_m: float | None
    alt_rel_m: float | None
    heading_deg: float | None
    ground_speed_m_s: float | None
    battery_pct: float | None
    flight_mode: FlightMode
    armed: bool
    in_air: bool
    mission_current: int  # index of the current mission item (MAVSDK progress "current")
    mission_total: int
    health_ok: bool  # global position, home position and armable all ok AND link connected
    params_ok: bool  # safety parameters confirmed on this connection


class VehicleError(Exception):
    """Base of every error the gateway raises. ``reason`` is the vehicle's or MAVSDK's words."""

    def __init__(self, drone_id: str, action: str, reason: str) -> None:
        super().__init__(f"{drone_id}: {action} failed: {reason}")
        self.drone_id = drone_id
        self.action = action
        self.reason = reason


class CommandRejected(VehicleError):
    """The vehicle answered and said no (denied, unsupported, temporarily rejected, ...)."""


class CommandTimeout(VehicleError):
    """The vehicle did not answer in time."""


class NotConnected(VehicleError):
    """No link to the vehicle (never connected or lost)."""


class NotReady(VehicleError):
    """Connected, but not dispatchable yet (health or safety parameters not confirmed)."""


@runtime_checkable
class VehicleGateway(Protocol):
    """Commands and telemetry for a fleet, addressed by the configured drone id."""

    async def start(self) -> None:
        """Open every configured connection; returns without waiting for vehicles to appear."""

    async def close(self) -> None:
        """Stop streams and remove connections (idempotent)."""

    def drone_ids(self) -> Sequence[str]: ...

    def latest(self, drone_id: str) -> Telemetry:
        """The newest snapshot (never blocks). A lost link shows as ``link=LOST, health_ok=False``."""

    def telemetry(self, drone_id: str) -> AsyncIterator[Telemetry]:
        """Snapshots as they change (at least at the configured rate while connected)."""

    async def upload_mission(self, drone_id: str, items: Sequence[MavlinkItem]) -> None:
        """Clear the stored mission, then upload ``items`` (mission_type 0)."""

    async def upload_geofence(self, drone_id: str, items: Sequence[MavlinkItem]) -> None: ...

    async def arm(self, drone_id: str) -> None: ...

    async def start_mission(self, drone_id: str) -> None: ...

    async def hold(self, drone_id: str) -> None: ...

    async def goto(self, drone_id: str, lat_deg: float, lon_deg: float, alt_amsl_m: float) -> None: ...

    async def return_to_launch(self, drone_id: str) -> None: ...

    async def land(self, drone_id: str) -> None: ...

    async def follow_target(
        self, drone_id: str, lat_deg: float, lon_deg: float, alt_amsl_m: float
    ) -> None:
        """Start (if needed) follow-target mode and send the target's latest position."""
