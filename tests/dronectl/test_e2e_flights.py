"""End to end: 110 report -> drone on scene and back, through the whole controller.

Real FastAPI app under uvicorn on a free port, real SQLite file, httpx and WebSocket clients,
:class:`~dronectl.vehicles.mavsdk_gateway.MavsdkGateway` on MAVSDK's native core, and the
example Kudus fleet (examples/muria) in ``python -m sim`` at a speed-up. The example's event zone
is made active for the test (its shipped window is one ceremony morning).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from shapely.geometry import LineString, Point

from missions.geodesy import distance_m
from sim.vehicle import AutoSub
from tests.dronectl.e2e_support import (
    Controller,
    Stack,
    WsRecorder,
    e2e_stack,
    min_rate_hz,
    run_controller,
    track_points,
    wait_until,
    zone_shapes,
)

pytestmark = [pytest.mark.flight, pytest.mark.slow, pytest.mark.timeout(300)]

SPEEDUP = 20.0
#: West of the Simpang Tujuh event zone: the straight line from Polres Kudus crosses the zone.
WEST_OF_ZONE = (-6.8047, 110.8350)
#: South-east of Polres Kudus, clear of every zone (short flights).
EAST_OF_HQ = (-6.8070, 110.8500)
LANDED = {"landed", "aborted", "failed"}
FULL_SEQUENCE = ["planned", "uploading", "launching", "en_route", "on_scene", "returning", "landed"]


def _positions(frames: list[tuple[float, dict]]) -> list[tuple[float, float]]:
    return [
        (f["lon_deg"], f["lat_deg"]) for _, f in frames
        if f["lat_deg"] is not None and f["lon_deg"] is not None
    ]


async def _nearest_base_drones(c: Controller, target: tuple[float, float]) -> set[str]:
    s = c.settings
    dist = {d.id: distance_m(s.base(d.base).lat_deg, s.base(d.base).lon_deg, *target) for d in s.drones}
    best = min(dist.values())
    return {d for d, m in dist.items() if m - best < 1.0}


async def test_report_flies_around_event_zone_to_scene_and_home(tmp_path: Path) -> None:
    with e2e_stack(tmp_path, speedup=SPEEDUP) as stack:
        async with run_controller(stack.settings) as c:
            await c.wait_drones_ready()
            airspace = await c.get("/api/airspace")
            [(zone_name, zone)] = zone_shapes(airspace, "event")
            hq = stack.settings.bases[0]
            # The premise: flying straight from the base would cross the event zone.
            assert LineString([(hq.lon_deg, hq.lat_deg), WEST_OF_ZONE[::-1]]).intersects(zone)

            async with WsRecorder(c.ws_url()) as ws:
                out = await c.report(*WEST_OF_ZONE)
                assert out["status"] == "dispatched" and out["mission_id"] is not None
                mid, iid = out["mission_id"], out["incident_id"]
                m = await c.wait_mission(mid, lambda m: m["state"] in LANDED, 240.0, "landed")
                assert m["state"] == "landed", m
                inc = await c.wait_incident(iid, lambda i: i["status"] == "closed", 30.0, "closed")
                assert inc["mission_id"] == mid

            # The nearest drone went (both HQ drones are equally near).
            assert m["drone_id"] in await _nearest_base_drones(c, WEST_OF_ZONE)
            assert [t["to"] for t in m["transitions"]] == FULL_SEQUENCE

            # The WS client saw every state change, in order, and telemetry >= 4 Hz throughout.
            assert ws.mission_states(mid) == FULL_SEQUENCE
            frames = ws.telemetry(m["drone_id"])
            airborne = [(t, f) for t, f in frames if f["in_air"]]
            times = [t for t, _ in frames if frames[0][0] <= t]
            assert len(airborne) > 20
            assert min_rate_hz(times) >= 4.0, min_rate_hz(times)
            states_seen = {f["to_state"] for f in ws.of_type("mission_state")}
            assert states_seen >= set(FULL_SEQUENCE)

            # Around the zone, never into it: recorded track (1 Hz) and every WS position.
            track = track_points(await c.get(f"/api/missions/{mid}/track"))
            assert len(track) >= 10
            for lon, lat in track + _positions(airborne):
                assert not zone.contains(Point(lon, lat)), f"inside {zone_name} at {lat}, {lon}"
            minx, _, maxx, _ = zone.bounds
            assert any(minx <= lon <= maxx for lon, _ in _positions(airborne)), "never passed the zone"

            # Reached the incident within 15 m (what the operators saw, and the vehicle's truth).
            closest = min(distance_m(f["lat_deg"], f["lon_deg"], *WEST_OF_ZONE) for _, f in airborne)
            assert closest <= 15.0, closest
            i = stack.index_of(m["drone_id"])
            truth = stack.fleet.state(i)
            home = stack.fleet.homes[i]
            assert not truth.armed
            assert distance_m(truth.lat_deg, truth.lon_deg, home.lat_deg, home.lon_deg) < 3.0


async def test_manual_dispatch_then_abort_mid_route_returns_home(tmp_path: Path) -> None:
    with e2e_stack(tmp_path, speedup=SPEEDUP) as stack:
        async with run_controller(stack.settings) as c:
            await c.wait_drones_ready()
            async with WsRecorder(c.ws_url()) as ws:
                # Priority 4 crime: not covered by the auto-dispatch rules -> waits for a click.
                manual = await c.report(*WEST_OF_ZONE, priority=4)
                assert manual["status"] == "pending" and manual["mission_id"] is None
                assert all(not st.armed for st in (stack.fleet.state(i) for i in range(3)))
                # Priority 1: launches at once.
                auto = await c.report(*EAST_OF_HQ, priority=1, category="fire")
                assert auto["status"] == "dispatched" and auto["mission_id"] is not None

                r = await c.post(f"/api/incidents/{manual['incident_id']}/dispatch")
                assert r.status_code == 200, r.text
                mid = r.json()["mission_id"]
                assert mid is not None
                m = await c.wait_mission(mid, lambda m: m["state"] == "en_route", 60.0, "en route")
                i = stack.index_of(m["drone_id"])
                home = stack.fleet.homes[i]

                def from_home_m() -> float:
                    st = stack.fleet.state(i)
                    return float(distance_m(st.lat_deg, st.lon_deg, home.lat_deg, home.lon_deg))

                await wait_until(lambda: from_home_m() > 200.0, 90.0, "well on the way")

                r = await c.post(f"/api/incidents/{manual['incident_id']}/abort")
                assert r.status_code == 200, r.text
                m = await c.wait_mission(mid, lambda m: m["state"] == "aborted", 30.0, "aborted")
                # The vehicle really returns (PX4 Return mode) and lands at home.
                await wait_until(
                    lambda: stack.fleet.state(i).sub_mode == AutoSub.RTL
                    or not stack.fleet.state(i).armed,
                    30.0,
                    "vehicle in Return mode",
                )
                await wait_until(lambda: not stack.fleet.state(i).armed, 120.0, "landed")
                truth = stack.fleet.state(i)
                assert distance_m(truth.lat_deg, truth.lon_deg, home.lat_deg, home.lon_deg) < 3.0
                assert "aborted" in ws.mission_states(mid)
                # The scene was never reached.
                frames = ws.telemetry(m["drone_id"])
                assert min(
                    distance_m(f["lat_deg"], f["lon_deg"], *WEST_OF_ZONE)
                    for _, f in frames if f["lat_deg"] is not None
                ) > 100.0
                # The auto-dispatched flight went on meanwhile (the abort touched only its own).
                auto_m = await c.get(f"/api/missions/{auto['mission_id']}")
                assert auto_m["state"] in {"en_route", "on_scene", "returning", "landed"}
                assert auto_m["drone_id"] != m["drone_id"]


async def test_link_loss_mid_route_failsafe_rtl_and_recovery(tmp_path: Path) -> None:
    with e2e_stack(tmp_path, speedup=SPEEDUP) as stack:
        async with run_controller(stack.settings) as c:
            await c.wait_drones_ready()
            async with WsRecorder(c.ws_url()) as ws:
                out = await c.report(*WEST_OF_ZONE)
                mid, iid = out["mission_id"], out["incident_id"]
                m = await c.wait_mission(mid, lambda m: m["state"] == "en_route", 60.0, "en route")
                drone, i = m["drone_id"], stack.index_of(m["drone_id"])
                await wait_until(lambda: stack.fleet.state(i).alt_rel_m > 20.0, 60.0, "climbing")

                stack.fleet.link_loss(i)
                t_loss = time.monotonic()
                await wait_until(
                    lambda: any(f["drone"] == drone and f["link"] == "lost" for f in ws.of_type("link")),
                    30.0, "link lost event",
                )
                d = (await c.get(f"/api/drones/{drone}"))["telemetry"]
                assert d["link"] == "lost" and d["health_ok"] is False
                # Every frame after the loss was noticed says so: never a stale "ok".
                lost_frames = [
                    f for t, f in ws.telemetry(drone) if t > t_loss and f["link"] == "lost"
                ]
                assert lost_frames and all(not f["health_ok"] for f in lost_frames)
                # PX4's data-link-loss failsafe (NAV_DLL_ACT set by the controller) -> Return.
                await wait_until(lambda: stack.fleet.state(i).sub_mode == AutoSub.RTL, 60.0,
                                 "vehicle RTL by link-loss failsafe")
                # The mission record is intact while the link is down.
                m_lost = await c.get(f"/api/missions/{mid}")
                assert m_lost["drone_id"] == drone and m_lost["state"] not in {"aborted", "failed"}

                stack.fleet.restore_link(i)
                t_back = time.monotonic()
                await wait_until(
                    lambda: any(f["drone"] == drone and f["link"] == "connected"
                                for f in ws.of_type("link")),
                    30.0, "link restored event",
                )
                await wait_until(
                    lambda: sum(1 for t, f in ws.telemetry(drone)
                                if t > t_back and f["link"] == "connected") >= 10,
                    15.0, "stream resumed",
                )
                resumed = [f for t, f in ws.telemetry(drone) if t > t_back and f["link"] == "connected"]
                assert resumed[-1]["flight_mode"] in {"return_to_launch", "land", "hold", "mission"}
                m = await c.wait_mission(mid, lambda m: m["state"] in LANDED, 240.0, "landed")
                assert m["state"] == "landed"
                assert [t["to"] for t in m["transitions"]][:4] == FULL_SEQUENCE[:4]
                track = track_points(await c.get(f"/api/missions/{mid}/track"))
                assert len(track) >= 5
                inc = await c.get(f"/api/incidents/{iid}")
                assert inc["mission_id"] == mid


async def test_controller_restart_mid_flight_reloads_and_resumes(tmp_path: Path) -> None:
    with e2e_stack(tmp_path, speedup=SPEEDUP) as stack:
        async with run_controller(stack.settings) as c:
            await c.wait_drones_ready()
            out = await c.report(*WEST_OF_ZONE)
            mid, iid = out["mission_id"], out["incident_id"]
            m = await c.wait_mission(mid, lambda m: m["state"] == "en_route", 60.0, "en route")
            drone, i = m["drone_id"], stack.index_of(m["drone_id"])
            await wait_until(lambda: stack.fleet.state(i).alt_rel_m > 20.0, 60.0, "climbing")
            points_before = len(track_points(await c.get(f"/api/missions/{mid}/track")))
        # Controller gone; the drone flies on (its mission is on board).
        assert stack.fleet.state(i).armed
        async with run_controller(stack.settings) as c2:
            again = await c2.get(f"/api/missions/{mid}")
            assert again["drone_id"] == drone and again["state"] not in LANDED
            assert (await c2.get(f"/api/incidents/{iid}"))["status"] == "dispatched"
            async with WsRecorder(c2.ws_url(drone=drone)) as ws:
                await wait_until(
                    lambda: sum(1 for _, f in ws.telemetry(drone)
                                if f["link"] == "connected" and f["in_air"]) >= 10,
                    30.0, "streaming resumed after restart",
                )
                ids = [f["mission_id"] for _, f in ws.telemetry(drone) if f["in_air"]]
                assert all(x == mid for x in ids), ids
                m = await c2.wait_mission(mid, lambda m: m["state"] in LANDED, 240.0, "landed")
            assert m["state"] == "landed"
            states = [t["to"] for t in m["transitions"]]
            assert states[:4] == FULL_SEQUENCE[:4] and states[-1] == "landed"
            track = track_points(await c2.get(f"/api/missions/{mid}/track"))
            assert len(track) > points_before  # the track from before the restart is kept
            await c2.wait_incident(iid, lambda i: i["status"] == "closed", 30.0, "closed")


async def test_all_drones_busy_queues_then_dispatches(tmp_path: Path) -> None:
    # Short on-scene time for the first flight, so that a drone frees up soon. Every point is
    # within the range of the drone meant for it (sim's battery: ~3 km out and back for a fire).
    quick = {"crime": {"hover_s": 20.0, "alt_m": 40.0}, "fire": {"hover_s": 200.0, "alt_m": 60.0}}
    with e2e_stack(tmp_path, speedup=SPEEDUP, on_scene=quick) as stack:
        async with run_controller(stack.settings) as c:
            await c.wait_drones_ready()
            first = await c.report(*EAST_OF_HQ, category="crime")
            others = [
                await c.report(-6.8200, 110.8600, category="fire"),
                await c.report(-6.8300, 110.8380, category="fire"),
            ]
            assert first["status"] == "dispatched"
            assert all(o["status"] == "dispatched" for o in others)
            # 1.5 km north of the HQ: the first drone, back with ~70 %, can still fly it.
            waiting = await c.report(-6.7900, 110.8417, category="accident", priority=1)
            assert waiting["status"] == "queued" and waiting["mission_id"] is None
            assert waiting["reason"], "a queued incident says why"
            await c.wait_mission(first["mission_id"], lambda m: m["state"] == "landed", 240.0,
                                 "first mission landed")
            inc = await c.wait_incident(
                waiting["incident_id"], lambda i: i["status"] == "dispatched", 60.0, "dispatched"
            )
            m = await c.wait_mission(inc["mission_id"], lambda m: m["state"] == "en_route", 60.0,
                                     "queued incident en route")
            first_m = await c.get(f"/api/missions/{first['mission_id']}")
            assert m["drone_id"] == first_m["drone_id"]  # the drone that came free


async def test_intake_merge_idempotency_unreachable_and_bad_input(tmp_path: Path) -> None:
    """The intake rules on the full stack: nothing launches twice, nothing half-written."""
    with e2e_stack(tmp_path, speedup=SPEEDUP) as stack:
        async with run_controller(stack.settings) as c:
            await c.wait_drones_ready()
            first = await c.report(*EAST_OF_HQ, external_id="cc-2026-0001")
            assert first["status"] == "dispatched"
            # The call centre retries the same call: same answer, nothing new.
            again = await c.post(
                "/api/reports",
                {"category": "crime", "priority": 1, "location": {"lat": EAST_OF_HQ[0], "lon": EAST_OF_HQ[1]},
                 "address": "Jl. Jenderal Sudirman, Kudus (contoh)", "description": "Laporan uji e2e",
                 "caller_phone": "081234567890", "channel": "phone", "external_id": "cc-2026-0001"},
                role="integration",
            )
            assert again.status_code == 201 and again.headers.get("Idempotent-Replay") == "true"
            assert again.json()["report_id"] == first["report_id"]
            # A second caller 100 m away: merged into the same incident, no second drone.
            second = await c.report(EAST_OF_HQ[0] + 0.0009, EAST_OF_HQ[1])
            assert second["merged"] and second["incident_id"] == first["incident_id"]
            assert second["mission_id"] == first["mission_id"]
            inc = await c.get(f"/api/incidents/{first['incident_id']}")
            assert inc["report_count"] == 2
            # Far outside every service area (Semarang): recorded, with the reason.
            far = await c.report(-6.9667, 110.4167)
            assert far["status"] == "unreachable" and far["mission_id"] is None
            assert far["reason"] and far["reason_code"] == "outside_service_area"
            # Bad input: 4xx naming the field, nothing stored.
            before = len((await c.get("/api/incidents"))["incidents"])
            bad = await c.post("/api/reports", {"category": "crime", "priority": 1,
                                                "location": {"lat": 95.0, "lon": 110.8},
                                                "channel": "phone"}, role="integration")
            assert bad.status_code == 422 and "lat" in bad.text
            assert len((await c.get("/api/incidents"))["incidents"]) == before
            # Only one vehicle ever armed for all of this.
            await wait_until(lambda: sum(stack.fleet.state(i).armed for i in range(3)) == 1, 30.0,
                             "one drone flying")
            assert sum(stack.fleet.state(i).armed for i in range(3)) == 1
