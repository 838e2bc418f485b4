"""Telemetry fan-out: 20 drones x 10 Hz to 100 WebSocket clients through the real controller.

Issue 4, item 9b. Target: end-to-end p99 < 100 ms on 2 cores.

Four processes on 127.0.0.1:

* the simulated fleet (``bench/_dronectl_bench.py sim``): 20 vehicles at speed-up 1 (real time),
  10 at Polres Kudus and 10 at Polsek Jati. A bench-only observer notes the wall time at which
  every GLOBAL_POSITION_INT leaves a vehicle's UDP socket, with a hash of its content (system id,
  lat, lon, relative altitude);
* the controller (``bench/_dronectl_bench.py serve``): the real app under uvicorn, real SQLite,
  the real ``MavsdkGateway`` with ``telemetry.rate_hz = 10`` (stream rates requested from the
  vehicles and the hub's publication rate);
* the clients (this file, ``clients`` role): 100 WebSocket clients of ``WS /api/telemetry``, all
  drones, in one asyncio process: a minimal RFC 6455 client (frames parsed in
  ``data_received``, no task per message) so that the clients, which stand in for phones on other
  machines, take as little as possible of the 2 cores; token as a query parameter and
  permessage-deflate offered, as browsers do (``--no-deflate``: not offered);
* this script: posts 20 reports (one per drone: all 20 fly missions 3 km out, so every position
  is new), waits until they are all airborne, starts the clients, and analyses.

What is measured, and why:

* **vehicle send -> client receive** (the issue's end-to-end span): for each client and each
  telemetry frame carrying a position that client had not seen yet, the client's receive time
  minus the time the vehicle sent the GLOBAL_POSITION_INT with exactly that position. Positions
  are matched by content (lat/lon 1e-7 deg, relative altitude mm, system id); positions the
  vehicle sent more than once (not moving) are left out because they cannot be attributed.
  This span includes MAVSDK's receive path, the gateway (a snapshot is published as each
  position arrives, rate-limited by dropping, never by waiting), the hub, the bus, the
  WebSocket send, the loopback network and the client's own receive path.
* split at the gateway snapshot (each frame carries the snapshot's ``time_us``): vehicle send ->
  snapshot, and snapshot -> client receive (the service's fan-out proper).
* CPU seconds of each process over the measurement window (/proc), as a fraction of one core,
  and the whole machine's busy cores (the machine is shared).

Run::

    .venv/bin/python bench/telemetry_fanout.py             # 60 s window
    .venv/bin/python bench/telemetry_fanout.py --quick     # 10 s window
    .venv/bin/python bench/telemetry_fanout.py --clients 1,10,25,50,100 --seconds 15   # capacity sweep
"""

from __future__ import annotations

import argparse
import array
import asyncio
import base64
import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.parse
import zlib
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _dronectl_bench import (  # noqa: E402
    HQ,
    JATI,
    TOKENS,
    BenchDrone,
    Child,
    bench_settings,
    cpu_seconds,
    load_send_record,
    loadavg,
    machine_busy,
    min_spacing_m,
    print_table,
    ring_points,
    temp_dir,
    write_ready,
    wait_for,
)

BENCH = Path(__file__).resolve().parent
INTEGRATION = {"Authorization": f"Bearer {TOKENS['integration']}"}
DISPATCHER = {"Authorization": f"Bearer {TOKENS['dispatcher']}"}


# -- the clients process --------------------------------------------------------------------------

