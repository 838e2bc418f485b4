"""WS /api/telemetry over a real uvicorn server: auth, filters, rate, event order, dropping."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from dronectl.api import create_app
from dronectl.api.server import serve_app
from dronectl.events import IncidentUpdated
from tests.dronectl.conftest import TOKENS, Live, auth, make_settings, memory_gateway


async def frames_for(ws: ClientConnection, seconds: float) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            async with asyncio.timeout(left):
                out.append(json.loads(await ws.recv()))
        except TimeoutError:
            break
    return out


async def test_token_query_hello_and_rate(live: Live) -> None:
    async with connect(f"{live.ws_url}?token={TOKENS['dispatcher']}") as ws:
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello" and hello["rate_hz"] == 5.0 and hello["role"] == "dispatcher"
        assert set(hello["drones"]) == {"kudus-1", "kudus-2", "jati-1"}
        frames = await frames_for(ws, 3.0)
    tel = [f for f in frames if f["type"] == "telemetry"]
    for d in ("kudus-1", "kudus-2", "jati-1"):
        mine = [f for f in tel if f["drone_id"] == d]
        # 5 Hz configured; allow for a loaded CI machine but catch a broken fan-out (<= 1 Hz).
        assert len(mine) >= 9, (d, len(mine))
        assert {"lat_deg", "lon_deg", "alt_rel_m", "battery_pct", "flight_mode", "link", "health_ok",
                "mission_current", "mission_total", "armed", "in_air", "heading_deg"} <= set(mine[0])
    seqs = [f["seq"] for f in frames]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


async def test_bearer_header_and_drone_filter(live: Live) -> None:
    async with connect(f"{live.ws_url}?drone=jati-1", additional_headers=auth("dispatcher")) as ws:
        assert json.loads(await ws.recv())["drones"] == ["jati-1"]
        frames = await frames_for(ws, 1.0)
    assert frames and {f["drone_id"] for f in frames} == {"jati-1"}


@pytest.mark.parametrize("query", ["", "?token=nope-nope-nope-nope"])
async def test_bad_or_missing_token_refused(live: Live, query: str) -> None:
    with pytest.raises(InvalidStatus) as e:
        async with connect(live.ws_url + query):
            pass
    assert e.value.response.status_code == 403
    assert live.service.bus.subscriber_count == 2  # dispatcher + recorder only


async def test_events_in_order_with_telemetry(live: Live, report: Any) -> None:
    async with connect(f"{live.ws_url}?token={TOKENS['dispatcher']}") as ws:
        await ws.recv()
        r = await live.client.post("/api/reports", json=report(), headers=auth("integration"))
        inc, mid = r.json()["incident_id"], r.json()["mission_id"]
        frames = await frames_for(ws, 1.5)
    kinds = [f["type"] for f in frames]
    assert "report_received" in kinds and "telemetry" in kinds
    states = [f["to_state"] for f in frames if f["type"] == "mission_state" and f["mission_id"] == mid]
    assert states == ["planned", "uploading", "launching", "en_route"]
    assert kinds.index("report_received") < kinds.index("mission_state")
    # Telemetry of the flying drone carries its mission and incident.
    tagged = [f for f in frames if f["type"] == "telemetry" and f["mission_id"] == mid]
    assert tagged and all(f["incident_id"] == inc for f in tagged)
    seqs = [f["seq"] for f in frames]
    assert seqs == sorted(seqs)


async def test_officer_sees_only_assigned_incident(live: Live, report: Any) -> None:
    r = await live.client.post("/api/reports", json=report(), headers=auth("integration"))
    inc = r.json()["incident_id"]
    with pytest.raises(InvalidStatus):
        async with connect(f"{live.ws_url}?incident={inc}&token={TOKENS['officer_andi']}"):
            pass
    await live.client.post(f"/api/incidents/{inc}/assign", json={"officer": "andi"}, headers=auth("dispatcher"))
    async with connect(f"{live.ws_url}?token={TOKENS['officer_andi']}") as ws:
        assert json.loads(await ws.recv())["incidents"] == [inc]
        frames = await frames_for(ws, 1.0)
    assert frames and all(f.get("incident_id", f.get("incident")) == inc for f in frames)


@pytest.fixture
async def small_queue(tmp_path: Path) -> AsyncIterator[Live]:
    s = make_settings(tmp_path, telemetry={"rate_hz": 5.0, "ws_queue": 4})
    gw = memory_gateway(s)
    app = create_app(s, gateway=gw)
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url) as client:
        yield Live(url, client, app.state.service, gw)


async def test_slow_client_dropped_without_slowing_others(small_queue: Live) -> None:
    live = small_queue
    svc = live.service
    async with connect(f"{live.ws_url}?token={TOKENS['dispatcher']}&drone=kudus-1") as fast, \
            connect(f"{live.ws_url}?token={TOKENS['dispatcher']}&incident=77") as slow:
        await fast.recv()
        await slow.recv()
        # A burst the slow client's queue (4) cannot absorb before its sender runs: it is dropped.
        for _ in range(10):
            svc.bus.publish(IncidentUpdated(incident=77, status="queued"))
        with pytest.raises(ConnectionClosed) as e:
            while True:
                await slow.recv()
        assert e.value.rcvd is not None and e.value.rcvd.code == 1013
        # The other client keeps its rate.
        frames = await frames_for(fast, 2.0)
        assert len([f for f in frames if f["type"] == "telemetry"]) >= 6
    assert svc.bus.dropped_total == 1
    metrics = (await live.client.get("/metrics")).text
    assert "dronectl_ws_dropped_total 1.0" in metrics


async def test_dead_client_is_cleaned_up(live: Live) -> None:
    ws = await connect(f"{live.ws_url}?token={TOKENS['dispatcher']}")
    await ws.recv()
    assert live.service.bus.subscriber_count == 3
    ws.transport.abort()  # vanish without a close handshake
    deadline = time.monotonic() + 20
    while live.service.bus.subscriber_count != 2:
        assert time.monotonic() < deadline, "dead client never removed"
        await asyncio.sleep(0.05)
    assert "dronectl_ws_clients 0.0" in (await live.client.get("/metrics")).text




async def test_permessage_deflate_not_negotiated(live: Live) -> None:
    # websockets offers permessage-deflate as browsers do; the server must decline it (each frame
    # would otherwise be compressed once per client in the event loop: see api/server.py).
    async with connect(f"{live.ws_url}?token={TOKENS['dispatcher']}") as ws:
        assert "permessage-deflate" not in (ws.response.headers.get("Sec-WebSocket-Extensions") or "")
        assert json.loads(await ws.recv())["type"] == "hello"
