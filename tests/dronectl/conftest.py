"""Fixtures for dronectl's service tests: settings built in code, the in-memory gateway, a live app.

The in-memory gateway only speeds up dispatch-logic tests; the flight evidence is in the e2e tests
(MAVSDK against sim).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from dronectl.api import create_app
from dronectl.api.server import serve_app
from dronectl.config import Settings
from dronectl.service import Service
from dronectl.vehicles.memory import MemoryGateway

# Approximate positions (labelled so in examples/muria/config.toml).
HQ = (-6.8036, 110.8417)
JATI = (-6.8262, 110.8452)
EVENT_CENTRE = (-6.8148, 110.8405)  # a test event zone between the two bases (radius 300 m)

TOKENS = {
    "dispatcher": "tok-dispatcher-0123456789",
    "integration": "tok-integration-0123456789",
    "admin": "tok-admin-0123456789abcdef",
    "officer_andi": "tok-officer-andi-0123456789",
    "officer_budi": "tok-officer-budi-0123456789",
}


def airspace_doc() -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [EVENT_CENTRE[1], EVENT_CENTRE[0]]},
             "properties": {"name": "Acara alun-alun (test)", "kind": "event", "radius_m": 300}},
        ],
    }


def make_settings(tmp_path: Path, **over: Any) -> Settings:
    """A small Kudus fleet (2 drones at the HQ, 1 at Polsek Jati), tokens for every role."""
    air = tmp_path / "airspace.geojson"
    air.write_text(json.dumps(airspace_doc()))
    raw: dict[str, Any] = {
        "area_name": "test Kudus",
        "base_dir": str(tmp_path),
        "data_dir": "data",
        "airspace_path": "airspace.geojson",
        "bases": [
            {"id": "hq", "name": "Polres Kudus (approx.)", "lat_deg": HQ[0], "lon_deg": HQ[1], "alt_amsl_m": 50,
             "service_radius_m": 15000},
            {"id": "jati", "name": "Polsek Jati (approx.)", "lat_deg": JATI[0], "lon_deg": JATI[1],
             "alt_amsl_m": 45, "service_radius_m": 12000},
        ],
        # Long-endurance test drones (45 min of hover, the default pessimistic energy factors), so
        # that dispatch-logic tests can send them to incidents several km out.
        "drones": [
            {"id": "kudus-1", "name": "Elang 1", "base": "hq", "url": "udpin://0.0.0.0:14540", "system_id": 1,
             "endurance_min": 45},
            {"id": "kudus-2", "name": "Elang 2", "base": "hq", "url": "udpin://0.0.0.0:14541", "system_id": 2,
             "endurance_min": 45},
            {"id": "jati-1", "name": "Elang 3", "base": "jati", "url": "udpin://0.0.0.0:14542", "system_id": 3,
             "endurance_min": 45},
        ],
        "dispatch": {"auto": [{"categories": ["*"], "max_priority": 2}], "merge_radius_m": 300,
                     "merge_window_s": 900},
        "on_scene": {"crime": {"hover_s": 60, "alt_m": 40}},
        "auth": {"tokens": [
            {"name": "disp", "role": "dispatcher", "token": TOKENS["dispatcher"]},
            {"name": "cc", "role": "integration", "token": TOKENS["integration"]},
            {"name": "adm", "role": "admin", "token": TOKENS["admin"]},
            {"name": "andi", "role": "officer", "subject": "andi", "token": TOKENS["officer_andi"]},
            {"name": "budi", "role": "officer", "subject": "budi", "token": TOKENS["officer_budi"]},
        ]},
    }
    raw.update(over)
    return Settings.model_validate(raw)


def memory_gateway(settings: Settings, **kw: Any) -> MemoryGateway:
    homes = {}
    for d in settings.drones:
        b = settings.base(d.base)
        homes[d.id] = (b.lat_deg, b.lon_deg, b.alt_amsl_m)
    return MemoryGateway(homes, **kw)


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


class Live:
    """A running app over real HTTP: ``client`` (httpx), ``url``, ``service``, ``gateway``."""

    def __init__(self, url: str, client: httpx.AsyncClient, service: Service, gateway: MemoryGateway) -> None:
        self.url = url
        self.client = client
        self.service = service
        self.gateway = gateway

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/api/telemetry"


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[Live]:
    gw = memory_gateway(settings)
    app = create_app(settings, gateway=gw, queue_poll_s=0.1)
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url, timeout=30.0) as client:
        yield Live(url, client, app.state.service, gw)


@pytest.fixture
def report() -> Callable[..., dict[str, Any]]:
    def make(**over: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "category": "crime", "priority": 1, "location": {"lat": -6.8248, "lon": 110.8405},
            "address": "Jl. Sunan Kudus (contoh)", "description": "Pencurian sepeda motor",
            "caller_phone": "081234567890", "caller_nik": "3319011234567890", "channel": "phone",
        }
        body.update(over)
        return body

    return make
