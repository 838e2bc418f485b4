"""Safety invariants end to end: battery reserve and landings away from home, over MAVLink.

The whole controller (real app under uvicorn, real SQLite, MavsdkGateway on MAVSDK's native
core) flies the example Kudus fleet in ``python -m sim`` at a speed-up; the truth (battery,
position, armed) is read from the simulator, the controller's view over HTTP and WebSocket.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dronectl.config import Category
from missions.geodesy import distance_m
from tests.dronectl.e2e_support import (
    Controller,
    Stack,
    WsRecorder,
    bearer,
    e2e_stack,
    run_controller,
    wait_until,
)
from tests.dronectl.safety_support import near_limit_target

pytestmark = [pytest.mark.flight, pytest.mark.slow, pytest.mark.timeout(300)]

SPEEDUP = 20.0
LAUNCH_BATTERY_PCT = 66.0  # above the launch minimum (60 %), low enough for short near-limit flights
#: East of Polres Kudus, clear of every zone.
EAST_OF_HQ = (-6.8070, 110.8500)


def _from_home_m(stack: Stack, i: int) -> float:
    st = stack.fleet.state(i)
    home = stack.fleet.homes[i]
    return float(distance_m(st.lat_deg, st.lon_deg, home.lat_deg, home.lon_deg))


async def _battery_seen(c: Controller, drone_id: str) -> float:
    d = await c.get(f"/api/drones/{drone_id}")
    pct = d["telemetry"]["battery_pct"]
    assert pct is not None
    return float(pct)


def json_text(c: Controller, incident_id: int) -> str:
    """The stored (machine) reason of an incident: code and parameters."""
    inc = c.service.store.incident(incident_id)
    assert inc is not None
    return str(inc["reason"])


async def test_report_near_the_reserve_lands_home_above_it_and_one_beyond_is_not_dispatched(tmp_path: Path) -> None:
    with e2e_stack(tmp_path, speedup=SPEEDUP) as stack:
        for i in range(len(stack.fleet)):
            stack.fleet.set_battery(i, LAUNCH_BATTERY_PCT)
        async with run_controller(stack.settings) as c:
            await c.wait_drones_ready()
            await wait_until(lambda: all(abs((c.gateway.latest(d.id).battery_pct or 0) - LAUNCH_BATTERY_PCT) < 1.0
                                         for d in stack.settings.drones), 30.0, "the low batteries reported")
            reserve = stack.settings.flight.reserve_pct
            planner = c.service.planner
            battery = await _battery_seen(c, "kudus-1")
            # The farthest point east of the HQ that the HQ drones can still serve: lands with the
            # reserve + 1 % (what the battery loses while idle until the dispatch fits in that).
            near, plan = near_limit_target(planner, "kudus-1", Category.CRIME, battery_pct=battery,
                                           bearing_deg=90.0, left_above_reserve_pct=1.0)
            assert plan is not None and reserve <= plan.battery_left_pct <= reserve + 1.5
            # Just beyond, north-east (far from the first: not merged; farther still from Polsek Jati):
            # would land 0.7 % short.
            beyond, none = near_limit_target(planner, "kudus-2", Category.CRIME, battery_pct=battery,
                                             bearing_deg=45.0, left_above_reserve_pct=-0.7)
            assert none is None

            async with WsRecorder(c.ws_url()) as ws:
                out = await c.report(*near)
                assert out["status"] == "dispatched", out
                mid = out["mission_id"]
                row = c.service.store.mission(mid)
                assert row is not None
                planned_left = float(row["plan"]["battery_left_pct"])
                assert reserve <= planned_left < reserve + 1.5
                drone = row["drone_id"]
                i = stack.index_of(drone)

                refused = await c.report(*beyond)
                assert refused["mission_id"] is None and refused["status"] in ("queued", "unreachable"), refused
                assert refused["reason"] and "battery" in json_text(c, refused["incident_id"]), refused
                m = await c.wait_mission(mid, lambda m: m["state"] in ("landed", "failed", "aborted"), 240.0,
                                         "landed")
                assert m["state"] == "landed", m
                assert m["transitions"][-1]["to"] == "landed"

            # The vehicle's truth: at home, disarmed, with at least the reserve left.
            truth = stack.fleet.state(i)
            assert not truth.armed
            assert _from_home_m(stack, i) < 3.0
            assert truth.battery_pct >= reserve, (truth.battery_pct, planned_left)
            inc = await c.wait_incident(out["incident_id"], lambda x: x["status"] == "closed", 30.0, "closed")
            assert inc["mission_id"] == mid
            assert not any(f for f in ws.of_type("landed_away"))
            # The report beyond the limit never flew: nobody else armed, still without a mission.
            assert not any(stack.fleet.state(k).armed for k in range(len(stack.fleet)))
            again = await c.get(f"/api/incidents/{refused['incident_id']}")
            assert again["mission_id"] is None and again["status"] in ("queued", "unreachable"), again


async def test_forced_landing_away_from_home_fails_mission_and_keeps_incident_open(tmp_path: Path) -> None:
    quick = {"crime": {"hover_s": 30.0, "alt_m": 40.0}}
    with e2e_stack(tmp_path, speedup=SPEEDUP, on_scene=quick) as stack:
        async with run_controller(stack.settings) as c:
            await c.wait_drones_ready()
            async with WsRecorder(c.ws_url()) as ws:
                out = await c.report(*EAST_OF_HQ)
                assert out["status"] == "dispatched"
                iid, first = out["incident_id"], out["mission_id"]
                m = await c.wait_mission(first, lambda m: m["state"] == "en_route", 60.0, "en route")
                d1 = m["drone_id"]
                i1 = stack.index_of(d1)

                # 1) Critical battery on the way out: PX4 lands where it is, 300+ m from its base.
                await wait_until(lambda: _from_home_m(stack, i1) > 300.0, 90.0, "well on the way")
                stack.fleet.set_battery(i1, 6.0)
                m = await c.wait_mission(first, lambda m: m["state"] in ("landed", "failed", "aborted"), 120.0,
                                         "down")
                assert not stack.fleet.state(i1).armed
                down_m = _from_home_m(stack, i1)
                assert down_m > 200.0
                assert m["state"] == "failed" and m["reason_code"] == "landed_away_from_home", m
                assert "m dari pangkalan" in m["reason"]  # rendered, Indonesian by default
                en = (await c.client.get(f"/api/missions/{first}",
                                         headers={**bearer("dispatcher"), "Accept-Language": "en"})).json()
                assert "landed away from its base" in en["reason"]
                # Where to recover it, on the WS.
                await wait_until(lambda: any(f["mission_id"] == first for f in ws.of_type("landed_away")),
                                 15.0, "landed_away event")
                ev = next(f for f in ws.of_type("landed_away") if f["mission_id"] == first)
                assert ev["drone"] == d1 and ev["incident"] == iid
                assert abs(ev["dist_from_base_m"] - down_m) < 15.0
                assert "failed" in ws.mission_states(first)
                # Never closed: came down before the scene, auto-dispatched -> another drone goes.
                inc = await c.wait_incident(iid, lambda x: x["mission_id"] not in (None, first)
                                            and x["status"] == "dispatched", 60.0, "re-dispatched")
                second = inc["mission_id"]
                assert all(f["status"] != "closed" for f in ws.of_type("incident_updated") if f["incident"] == iid)
                stranded = await c.get(f"/api/drones/{d1}")
                assert stranded["available"] is False and stranded["unavailable_code"] == "away_from_base"

                # 2) The second drone serves the scene, then comes down on its way home.
                m2 = await c.wait_mission(second, lambda m: m["state"] == "returning", 180.0, "returning")
                d2 = m2["drone_id"]
                assert d2 != d1
                i2 = stack.index_of(d2)
                await wait_until(lambda: _from_home_m(stack, i2) > 300.0 or not stack.fleet.state(i2).armed,
                                 60.0, "on the way home, still far")
                assert stack.fleet.state(i2).armed, "landed before the test could force it down"
                stack.fleet.set_battery(i2, 6.0)
                m2 = await c.wait_mission(second, lambda m: m["state"] in ("landed", "failed", "aborted"), 120.0,
                                          "down")
                assert m2["state"] == "failed" and m2["reason_code"] == "landed_away_from_home", m2
                assert [t["to"] for t in m2["transitions"]][-3:] == ["on_scene", "returning", "failed"]
                # Its time on scene was done: the incident stays open for the operator (not closed,
                # not sent again) with the reason.
                inc = await c.wait_incident(iid, lambda x: x["status"] == "pending", 30.0, "pending")
                assert inc["reason_code"] == "landed_away_from_home" and inc["mission_id"] == second
                await asyncio.sleep(1.0)  # queue passes run every 0.2 s: nothing is re-dispatched
                inc = await c.get(f"/api/incidents/{iid}")
                assert inc["status"] == "pending" and inc["mission_id"] == second
                third = [k for k in range(len(stack.fleet)) if k not in (i1, i2)][0]
                assert not stack.fleet.state(third).armed
