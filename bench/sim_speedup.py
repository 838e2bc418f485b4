"""The highest speed-up one simulated vehicle sustains with MAVSDK attached (target: 50x).

For each speed-up K, ``python -m sim`` runs one vehicle in a child process (``sim.Fleet`` in
subprocess mode); this process attaches the real MAVSDK core (telemetry subscriptions for position,
flight mode and mission progress, as the controller uses them), uploads a mission, arms and starts it,
then measures over a wall-clock window:

* achieved speed-up = simulated seconds / wall seconds (from the child's control port),
* the child's CPU (fraction of one core) and MAVSDK's position updates per wall second,
* whether MAVSDK saw the mission progress (items reached during the window).

K is "sustained" when the achieved speed-up is >= 95 % of K and MAVSDK kept seeing progress.

Run::

    .venv/bin/python bench/sim_speedup.py [--speedups 10,50,100,200,500,1000] [--seconds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path

from sim_common import HOME, core, find_system, raw_waypoints

from mavsdk.asyncio.plugins.action import ActionAsync
from mavsdk.asyncio.plugins.mission_raw import MissionRawAsync
from mavsdk.asyncio.plugins.param import ParamAsync
from mavsdk.asyncio.plugins.telemetry import TelemetryAsync

from sim.fleet import Fleet, free_udp_port

TARGET = 50.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime + stime
    return ticks / os.sysconf("SC_CLK_TCK")


async def measure(k: float, sysid: int, seconds: float) -> dict[str, float]:
    port = free_udp_port()
    with Fleet([HOME], speedup=k, base_port=port, gcs=False, subprocess=True, sysid_base=sysid) as fleet:
        system = await find_system(f"udpin://0.0.0.0:{port}", sysid)
        tel, action, mission = TelemetryAsync(system), ActionAsync(system), MissionRawAsync(system)
        param = ParamAsync(system)
        try:
            while True:
                h = await tel.health()
                if h.is_global_position_ok and h.is_home_position_ok and h.is_armable:
                    break
                await asyncio.sleep(0.05)
            # At 1000x a window is hours of flight: battery warnings only, and a mission long enough
            # (500 waypoints 200 m apart, ~100 km) not to finish during it.
            await param.set_param_int("COM_LOW_BAT_ACT", 0)
            await mission.upload_mission(raw_waypoints(500, spacing_m=200.0))
            await action.arm()
            await mission.start_mission()
            positions = 0
            progress: list[int] = []

            async def count_positions() -> None:
                nonlocal positions
                async for _ in tel.subscribe_position():
                    positions += 1

            async def watch_progress() -> None:
                async for p in mission.subscribe_mission_progress():
                    progress.append(p.current)

            tasks = [asyncio.create_task(count_positions()), asyncio.create_task(watch_progress())]
            await asyncio.sleep(2.0)  # in the air, streams flowing
            pid = fleet._proc.pid if fleet._proc is not None else 0  # noqa: SLF001 - bench only
            p0, s0, w0, c0, n0 = positions, fleet.sim_time_s, time.monotonic(), cpu_seconds(pid), len(progress)
            await asyncio.sleep(seconds)
            p1, s1, w1, c1, n1 = positions, fleet.sim_time_s, time.monotonic(), cpu_seconds(pid), len(progress)
            await asyncio.sleep(0.5)
            true_current = fleet.state(0).mission_current
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            return {
                "achieved": (s1 - s0) / (w1 - w0),
                "cpu": (c1 - c0) / (w1 - w0),
                "pos_hz": (p1 - p0) / (w1 - w0),
                "progress_updates": float(n1 - n0),
                "last_item": float(progress[-1]) if progress else -1.0,
                "true_item": float(true_current),
            }
        finally:
            for p in (tel, action, mission, param):
                p.destroy()


async def run(speedups: list[float], seconds: float) -> None:
    print(f"{'K':>5} {'achieved':>9} {'ratio':>6} {'sim CPU':>8} {'MAVSDK pos/s':>13} "
          f"{'progress msgs':>14} {'item MAVSDK/sim':>16}  sustained?")
    best = 0.0
    for n, k in enumerate(speedups):
        r = await measure(k, 10 + n, seconds)
        ratio = r["achieved"] / k
        # MAVSDK must keep up: it saw progress, and its last item is within one of the truth.
        ok = ratio >= 0.95 and r["progress_updates"] > 0 and r["true_item"] - r["last_item"] <= 1
        if ok:
            best = max(best, k)
        print(f"{k:>5.0f} {r['achieved']:>8.1f}x {ratio:>6.2f} {r['cpu'] * 100:>7.0f}% "
              f"{r['pos_hz']:>13.1f} {r['progress_updates']:>14.0f} "
              f"{r['last_item']:>8.0f}/{r['true_item']:<7.0f}  {'yes' if ok else 'NO'}")
    print(f"\nhighest speed-up sustained with MAVSDK attached: {best:.0f}x (target {TARGET:.0f}x)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--speedups", default="10,50,100,200,500,1000")
    ap.add_argument("--seconds", type=float, default=8.0)
    args = ap.parse_args()
    core()
    asyncio.run(run([float(s) for s in args.speedups.split(",")], args.seconds))


if __name__ == "__main__":
    main()
