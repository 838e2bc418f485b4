"""Report -> takeoff latency through the real controller, beside a bare pymavlink sequence.

Issue 4, item 9a. Target: controller total within 2x of the bare sequence.

Three processes on 127.0.0.1:

* the controller (``bench/_dronectl_bench.py serve``): ``dronectl.api.create_app`` under uvicorn,
  a real SQLite file in a temporary directory, the real ``MavsdkGateway`` (one ``Mavsdk``), the
  Kudus fleet of the example (kudus-1, kudus-2 at Polres Kudus, jati-1 at Polsek Jati);
* the simulated fleet (``bench/_dronectl_bench.py sim``): those three vehicles plus one spare
  vehicle at each base that only the bare script talks to, ``--speedup`` K (default 20), with an
  observer logging each vehicle's true take-off (wall time of the simulation tick);
* this script: posts 20 reports over HTTP (one at a time, at points 2 km around Polres Kudus, so
  none merges with an earlier one), and after each controller flight runs the bare pymavlink
  sequence on the spare vehicle at the same base, with the *same mission items* (read from the
  controller's database): MISSION_CLEAR_ALL -> ACK, MISSION_COUNT -> REQUEST_INT/ITEM_INT... ->
  ACK, ARM -> ACK + armed HEARTBEAT, DO_SET_MODE(AUTO.MISSION) -> ACK + MISSION HEARTBEAT; which
  is what ``MavsdkGateway.upload_mission``/``arm``/``start_mission`` do and wait for.

Spans (wall clock, one clock for all processes):

* controller time: POST /api/reports sent -> ``start_mission`` returned (MISSION mode reported),
  split with the controller's persisted transitions (missions.created_us = planned,
  ``uploading``, ``launching``) and the gateway's call times (a logging subclass of the real
  gateway);
* vehicle time: start command sent -> the vehicle's true state leaves the ground;
* bare: MISSION_CLEAR_ALL sent -> MISSION mode HEARTBEAT received.

After each flight the incident is aborted through the API (the drone returns home and lands),
and the spare vehicle is landed. Battery is topped up between flights through the simulator's
control port (this bench is about latency, not endurance).

Run::

    .venv/bin/python bench/dispatch_latency.py            # 20 reports
    .venv/bin/python bench/dispatch_latency.py --quick    # 5 reports
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sqlite3
import sys
import time
from collections.abc import Callable
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
    loadavg,
    machine_busy,
    median,
    min_spacing_m,
    pct,
    print_table,
    ring_points,
    temp_dir,
    wait_for,
)

os.environ.setdefault("MAVLINK20", "1")
import httpx  # noqa: E402
from pymavlink import mavutil  # noqa: E402

from dronectl.demo import link_loss_timeout_for  # noqa: E402
from sim import ControlClient, free_udp_port  # noqa: E402

BENCH = Path(__file__).resolve().parent
INTEGRATION = {"Authorization": f"Bearer {TOKENS['integration']}"}
DISPATCHER = {"Authorization": f"Bearer {TOKENS['dispatcher']}"}

MAV_MODE_FLAG_CUSTOM_MODE_ENABLED = 1
MAV_MODE_FLAG_SAFETY_ARMED = 128
PX4_AUTO, PX4_AUTO_MISSION = 4, 4
MISSION_CUSTOM_MODE = (PX4_AUTO << 16) | (PX4_AUTO_MISSION << 24)
PREARM_CHECK = 0x10000000


class EventTail:
    """Reads the sim child's true-state change log (JSON lines) as it grows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.events: list[dict[str, Any]] = []
        self._pos = 0
        self._buf = ""

    def poll(self) -> None:
        if not self.path.exists():
            return
        with open(self.path) as f:
            f.seek(self._pos)
            chunk = f.read()
            self._pos = f.tell()
        self._buf += chunk
        *lines, self._buf = self._buf.split("\n")
        self.events.extend(json.loads(x) for x in lines if x)

    def first(self, vehicle: int, since: float, pred: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
        self.poll()
        for e in self.events:
            if e["v"] == vehicle and e["t"] >= since and pred(e):
                return e
        return None

    def wait(self, vehicle: int, since: float, pred: Callable[[dict[str, Any]], bool], timeout_s: float,
             what: str) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            e = self.first(vehicle, since, pred)
            if e is not None:
                return e
            if time.monotonic() > deadline:
                raise TimeoutError(f"vehicle {vehicle}: no {what} within {timeout_s:g} s")
            time.sleep(0.005)

    def on_ground_disarmed(self, vehicle: int) -> bool:
        self.poll()
        last = [e for e in self.events if e["v"] == vehicle]
        return not last or (not last[-1]["in_air"] and not last[-1]["armed"])


class BareGcs:
    """A bare pymavlink ground station for one vehicle: the reference sequence."""

    def __init__(self, port: int, sysid: int) -> None:
        self.conn = mavutil.mavlink_connection(f"udpin:127.0.0.1:{port}", source_system=246,
                                               source_component=190)
        self.sysid = sysid
        self._last_hb = 0.0

    def _heartbeat(self) -> None:
        now = time.monotonic()
        if now - self._last_hb >= 1.0:
            self.conn.mav.heartbeat_send(mavutil.mavlink.MAV_TYPE_GCS, mavutil.mavlink.MAV_AUTOPILOT_INVALID,
                                         0, 0, mavutil.mavlink.MAV_STATE_ACTIVE)
            self._last_hb = now

    def recv(self, types: list[str], pred: Callable[[Any], bool], timeout_s: float = 5.0) -> Any:
        deadline = time.monotonic() + timeout_s
        while True:
            self._heartbeat()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"bare GCS: no {types} from system {self.sysid}")
            msg = self.conn.recv_match(type=types, blocking=True, timeout=min(left, 0.2))
            if msg is not None and msg.get_srcSystem() == self.sysid and pred(msg):
                return msg

    def wait_all(self, conds: dict[str, Callable[[Any], bool]], timeout_s: float = 5.0) -> None:
        """Until every condition saw a matching message (types = the dict keys' prefixes)."""
        pending = dict(conds)
        types = sorted({k.split(":")[0] for k in conds})

        def any_match(msg: Any) -> bool:
            for k, pred in list(pending.items()):
                if k.split(":")[0] == msg.get_type() and pred(msg):
                    del pending[k]
            return not pending

        self.recv(types, any_match, timeout_s)

    def drain(self) -> None:
        self._heartbeat()
        while self.conn.recv_match(blocking=False) is not None:
            pass

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        self.recv(["HEARTBEAT"], lambda m: True, timeout_s)
        self.recv(["SYS_STATUS"], lambda m: bool(m.onboard_control_sensors_health & PREARM_CHECK), timeout_s)

    def run(self, items: list[dict[str, Any]]) -> dict[str, float]:
        """clear + upload ``items``, arm, start mission; wall times of each step."""
        mav, ts, tc = self.conn.mav, self.sysid, 1
        self.drain()
        t: dict[str, float] = {"begin": time.time()}
        mav.mission_clear_all_send(ts, tc, 0)
        ack = self.recv(["MISSION_ACK"], lambda m: m.mission_type == 0)
        if ack.type != 0:
            raise RuntimeError(f"bare: clear refused ({ack.type})")
        mav.mission_count_send(ts, tc, len(items), 0)
        while True:
            msg = self.recv(["MISSION_REQUEST_INT", "MISSION_REQUEST", "MISSION_ACK"],
                            lambda m: getattr(m, "mission_type", 0) == 0)
            if msg.get_type() == "MISSION_ACK":
                if msg.type != 0:
                    raise RuntimeError(f"bare: upload refused ({msg.type})")
                break
            it = items[msg.seq]
            mav.mission_item_int_send(ts, tc, it["seq"], it["frame"], it["command"], 1 if it["seq"] == 0 else 0,
                                      1 if it["autocontinue"] else 0, it["param1"], it["param2"], it["param3"],
                                      it["param4"], it["x"], it["y"], it["z"], 0)
        t["uploaded"] = time.time()
        mav.command_long_send(ts, tc, mavutil.mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 0, 1, 0, 0, 0, 0, 0, 0)
        self.wait_all({
            "COMMAND_ACK": lambda m: m.command == mavutil.mavlink.MAV_CMD_COMPONENT_ARM_DISARM and self._ok(m),
            "HEARTBEAT": lambda m: bool(m.base_mode & MAV_MODE_FLAG_SAFETY_ARMED),
        })
        t["armed"] = time.time()
        t["start_sent"] = time.time()
        mav.command_long_send(ts, tc, mavutil.mavlink.MAV_CMD_DO_SET_MODE, 0,
                              MAV_MODE_FLAG_CUSTOM_MODE_ENABLED | MAV_MODE_FLAG_SAFETY_ARMED,
                              PX4_AUTO, PX4_AUTO_MISSION, 0, 0, 0, 0)
        self.wait_all({
            "COMMAND_ACK": lambda m: m.command == mavutil.mavlink.MAV_CMD_DO_SET_MODE and self._ok(m),
            "HEARTBEAT": lambda m: m.custom_mode == MISSION_CUSTOM_MODE,
        })
        t["started"] = time.time()
        return t

    @staticmethod
    def _ok(m: Any) -> bool:
        if m.result != 0:
            raise RuntimeError(f"bare: command {m.command} refused ({m.result})")
        return True

    def land(self) -> None:
        self.conn.mav.command_long_send(self.sysid, 1, mavutil.mavlink.MAV_CMD_NAV_LAND, 0,
                                        0, 0, 0, math.nan, math.nan, math.nan, math.nan)
        self.recv(["COMMAND_ACK"], lambda m: m.command == mavutil.mavlink.MAV_CMD_NAV_LAND and self._ok(m))

    def keepalive(self, seconds: float) -> None:
        """Keep heartbeats going while waiting (the vehicle expects a GCS)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.drain()
            time.sleep(0.05)



def run(args: argparse.Namespace) -> int:
    n_reports = 5 if args.quick else args.reports
    k = args.speedup
    with temp_dir("dronectl-bench-dispatch-") as tmp:
        ports = [free_udp_port() for _ in range(5)]
        drones = [BenchDrone("kudus-1", "hq", ports[0], 1), BenchDrone("kudus-2", "hq", ports[1], 2),
                  BenchDrone("jati-1", "jati", ports[2], 3)]
        index_of = {d.drone_id: i for i, d in enumerate(drones)}
        base_of = {d.drone_id: d.base for d in drones}
        bare_index = {"hq": 3, "jati": 4}
        settings = bench_settings(tmp, drones, rate_hz=5.0, link_loss_timeout_s=link_loss_timeout_for(5.0, k),
                                  min_launch_battery_pct=60.0)
        (tmp / "settings.json").write_text(settings.model_dump_json())
        homes = [d.home for d in drones] + [HQ, JATI]
        control_port = free_udp_port()
        events_path = tmp / "events.jsonl"
        timing_path = tmp / "timing.jsonl"
        sim = Child("sim", [sys.executable, str(BENCH / "_dronectl_bench.py"), "sim", "--homes", json.dumps(homes),
                            "--api-ports", ",".join(map(str, ports)), "--sysid-base", "1", "--speedup", str(k),
                            "--control-port", str(control_port), "--ready", str(tmp / "sim.ready"),
                            "--events", str(events_path)], tmp / "sim.log", tmp / "sim.ready")
        server = Child("controller", [sys.executable, str(BENCH / "_dronectl_bench.py"), "serve", "--settings",
                                      str(tmp / "settings.json"), "--ready", str(tmp / "serve.ready"),
                                      "--timing", str(timing_path)]
                       + (["--profile", str(Path(args.profile_controller).resolve())] if args.profile_controller else []),
                       tmp / "serve.log", tmp / "serve.ready")
        busy0 = machine_busy()
        wall0 = time.time()
        with sim, server:
            sim.wait_ready()
            info = server.wait_ready(90)
            url, db_path = info["url"], info["db"]
            control = ControlClient(control_port, timeout_s=5.0)
            ev = EventTail(events_path)
            bare = {base: BareGcs(ports[i], i + 1) for base, i in bare_index.items()}
            for g in bare.values():
                g.wait_ready()
            db = sqlite3.connect(db_path, timeout=10)
            db.execute("PRAGMA query_only = 1")
            print(f"controller {url}, sim speed-up {k:g}x, {n_reports} reports; load average {loadavg()}",
                  flush=True)
            points = ring_points(HQ, max(20, n_reports), 2000.0)
            assert min_spacing_m(points) > 400.0, "report points would merge"
            with httpx.Client(base_url=url, timeout=30.0) as http:

                def available() -> list[str]:
                    r = http.get("/api/drones", headers=DISPATCHER)
                    r.raise_for_status()
                    return [d["id"] for d in r.json()["drones"] if d["available"]]

                wait_for(lambda: len(available()) == len(drones), 120, "every drone available")
                rows: list[dict[str, float]] = []
                failures: list[str] = []
                for i in range(n_reports):
                    # Top up batteries of vehicles on the ground, then wait for a free drone.
                    for d in drones:
                        if ev.on_ground_disarmed(index_of[d.drone_id]):
                            control.call("battery", vehicle=index_of[d.drone_id], pct=100.0)
                    wait_for(available, 120, "a free drone")
                    lat, lon = points[i]
                    body = {"category": "crime", "priority": 1, "location": {"lat": lat, "lon": lon},
                            "address": f"bench titik {i}", "description": "bench: pencurian", "channel": "phone",
                            "external_id": f"bench-{i}"}
                    t0 = time.time()
                    resp = http.post("/api/reports", json=body, headers=INTEGRATION)
                    t_resp = time.time()
                    if resp.status_code != 201 or resp.json().get("mission_id") is None:
                        failures.append(f"report {i}: {resp.status_code} {resp.text[:200]}")
                        continue
                    out = resp.json()
                    mid, incident = out["mission_id"], out["incident_id"]
                    drone_id, created_us, plan_json = db.execute(
                        "SELECT drone_id, created_us, plan_json FROM missions WHERE id = ?", (mid,)).fetchone()
                    vi = index_of[drone_id]
                    air = ev.wait(vi, t0, lambda e: e["in_air"], 30, "take-off")

                    def transitions() -> dict[str, float]:
                        return {s: at / 1e6 for s, at in db.execute(
                            "SELECT to_state, at_us FROM mission_transitions WHERE mission_id = ? ORDER BY id",
                            (mid,))}

                    tr = wait_for(lambda: (lambda t: t if "en_route" in t or "failed" in t else None)(transitions()),
                                  30, f"mission {mid} en_route")
                    if "en_route" not in tr:
                        failures.append(f"report {i}: mission {mid} {tr}")
                        continue
                    calls: dict[str, dict[str, Any]] = {}
                    for line in timing_path.read_text().splitlines():
                        c = json.loads(line)
                        if c["drone"] == drone_id and c["begin"] >= t0 and c["action"] not in calls:
                            calls[c["action"]] = c
                    http.post(f"/api/incidents/{incident}/abort", headers=DISPATCHER).raise_for_status()
                    row = {
                        "t0": t0, "resp": t_resp, "planned": created_us / 1e6, "uploading": tr["uploading"],
                        "launching": tr["launching"], "en_route": tr["en_route"],
                        "up_b": calls["upload_mission"]["begin"], "up_e": calls["upload_mission"]["end"],
                        "arm_b": calls["arm"]["begin"], "arm_e": calls["arm"]["end"],
                        "start_b": calls["start_mission"]["begin"], "start_e": calls["start_mission"]["end"],
                        "air": air["t"],
                    }
                    # The bare sequence: same items, spare vehicle at the same base.
                    items = json.loads(plan_json)["items"]
                    bi = bare_index[base_of[drone_id]]
                    g = bare[base_of[drone_id]]
                    wait_for(lambda: ev.on_ground_disarmed(bi) or g.drain(), 120, "spare vehicle landed")
                    control.call("battery", vehicle=bi, pct=100.0)
                    g.keepalive(0.3)
                    bt = g.run(items)
                    bair = ev.wait(bi, bt["begin"], lambda e: e["in_air"], 30, "bare take-off")
                    g.land()
                    row.update({f"bare_{key}": v for key, v in bt.items()})
                    row["bare_air"] = bair["t"]
                    rows.append(row)
                    print(f"  report {i + 1:2d}/{n_reports}: {drone_id:8s} controller "
                          f"{(row['start_e'] - t0) * 1e3:6.1f} ms, bare {(bt['started'] - bt['begin']) * 1e3:6.1f} ms",
                          flush=True)
            db.close()
        busy1 = machine_busy()
        wall1 = time.time()
        report(rows, failures, k, n_reports, (busy1[0] - busy0[0]) / max(1.0, busy1[1] - busy0[1]) * 2,
               wall1 - wall0)
    return 0


def report(rows: list[dict[str, float]], failures: list[str], k: float, n: int, cores_busy: float,
           wall_s: float) -> None:
    def ms(f: Callable[[dict[str, float]], float]) -> list[float]:
        return [f(r) * 1e3 for r in rows]

    def fmt(v: list[float]) -> str:
        if not v:
            return "-"
        return f"{median(v):.1f} / {pct(v, 90):.1f} / {max(v):.1f}"

    c = {
        "POST -> 201 answered": ms(lambda r: r["resp"] - r["t0"]),
        "POST -> mission planned (persisted)": ms(lambda r: r["planned"] - r["t0"]),
        "POST -> upload begins": ms(lambda r: r["up_b"] - r["t0"]),
        "upload (clear + items + ACK)": ms(lambda r: r["up_e"] - r["up_b"]),
        "upload done -> arm sent": ms(lambda r: r["arm_b"] - r["up_e"]),
        "arm (-> armed reported)": ms(lambda r: r["arm_e"] - r["arm_b"]),
        "arm done -> start sent": ms(lambda r: r["start_b"] - r["arm_e"]),
        "start (-> MISSION mode reported)": ms(lambda r: r["start_e"] - r["start_b"]),
    }
    b = {
        "upload (clear + items + ACK)": ms(lambda r: r["bare_uploaded"] - r["bare_begin"]),
        "arm (-> armed reported)": ms(lambda r: r["bare_armed"] - r["bare_uploaded"]),
        "start (-> MISSION mode reported)": ms(lambda r: r["bare_started"] - r["bare_start_sent"]),
    }
    ctl_total = ms(lambda r: r["start_e"] - r["t0"])
    proto = ms(lambda r: r["start_e"] - r["up_b"])
    bare_total = ms(lambda r: r["bare_started"] - r["bare_begin"])
    veh = ms(lambda r: r["air"] - r["start_b"])
    bare_veh = ms(lambda r: r["bare_air"] - r["bare_start_sent"])
    to_air = ms(lambda r: r["air"] - r["t0"])
    bare_to_air = ms(lambda r: r["bare_air"] - r["bare_begin"])
    seen = ms(lambda r: r["en_route"] - r["air"])
    print()
    print(f"report -> takeoff, {len(rows)} of {n} reports (median / p90 / max, ms); sim speed-up {k:g}x; "
          f"machine busy {cores_busy:.2f} of 2 cores over {wall_s:.0f} s; load average at the end {loadavg()}")
    print()
    rows_out: list[list[str]] = []
    for name, v in c.items():
        rows_out.append([name, fmt(v), fmt(b[name]) if name in b else ""])
    rows_out.append(["upload + arm + start (protocol part)", fmt(proto), fmt(bare_total)])
    rows_out.append(["**controller time**: POST -> MISSION mode reported", fmt(ctl_total), fmt(bare_total)])
    rows_out.append(["**vehicle time**: start sent -> airborne (true state)", fmt(veh), fmt(bare_veh)])
    rows_out.append(["report -> airborne (true state)", fmt(to_air), fmt(bare_to_air)])
    rows_out.append(["airborne -> controller sees it (en_route persisted)", fmt(seen), ""])
    print_table(["span", "controller (real app)", "bare pymavlink"], rows_out)
    if rows:
        def ratio(a: list[float], b: list[float]) -> str:
            per_run = [x / y for x, y in zip(a, b)]
            return (f"{median(a) / median(b):.2f}x (medians {median(a):.1f} / {median(b):.1f} ms; "
                    f"median of per-report ratios {median(per_run):.2f}x)")

        print()
        print("Against the target (controller total within 2x of the bare sequence), three readings:")
        print(f"  (1) report -> airborne vs the bare upload -> airborne, each including its vehicle time: "
              f"{ratio(to_air, bare_to_air)}")
        print(f"  (2) the controller's own protocol steps (upload + arm + start through MAVSDK) vs the "
              f"bare ones: {ratio(proto, bare_total)}")
        print(f"  (3) controller time (POST -> MISSION mode reported: HTTP, validation, durable report, "
              f"planning and the protocol steps) vs the bare protocol steps: {ratio(ctl_total, bare_total)}")
    for f in failures:
        print("FAILED", f)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reports", type=int, default=20, help="number of reports (default 20)")
    p.add_argument("--quick", action="store_true", help="5 reports")
    p.add_argument("--speedup", type=float, default=20.0, help="sim speed-up K (default 20)")
    p.add_argument("--profile-controller", metavar="FILE", default=None,
                   help="run the controller under cProfile and write the stats here")
    return run(p.parse_args())


if __name__ == "__main__":
    sys.exit(main())
