"""Helpers for dronectl tests that fly ``sim`` vehicles through the real MAVSDK gateway.

Everything here waits on conditions (never on wall-clock sleeps) with generous timeouts, because
the CI machine has 2 cores shared with other suites.

* :func:`sim_fleet` starts a :class:`sim.Fleet` on free UDP ports with system ids never used
  before in this process (``tests.support.sysids``: the one MAVSDK core remembers every system
  it has seen). Tests read and change the vehicles' true parameters with ``fleet.param`` /
  ``fleet.set_param``.
* :class:`Flight` reads like PX4's ``AutopilotTester``: ``await flight.wait_until_ready()``,
  ``await flight.wait_until_landed()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from shapely.geometry import shape as shapely_shape
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from dronectl.api import create_app
from dronectl.api.server import serve_app
from dronectl.config import Settings, load_settings
from dronectl.demo import link_loss_timeout_for
from dronectl.gateway import DroneLink, LinkState, SafetyParams, Telemetry
from dronectl.vehicles.mavsdk_gateway import MavsdkGateway
from missions.geodesy import destination, distance_m
from missions.items import Cmd, Frame, MavlinkItem
from sim import Fleet, Home, free_udp_port
from tests.support.mavsdk_core import core
from tests.support.sysids import next_sysid_base

__all__ = [
    "KUDUS_HOMES",
    "sim_fleet",
    "links_for",
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


@contextlib.contextmanager
def sim_fleet(
    homes: Sequence[Home], *, speedup: float, subprocess: bool = False
) -> Iterator[Fleet]:
    """A sim fleet sending to free UDP ports, with fresh system ids, no GCS link.

    In-process (a thread) by default; ``subprocess=True`` runs ``python -m sim`` in a child,
    as the demo does, which keeps the simulation off this process's GIL.
    """
    fleet = Fleet(
        homes, speedup=speedup, sysid_base=next_sysid_base(len(homes)), gcs=False,
        subprocess=subprocess, api_ports=[free_udp_port() for _ in homes],
    )
    with fleet:
        yield fleet


def links_for(fleet: Fleet, names: Sequence[str] | None = None) -> list[DroneLink]:
    """One :class:`DroneLink` per fleet vehicle (ids ``d0``, ``d1``... unless ``names``)."""
    ids = list(names) if names is not None else [f"d{i}" for i in range(len(fleet))]
    return [DroneLink(ids[i], fleet.api_url(i), fleet.system_id(i)) for i in range(len(fleet))]


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
    room for that, or the failsafe fires between two heartbeats. 5 wall seconds here, scaled as
    the demo scales it.
    """
    values: dict[str, float] = {"com_dl_loss_t_s": link_loss_timeout_for(5.0, speedup)}
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


# ---------------------------------------------------------------------------------------------
# The whole controller: real app under uvicorn, real SQLite file, MavsdkGateway, sim fleet.
# ---------------------------------------------------------------------------------------------

EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "examples" / "muria" / "config.toml"

E2E_TOKENS = {
    "dispatcher": "e2e-dispatcher-token-0123456789",
    "integration": "e2e-integration-token-0123456789",
    "officer": "e2e-officer-andi-token-0123456789",
}


def example_settings() -> Settings:
    """The shipped Kudus example (examples/muria/config.toml), as the demo reads it."""
    return load_settings(EXAMPLE_CONFIG)


def homes_of(settings: Settings) -> list[Home]:
    """One sim home per configured drone: its base."""
    out = []
    for d in settings.drones:
        b = settings.base(d.base)
        out.append(Home(b.lat_deg, b.lon_deg, b.alt_amsl_m))
    return out