class RawWsClient(asyncio.Protocol):
    """A minimal WebSocket client (RFC 6455; permessage-deflate optional, RFC 7692).

    The 100 clients stand in for phones and browsers on *other* machines, so their own cost should
    weigh as little as possible on the 2 cores the controller is measured on: frames are parsed
    in ``data_received`` (no task per message), the receive time is taken when the bytes reach
    user space, and only the few fields needed are kept. Pings are answered, close frames noted.
    """

    def __init__(self, path: str, host: str, deflate: bool, on_text: Any, on_close: Any) -> None:
        self.path, self.host, self.offer_deflate = path, host, deflate
        self.on_text, self.on_close = on_text, on_close
        self.buf = bytearray()
        self.open: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.inflater: Any = None
        self.parts: list[bytes] = []
        self.compressed = False
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        key = base64.b64encode(os.urandom(16)).decode()
        ext = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" if self.offer_deflate else ""
        self.transport.write((f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\n"
                              f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                              f"{ext}\r\n").encode())

    def _send(self, opcode: int, payload: bytes) -> None:
        assert self.transport is not None and len(payload) < 126
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            with contextlib.suppress(Exception):
                self._send(0x8, (1000).to_bytes(2, "big"))
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        t = time.time()
        buf = self.buf
        buf += data
        if not self.open.done():
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end]).decode("latin-1")
            del buf[:end + 4]
            if not head.startswith("HTTP/1.1 101"):
                self.open.set_exception(ConnectionError(head.split("\r\n")[0]))
                return
            if "permessage-deflate" in head.lower():
                self.inflater = zlib.decompressobj(-15)
            self.open.set_result(None)
        while len(buf) >= 2:
            b0, b1 = buf[0], buf[1]
            n, off = b1 & 0x7F, 2
            if n == 126:
                if len(buf) < 4:
                    return
                n, off = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127:
                if len(buf) < 10:
                    return
                n, off = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < off + n:
                return
            payload = bytes(buf[off:off + n])
            del buf[:off + n]
            op = b0 & 0x0F
            if op in (0x1, 0x2):
                self.parts = [payload]
                self.compressed = bool(b0 & 0x40)
            elif op == 0x0:
                self.parts.append(payload)
            elif op == 0x9:
                self._send(0xA, payload)  # pong
                continue
            elif op == 0x8:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                self.on_close(code)
                self.closed = True
                self.close()
                return
            else:
                continue
            if b0 & 0x80:  # FIN: a whole message
                msg = b"".join(self.parts) if len(self.parts) > 1 else self.parts[0]
                if self.compressed and self.inflater is not None:
                    msg = self.inflater.decompress(msg + b"\x00\x00\xff\xff")
                self.on_text(msg, t)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed:
            self.closed = True
            self.on_close(1006)


