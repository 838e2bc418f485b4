"""MAVSDK mission upload time to ``sim`` for 10, 100 and 500 items (mission_raw, real MAVSDK core,
UDP on localhost), with the download of the same mission for comparison.

The reference printed beside each figure is the protocol's floor: one MISSION_REQUEST_INT /
MISSION_ITEM_INT round trip per item, measured here as the median UDP round trip of a tiny
datagram on this machine times the item count; and the 50 Hz-tick figure a vehicle that answered
only on its stepping tick would give (20 ms per item, the pitfall in the shared notes).

Run::

    .venv/bin/python bench/sim_mission_upload.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import time

from sim_common import HOME, core, find_system, raw_waypoints

from mavsdk.asyncio.plugins.mission_raw import MissionRawAsync
from mavsdk.asyncio.plugins.telemetry import TelemetryAsync

from sim.fleet import Fleet, free_udp_port


def udp_rtt_s(samples: int = 200) -> float:
    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    a.bind(("127.0.0.1", 0))
    b.bind(("127.0.0.1", 0))
    rtts = []
    for _ in range(samples):
        t0 = time.perf_counter()
        a.sendto(b"x" * 60, b.getsockname())
        _, addr = b.recvfrom(100)
        b.sendto(b"y" * 60, addr)
        a.recvfrom(100)
        rtts.append(time.perf_counter() - t0)
    a.close()
    b.close()
    return statistics.median(rtts)


async def run(repeats: int, sizes: list[int]) -> None:
    port = free_udp_port()
    with Fleet([HOME], speedup=1.0, base_port=port, gcs=False, subprocess=True):
        system = await find_system(f"udpin://0.0.0.0:{port}", 1)
        mission = MissionRawAsync(system)
        tel = TelemetryAsync(system)
        await asyncio.sleep(1.0)
        rtt = udp_rtt_s()
        print(f"UDP round trip on this machine (median): {rtt * 1e6:.0f} us")
        print(f"{'items':>6} {'upload median':>14} {'min':>8} {'max':>8} {'download':>10} "
              f"{'floor (N x RTT)':>16} {'50 Hz tick':>11}")
        for n in sizes:
            items = raw_waypoints(n)
            ups, downs = [], []
            for _ in range(repeats):
                t0 = time.perf_counter()
                await mission.upload_mission(items)
                ups.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                got = await mission.download_mission()
                downs.append(time.perf_counter() - t0)
                if len(got) != n or [(g.x, g.y, g.command) for g in got] != [(i.x, i.y, i.command) for i in items]:
                    raise SystemExit(f"download of {n} items differs from the upload")
            print(f"{n:>6} {statistics.median(ups) * 1e3:>12.1f} ms {min(ups) * 1e3:>6.1f} ms "
                  f"{max(ups) * 1e3:>6.1f} ms {statistics.median(downs) * 1e3:>8.1f} ms "
                  f"{n * rtt * 1e3:>14.1f} ms {n * 20:>9.0f} ms")
        mission.destroy()
        tel.destroy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sizes", default="10,100,500")
    args = ap.parse_args()
    core()
    asyncio.run(run(args.repeats, [int(s) for s in args.sizes.split(",")]))


if __name__ == "__main__":
    main()
