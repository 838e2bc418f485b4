"""The event bus: ordered delivery, bounded queues, slow subscribers dropped alone."""

from __future__ import annotations

import asyncio

import pytest

from dronectl.events import EventBus, IncidentUpdated, LinkChanged, SubscriberDropped
from dronectl.gateway import LinkState


async def test_in_order_with_sequence_numbers_and_filters() -> None:
    bus = EventBus()
    all_ = bus.subscribe("all")
    links = bus.subscribe("links", accept=lambda e: isinstance(e, LinkChanged))
    for i in range(5):
        bus.publish(IncidentUpdated(incident=i, status="queued"))
        bus.publish(LinkChanged(drone="d", link=LinkState.LOST if i % 2 else LinkState.CONNECTED))
    got = [await all_.get() for _ in range(10)]
    assert [e.seq for e in got] == list(range(1, 11))
    got_links = [await links.get() for _ in range(5)]
    assert all(isinstance(e, LinkChanged) for e in got_links)
    assert [e.seq for e in got_links] == [2, 4, 6, 8, 10]
    assert got[1].to_json() == {"type": "link", "time_us": got[1].time_us, "seq": 2, "drone": "d",
                                "link": "connected", "mission_id": None, "incident": None}


async def test_slow_subscriber_dropped_others_unaffected() -> None:
    bus = EventBus()
    slow = bus.subscribe("slow", maxsize=3)
    fast = bus.subscribe("fast", maxsize=1000)
    received: list[int] = []

    async def consume() -> None:
        async for ev in fast:
            received.append(ev.seq)

    task = asyncio.create_task(consume())
    for i in range(100):
        bus.publish(IncidentUpdated(incident=i, status="x"))  # never blocks, whoever is slow
    await asyncio.sleep(0.01)
    assert slow.dropped and bus.subscriber_count == 1 and bus.dropped_total == 1
    with pytest.raises(SubscriberDropped):
        await slow.get()
    assert received == list(range(1, 101))
    fast.close()
    await asyncio.wait_for(task, 1.0)  # close ends the iteration


async def test_close_wakes_a_waiting_consumer() -> None:
    bus = EventBus()
    sub = bus.subscribe("x")

    async def consume() -> list[int]:
        return [e.seq async for e in sub]

    task = asyncio.create_task(consume())
    bus.publish(IncidentUpdated(incident=1, status="x"))
    await asyncio.sleep(0)
    bus.close()
    assert await asyncio.wait_for(task, 1.0) == [1]
