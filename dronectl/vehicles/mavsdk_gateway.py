"""The vehicle adapter: :class:`~dronectl.gateway.VehicleGateway` over MAVSDK (native binding).

This is the only module in ``dronectl`` that imports :mod:`mavsdk`. It owns

* one :class:`mavsdk.asyncio.Mavsdk` for the whole fleet (injected, or created here), with one
  connection per configured drone; systems are mapped to drones by MAVLink system id, so a drone
  that reboots or comes back on another link is picked up again;
* a thread pool sized for the fleet, installed as the event loop's default executor, because every
  blocking MAVSDK call of the asyncio binding runs in the default executor (2-3 s MAVSDK timeouts
  would otherwise queue behind each other);
* per drone: stream consumers (position, velocity, heading, battery, flight mode, armed, in air,
  health, status text, mission progress, connection state) folded into one mutable record, a
  :class:`~dronectl.gateway.Telemetry` snapshot published as each new position arrives (at most
  the configured rate), a ticker that fills gaps when positions stop, and a supervisor that (re)applies and reads back the safety parameters on every (re)connection;
* the translation of every MAVSDK exception into the :class:`~dronectl.gateway.VehicleError`
  family, enriched with the STATUSTEXT the vehicle sent while the command was in flight.

Examples
--------
Against a vehicle listening/sending on UDP port 14540 (system id 1)::

    gw = MavsdkGateway([DroneLink("d1", "udpin://0.0.0.0:14540", 1)], safety=SafetyParams())
    await gw.start()
    async for snap in gw.telemetry("d1"):
        if snap.params_ok and snap.health_ok:
            break
    await gw.upload_mission("d1", items)
    await gw.arm("d1")
    await gw.start_mission("d1")
    await gw.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from mavsdk import logging as mavsdk_logging
from mavsdk.asyncio import ComponentType, Configuration, Mavsdk, MavsdkError, System
from mavsdk.asyncio.plugins.action import ActionAsync
from mavsdk.asyncio.plugins.follow_me import FollowMeAsync, FollowMeError, TargetLocation
from mavsdk.asyncio.plugins.mission_raw import MissionItem, MissionRawAsync
from mavsdk.asyncio.plugins.param import ParamAsync, ParamError
from mavsdk.asyncio.plugins.telemetry import TelemetryAsync
from mavsdk.plugins.action import ActionError, ActionResult
from mavsdk.plugins.mission_raw import MissionRawError, MissionRawResult

from dronectl.gateway import (
    CommandRejected,
    CommandTimeout,
    DroneLink,
    FlightMode,
    LinkState,
    NotConnected,
    NotReady,
    SafetyParams,
    Telemetry,
    VehicleError,
)
from missions.items import MavlinkItem, MissionType

__all__ = ["MavsdkGateway", "to_mavsdk_item", "route_mavsdk_logs"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: MAVSDK declares a system lost 3 s after its last heartbeat; if none of the streams brought
#: anything for this long either, the link is reported lost even before MAVSDK says so.
_SILENCE_LOST_S = 3.5
#: How long a command waits for the state it asked for to show up in the streams.
_STATE_WAIT_S = 6.0
#: How long a rejection waits for the vehicle's STATUSTEXT explaining it.
_STATUSTEXT_WAIT_S = 0.5
#: Safety parameters are re-read this often while connected: catches a reboot that the link did
#: not notice, or somebody else changing them (e.g. from a ground station).
_PARAM_RECHECK_S = 10.0
_MAX_RATE_HZ = 20.0
#: Streams that must have delivered since the link came up before it is reported CONNECTED
#: (MAVSDK calls each back on every HEARTBEAT / GLOBAL_POSITION_INT / EXTENDED_SYS_STATE).
_SYNC_STREAMS = frozenset({"armed", "mode", "in_air", "position"})
#: How long a dispatch command waits for a parameter confirmation in progress.
_PARAMS_WAIT_S = 5.0
#: Window over which the position rate is checked against the configured rate.
_RATE_WINDOW_S = 3.0

# MAVSDK result names (the ``result`` enum of every plugin error) grouped by what they mean to us.
_TIMEOUT_RESULTS = {"TIMEOUT"}
_NOT_CONNECTED_RESULTS = {"NO_SYSTEM", "CONNECTION_ERROR"}


def to_mavsdk_item(item: MavlinkItem, *, mission_type: int | None = None) -> MissionItem:
    """Convert one :class:`~missions.items.MavlinkItem` to MAVSDK's ``mission_raw.MissionItem``.

    The two mirror MAVLink ``MISSION_ITEM_INT`` field for field; the conversion is one to one.

    Parameters
    ----------
    item : MavlinkItem
        The item as planned.
    mission_type : int, optional
        Overrides ``item.mission_type`` (the geofence upload forces 1).

    Returns
    -------
    mavsdk.plugins.mission_raw.MissionItem
    """
    return MissionItem(
        seq=item.seq,
        frame=item.frame,
        command=item.command,
        current=1 if item.current else 0,
        autocontinue=1 if item.autocontinue else 0,
        param1=float(item.param1),
        param2=float(item.param2),
        param3=float(item.param3),
        param4=float(item.param4),
        x=int(item.x),
        y=int(item.y),
        z=float(item.z),
        mission_type=item.mission_type if mission_type is None else mission_type,
    )


def route_mavsdk_logs(logger_name: str = "mavsdk") -> None:
    """Send the native MAVSDK core's log lines to Python logging instead of stderr.

    Process-wide (the native library has one log sink). Debug lines go out at DEBUG level, so
    the usual ``logging`` configuration decides what is shown.

    Parameters
    ----------
    logger_name : str
        Name of the :mod:`logging` logger that receives the lines.
    """
    target = logging.getLogger(logger_name)
    levels = {
        mavsdk_logging.LogLevel.DEBUG: logging.DEBUG,
        mavsdk_logging.LogLevel.INFO: logging.INFO,
        mavsdk_logging.LogLevel.WARN: logging.WARNING,
        mavsdk_logging.LogLevel.ERROR: logging.ERROR,
    }

    def handler(level: Any, message: str, file: str | None, line: int) -> bool:
        target.log(levels.get(level, logging.INFO), "%s", message)
        return True  # handled: keep it off stderr

    mavsdk_logging.log_subscribe(handler)


def _finite(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


@dataclass(frozen=True, slots=True)
class _ParamTarget:
    name: str
    value: float
    is_int: bool


def _param_targets(safety: SafetyParams) -> tuple[_ParamTarget, ...]:
    # Types as PX4 declares them (COM_DL_LOSS_T is an INT32 number of seconds).
    return (
        _ParamTarget("NAV_DLL_ACT", float(safety.nav_dll_act), True),
        _ParamTarget("COM_DL_LOSS_T", float(round(safety.com_dl_loss_t_s)), True),
        _ParamTarget("RTL_RETURN_ALT", float(safety.rtl_return_alt_m), False),
        _ParamTarget("GF_ACTION", float(safety.gf_action), True),
    )


@dataclass(eq=False)
class _Drone:
    """Everything the gateway knows about one drone (mutated only on the event loop)."""

    link: DroneLink
    connection: Any = None  # MAVSDK connection handle
    system: System | None = None
    telemetry: TelemetryAsync | None = None
    action: ActionAsync | None = None
    mission: MissionRawAsync | None = None
    param: ParamAsync | None = None
    follow_me: FollowMeAsync | None = None
    link_state: LinkState = LinkState.CONNECTING
    transport_up: bool = False  # MAVSDK's view: heartbeats arriving
    fresh: set[str] = field(default_factory=set)  # streams heard from since the link came up
    last_rx_mono: float = 0.0
    lat_deg: float | None = None
    lon_deg: float | None = None
    alt_amsl_m: float | None = None
    alt_rel_m: float | None = None
    heading_deg: float | None = None
    ground_speed_m_s: float | None = None
    battery_pct: float | None = None
    flight_mode: FlightMode = FlightMode.UNKNOWN
    armed: bool = False
    in_air: bool = False
    mission_current: int = 0
    mission_total: int = 0
    global_position_ok: bool = False
    home_position_ok: bool = False
    armable: bool = False
    params_ok: bool = False
    position_rx: deque[float] = field(default_factory=lambda: deque(maxlen=256))
    rates_set_mono: float = 0.0  # when stream rates were last requested
    last_pub_mono: float = 0.0  # when the last snapshot (of any kind) went to subscribers
    last_pos_mono: float = -math.inf  # when the last position arrived
    #: Rate limiter of position snapshots (GCRA, "virtual scheduling"): the theoretical time of the
    #: next one. See :meth:`MavsdkGateway._on_position`.
    pos_tat_mono: float = -math.inf
    connected_mono: float = 0.0
    connect_epoch: int = 0  # bumped on every (re)connection; stale param checks stop
    param_types: dict[str, bool] = field(default_factory=dict)  # name -> is_int, as learnt
    status_texts: deque[tuple[float, str]] = field(default_factory=lambda: deque(maxlen=64))
    waiters: list[tuple[Callable[[_Drone], bool], asyncio.Future[None]]] = field(
        default_factory=list
    )
    subscribers: set[asyncio.Queue[Telemetry]] = field(default_factory=set)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    supervisor: asyncio.Task[None] | None = None


class MavsdkGateway:
    """:class:`~dronectl.gateway.VehicleGateway` for PX4 (or ``sim``) vehicles through MAVSDK.

    Parameters
    ----------
    links : Sequence[DroneLink]
        One per drone: configured id, MAVSDK connection URL and MAVLink system id. System ids and
        drone ids must be unique.
    safety : SafetyParams
        Parameters set and read back on every (re)connection; a drone is not dispatchable
        (``params_ok`` False, :class:`NotReady` on upload/arm) until they are confirmed.
    core : Mavsdk, optional
        The process's MAVSDK instance (there must be only one per process). Created here (and
        destroyed by :meth:`close`) when omitted.
    telemetry_rate_hz : float
        Snapshot rate of :meth:`telemetry` and the stream rate requested from the vehicle,
        0 < rate <= 20.

    Raises
    ------
    ValueError
        Duplicate drone or system ids, or a rate out of range.
    """

    def __init__(
        self,
        links: Sequence[DroneLink],
        *,
        safety: SafetyParams,
        core: Mavsdk | None = None,
        telemetry_rate_hz: float = 5.0,
    ) -> None:
        if not 0.0 < telemetry_rate_hz <= _MAX_RATE_HZ:
            raise ValueError(
                f"telemetry_rate_hz must be in (0, {_MAX_RATE_HZ:g}], got {telemetry_rate_hz}"
            )
        ids = [link.drone_id for link in links]
        sysids = [link.system_id for link in links]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate drone ids in {ids}")
        if len(set(sysids)) != len(sysids):
            raise ValueError(f"duplicate MAVLink system ids in {sysids}")
        self._safety = safety
        self._targets = _param_targets(safety)
        self._rate_hz = float(telemetry_rate_hz)
        self._own_core = core is None
        self._core: Mavsdk | None = core
        self._drones: dict[str, _Drone] = {link.drone_id: _Drone(link) for link in links}
        self._by_sysid: dict[int, _Drone] = {d.link.system_id: d for d in self._drones.values()}
        self._executor: ThreadPoolExecutor | None = None
        self._discovery: asyncio.Task[None] | None = None
        self._new_system = asyncio.Event()
        self._started = False
        self._closed = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Open every configured connection; returns without waiting for vehicles to appear.

        Raises
        ------
        NotConnected
            A connection URL was refused by MAVSDK (malformed, or the port is taken).
        """
        if self._started:
            return
        self._started = True
        loop = asyncio.get_running_loop()
        # Every blocking call of the asyncio binding goes to the loop's default executor.
        self._executor = ThreadPoolExecutor(
            max_workers=4 + 3 * len(self._drones), thread_name_prefix="mavsdk"
        )
        loop.set_default_executor(self._executor)
        if self._core is None:
            self._core = Mavsdk(
                Configuration.create_with_component_type(ComponentType.GROUND_STATION)
            )
        for drone in self._drones.values():
            try:
                drone.connection = await self._core.add_any_connection(drone.link.url)
            except MavsdkError as exc:
                await self.close()
                raise NotConnected(drone.link.drone_id, "connect", f"{drone.link.url}: {exc}") from exc
            drone.last_rx_mono = time.monotonic()
            drone.supervisor = asyncio.create_task(
                self._ticker(drone), name=f"mavsdk-ticker-{drone.link.drone_id}"
            )
        self._discovery = asyncio.create_task(self._discover(), name="mavsdk-discovery")

    async def close(self) -> None:
        """Stop streams and remove connections (idempotent)."""
        if self._closed:
            return
        self._closed = True
        tasks: list[asyncio.Task[Any]] = []
        if self._discovery is not None:
            tasks.append(self._discovery)
        for drone in self._drones.values():
            tasks.extend(drone.tasks)
            if drone.supervisor is not None:
                tasks.append(drone.supervisor)
            for _, fut in drone.waiters:
                if not fut.done():
                    fut.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for drone in self._drones.values():
            drone.tasks.clear()
            for queue in list(drone.subscribers):
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(_CLOSED)  # type: ignore[arg-type]
            if drone.connection is not None and self._core is not None:
                handle, drone.connection = drone.connection, None
                try:
                    await self._core.remove_connection(handle)
                except MavsdkError as exc:  # pragma: no cover - MAVSDK refuses only bad handles
                    log.warning("%s: removing connection failed: %s", drone.link.drone_id, exc)
            drone.link_state = LinkState.LOST if drone.system is not None else drone.link_state
            drone.params_ok = False
        if self._own_core and self._core is not None:
            self._core.destroy()
            self._core = None

    # ------------------------------------------------------------------ queries

    def drone_ids(self) -> Sequence[str]:
        """The configured drone ids, in configuration order."""
        return list(self._drones)

    def latest(self, drone_id: str) -> Telemetry:
        """The newest snapshot (never blocks).

        A lost link shows as ``link=LOST, health_ok=False``.

        Raises
        ------
        KeyError
            Unknown drone id.
        """
        return self._snapshot(self._drone(drone_id))

    def telemetry(self, drone_id: str) -> AsyncIterator[Telemetry]:
        """A snapshot as each new position arrives, at most at the configured rate (positions
        above it are dropped, never delayed), every period while positions stop, and one at once
        on a link or mode change.

        The iterator ends when the gateway is closed. A consumer slower than the rate loses
        the oldest snapshots, never the newest.

        Raises
        ------
        KeyError
            Unknown drone id (raised at once, not on first iteration).
        """
        drone = self._drone(drone_id)
        return self._stream(drone)

    async def _stream(self, drone: _Drone) -> AsyncIterator[Telemetry]:
        queue: asyncio.Queue[Telemetry] = asyncio.Queue(maxsize=64)
        drone.subscribers.add(queue)
        try:
            queue.put_nowait(self._snapshot(drone))
            while True:
                item = await queue.get()
                if item is _CLOSED:
                    return
                yield item
        finally:
            drone.subscribers.discard(queue)

    # ------------------------------------------------------------------ commands

    async def upload_mission(self, drone_id: str, items: Sequence[MavlinkItem]) -> None:
        """Clear the stored mission, then upload ``items`` (mission_type 0).

        PX4 keeps mission progress across identical uploads, so the stored mission is always
        cleared first. The upload is handed to MAVSDK the moment the clear is acknowledged. (The
        two cannot be queued in MAVSDK together: each transfer's MISSION_ACK handler is
        registered when the transfer is created, so a queued upload takes the clear's ACK for
        its own and fails with PROTOCOL_ERROR; measured with mavsdk 4.1.)

        Raises
        ------
        NotConnected, NotReady, CommandRejected, CommandTimeout
        """
        converted = _with_current([to_mavsdk_item(it, mission_type=MissionType.MISSION) for it in items])

        async def run(d: _Drone) -> None:
            assert d.mission is not None
            plugin = d.mission._plugin  # the native plugin under the asyncio wrapper
            result = await _native_call(plugin.clear_mission_async)
            if result != MissionRawResult.SUCCESS:
                raise MissionRawError(result, "clear_mission()")
            result = await _native_call(lambda cb: plugin.upload_mission_async(converted, cb))
            if result != MissionRawResult.SUCCESS:
                raise MissionRawError(result, "upload_mission()", converted)

        await self._command(drone_id, "upload_mission", run, need_ready=True)

    async def upload_geofence(self, drone_id: str, items: Sequence[MavlinkItem]) -> None:
        """Upload geofence items (mission_type 1, fence polygon/circle commands).

        Raises
        ------
        NotConnected, CommandRejected, CommandTimeout
        """
        converted = _with_current([to_mavsdk_item(it, mission_type=MissionType.FENCE) for it in items])

        async def run(d: _Drone) -> None:
            assert d.mission is not None
            await d.mission.upload_geofence(converted)

        await self._command(drone_id, "upload_geofence", run)

    async def arm(self, drone_id: str) -> None:
        """Arm, and return once the vehicle reports itself armed.

        Raises
        ------
        NotConnected, NotReady, CommandRejected, CommandTimeout
        """

        async def run(d: _Drone) -> None:
            assert d.action is not None
            result = await _native_call(d.action._plugin.arm_async)
            if result != ActionResult.SUCCESS:
                raise ActionError(result, "arm()")
            await self._wait_state(d, "arm", lambda s: s.armed, "armed state not reported")

        await self._command(drone_id, "arm", run, need_ready=True)

    async def start_mission(self, drone_id: str) -> None:
        """Switch to mission mode; returns once the vehicle reports MISSION mode.

        Raises
        ------
        NotConnected, NotReady, CommandRejected, CommandTimeout
        """

        async def run(d: _Drone) -> None:
            assert d.mission is not None
            result = await _native_call(d.mission._plugin.start_mission_async)
            if result != MissionRawResult.SUCCESS:
                raise MissionRawError(result, "start_mission()")
            await self._wait_mode(d, "start_mission", {FlightMode.MISSION})

        await self._command(drone_id, "start_mission", run, need_ready=True)

    async def hold(self, drone_id: str) -> None:
        """Hold position (PX4 Hold / AUTO.LOITER).

        Raises
        ------
        NotConnected, CommandRejected, CommandTimeout
        """
        await self._mode_command(drone_id, "hold", {FlightMode.HOLD})

    async def goto(self, drone_id: str, lat_deg: float, lon_deg: float, alt_amsl_m: float) -> None:
        """Fly to a point and hold there (MAV_CMD_DO_REPOSITION, altitude AMSL).

        Raises
        ------
        NotConnected, CommandRejected, CommandTimeout
        """
        _check_position(drone_id, "goto", lat_deg, lon_deg, alt_amsl_m)

        async def run(d: _Drone) -> None:
            assert d.action is not None
            await d.action.goto_location(lat_deg, lon_deg, alt_amsl_m, float("nan"))

        await self._command(drone_id, "goto", run)

    async def return_to_launch(self, drone_id: str) -> None:
        """Return to launch (PX4 Return mode); returns once RTL (or LAND) is reported.

        Raises
        ------
        NotConnected, CommandRejected, CommandTimeout
        """
        await self._mode_command(
            drone_id, "return_to_launch", {FlightMode.RETURN_TO_LAUNCH, FlightMode.LAND}
        )

    async def land(self, drone_id: str) -> None:
        """Land where the drone is; returns once LAND mode is reported.

        Raises
        ------
        NotConnected, CommandRejected, CommandTimeout
        """
        await self._mode_command(drone_id, "land", {FlightMode.LAND})

    async def _mode_command(self, drone_id: str, action: str, modes: set[FlightMode]) -> None:
        """Call the Action plugin's ``action`` (hold, land, ...) and wait for one of ``modes``."""

        async def run(d: _Drone) -> None:
            assert d.action is not None
            await getattr(d.action, action)()
            await self._wait_mode(d, action, modes)

        await self._command(drone_id, action, run)

    async def follow_target(
        self, drone_id: str, lat_deg: float, lon_deg: float, alt_amsl_m: float
    ) -> None:
        """Start (if needed) follow-target mode and send the target's latest position.

        MAVSDK's FollowMe only counts as active once a heartbeat in FOLLOW mode arrived, so the
        first call waits for that before sending the target.

        Raises
        ------
        NotConnected, CommandRejected, CommandTimeout
        """
        _check_position(drone_id, "follow_target", lat_deg, lon_deg, alt_amsl_m)
        target = TargetLocation(
            latitude_deg=lat_deg,
            longitude_deg=lon_deg,
            absolute_altitude_m=alt_amsl_m,
            velocity_x_m_s=float("nan"),
            velocity_y_m_s=float("nan"),
            velocity_z_m_s=float("nan"),
        )

        async def run(d: _Drone) -> None:
            assert d.system is not None
            if d.follow_me is None:
                # Created on first use: the plugin reads FLW_* parameters as soon as it exists.
                d.follow_me = FollowMeAsync(d.system)
            fm = d.follow_me
            if d.flight_mode is not FlightMode.FOLLOW_ME or not await fm.is_active():
                await fm.start()
                await self._wait_mode(d, "follow_target", {FlightMode.FOLLOW_ME})
            deadline = time.monotonic() + _STATE_WAIT_S
            while True:
                try:
                    await fm.set_target_location(target)
                    return
                except FollowMeError as exc:
                    # NOT_ACTIVE until MAVSDK has processed the FOLLOW heartbeat itself.
                    if exc.result.name != "NOT_ACTIVE" or time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.1)

        await self._command(drone_id, "follow_target", run)

    # ------------------------------------------------------------------ command plumbing

    def _drone(self, drone_id: str) -> _Drone:
        try:
            return self._drones[drone_id]
        except KeyError:
            raise KeyError(f"unknown drone id {drone_id!r}") from None

    def _is_link_up(self, d: _Drone) -> bool:
        return (
            d.link_state is LinkState.CONNECTED
            and time.monotonic() - d.last_rx_mono <= _SILENCE_LOST_S
        )

    async def _command(
        self,
        drone_id: str,
        action: str,
        run: Callable[[_Drone], Awaitable[None]],
        *,
        need_ready: bool = False,
    ) -> None:
        d = self._drone(drone_id)
        if self._closed or not self._started:
            raise NotConnected(drone_id, action, "gateway is not running")
        if d.system is None or not self._is_link_up(d):
            state = "never connected" if d.link_state is LinkState.CONNECTING else "link lost"
            raise NotConnected(drone_id, action, state)
        if need_ready and not d.params_ok:
            # Right after a (re)connection the confirmation takes a few round trips: wait for it
            # rather than fail a dispatch that arrives at that moment.
            try:
                await self._wait_for(d, lambda s: s.params_ok, _PARAMS_WAIT_S)
            except asyncio.TimeoutError:
                raise NotReady(drone_id, action, "safety parameters not confirmed yet") from None
        started = time.monotonic()
        try:
            await run(d)
        except VehicleError:
            raise
        except MavsdkError as exc:
            raise await self._translate(d, action, exc, started) from exc

    async def _translate(
        self, d: _Drone, action: str, exc: MavsdkError, started_mono: float
    ) -> VehicleError:
        result = getattr(exc, "result", None)
        name = getattr(result, "name", None) or type(exc).__name__
        drone_id = d.link.drone_id
        if name in _TIMEOUT_RESULTS:
            return CommandTimeout(drone_id, action, f"no answer from the vehicle ({name})")
        if name in _NOT_CONNECTED_RESULTS:
            return NotConnected(drone_id, action, f"MAVSDK reports {name}")
        texts = self._texts_since(d, started_mono)
        if not texts:
            with contextlib.suppress(asyncio.TimeoutError):
                await self._wait_for(
                    d, lambda s: bool(self._texts_since(s, started_mono)), _STATUSTEXT_WAIT_S
                )
            texts = self._texts_since(d, started_mono)
        reason = name if not texts else f"{'; '.join(texts)} ({name})"
        return CommandRejected(drone_id, action, reason)

    @staticmethod
    def _texts_since(d: _Drone, since_mono: float) -> list[str]:
        return [text for t, text in d.status_texts if t >= since_mono]

    async def _wait_for(self, d: _Drone, predicate: Callable[[_Drone], bool], timeout_s: float) -> None:
        if predicate(d):
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (predicate, fut)
        d.waiters.append(entry)
        try:
            await asyncio.wait_for(fut, timeout_s)
        finally:
            with contextlib.suppress(ValueError):
                d.waiters.remove(entry)

    async def _wait_state(
        self, d: _Drone, action: str, predicate: Callable[[_Drone], bool], what: str
    ) -> None:
        try:
            await self._wait_for(d, predicate, _STATE_WAIT_S)
        except asyncio.TimeoutError:
            if not self._is_link_up(d):
                raise NotConnected(d.link.drone_id, action, "link lost") from None
            raise CommandTimeout(
                d.link.drone_id, action, f"accepted, but {what} within {_STATE_WAIT_S:g} s"
            ) from None

    async def _wait_mode(self, d: _Drone, action: str, modes: set[FlightMode]) -> None:
        names = "/".join(sorted(m.value for m in modes))
        await self._wait_state(d, action, lambda s: s.flight_mode in modes, f"mode {names} not reported")

    def _changed(self, d: _Drone) -> None:
        for predicate, fut in list(d.waiters):
            if not fut.done() and predicate(d):
                fut.set_result(None)

    # ------------------------------------------------------------------ snapshots

    def _snapshot(self, d: _Drone) -> Telemetry:
        link = d.link_state
        if link is LinkState.CONNECTED and not self._is_link_up(d):
            link = LinkState.LOST
        connected = link is LinkState.CONNECTED
        return Telemetry(
            drone_id=d.link.drone_id,
            time_us=int(time.time() * 1e6),
            link=link,
            lat_deg=d.lat_deg,
            lon_deg=d.lon_deg,
            alt_amsl_m=d.alt_amsl_m,
            alt_rel_m=d.alt_rel_m,
            heading_deg=d.heading_deg,
            ground_speed_m_s=d.ground_speed_m_s,
            battery_pct=d.battery_pct,
            flight_mode=d.flight_mode,
            armed=d.armed,
            in_air=d.in_air,
            mission_current=d.mission_current,
            mission_total=d.mission_total,
            health_ok=connected
            and d.global_position_ok
            and d.home_position_ok
            and d.armable,
            params_ok=connected and d.params_ok,
        )

    def _publish(self, d: _Drone) -> None:
        d.last_pub_mono = time.monotonic()
        if not d.subscribers:
            return
        snap = self._snapshot(d)
        for queue in d.subscribers:
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(snap)

    async def _ticker(self, d: _Drone) -> None:
        """Fill gaps when positions stop (link lost, no GPS); notice silent links.

        Snapshots go out when a new position arrives (:meth:`_on_position`), so a subscriber
        sees a position one event-loop hop after MAVSDK delivered it. This ticker publishes the
        latest state every period only once positions have stopped for 1.5 periods: while they
        flow it never publishes, so it cannot put a stale snapshot just ahead of a fresh one.
        """
        loop = asyncio.get_running_loop()
        period = 1.0 / self._rate_hz
        next_t = loop.time()
        while True:
            next_t += period
            delay = next_t - loop.time()
            if delay < -period:  # fell behind (loaded machine): skip, do not burst
                next_t = loop.time()
                delay = 0.0
            await asyncio.sleep(max(0.0, delay))
            if d.link_state is LinkState.CONNECTED and not self._is_link_up(d):
                self._mark_lost(d)  # silent for too long, whatever MAVSDK says yet
            self._check_rate(d)
            now = time.monotonic()
            if now - d.last_pos_mono >= 1.5 * period and now - d.last_pub_mono >= 0.9 * period:
                self._publish(d)

    def _check_rate(self, d: _Drone) -> None:
        """Ask for the stream rates again when positions arrive far below the configured rate.

        A vehicle that rebooted faster than the link timeout (or dropped our request) is back
        on its default rates without the link ever looking lost.
        """
        now = time.monotonic()
        if (
            d.link_state is not LinkState.CONNECTED
            or now - d.connected_mono < _RATE_WINDOW_S
            or now - d.rates_set_mono < _RATE_WINDOW_S
        ):
            return
        recent = sum(1 for t in d.position_rx if t >= now - _RATE_WINDOW_S)
        if recent < 0.6 * self._rate_hz * _RATE_WINDOW_S:
            d.rates_set_mono = now
            self._resync(d, f"{recent} positions in {_RATE_WINDOW_S:g} s, wanted {self._rate_hz:g} Hz")

    def _resync(self, d: _Drone, why: str) -> None:
        """Treat the vehicle as freshly booted: stream rates and safety parameters again.

        Used when the vehicle shows signs of having lost what we set on it without the link
        dropping (a reboot faster than MAVSDK's 3 s heartbeat timeout restarts the estimator and
        forgets stream rates). ``params_ok`` is False until confirmed again.
        """
        if d.link_state is not LinkState.CONNECTED or self._closed:
            return
        log.info("%s: re-checking rates and safety parameters (%s)", d.link.drone_id, why)
        d.params_ok = False
        d.connect_epoch += 1
        d.tasks = [t for t in d.tasks if not t.done()]
        d.tasks.append(
            asyncio.create_task(
                self._on_connected(d, d.connect_epoch), name=f"mavsdk-params-{d.link.drone_id}"
            )
        )
        self._changed(d)
        self._publish(d)

    # ------------------------------------------------------------------ discovery and streams

    async def _discover(self) -> None:
        """Attach MAVSDK systems to configured drones by system id, as they appear."""
        assert self._core is not None
        listener = asyncio.create_task(self._listen_new_systems(), name="mavsdk-new-systems")
        try:
            while True:
                self._new_system.clear()
                pending = [d for d in self._drones.values() if d.system is None]
                if pending:
                    for system in await self._core.get_systems():
                        sysid = await system.get_system_id()
                        d = self._by_sysid.get(sysid)
                        if d is not None and d.system is None:
                            self._attach(d, system)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._new_system.wait(), 1.0 if pending else 5.0)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def _listen_new_systems(self) -> None:
        assert self._core is not None
        async for _ in self._core.on_new_system():
            self._new_system.set()

    def _attach(self, d: _Drone, system: System) -> None:
        log.info("%s: system %d found", d.link.drone_id, d.link.system_id)
        d.system = system
        d.telemetry = TelemetryAsync(system)
        d.action = ActionAsync(system)
        d.mission = MissionRawAsync(system)
        d.param = ParamAsync(system)
        tel = d.telemetry
        name = d.link.drone_id

        def spawn(label: str, source: Callable[[], AsyncIterator[Any]], apply: Callable[[Any], None]) -> None:
            d.tasks.append(
                asyncio.create_task(
                    self._consume(d, label, source, apply), name=f"mavsdk-{label}-{name}"
                )
            )

        spawn("connected", system.is_connected_state, lambda v: self._set_link(d, bool(v)))
        spawn("position", tel.subscribe_position, lambda v: self._on_position(d, v))
        spawn("velocity", tel.subscribe_velocity_ned, lambda v: self._on_velocity(d, v))
        spawn("heading", tel.subscribe_heading, lambda v: setattr(d, "heading_deg", _finite(v.heading_deg)))
        spawn("battery", tel.subscribe_battery, lambda v: self._on_battery(d, v))
        spawn("mode", tel.subscribe_flight_mode, lambda v: self._on_mode(d, v))
        spawn("armed", tel.subscribe_armed, lambda v: setattr(d, "armed", bool(v)))
        spawn("in_air", tel.subscribe_in_air, lambda v: setattr(d, "in_air", bool(v)))
        spawn("health", tel.subscribe_health, lambda v: self._on_health(d, v))
        spawn("statustext", tel.subscribe_status_text, lambda v: self._on_status_text(d, v))
        spawn("progress", d.mission.subscribe_mission_progress, lambda v: self._on_progress(d, v))
        d.tasks.append(asyncio.create_task(self._initial_link(d, system), name=f"mavsdk-link0-{name}"))

    async def _initial_link(self, d: _Drone, system: System) -> None:
        # The connection-state stream only reports changes; the system may already be connected.
        if await system.is_connected():
            self._set_link(d, True)

    async def _consume(
        self,
        d: _Drone,
        label: str,
        source: Callable[[], AsyncIterator[Any]],
        apply: Callable[[Any], None],
    ) -> None:
        try:
            async for value in source():
                d.last_rx_mono = time.monotonic()
                try:
                    apply(value)
                except Exception:  # a malformed value must not end the stream
                    log.exception("%s: telemetry value %r not understood", d.link.drone_id, value)
                if label != "connected":
                    d.fresh.add(label)
                    if d.link_state is not LinkState.CONNECTED:
                        self._maybe_synced(d)
                self._changed(d)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: telemetry stream ended", d.link.drone_id)

    def _set_link(self, d: _Drone, connected: bool) -> None:
        """MAVSDK's connection state changed (or the link went silent: ``connected=False``)."""
        if connected:
            d.last_rx_mono = time.monotonic()
            d.transport_up = True
            self._maybe_synced(d)
            return
        d.transport_up = False
        self._mark_lost(d)

    def _maybe_synced(self, d: _Drone) -> None:
        """Report CONNECTED only once the state streams have spoken since the link came up.

        Until then the record still holds defaults (first connection) or values from before the
        loss: a controller that saw "connected, disarmed, on the ground" for a drone that is in
        fact flying would close its mission.
        """
        if (
            d.link_state is LinkState.CONNECTED
            or not d.transport_up
            or not _SYNC_STREAMS <= d.fresh
        ):
            return
        log.info("%s: link connected", d.link.drone_id)
        d.link_state = LinkState.CONNECTED
        d.connected_mono = time.monotonic()
        d.params_ok = False
        d.connect_epoch += 1
        d.tasks = [t for t in d.tasks if not t.done()]
        d.tasks.append(
            asyncio.create_task(
                self._on_connected(d, d.connect_epoch), name=f"mavsdk-params-{d.link.drone_id}"
            )
        )
        self._changed(d)
        self._publish(d)

    def _mark_lost(self, d: _Drone) -> None:
        d.fresh.clear()
        if d.link_state is not LinkState.CONNECTED:
            return
        log.warning("%s: link lost", d.link.drone_id)
        d.link_state = LinkState.LOST
        d.params_ok = False
        d.connect_epoch += 1
        self._changed(d)
        self._publish(d)

    def _on_position(self, d: _Drone, v: Any) -> None:
        """A new position: published at once when the rate allows, else dropped (never delayed).

        The limit is "at most ``rate`` Hz on average, never two within half a period": a
        generic cell rate algorithm (as ATM and token buckets do) with a theoretical arrival time
        ``pos_tat_mono`` that advances one period per published position, and half a period of
        tolerance. A vehicle streaming at the configured rate has every position published the
        moment it arrives, whatever the phase and jitter of its stream; a faster stream is
        thinned by dropping, so the one published is always the newest. Snapshots published for
        other reasons (a mode or link change, the ticker filling a gap) do not use up the
        allowance, so they never hold back the next fresh position.
        """
        now = time.monotonic()
        d.position_rx.append(now)
        d.last_pos_mono = now
        d.lat_deg = _finite(v.latitude_deg)
        d.lon_deg = _finite(v.longitude_deg)
        d.alt_amsl_m = _finite(v.absolute_altitude_m)
        d.alt_rel_m = _finite(v.relative_altitude_m)
        period = 1.0 / self._rate_hz
        if now >= d.pos_tat_mono - 0.5 * period:
            d.pos_tat_mono = max(d.pos_tat_mono, now) + period
            self._publish(d)

    def _on_velocity(self, d: _Drone, v: Any) -> None:
        north, east = _finite(v.north_m_s), _finite(v.east_m_s)
        d.ground_speed_m_s = None if north is None or east is None else math.hypot(north, east)

    def _on_battery(self, d: _Drone, v: Any) -> None:
        pct = _finite(v.remaining_percent)  # MAVSDK 2+ reports 0..100; -1/NaN when unknown
        d.battery_pct = None if pct is None or pct < 0 else pct

    def _on_mode(self, d: _Drone, v: Any) -> None:
        try:
            mode = FlightMode(v.name.lower())
        except ValueError:
            mode = FlightMode.UNKNOWN
        if mode is not d.flight_mode:
            d.flight_mode = mode
            self._publish(d)

    def _on_health(self, d: _Drone, v: Any) -> None:
        lost_position = (d.global_position_ok and not v.is_global_position_ok) or (
            d.home_position_ok and not v.is_home_position_ok
        )
        d.global_position_ok = bool(v.is_global_position_ok)
        d.home_position_ok = bool(v.is_home_position_ok)
        d.armable = bool(v.is_armable)
        if lost_position:
            # Estimator restarted (reboot) or GPS lost: not dispatchable either way, so this is
            # the moment to re-verify the parameters a reboot may have reset.
            self._resync(d, "global/home position no longer ok")

    def _on_status_text(self, d: _Drone, v: Any) -> None:
        text = str(v.text).strip()
        if text:
            d.status_texts.append((time.monotonic(), text))
            log.info("%s: vehicle says %r", d.link.drone_id, text)

    def _on_progress(self, d: _Drone, v: Any) -> None:
        d.mission_current = int(v.current)
        d.mission_total = int(v.total)

    # ------------------------------------------------------------------ safety parameters

    async def _on_connected(self, d: _Drone, epoch: int) -> None:
        """On every (re)connection: stream rates, then set and confirm the safety parameters."""
        await self._set_rates(d)
        # A parameter the vehicle keeps refusing is retried with a growing pause (1, 2, 4, 8 s):
        # soon enough to notice a fix, without a warning in the log every second for ever.
        retry_s = 1.0
        while d.connect_epoch == epoch and not self._closed:
            try:
                confirmed = await self._apply_params(d)
            except ParamError as exc:
                log.warning("%s: safety parameters: %s", d.link.drone_id, exc)
                confirmed = False
            if d.connect_epoch != epoch:
                return
            if confirmed != d.params_ok:
                log.info("%s: safety parameters %s", d.link.drone_id,
                         "confirmed" if confirmed else "NOT confirmed")
                d.params_ok = confirmed
                self._changed(d)
                self._publish(d)
            if confirmed:
                retry_s = 1.0
                await asyncio.sleep(_PARAM_RECHECK_S)
            else:
                await asyncio.sleep(retry_s)
                retry_s = min(retry_s * 2.0, 8.0)

    async def _apply_params(self, d: _Drone) -> bool:
        """Read each safety parameter; set the ones that differ; read them back.

        Returns True only when every parameter read back equals its target.
        """
        ok = True
        for target in self._targets:
            value = await self._get_param(d, target)
            if _param_equal(value, target):
                continue
            log.info("%s: %s is %s, setting %s", d.link.drone_id, target.name, value, target.value)
            if d.params_ok:
                # Changed behind our back (a reboot the link did not notice, another ground
                # station): not dispatchable until confirmed again.
                d.params_ok = False
                self._changed(d)
                self._publish(d)
            await self._set_param(d, target)
            value = await self._get_param(d, target)
            if not _param_equal(value, target):
                log.warning("%s: %s reads back %s, wanted %s", d.link.drone_id, target.name,
                            value, target.value)
                ok = False
        return ok

    async def _get_param(self, d: _Drone, target: _ParamTarget) -> float:
        assert d.param is not None
        is_int = d.param_types.get(target.name, target.is_int)
        try:
            value = await (d.param.get_param_int(target.name) if is_int
                           else d.param.get_param_float(target.name))
        except ParamError as exc:
            if exc.result.name != "WRONG_TYPE":
                raise
            # The vehicle declares the other type (PX4 versions differ); remember it.
            is_int = not is_int
            d.param_types[target.name] = is_int
            value = await (d.param.get_param_int(target.name) if is_int
                           else d.param.get_param_float(target.name))
        d.param_types[target.name] = is_int
        return float(value)

    async def _set_param(self, d: _Drone, target: _ParamTarget) -> None:
        assert d.param is not None
        if d.param_types.get(target.name, target.is_int):
            await d.param.set_param_int(target.name, int(round(target.value)))
        else:
            await d.param.set_param_float(target.name, float(target.value))

    async def _set_rates(self, d: _Drone) -> None:
        assert d.telemetry is not None
        tel = d.telemetry
        rate = self._rate_hz
        d.rates_set_mono = time.monotonic()
        setters: Iterable[tuple[str, Callable[[float], Awaitable[Any]]]] = (
            ("position", tel.set_rate_position),
            ("velocity_ned", tel.set_rate_velocity_ned),
            ("battery", tel.set_rate_battery),
            # EXTENDED_SYS_STATE (in air / landed state): 1 Hz by default on PX4, which made the
            # controller notice a take-off up to a second late. (set_rate_landed_state asks for
            # the same message: one request covers both.)
            ("in_air", tel.set_rate_in_air),
        )
        for label, setter in setters:
            try:
                await setter(rate)
            except MavsdkError as exc:
                # Telemetry still flows at the vehicle's default rate; not fatal.
                log.warning("%s: set_rate_%s(%g) failed: %s", d.link.drone_id, label, rate, exc)


