"""One simulated vehicle's MAVLink face: bytes in, bytes out, no sockets.

:class:`VehicleServer` decodes what arrives on a link, answers it at once (commands, mission and
parameter protocols, FOLLOW_TARGET, offboard setpoints, PING, TIMESYNC), and on :meth:`poll` sends what the vehicle
announces (events) and what the per-link streams make due. The runtime feeds it datagrams and
calls ``poll`` after each simulation step; tests feed it bytes and read the ``send`` callback.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable

from sim.mavlink import commands, offboard, telemetry
from sim.mavlink.codec import Codec
from sim.mavlink.codec import mavlink as m
from sim.mavlink.mission_protocol import MissionProtocol
from sim.mavlink.params import ParamService
from sim.vehicle import (
    ArmedChanged,
    CommandOutcome,
    CurrentItemChanged,
    Event,
    Home,
    ItemReached,
    MavResult,
    ModeChanged,
    StatusText,
    Vehicle,
)

__all__ = ["VehicleServer", "statustext_chunks"]

_MISSION_IDS = frozenset(
    {
        m.MAVLINK_MSG_ID_MISSION_COUNT, m.MAVLINK_MSG_ID_MISSION_ITEM_INT, m.MAVLINK_MSG_ID_MISSION_ITEM,
        m.MAVLINK_MSG_ID_MISSION_REQUEST_LIST, m.MAVLINK_MSG_ID_MISSION_REQUEST_INT,
        m.MAVLINK_MSG_ID_MISSION_REQUEST, m.MAVLINK_MSG_ID_MISSION_ACK,
        m.MAVLINK_MSG_ID_MISSION_CLEAR_ALL, m.MAVLINK_MSG_ID_MISSION_SET_CURRENT,
    }
)
_PARAM_IDS = frozenset(
    {m.MAVLINK_MSG_ID_PARAM_REQUEST_READ, m.MAVLINK_MSG_ID_PARAM_REQUEST_LIST, m.MAVLINK_MSG_ID_PARAM_SET}
)
_SETPOINT_IDS = frozenset(
    {m.MAVLINK_MSG_ID_SET_POSITION_TARGET_LOCAL_NED, m.MAVLINK_MSG_ID_SET_POSITION_TARGET_GLOBAL_INT}
)
_TEXT_MAX = 50


def statustext_chunks(severity: int, text: str, text_id: int) -> list[m.MAVLink_message]:
    """STATUSTEXT messages for ``text``: one when it fits 50 bytes, else numbered chunks."""
    raw = text.encode("utf-8")[: _TEXT_MAX * 8]
    if len(raw) <= _TEXT_MAX:
        return [m.MAVLink_statustext_message(severity, raw, 0, 0)]
    parts = [raw[i : i + _TEXT_MAX] for i in range(0, len(raw), _TEXT_MAX)]
    if len(parts[-1]) == _TEXT_MAX:
        parts.append(b"")  # a chunk shorter than 50 bytes (here: empty) ends the text
    return [m.MAVLink_statustext_message(severity, p, text_id, i) for i, p in enumerate(parts)]


class VehicleServer:
    """MAVLink services of one vehicle over one or more links.

    Parameters
    ----------
    vehicle:
        The model (:class:`sim.vehicle.Vehicle`).
    system_id:
        Our MAVLink system id (PX4 SITL instance i: i + 1); component id is 1 (autopilot).
    send:
        ``send(link, frame_bytes)`` for every outgoing frame.
    links:
        Link names (e.g. ``("api", "gcs")``); each has its own codec and stream rates.
    clock:
        Monotonic seconds for stream intervals and protocol timers.
    on_reboot:
        Called after every reboot (command or fault); the runtime uses it to keep the vehicle
        silent while it "boots".
    """

    def __init__(
        self, vehicle: Vehicle, *, system_id: int, send: Callable[[str, bytes], None],
        links: Iterable[str] = ("api",), clock: Callable[[], float] = time.monotonic,
        mission_retry_timeout_s: float = 0.25, mission_action_timeout_s: float = 5.0,
        on_reboot: Callable[[], None] | None = None,
    ) -> None:
        self.vehicle = vehicle
        self.system_id = system_id
        self.on_reboot = on_reboot  # the runtime's hook: a rebooting PX4 is silent for a while
        self._send = send
        self._clock = clock
        self.links = tuple(links)
        self.codecs = {link: Codec(system_id, 1) for link in self.links}
        self.streams = {link: telemetry.Streams(clock) for link in self.links}
        self.missions = MissionProtocol(
            vehicle, system_id, clock, retry_timeout_s=mission_retry_timeout_s,
            action_timeout_s=mission_action_timeout_s,
        )
        self.params = ParamService(vehicle.params, system_id)
        if 1 <= system_id <= 250 and "MAV_SYS_ID" in vehicle.params:
            vehicle.params.set("MAV_SYS_ID", system_id)  # as PX4 SITL instance i: MAV_SYS_ID = i + 1
        self._home: Home | None = None
        self._text_id = 0
        self.received = 0  # messages decoded (for the benchmark and diagnostics)

    # -- output ---------------------------------------------------------------------------------
    def send(self, link: str, msg: m.MAVLink_message) -> None:
        self._send(link, self.codecs[link].encode(msg))

    def broadcast(self, msg: m.MAVLink_message) -> None:
        for link in self.links:
            self.send(link, msg)

    def statustext(self, severity: int, text: str, link: str | None = None) -> None:
        self._text_id = self._text_id % 255 + 1
        for msg in statustext_chunks(severity, text, self._text_id):
            if link is None:
                self.broadcast(msg)
            else:
                self.send(link, msg)

    # -- input ----------------------------------------------------------------------------------
    def receive(self, link: str, data: bytes) -> None:
        """Decode a datagram from ``link`` and answer every message in it at once."""
        for msg in self.codecs[link].decode(data):
            self.received += 1
            self.handle(link, msg)
        self.publish_events()

    def handle(self, link: str, msg: m.MAVLink_message) -> None:
        mid = msg.get_msgId()
        if msg.get_srcSystem() == self.system_id:
            return  # our own traffic reflected back (e.g. a loop on a shared port)
        if mid == m.MAVLINK_MSG_ID_HEARTBEAT:
            if msg.type == m.MAV_TYPE_GCS:
                self.vehicle.gcs_heartbeat()
        elif mid in (m.MAVLINK_MSG_ID_COMMAND_LONG, m.MAVLINK_MSG_ID_COMMAND_INT):
            if msg.target_system == self.system_id and msg.target_component in (0, 1):
                self._on_command(link, commands.from_message(msg))
        elif mid in _MISSION_IDS:
            for out_link, out in self.missions.handle(link, msg):
                self.send(out_link, out)
        elif mid in _PARAM_IDS:
            for out in self.params.handle(msg):
                self.send(link, out)
        elif mid == m.MAVLINK_MSG_ID_SET_MODE:
            if msg.target_system == self.system_id:
                outcome = commands.execute_set_mode(self.vehicle, msg.base_mode, msg.custom_mode)
                self._ack(link, m.MAV_CMD_DO_SET_MODE, outcome, msg.get_srcSystem(), msg.get_srcComponent())
        elif mid in _SETPOINT_IDS:
            if msg.target_system == self.system_id:
                sp = offboard.setpoint_from_message(msg, self.vehicle.state)
                if sp is not None:
                    self.vehicle.offboard_setpoint(*sp)
        elif mid == m.MAVLINK_MSG_ID_FOLLOW_TARGET:
            vel = list(msg.vel) if msg.est_capabilities & 0b10 else [0.0, 0.0, 0.0]
            vn, ve = (v if math.isfinite(v) else 0.0 for v in vel[:2])
            self.vehicle.follow_target_update(msg.lat / 1e7, msg.lon / 1e7, msg.alt, vn, ve)
        elif mid == m.MAVLINK_MSG_ID_PING:
            if msg.target_system == 0:
                self.send(link, m.MAVLink_ping_message(
                    msg.time_usec, msg.seq, msg.get_srcSystem(), msg.get_srcComponent()))
        elif mid == m.MAVLINK_MSG_ID_TIMESYNC:
            if msg.tc1 == 0:
                self.send(link, m.MAVLink_timesync_message(self.vehicle.time_us * 1000, msg.ts1))

    def _ack(self, link: str, command: int, outcome: CommandOutcome, sysid: int, compid: int) -> None:
        """The vehicle's events, then COMMAND_ACK; the refusal reason goes out as STATUSTEXT unless
        the model already announced that very text."""
        # The HEARTBEAT announcing an arm/mode change goes out BEFORE the ACK, so a GCS that reads
        # its cached armed/flight-mode state right after the command returns sees the new value.
        events = self.vehicle.drain_events()
        self._publish(events)
        self.send(link, m.MAVLink_command_ack_message(command, int(outcome.result), 0, 0, sysid, compid))
        if not outcome.ok and outcome.reason:
            if not any(isinstance(e, StatusText) and e.text == outcome.reason for e in events):
                self.statustext(m.MAV_SEVERITY_CRITICAL, outcome.reason)

    def _on_command(self, link: str, cmd: commands.Command) -> None:
        c = cmd.command
        src = (cmd.source_system, cmd.source_component)
        if c == m.MAV_CMD_SET_MESSAGE_INTERVAL:
            msg_id = int(cmd.param1) if math.isfinite(cmd.param1) else -1
            interval = cmd.param2 if math.isfinite(cmd.param2) else 0.0
            result = self.streams[link].set_interval(msg_id, interval)
            self._ack(link, c, CommandOutcome(result), *src)
            return
        if c in (m.MAV_CMD_REQUEST_MESSAGE, m.MAV_CMD_REQUEST_AUTOPILOT_CAPABILITIES,
                 m.MAV_CMD_GET_HOME_POSITION):
            if c == m.MAV_CMD_REQUEST_MESSAGE:
                msg_id = int(cmd.param1) if math.isfinite(cmd.param1) else -1
            elif c == m.MAV_CMD_REQUEST_AUTOPILOT_CAPABILITIES:
                msg_id = m.MAVLINK_MSG_ID_AUTOPILOT_VERSION
            else:
                msg_id = m.MAVLINK_MSG_ID_HOME_POSITION
            if msg_id not in telemetry.REQUESTABLE:
                self._ack(link, c, CommandOutcome(MavResult.UNSUPPORTED), *src)
                return
            out = telemetry.build_message(msg_id, self.vehicle.state, home_set=self._home is not None)
            if out is None:
                self._ack(link, c, CommandOutcome(MavResult.FAILED), *src)
                return
            self._ack(link, c, CommandOutcome(MavResult.ACCEPTED), *src)
            self.send(link, out)
            return
        if c == m.MAV_CMD_PREFLIGHT_REBOOT_SHUTDOWN:
            if cmd.param1 == 1:
                self._ack(link, c, CommandOutcome(MavResult.ACCEPTED), *src)
                self.reboot()
            else:
                self._ack(link, c, CommandOutcome(MavResult.UNSUPPORTED), *src)
            return
        self._ack(link, c, commands.execute(self.vehicle, cmd), *src)

    # -- time -----------------------------------------------------------------------------------
    def poll(self) -> None:
        """Announce vehicle events, send due stream messages, run mission-protocol timers."""
        self.publish_events()
        state = self.vehicle.state
        if state.position_ok and self._home != state.home:
            # PX4 publishes home when it is first set (position valid) and whenever it changes.
            self._home = state.home
            self.broadcast(telemetry.build_message(m.MAVLINK_MSG_ID_HOME_POSITION, state, home_set=True))
        for link in self.links:
            for msg_id in self.streams[link].due():
                out = telemetry.build_message(msg_id, state, home_set=self._home is not None)
                if out is not None:
                    self.send(link, out)
        for out_link, out in self.missions.poll():
            self.send(out_link, out)

    def publish_events(self) -> None:
        """Send what the vehicle announced: HEARTBEAT at once on arm/mode change, mission progress,
        status texts."""
        self._publish(self.vehicle.drain_events())

    def _publish(self, events: list[Event]) -> None:
        if not events:
            return
        heartbeat_sent = False
        for ev in events:
            if isinstance(ev, (ModeChanged, ArmedChanged)):
                if not heartbeat_sent:
                    hb = telemetry.heartbeat(self.vehicle.state)
                    self.broadcast(hb)
                    for s in self.streams.values():
                        s.restart(m.MAVLINK_MSG_ID_HEARTBEAT)
                    heartbeat_sent = True
            elif isinstance(ev, ItemReached):
                self.broadcast(m.MAVLink_mission_item_reached_message(ev.seq))
            elif isinstance(ev, CurrentItemChanged):
                self.broadcast(telemetry.mission_current(self.vehicle.state))
            elif isinstance(ev, StatusText):
                self.statustext(ev.severity, ev.text)
        if heartbeat_sent:
            # A mode/arm change may change the mission state (e.g. MISSION -> RTL): say so too.
            self.broadcast(telemetry.mission_current(self.vehicle.state))

    def reboot(self) -> None:
        """Vehicle reboot: model back to boot state, stream rates and transfers reset."""
        self.vehicle.reboot()
        self._home = None
        self.missions.reset()
        for s in self.streams.values():
            s.reset()
        if self.on_reboot is not None:
            self.on_reboot()
