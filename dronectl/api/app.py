"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from dronectl.api.errors import BodyLimitMiddleware, install_error_handlers
from dronectl.api.routes import api, probes
from dronectl.api.ws import FrameCache, ws_router
from dronectl.config import Settings
from dronectl.gateway import VehicleGateway
from dronectl.service import Service

__all__ = ["create_app"]


def create_app(
    settings: Settings,
    *,
    gateway: VehicleGateway | None = None,
    manage_gateway: bool = True,
    queue_poll_s: float = 1.0,
) -> FastAPI:
    """Build the controller's web application.

    Parameters
    ----------
    settings
        A validated :class:`~dronectl.config.Settings` (see :func:`dronectl.config.load_settings`).
    gateway
        The fleet. ``None`` builds :class:`~dronectl.vehicles.mavsdk_gateway.MavsdkGateway` from the
        settings (mavsdk is imported only then). Tests pass their own (e.g. a ``MavsdkGateway`` on the
        process's one MAVSDK core, or :class:`~dronectl.vehicles.memory.MemoryGateway`).
    manage_gateway
        When true (default) the app calls ``gateway.start()`` at startup and ``gateway.close()`` at
        shutdown; pass false if the caller owns the gateway's life cycle.
    queue_poll_s
        How often queued incidents are retried even without a "drone free" event.

    Returns
    -------
    FastAPI
        Its ``state.service`` is the :class:`~dronectl.service.Service` (store, dispatcher, bus ...),
        started by the app's lifespan (uvicorn, or ``async with app.router.lifespan_context(app)``).
    """
    service = Service(settings, gateway=gateway, manage_gateway=manage_gateway, queue_poll_s=queue_poll_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(
        title="dronectl",
        summary="Drone-as-first-responder controller for 110 emergency call centres",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.default_language = settings.api.default_language
    app.state.frame_cache = FrameCache()
    install_error_handlers(app)
    app.include_router(api)
    app.include_router(ws_router)
    app.include_router(probes)
    app.add_middleware(
        BodyLimitMiddleware,  # type: ignore[arg-type]
        limit=settings.api.max_body_bytes,
        default_language=settings.api.default_language,
        count=lambda method, status: service.metrics.http.labels(method=method, status=str(status)).inc(),
    )
    return app
