"""Launcher for real PX4 SITL (SIH quadrotor) instances, for the ``px4_sitl`` test scenarios.

API
---
::

    from sim.px4_sitl import Px4Sitl, Px4SitlError

    with Px4Sitl(count=3, homes=[(-6.175, 106.827, 12.0)] * 3, speed_factor=1.0) as px4:
        for inst in px4.instances:
            inst.index        # 0..N-1 (PX4 ``-i``)
            inst.system_id    # index + 1
            inst.mavsdk_url   # "udpin://0.0.0.0:<port>" for Mavsdk.add_any_connection()
            inst.workdir      # fresh working directory (parameters*.bson / dataman start empty)
            inst.log_path     # stdout+stderr of that instance
        px4.wait_for_log(0, "Ready for takeoff", timeout_s=60)   # optional
    # leaving the block stops every instance: SIGINT, wait, SIGKILL

* ``build_dir`` defaults to ``$PX4_SITL_BUILD`` (PX4-Autopilot's ``build/px4_sitl_default``);
  :class:`Px4SitlError` names the problem when it is unset or has no ``bin/px4`` / ``etc``.
* Each instance runs ``BUILD/bin/px4 -d -i N -w WORKDIR BUILD/etc`` with an explicit environment
  (``PX4_SIMULATOR=sihsim``, ``PX4_SIM_MODEL=sihsim_quadx``, ``PX4_SYS_AUTOSTART=10040``,
  ``PX4_HOME_LAT/LON/ALT``, ``PX4_SIM_SPEED_FACTOR``; nothing inherited but ``PATH``).
* Network: with ``netns="auto"`` (default) every instance gets a private network namespace
  (``unshare -rn``: only a loopback, so PX4's 0.0.0.0 binds and its 14550/8888/SIH traffic stay
  private and several runs cannot collide). A small relay inside the namespace carries the API
  link (PX4 sends to 127.0.0.1:14540+N, listens on 14580+N) to the host port in ``mavsdk_url``,
  through a socket the launcher opened in the host namespace. Host ports are then free choices
  (``api_ports``; default 14540+N). When a namespace cannot be made, PX4 runs on the host network
  (ports exactly 14540+N, whatever ``api_ports`` asked: always connect to ``mavsdk_url``) and the
  log says so; ``netns="never"``/``"require"`` force either way.
  Only the API link is relayed (QGroundControl's 14550 link stays inside the namespace).
* ``stop()`` sends SIGINT to each instance's process group, waits ``stop_timeout_s``, then SIGKILLs.
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import os
import re
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

__all__ = ["Px4Sitl", "Px4Instance", "Px4SitlError", "netns_available", "API_BASE_PORT",
           "PX4_API_LISTEN_BASE_PORT", "DEFAULT_HOME"]

API_BASE_PORT = 14540  # PX4 instance N sends its API/onboard link to 127.0.0.1:14540+N
PX4_API_LISTEN_BASE_PORT = 14580  # ... and listens on 14580+N
DEFAULT_HOME = (47.397742, 8.545594, 488.0)  # PX4's own default (Zurich)
_SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
_PROJECT_ROOT = Path(__file__).resolve().parent.parent

NetnsMode = Literal["auto", "never", "require"]


class Px4SitlError(RuntimeError):
    """The PX4 SITL build cannot be used, or an instance failed to start."""


@dataclass(frozen=True, slots=True)
class Px4Instance:
    index: int
    system_id: int
    mavsdk_url: str
    api_host_port: int
    home: tuple[float, float, float]
    workdir: Path
    log_path: Path
    in_netns: bool
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(repr=False)


def netns_available() -> bool:
    """Whether ``unshare -rn`` can make a private network namespace here."""
    exe = shutil.which("unshare")
    if exe is None:
        return False
    try:
        r = subprocess.run([exe, "-rn", "true"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


def _check_build(build_dir: str | os.PathLike[str] | None) -> tuple[Path, Path]:
    if build_dir is None or str(build_dir) == "":
        raise Px4SitlError(
            "PX4_SITL_BUILD is not set: point it at PX4-Autopilot's build/px4_sitl_default "
            "(after `make px4_sitl_default`)")
    build = Path(build_dir).expanduser()
    if not build.is_dir():
        raise Px4SitlError(f"PX4_SITL_BUILD={build} is not a directory")
    binary = build / "bin" / "px4"
    if not binary.is_file() or not os.access(binary, os.X_OK):
        raise Px4SitlError(f"PX4_SITL_BUILD={build} has no executable bin/px4 (is it a px4_sitl build?)")
    etc = build / "etc"
    if not etc.is_dir():
        raise Px4SitlError(f"PX4_SITL_BUILD={build} has no etc/ directory (incomplete build?)")
    return binary, etc


class Px4Sitl:
    """Start ``count`` PX4 SITL SIH instances; a context manager (see the module docstring).

    Parameters
    ----------
    count:
        Number of instances (PX4 ``-i 0..count-1``, system ids 1..count).
    build_dir:
        PX4 ``build/px4_sitl_default``; defaults to ``$PX4_SITL_BUILD``.
    homes:
        One (lat_deg, lon_deg, alt_amsl_m) per instance; defaults to PX4's Zurich home.
    speed_factor:
        ``PX4_SIM_SPEED_FACTOR`` (simulated seconds per wall second).
    base_dir:
        Where the per-instance working directories and logs go (default: a new temp directory,
        removed on stop unless ``keep_files``).
    netns:
        ``"auto"`` private namespace when possible, ``"never"``, or ``"require"``.
    api_ports:
        Host UDP ports MAVSDK listens on, one per instance (only free choices with a namespace;
        without one PX4 dictates 14540+N).
    """

    def __init__(
        self,
        count: int = 1,
        *,
        build_dir: str | os.PathLike[str] | None = None,
        homes: Sequence[tuple[float, float, float]] | None = None,
        speed_factor: float = 1.0,
        base_dir: str | os.PathLike[str] | None = None,
        netns: NetnsMode = "auto",
        api_ports: Sequence[int] | None = None,
        model: str = "sihsim_quadx",
        autostart: int = 10040,
        stop_timeout_s: float = 10.0,
        keep_files: bool = False,
        python: str = sys.executable,
    ) -> None:
        if count < 1:
            raise ValueError("count must be >= 1")
        if speed_factor <= 0:
            raise ValueError("speed_factor must be > 0")
        if homes is not None and len(homes) != count:
            raise ValueError(f"homes has {len(homes)} entries for {count} instances")
        if api_ports is not None and len(api_ports) != count:
            raise ValueError(f"api_ports has {len(api_ports)} entries for {count} instances")
        if netns not in ("auto", "never", "require"):
            raise ValueError("netns must be 'auto', 'never' or 'require'")
        self.binary, self.etc_dir = _check_build(
            build_dir if build_dir is not None else os.environ.get("PX4_SITL_BUILD"))
        self.count = count
        self.homes = [tuple(h) for h in homes] if homes is not None else [DEFAULT_HOME] * count
        self.speed_factor = speed_factor
        self.model = model
        self.autostart = autostart
        self.stop_timeout_s = stop_timeout_s
        self.keep_files = keep_files
        self.python = python
        self._netns_mode = netns
        self._api_ports = list(api_ports) if api_ports is not None else None
        self._own_base = base_dir is None
        self.base_dir = Path(base_dir) if base_dir is not None else Path(tempfile.mkdtemp(prefix="px4sitl-"))
        self.instances: list[Px4Instance] = []
        self._procs: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []
        self._host_socks: list[socket.socket] = []
        self.use_netns = False

    # -- lifecycle ----------------------------------------------------------------------------
    def __enter__(self) -> Px4Sitl:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Px4Sitl:
        if self._procs:
            raise Px4SitlError("already started")
        if self._netns_mode == "never":
            self.use_netns = False
        else:
            self.use_netns = netns_available()
            if not self.use_netns and self._netns_mode == "require":
                raise Px4SitlError("netns='require' but `unshare -rn` cannot make a network namespace here")
        self.base_dir.mkdir(parents=True, exist_ok=True)
        try:
            for i in range(self.count):
                self._start_one(i)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_one(self, i: int) -> None:
        workdir = self.base_dir / f"instance_{i}"
        # Fresh working directory: PX4 keeps parameters*.bson and dataman (the stored mission)
        # there, and a stale mission can be reported finished at once.
        if workdir.exists():
            shutil.rmtree(workdir)
        workdir.mkdir(parents=True)
        log_path = self.base_dir / f"px4_{i}.log"
        lat, lon, alt = self.homes[i]
        env = {
            "PATH": _SAFE_PATH,
            "HOME": str(workdir),
            "LANG": "C.UTF-8",
            "PX4_SIMULATOR": "sihsim",
            "PX4_SIM_MODEL": self.model,
            "PX4_SYS_AUTOSTART": str(self.autostart),
            "PX4_HOME_LAT": repr(float(lat)),
            "PX4_HOME_LON": repr(float(lon)),
            "PX4_HOME_ALT": repr(float(alt)),
            "PX4_SIM_SPEED_FACTOR": repr(float(self.speed_factor)),
        }
        px4_argv = [str(self.binary), "-d", "-i", str(i), "-w", str(workdir), str(self.etc_dir)]
        # Without a namespace PX4 itself picks the port (14540+N): requested api_ports are then
        # ignored (logged below) and mavsdk_url tells the caller the port actually used.
        wanted = self._api_ports[i] if self._api_ports is not None else API_BASE_PORT + i
        host_port = wanted if self.use_netns else API_BASE_PORT + i
        log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._logs.append(log)
        pass_fds: tuple[int, ...] = ()
        if self.use_netns:
            hs = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            hs.bind(("127.0.0.1", 0))
            self._host_socks.append(hs)
            pass_fds = (hs.fileno(),)
            runner_env = dict(env, PYTHONPATH=str(_PROJECT_ROOT))
            argv = [
                shutil.which("unshare") or "unshare", "-rn", "--",
                self.python, "-m", "sim.px4_sitl", "ns-run",
                "--host-fd", str(hs.fileno()), "--host-port", str(host_port),
                "--ns-port", str(API_BASE_PORT + i), "--px4-port", str(PX4_API_LISTEN_BASE_PORT + i),
                "--", *px4_argv,
            ]
            log.write(f"[px4_sitl] instance {i}: private network namespace (unshare -rn); API link "
                      f"relayed to host 127.0.0.1:{host_port}\n".encode())
        else:
            runner_env = env
            argv = px4_argv
            reason = "disabled (netns='never')" if self._netns_mode == "never" else \
                "not available (`unshare -rn` failed)"
            log.write(f"[px4_sitl] instance {i}: network namespace {reason}; PX4 uses the host "
                      f"network (binds 0.0.0.0, API link 127.0.0.1:{host_port})\n".encode())
            if wanted != host_port:
                log.write(f"[px4_sitl] instance {i}: requested API port {wanted} cannot be honoured "
                          f"without a namespace; MAVSDK must listen on {host_port}\n".encode())
        log.write(f"[px4_sitl] cwd={workdir} argv={argv!r}\n[px4_sitl] env={env!r}\n".encode())
        log.flush()
        try:
            proc = subprocess.Popen(
                argv, cwd=workdir, env=runner_env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True, pass_fds=pass_fds,
            )
        except OSError as exc:
            raise Px4SitlError(f"cannot start PX4 instance {i}: {exc}") from exc
        self._procs.append(proc)
        self.instances.append(Px4Instance(
            index=i, system_id=i + 1, mavsdk_url=f"udpin://0.0.0.0:{host_port}",
            api_host_port=host_port, home=(float(lat), float(lon), float(alt)), workdir=workdir,
            log_path=log_path, in_netns=self.use_netns, argv=tuple(argv), env=env,
        ))

    def stop(self) -> None:
        """SIGINT every instance's process group, wait, then SIGKILL what is left."""
        for proc in self._procs:
            if proc.poll() is None:
                _signal_group(proc, signal.SIGINT)
        deadline = time.monotonic() + self.stop_timeout_s
        for proc in self._procs:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
            # Whatever else is left in the group (e.g. a relay whose PX4 exited) goes too.
            _signal_group(proc, signal.SIGKILL)
        for log in self._logs:
            log.close()
        for s in self._host_socks:
            s.close()
        self._procs.clear()
        self._logs.clear()
        self._host_socks.clear()
        if self._own_base and not self.keep_files and self.base_dir.exists():
            shutil.rmtree(self.base_dir, ignore_errors=True)

    # -- queries ------------------------------------------------------------------------------
    def returncodes(self) -> list[int | None]:
        return [p.poll() for p in self._procs]

    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    def read_log(self, i: int) -> str:
        return self.instances[i].log_path.read_text(errors="replace")

    def wait_for_log(self, i: int, pattern: str, timeout_s: float = 60.0) -> str:
        """Wait (wall clock) until instance ``i``'s log matches ``pattern``; returns the match.

        Raises :class:`Px4SitlError` when the instance exits first or on timeout.
        """
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout_s
        while True:
            m = rx.search(self.read_log(i))
            if m:
                return m.group(0)
            if self._procs[i].poll() is not None:
                raise Px4SitlError(f"PX4 instance {i} exited with {self._procs[i].returncode} "
                                   f"before {pattern!r}; see {self.instances[i].log_path}")
            if time.monotonic() > deadline:
                raise Px4SitlError(f"PX4 instance {i}: {pattern!r} not seen in {timeout_s} s; "
                                   f"see {self.instances[i].log_path}")
            time.sleep(0.1)


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        # The group leader is gone and the id was reused by someone else's group: leave it.
        pass


