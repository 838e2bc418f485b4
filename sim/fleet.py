"""``sim.Fleet``: start simulated vehicles in-process (background thread) or as a subprocess, read
their true state, inject faults.

Examples
--------
>>> from sim import Fleet, Home, free_udp_port
>>> port = free_udp_port()                      # where MAVSDK will listen (udpin)
>>> with Fleet([Home(-6.2, 106.8, 10.0)], speedup=5, api_ports=[port], gcs=False) as fleet:
...     fleet.api_url(0) == f"udpin://0.0.0.0:{port}"
...     fleet.set_gps_lost(0, True)             # faults apply at once
...     fleet.state(0).gps_ok
...     fleet.set_param(0, "NAV_DLL_ACT", 2)    # as if a GCS had set it; read back at once
...     fleet.param(0, "NAV_DLL_ACT")
True
False
2.0
2.0
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from sim.control import ControlClient, ControlError, ControlServer, apply_fault, handle_request, param_op
from sim.link import API_BASE_PORT, GCS_LISTEN_BASE_PORT, GCS_PORT, VehiclePorts
from sim.runtime import Runtime, VehicleSpec
from sim.vehicle import Home, VehicleState

__all__ = ["Fleet", "free_udp_port", "FleetError"]

T = TypeVar("T")


class FleetError(RuntimeError):
    """The fleet could not start, or was used while stopped."""


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Fleet:
    """N simulated PX4-like vehicles.

    Parameters
    ----------
    homes:
        One :class:`Home` per vehicle (vehicle i gets system id ``sysid_base + i``).
    speedup:
        Simulated seconds per wall second.
    sysid_base:
        System id of vehicle 0 (PX4 SITL: 1). Tests in one process give each fleet fresh ids.
    base_port:
        API link of vehicle i sends to ``base_port + i`` (where MAVSDK listens) and listens on
        ``base_port + 40 + i``, as PX4 SITL (14540/14580). ``api_ports`` overrides the send ports
        one by one (the listen ports are then picked by the OS, unless ``api_listen_ports``), in
        both modes (a subprocess gets them as ``--api-ports`` / ``--api-listen-ports``).
    gcs:
        Also open the GCS link (listen 18570+i, send to ``gcs_port``), as PX4 SITL does.
    subprocess:
        Run ``python -m sim`` in a child process instead of a thread of this one; state and faults
        then go through the control port.
    control_port:
        Local control port (JSON over UDP). In-process fleets open one only when given; a
        subprocess fleet always has one (a free port when None).
    log_path:
        Subprocess mode: where the child's output goes (default: a temporary file).
    """

    def __init__(
        self, homes: Sequence[Home], *, speedup: float = 1.0, sysid_base: int = 1,
        base_port: int = API_BASE_PORT, api_ports: Sequence[int] | None = None,
        api_listen_ports: Sequence[int] | None = None, gcs: bool = True, gcs_port: int = GCS_PORT,
        gcs_listen_base: int = GCS_LISTEN_BASE_PORT, subprocess: bool = False,
        control_port: int | None = None, log_path: str | os.PathLike[str] | None = None,
    ) -> None:
        if not homes:
            raise ValueError("a fleet needs at least one home")
        if not 1 <= sysid_base <= 255 - len(homes) + 1:
            raise ValueError("sysid_base must leave every system id within 1..255")
        if api_ports is not None and len(api_ports) != len(homes):
            raise ValueError("api_ports needs one port per vehicle")
        if api_listen_ports is not None:
            if api_ports is None:
                raise ValueError("api_listen_ports needs api_ports (otherwise base_port + 40 + i is used)")
            if len(api_listen_ports) != len(homes):
                raise ValueError("api_listen_ports needs one port per vehicle")
        self.homes = list(homes)
        self.speedup = float(speedup)
        self.sysid_base = sysid_base
        self._subprocess = subprocess
        self.control_port = control_port
        self.log_path = None if log_path is None else Path(log_path)
        ports: list[VehiclePorts] = []
        for i in range(len(homes)):
            p = VehiclePorts.px4(i, base_port=base_port, gcs_port=gcs_port if gcs else None,
                                 gcs_listen_base=gcs_listen_base)
            if api_ports is not None:
                listen = 0 if api_listen_ports is None else api_listen_ports[i]
                p = VehiclePorts(api_ports[i], listen, p.gcs_remote, p.gcs_listen)
            ports.append(p)
        self.ports = ports
        self._base_port = base_port
        self._api_ports = None if api_ports is None else [int(p) for p in api_ports]
        self._api_listen_ports = None if api_listen_ports is None else [int(p) for p in api_listen_ports]
        self._gcs = gcs
        self._gcs_port = gcs_port
        self._runtime: Runtime | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._control_server: ControlServer | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._client: ControlClient | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._log_file: Any = None

    # -- lifecycle --------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.homes)

    def __enter__(self) -> Fleet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._runtime is not None or self._proc is not None

    def start(self) -> Fleet:
        """Start the vehicles; :class:`sim.link.PortInUseError` when a port is taken."""
        if self.running:
            raise FleetError("fleet already started")
        if self._subprocess:
            self._start_subprocess()
        else:
            self._start_thread()
        return self

    def _start_thread(self) -> None:
        specs = [VehicleSpec(h, self.sysid_base + i, p) for i, (h, p) in enumerate(zip(self.homes, self.ports))]
        loop = asyncio.new_event_loop()
        runtime = Runtime(specs, speedup=self.speedup)
        started: Future[None] = Future()

        async def boot() -> None:
            await runtime.start()
            if self.control_port is not None:
                try:
                    self._control_server = await ControlServer.open(runtime, self.control_port)
                except BaseException:
                    await runtime.stop()
                    raise

        def main() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(boot())
            except BaseException as exc:  # handed to the starting thread, which raises it
                started.set_exception(exc)
                loop.close()
                return
            started.set_result(None)
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(runtime.stop())
                if self._control_server is not None:
                    self._control_server.close()
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        thread = threading.Thread(target=main, name="sim-fleet", daemon=True)
        thread.start()
        started.result(timeout=30)
        self._loop, self._thread, self._runtime = loop, thread, runtime

    def _start_subprocess(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="sim-fleet-")
        fleet_file = Path(self._tmp.name) / "fleet.json"
        fleet_file.write_text(json.dumps({"homes": [
            {"lat_deg": h.lat_deg, "lon_deg": h.lon_deg, "alt_amsl_m": h.alt_amsl_m} for h in self.homes]}))
        port = self.control_port if self.control_port is not None else free_udp_port()
        self.control_port = port
        cmd = [sys.executable, "-m", "sim", "--fleet", str(fleet_file), "--speedup", str(self.speedup),
               "--base-port", str(self._base_port), "--sysid-base", str(self.sysid_base),
               "--control-port", str(port)]
        if self._api_ports is not None:
            cmd += ["--api-ports", ",".join(map(str, self._api_ports))]
        if self._api_listen_ports is not None:
            cmd += ["--api-listen-ports", ",".join(map(str, self._api_listen_ports))]
        if self._gcs:
            cmd += ["--gcs-port", str(self._gcs_port)]
        else:
            cmd += ["--no-gcs"]
        if self.log_path is None:
            self.log_path = Path(self._tmp.name) / "sim.log"
        self._log_file = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self._proc = subprocess.Popen(cmd, stdout=self._log_file, stderr=subprocess.STDOUT, env=env)
        self._client = ControlClient(port, timeout_s=0.5)
        deadline = time.monotonic() + 30.0
        while True:
            try:
                self._client.call("info")
                break
            except ControlError:
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    out = self.log_path.read_text(errors="replace")[-2000:]
                    self.stop()
                    raise FleetError(f"python -m sim did not start: {out.strip()}") from None
        self._client.timeout_s = 5.0

    def stop(self) -> None:
        """Stop the vehicles and close their ports (idempotent)."""
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
        self._loop = self._thread = None
        self._runtime = None
        self._control_server = None
        if self._proc is not None:
            # Stop = interrupt (the CLI's clean Ctrl-C path), wait, then kill.
            self._proc.send_signal(2)
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                self._tmp.cleanup()
            self._tmp = None

    # -- addressing -------------------------------------------------------------------------------
    def system_id(self, i: int) -> int:
        """MAVLink system id of vehicle ``i``."""
        return self.sysid_base + i

    def api_url(self, i: int) -> str:
        """The MAVSDK connection URL that reaches vehicle ``i`` (as for PX4 SITL instance i)."""
        return f"udpin://0.0.0.0:{self.ports[i].api_remote}"

    # -- true state -------------------------------------------------------------------------------
    def state(self, i: int) -> VehicleState:
        """Vehicle ``i``'s true state now."""
        if self._runtime is not None:
            runner = self._runtime.runners[i]
            # Read on the loop thread: a reply already on the wire implies the state we return.
            return self._on_loop(lambda: runner.vehicle.state)
        return self._control().state(i)

    def link_up(self, i: int) -> bool:
        if self._runtime is not None:
            return self._runtime.runners[i].link_up
        return bool(self._control().call("state", vehicle=i)["link_up"])

    @property
    def sim_time_s(self) -> float:
        """Simulated seconds since the fleet started."""
        if self._runtime is not None:
            return self._runtime.sim_time_s
        return float(self._control().call("info")["sim_time_s"])

    def info(self) -> dict[str, Any]:
        """System ids and actual ports of every vehicle, speed-up and simulated time."""
        if self._runtime is not None:
            return self._on_loop(lambda: handle_request(self._runtime, {"op": "info"}))  # type: ignore[arg-type]
        return dict(self._control().call("info"))

    # -- parameters -------------------------------------------------------------------------------
    def param(self, i: int, name: str) -> float:
        """The value vehicle ``i`` holds for parameter ``name`` (read on the simulator's side, not
        over MAVLink: what a later PARAM_REQUEST_READ would answer).

        Raises
        ------
        sim.ControlError
            No such vehicle or parameter.
        """
        if self._runtime is not None:
            runtime = self._runtime
            return float(self._on_loop(lambda: param_op(runtime, i, name))["value"])
        return self._control().param(i, name)

    def set_param(self, i: int, name: str, value: float) -> float:
        """Change vehicle ``i``'s parameter ``name`` behind every GCS's back (as a parameter reset
        or an operator with another GCS would) and return the value stored (INT32 rounded).

        Raises
        ------
        sim.ControlError
            No such vehicle or parameter, or ``value`` is outside the parameter's range.
        """
        if self._runtime is not None:
            runtime = self._runtime
            return float(self._on_loop(lambda: param_op(runtime, i, name, value))["value"])
        return self._control().param(i, name, value)

    # -- faults -----------------------------------------------------------------------------------
    def link_loss(self, i: int, duration_s: float | None = None) -> None:
        """Drop every datagram to and from vehicle ``i`` for ``duration_s`` simulated seconds (None:
        until :meth:`restore_link`)."""
        self._fault(i, "link_loss", duration_s=duration_s)

    def restore_link(self, i: int) -> None:
        self._fault(i, "link_restore")

    def set_gps_lost(self, i: int, lost: bool = True) -> None:
        self._fault(i, "gps_loss", lost=lost)

    def set_battery(self, i: int, pct: float) -> None:
        """Set the remaining battery to ``pct`` (0..100)."""
        self._fault(i, "battery", pct=pct)

    def reject_next_command(self, i: int) -> None:
        """The next command vehicle ``i`` receives is answered TEMPORARILY_REJECTED."""
        self._fault(i, "reject_next_command")

    def lock_param(self, i: int, name: str, locked: bool = True) -> None:
        """Vehicle ``i`` refuses PARAM_SET for ``name`` over MAVLink (answers the unchanged value,
        with a STATUSTEXT) until unlocked: a GCS can never confirm the value it wants."""
        self._fault(i, "param_lock", name=name, locked=locked)

    def reboot(self, i: int) -> None:
        """Reboot vehicle ``i`` (boot state at home, estimator converging again, mission kept)."""
        self._fault(i, "reboot")

    def _fault(self, i: int, op: str, **args: Any) -> None:
        if self._runtime is not None:
            runtime = self._runtime
            self._on_loop(lambda: apply_fault(runtime, i, op, args))
        else:
            self._control().call(op, vehicle=i, **args)

    def _control(self) -> ControlClient:
        if self._client is None:
            raise FleetError("fleet is not running")
        return self._client

    def _on_loop(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the fleet's loop thread (the model is not thread-safe) and return its result."""
        if self._loop is None:
            raise FleetError("fleet is not running")
        fut: Future[T] = Future()

        def run() -> None:
            try:
                fut.set_result(fn())
            except BaseException as exc:
                fut.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return fut.result(timeout=10)
