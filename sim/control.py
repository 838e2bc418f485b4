"""The local control port: JSON over UDP on 127.0.0.1, to read true state and inject faults.

The CLI (``python -m sim fault ...``) and :class:`sim.Fleet` in subprocess mode use it. One request
per datagram, one answer per request::

    -> {"op": "link_loss", "vehicle": 0, "duration_s": 30}
    <- {"ok": true, "result": null}

Operations: ``info``, ``state``, ``link_loss`` (duration_s, simulated seconds; omitted = until
``link_restore``), ``link_restore``, ``gps_loss`` (lost: bool), ``battery`` (pct),
``reject_next_command``, ``reboot``, ``param_lock`` (name, locked: bool; PARAM_SET of that name
refused over MAVLink); ``param`` (name; with ``value``: set it first) answers
``{"name", "value", "type"}`` with the value the vehicle holds (INT32 values rounded, as stored).
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import json
import socket
from typing import Any

from sim.link import PortInUseError
from sim.runtime import Runtime, VehicleRunner
from sim.vehicle import AutoSub, Home, LandedState, MainMode, VehicleState

__all__ = ["CONTROL_PORT", "ControlServer", "ControlClient", "ControlError", "apply_fault",
           "param_op", "state_to_dict", "state_from_dict", "FAULTS"]

CONTROL_PORT = 14530
FAULTS = ("link_loss", "link_restore", "gps_loss", "battery", "reject_next_command", "reboot", "param_lock")


class ControlError(RuntimeError):
    """The simulator refused a control request, or did not answer."""


def state_to_dict(state: VehicleState) -> dict[str, Any]:
    d = {f.name: getattr(state, f.name) for f in dataclasses.fields(state)}
    d["home"] = dataclasses.asdict(state.home)
    for k in ("main_mode", "sub_mode", "landed_state"):
        d[k] = int(d[k])
    return d


def state_from_dict(d: dict[str, Any]) -> VehicleState:
    names = {f.name for f in dataclasses.fields(VehicleState)}
    kw = {k: v for k, v in d.items() if k in names}
    kw["home"] = Home(**d["home"])
    kw["main_mode"] = MainMode(d["main_mode"])
    kw["sub_mode"] = AutoSub(d["sub_mode"])
    kw["landed_state"] = LandedState(d["landed_state"])
    return VehicleState(**kw)


def _runner(runtime: Runtime, index: int) -> VehicleRunner:
    if not 0 <= index < len(runtime.runners):
        raise ControlError(f"no vehicle {index} (fleet has {len(runtime.runners)})")
    return runtime.runners[index]


def param_op(runtime: Runtime, index: int, name: str, value: float | None = None) -> dict[str, Any]:
    """Read (``value`` None) or set one parameter of vehicle ``index``, as the vehicle itself would:
    the change is what a later PARAM_REQUEST_READ answers (must run on the runtime's loop thread).

    Returns
    -------
    dict
        ``{"name": str, "value": float, "type": "INT32" | "REAL32"}``: the value now held.

    Raises
    ------
    ControlError
        No such vehicle or parameter, or the value is outside the parameter's range.
    """
    params = _runner(runtime, index).vehicle.params
    if not isinstance(name, str) or name not in params:
        raise ControlError(f"unknown parameter {name!r}")
    if value is not None:
        try:
            params.set(name, float(value))
        except (TypeError, ValueError) as exc:
            raise ControlError(str(exc)) from None
    return {"name": name, "value": params.get(name), "type": params.spec(name).type.name}


def apply_fault(runtime: Runtime, index: int, op: str, args: dict[str, Any]) -> None:
    """Apply one fault to vehicle ``index`` (must run on the runtime's loop thread)."""
    r = _runner(runtime, index)
    if op == "link_loss":
        dur = args.get("duration_s")
        r.set_link(False, None if dur is None else runtime.sim_time_s + float(dur))
    elif op == "link_restore":
        r.set_link(True)
    elif op == "gps_loss":
        r.vehicle.set_gps_lost(bool(args.get("lost", True)))
    elif op == "battery":
        pct = float(args["pct"])
        if not 0.0 <= pct <= 100.0:
            raise ControlError("battery pct must be within 0..100")
        r.vehicle.set_battery_pct(pct)
    elif op == "reject_next_command":
        r.vehicle.reject_next_command()
    elif op == "reboot":
        r.server.reboot()
    elif op == "param_lock":
        name = args.get("name")
        if not isinstance(name, str) or name not in r.vehicle.params:
            raise ControlError(f"unknown parameter {name!r}")
        if args.get("locked", True):
            r.server.params.locked.add(name)
        else:
            r.server.params.locked.discard(name)
    else:
        raise ControlError(f"unknown fault {op!r}; known: {', '.join(FAULTS)}")
    r.server.publish_events()


def handle_request(runtime: Runtime, req: dict[str, Any]) -> Any:
    op = req.get("op")
    if op == "info":
        return {
            "vehicles": [
                {"system_id": r.spec.system_id, "api_remote": r.spec.ports.api_remote,
                 "api_listen": r.links["api"].local_port,
                 "gcs_listen": r.links["gcs"].local_port if "gcs" in r.links else None}
                for r in runtime.runners
            ],
            "speedup": runtime.speedup,
            "sim_time_s": runtime.sim_time_s,
        }
    index = int(req.get("vehicle", 0))
    if op == "state":
        r = _runner(runtime, index)
        return {"state": state_to_dict(r.vehicle.state), "link_up": r.link_up}
    if op == "param":
        if "name" not in req:
            raise ControlError("param needs a name")
        return param_op(runtime, index, req["name"], req.get("value"))
    if op not in FAULTS:
        raise ControlError(f"unknown operation {op!r}; known: info, state, param, {', '.join(FAULTS)}")
    apply_fault(runtime, index, str(op), req)
    return None


class ControlServer(asyncio.DatagramProtocol):
    """Serves the control port on the runtime's loop."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._transport: asyncio.DatagramTransport | None = None

    @classmethod
    async def open(cls, runtime: Runtime, port: int = CONTROL_PORT) -> ControlServer:
        loop = asyncio.get_running_loop()
        try:
            _, proto = await loop.create_datagram_endpoint(
                lambda: cls(runtime), local_addr=("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError("127.0.0.1", port, "control") from None
            raise
        return proto

    @property
    def port(self) -> int:
        assert self._transport is not None
        return int(self._transport.get_extra_info("sockname")[1])

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        req: Any = None
        try:
            req = json.loads(data.decode())
            if not isinstance(req, dict):
                raise ControlError("request must be a JSON object")
            reply: dict[str, Any] = {"ok": True, "result": handle_request(self.runtime, req)}
        except (ControlError, ValueError, KeyError, TypeError) as exc:
            reply = {"ok": False, "error": str(exc) or type(exc).__name__}
        if isinstance(req, dict) and "id" in req:
            reply["id"] = req["id"]
        assert self._transport is not None
        self._transport.sendto(json.dumps(reply).encode(), addr)

    def error_received(self, exc: Exception) -> None:
        pass

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class ControlClient:
    """Blocking client of the control port (used from other threads and processes)."""

    def __init__(self, port: int = CONTROL_PORT, *, timeout_s: float = 3.0) -> None:
        self.port = port
        self.timeout_s = timeout_s
        self._id = 0

    def call(self, op: str, **args: Any) -> Any:
        """Send one request and return its result; :class:`ControlError` on refusal or silence."""
        self._id += 1
        req = {"op": op, "id": self._id, **args}
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(self.timeout_s)
            s.sendto(json.dumps(req).encode(), ("127.0.0.1", self.port))
            try:
                while True:
                    data, _ = s.recvfrom(65535)
                    reply = json.loads(data.decode())
                    if reply.get("id") == self._id:
                        break
            except (TimeoutError, ConnectionRefusedError):
                raise ControlError(f"no simulator answers on control port 127.0.0.1:{self.port}") from None
        if not reply.get("ok"):
            raise ControlError(reply.get("error", "refused"))
        return reply.get("result")

    def state(self, vehicle: int) -> VehicleState:
        return state_from_dict(self.call("state", vehicle=vehicle)["state"])

    def param(self, vehicle: int, name: str, value: float | None = None) -> float:
        """Vehicle ``vehicle``'s parameter ``name`` (set to ``value`` first when given)."""
        args: dict[str, Any] = {"vehicle": vehicle, "name": name}
        if value is not None:
            args["value"] = float(value)
        return float(self.call("param", **args)["value"])
