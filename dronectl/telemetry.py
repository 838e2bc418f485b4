"""Telemetry fan-out and recording.

:class:`TelemetryHub` reads each drone's gateway stream and publishes :class:`TelemetryUpdated`
events on the bus at the configured rate (default 5 Hz, up to 20): a snapshot is published the
moment it arrives, at once when a discrete field changes (link, mode, armed, in air, mission
progress, health) and otherwise when the rate allows ("at most N Hz", never two within half a
period; no sampling clock of its own, so no phase delay). When a drone's stream goes quiet, the
hub still publishes the gateway's latest snapshot every period, so a lost link *shows* as lost and
subscribers keep their rate.

:class:`TelemetryRecorder` keeps a 1 Hz track of every flying drone (and of every drone with a
mission) in the store, written in one transaction per flush, so a track survives restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import time
from collections.abc import Callable
from typing import Any

from dronectl.events import EventBus, Subscription, TelemetryUpdated
from dronectl.gateway import Telemetry, VehicleGateway
from dronectl.metrics import Metrics
from dronectl.store import Store

__all__ = ["TelemetryHub", "TelemetryRecorder"]

log = logging.getLogger(__name__)

#: (mission id, incident id) a drone is working for, or (None, None).
Context = Callable[[str], tuple[int | None, int | None]]


def _key(t: Telemetry) -> tuple[Any, ...]:
    return (t.link, t.flight_mode, t.armed, t.in_air, t.mission_current, t.mission_total, t.health_ok, t.params_ok)


class TelemetryHub:
    """Publishes every drone's telemetry on the bus at ``rate_hz``."""

    def __init__(self, gateway: VehicleGateway, bus: EventBus, *, rate_hz: float,
                 context: Context | None = None, metrics: Metrics | None = None) -> None:
        self.gateway = gateway
        self.bus = bus
        self.period_s = 1.0 / rate_hz
        self.context = context or (lambda _d: (None, None))
        self.metrics = metrics
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        for d in self.gateway.drone_ids():
            self._tasks.append(asyncio.create_task(self._run(d), name=f"telemetry-{d}"))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    def _publish(self, t: Telemetry) -> None:
        mission_id, incident_id = self.context(t.drone_id)
        self.bus.publish(TelemetryUpdated(telemetry=t, mission_id=mission_id, incident=incident_id))
        if self.metrics:
            self.metrics.telemetry_frames.labels(drone=t.drone_id).inc()

    async def _run(self, drone_id: str) -> None:
        """Forward one drone's snapshots as they arrive; fill in while the stream is quiet.

        * A snapshot that changes a discrete field (link, mode, armed, ...) goes out at once.
        * Any other snapshot goes out at once when the rate allows: a generic cell rate
          algorithm ("at most ``rate_hz`` on average, never two within half a period"), timed by
          the snapshot's own ``time_us`` so that a stream the gateway already limited the same way
          passes unchanged, whatever its phase. There is no sampling clock of our own. A snapshot
          that arrives too early (only from a source faster than the rate) is held until it is
          due and replaced by any newer one: what goes out is always the newest.
        * While the stream is quiet (nothing for 1.5 periods), the gateway's latest snapshot is
          published every period, so a lost link *shows* as lost and subscribers keep their rate.
          Such fills and the discrete changes do not use up the allowance: the next fresh
          snapshot is never held back by them.
        """
        period = self.period_s
        tau = 0.5 * period  # tolerance: how early a snapshot may be and still go out at once
        slack = 0.05 * period  # the gateway's stamps and ours differ by microseconds, not more
        st = _HubState()

        def publish(t: Telemetry, *, credit: bool, at: float | None = None) -> None:
            if credit:
                st.tat = max(st.tat, t.time_us / 1e6 if at is None else at) + period
            st.pending = None
            st.key = _key(t)
            st.last_pub = time.monotonic()
            self._publish(t)

        async def read() -> None:
            while True:
                try:
                    async for t in self.gateway.telemetry(drone_id):
                        st.last_rx = time.monotonic()
                        ts = t.time_us / 1e6
                        if ts < st.tat - 10 * period:
                            st.tat = -math.inf  # the wall clock went back: start afresh
                        if _key(t) != st.key:
                            publish(t, credit=False)
                        elif ts >= st.tat - tau - slack:
                            publish(t, credit=True)
                        else:
                            st.pending = t
                        st.wake.set()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("telemetry stream of %s failed; reopening", drone_id)
                await asyncio.sleep(period)

        reader = asyncio.create_task(read(), name=f"telemetry-read-{drone_id}")
        try:
            while True:
                st.wake.clear()
                if st.pending is not None:
                    # Due when the allowance has caught up with it (wall clock, as ``time_us``).
                    delay = (st.tat - tau) - time.time()
                else:
                    delay = max(st.last_pub + period, st.last_rx + 1.5 * period) - time.monotonic()
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(delay):
                            await st.wake.wait()
                    if st.wake.is_set():
                        continue  # something arrived (or went out): decide again
                if st.pending is not None:
                    publish(st.pending, credit=True, at=time.time())
                else:
                    # Quiet stream: publish what the gateway knows now (e.g. link lost).
                    publish(self.gateway.latest(drone_id), credit=False)
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)


