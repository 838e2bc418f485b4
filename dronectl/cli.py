"""``dronectl``: serve the controller, run the demo, post reports, watch, manage tokens.

Errors are printed as one clear message (no traceback) with a non-zero exit status.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dronectl.config import Category, ConfigError, Role, Settings, hash_token, load_settings

__all__ = ["main"]

EXAMPLE_CONFIG = Path(__file__).resolve().parent.parent / "examples" / "muria" / "config.toml"
DEFAULT_URL = "http://127.0.0.1:8110"
#: Where the demo keeps its database and logs (relative to the current directory). Every command
#: that runs on the example configuration uses it too, so ``dronectl token create`` makes tokens
#: the running demo accepts.
DEMO_DATA_DIR = Path("data") / "demo"
#: ``dronectl watch``: seconds between reconnection attempts (doubling up to the maximum).
WATCH_RETRY_S = (0.5, 8.0)


class CliError(Exception):
    """A message for the user; printed without a traceback."""


# -- helpers ---------------------------------------------------------------------------------------
def _config_path(arg: str | None) -> Path:
    return Path(arg or os.environ.get("DRONECTL_CONFIG") or EXAMPLE_CONFIG)


def _data_dir(args: argparse.Namespace) -> Path | None:
    """The data directory a command uses: ``--data-dir``, else ``$DRONECTL_DATA_DIR``, else
    :data:`DEMO_DATA_DIR` for the shipped example configuration (as the demo), else None (the
    configuration's own ``data_dir``)."""
    arg = getattr(args, "data_dir", None) or os.environ.get("DRONECTL_DATA_DIR")
    if arg:
        return Path(arg).resolve()
    if _config_path(getattr(args, "config", None)).resolve() == EXAMPLE_CONFIG:
        return DEMO_DATA_DIR.resolve()
    return None


def _settings(args: argparse.Namespace) -> Settings:
    over: dict[str, Any] = {}
    data_dir = _data_dir(args)
    if data_dir is not None:
        over["data_dir"] = data_dir
    return load_settings(_config_path(args.config), **over)


def _new_token() -> str:
    return "dctl_" + secrets.token_urlsafe(24)


def _store_token(settings: Settings, role: Role, name: str, subject: str | None) -> str:
    from dronectl.store import Store

    token = _new_token()
    store = Store(settings.db_path)
    try:
        store.add_token(hash_token(token), role.value, name, subject)
        store.audit("token_created", {"role": role.value, "name": name, "subject": subject}, actor="cli")
    finally:
        store.close()
    return token


def _token(args: argparse.Namespace) -> str:
    tok = args.token or os.environ.get("DRONECTL_TOKEN")
    if not tok:
        raise CliError("a token is needed: --token TOKEN or the DRONECTL_TOKEN environment variable "
                       "(create one with `dronectl token create --role dispatcher`)")
    return str(tok)


def _http_error(r: Any) -> CliError:
    try:
        err = r.json()["error"]
        lines = [f"HTTP {r.status_code}: {err['message']}"]
        lines += [f"  {f['field']}: {f['reason']}" for f in err.get("fields", []) if f["field"] not in err["message"]]
        return CliError("\n".join(lines))
    except Exception:
        return CliError(f"HTTP {r.status_code}: {r.text[:300]}")


# -- serve / demo ----------------------------------------------------------------------------------
def check_mavlink_ports(settings: Settings) -> None:
    """Refuse to start when a drone's UDP port is already bound by another process.

    MAVSDK binds ``udpin://`` addresses with SO_REUSEADDR, so a second controller on the same
    configuration would start without an error and silently take the drones' links from the first
    one (the kernel hands the datagrams to the newest socket). A bind *without* SO_REUSEADDR fails
    while any other socket holds the port, so binding each port exclusively for a moment tells us.

    The probe is released before MAVSDK binds, so two controllers started in the same instant can
    both pass it (a narrow race we accept: the usual case is a controller already running for
    minutes, and MAVSDK offers no exclusive bind to close it).

    Raises
    ------
    CliError
        One line naming the drone, the address and the likely cause.
    """
    import errno
    import socket
    from urllib.parse import urlparse

    for d in settings.drones:
        u = urlparse(d.url)
        if u.scheme not in ("udpin", "udp") or u.port is None:
            continue  # outgoing (udpout://) and serial links bind nothing of ours
        host = u.hostname or "0.0.0.0"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind((host, u.port))
            except OSError as e:
                why = ("is already in use by another process (another dronectl controller, QGroundControl "
                       "or PX4 on this configuration?)" if e.errno == errno.EADDRINUSE else f"cannot be bound: {e}")
                raise CliError(f"drone {d.id}: UDP port {u.port} ({d.url}) {why}; refusing to start") from None


def _setup_logging(settings: Settings) -> Path:
    """Controller and MAVSDK logs go to one file per run under the data dir; warnings also to stderr."""
    import logging
    from datetime import datetime

    log_dir = settings.data_path / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / f"controller-{datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}.log"
    file_h = logging.FileHandler(path, encoding="utf-8")
    file_h.setLevel(logging.INFO)
    file_h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    err_h = logging.StreamHandler(sys.stderr)
    err_h.setLevel(logging.WARNING)
    err_h.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.addHandler(file_h)
    root.addHandler(err_h)
    logging.getLogger("mavsdk").addFilter(lambda r: r.levelno >= logging.INFO)
    logging.getLogger("mavsdk").propagate = True
    # The native MAVSDK core writes to stderr unless its lines are routed into logging.
    from dronectl.vehicles.mavsdk_gateway import route_mavsdk_logs

    route_mavsdk_logs()
    # MAVSDK's informational chatter stays in the file only.
    err_h.addFilter(lambda r: not (r.name.startswith("mavsdk") and r.levelno < logging.ERROR))
    return path


async def _serve(settings: Settings, host: str, port: int, banner: str | None = None) -> None:
    from dronectl.api import create_app
    from dronectl.api.server import serve_app

    app = create_app(settings)
    main_task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if main_task is not None:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGTERM, main_task.cancel)
    try:
        async with serve_app(app, host=host, port=port, log_level="warning") as url:
            print(banner.format(url=url) if banner else f"dronectl listening on {url} (docs: {url}/docs)",
                  flush=True)
            await asyncio.Event().wait()  # until Ctrl-C / SIGTERM
    except OSError as e:
        raise CliError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    check_mavlink_ports(settings)
    log_path = _setup_logging(settings)
    print(f"log: {log_path}", flush=True)
    from dronectl.store import Store

    store = Store(settings.db_path)
    try:
        if not settings.auth.tokens and store.count("tokens") == 0:
            print("note: no API tokens yet; create one with "
                  f"`dronectl token create --role dispatcher --config {_config_path(args.config)}"
                  + (f" --data-dir {args.data_dir}`" if args.data_dir else "`"), flush=True)
    finally:
        store.close()
    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        asyncio.run(_serve(settings, args.host, args.port))
    print("dronectl stopped", flush=True)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from dronectl.demo import SimError, SimProcess, activate_event_zones, fleet_layout, link_loss_timeout_for

    if args.speedup <= 0:
        raise CliError("--speedup must be > 0")
    data_dir = _data_dir(args) or DEMO_DATA_DIR.resolve()
    settings = load_settings(_config_path(args.config), data_dir=data_dir)
    zone_note = ""
    if not args.airspace_as_shipped and settings.airspace_file is not None:
        demo_air = data_dir / "airspace-demo.geojson"
        names = activate_event_zones(settings.airspace_file, demo_air)
        if names:
            settings = settings.with_overrides(airspace_path=demo_air)
            zone_note = f"  event zones active for this demo: {', '.join(names)} (--airspace-as-shipped: as configured)"
    try:
        homes, base_port, sysid = fleet_layout(settings)
    except SimError as e:
        raise CliError(str(e)) from None
    check_mavlink_ports(settings)
    # The vehicles' link-loss timeout runs in simulated time, MAVSDK's heartbeats in wall time:
    # keep the configured timeout in wall seconds (see demo.link_loss_timeout_for).
    configured_dl_s = settings.flight.link_loss_timeout_s
    dl_s = link_loss_timeout_for(configured_dl_s, args.speedup)
    if dl_s != configured_dl_s:
        settings = settings.with_overrides(flight={**settings.flight.model_dump(), "link_loss_timeout_s": dl_s})
    dl_note = (f"  link-loss failsafe: COM_DL_LOSS_T {dl_s:g} simulated s = {dl_s / args.speedup:.3g} wall s "
               f"(configured {configured_dl_s:g} s)")
    if dl_s / args.speedup < 3.0:
        dl_note += "  WARNING: under 3 wall s, MAVSDK's 1 Hz heartbeats may trip it; use a lower --speedup"
    log_path = _setup_logging(settings)
    tokens = {
        "dispatcher": _store_token(settings, Role.DISPATCHER, "demo-dispatcher", None),
        "integration": _store_token(settings, Role.INTEGRATION, "demo-call-centre", None),
        "officer": _store_token(settings, Role.OFFICER, "demo-officer", "babin-1"),
        "admin": _store_token(settings, Role.ADMIN, "demo-admin", None),
    }
    try:
        sim = SimProcess(homes, base_port=base_port, sysid_base=sysid, speedup=args.speedup,
                         log_dir=data_dir / "logs", control_port=args.sim_control_port, gcs=not args.no_gcs)
        with sim:
            sim.check_alive(grace_s=1.0)
            url = f"http://{args.host}:{args.port}"
            b = settings.bases[0]
            exe = "dronectl" if shutil.which("dronectl") else f"{os.path.relpath(sys.executable)} -m dronectl"
            # `token create` finds the demo's database by itself only with the example config and
            # the default data directory.
            token_args = "" if args.config is None else f" --config {args.config}"
            if data_dir != DEMO_DATA_DIR.resolve() or args.config is not None:
                token_args += f" --data-dir {data_dir}"
            banner = "\n".join([
                f"dronectl demo: {settings.area_name}",
                f"  simulated fleet: {len(homes)} drones (python -m sim, speed-up {args.speedup:g}x), "
                f"MAVLink udp {base_port}..{base_port + len(homes) - 1}; log {sim.log_path}",
                dl_note,
                "  controller: {url}   API docs: {url}/docs   metrics: {url}/metrics",
                "  telemetry:  ws://" + f"{args.host}:{args.port}/api/telemetry?token={tokens['dispatcher']}",
                f"  data:       {settings.db_path}   log: {log_path}",
                *([zone_note] if zone_note else []),
                "  tokens (stored hashed; valid for this data directory):",
                *[f"    {role:<12} {tok}" for role, tok in tokens.items()],
                "  try (in another terminal):",
                f"    export DRONECTL_URL={url} DRONECTL_TOKEN={tokens['dispatcher']}",
                f"    {exe} report --category crime --priority 1 --lat {b.lat_deg - 0.0011:.4f} "
                f"--lon {b.lon_deg - 0.0140:.4f} --description 'Pencurian motor'   # across the event zone",
                f"    {exe} watch",
                f"    {exe} token create --role officer --subject babin-2{token_args}   # more tokens",
                "  Ctrl-C stops everything.",
            ])
            with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
                asyncio.run(_serve(settings, args.host, args.port, banner=banner))
            code = sim.proc.poll() if sim.proc else None
            if code is not None:
                print(f"note: the simulator had exited (code {code}); see {sim.log_path}", file=sys.stderr)
    except SimError as e:
        raise CliError(str(e)) from None
    print("demo stopped (controller and simulator)", flush=True)
    return 0