def e2e_settings(
    example: Settings, fleet: Fleet, data_dir: Path, *, speedup: float, **fields: Any
) -> Settings:
    """The example configuration pointed at ``fleet``, a fresh data dir and test tokens.

    The link-loss timeout is stretched for the speed-up (see :func:`safety_for`); ``fields``
    override top-level settings (e.g. ``dispatch=...``, ``on_scene=...``).
    """
    flight = example.flight.model_dump()
    flight["link_loss_timeout_s"] = safety_for(speedup).com_dl_loss_t_s
    tokens = [
        {"name": "e2e-dispatcher", "role": "dispatcher", "token": E2E_TOKENS["dispatcher"]},
        {"name": "e2e-call-centre", "role": "integration", "token": E2E_TOKENS["integration"]},
        {"name": "e2e-andi", "role": "officer", "subject": "andi", "token": E2E_TOKENS["officer"]},
    ]
    over: dict[str, Any] = {"flight": flight, "auth": {"tokens": tokens}}
    over.update(fields)
    return example.with_overrides(
        data_dir=data_dir,
        urls=[fleet.api_url(i) for i in range(len(fleet))],
        system_ids=[fleet.system_id(i) for i in range(len(fleet))],
        **over,
    )


def bearer(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {E2E_TOKENS[role]}"}


@dataclass
class Controller:
    """A running controller: base ``url``, an httpx ``client``, the app and its gateway."""

    url: str
    client: httpx.AsyncClient
    app: Any
    gateway: MavsdkGateway
    settings: Settings

    @property
    def service(self) -> Any:
        return self.app.state.service

    def ws_url(self, role: str = "dispatcher", **query: str) -> str:
        params = {"token": E2E_TOKENS[role], **query}
        qs = "&".join(f"{k}={v}" for k, v in params.items())
        return self.url.replace("http://", "ws://") + "/api/telemetry?" + qs

    async def get(self, path: str, role: str = "dispatcher") -> Any:
        r = await self.client.get(path, headers=bearer(role))
        assert r.status_code == 200, (path, r.status_code, r.text)
        return r.json()

    async def post(self, path: str, body: Any = None, role: str = "dispatcher") -> httpx.Response:
        return await self.client.post(path, json=body, headers=bearer(role))

    async def report(self, lat: float, lon: float, **over: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "category": "crime",
            "priority": 1,
            "location": {"lat": lat, "lon": lon},
            "address": "Jl. Jenderal Sudirman, Kudus (contoh)",
            "description": "Laporan uji e2e",
            "caller_phone": "081234567890",
            "channel": "phone",
        }
        body.update(over)
        r = await self.post("/api/reports", body, role="integration")
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def wait_mission(
        self, mission_id: int, predicate: Callable[[dict[str, Any]], bool], timeout_s: float, what: str
    ) -> dict[str, Any]:
        """Poll ``GET /api/missions/{id}`` until ``predicate`` holds."""
        deadline = time.monotonic() + timeout_s
        while True:
            m = await self.get(f"/api/missions/{mission_id}")
            if predicate(m):
                return dict(m)
            if time.monotonic() > deadline:
                raise AssertionError(f"mission {mission_id}: timed out waiting for {what}; last: {m}")
            await asyncio.sleep(0.25)

    async def wait_incident(
        self, incident_id: int, predicate: Callable[[dict[str, Any]], bool], timeout_s: float, what: str
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            inc = await self.get(f"/api/incidents/{incident_id}")
            if predicate(inc):
                return dict(inc)
            if time.monotonic() > deadline:
                raise AssertionError(f"incident {incident_id}: timed out waiting for {what}; last: {inc}")
            await asyncio.sleep(0.25)

    async def wait_drones_ready(self, timeout_s: float = 60.0) -> None:
        """Until every drone is connected, healthy, its parameters confirmed and available."""
        deadline = time.monotonic() + timeout_s
        while True:
            drones = (await self.get("/api/drones"))["drones"]
            if all(d["available"] for d in drones):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"drones not ready: {drones}")
            await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def run_controller(settings: Settings) -> AsyncIterator[Controller]:
    """``create_app`` with a MavsdkGateway injected, served by uvicorn on a free port."""
    gw = MavsdkGateway(
        settings.links(),
        safety=settings.safety_params(),
        core=core(),
        telemetry_rate_hz=settings.telemetry.rate_hz,
    )
    app = create_app(settings, gateway=gw, queue_poll_s=0.2)
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url, timeout=30.0) as client:
        yield Controller(url, client, app, gw, settings)


