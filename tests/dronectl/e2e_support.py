"""Helpers for dronectl tests that fly ``sim`` vehicles through the real MAVSDK gateway.

Everything here waits on conditions (never on wall-clock sleeps) with generous timeouts, because
the CI machine has 2 cores shared with other suites.

* :func:`next_sysid_base` hands out MAVLink system ids not used before in this process: the one
  MAVSDK core remembers every system it has seen, so each fleet gets fresh ids.
* :func:`sim_fleet` starts an in-process :class:`sim.Fleet` on free UDP ports.
* :class:`Flight` reads like PX4's ``AutopilotTester``: ``await flight.wait_until_ready()``,
  ``await flight.wait_until_landed()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from dronectl.gateway import DroneLink, LinkState, SafetyParams, Telemetry
from dronectl.vehicles.mavsdk_gateway import MavsdkGateway
from missions.geodesy import destination, distance_m
from missions.items import Cmd, Frame, MavlinkItem
from sim import Fleet, Home, free_udp_port
from tests.support.mavsdk_core import core

__all__ = [
    "KUDUS_HOMES",
    "next_sysid_base",
    "sim_fleet",
    "links_for",
    "true_param",
    "set_true_param",
    "Flight",
    "wait_until",
    "make_gateway",
    "safety_for",
    "mission_items",
    "offset",
]

#: Homes of the example Kudus fleet (Polres Kudus HQ x2, Polsek Jati); altitudes AMSL.
KUDUS_HOMES: tuple[Home, ...] = (
    Home(-6.8048, 110.8405, 50.0),
    Home(-6.8050, 110.8409, 50.0),
    Home(-6.8262, 110.8452, 45.0),
)

# dronectl tests take system ids from 150 up, 3 at a time per fleet (sim's own tests start low).
_SYSIDS = itertools.count(150)


def next_sysid_base(n: int) -> int:
    """First of ``n`` MAVLink system ids never used before in this test process."""
    first = next(_SYSIDS)
    for _ in range(n - 1):
        next(_SYSIDS)
    if first + n - 1 > 250:
        raise RuntimeError("out of fresh MAVLink system ids for this test process")
    return first


@contextlib.contextmanager
def sim_fleet(homes: Sequence[Home], *, speedup: float) -> Iterator[Fleet]:
    """An in-process sim fleet sending to free UDP ports, with fresh system ids, no GCS link."""
    ports = [free_udp_port() for _ in homes]
    fleet = Fleet(
        homes, speedup=speedup, sysid_base=next_sysid_base(len(homes)), api_ports=ports, gcs=False
    )
    with fleet:
        yield fleet


def links_for(fleet: Fleet, names: Sequence[str] | None = None) -> list[DroneLink]:
    """One :class:`DroneLink` per fleet vehicle (ids ``d0``, ``d1``... unless ``names``)."""
    ids = list(names) if names is not None else [f"d{i}" for i in range(len(fleet))]
    return [DroneLink(ids[i], fleet.api_url(i), fleet.system_id(i)) for i in range(len(fleet))]


def true_param(fleet: Fleet, i: int, name: str) -> float:
    """The value vehicle ``i`` really holds (read on the sim's loop, not over MAVLink)."""
    runtime = fleet._runtime  # noqa: SLF001 - sim exposes no parameter accessor yet
    assert runtime is not None, "in-process fleet expected"
    return fleet._on_loop(lambda: runtime.runners[i].vehicle.params.get(name))  # noqa: SLF001


def set_true_param(fleet: Fleet, i: int, name: str, value: float) -> None:
    """Change vehicle ``i``'s parameter behind the controller's back (on the sim's loop)."""
    runtime = fleet._runtime  # noqa: SLF001 - sim exposes no parameter accessor yet
    assert runtime is not None, "in-process fleet expected"
    fleet._on_loop(lambda: runtime.runners[i].vehicle.params.set(name, value))  # noqa: SLF001


async def wait_until(
    predicate: Callable[[], bool], timeout_s: float, what: str, *, poll_s: float = 0.05
) -> None:
    """Poll ``predicate`` until it holds; AssertionError naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        await asyncio.sleep(poll_s)


@dataclass
class Flight:
    """One drone as a test sees it: the gateway's view plus the sim's true state."""

    gateway: MavsdkGateway
    fleet: Fleet
    index: int
    drone_id: str

    @property
    def home(self) -> Home:
        return self.fleet.homes[self.index]

    def latest(self) -> Telemetry:
        return self.gateway.latest(self.drone_id)

    async def wait_for(
        self, predicate: Callable[[Telemetry], bool], timeout_s: float, what: str
    ) -> Telemetry:
        """The first snapshot of the telemetry stream for which ``predicate`` holds."""
        try:
            async with asyncio.timeout(timeout_s):
                async for snap in self.gateway.telemetry(self.drone_id):
                    if predicate(snap):
                        return snap
        except TimeoutError:
            pass
        raise AssertionError(
            f"{self.drone_id}: timed out after {timeout_s:g} s waiting for {what}; "
            f"last: {self.latest()}"
        )

    async def wait_until_ready(self, timeout_s: float = 60.0) -> Telemetry:
        return await self.wait_for(
            lambda s: s.link is LinkState.CONNECTED and s.params_ok and s.health_ok,
            timeout_s,
            "connected, healthy, safety parameters confirmed",
        )

    async def wait_until_landed(self, timeout_s: float = 120.0) -> Telemetry:
        return await self.wait_for(
            lambda s: not s.in_air and not s.armed, timeout_s, "landed and disarmed"
        )

    def distance_to_home_m(self) -> float:
        st = self.fleet.state(self.index)
        return distance_m(st.lat_deg, st.lon_deg, self.home.lat_deg, self.home.lon_deg)


def make_gateway(
    fleet: Fleet, *, safety: SafetyParams | None = None, rate_hz: float = 5.0
) -> MavsdkGateway:
    """A MavsdkGateway on the process's MAVSDK core for every vehicle of ``fleet``."""
    return MavsdkGateway(
        links_for(fleet), safety=safety or SafetyParams(), core=core(), telemetry_rate_hz=rate_hz
    )


def horizontal_error_m(snap: Telemetry, lat_deg: float, lon_deg: float) -> float:
    assert snap.lat_deg is not None and snap.lon_deg is not None
    return distance_m(snap.lat_deg, snap.lon_deg, lat_deg, lon_deg)


def finite(*values: float | None) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)