# -- report / watch / token ------------------------------------------------------------------------
def cmd_report(args: argparse.Namespace) -> int:
    import httpx

    body: dict[str, Any] = {"category": args.category, "priority": args.priority,
                            "location": {"lat": args.lat, "lon": args.lon}, "channel": args.channel}
    for key, val in (("address", args.address), ("description", args.description), ("caller_phone", args.phone),
                     ("caller_nik", args.nik), ("external_id", args.external_id)):
        if val is not None:
            body[key] = val
    headers = {"Authorization": f"Bearer {_token(args)}", "Accept-Language": args.lang}
    try:
        r = httpx.post(f"{args.url.rstrip('/')}/api/reports", json=body, headers=headers, timeout=30.0)
    except httpx.HTTPError as e:
        raise CliError(f"cannot reach {args.url}: {e}") from None
    if r.status_code >= 400:
        raise _http_error(r)
    out = r.json()
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    en = args.lang == "en"
    words = ("Report accepted", "incident", "status", "mission", "merged into an open incident") if en else \
        ("Laporan diterima", "kejadian", "status", "misi", "digabung ke kejadian yang masih terbuka")
    line = f"{words[0]}: {words[1]} {out['incident_id']}, {words[2]} {out['status']}"
    if out.get("mission_id") is not None:
        line += f", {words[3]} {out['mission_id']}"
    print(line)
    if out.get("merged"):
        print(f"  ({words[4]})")
    if out.get("reason"):
        print(f"  {out['reason']}")
    return 0


