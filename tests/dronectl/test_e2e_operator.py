"""End to end: operator actions and dispatch safety over the real MAVLink link.

The whole controller (FastAPI under uvicorn, SQLite, MavsdkGateway on MAVSDK's native core) flies
the example Kudus fleet in ``python -m sim`` at a speed-up. Every check of what the drone did is
made on the simulator's true state, not only on what the controller says.

* hold, resume, redirect mid-route (the drone reaches the new point within 15 m) and land now;
* a drone whose safety parameters cannot be confirmed (the vehicle refuses the PARAM_SET, as a
  parameter locked by another component would be) is never chosen, even when it is the nearest;
  the drone that goes instead holds over the scene (within 15 m for the configured time) and its
  low battery reaches the operators' WebSocket.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from missions.geodesy import distance_m
from sim import Fleet
from sim.vehicle import AutoSub
from tests.dronectl.e2e_support import WsRecorder, e2e_stack, run_controller, wait_until

pytestmark = [pytest.mark.flight, pytest.mark.slow, pytest.mark.timeout(300)]

SPEEDUP = 20.0
#: East of Polres Kudus, clear of every zone: about 1.5 km from the base.
FAR_EAST = (-6.8036, 110.8552)
#: North-east of Polres Kudus, clear of every zone: the redirect target (about 1 km from the base).
NORTH_EAST = (-6.7960, 110.8480)
#: 250 m north of Polsek Jati, 2.3 km south of Polres Kudus: Jati's drone is by far the nearest.
NEAR_JATI = (-6.8240, 110.8452)
TERMINAL = {"landed", "aborted", "failed"}


def truth_m(fleet: Fleet, i: int, lat_deg: float, lon_deg: float) -> float:
    st = fleet.state(i)
    return float(distance_m(st.lat_deg, st.lon_deg, lat_deg, lon_deg))


def ground_speed_m_s(fleet: Fleet, i: int) -> float:
    st = fleet.state(i)
    return float((st.vn_m_s**2 + st.ve_m_s**2) ** 0.5)


async def sim_sleep(fleet: Fleet, sim_s: float) -> None:
    """Wait ``sim_s`` simulated seconds (however slow the machine is)."""
    t0 = fleet.sim_time_s
    await wait_until(lambda: fleet.sim_time_s - t0 >= sim_s, 30.0 + 4.0 * sim_s / SPEEDUP, f"{sim_s} sim s")


async def test_hold_resume_redirect_and_land_now_over_mavlink(tmp_path: Path) -> None:
    with e2e_stack(tmp_path, speedup=SPEEDUP) as stack:
        fleet = stack.fleet
        async with run_controller(stack.settings) as c:
            await c.wait_drones_ready()
            out = await c.report(*FAR_EAST)
            assert out["status"] == "dispatched" and out["mission_id"] is not None, out
            mid, iid = out["mission_id"], out["incident_id"]
            m = await c.wait_mission(mid, lambda m: m["state"] == "en_route", 90.0, "en route")
            i = stack.index_of(m["drone_id"])
            home = fleet.homes[i]
            await wait_until(lambda: truth_m(fleet, i, home.lat_deg, home.lon_deg) > 300.0, 90.0,
                             "300 m on the way")

            # -- hold: the vehicle switches to Hold and stops where it is --------------------
            r = await c.post(f"/api/incidents/{iid}/hold")
            assert r.status_code == 200, r.text
            assert fleet.state(i).sub_mode == AutoSub.LOITER
            assert (await c.get(f"/api/missions/{mid}"))["held"] is True
            await wait_until(lambda: ground_speed_m_s(fleet, i) < 0.3, 30.0, "stopped in Hold")
            held = fleet.state(i)
            await sim_sleep(fleet, 20.0)
            assert truth_m(fleet, i, held.lat_deg, held.lon_deg) < 3.0  # 20 s later: still there
            assert fleet.state(i).sub_mode == AutoSub.LOITER
            m = await c.get(f"/api/missions/{mid}")
            assert m["state"] == "en_route" and m["held"] is True

            # -- resume: back on the mission, closing in on the incident ---------------------
            before_m = truth_m(fleet, i, *FAR_EAST)
            r = await c.post(f"/api/incidents/{iid}/resume")
            assert r.status_code == 200, r.text
            assert fleet.state(i).sub_mode == AutoSub.MISSION
            await wait_until(lambda: truth_m(fleet, i, *FAR_EAST) < before_m - 100.0, 60.0,
                             "100 m closer to the incident after resume")
            assert (await c.get(f"/api/missions/{mid}"))["held"] is False

            # -- redirect mid-route: re-planned from where it is, flown to the new point -------
            assert (await c.get(f"/api/missions/{mid}"))["state"] == "en_route"
            r = await c.post(f"/api/incidents/{iid}/redirect",
                             {"location": {"lat": NORTH_EAST[0], "lon": NORTH_EAST[1]}})
            assert r.status_code == 200, r.text
            m = await c.get(f"/api/missions/{mid}")
            assert m["state"] == "en_route"
            st = fleet.state(i)
            assert st.sub_mode == AutoSub.MISSION and st.mission_current <= 1  # the new mission, from its start
            await wait_until(lambda: truth_m(fleet, i, *NORTH_EAST) <= 15.0, 120.0,
                             "at the redirect point (15 m)")
            m = await c.wait_mission(mid, lambda m: m["state"] == "on_scene", 30.0, "on scene at the new point")
            assert m["held"] is False
            # It is the new point it holds over, not the old one.
            await sim_sleep(fleet, 10.0)
            assert truth_m(fleet, i, *NORTH_EAST) <= 15.0
            assert truth_m(fleet, i, *FAR_EAST) > 500.0

            # -- land now: lands where it is, far from its base; the operator is told ---------
            r = await c.post(f"/api/incidents/{iid}/land")
            assert r.status_code == 200, r.text
            await wait_until(lambda: fleet.state(i).sub_mode == AutoSub.LAND, 10.0, "Land mode")
            m = await c.wait_mission(mid, lambda m: m["state"] in TERMINAL, 120.0, "down")
            st = fleet.state(i)
            assert not st.armed and st.alt_rel_m < 0.5
            assert truth_m(fleet, i, *NORTH_EAST) <= 15.0  # landed at the redirect point ...
            assert truth_m(fleet, i, home.lat_deg, home.lon_deg) > 500.0  # ... not at home
            assert m["state"] == "failed" and m["reason_code"] == "landed_away_from_home", m
            inc = await c.get(f"/api/incidents/{iid}")
            assert inc["status"] == "pending"  # not closed: the operator decides what next


async def test_unconfirmed_drone_is_never_chosen_and_hold_on_scene_with_low_battery(tmp_path: Path) -> None:
    with e2e_stack(tmp_path, speedup=SPEEDUP) as stack:
        fleet = stack.fleet
        jati = stack.index_of("jati-1")
        # Jati's vehicle refuses to change NAV_DLL_ACT (PX4 SITL's default 0: no link-loss
        # failsafe), so the controller can never confirm its safety parameters.
        fleet.lock_param(jati, "NAV_DLL_ACT")
        async with run_controller(stack.settings) as c:
            deadline = asyncio.get_running_loop().time() + 90.0
            while True:
                drones = {d["id"]: d for d in (await c.get("/api/drones"))["drones"]}
                j = drones["jati-1"]
                if (all(drones[x]["available"] for x in ("kudus-1", "kudus-2"))
                        and j["telemetry"]["link"] == "connected" and j["telemetry"]["health_ok"]):
                    break
                assert asyncio.get_running_loop().time() < deadline, drones
                await asyncio.sleep(0.25)
            # Connected and healthy, but not dispatchable, and it says why.
            assert j["available"] is False and j["unavailable_code"] == "params_unconfirmed", j
            assert fleet.param(jati, "NAV_DLL_ACT") == 0  # the vehicle really kept its value

            async with WsRecorder(c.ws_url()) as ws:
                out = await c.report(*NEAR_JATI)
                assert out["status"] == "dispatched" and out["mission_id"] is not None, out
                mid, iid = out["mission_id"], out["incident_id"]
                m = await c.get(f"/api/missions/{mid}")
                assert m["drone_id"] in ("kudus-1", "kudus-2"), m  # not the nearest, unconfirmed one
                assert not fleet.state(jati).armed
                i = stack.index_of(m["drone_id"])

                # -- on scene: it holds over the incident for the configured time -----------
                hover_s = stack.settings.on_scene["crime"].hover_s
                await c.wait_mission(mid, lambda m: m["state"] == "on_scene", 180.0, "on scene")
                t_scene = fleet.sim_time_s
                worst_m = 0.0
                while (await c.get(f"/api/missions/{mid}"))["state"] == "on_scene":
                    worst_m = max(worst_m, truth_m(fleet, i, *NEAR_JATI))
                    assert fleet.sim_time_s - t_scene < hover_s + 120.0, "never left the scene"
                    await asyncio.sleep(0.1)
                on_scene_s = fleet.sim_time_s - t_scene
                assert worst_m <= 15.0, worst_m
                assert on_scene_s >= hover_s - 5.0, (on_scene_s, hover_s)
                # What the operators saw over the scene agrees with the vehicle.
                scene_frames = [f for f in ws.telemetry(m["drone_id"])
                                if f[1]["mission_id"] == mid and f[1]["lat_deg"] is not None]
                assert scene_frames
                assert jati != i and not fleet.state(jati).armed

                # -- low battery on the way home: an event on the WebSocket -----------------
                # Close to home, so that the pack set low still brings it back (set 2.3 km out,
                # it would drain to PX4's critical level and land on the way: a different test).
                home = fleet.homes[i]
                await wait_until(lambda: truth_m(fleet, i, home.lat_deg, home.lon_deg) < 400.0, 120.0,
                                 "400 m from home")
                assert (await c.get(f"/api/missions/{mid}"))["state"] == "returning"
                assert not ws.of_type("low_battery")
                low = stack.settings.flight.low_battery_pct
                fleet.set_battery(i, low - 2.0)  # above PX4's BAT_LOW_THR: no failsafe, just a warning
                await wait_until(lambda: bool([e for e in ws.of_type("low_battery")
                                               if e["mission_id"] == mid]), 30.0, "low_battery on the WS")
                [ev] = [e for e in ws.of_type("low_battery") if e["mission_id"] == mid]
                assert ev["drone"] == m["drone_id"] and ev["incident"] == iid
                assert low - 3.0 <= ev["battery_pct"] < low
                m = await c.wait_mission(mid, lambda m: m["state"] in TERMINAL, 180.0, "landed")
                assert m["state"] == "landed", m
            # In order with the mission's states on the same stream.
            kinds = [f.get("type") for _, f in ws.frames
                     if f.get("type") in ("mission_state", "low_battery") and f.get("mission_id") == mid]
            assert kinds.index("low_battery") > 0 and kinds[-1] == "mission_state"