class WsRecorder:
    """A WebSocket client of ``/api/telemetry`` that keeps every frame with its arrival time."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.frames: list[tuple[float, dict[str, Any]]] = []
        self.closed_code: int | None = None
        self._ws: Any = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> WsRecorder:
        self._ws = await ws_connect(self.url, max_size=2**22)
        self._task = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _read(self) -> None:
        try:
            async for raw in self._ws:
                self.frames.append((time.monotonic(), json.loads(raw)))
        except ConnectionClosed as exc:
            self.closed_code = exc.rcvd.code if exc.rcvd is not None else None
        else:
            self.closed_code = self._ws.close_code

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [f for _, f in self.frames if f.get("type") == kind]

    def telemetry(self, drone_id: str) -> list[tuple[float, dict[str, Any]]]:
        return [
            (t, f) for t, f in self.frames
            if f.get("type") == "telemetry" and f.get("drone_id") == drone_id
        ]

    def mission_states(self, mission_id: int) -> list[str]:
        return [f["to_state"] for f in self.of_type("mission_state") if f["mission_id"] == mission_id]


def min_rate_hz(times: Sequence[float], window_s: float = 5.0) -> float:
    """The lowest frame rate over any ``window_s`` window between the first and last time."""
    if len(times) < 2 or times[-1] - times[0] < window_s:
        return len(times) / max(1e-9, (times[-1] - times[0]) if len(times) > 1 else 1e-9)
    worst = math.inf
    j = 0
    t = times[0]
    while t + window_s <= times[-1]:
        while j < len(times) and times[j] < t:
            j += 1
        k = j
        while k < len(times) and times[k] < t + window_s:
            k += 1
        worst = min(worst, (k - j) / window_s)
        t += 0.5
    return worst


def zone_shapes(airspace_geojson: dict[str, Any], kind: str) -> list[tuple[str, Any]]:
    """(name, shapely geometry in lon/lat) of every zone of ``kind`` in ``GET /api/airspace``."""
    out = []
    for feat in airspace_geojson["features"]:
        props = feat.get("properties") or {}
        if props.get("kind") == kind:
            out.append((str(props.get("name")), shapely_shape(feat["geometry"])))
    return out


def track_points(track_geojson: dict[str, Any]) -> list[tuple[float, float]]:
    """(lon, lat) points of ``GET /api/missions/{id}/track``."""
    coords = track_geojson["features"][0]["geometry"]["coordinates"]
    return [(float(c[0]), float(c[1])) for c in coords]


def active_airspace_copy(example: Settings, dest: Path) -> Path:
    """The example airspace with every time window removed, so the Kudus event zone is active
    whenever the test runs (the shipped window is one ceremony morning)."""
    assert example.airspace_file is not None
    doc = json.loads(example.airspace_file.read_text(encoding="utf-8"))
    for feat in doc["features"]:
        feat["properties"].pop("active_from", None)
        feat["properties"].pop("active_until", None)
    dest.write_text(json.dumps(doc), encoding="utf-8")
    return dest


@dataclass
class Stack:
    fleet: Fleet
    settings: Settings
    example: Settings
    speedup: float

    def index_of(self, drone_id: str) -> int:
        return [d.id for d in self.settings.drones].index(drone_id)


@contextlib.contextmanager
def e2e_stack(tmp_path: Path, *, speedup: float, **fields: Any) -> Iterator[Stack]:
    """The example Kudus fleet in ``python -m sim`` and settings pointing the controller at it."""
    example = example_settings()
    air = active_airspace_copy(example, tmp_path / "airspace.geojson")
    with sim_fleet(homes_of(example), speedup=speedup, subprocess=True) as fleet:
        settings = e2e_settings(
            example, fleet, tmp_path / "data", speedup=speedup, airspace_path=air, **fields
        )
        yield Stack(fleet, settings, example, speedup)
