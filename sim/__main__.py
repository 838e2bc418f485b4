"""``python -m sim`` / ``dronectl-sim``: run a simulated PX4 fleet, or talk to a running one.

Run::

    python -m sim --vehicles 3 [--home LAT,LON,ALT] [--speedup K] [--base-port 14540]
    python -m sim --fleet fleet.json          # {"homes": [{"lat_deg":..,"lon_deg":..,"alt_amsl_m":..}, ..]}
    python -m sim --vehicles 2 --api-ports 40100,40200   # vehicle i sends to its own port (no layout)

Faults and state of a running fleet (through its control port, default 127.0.0.1:14530)::

    python -m sim fault link-loss 30 --vehicle 0     # simulated seconds; omit for "until restored"
    python -m sim fault link-restore --vehicle 0
    python -m sim fault gps-loss on|off --vehicle 1
    python -m sim fault battery 15 --vehicle 2
    python -m sim fault reject-next --vehicle 0
    python -m sim fault reboot --vehicle 0
    python -m sim state --vehicle 0
    python -m sim param NAV_DLL_ACT --vehicle 0      # read a parameter; add a value to set it
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from sim.control import CONTROL_PORT, ControlClient, ControlError, ControlServer
from sim.link import API_BASE_PORT, GCS_LISTEN_BASE_PORT, GCS_PORT, PortInUseError, VehiclePorts
from sim.runtime import Runtime, VehicleSpec
from sim.vehicle import Home

DEFAULT_HOME = Home(-6.2088, 106.8456, 10.0)  # Jakarta (Monas)
_SPACING_DEG = 0.0001  # ~11 m between default homes, so vehicles do not start on top of each other


def _home(text: str) -> Home:
    try:
        lat, lon, alt = (float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("expected LAT,LON,ALT (degrees, degrees, metres AMSL)") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise argparse.ArgumentTypeError("latitude must be within -90..90 and longitude within -180..180")
    return Home(lat, lon, alt)


def _load_fleet(path: str) -> list[Home]:
    try:
        data = json.loads(Path(path).read_text())
        homes = data["homes"] if isinstance(data, dict) else data
        out = [Home(float(h["lat_deg"]), float(h["lon_deg"]), float(h["alt_amsl_m"])) for h in homes]
    except FileNotFoundError:
        raise SystemExit(f"error: --fleet: no such file: {path}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise SystemExit(
            f"error: --fleet {path}: expected {{\"homes\": [{{\"lat_deg\", \"lon_deg\", \"alt_amsl_m\"}}, ...]}} "
            f"({type(exc).__name__}: {exc})") from None
    if not out:
        raise SystemExit(f"error: --fleet {path}: no homes")
    return out


def _ports(text: str) -> list[int]:
    try:
        ports = [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError("expected comma-separated UDP ports, e.g. 40100,40101") from None
    bad = [p for p in ports if not 1 <= p <= 65535]
    if bad:
        raise argparse.ArgumentTypeError(f"UDP ports must be within 1..65535, got {bad[0]}")
    return ports


def _run_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m sim",
        description="PX4-like simulated vehicles that MAVSDK and QGroundControl fly like PX4 SITL. "
        "Subcommands of a running fleet: 'fault ...', 'state ...', 'param ...' (see 'python -m sim fault -h').",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--vehicles", type=int, default=None, metavar="N", help="number of vehicles (default 1)")
    src.add_argument("--fleet", metavar="FILE", help="JSON file with one home per vehicle")
    p.add_argument("--home", type=_home, default=DEFAULT_HOME, metavar="LAT,LON,ALT",
                   help="home of vehicle 0 (others 11 m apart to the east); default Jakarta")
    p.add_argument("--speedup", type=float, default=1.0, metavar="K",
                   help="simulated time runs K times faster than wall time (default 1)")
    p.add_argument("--base-port", type=int, default=API_BASE_PORT, metavar="P",
                   help="vehicle i sends to 127.0.0.1:P+i and listens on P+40+i (default 14540)")
    p.add_argument("--api-ports", type=_ports, default=None, metavar="P0,P1,..",
                   help="vehicle i sends to 127.0.0.1:Pi (one port per vehicle; overrides --base-port); "
                   "it then listens on a port the OS picks unless --api-listen-ports")
    p.add_argument("--api-listen-ports", type=_ports, default=None, metavar="L0,L1,..",
                   help="with --api-ports: vehicle i listens on 127.0.0.1:Li")
    p.add_argument("--gcs-port", type=int, default=GCS_PORT, metavar="PORT",
                   help="GCS link sends here, listens on 18570+i (default 14550)")
    p.add_argument("--no-gcs", action="store_true", help="no GCS link")
    p.add_argument("--sysid-base", type=int, default=1, metavar="ID",
                   help="system id of vehicle 0 (default 1, as PX4 SITL)")
    p.add_argument("--control-port", type=int, default=CONTROL_PORT, metavar="PORT",
                   help="local control port for faults (default 14530)")
    return p


def _client_parser() -> argparse.ArgumentParser:
    # --vehicle / --control-port are accepted anywhere on the line (before or after the fault kind).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--vehicle", type=int, default=argparse.SUPPRESS, metavar="I",
                        help="vehicle index (default 0)")
    common.add_argument("--control-port", type=int, default=argparse.SUPPRESS, metavar="PORT",
                        help=f"the fleet's control port (default {CONTROL_PORT})")
    p = argparse.ArgumentParser(prog="python -m sim", parents=[common],
                                description="Talk to a running simulated fleet.")
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fault", parents=[common], help="inject a fault")
    kinds = f.add_subparsers(dest="kind", required=True)
    ll = kinds.add_parser("link-loss", parents=[common],
                          help="drop the vehicle's links for T simulated seconds (omit T: until restored)")
    ll.add_argument("duration_s", type=float, nargs="?", default=None, metavar="T")
    kinds.add_parser("link-restore", parents=[common], help="end a link loss")
    gl = kinds.add_parser("gps-loss", parents=[common], help="GPS fix lost (on) or back (off)")
    gl.add_argument("onoff", choices=["on", "off"], nargs="?", default="on")
    b = kinds.add_parser("battery", parents=[common], help="set remaining battery percentage")
    b.add_argument("pct", type=float)
    kinds.add_parser("reject-next", parents=[common], help="answer the next command TEMPORARILY_REJECTED")
    kinds.add_parser("reboot", parents=[common], help="reboot the vehicle")
    sub.add_parser("state", parents=[common], help="print a vehicle's true state as JSON")
    pa = sub.add_parser("param", parents=[common], help="read a vehicle's parameter; with VALUE: set it first")
    pa.add_argument("name", metavar="NAME", help="PX4 parameter name, e.g. NAV_DLL_ACT")
    pa.add_argument("value", type=float, nargs="?", default=None, metavar="VALUE")
    return p


def _client_main(argv: Sequence[str]) -> int:
    args = _client_parser().parse_args(argv)
    args.vehicle = getattr(args, "vehicle", 0)
    client = ControlClient(getattr(args, "control_port", CONTROL_PORT))
    try:
        if args.cmd == "state":
            reply = client.call("state", vehicle=args.vehicle)
            print(json.dumps(reply, indent=2))
            return 0
        if args.cmd == "param":
            call: dict[str, object] = {"vehicle": args.vehicle, "name": args.name}
            if args.value is not None:
                call["value"] = args.value
            reply = client.call("param", **call)
            value = reply["value"]
            shown = str(int(value)) if reply["type"] == "INT32" else f"{value:g}"
            print(f"{reply['name']} = {shown}")
            return 0
        kind = args.kind
        if kind == "link-loss":
            client.call("link_loss", vehicle=args.vehicle, duration_s=args.duration_s)
        elif kind == "link-restore":
            client.call("link_restore", vehicle=args.vehicle)
        elif kind == "gps-loss":
            client.call("gps_loss", vehicle=args.vehicle, lost=args.onoff == "on")
        elif kind == "battery":
            client.call("battery", vehicle=args.vehicle, pct=args.pct)
        elif kind == "reject-next":
            client.call("reject_next_command", vehicle=args.vehicle)
        elif kind == "reboot":
            client.call("reboot", vehicle=args.vehicle)
    except ControlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"ok: {kind} on vehicle {args.vehicle}")
    return 0


async def _serve(specs: list[VehicleSpec], speedup: float, control_port: int) -> None:
    runtime = Runtime(specs, speedup=speedup)
    await runtime.start()
    try:
        control = await ControlServer.open(runtime, control_port)
    except BaseException:
        await runtime.stop()
        raise
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    for r in runtime.runners:
        p = r.spec.ports
        # The bound ports, not the asked ones: a listen port of 0 is the OS's pick.
        gcs = f", GCS link listens {r.links['gcs'].local_port} -> {p.gcs_remote}" if "gcs" in r.links else ""
        print(f"vehicle {r.spec.system_id - specs[0].system_id}: system id {r.spec.system_id}, "
              f"home {r.spec.home.lat_deg:.6f},{r.spec.home.lon_deg:.6f},{r.spec.home.alt_amsl_m:.1f}; "
              f"MAVSDK: udpin://0.0.0.0:{p.api_remote} (sim listens {r.links['api'].local_port}){gcs}")
    print(f"speed-up {speedup:g}x; control port 127.0.0.1:{control.port}; Ctrl-C stops", flush=True)
    waiter = asyncio.ensure_future(runtime.wait())
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if waiter.done():
            waiter.result()  # the stepping loop failed: let its error show
    finally:
        stopper.cancel()
        control.close()
        await runtime.stop()
    print("stopped", flush=True)


_CLIENT_COMMANDS = ("fault", "state", "param")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in _CLIENT_COMMANDS:
        return _client_main(argv)
    if any(cmd in argv for cmd in _CLIENT_COMMANDS):
        # e.g. "python -m sim --control-port 1 fault ..."
        return _client_main(argv)
    args = _run_parser().parse_args(argv)
    if args.speedup <= 0:
        print("error: --speedup must be > 0", file=sys.stderr)
        return 2
    homes = _load_fleet(args.fleet) if args.fleet else [
        Home(args.home.lat_deg, args.home.lon_deg + i * _SPACING_DEG, args.home.alt_amsl_m)
        for i in range(args.vehicles if args.vehicles is not None else 1)
    ]
    if not 1 <= len(homes) <= 200:
        print("error: --vehicles must be within 1..200", file=sys.stderr)
        return 2
    if not 1 <= args.sysid_base <= 256 - len(homes):
        print("error: --sysid-base leaves system ids outside 1..255", file=sys.stderr)
        return 2
    if args.api_listen_ports is not None and args.api_ports is None:
        print("error: --api-listen-ports needs --api-ports", file=sys.stderr)
        return 2
    for opt, ports in (("--api-ports", args.api_ports), ("--api-listen-ports", args.api_listen_ports)):
        if ports is not None and len(ports) != len(homes):
            print(f"error: {opt} has {len(ports)} port(s) for {len(homes)} vehicle(s)", file=sys.stderr)
            return 2
    gcs_port = None if args.no_gcs else args.gcs_port
    specs = []
    for i, h in enumerate(homes):
        p = VehiclePorts.px4(i, base_port=args.base_port, gcs_port=gcs_port, gcs_listen_base=GCS_LISTEN_BASE_PORT)
        if args.api_ports is not None:
            listen = 0 if args.api_listen_ports is None else args.api_listen_ports[i]
            p = VehiclePorts(args.api_ports[i], listen, p.gcs_remote, p.gcs_listen)
        specs.append(VehicleSpec(h, args.sysid_base + i, p))
    try:
        asyncio.run(_serve(specs, args.speedup, args.control_port))
    except PortInUseError as exc:
        print(f"error: {exc}; is PX4 SITL or another simulator running? "
              f"(use --base-port / --control-port / --no-gcs)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
