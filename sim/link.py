"""UDP endpoints of a simulated vehicle, laid out as PX4 SITL lays out instance i.

* API link (MAVSDK, offboard computers): listens on 127.0.0.1:(14580+i), sends to 127.0.0.1:(14540+i).
* GCS link (QGroundControl): listens on 127.0.0.1:(18570+i), sends to 127.0.0.1:14550.

As PX4's mavlink module does, a link sends to its configured remote port until a datagram arrives,
and from then on to whoever sent last. Binding to 127.0.0.1 (PX4 binds 0.0.0.0) keeps the simulated
fleet off the network. A link can be taken down (link-loss fault): it then drops both directions.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["UdpLink", "VehiclePorts", "PortInUseError", "API_BASE_PORT", "GCS_PORT",
           "GCS_LISTEN_BASE_PORT", "API_LISTEN_OFFSET"]

API_BASE_PORT = 14540  # MAVSDK's udpin port for instance 0
API_LISTEN_OFFSET = 40  # PX4 listens on 14580+i for the API link
GCS_PORT = 14550
GCS_LISTEN_BASE_PORT = 18570


class PortInUseError(OSError):
    """A UDP port the simulator must listen on is taken by another process."""

    def __init__(self, host: str, port: int, link: str) -> None:
        super().__init__(errno.EADDRINUSE, f"UDP port {host}:{port} ({link} link) is already in use")
        self.host = host
        self.port = port
        self.link = link

    def __str__(self) -> str:
        return self.strerror or ""


@dataclass(frozen=True, slots=True)
class VehiclePorts:
    """The UDP ports of one vehicle. ``0`` as a listen port means "any free port"."""

    api_remote: int
    api_listen: int
    gcs_remote: int | None = None
    gcs_listen: int | None = None

    @classmethod
    def px4(cls, instance: int, *, base_port: int = API_BASE_PORT, gcs_port: int | None = GCS_PORT,
            gcs_listen_base: int = GCS_LISTEN_BASE_PORT) -> VehiclePorts:
        """PX4 SITL's ports for ``instance`` (``base_port`` shifts the API pair, as tests need)."""
        return cls(
            api_remote=base_port + instance,
            api_listen=base_port + API_LISTEN_OFFSET + instance,
            gcs_remote=gcs_port,
            gcs_listen=None if gcs_port is None else gcs_listen_base + instance,
        )


class UdpLink(asyncio.DatagramProtocol):
    """One UDP MAVLink link. Create with :meth:`open`."""

    def __init__(self, name: str, remote: tuple[str, int] | None,
                 on_datagram: Callable[[bytes], None]) -> None:
        self.name = name
        self.remote = remote
        self._on_datagram = on_datagram
        self._transport: asyncio.DatagramTransport | None = None
        self.up = True
        self.sent_bytes = 0
        self.received_bytes = 0

    @classmethod
    async def open(cls, name: str, *, host: str, listen_port: int, remote: tuple[str, int] | None,
                   on_datagram: Callable[[bytes], None]) -> UdpLink:
        """Bind ``host:listen_port``; :class:`PortInUseError` when it is taken."""
        loop = asyncio.get_running_loop()
        try:
            _, proto = await loop.create_datagram_endpoint(
                lambda: cls(name, remote, on_datagram), local_addr=(host, listen_port)
            )
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(host, listen_port, name) from None
            raise
        return proto

    @property
    def local_port(self) -> int:
        assert self._transport is not None
        return int(self._transport.get_extra_info("sockname")[1])

    # asyncio.DatagramProtocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if not self.up:
            return
        self.remote = (addr[0], addr[1])
        self.received_bytes += len(data)
        self._on_datagram(data)

    def error_received(self, exc: Exception) -> None:
        # ICMP "port unreachable" when nobody listens on the remote port yet: normal for UDP.
        pass

    def send(self, data: bytes) -> None:
        if not self.up or self.remote is None or self._transport is None:
            return
        if self._transport.is_closing():
            return
        self.sent_bytes += len(data)
        self._transport.sendto(data, self.remote)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
