"""Shared pieces of the dronectl benchmarks (``bench/dispatch_latency.py``, ``bench/telemetry_fanout.py``).

The benchmarks run the real controller and the simulated fleet as *separate processes*, so that
what is measured in one is not slowed by the other's Python interpreter (GIL):

* ``python bench/_dronectl_bench.py sim ...``: a ``sim`` fleet (``sim.runtime.Runtime`` + control
  port, as ``python -m sim`` runs it) with two bench-only observers that change no behaviour:

  - ``--events FILE``: after every simulation tick, a JSON line whenever a vehicle's true
    ``in_air``/``armed`` changes (wall time of the tick that produced it);
  - ``--record FILE``: the wall time at which every GLOBAL_POSITION_INT left the vehicle's UDP
    socket, with a hash of (system id, lat, lon, relative alt) that identifies the position.

* ``python bench/_dronectl_bench.py serve ...``: the real app (``dronectl.api.create_app``) under
  uvicorn on a free loopback port, with a real SQLite file and the real
  :class:`~dronectl.vehicles.mavsdk_gateway.MavsdkGateway` (its own, single ``Mavsdk``).
  ``--timing FILE`` wraps the gateway's ``upload_mission``/``arm``/``start_mission`` to log when
  each call began and returned (a subclass that calls the real methods; nothing else changes).

Process launching follows the project's rule: explicit environment, one log file per child,
stop = SIGINT, wait, then kill.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import json
import math
import os
import signal
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from dronectl.config import Settings  # noqa: E402
from missions.geodesy import destination, distance_m  # noqa: E402

__all__ = [
    "wait_for",
    "REPO",
    "HQ",
    "JATI",
    "TOKENS",
    "BenchDrone",
    "bench_settings",
    "ring_points",
    "min_spacing_m",
    "median",
    "temp_dir",
    "write_ready",
    "load_send_record",
    "Child",
    "cpu_seconds",
    "machine_busy",
    "loadavg",
    "pct",
    "print_table",
    "position_key",
    "GPI_MSG_ID",
]

#: Approximate positions of the example Kudus bases (examples/muria/config.toml).
HQ = (-6.8036, 110.8417, 50.0)
JATI = (-6.8262, 110.8452, 45.0)
#: The example's temporary event zone in Kudus town centre (used when the example airspace file
#: is not there).
EVENT_CENTRE = (-6.8148, 110.8405)

TOKENS = {
    "integration": "bench-integration-0123456789",
    "dispatcher": "bench-dispatcher-0123456789",
}

GPI_MSG_ID = 33  # GLOBAL_POSITION_INT


@dataclass(frozen=True, slots=True)
class BenchDrone:
    """One configured drone of a bench fleet: id, base, the UDP port MAVSDK listens on, system id."""

    drone_id: str
    base: str  # "hq" or "jati"
    port: int
    system_id: int

    @property
    def home(self) -> tuple[float, float, float]:
        return HQ if self.base == "hq" else JATI


def bench_settings(tmp_dir: Path, drones: Sequence[BenchDrone], *, rate_hz: float = 5.0,
                   link_loss_timeout_s: float = 10.0, min_launch_battery_pct: float = 60.0) -> Settings:
    """Settings for the bench: the example's two Kudus bases and airspace, the given fleet.

    The airspace is ``examples/muria/airspace.geojson`` when it exists, else the example's event
    zone (300 m around the town-centre square) written into ``tmp_dir``.
    """
    example_air = REPO / "examples" / "muria" / "airspace.geojson"
    if example_air.is_file():
        air = str(example_air)
    else:
        doc = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [EVENT_CENTRE[1], EVENT_CENTRE[0]]},
             "properties": {"name": "Acara alun-alun Kudus (bench)", "kind": "event", "radius_m": 300}}]}
        (tmp_dir / "airspace.geojson").write_text(json.dumps(doc))
        air = "airspace.geojson"
    raw: dict[str, Any] = {
        "area_name": "bench Kudus",
        "base_dir": str(tmp_dir),
        "data_dir": "data",
        "airspace_path": air,
        "bases": [
            {"id": "hq", "name": "Polres Kudus (approx.)", "lat_deg": HQ[0], "lon_deg": HQ[1],
             "alt_amsl_m": HQ[2], "service_radius_m": 15000},
            {"id": "jati", "name": "Polsek Jati (approx.)", "lat_deg": JATI[0], "lon_deg": JATI[1],
             "alt_amsl_m": JATI[2], "service_radius_m": 12000},
        ],
        "drones": [
            {"id": d.drone_id, "name": d.drone_id, "base": d.base, "url": f"udpin://0.0.0.0:{d.port}",
             "system_id": d.system_id}
            for d in drones
        ],
        "dispatch": {"auto": [{"categories": ["*"], "max_priority": 2}], "merge_radius_m": 300,
                     "merge_window_s": 900},
        "flight": {"link_loss_timeout_s": link_loss_timeout_s,
                   "min_launch_battery_pct": min_launch_battery_pct},
        "telemetry": {"rate_hz": rate_hz, "record_hz": 1.0},
        "auth": {"tokens": [
            {"name": "bench-cc", "role": "integration", "token": TOKENS["integration"]},
            {"name": "bench-disp", "role": "dispatcher", "token": TOKENS["dispatcher"]},
        ]},
    }
    return Settings.model_validate(raw)


def ring_points(centre: tuple[float, float, float], n: int, radius_m: float,
                phase_deg: float = 0.0) -> list[tuple[float, float]]:
    """``n`` points evenly spaced on a circle of ``radius_m`` around ``centre``."""
    out = []
    for k in range(n):
        lat, lon = destination(centre[0], centre[1], phase_deg + k * 360.0 / n, radius_m)
        out.append((float(lat), float(lon)))
    return out


def min_spacing_m(points: Sequence[tuple[float, float]]) -> float:
    best = math.inf
    for i, a in enumerate(points):
        for b in points[i + 1:]:
            best = min(best, float(distance_m(a[0], a[1], b[0], b[1])))
    return best


def position_key(sysid: int, lat_e7: int, lon_e7: int, rel_alt_mm: int) -> int:
    """Identifies one GLOBAL_POSITION_INT by its content (Python's tuple-of-int hash is the same
    in every process: no hash randomisation for ints)."""
    return hash((sysid, lat_e7, lon_e7, rel_alt_mm))


# -- measurements ---------------------------------------------------------------------------------

_CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads), from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all cores since boot (/proc/stat), for machine-wide load."""
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + parts[4]
    total = sum(parts[:8])
    return float(total - idle), float(total)


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def pct(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100), linear interpolation; NaN when empty."""
    if not values:
        return math.nan
    s = sorted(values)
    if len(s) == 1:
        return s[0]
    pos = (len(s) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)



def wait_for(pred: Callable[[], Any], timeout_s: float, what: str, poll_s: float = 0.02) -> Any:
    """Poll ``pred`` until it returns something truthy (and return that); TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(poll_s)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def print_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A Markdown table (pastes straight into docs/benchmarks.md)."""
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    print(line(cells[0]))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in cells[1:]:
        print(line(r))


# -- child processes ------------------------------------------------------------------------------

class Child:
    """A child process with an explicit environment and its own log file.

    ``ready_file`` is written by the child once it serves; :meth:`wait_ready` returns its JSON.
    Stop = SIGINT (the child's clean path), wait, then kill.
    """

    def __init__(self, name: str, args: Sequence[str], log_path: Path, ready_file: Path | None = None) -> None:
        self.name = name
        self.args = list(args)
        self.log_path = log_path
        self.ready_file = ready_file
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def __enter__(self) -> Child:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(REPO),
            "LANG": "C.UTF-8",
        }
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in __exit__
        self.proc = subprocess.Popen(self.args, stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                     cwd=str(REPO))
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def wait_ready(self, timeout_s: float = 60.0) -> dict[str, Any]:
        assert self.proc is not None and self.ready_file is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
            if self.ready_file.exists():
                text = self.ready_file.read_text()
                if text.endswith("\n"):
                    return dict(json.loads(text))
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} not ready after {timeout_s:g} s:\n{self.tail()}")

    def tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self, timeout_s: float = 20.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self._log is not None:
            self._log.close()
            self._log = None


def write_ready(path: Path, info: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info) + "\n")
    tmp.replace(path)


# -- child: the simulated fleet -------------------------------------------------------------------

class _SendRecorder:
    """Wall time of every GLOBAL_POSITION_INT leaving a vehicle (bench observer; changes nothing)."""

    def __init__(self) -> None:
        self.keys = array.array("q")
        self.times = array.array("d")

    def install(self) -> None:
        from sim.link import UdpLink

        original = UdpLink.send
        rec = self

        def send(link: UdpLink, data: bytes) -> None:
            original(link, data)
            rec.observe(data)

        UdpLink.send = send  # type: ignore[method-assign]

    def observe(self, data: bytes) -> None:
        # One MAVLink frame per datagram (sim's server sends frame by frame).
        if len(data) < 12:
            return
        if data[0] == 0xFD:
            msg_id = data[7] | (data[8] << 8) | (data[9] << 16)
            sysid, payload = data[5], data[10:10 + data[1]]
        elif data[0] == 0xFE:
            msg_id, sysid, payload = data[5], data[3], data[6:6 + data[1]]
        else:
            return
        if msg_id != GPI_MSG_ID:
            return
        # MAVLink 2 trims trailing zero bytes of the payload: pad before unpacking.
        _t, lat, lon, _alt, rel = struct.unpack_from("<Iiiii", payload.ljust(20, b"\0"))
        self.keys.append(position_key(sysid, lat, lon, rel))
        self.times.append(time.time())

    def dump(self, path: Path) -> None:
        with open(path, "wb") as f:
            f.write(struct.pack("<q", len(self.keys)))
            self.keys.tofile(f)
            self.times.tofile(f)


def load_send_record(path: Path) -> tuple[array.array[int], array.array[float]]:
    with open(path, "rb") as f:
        (n,) = struct.unpack("<q", f.read(8))
        keys = array.array("q")
        keys.fromfile(f, n)
        times = array.array("d")
        times.fromfile(f, n)
    return keys, times


async def _sim_main(args: argparse.Namespace) -> None:
    from sim.control import ControlServer
    from sim.link import VehiclePorts
    from sim.runtime import Runtime, VehicleSpec
    from sim.vehicle import Home

    homes = [Home(*h) for h in json.loads(args.homes)]
    ports = [int(p) for p in args.api_ports.split(",")]
    specs = [VehicleSpec(h, args.sysid_base + i, VehiclePorts(ports[i], 0)) for i, h in enumerate(homes)]
    recorder = None
    if args.record:
        recorder = _SendRecorder()
        recorder.install()
    runtime = Runtime(specs, speedup=args.speedup)
    events = open(args.events, "a", buffering=1) if args.events else None  # noqa: SIM115
    if events is not None:
        # Bench observer: true in_air/armed changes, stamped with the wall time of the tick.
        prev: list[tuple[bool, bool]] = [(False, False)] * len(runtime.runners)
        original_advance = runtime.advance

        def advance(wall_dt_s: float) -> None:
            original_advance(wall_dt_s)
            now = time.time()
            for i, r in enumerate(runtime.runners):
                v = r.vehicle
                cur = (bool(v.in_air), bool(v.state.armed))
                if cur != prev[i]:
                    prev[i] = cur
                    events.write(json.dumps({"v": i, "in_air": cur[0], "armed": cur[1], "t": now,
                                             "sim_t": runtime.sim_time_s}) + "\n")

        runtime.advance = advance  # type: ignore[method-assign]
    await runtime.start()
    control = await ControlServer.open(runtime, args.control_port)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    write_ready(Path(args.ready), {"control_port": control.port, "pid": os.getpid(),
                                   "listen": [r.links["api"].local_port for r in runtime.runners]})
    waiter = asyncio.ensure_future(runtime.wait())
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if waiter.done():
            waiter.result()
    finally:
        stopper.cancel()
        control.close()
        await runtime.stop()
        if recorder is not None:
            recorder.dump(Path(args.record))
        if events is not None:
            events.close()


# -- child: the controller ------------------------------------------------------------------------

def _timed_gateway_class() -> Any:
    from dronectl.vehicles.mavsdk_gateway import MavsdkGateway

    class TimedGateway(MavsdkGateway):
        """The real MavsdkGateway; logs when upload/arm/start began and returned (bench only)."""

        timing_file: Any = None

        def _log(self, action: str, drone_id: str, began: float, ok: bool) -> None:
            if self.timing_file is not None:
                self.timing_file.write(json.dumps({"action": action, "drone": drone_id, "begin": began,
                                                   "end": time.time(), "ok": ok}) + "\n")

        async def upload_mission(self, drone_id: str, items: Any) -> None:
            t0, ok = time.time(), False
            try:
                await super().upload_mission(drone_id, items)
                ok = True
            finally:
                self._log("upload_mission", drone_id, t0, ok)

        async def arm(self, drone_id: str) -> None:
            t0, ok = time.time(), False
            try:
                await super().arm(drone_id)
                ok = True
            finally:
                self._log("arm", drone_id, t0, ok)

        async def start_mission(self, drone_id: str) -> None:
            t0, ok = time.time(), False
            try:
                await super().start_mission(drone_id)
                ok = True
            finally:
                self._log("start_mission", drone_id, t0, ok)

    return TimedGateway


async def _serve_main(args: argparse.Namespace) -> None:
    import logging

    from dronectl.api import create_app
    from dronectl.api.server import serve_app
    from dronectl.vehicles.mavsdk_gateway import MavsdkGateway, route_mavsdk_logs

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    route_mavsdk_logs()
    settings = Settings.model_validate_json(Path(args.settings).read_text())
    cls = _timed_gateway_class() if args.timing else MavsdkGateway
    gw = cls(settings.links(), safety=settings.safety_params(), telemetry_rate_hz=settings.telemetry.rate_hz)
    if args.timing:
        gw.timing_file = open(args.timing, "a", buffering=1)  # noqa: SIM115
    app = create_app(settings, gateway=gw)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with serve_app(app, host="127.0.0.1", port=0) as url:
        write_ready(Path(args.ready), {"url": url, "pid": os.getpid(), "db": str(settings.db_path)})
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="_dronectl_bench.py", description="bench child processes")
    sub = p.add_subparsers(dest="role", required=True)
    s = sub.add_parser("sim")
    s.add_argument("--homes", required=True, help="JSON list of [lat, lon, alt_amsl]")
    s.add_argument("--api-ports", required=True, help="comma-separated: where vehicle i sends (MAVSDK listens)")
    s.add_argument("--sysid-base", type=int, default=1)
    s.add_argument("--speedup", type=float, default=1.0)
    s.add_argument("--control-port", type=int, required=True)
    s.add_argument("--ready", required=True)
    s.add_argument("--events", default=None)
    s.add_argument("--record", default=None)
    v = sub.add_parser("serve")
    v.add_argument("--settings", required=True)
    v.add_argument("--ready", required=True)
    v.add_argument("--timing", default=None)
    v.add_argument("--profile", default=None, help="write a cProfile of the controller here")
    args = p.parse_args(argv)
    if args.role == "sim":
        asyncio.run(_sim_main(args))
    else:
        if args.profile:
            import cProfile

            prof = cProfile.Profile()
            prof.enable()
            try:
                asyncio.run(_serve_main(args))
            finally:
                prof.disable()
                prof.dump_stats(args.profile)
        else:
            asyncio.run(_serve_main(args))
    return 0


@contextlib.contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    import tempfile

    with tempfile.TemporaryDirectory(prefix=prefix) as d:
        yield Path(d)


if __name__ == "__main__":
    sys.exit(main())
