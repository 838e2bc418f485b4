"""The controller as one object: store, bus, gateway, planner, dispatcher, telemetry hub, recorder.

:func:`dronectl.api.create_app` builds one :class:`Service` and starts/stops it with the app;
the CLI's commands that need no HTTP server (``token create``) use the store alone.
"""

from __future__ import annotations

import logging
from typing import Any

from dronectl.config import Role, Settings, hash_token
from dronectl.dispatch import Dispatcher
from dronectl.events import EventBus
from dronectl.gateway import VehicleGateway
from dronectl.metrics import Metrics
from dronectl.planning import Planner, load_airspace
from dronectl.store import Store
from dronectl.telemetry import TelemetryHub, TelemetryRecorder

__all__ = ["Service", "Principal", "build_gateway"]

log = logging.getLogger(__name__)


def build_gateway(settings: Settings) -> VehicleGateway:
    """The MAVSDK gateway for the configured fleet (imported lazily: only it loads mavsdk)."""
    from dronectl.vehicles.mavsdk_gateway import MavsdkGateway

    return MavsdkGateway(settings.links(), safety=settings.safety_params(),
                         telemetry_rate_hz=settings.telemetry.rate_hz)


class Principal:
    """Who is calling: a role, a token name and (for officers) the officer id."""

    __slots__ = ("role", "name", "subject")

    def __init__(self, role: Role, name: str, subject: str | None) -> None:
        self.role = role
        self.name = name
        self.subject = subject

    def __repr__(self) -> str:
        return f"Principal({self.role.value}, {self.name!r})"


class Service:
    """Everything the API talks to. ``start()``/``stop()`` are idempotent pairs."""

    def __init__(self, settings: Settings, *, gateway: VehicleGateway | None = None,
                 manage_gateway: bool = True, queue_poll_s: float = 1.0) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.store = Store(settings.db_path)
        self.bus = EventBus()
        self.airspace = load_airspace(settings)
        self.planner = Planner(settings, self.airspace)
        self.gateway: VehicleGateway = gateway if gateway is not None else build_gateway(settings)
        self.manage_gateway = manage_gateway
        self.dispatcher = Dispatcher(settings, self.store, self.bus, self.gateway, self.planner, self.metrics,
                                     queue_poll_s=queue_poll_s)
        self.hub = TelemetryHub(self.gateway, self.bus, rate_hz=settings.telemetry.rate_hz,
                                context=self._context, metrics=self.metrics)
        self.recorder = TelemetryRecorder(self.store, self.bus, record_hz=settings.telemetry.record_hz)
        self._bootstrap_tokens: dict[str, Any] = {tc.digest: tc for tc in settings.auth.tokens}
        self.started = False

    def _context(self, drone_id: str) -> tuple[int | None, int | None]:
        run = self.dispatcher.mission_of_drone(drone_id)
        return (None, None) if run is None else (run.id, run.incident_id)

    async def start(self) -> None:
        if self.started:
            return
        if self.manage_gateway:
            await self.gateway.start()
        await self.recorder.start()
        await self.dispatcher.start()
        await self.hub.start()
        self.started = True

    async def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        await self.hub.stop()
        await self.dispatcher.stop()
        await self.recorder.stop()
        self.bus.close()
        if self.manage_gateway:
            await self.gateway.close()
        self.store.close()

    # -- auth ----------------------------------------------------------------------------------
    def authenticate(self, token: str) -> Principal | None:
        digest = hash_token(token)
        tc = self._bootstrap_tokens.get(digest)
        if tc is not None:
            return Principal(tc.role, tc.name, tc.subject)
        row = self.store.token(digest)
        if row is not None:
            return Principal(Role(row["role"]), row["name"], row["subject"])
        return None
