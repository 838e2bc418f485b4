"""Typed service events and the one in-process bus they travel on.

Modules talk by events as PX4 modules talk over uORB topics: the telemetry hub publishes
:class:`TelemetryUpdated`, the dispatcher publishes mission, incident and link events, and the
recorder, the dispatcher and every WebSocket client subscribe.

Every subscriber has its own bounded queue. :meth:`EventBus.publish` never blocks and never waits
for anybody: when a subscriber's queue is full the subscriber is *dropped* (marked, removed, and its
iterator raises :class:`SubscriberDropped`), so a slow WebSocket client cannot slow the others.
Within one subscriber, events arrive in publication order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from dronectl.gateway import LinkState, Telemetry

__all__ = [
    "Event",
    "TelemetryUpdated",
    "ReportReceived",
    "IncidentUpdated",
    "MissionStateChanged",
    "LinkChanged",
    "LowBattery",
    "LandedAway",
    "EventBus",
    "Subscription",
    "SubscriberDropped",
    "now_us",
]


def now_us() -> int:
    return time.time_ns() // 1000


def _jsonable(v: Any) -> Any:
    if isinstance(v, enum.Enum):
        return v.value
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {f.name: _jsonable(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    return v


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of every event; ``seq`` orders all events of one bus."""

    kind: ClassVar[str] = "event"
    time_us: int = field(default_factory=now_us)
    seq: int = 0  # set by the bus at publication

    # Subscription filters read these; events carry them as ``drone`` / ``incident`` fields (the
    # names on the wire), and an event without such a field concerns no drone / incident.
    @property
    def drone_id(self) -> str | None:
        return getattr(self, "drone", None)

    @property
    def incident_id(self) -> int | None:
        return getattr(self, "incident", None)

    def to_json(self) -> dict[str, Any]:
        body = {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}
        return {"type": self.kind, **body}


@dataclass(frozen=True, slots=True, kw_only=True)
class TelemetryUpdated(Event):
    kind: ClassVar[str] = "telemetry"
    telemetry: Telemetry
    mission_id: int | None = None
    incident: int | None = None

    @property
    def drone_id(self) -> str | None:
        return self.telemetry.drone_id


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportReceived(Event):
    kind: ClassVar[str] = "report_received"
    report_id: int
    incident: int
    merged: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentUpdated(Event):
    kind: ClassVar[str] = "incident_updated"
    incident: int
    status: str
    reason: str | None = None
    mission_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MissionStateChanged(Event):
    kind: ClassVar[str] = "mission_state"
    mission_id: int
    incident: int
    drone: str
    from_state: str | None
    to_state: str
    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkChanged(Event):
    kind: ClassVar[str] = "link"
    drone: str
    link: LinkState
    mission_id: int | None = None
    incident: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LowBattery(Event):
    kind: ClassVar[str] = "low_battery"
    drone: str
    battery_pct: float
    mission_id: int | None = None
    incident: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LandedAway(Event):
    """A drone on a mission came down away from its base: where to recover it."""

    kind: ClassVar[str] = "landed_away"
    drone: str
    mission_id: int
    incident: int
    lat_deg: float | None
    lon_deg: float | None
    dist_from_base_m: float | None
    battery_pct: float | None
    state: str  # the mission state it was in when it came down


class SubscriberDropped(Exception):
    """The subscriber fell behind (its queue filled) and was removed from the bus."""


class Subscription:
    """One subscriber's bounded queue; iterate it with ``async for``."""

    def __init__(self, bus: EventBus, name: str, maxsize: int, accept: Callable[[Event], bool] | None) -> None:
        self.bus = bus
        self.name = name
        self.accept = accept
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=maxsize)
        self.dropped = False
        self.closed = False

    def _offer(self, event: Event) -> None:
        if self.accept is not None and not self.accept(event):
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped = True
            self.bus._remove(self)

    async def get(self) -> Event:
        """The next event; raises :class:`SubscriberDropped` once dropped, ``StopAsyncIteration`` when closed."""
        if self.dropped:
            raise SubscriberDropped(self.name)
        ev = await self.queue.get()
        if ev is None:
            raise StopAsyncIteration
        return ev

    def get_nowait(self) -> Event | None:
        """The next event if one is queued, else None (raises like :meth:`get` when dropped/closed)."""
        if self.dropped:
            raise SubscriberDropped(self.name)
        try:
            ev = self.queue.get_nowait()
        except asyncio.QueueEmpty:
            return None
        if ev is None:
            raise StopAsyncIteration
        return ev

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        return await self.get()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.bus._remove(self)
            # Wake a waiting consumer; if the queue is full it will find the flag later.
            try:
                self.queue.put_nowait(None)
            except asyncio.QueueFull:
                self.dropped = True


class EventBus:
    """In-process publish/subscribe; publication is synchronous and never blocks."""

    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self._seq = itertools.count(1)
        self.dropped_total = 0

    def subscribe(
        self, name: str, *, maxsize: int = 256, accept: Callable[[Event], bool] | None = None
    ) -> Subscription:
        sub = Subscription(self, name, maxsize, accept)
        self._subs.append(sub)
        return sub

    def _remove(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
            if sub.dropped:
                self.dropped_total += 1

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)

    def publish(self, event: Event) -> Event:
        """Stamp ``event`` with the next sequence number and offer it to every subscriber."""
        stamped = dataclasses.replace(event, seq=next(self._seq))
        for sub in list(self._subs):
            sub._offer(stamped)
        return stamped

    def close(self) -> None:
        for sub in list(self._subs):
            sub.close()