def _native_call(start: Callable[[Callable[[Any, Any], None]], None]) -> asyncio.Future[Any]:
    """Start a native MAVSDK ``*_async`` call; the returned future gets its result code.

    The asyncio binding runs every call in a worker thread that blocks until MAVSDK answers, so
    each command costs a hand-off to a pool thread and back on top of the MAVLink round trip. The
    native calls return at once and call back from MAVSDK's own thread: one hand-off (to the event
    loop) per command.
    """
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[Any] = loop.create_future()

    def settle(result: Any) -> None:
        if not fut.done():  # the caller may have given up (cancelled)
            fut.set_result(result)

    def done(result: Any, _user_data: Any = None) -> None:  # on a MAVSDK thread
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            loop.call_soon_threadsafe(settle, result)

    start(done)
    return fut


def _with_current(items: list[MissionItem]) -> list[MissionItem]:
    # MAVSDK refuses a plan without exactly one current item (CURRENT_INVALID); plans from
    # ``missions`` may leave them all False, meaning "start at the first".
    if items and not any(it.current for it in items):
        items[0].current = 1
    return items


def _param_equal(value: float, target: _ParamTarget) -> bool:
    if target.is_int:
        return int(round(value)) == int(round(target.value))
    return math.isclose(value, target.value, rel_tol=0.0, abs_tol=1e-3)


def _check_position(drone_id: str, action: str, lat: float, lon: float, alt: float) -> None:
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0 and math.isfinite(alt)):
        raise CommandRejected(
            drone_id, action, f"invalid target lat={lat} lon={lon} alt_amsl_m={alt}"
        )


_CLOSED: Any = object()