def _fmt(v: Any, spec: str = "") -> str:
    return "-" if v is None else format(v, spec)


def render_watch(drones: list[dict[str, Any]], incidents: list[dict[str, Any]], events: Sequence[str]) -> str:
    lines = [f"dronectl watch  {time.strftime('%H:%M:%S')}", "",
             f"{'DRONE':<10} {'LINK':<10} {'MODE':<17} {'ARM':<4} {'AIR':<4} {'ALT m':>6} {'BAT %':>6} "
             f"{'SPD':>5} {'WP':>7} {'MISSION':>7}  {'LAT':>9} {'LON':>10}"]
    for d in drones:
        t = d["telemetry"]
        wp = f"{t['mission_current']}/{t['mission_total']}" if t["mission_total"] else "-"
        lines.append(
            f"{d['id']:<10} {t['link']:<10} {t['flight_mode']:<17} {'y' if t['armed'] else 'n':<4} "
            f"{'y' if t['in_air'] else 'n':<4} {_fmt(t['alt_rel_m'], '6.1f'):>6} {_fmt(t['battery_pct'], '6.1f'):>6} "
            f"{_fmt(t['ground_speed_m_s'], '5.1f'):>5} {wp:>7} {_fmt(d.get('mission_id')):>7}  "
            f"{_fmt(t['lat_deg'], '9.5f'):>9} {_fmt(t['lon_deg'], '10.5f'):>10}")
    lines += ["", f"{'INCIDENT':<8} {'CAT':<13} {'P':<2} {'STATUS':<12} {'MISSION':>7}  REASON"]
    for i in incidents[:12]:
        lines.append(f"{i['id']:<8} {i['category']:<13} {i['priority']:<2} {i['status']:<12} "
                     f"{_fmt(i['mission_id']):>7}  {(i.get('reason') or '')[:70]}")
    if events:
        lines += ["", "EVENTS"] + list(events)[-10:]
    return "\n".join(lines)