# ==============================================================================================
# Inside the namespace: bring loopback up, start PX4, relay its API link to the host socket.
# ==============================================================================================

_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifr = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(s, _SIOCGIFFLAGS, ifr))[1]
        fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | _IFF_UP))


def _ns_run(args: argparse.Namespace) -> int:
    _loopback_up()
    host = socket.socket(fileno=args.host_fd)  # opened by the launcher in the host namespace
    host.setblocking(False)
    ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ns.bind(("127.0.0.1", args.ns_port))  # where PX4 sends its API link
    ns.setblocking(False)
    host_dest = ("127.0.0.1", args.host_port)
    px4_dest = ("127.0.0.1", args.px4_port)
    interrupted = False

    def on_int(signum: int, frame: object) -> None:
        nonlocal interrupted
        interrupted = True

    signal.signal(signal.SIGINT, on_int)
    signal.signal(signal.SIGTERM, on_int)
    proc = subprocess.Popen(args.command, stdin=subprocess.DEVNULL)
    sel = selectors.DefaultSelector()
    sel.register(ns, selectors.EVENT_READ, (ns, host, host_dest))
    sel.register(host, selectors.EVENT_READ, (host, ns, px4_dest))
    forwarded_int = False
    try:
        while proc.poll() is None:
            if interrupted and not forwarded_int:
                forwarded_int = True
                try:
                    proc.send_signal(signal.SIGINT)
                except ProcessLookupError:
                    pass
            for key, _ in sel.select(timeout=0.2):
                src, dst, dest = key.data
                while True:
                    try:
                        data = src.recv(65535)
                    except BlockingIOError:
                        break
                    except OSError as exc:
                        if exc.errno in (errno.ECONNREFUSED, errno.EAGAIN):
                            break
                        raise
                    try:
                        dst.sendto(data, dest)
                    except OSError as exc:
                        # Nobody listening on the other side yet: drop, as UDP would.
                        if exc.errno not in (errno.ECONNREFUSED, errno.ENETUNREACH, errno.EAGAIN):
                            raise
        return proc.returncode
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        sel.close()
        ns.close()
        host.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.px4_sitl")
    sub = parser.add_subparsers(dest="cmd", required=True)
    ns = sub.add_parser("ns-run", help="internal: run PX4 inside a namespace and relay its API link")
    ns.add_argument("--host-fd", type=int, required=True)
    ns.add_argument("--host-port", type=int, required=True)
    ns.add_argument("--ns-port", type=int, required=True)
    ns.add_argument("--px4-port", type=int, required=True)
    ns.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.command and args.command[0] == "--":
        args.command = args.command[1:]
    if not args.command:
        parser.error("ns-run needs the PX4 command after --")
    return _ns_run(args)


if __name__ == "__main__":
    sys.exit(main())