def safety_for(speedup: float, **overrides: float) -> SafetyParams:
    """Safety parameters for a sped-up sim.

    MAVSDK sends its GCS heartbeat once per *wall* second, which a vehicle running K times faster
    sees once every K simulated seconds; the link-loss timeout (simulated seconds) must leave
    room for that, or the failsafe fires between two heartbeats. 5 wall seconds here.
    """
    values: dict[str, float] = {"com_dl_loss_t_s": min(300.0, max(10.0, 5.0 * speedup))}
    values.update(overrides)
    return SafetyParams(**values)  # type: ignore[arg-type]


def mission_items(
    home: Home,
    waypoints: Sequence[tuple[float, float]],
    *,
    alt_rel_m: float = 30.0,
    speed_m_s: float | None = 10.0,
) -> list[MavlinkItem]:
    """Takeoff at home, optional DO_CHANGE_SPEED, then waypoints (frame GLOBAL_RELATIVE_ALT)."""
    items: list[MavlinkItem] = [
        MavlinkItem(
            seq=0,
            frame=Frame.GLOBAL_RELATIVE_ALT,
            command=Cmd.NAV_TAKEOFF,
            param4=float("nan"),
            x=round(home.lat_deg * 1e7),
            y=round(home.lon_deg * 1e7),
            z=alt_rel_m,
        )
    ]
    if speed_m_s is not None:
        items.append(
            MavlinkItem(
                seq=len(items),
                frame=Frame.MISSION,
                command=Cmd.DO_CHANGE_SPEED,
                param1=1.0,
                param2=speed_m_s,
                param3=-1.0,
            )
        )
    for lat, lon in waypoints:
        items.append(
            MavlinkItem(
                seq=len(items),
                frame=Frame.GLOBAL_RELATIVE_ALT,
                command=Cmd.NAV_WAYPOINT,
                param2=3.0,
                param4=float("nan"),
                x=round(lat * 1e7),
                y=round(lon * 1e7),
                z=alt_rel_m,
            )
        )
    return items


def offset(home: Home, bearing_deg: float, dist_m: float) -> tuple[float, float]:
    """The point ``dist_m`` from ``home`` along ``bearing_deg``."""
    lat, lon = destination(home.lat_deg, home.lon_deg, bearing_deg, dist_m)
    return float(lat), float(lon)
