"""CPU per real-time simulated vehicle, and how many vehicles one core holds in real time.

Two measurements, printed side by side with the target (50 vehicles on one core):

1. Model only: cost of one ``Vehicle.step(0.02)`` (50 Hz) while flying a mission, and the number of
   vehicles a core could step at 50 Hz from that figure alone.
2. The whole runtime (``sim.runtime.Runtime``: model + MAVLink server + UDP links, one asyncio loop,
   i.e. one core), run in a child process at speed-up 1 with N vehicles flying missions, streaming
   PX4's default telemetry to a receiver in this process that also plays GCS (1 Hz heartbeats).
   For each N: child CPU (fraction of one core) and the real-time factor (simulated / wall seconds).
   "Holds real time" means the factor stayed >= 0.98.

Run::

    .venv/bin/python bench/sim_cpu.py                  # N = 10 50 100 200, 10 s windows
    .venv/bin/python bench/sim_cpu.py --counts 50 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import selectors
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sim.geo import offset_deg  # noqa: E402
from sim.items import MISSION, Item  # noqa: E402
from sim.vehicle import Home, Vehicle  # noqa: E402

HOME = Home(-6.175392, 106.827153, 12.0)
TARGET_VEHICLES_PER_CORE = 50


def square_mission(home: Home, side_m: float = 400.0, alt_m: float = 30.0, laps: int = 20) -> list[Item]:
    """A square flown ``laps`` times (long enough to keep vehicles busy during the measurement)."""
    corners = [(side_m, 0.0), (side_m, side_m), (0.0, side_m), (0.0, 0.0)]
    items = []
    for k in range(4 * laps):
        n, e = corners[k % 4]
        lat, lon = offset_deg(home.lat_deg, home.lon_deg, n, e)
        items.append(Item(k, 6, 16, 0.0, 3.0, 0.0, float("nan"), round(lat * 1e7), round(lon * 1e7), alt_m))
    return items


def launch(vehicle: Vehicle, home: Home) -> None:
    vehicle.set_items(MISSION, square_mission(home))
    assert vehicle.arm().ok, "arm"
    assert vehicle.start_mission().ok, "mission"


# -- 1. model only -----------------------------------------------------------------------------

def model_step_cost_us(seconds_sim: float = 600.0, dt_s: float = 0.02) -> float:
    v = Vehicle(HOME)
    for _ in range(int(6.0 / dt_s)):
        v.step(dt_s)
    launch(v, HOME)
    for _ in range(int(30.0 / dt_s)):  # in the air, mid-mission
        v.step(dt_s)
    n = int(seconds_sim / dt_s)
    t0 = time.process_time()
    for _ in range(n):
        v.step(dt_s)
        v.drain_events()
    return (time.process_time() - t0) / n * 1e6


# -- 2. runtime in a child process -------------------------------------------------------------

def child(count: int, ports: list[int], warmup_s: float, seconds: float) -> None:
    from sim.link import VehiclePorts
    from sim.runtime import Runtime, VehicleSpec

    async def main() -> dict[str, float]:
        homes = [Home(HOME.lat_deg, HOME.lon_deg + 0.0002 * i, HOME.alt_amsl_m) for i in range(count)]
        specs = [VehicleSpec(h, (i % 250) + 1, VehiclePorts(ports[i], 0)) for i, h in enumerate(homes)]
        rt = Runtime(specs, speedup=1.0)
        await rt.start()
        while rt.sim_time_s < 6.0:  # estimators converge
            await asyncio.sleep(0.1)
        for r, h in zip(rt.runners, homes):
            launch(r.vehicle, h)
        await asyncio.sleep(warmup_s)
        def sent() -> int:
            return sum(link.sent_bytes for r in rt.runners for link in r.links.values())
        c0, s0, w0, b0 = time.process_time(), rt.sim_time_s, time.monotonic(), sent()
        await asyncio.sleep(seconds)
        c1, s1, w1, b1 = time.process_time(), rt.sim_time_s, time.monotonic(), sent()
        flying = sum(1 for r in rt.runners if r.vehicle.in_air)
        await rt.stop()
        return {"cpu_fraction": (c1 - c0) / (w1 - w0), "rt_factor": (s1 - s0) / (w1 - w0),
                "flying": flying, "bytes_per_s": (b1 - b0) / (w1 - w0)}

    print(json.dumps(asyncio.run(main())), flush=True)


def run_runtime(count: int, warmup_s: float, seconds: float) -> dict[str, float]:
    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", str(count), "--ports", ",".join(map(str, ports)),
         "--warmup", str(warmup_s), "--seconds", str(seconds)],
        stdout=subprocess.PIPE, text=True)
    # Play the GCS: drain telemetry, answer each vehicle with a 1 Hz heartbeat.
    from pymavlink.dialects.v20 import common as mavlink2

    mav = mavlink2.MAVLink(None, srcSystem=245, srcComponent=190)
    hb = mav.heartbeat_encode(6, 8, 0, 0, 4).pack(mav)
    peers: dict[socket.socket, tuple[str, int]] = {}
    received = 0
    next_hb = time.monotonic()
    while proc.poll() is None:
        for key, _ in sel.select(timeout=0.05):
            s = key.fileobj
            assert isinstance(s, socket.socket)
            try:
                while True:
                    _, addr = s.recvfrom(4096)
                    peers[s] = addr
                    received += 1
            except BlockingIOError:
                pass
        if time.monotonic() >= next_hb:
            next_hb += 1.0
            for s, addr in peers.items():
                s.sendto(hb, addr)
    out = proc.stdout.read() if proc.stdout else ""
    for s in socks:
        s.close()
    if proc.returncode != 0 or received == 0:
        raise SystemExit(f"child failed for N={count} ({received} datagrams received): {out}")
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--counts", default="10,50,100,200")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--ports", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, [int(p) for p in args.ports.split(",")], args.warmup, args.seconds)
        return

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} "
          f"(shared; figures are per core of this machine)")
    step_us = model_step_cost_us()
    model_per_core = 1e6 / (50.0 * step_us)
    print("\n[1] model only (Vehicle.step at 50 Hz, flying a mission)")
    print(f"    step cost: {step_us:.1f} us -> {model_per_core:.0f} vehicles per core "
          f"(target {TARGET_VEHICLES_PER_CORE})")

    print("\n[2] runtime (model + MAVLink server + UDP, one asyncio loop), speed-up 1, all flying")
    print(f"    {'N':>4} {'CPU (core)':>11} {'per vehicle':>12} {'RT factor':>10} {'kB/s/vehicle':>13}  real time?")
    best = 0
    per_vehicle = []
    for n in [int(c) for c in args.counts.split(",")]:
        r = run_runtime(n, args.warmup, args.seconds)
        ok = r["rt_factor"] >= 0.98 and r["flying"] == n
        if ok:
            best = max(best, n)
            per_vehicle.append(r["cpu_fraction"] / n)
        kbs = r["bytes_per_s"] / n / 1000.0
        print(f"    {n:>4} {r['cpu_fraction'] * 100:>10.0f}% {r['cpu_fraction'] / n * 100:>11.2f}% "
              f"{r['rt_factor']:>10.3f} {kbs:>13.1f}  {'yes' if ok else 'NO'}")
    if per_vehicle:
        est = 1.0 / (sum(per_vehicle) / len(per_vehicle))
        print(f"\n    CPU per real-time vehicle: {sum(per_vehicle) / len(per_vehicle) * 100:.2f}% of a core "
              f"-> about {est:.0f} vehicles per core; largest N measured in real time: {best} "
              f"(target {TARGET_VEHICLES_PER_CORE})")


if __name__ == "__main__":
    main()