def _event_line(f: dict[str, Any]) -> str | None:
    ts = time.strftime("%H:%M:%S")
    k = f.get("type")
    if k == "mission_state":
        return f"{ts} mission {f['mission_id']} ({f['drone']}): {f['from_state']} -> {f['to_state']}"
    if k == "link":
        return f"{ts} {f['drone']}: link {f['link']}"
    if k == "low_battery":
        return f"{ts} {f['drone']}: low battery {f['battery_pct']:.0f}%"
    if k == "landed_away":
        where = "position unknown" if f.get("lat_deg") is None else (
            f"at {f['lat_deg']:.6f}, {f['lon_deg']:.6f}, {f['dist_from_base_m']:.0f} m from base")
        return f"{ts} {f['drone']}: LANDED AWAY FROM BASE ({where}), mission {f['mission_id']}"
    if k == "incident_updated":
        return f"{ts} incident {f['incident']}: {f['status']}"
    if k == "report_received":
        return f"{ts} report {f['report_id']} -> incident {f['incident']}{' (merged)' if f['merged'] else ''}"
    return None


class _Refused(CliError):
    """The controller answered but refused us (bad token, forbidden): retrying will not help."""


def _watch_lost_reason(e: BaseException) -> str:
    from websockets.exceptions import ConnectionClosed

    if isinstance(e, ConnectionClosed):
        rcvd = e.rcvd
        if rcvd is None:
            return "connection closed"
        return f"stream closed ({rcvd.code}{': ' + rcvd.reason if rcvd.reason else ''})"
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


