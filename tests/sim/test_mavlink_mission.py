"""The mission protocol bytes-in/bytes-out: upload/download (INT and float), retries and timeouts on
both sides, a lossy link dropping 5 % of messages, clear, set current, fence type."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from sim.items import FENCE, MISSION, Item
from sim.mavlink.codec import Codec
from sim.mavlink.codec import mavlink as m

from tests.sim.mavlink_harness import GCS_COMPID, GCS_SYSID, HOME, SYSID, Harness, of_type


def waypoints(n: int, mission_type: int = MISSION) -> list[Item]:
    return [
        Item(seq=i, frame=m.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, command=m.MAV_CMD_NAV_WAYPOINT,
             param1=0.0, param2=1.0, x=int(round((HOME.lat_deg + 0.0001 * (i % 20)) * 1e7)),
             y=int(round((HOME.lon_deg + 0.0001 * (i // 20)) * 1e7)), z=20.0 + i % 7,
             current=1 if i == 0 else 0, mission_type=mission_type)
        for i in range(n)
    ]


def item_msg(it: Item, *, as_int: bool = True) -> m.MAVLink_message:
    if as_int:
        return m.MAVLink_mission_item_int_message(
            SYSID, 1, it.seq, it.frame, it.command, it.current, it.autocontinue, it.param1, it.param2,
            it.param3, it.param4, it.x, it.y, it.z, it.mission_type)
    return m.MAVLink_mission_item_message(
        SYSID, 1, it.seq, it.frame, it.command, it.current, it.autocontinue, it.param1, it.param2,
        it.param3, it.param4, it.x / 1e7, it.y / 1e7, it.z, it.mission_type)


@dataclass
class LossyGcs:
    """A ground station's side of the mission protocol with MAVSDK-like retries (0.5 s, 10 tries)
    over a channel that drops a fraction of messages in each direction."""

    h: Harness
    drop: float = 0.0
    seed: int = 0
    timeout_s: float = 0.5
    max_retries: int = 10

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.tx = Codec(GCS_SYSID, GCS_COMPID)
        self.rx = Codec(GCS_SYSID, GCS_COMPID)
        self.dropped = 0
        self.sent = 0

    def _send(self, msg: m.MAVLink_message) -> None:
        data = self.tx.encode(msg)
        self.sent += 1
        if self.rng.random() < self.drop:
            self.dropped += 1
            return
        self.h.server.receive("api", data)

    def _recv(self) -> list[m.MAVLink_message]:
        out: list[m.MAVLink_message] = []
        frames = [d for lk, d in self.h.out if lk == "api"]
        self.h.out.clear()
        for f in frames:
            for msg in self.rx.decode(f):
                if msg.get_type().startswith("MISSION"):
                    if self.rng.random() < self.drop:
                        self.dropped += 1
                        continue
                out.append(msg)
        return out

    def _tick(self) -> list[m.MAVLink_message]:
        self.h.clock.now_s += 0.01
        self.h.server.poll()
        return self._recv()

    def upload(self, items: list[Item], mission_type: int = MISSION, *, as_int: bool = True) -> int:
        """Returns the MISSION_ACK type."""
        self.h.out.clear()
        count = m.MAVLink_mission_count_message(SYSID, 1, len(items), mission_type)
        self._send(count)
        last: m.MAVLink_message = count
        last_t = self.h.clock.now_s
        retries = 0
        while True:
            for msg in self._tick():
                if msg.get_type() == "MISSION_ACK" and msg.mission_type == mission_type:
                    return int(msg.type)
                if msg.get_type() in ("MISSION_REQUEST_INT", "MISSION_REQUEST"):
                    assert msg.mission_type == mission_type
                    assert (msg.target_system, msg.target_component) == (GCS_SYSID, GCS_COMPID)
                    last = item_msg(items[msg.seq], as_int=as_int)
                    self._send(last)
                    last_t = self.h.clock.now_s
                    retries = 0
            if self.h.clock.now_s - last_t > self.timeout_s:
                retries += 1
                assert retries <= self.max_retries, "upload gave up"
                self._send(last)
                last_t = self.h.clock.now_s

    def download(self, mission_type: int = MISSION, *, as_int: bool = True) -> list[Item]:
        self.h.out.clear()
        req: m.MAVLink_message = m.MAVLink_mission_request_list_message(SYSID, 1, mission_type)
        self._send(req)
        last_t = self.h.clock.now_s
        retries = 0
        count: int | None = None
        got: list[Item] = []
        make = m.MAVLink_mission_request_int_message if as_int else m.MAVLink_mission_request_message
        while count is None or len(got) < count:
            for msg in self._tick():
                if msg.get_type() == "MISSION_COUNT" and count is None:
                    count = msg.count
                    if count == 0:
                        return []
                    req = make(SYSID, 1, 0, mission_type)
                    self._send(req)
                    last_t, retries = self.h.clock.now_s, 0
                elif msg.get_type() in ("MISSION_ITEM_INT", "MISSION_ITEM") and msg.seq == len(got):
                    assert msg.get_type() == ("MISSION_ITEM_INT" if as_int else "MISSION_ITEM")
                    got.append(_item(msg))
                    if count is not None and len(got) < count:
                        req = make(SYSID, 1, len(got), mission_type)
                        self._send(req)
                        last_t, retries = self.h.clock.now_s, 0
            if self.h.clock.now_s - last_t > self.timeout_s:
                retries += 1
                assert retries <= self.max_retries, "download gave up"
                self._send(req)
                last_t = self.h.clock.now_s
        self._send(m.MAVLink_mission_ack_message(SYSID, 1, m.MAV_MISSION_ACCEPTED, mission_type))
        return got


def _item(msg: m.MAVLink_message) -> Item:
    if msg.get_type() == "MISSION_ITEM":
        x, y = int(round(msg.x * 1e7)), int(round(msg.y * 1e7))
    else:
        x, y = msg.x, msg.y
    return Item(msg.seq, msg.frame, msg.command, msg.param1, msg.param2, msg.param3, msg.param4, x, y,
                msg.z, msg.current, msg.autocontinue, msg.mission_type)


def _same(a: list[Item], b: list[Item]) -> bool:
    return [(i.seq, i.command, i.frame, i.x, i.y, round(i.z, 3), i.param2) for i in a] == \
        [(i.seq, i.command, i.frame, i.x, i.y, round(i.z, 3), i.param2) for i in b]


@pytest.mark.parametrize("n", [1, 3, 200])
def test_upload_then_download_equal(n: int) -> None:
    h = Harness()
    gcs = LossyGcs(h)
    items = waypoints(n)
    assert gcs.upload(items) == m.MAV_MISSION_ACCEPTED
    assert _same(h.vehicle.items(MISSION), items)
    assert _same(gcs.download(), items)
    assert h.vehicle.state.mission_count == n


def test_float_mission_item_protocol_both_ways() -> None:
    h = Harness()
    gcs = LossyGcs(h)
    items = waypoints(12)
    assert gcs.upload(items, as_int=False) == m.MAV_MISSION_ACCEPTED
    # Float MISSION_ITEM carries lat/lon as float32: about 1e-5 degree (< 1 m) of resolution.
    for got in (h.vehicle.items(MISSION), gcs.download(as_int=False)):
        assert [(i.seq, i.command, i.z) for i in got] == [(i.seq, i.command, i.z) for i in items]
        assert all(abs(a.x - b.x) <= 100 and abs(a.y - b.y) <= 100 for a, b in zip(got, items))


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_lossy_link_drops_5_percent_of_mission_messages(seed: int) -> None:
    h = Harness()
    gcs = LossyGcs(h, drop=0.05, seed=seed)
    items = waypoints(120)
    assert gcs.upload(items) == m.MAV_MISSION_ACCEPTED
    assert _same(gcs.download(), items)
    assert _same(h.vehicle.items(MISSION), items)
    assert gcs.dropped > 0, "the channel dropped nothing: the test would prove nothing"


def test_vehicle_re_requests_every_250ms_then_abandons_after_5s_keeping_the_old_list() -> None:
    h = Harness()
    old = waypoints(3)
    assert LossyGcs(h).upload(old) == m.MAV_MISSION_ACCEPTED
    h.out.clear()
    gcs = Codec(GCS_SYSID, GCS_COMPID)
    h.server.receive("api", gcs.encode(m.MAVLink_mission_count_message(SYSID, 1, 5, MISSION)))
    requests: list[float] = []
    acks: list[m.MAVLink_message] = []
    start = h.clock.now_s
    for _ in range(700):  # 7 s, silent GCS
        h.clock.now_s += 0.01
        h.server.poll()
        for msg in h.take():
            if msg.get_type() == "MISSION_REQUEST_INT":
                assert msg.seq == 0
                requests.append(h.clock.now_s - start)
            elif msg.get_type() == "MISSION_ACK":
                acks.append(msg)
    assert requests[0] == pytest.approx(0.0, abs=0.02)
    gaps = [b - a for a, b in zip(requests, requests[1:])]
    assert all(0.245 <= g <= 0.28 for g in gaps), gaps
    assert 17 <= len(requests) <= 21  # ~5 s / 0.25 s
    assert len(acks) == 1 and acks[0].type == m.MAV_MISSION_OPERATION_CANCELLED
    assert _same(h.vehicle.items(MISSION), old)
    assert not h.server.missions.uploading


def test_lost_final_ack_is_repeated_when_the_last_item_is_resent() -> None:
    h = Harness()
    items = waypoints(4)
    assert LossyGcs(h).upload(items) == m.MAV_MISSION_ACCEPTED
    msgs = h.feed(item_msg(items[-1]))
    acks = of_type(msgs, "MISSION_ACK")
    assert len(acks) == 1 and acks[0].type == m.MAV_MISSION_ACCEPTED


def test_out_of_order_item_is_re_requested_and_duplicates_ignored() -> None:
    h = Harness()
    items = waypoints(3)
    (req,) = h.feed(m.MAVLink_mission_count_message(SYSID, 1, 3, MISSION))
    assert req.seq == 0
    (req,) = h.feed(item_msg(items[1]))  # skipped 0
    assert req.get_type() == "MISSION_REQUEST_INT" and req.seq == 0
    (req,) = h.feed(item_msg(items[0]))
    assert req.seq == 1
    assert h.feed(item_msg(items[0])) == []  # duplicate
    h.feed(item_msg(items[1]))
    (ack,) = of_type(h.feed(item_msg(items[2])), "MISSION_ACK")
    assert ack.type == m.MAV_MISSION_ACCEPTED


def test_second_partner_is_refused_while_an_upload_runs() -> None:
    h = Harness()
    h.feed(m.MAVLink_mission_count_message(SYSID, 1, 3, MISSION))
    other = Codec(200, 190)
    h.out.clear()
    h.server.receive("gcs", other.encode(m.MAVLink_mission_count_message(SYSID, 1, 2, MISSION)))
    acks = of_type(h.take("gcs"), "MISSION_ACK")
    assert acks and acks[0].type == m.MAV_MISSION_DENIED and acks[0].target_system == 200


def test_clear_all_and_zero_count() -> None:
    h = Harness()
    LossyGcs(h).upload(waypoints(5))
    (ack,) = of_type(h.feed(m.MAVLink_mission_clear_all_message(SYSID, 1, MISSION)), "MISSION_ACK")
    assert ack.type == m.MAV_MISSION_ACCEPTED and ack.mission_type == MISSION
    assert h.vehicle.items(MISSION) == []
    LossyGcs(h).upload(waypoints(5))
    (ack,) = of_type(h.feed(m.MAVLink_mission_count_message(SYSID, 1, 0, MISSION)), "MISSION_ACK")
    assert ack.type == m.MAV_MISSION_ACCEPTED and h.vehicle.items(MISSION) == []
    (count,) = of_type(h.feed(m.MAVLink_mission_request_list_message(SYSID, 1, MISSION)), "MISSION_COUNT")
    assert count.count == 0


def test_request_out_of_range_and_unknown_type() -> None:
    h = Harness()
    LossyGcs(h).upload(waypoints(2))
    (ack,) = h.feed(m.MAVLink_mission_request_int_message(SYSID, 1, 5, MISSION))
    assert ack.type == m.MAV_MISSION_INVALID_SEQUENCE
    (ack,) = h.feed(m.MAVLink_mission_count_message(SYSID, 1, 2, 7))
    assert ack.type == m.MAV_MISSION_UNSUPPORTED


def test_fence_polygon_upload_acks_with_fence_type() -> None:
    h = Harness()
    d = 0.002
    corners = [(-d, -d), (-d, d), (d, d), (d, -d)]
    fence = [Item(seq=i, frame=m.MAV_FRAME_GLOBAL_INT, command=m.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
                  param1=4, x=int((HOME.lat_deg + a) * 1e7), y=int((HOME.lon_deg + b) * 1e7),
                  mission_type=FENCE) for i, (a, b) in enumerate(corners)]
    gcs = LossyGcs(h)
    assert gcs.upload(fence, FENCE) == m.MAV_MISSION_ACCEPTED
    assert _same(gcs.download(FENCE), fence)
    assert h.vehicle.items(MISSION) == []


def test_set_current_valid_and_invalid() -> None:
    h = Harness()
    LossyGcs(h).upload(waypoints(4))
    msgs = h.feed(m.MAVLink_mission_set_current_message(SYSID, 1, 2))
    assert of_type(msgs, "MISSION_CURRENT")[-1].seq == 2
    msgs = h.feed(m.MAVLink_mission_set_current_message(SYSID, 1, 9))
    assert of_type(msgs, "MISSION_ACK")[0].type == m.MAV_MISSION_INVALID_SEQUENCE
    assert h.vehicle.state.mission_current == 2
