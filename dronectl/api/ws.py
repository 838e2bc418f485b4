"""``WS /api/telemetry``: telemetry frames and service events, in order, per client.

Query parameters: ``drone`` (repeatable or comma-separated), ``incident`` (repeatable or
comma-separated), ``token`` (browsers cannot set headers; a ``Authorization: Bearer`` header works
too), ``lang`` (``id`` default, ``en``; else ``Accept-Language``): events' ``reason`` is human text
in that language, its code in ``reason_code``. Officers only receive frames and events of incidents assigned to them.

Each client has its own bounded queue on the bus: a client that cannot keep up is dropped (closed
with code 1013) without slowing anyone else; a dead client is noticed by a failed send or by the
disconnect message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from dronectl.api.auth import token_from
from dronectl.api.i18n import localize_reason, pick_language_ws, t
from dronectl.api.routes import telemetry_json
from dronectl.config import Role
from dronectl.events import Event, SubscriberDropped, TelemetryUpdated
from dronectl.service import Service

__all__ = ["ws_router", "frame_of", "FrameCache"]

ws_router = APIRouter(prefix="/api")

SEND_TIMEOUT_S = 10.0
BATCH = 64


def _multi(ws: WebSocket, name: str) -> set[str]:
    vals: set[str] = set()
    for v in ws.query_params.getlist(name):
        vals.update(x.strip() for x in v.split(",") if x.strip())
    return vals


def frame_of(ev: Event) -> dict[str, Any]:
    if isinstance(ev, TelemetryUpdated):
        return {"type": "telemetry", "seq": ev.seq, "time_us": ev.time_us, "mission_id": ev.mission_id,
                "incident_id": ev.incident, **telemetry_json(ev.telemetry)}
    return ev.to_json()


@ws_router.websocket("/telemetry")
async def telemetry_ws(ws: WebSocket) -> None:
    svc: Service = ws.app.state.service
    lang = pick_language_ws(ws.query_params.get("lang"), ws.headers.get("accept-language"),
                            ws.app.state.default_language)
    token = token_from(ws.headers, ws.query_params, allow_query=True)
    who = svc.authenticate(token) if token else None
    if who is None:
        # Close before accepting: the handshake fails with 403 (the reason in the close frame).
        await ws.close(code=1008, reason=t("bad_token" if token else "not_authenticated", lang)[:120])
        return
    drones = _multi(ws, "drone")
    try:
        incidents = {int(x) for x in _multi(ws, "incident")}
    except ValueError:
        await ws.close(code=1008, reason="incident: " + t("f.integer", lang))
        return
    if who.role is Role.OFFICER:
        mine = {r["id"] for r in svc.store.incidents(officer=who.subject or "\x00nobody", limit=10_000)}
        if incidents - mine:
            await ws.close(code=1008, reason=t("incident_not_assigned", lang,
                                               incident_id=",".join(map(str, sorted(incidents - mine))))[:120])
            return
        incidents = incidents or mine
        if not incidents:
            incidents = {-1}  # nothing to see yet, but the connection is legitimate

    def accept(ev: Event) -> bool:
        if drones and ev.drone_id not in drones:
            return False
        if incidents and ev.incident_id not in incidents:
            return False
        return True

    await ws.accept()
    # Default 512 frames: ~20 s of 5 Hz frames for 5 drones, generous for a phone on a bad link.
    sub = svc.bus.subscribe(f"ws:{who.name}", maxsize=svc.settings.telemetry.ws_queue, accept=accept)
    svc.metrics.ws_clients.inc()
    cache: FrameCache = ws.app.state.frame_cache

    async def watch_disconnect() -> None:
        try:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                while True:
                    msg = await ws.receive()
                    if msg["type"] == "websocket.disconnect":
                        return
        finally:
            sub.close()  # wakes the sender below

    watcher = asyncio.create_task(watch_disconnect())
    try:
        await ws.send_json({"type": "hello", "rate_hz": svc.settings.telemetry.rate_hz, "role": who.role.value,
                            "drones": sorted(drones) or list(svc.gateway.drone_ids()),
                            "incidents": sorted(i for i in incidents if i >= 0)})
        while True:
            try:
                batch = [await sub.get()]
                # Whatever else is already queued goes out in the same pass (one timeout, no task per frame).
                while len(batch) < BATCH and (ev := sub.get_nowait()) is not None:
                    batch.append(ev)
            except SubscriberDropped:
                svc.metrics.ws_dropped.inc()
                with contextlib.suppress(Exception):
                    await ws.close(code=1013, reason="too slow")
                break
            except StopAsyncIteration:
                if not watcher.done():  # the server is stopping, not the client leaving
                    with contextlib.suppress(Exception):
                        await ws.close(code=1001, reason="server stopping")
                break
            try:
                # A client whose socket stopped draining is as slow as one that reads slowly.
                async with asyncio.timeout(SEND_TIMEOUT_S):
                    for ev in batch:
                        await ws.send_text(cache.text(ev, lang))
            except TimeoutError:
                svc.metrics.ws_dropped.inc()
                break
            except Exception:
                break  # dead client
    finally:
        sub.close()
        watcher.cancel()
        svc.metrics.ws_clients.dec()


class FrameCache:
    """Each event is encoded to JSON once per language, whatever the number of clients that receive it.

    Frames that carry a ``reason`` (mission state changes, incident updates) are rendered in the
    client's language (human text in ``reason``, the code in ``reason_code``); the others are the
    same in every language and are encoded once.
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._texts: dict[tuple[int, str], str] = {}

    def text(self, ev: Event, lang: str = "id") -> str:
        key = (ev.seq, lang if hasattr(ev, "reason") else "")
        t = self._texts.get(key)
        if t is None:
            frame = frame_of(ev)
            if key[1]:
                frame = localize_reason(frame, lang)
            t = json.dumps(frame, separators=(",", ":"))
            if len(self._texts) >= self.size:
                # Drop the oldest half (dicts keep insertion order); clients lag by far less.
                for k in list(self._texts)[: self.size // 2]:
                    del self._texts[k]
            self._texts[key] = t
        return t