@dataclasses.dataclass(eq=False)
class _HubState:
    """One drone's forwarding state in :meth:`TelemetryHub._run` (event loop only)."""

    tat: float = -math.inf  # rate limiter: theoretical time of the next snapshot (wall clock, s)
    key: tuple[Any, ...] | None = None  # discrete fields of the last published snapshot
    last_pub: float = -math.inf  # monotonic
    last_rx: float = -math.inf  # monotonic
    pending: Telemetry | None = None  # arrived too early; goes out when due unless replaced
    wake: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)


class TelemetryRecorder:
    """Decimates published telemetry to ``record_hz`` per drone and writes it to the store."""

    def __init__(self, store: Store, bus: EventBus, *, record_hz: float = 1.0, flush_s: float = 1.0) -> None:
        self.store = store
        self.bus = bus
        self.min_dt_us = int(1e6 / record_hz)
        self.flush_s = flush_s
        self._last: dict[str, int] = {}
        self._rows: list[dict[str, Any]] = []
        self._sub: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._sub = self.bus.subscribe("recorder", maxsize=100_000, accept=lambda e: isinstance(e, TelemetryUpdated))
        self._task = asyncio.create_task(self._consume(), name="recorder")
        self._flusher = asyncio.create_task(self._flush_loop(), name="recorder-flush")

    async def stop(self) -> None:
        for t in (self._task, self._flusher):
            if t is not None:
                t.cancel()
        await asyncio.gather(*(t for t in (self._task, self._flusher) if t is not None), return_exceptions=True)
        if self._sub is not None:
            self._sub.close()
        self.flush()

    def offer(self, ev: TelemetryUpdated) -> None:
        t = ev.telemetry
        if t.lat_deg is None or t.lon_deg is None:
            return
        if ev.mission_id is None and not t.in_air:
            return
        last = self._last.get(t.drone_id)
        if last is not None and t.time_us - last < self.min_dt_us:
            return
        self._last[t.drone_id] = t.time_us
        self._rows.append({
            "drone_id": t.drone_id, "mission_id": ev.mission_id, "time_us": t.time_us, "lat_deg": t.lat_deg,
            "lon_deg": t.lon_deg, "alt_rel_m": t.alt_rel_m, "alt_amsl_m": t.alt_amsl_m,
            "battery_pct": t.battery_pct, "flight_mode": t.flight_mode.value, "link": t.link.value,
            "in_air": int(t.in_air),
        })

    def flush(self) -> None:
        rows, self._rows = self._rows, []
        self.store.insert_telemetry(rows)

    async def _consume(self) -> None:
        assert self._sub is not None
        async for ev in self._sub:
            assert isinstance(ev, TelemetryUpdated)
            self.offer(ev)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_s)
            try:
                self.flush()
            except Exception:
                log.exception("recorder flush failed")