async def clients_main(args: argparse.Namespace) -> None:
    sysid: dict[str, int] = json.loads(args.sysids)
    pids: dict[str, int] = json.loads(args.pids)
    n = args.n
    keys = array.array("q")
    recv_t = array.array("d")
    snap_t = array.array("d")
    who = array.array("H")
    frames = [0] * n
    closed: dict[str, int] = {}
    state = {"recording": False, "stopping": False}
    parsed = urllib.parse.urlsplit(args.url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
    path = f"{parsed.path}?token={TOKENS['dispatcher']}"
    loop = asyncio.get_running_loop()

    def make(i: int) -> RawWsClient:
        def on_text(raw: bytes, t: float) -> None:
            if not state["recording"]:
                return
            d = json.loads(raw)
            if d.get("type") != "telemetry":
                return
            frames[i] += 1
            lat, lon, alt = d.get("lat_deg"), d.get("lon_deg"), d.get("alt_rel_m")
            if lat is None or lon is None or alt is None:
                return
            keys.append(hash((sysid[d["drone_id"]], round(lat * 1e7), round(lon * 1e7), round(alt * 1000))))
            recv_t.append(t)
            snap_t.append(d["time_us"] / 1e6)
            who.append(i)

        def on_close(code: int) -> None:
            if not state["stopping"]:
                closed[f"closed {code}"] = closed.get(f"closed {code}", 0) + 1

        return RawWsClient(path, f"{host}:{port}", not args.no_deflate, on_text, on_close)

    conns: list[RawWsClient] = []
    for i in range(n):
        _, proto = await loop.create_connection(lambda i=i: make(i), host, port)
        await asyncio.wait_for(proto.open, 30)
        conns.append(proto)
    await asyncio.sleep(args.warmup)
    cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
    me0 = cpu_seconds(os.getpid())
    busy0 = machine_busy()
    t_start = time.time()
    state["recording"] = True
    await asyncio.sleep(args.seconds)
    state["recording"] = False
    t_end = time.time()
    cpu1 = {name: cpu_seconds(pid) for name, pid in pids.items()}
    me1 = cpu_seconds(os.getpid())
    busy1 = machine_busy()
    state["stopping"] = True
    for c in conns:
        c.close()
    await asyncio.sleep(0.5)
    span = t_end - t_start
    out = {
        "t_start": t_start, "t_end": t_end, "clients": n,
        "deflate": sum(1 for c in conns if c.inflater is not None),
        "cpu_cores": {**{k: (cpu1[k] - cpu0[k]) / span for k in pids}, "clients": (me1 - me0) / span},
        "machine_busy_cores": (busy1[0] - busy0[0]) / max(1.0, busy1[1] - busy0[1]) * 2,
        "frames": frames, "closed": closed, "records": len(keys), "loadavg_end": loadavg(),
    }
    Path(args.out + ".json").write_text(json.dumps(out))
    with open(args.out + ".bin", "wb") as f:
        f.write(len(keys).to_bytes(8, "little"))
        keys.tofile(f)
        recv_t.tofile(f)
        snap_t.tofile(f)
        who.tofile(f)


# -- the driver -----------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    import httpx
    import numpy as np

    from sim import free_udp_port

    seconds = 10.0 if args.quick else args.seconds
    n_drones, rate = args.drones, args.rate
    counts = [int(x) for x in str(args.clients).split(",")]
    results: list[tuple[dict[str, Any], tuple[Any, Any, Any, Any]]] = []
    with temp_dir("dronectl-bench-fanout-") as tmp:
        ports = [free_udp_port() for _ in range(n_drones)]
        drones = [BenchDrone(f"{'hq' if i % 2 == 0 else 'jati'}-{i // 2 + 1:02d}", "hq" if i % 2 == 0 else "jati",
                             ports[i], i + 1) for i in range(n_drones)]
        settings = bench_settings(tmp, drones, rate_hz=rate, link_loss_timeout_s=10.0)
        (tmp / "settings.json").write_text(settings.model_dump_json())
        control_port = free_udp_port()
        record = tmp / "sent.bin"
        sim = Child("sim", [sys.executable, str(BENCH / "_dronectl_bench.py"), "sim", "--homes",
                            json.dumps([d.home for d in drones]), "--api-ports", ",".join(map(str, ports)),
                            "--sysid-base", "1", "--speedup", "1", "--control-port", str(control_port),
                            "--ready", str(tmp / "sim.ready"), "--record", str(record)],
                    tmp / "sim.log", tmp / "sim.ready")
        server = Child("controller", [sys.executable, str(BENCH / "_dronectl_bench.py"), "serve", "--settings",
                                      str(tmp / "settings.json"), "--ready", str(tmp / "serve.ready")]
                       + (["--profile", str(Path(args.profile_controller).resolve())] if args.profile_controller
                          else []),
                       tmp / "serve.log", tmp / "serve.ready")
        points = ring_points(HQ, (n_drones + 1) // 2, 3000.0) + ring_points(JATI, n_drones // 2, 3000.0)
        assert min_spacing_m(points) > 400.0, "report points would merge"
        with sim, server:
            sim_info = sim.wait_ready()
            info = server.wait_ready(90)
            url = info["url"]
            print(f"controller {url}; {n_drones} drones x {rate:g} Hz -> {args.clients} WebSocket clients, "
                  f"{seconds:g} s window; load average {loadavg()}", flush=True)
            with httpx.Client(base_url=url, timeout=30.0) as http:

                def drones_json() -> list[dict[str, Any]]:
                    r = http.get("/api/drones", headers=DISPATCHER)
                    r.raise_for_status()
                    return list(r.json()["drones"])

                wait_for(lambda: all(d["available"] for d in drones_json()), 180, "every drone available", poll_s=0.25)
                missions = []
                for i, (lat, lon) in enumerate(points):
                    r = http.post("/api/reports", headers=INTEGRATION, json={
                        "category": "fire", "priority": 1, "location": {"lat": lat, "lon": lon},
                        "channel": "app", "description": "bench: kebakaran", "external_id": f"fanout-{i}"})
                    r.raise_for_status()
                    if r.json()["mission_id"] is None:
                        raise RuntimeError(f"report {i} not dispatched: {r.json()}")
                    missions.append(r.json()["mission_id"])

                def states() -> list[str]:
                    return [http.get(f"/api/missions/{m}", headers=DISPATCHER).json()["state"] for m in missions]

                wait_for(lambda: all(s == "en_route" for s in states()), 120, "every drone en route", poll_s=0.25)
                print(f"{len(missions)} missions en route; starting clients", flush=True)
                ws_url = url.replace("http://", "ws://") + "/api/telemetry"
                for n_clients in counts:
                    out = tmp / f"clients{n_clients}"
                    clients = Child(f"{n_clients} clients", [
                        sys.executable, str(BENCH / "telemetry_fanout.py"), "clients", "--url", ws_url,
                        "--n", str(n_clients), "--seconds", str(seconds), "--warmup", "3", "--out", str(out),
                        "--sysids", json.dumps({d.drone_id: d.system_id for d in drones}),
                        "--pids", json.dumps({"controller": info["pid"], "sim": sim_info["pid"]}),
                    ] + (["--no-deflate"] if args.no_deflate else []), tmp / f"clients{n_clients}.log")
                    with clients:
                        assert clients.proc is not None
                        try:
                            clients.proc.wait(timeout=seconds + 200)
                        except subprocess.TimeoutExpired:
                            raise RuntimeError(f"clients did not finish:\n{clients.tail()}") from None
                        if clients.proc.returncode != 0:
                            raise RuntimeError(f"clients failed:\n{clients.tail()}")
                    summary = json.loads(Path(str(out) + ".json").read_text())
                    with open(str(out) + ".bin", "rb") as f:
                        n = int.from_bytes(f.read(8), "little")
                        arrays = (np.fromfile(f, dtype=np.int64, count=n), np.fromfile(f, dtype=np.float64, count=n),
                                  np.fromfile(f, dtype=np.float64, count=n), np.fromfile(f, dtype=np.uint16, count=n))
                    results.append((summary, arrays))
                    print(f"  {n_clients} clients: {summary['records']} position frames, "
                          f"dropped {summary['closed'] or 'none'}", flush=True)
                end_states = states()
        # The sim has written its send record on its way out.
        sk, st = load_send_record(record)
        sent_keys = np.frombuffer(sk, dtype=np.int64)
        sent_t = np.frombuffer(st, dtype=np.float64)
    rows = [analyse(args, summary, *arrays, sent_keys, sent_t, end_states, seconds) for summary, arrays in results]
    if len(rows) > 1:
        print()
        print(f"summary ({n_drones} drones x {rate:g} Hz, {seconds:g} s windows, "
              f"{'no compression' if args.no_deflate else 'permessage-deflate'})")
        print()
        print_table(["clients", "send -> client p50 / p99 (ms)", "snapshot -> client p99 (ms)",
                     "frames per client per drone (Hz)", "dropped", "controller CPU", "clients CPU",
                     "machine busy"], rows)
    return 0


def analyse(args: argparse.Namespace, summary: dict[str, Any], ck: Any, ct: Any, cs: Any, cw: Any,
            sent_keys: Any, sent_t: Any, end_states: list[str], seconds: float) -> list[str]:
    import numpy as np

    # Positions sent exactly once (the vehicle moved between sends) can be attributed.
    uniq, first_idx, counts = np.unique(sent_keys, return_index=True, return_counts=True)
    once = counts == 1
    once_keys, once_t = uniq[once], sent_t[first_idx[once]]
    # First receipt of each position by each client (arrays are in receive order).
    order = np.lexsort((ct, ck, cw))
    ck_o, cw_o = ck[order], cw[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (ck_o[1:] != ck_o[:-1]) | (cw_o[1:] != cw_o[:-1])
    sel = order[first]
    pos = np.searchsorted(once_keys, ck[sel])
    pos[pos >= len(once_keys)] = 0
    hit = once_keys[pos] == ck[sel] if len(once_keys) else np.zeros(len(sel), dtype=bool)
    idx = sel[hit]
    t_send = once_t[pos[hit]]
    e2e = (ct[idx] - t_send) * 1e3
    to_snap = (cs[idx] - t_send) * 1e3
    snap_to_client = (ct[idx] - cs[idx]) * 1e3
    all_snap_to_client = (ct - cs) * 1e3
    late = ct[idx] >= (summary["t_start"] + summary["t_end"]) / 2
    survivors = len(set(cw[ct >= summary["t_end"] - 1.0].tolist()))

    def q(v: Any) -> list[str]:
        if len(v) == 0:
            return ["-"] * 4
        return [f"{np.percentile(v, 50):.1f}", f"{np.percentile(v, 90):.1f}", f"{np.percentile(v, 99):.1f}",
                f"{np.max(v):.1f}"]

    n_clients = summary["clients"]
    frames = np.array(summary["frames"])
    per_drone_hz = frames / (seconds * args.drones)
    print()
    print(f"{args.drones} drones x {args.rate:g} Hz -> {n_clients} WebSocket clients "
          f"({'no compression' if args.no_deflate else 'permessage-deflate'}), {seconds:g} s window; "
          f"{summary['records']} position frames received, {len(sel)} first receipts, "
          f"{len(idx)} matched to a unique vehicle send ({100.0 * len(idx) / max(1, len(sel)):.0f} %)")
    print()
    print_table(["span (ms)", "p50", "p90", "p99", "max", "target"], [
        ["**vehicle send -> client receive**", *q(e2e), "p99 < 100"],
        [f"same, second half of the window ({survivors} clients still connected at the end)", *q(e2e[late]), ""],
        ["vehicle send -> gateway snapshot", *q(to_snap), ""],
        ["gateway snapshot -> client receive (matched frames)", *q(snap_to_client), ""],
        ["gateway snapshot -> client receive (every frame)", *q(all_snap_to_client), ""],
    ])
    print()
    cpu = summary["cpu_cores"]
    print_table(["process", "CPU (cores, of 2)"], [
        ["controller (uvicorn + app + MAVSDK)", f"{cpu['controller']:.2f}"],
        [f"sim ({args.drones} vehicles)", f"{cpu['sim']:.2f}"],
        [f"{n_clients} clients (one process)", f"{cpu['clients']:.2f}"],
        ["whole machine (shared with other jobs)", f"{summary['machine_busy_cores']:.2f}"],
    ])
    print(f"load average at the end of the window: {summary.get('loadavg_end', '?')}")
    print()
    print(f"frames per client per drone: {np.median(per_drone_hz):.2f} Hz median "
          f"(min {per_drone_hz.min():.2f}); clients dropped/failed: {summary['closed'] or 'none'}; "
          f"missions at the end: {sorted(set(end_states))}")
    e2e_q, snap_q = q(e2e), q(snap_to_client)
    return [str(n_clients), f"{e2e_q[0]} / {e2e_q[2]}", snap_q[2], f"{np.median(per_drone_hz):.2f}",
            str(sum(summary["closed"].values())), f"{cpu['controller']:.2f}", f"{cpu['clients']:.2f}",
            f"{summary['machine_busy_cores']:.2f}"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="role")
    c = sub.add_parser("clients", help=argparse.SUPPRESS)
    c.add_argument("--url", required=True)
    c.add_argument("--n", type=int, required=True)
    c.add_argument("--seconds", type=float, required=True)
    c.add_argument("--warmup", type=float, default=3.0)
    c.add_argument("--out", required=True)
    c.add_argument("--sysids", required=True)
    c.add_argument("--pids", required=True)
    c.add_argument("--no-deflate", action="store_true")
    p.add_argument("--quick", action="store_true", help="10 s window")
    p.add_argument("--seconds", type=float, default=60.0, help="measurement window (default 60 s)")
    p.add_argument("--drones", type=int, default=20)
    p.add_argument("--clients", default="100",
                   help="WebSocket clients; a comma-separated list runs one window per count (default 100)")
    p.add_argument("--rate", type=float, default=10.0, help="telemetry rate, Hz (default 10)")
    p.add_argument("--no-deflate", action="store_true", help="clients do not offer permessage-deflate")
    p.add_argument("--profile-controller", metavar="FILE", default=None,
                   help="run the controller under cProfile and write the stats here")
    args = p.parse_args()
    if args.role == "clients":
        asyncio.run(clients_main(args))
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