async def _watch(url: str, token: str, lang: str, once: bool, clear: bool,
                 retry_s: tuple[float, float] = WATCH_RETRY_S) -> None:
    """Live view; when the controller goes away (restart, network), reconnect with backoff.

    A refusal (HTTP 401/403, a refused stream) ends the watch: retrying would not help; so does a
    controller that cannot be reached at the start (wrong URL, not running).
    """
    import httpx
    from websockets.exceptions import InvalidStatus, WebSocketException

    events: list[str] = []
    if once:
        await _watch_session(url, token, lang, once, clear, events)
        return
    delay = retry_s[0]
    ever_connected = False
    while True:
        connected = asyncio.Event()
        try:
            await _watch_session(url, token, lang, once, clear, events, connected=connected)
            return
        except _Refused:
            raise
        except (CliError, httpx.HTTPError, WebSocketException, OSError) as e:
            # A controller never reached is a wrong URL or a stopped service: say so and stop.
            # One that was there and went away (restart, network) is waited for; a refusal
            # (401/403) or a client error is final either way.
            was_up = ever_connected or connected.is_set()
            refused = isinstance(e, InvalidStatus) and e.response.status_code < 500
            if isinstance(e, CliError) and not str(e).startswith("HTTP 5"):
                raise
            if not was_up or refused:
                raise
            err: BaseException = e
        if connected.is_set():
            ever_connected = True
            delay = retry_s[0]  # it had worked: start the backoff again
            events.append(f"{time.strftime('%H:%M:%S')} controller connection lost")
        print(f"dronectl watch: lost the controller at {url} ({_watch_lost_reason(err)}); "
              f"reconnecting in {delay:g} s (Ctrl-C to stop)", file=sys.stderr, flush=True)
        await asyncio.sleep(delay)
        delay = min(retry_s[1], delay * 2)


async def _watch_session(url: str, token: str, lang: str, once: bool, clear: bool, events: list[str],
                         connected: asyncio.Event | None = None) -> None:
    import httpx
    from websockets.asyncio.client import connect

    headers = {"Authorization": f"Bearer {token}", "Accept-Language": lang}
    async with httpx.AsyncClient(base_url=url.rstrip("/"), headers=headers, timeout=10.0) as c:

        async def snapshot() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            rd, ri = await c.get("/api/drones"), await c.get("/api/incidents")
            for r in (rd, ri):
                if r.status_code in (401, 403):
                    raise _Refused(str(_http_error(r)))
                if r.status_code >= 400:
                    raise _http_error(r)
            return rd.json()["drones"], ri.json()["incidents"]

        drones, incidents = await snapshot()
        if once:
            print(render_watch(drones, incidents, events))
            return
        ws_url = url.rstrip("/").replace("http://", "ws://").replace("https://", "wss://") + "/api/telemetry"
        by_id = {d["id"]: d for d in drones}
        async with connect(ws_url, additional_headers=headers) as ws:
            if connected is not None:
                if events and events[-1].endswith("controller connection lost"):
                    events.append(f"{time.strftime('%H:%M:%S')} reconnected")
                    print(f"dronectl watch: reconnected to {url}", file=sys.stderr, flush=True)
                connected.set()
            last_draw = 0.0
            last_poll = time.monotonic()
            while True:
                try:
                    async with asyncio.timeout(0.5):
                        f = json.loads(await ws.recv())
                except TimeoutError:
                    f = {}
                # (ConnectionClosed, e.g. 1001/1012 when the controller stops or restarts, ends
                # this session; _watch reconnects.)
                if f.get("type") == "telemetry" and f["drone_id"] in by_id:
                    tel = {k: f[k] for k in by_id[f["drone_id"]]["telemetry"] if k in f}
                    by_id[f["drone_id"]]["telemetry"] = tel
                    by_id[f["drone_id"]]["mission_id"] = f.get("mission_id")
                elif f:
                    line = _event_line(f)
                    if line:
                        events.append(line)
                now = time.monotonic()
                if now - last_poll > 3.0 or f.get("type") in ("incident_updated", "mission_state"):
                    _, incidents = await snapshot()
                    last_poll = now
                if now - last_draw >= 0.5:
                    out = render_watch(list(by_id.values()), incidents, events)
                    print(("\x1b[H\x1b[2J" if clear else "") + out, flush=True)
                    last_draw = now


