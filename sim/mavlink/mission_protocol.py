"""The MAVLink mission protocol, vehicle side, for mission, fence and rally lists.

Upload: MISSION_COUNT -> MISSION_REQUEST_INT(0) ... -> MISSION_ACK. Download: MISSION_REQUEST_LIST ->
MISSION_COUNT, then MISSION_ITEM_INT for each MISSION_REQUEST_INT, ended by the GCS's MISSION_ACK.
Also MISSION_CLEAR_ALL, MISSION_SET_CURRENT, and the legacy float MISSION_REQUEST/MISSION_ITEM.

Timeouts and retransmission follow PX4's MavlinkMissionManager: while receiving, the vehicle
re-requests the item it waits for every ``retry_timeout_s`` (PX4: 250 ms) and abandons the transfer
when nothing arrived for ``action_timeout_s`` (PX4: 5 s); an upload only replaces the stored list
when it completes, so an abandoned upload leaves the previous list untouched. When the final ACK is
lost and the GCS sends the last item again, the ACK is repeated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sim.items import FENCE, MISSION, RALLY, Item
from sim.mavlink.codec import mavlink as m
from sim.vehicle import MavResult, Vehicle

__all__ = ["MissionProtocol", "Partner", "MAX_ITEMS", "item_from_message", "item_to_message"]

MAX_ITEMS = {MISSION: 2000, FENCE: 256, RALLY: 32}
_TYPES = (MISSION, FENCE, RALLY)
_GLOBAL_FRAMES = frozenset(
    {
        m.MAV_FRAME_GLOBAL, m.MAV_FRAME_GLOBAL_RELATIVE_ALT, m.MAV_FRAME_GLOBAL_INT,
        m.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, m.MAV_FRAME_GLOBAL_TERRAIN_ALT,
        m.MAV_FRAME_GLOBAL_TERRAIN_ALT_INT,
    }
)
_RESULT_TO_MISSION = {
    MavResult.ACCEPTED: m.MAV_MISSION_ACCEPTED,
    MavResult.IN_PROGRESS: m.MAV_MISSION_ACCEPTED,
    MavResult.TEMPORARILY_REJECTED: m.MAV_MISSION_DENIED,
    MavResult.DENIED: m.MAV_MISSION_INVALID,
    MavResult.UNSUPPORTED: m.MAV_MISSION_UNSUPPORTED,
    MavResult.FAILED: m.MAV_MISSION_ERROR,
}

Out = list[tuple[str, m.MAVLink_message]]


@dataclass(frozen=True, slots=True)
class Partner:
    """The other end of a transfer: the link it came in on and its system/component id."""

    link: str
    system_id: int
    component_id: int


def item_from_message(msg: m.MAVLink_message) -> Item:
    """MISSION_ITEM_INT (or float MISSION_ITEM, converted to 1e7 integers) -> :class:`Item`."""
    if msg.get_msgId() == m.MAVLINK_MSG_ID_MISSION_ITEM and msg.frame in _GLOBAL_FRAMES:
        x, y = int(round(msg.x * 1e7)), int(round(msg.y * 1e7))
    else:
        x, y = int(round(msg.x)), int(round(msg.y))
    return Item(
        seq=msg.seq, frame=msg.frame, command=msg.command, param1=msg.param1, param2=msg.param2,
        param3=msg.param3, param4=msg.param4, x=x, y=y, z=msg.z, current=msg.current,
        autocontinue=msg.autocontinue, mission_type=msg.mission_type,
    )


def item_to_message(item: Item, target: Partner, *, as_int: bool = True) -> m.MAVLink_message:
    """:class:`Item` -> MISSION_ITEM_INT (or float MISSION_ITEM) addressed to ``target``."""
    if as_int:
        return m.MAVLink_mission_item_int_message(
            target.system_id, target.component_id, item.seq, item.frame, item.command, item.current,
            item.autocontinue, item.param1, item.param2, item.param3, item.param4, item.x, item.y,
            item.z, item.mission_type,
        )
    scale = 1e-7 if item.frame in _GLOBAL_FRAMES else 1.0
    return m.MAVLink_mission_item_message(
        target.system_id, target.component_id, item.seq, item.frame, item.command, item.current,
        item.autocontinue, item.param1, item.param2, item.param3, item.param4, item.x * scale,
        item.y * scale, item.z, item.mission_type,
    )


@dataclass(slots=True)
class _Upload:
    partner: Partner
    mission_type: int
    count: int
    items: list[Item] = field(default_factory=list)
    int_mode: bool = True
    last_sent_s: float = 0.0
    last_recv_s: float = 0.0
    retries: int = 0


@dataclass(slots=True)
class _Download:
    partner: Partner
    mission_type: int
    last_recv_s: float


class MissionProtocol:
    """Vehicle side of the mission protocol for one vehicle (one transfer at a time, as PX4).

    Parameters
    ----------
    vehicle:
        The model that stores the lists (``set_items`` / ``items`` / ``clear_items``).
    system_id:
        Ours; messages addressed to another system are ignored.
    clock:
        Monotonic seconds for the protocol timers.
    retry_timeout_s, action_timeout_s:
        Re-request interval and transfer abandonment time (PX4: 0.25 s and 5 s).
    """

    def __init__(
        self, vehicle: Vehicle, system_id: int, clock: Callable[[], float], *,
        retry_timeout_s: float = 0.25, action_timeout_s: float = 5.0,
    ) -> None:
        self.vehicle = vehicle
        self.system_id = system_id
        self._clock = clock
        self.retry_timeout_s = retry_timeout_s
        self.action_timeout_s = action_timeout_s
        self._up: _Upload | None = None
        self._down: _Download | None = None
        self._last_done: tuple[Partner, int, int, int] | None = None  # partner, type, count, result

    # -- state ----------------------------------------------------------------------------------
    @property
    def uploading(self) -> bool:
        return self._up is not None

    def reset(self) -> None:
        """Abandon any transfer (vehicle reboot)."""
        self._up = None
        self._down = None
        self._last_done = None

    # -- messages -------------------------------------------------------------------------------
    def handle(self, link: str, msg: m.MAVLink_message) -> Out:
        """Answer one incoming mission-protocol message; returns (link, message) pairs to send."""
        if getattr(msg, "target_system", self.system_id) not in (self.system_id, 0):
            return []
        partner = Partner(link, msg.get_srcSystem(), msg.get_srcComponent())
        mid = msg.get_msgId()
        now = self._clock()
        if mid == m.MAVLINK_MSG_ID_MISSION_COUNT:
            return self._on_count(partner, msg.count, msg.mission_type, now)
        if mid in (m.MAVLINK_MSG_ID_MISSION_ITEM_INT, m.MAVLINK_MSG_ID_MISSION_ITEM):
            return self._on_item(partner, msg, now)
        if mid == m.MAVLINK_MSG_ID_MISSION_REQUEST_LIST:
            return self._on_request_list(partner, msg.mission_type, now)
        if mid in (m.MAVLINK_MSG_ID_MISSION_REQUEST_INT, m.MAVLINK_MSG_ID_MISSION_REQUEST):
            return self._on_request(partner, msg.seq, msg.mission_type,
                                    mid == m.MAVLINK_MSG_ID_MISSION_REQUEST_INT, now)
        if mid == m.MAVLINK_MSG_ID_MISSION_ACK:
            return self._on_ack(partner, msg)
        if mid == m.MAVLINK_MSG_ID_MISSION_CLEAR_ALL:
            return self._on_clear(partner, msg.mission_type)
        if mid == m.MAVLINK_MSG_ID_MISSION_SET_CURRENT:
            result = self.vehicle.set_current_item(msg.seq)
            if result != MavResult.ACCEPTED:
                return [
                    (link, self._ack(partner, m.MAV_MISSION_INVALID_SEQUENCE, MISSION)),
                    (link, _text(f"WPM: MISSION_SET_CURRENT seq {msg.seq} ERROR")),
                ]
            return []  # the model announces the new current item (MISSION_CURRENT) by event
        return []

    def poll(self) -> Out:
        """Timers: re-request the awaited item, abandon stale transfers."""
        now = self._clock()
        out: Out = []
        up = self._up
        if up is not None:
            if now - up.last_recv_s > self.action_timeout_s:
                self._up = None
                out.append((up.partner.link, self._ack(up.partner, m.MAV_MISSION_OPERATION_CANCELLED,
                                                       up.mission_type)))
                out.append((up.partner.link, _text("WPM: upload timed out, list unchanged")))
            elif now - up.last_sent_s > self.retry_timeout_s:
                up.retries += 1
                out.append(self._request(up, now))
        down = self._down
        if down is not None and now - down.last_recv_s > self.action_timeout_s:
            self._down = None
        return out

    # -- upload ---------------------------------------------------------------------------------
    def _on_count(self, partner: Partner, count: int, mission_type: int, now: float) -> Out:
        link = partner.link
        if mission_type not in _TYPES:
            return [(link, self._ack(partner, m.MAV_MISSION_UNSUPPORTED, mission_type))]
        if self._up is not None and self._up.partner != partner:
            return [(link, self._ack(partner, m.MAV_MISSION_DENIED, mission_type)),
                    (link, _text("WPM: mission upload busy"))]
        if count > MAX_ITEMS[mission_type]:
            self._up = None
            return [(link, self._ack(partner, m.MAV_MISSION_NO_SPACE, mission_type))]
        if count == 0:
            self._up = None
            self.vehicle.clear_items(mission_type)
            self._last_done = (partner, mission_type, 0, m.MAV_MISSION_ACCEPTED)
            return [(link, self._ack(partner, m.MAV_MISSION_ACCEPTED, mission_type))]
        # A repeated COUNT (our first request was lost) or a new upload from the same partner
        # both (re)start the transfer at item 0.
        self._down = None
        self._up = _Upload(partner, mission_type, count, last_recv_s=now)
        return [self._request(self._up, now)]

    def _request(self, up: _Upload, now: float) -> tuple[str, m.MAVLink_message]:
        up.last_sent_s = now
        seq = len(up.items)
        p = up.partner
        if up.int_mode:
            msg = m.MAVLink_mission_request_int_message(p.system_id, p.component_id, seq, up.mission_type)
        else:
            msg = m.MAVLink_mission_request_message(p.system_id, p.component_id, seq, up.mission_type)
        return p.link, msg

    def _on_item(self, partner: Partner, msg: m.MAVLink_message, now: float) -> Out:
        up = self._up
        if up is None or up.partner != partner or msg.mission_type != up.mission_type:
            done = self._last_done
            if (done is not None and done[0] == partner and done[1] == msg.mission_type
                    and msg.seq == done[2] - 1):
                # Our final ACK was lost and the GCS repeats the last item: ACK again.
                return [(partner.link, self._ack(partner, done[3], done[1]))]
            return []
        up.last_recv_s = now
        if msg.get_msgId() == m.MAVLINK_MSG_ID_MISSION_ITEM:
            up.int_mode = False  # answer a float-only GCS in kind, as PX4 does
        expected = len(up.items)
        if msg.seq < expected:
            return []  # a duplicate of an item we already have
        if msg.seq > expected:
            return [self._request(up, now)]  # we missed one: ask for it again
        up.items.append(item_from_message(msg))
        up.retries = 0
        if len(up.items) < up.count:
            return [self._request(up, now)]
        self._up = None
        result = self.vehicle.set_items(up.mission_type, up.items)
        code = _RESULT_TO_MISSION.get(MavResult(result), m.MAV_MISSION_ERROR)
        self._last_done = (partner, up.mission_type, up.count, code)
        return [(partner.link, self._ack(partner, code, up.mission_type))]

    # -- download -------------------------------------------------------------------------------
    def _on_request_list(self, partner: Partner, mission_type: int, now: float) -> Out:
        if mission_type not in _TYPES:
            return [(partner.link, self._ack(partner, m.MAV_MISSION_UNSUPPORTED, mission_type))]
        if self._up is not None:
            return [(partner.link, self._ack(partner, m.MAV_MISSION_DENIED, mission_type))]
        count = len(self.vehicle.items(mission_type))
        self._down = _Download(partner, mission_type, now) if count else None
        return [(partner.link, m.MAVLink_mission_count_message(
            partner.system_id, partner.component_id, count, mission_type))]

    def _on_request(self, partner: Partner, seq: int, mission_type: int, as_int: bool, now: float) -> Out:
        items = self.vehicle.items(mission_type) if mission_type in _TYPES else []
        if not 0 <= seq < len(items):
            return [(partner.link, self._ack(partner, m.MAV_MISSION_INVALID_SEQUENCE, mission_type))]
        if self._down is not None:
            self._down.last_recv_s = now
        return [(partner.link, item_to_message(items[seq], partner, as_int=as_int))]

    def _on_ack(self, partner: Partner, msg: m.MAVLink_message) -> Out:
        if self._down is not None and self._down.partner == partner:
            self._down = None
        elif self._up is not None and self._up.partner == partner:
            self._up = None  # the GCS cancelled its upload
        return []

    def _on_clear(self, partner: Partner, mission_type: int) -> Out:
        if mission_type == m.MAV_MISSION_TYPE_ALL:
            for t in _TYPES:
                self.vehicle.clear_items(t)
        elif mission_type in _TYPES:
            self.vehicle.clear_items(mission_type)
        else:
            return [(partner.link, self._ack(partner, m.MAV_MISSION_UNSUPPORTED, mission_type))]
        return [(partner.link, self._ack(partner, m.MAV_MISSION_ACCEPTED, mission_type))]

    @staticmethod
    def _ack(partner: Partner, code: int, mission_type: int) -> m.MAVLink_message:
        return m.MAVLink_mission_ack_message(partner.system_id, partner.component_id, code, mission_type)


def _text(text: str, severity: int = m.MAV_SEVERITY_WARNING) -> m.MAVLink_message:
    return m.MAVLink_statustext_message(severity, text.encode()[:50], 0, 0)
