"""Telemetry hub and recorder: rate, quiet streams shown as they are, 1 Hz decimation."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from dronectl.events import EventBus, TelemetryUpdated
from dronectl.gateway import LinkState
from dronectl.store import Store
from dronectl.telemetry import TelemetryHub, TelemetryRecorder
from dronectl.vehicles.memory import MemoryGateway


async def test_hub_keeps_rate_on_a_quiet_stream_and_shows_link_loss() -> None:
    gw = MemoryGateway({"d": (-6.8, 110.84, 40.0)})
    bus = EventBus()
    sub = bus.subscribe("t", maxsize=10_000)
    hub = TelemetryHub(gw, bus, rate_hz=10.0)
    await hub.start()
    try:
        await asyncio.sleep(1.0)  # the memory gateway sends nothing unless something changes
        frames = []
        while not sub.queue.empty():
            frames.append(await sub.get())
        assert len(frames) >= 7  # ~10 Hz from the gateway's latest snapshot
        gw.update("d", link=LinkState.LOST)
        await asyncio.sleep(0.3)
        last = None
        while not sub.queue.empty():
            last = await sub.get()
        assert isinstance(last, TelemetryUpdated)
        assert last.telemetry.link is LinkState.LOST and last.telemetry.health_ok is False
    finally:
        await hub.stop()


async def test_hub_rate_limits_a_fast_stream_but_passes_discrete_changes() -> None:
    gw = MemoryGateway({"d": (-6.8, 110.84, 40.0)})
    bus = EventBus()
    sub = bus.subscribe("t", maxsize=10_000)
    hub = TelemetryHub(gw, bus, rate_hz=5.0)
    await hub.start()
    try:
        for k in range(100):  # 100 Hz position updates for one second
            gw.update("d", lat_deg=-6.8 + k * 1e-5)
            await asyncio.sleep(0.01)
        gw.update("d", armed=True)  # a discrete change goes out at once
        await asyncio.sleep(0.05)
        frames = []
        while not sub.queue.empty():
            frames.append(await sub.get())
        assert 3 <= len(frames) <= 12, len(frames)
        assert frames[-1].telemetry.armed is True
    finally:
        await hub.stop()


def test_recorder_decimates_to_1hz(tmp_path: Path) -> None:
    store = Store(tmp_path / "d.db")
    rec = TelemetryRecorder(store, EventBus(), record_hz=1.0)
    gw = MemoryGateway({"d": (-6.8, 110.84, 40.0)})
    base = gw.latest("d")
    for k in range(50):  # 5 s at 10 Hz, flying
        t = dataclasses.replace(base, time_us=1_000_000 * 100 + k * 100_000, in_air=True, lat_deg=-6.8 + k * 1e-5)
        rec.offer(TelemetryUpdated(telemetry=t, mission_id=7))
    # On the ground without a mission: not recorded.
    rec.offer(TelemetryUpdated(telemetry=dataclasses.replace(base, time_us=200_000_000), mission_id=None))
    rec.flush()
    rows = store.track(7)
    assert len(rows) == 5 and store.count("telemetry") == 5
    assert [r["time_us"] for r in rows] == [100_000_000 + k * 1_000_000 for k in range(5)]
    store.close()