def cmd_watch(args: argparse.Namespace) -> int:
    import httpx
    from websockets.exceptions import InvalidStatus, WebSocketException

    try:
        asyncio.run(_watch(args.url, _token(args), args.lang, args.once, clear=sys.stdout.isatty()))
    except KeyboardInterrupt:
        return 0
    except httpx.HTTPError as e:
        raise CliError(f"cannot reach {args.url}: {e}") from None
    except InvalidStatus as e:
        raise CliError(f"telemetry stream refused: HTTP {e.response.status_code}") from None
    except (WebSocketException, OSError) as e:
        raise CliError(f"telemetry stream ended: {e}") from None
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    settings = _settings(args)
    role = Role(args.role)
    if role is Role.OFFICER and not args.subject:
        raise CliError("--subject OFFICER_ID is required for officer tokens (incidents are assigned to it)")
    token = _store_token(settings, role, args.name or f"cli-{role.value}", args.subject)
    print(token)
    print(f"({role.value} token stored hashed in {settings.db_path})", file=sys.stderr)
    return 0


# -- parser ----------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dronectl", description="Drone-as-first-responder controller for 110 call centres.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the controller (API on HTTP/WebSocket)")
    s.add_argument("--config", help=f"TOML configuration (default: $DRONECTL_CONFIG or {EXAMPLE_CONFIG.name} example)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8110)
    s.add_argument("--data-dir", help="override the configuration's data directory (default: $DRONECTL_DATA_DIR; "
                                      "data/demo for the example configuration, as the demo)")
    s.set_defaults(func=cmd_serve)

    d = sub.add_parser("demo", help="simulated Kudus fleet + controller on http://127.0.0.1:8110")
    d.add_argument("--config", help="TOML configuration (default: examples/muria/config.toml)")
    d.add_argument("--speedup", type=float, default=1.0, help="simulated time runs K times faster")
    d.add_argument("--host", default="127.0.0.1")
    d.add_argument("--port", type=int, default=8110)
    d.add_argument("--data-dir", help="where the demo stores its database and logs "
                                      "(default: $DRONECTL_DATA_DIR or data/demo)")
    d.add_argument("--sim-control-port", type=int, help="the simulator's fault/control port (default 14530)")
    d.add_argument("--no-gcs", action="store_true", help="no QGroundControl link from the simulator")
    d.add_argument("--airspace-as-shipped", action="store_true",
                   help="keep event zones' configured time windows (default: active during the demo)")
    d.set_defaults(func=cmd_demo)

    r = sub.add_parser("report", help="post a 110 report over HTTP")
    r.add_argument("--url", default=os.environ.get("DRONECTL_URL", DEFAULT_URL))
    r.add_argument("--token", help="bearer token (default: $DRONECTL_TOKEN)")
    r.add_argument("--category", required=True, choices=[c.value for c in Category])
    r.add_argument("--priority", type=int, default=2, help="1 = most urgent .. 5")
    r.add_argument("--lat", type=float, required=True)
    r.add_argument("--lon", type=float, required=True)
    r.add_argument("--address")
    r.add_argument("--description")
    r.add_argument("--phone")
    r.add_argument("--nik")
    r.add_argument("--channel", default="phone", choices=["phone", "app", "kiosk", "sms"])
    r.add_argument("--external-id")
    r.add_argument("--lang", default="id", choices=["id", "en"])
    r.add_argument("--json", action="store_true", help="print the API's answer as JSON")
    r.set_defaults(func=cmd_report)

    w = sub.add_parser("watch", help="live terminal view of drones and incidents")
    w.add_argument("--url", default=os.environ.get("DRONECTL_URL", DEFAULT_URL))
    w.add_argument("--token", help="bearer token (default: $DRONECTL_TOKEN)")
    w.add_argument("--lang", default="id", choices=["id", "en"])
    w.add_argument("--once", action="store_true", help="print one snapshot and exit")
    w.set_defaults(func=cmd_watch)

    t = sub.add_parser("token", help="API tokens")
    tsub = t.add_subparsers(dest="token_command", required=True)
    tc = tsub.add_parser("create", help="create a token; prints it on stdout (stored hashed)")
    tc.add_argument("--role", required=True, choices=[x.value for x in Role])
    tc.add_argument("--name", help="a label for audits")
    tc.add_argument("--subject", help="officer id (for --role officer)")
    tc.add_argument("--config", help="TOML configuration (default: $DRONECTL_CONFIG or the example)")
    tc.add_argument("--data-dir", help="override the configuration's data directory (default: $DRONECTL_DATA_DIR; "
                                       "data/demo for the example configuration, as the demo)")
    tc.set_defaults(func=cmd_token_create)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (CliError, ConfigError) as e:
        print(f"dronectl: {e}", file=sys.stderr)
        return 2 if isinstance(e, ConfigError) else 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
