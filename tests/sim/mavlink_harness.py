"""Bytes-in/bytes-out harness for sim's MAVLink services: a real model, a fake clock, no sockets."""

from __future__ import annotations

from dataclasses import dataclass, field

from sim.mavlink.codec import Codec
from sim.mavlink.codec import mavlink as m
from sim.mavlink.server import VehicleServer
from sim.vehicle import Home, Vehicle

HOME = Home(-6.2088, 106.8456, 10.0)
GCS_SYSID, GCS_COMPID = 245, 190
SYSID = 1


@dataclass
class FakeClock:
    now_s: float = 1000.0

    def __call__(self) -> float:
        return self.now_s


@dataclass
class Harness:
    """One vehicle + server; ``gcs`` encodes what a ground station sends; ``out`` collects frames."""

    clock: FakeClock = field(default_factory=FakeClock)
    vehicle: Vehicle = field(default_factory=lambda: Vehicle(HOME))
    out: list[tuple[str, bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.server = VehicleServer(
            self.vehicle, system_id=SYSID, send=lambda link, data: self.out.append((link, data)),
            links=("api", "gcs"), clock=self.clock,
        )
        self.gcs = Codec(GCS_SYSID, GCS_COMPID)
        self._rx = Codec(GCS_SYSID, GCS_COMPID)

    def feed(self, msg: m.MAVLink_message, link: str = "api") -> list[m.MAVLink_message]:
        """Send ``msg`` as bytes; return the decoded messages the vehicle answered on ``link``."""
        self.out.clear()
        self.server.receive(link, self.gcs.encode(msg))
        return self.take(link)

    def take(self, link: str = "api") -> list[m.MAVLink_message]:
        frames = [d for lk, d in self.out if lk == link]
        self.out.clear()
        msgs: list[m.MAVLink_message] = []
        for f in frames:
            msgs.extend(self._rx.decode(f))
        return msgs

    def run(self, sim_s: float, *, wall_per_step_s: float = 0.05) -> list[m.MAVLink_message]:
        """Step the model ``sim_s`` simulated seconds (0.05 s substeps), polling the server after
        each; returns everything sent on the API link meanwhile."""
        got: list[m.MAVLink_message] = []
        for _ in range(int(round(sim_s / 0.05))):
            self.vehicle.step(0.05)
            self.clock.now_s += wall_per_step_s
            self.server.poll()
            got.extend(self.take("api"))
        return got

    def ready(self) -> None:
        """Until the estimator has converged (position ok), as after PX4's boot."""
        for _ in range(400):
            if self.vehicle.state.position_ok:
                self.run(0.1)
                return
            self.run(0.1)
        raise AssertionError("vehicle never became ready")

    def command(self, command: int, *params: float, link: str = "api") -> list[m.MAVLink_message]:
        p = list(params) + [0.0] * (7 - len(params))
        return self.feed(m.MAVLink_command_long_message(SYSID, 1, command, 0, *p), link)


def of_type(msgs: list[m.MAVLink_message], name: str) -> list[m.MAVLink_message]:
    return [x for x in msgs if x.get_type() == name]


def ack_of(msgs: list[m.MAVLink_message], command: int) -> m.MAVLink_message:
    acks = [x for x in of_type(msgs, "COMMAND_ACK") if x.command == command]
    assert len(acks) == 1, f"expected one COMMAND_ACK for {command}, got {msgs}"
    return acks[0]
