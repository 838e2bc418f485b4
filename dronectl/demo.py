"""The demo's simulated fleet: ``python -m sim`` as a child process, managed as a context manager.

dronectl never imports ``sim``: the demo starts it like any other vehicle, as a separate process
speaking MAVLink on the ports of the example configuration.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from urllib.parse import urlparse

from dronectl.config import Settings

__all__ = ["SimProcess", "SimError", "fleet_layout", "activate_event_zones", "link_loss_timeout_for",
           "COM_DL_LOSS_T_RANGE_S"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def activate_event_zones(src: Path, dest: Path, *, hours: float = 12.0) -> list[str]:
    """Copy an airspace GeoJSON with every temporary (``event``) zone active from now for ``hours``.

    The example's event zone is shipped with the window of one ceremony morning; the demo makes it
    active so that a report across town shows the route bending around it. Returns the zone names.
    """
    from datetime import UTC, datetime, timedelta

    doc = json.loads(Path(src).read_text(encoding="utf-8"))
    now = datetime.now(UTC).replace(microsecond=0)
    names: list[str] = []
    for f in doc.get("features", []):
        props = f.get("properties") or {}
        if props.get("kind") == "event":
            props["active_from"] = (now - timedelta(hours=1)).isoformat()
            props["active_until"] = (now + timedelta(hours=hours)).isoformat()
            names.append(str(props.get("name")))
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return names


#: PX4's bounds of COM_DL_LOSS_T (seconds, integer): the vehicle refuses values outside them.
COM_DL_LOSS_T_RANGE_S = (5.0, 300.0)


def link_loss_timeout_for(configured_s: float, speedup: float) -> float:
    """The link-loss timeout (simulated seconds) to give a vehicle running ``speedup`` times faster.

    PX4's COM_DL_LOSS_T counts simulated time, but MAVSDK sends its GCS heartbeat once per *wall*
    second, which a vehicle running K times faster sees once every K simulated seconds: unscaled,
    a 10 s timeout fires between two heartbeats at K >= 10 and every flight turns home on the
    link-loss failsafe. Scaling by K keeps the configured timeout in wall seconds, as the operator
    experiences it; the result is clamped to PX4's range.

    Examples
    --------
    >>> link_loss_timeout_for(10.0, 1.0), link_loss_timeout_for(10.0, 20.0), link_loss_timeout_for(10.0, 100.0)
    (10.0, 200.0, 300.0)
    """
    lo, hi = COM_DL_LOSS_T_RANGE_S
    return float(min(hi, max(lo, round(configured_s * speedup))))


class SimError(Exception):
    """The simulator could not be started (the message says why and where its log is)."""


def fleet_layout(settings: Settings) -> tuple[list[dict[str, float]], int, int]:
    """(homes, base port, first system id) of the configured fleet, as ``python -m sim`` needs them.

    Raises
    ------
    SimError
        If the drones' UDP ports or system ids are not consecutive (PX4 SITL's layout).
    """
    homes: list[dict[str, float]] = []
    ports: list[int] = []
    for d in settings.drones:
        b = settings.base(d.base)
        homes.append({"lat_deg": b.lat_deg, "lon_deg": b.lon_deg, "alt_amsl_m": b.alt_amsl_m})
        u = urlparse(d.url)
        if u.scheme != "udpin" or u.port is None:
            raise SimError(f"drone {d.id}: the demo needs udpin://0.0.0.0:PORT URLs, got {d.url}")
        ports.append(u.port)
    base_port, sysid = ports[0], settings.drones[0].system_id
    for i, d in enumerate(settings.drones):
        if ports[i] != base_port + i or d.system_id != sysid + i:
            raise SimError(f"drone {d.id}: the demo needs consecutive ports and system ids "
                           f"(expected port {base_port + i}, system_id {sysid + i})")
    return homes, base_port, sysid


class SimProcess:
    """``python -m sim`` for a fleet, with an explicit environment and one log file per run.

    Stop = terminate, wait, kill. Leaving the block always stops the process.
    """

    def __init__(self, homes: Sequence[dict[str, float]], *, base_port: int, sysid_base: int, speedup: float,
                 log_dir: Path, control_port: int | None = None, gcs: bool = True,
                 python: str = sys.executable) -> None:
        self.homes = list(homes)
        self.base_port = base_port
        self.sysid_base = sysid_base
        self.speedup = speedup
        self.log_dir = Path(log_dir)
        self.control_port = control_port
        self.gcs = gcs
        self.python = python
        self.proc: subprocess.Popen[bytes] | None = None
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        self.log_path = self.log_dir / f"sim-{stamp}-{os.getpid()}.log"
        self.fleet_path = self.log_dir / f"fleet-{stamp}-{os.getpid()}.json"

    def command(self) -> list[str]:
        cmd = [self.python, "-m", "sim", "--fleet", str(self.fleet_path), "--speedup", f"{self.speedup:g}",
               "--base-port", str(self.base_port), "--sysid-base", str(self.sysid_base)]
        if self.control_port is not None:
            cmd += ["--control-port", str(self.control_port)]
        if not self.gcs:
            cmd.append("--no-gcs")
        return cmd

    def env(self) -> dict[str, str]:
        # Explicit: only what the child needs, so the parent's environment cannot change its behaviour.
        keep = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT") if k in os.environ}
        return {**keep, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(PROJECT_ROOT)}

    def __enter__(self) -> SimProcess:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.fleet_path.write_text(json.dumps({"homes": self.homes}, indent=2))
        log = open(self.log_path, "wb")  # closed in stop()
        self._log = log
        try:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, env=self.env(),
                                         cwd=str(PROJECT_ROOT), start_new_session=True)
        except OSError as e:
            log.close()
            raise SimError(f"cannot start the simulator: {e}") from None
        return self

    def check_alive(self, grace_s: float = 0.0) -> None:
        """Raise :class:`SimError` (with the log's tail) if the process has exited."""
        deadline = time.monotonic() + grace_s
        while True:
            assert self.proc is not None
            code = self.proc.poll()
            if code is not None:
                raise SimError(f"the simulator exited with code {code}; its log ({self.log_path}) ends with:\n"
                               + self.log_tail())
            if time.monotonic() >= deadline:
                return
            time.sleep(0.05)

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout_s: float = 5.0) -> int | None:
        p = self.proc
        if p is None:
            return None
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout_s)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout_s)
        self._log.close()
        return p.returncode

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
