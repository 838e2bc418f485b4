"""Running the app under uvicorn inside an existing event loop (CLI ``serve``/``demo``, tests)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import uvicorn
from fastapi import FastAPI

__all__ = ["serve_app", "free_tcp_port", "listen_socket"]


def free_tcp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def listen_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket for uvicorn (``OSError`` if the port is taken).

    ``proto=IPPROTO_TCP`` matters: asyncio sets TCP_NODELAY on accepted connections only when the
    listening socket says TCP explicitly; with proto 0 every answer waits ~40 ms for delayed ACKs.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


@contextlib.asynccontextmanager
async def serve_app(app: FastAPI, *, host: str = "127.0.0.1", port: int = 0,
                    log_level: str = "warning", startup_timeout_s: float = 60.0) -> AsyncIterator[str]:
    """Serve ``app`` until the block exits; yields its base URL (``http://host:port``).

    ``port=0`` picks a free port. The app's lifespan (the controller service) runs inside.
    """
    # Bind here: a taken port is an OSError for the caller (uvicorn would sys.exit), and port 0
    # gets a free port without a race.
    sock = listen_socket(host, port)
    port = int(sock.getsockname()[1])
    # permessage-deflate stays off: telemetry frames are ~400 bytes of JSON, so compression saves
    # little on the wire but costs one deflate per frame per client in the event loop, which at
    # 20 drones x 10 Hz x 100 clients is what pushed the fan-out p99 past 100 ms (bench/telemetry_fanout.py).
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on",
                            ws_ping_interval=20.0, ws_ping_timeout=20.0, timeout_graceful_shutdown=5,
                            ws_per_message_deflate=False)
    server = uvicorn.Server(config)
    # The caller owns signal handling (the CLI turns Ctrl-C into leaving this block).
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"uvicorn-{port}")
    try:
        async with asyncio.timeout(startup_timeout_s):
            while not server.started:
                if task.done():
                    task.result()  # raises the startup error
                    raise RuntimeError(f"uvicorn on {host}:{port} exited during startup")
                await asyncio.sleep(0.02)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sock.close()
