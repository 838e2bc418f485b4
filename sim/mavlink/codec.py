"""MAVLink 2 framing for one link: pymavlink's common-dialect encoder and a robust decoder.

Each link (API, GCS) owns one :class:`Codec`, because the decoder keeps partial frames between
datagrams and the encoder keeps the link's packet sequence number, as PX4 does per channel.
"""

from __future__ import annotations

from pymavlink.dialects.v20 import common as mavlink

__all__ = ["Codec", "mavlink", "decode_all"]


class _Sink:
    """A file-like object pymavlink writes packed frames into."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def write(self, buf: bytes) -> None:
        self.frames.append(bytes(buf))


class Codec:
    """Encode and decode MAVLink 2 frames (common dialect) for one system/component.

    Parameters
    ----------
    system_id, component_id:
        Our identity in every frame we send (PX4 autopilot: component 1).

    Examples
    --------
    >>> a, b = Codec(1), Codec(245, 190)
    >>> [m.get_type() for m in b.decode(a.encode(a.mav.heartbeat_encode(2, 12, 1, 0, 3)))]
    ['HEARTBEAT']
    """

    def __init__(self, system_id: int, component_id: int = 1) -> None:
        self._sink = _Sink()
        self.mav = mavlink.MAVLink(self._sink, srcSystem=system_id, srcComponent=component_id)
        # A damaged datagram must not stop the link: skip bad bytes instead of raising.
        self.mav.robust_parsing = True

    @property
    def system_id(self) -> int:
        return int(self.mav.srcSystem)

    def encode(self, msg: mavlink.MAVLink_message) -> bytes:
        """Pack ``msg`` as one MAVLink 2 frame (advances this link's sequence number)."""
        self.mav.send(msg)
        return self._sink.frames.pop()

    def decode(self, data: bytes) -> list[mavlink.MAVLink_message]:
        """All complete, CRC-valid messages in ``data`` (partial frames are kept for later)."""
        msgs = self.mav.parse_buffer(data) or []
        return [m for m in msgs if m.get_type() != "BAD_DATA"]


def decode_all(data: bytes) -> list[mavlink.MAVLink_message]:
    """Decode a standalone byte string (tests and tools); returns only valid messages."""
    return Codec(255, 0).decode(data)
