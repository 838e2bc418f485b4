"""Dispatch logic with the in-memory gateway (fast; the flight evidence is in the e2e tests)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from dronectl.config import Category, Settings
from dronectl.dispatch import DispatchError, IncidentStatus, ReportIn
from dronectl.events import Event, IncidentUpdated, LinkChanged, MissionStateChanged
from dronectl.gateway import CommandRejected, FlightMode, LinkState
from dronectl.service import Service
from dronectl.states import MissionState
from dronectl.vehicles.memory import MemoryGateway
from missions.geodesy import distance_m
from missions.items import Cmd
from tests.dronectl.conftest import EVENT_CENTRE, make_settings, memory_gateway

S = MissionState


def rep(lat: float, lon: float, *, category: str = "crime", priority: int = 1, **kw: object) -> ReportIn:
    return ReportIn(category=Category(category), priority=priority, lat_deg=lat, lon_deg=lon, channel="phone",
                    **kw)  # type: ignore[arg-type]


async def wait_until(pred: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def running(settings: Settings, gw: MemoryGateway | None = None) -> AsyncIterator[tuple[Service, MemoryGateway]]:
    gw = gw or memory_gateway(settings)
    svc = Service(settings, gateway=gw, queue_poll_s=0.05)
    await svc.start()
    try:
        yield svc, gw
    finally:
        await svc.stop()


def mission_state(svc: Service, mid: int) -> str:
    row = svc.store.mission(mid)
    assert row is not None
    return str(row["state"])


def collect(svc: Service) -> list[Event]:
    seen: list[Event] = []
    sub = svc.bus.subscribe("test", maxsize=100_000, accept=lambda e: e.kind != "telemetry")

    async def pump() -> None:
        async for ev in sub:
            seen.append(ev)

    asyncio.get_running_loop().create_task(pump())
    return seen


async def fly_to_scene_and_home(svc: Service, gw: MemoryGateway, mid: int) -> None:
    run = svc.dispatcher.running[mid]
    d = run.drone_id
    await wait_until(lambda: mission_state(svc, mid) == "en_route", "en_route")
    p = run.plan
    gw.update(d, mission_current=p.scene_seq - 1)
    gw.update(d, mission_current=p.scene_seq, lat_deg=p.scene_lat_deg, lon_deg=p.scene_lon_deg)
    await wait_until(lambda: mission_state(svc, mid) == "on_scene", "on_scene")
    gw.update(d, mission_current=p.return_seq)
    await wait_until(lambda: mission_state(svc, mid) == "returning", "returning")
    gw.update(d, flight_mode=FlightMode.RETURN_TO_LAUNCH, mission_current=len(p.items) - 1)
    home_lat, home_lon, _ = gw.homes[d]
    gw.update(d, in_air=False, armed=False, flight_mode=FlightMode.HOLD, lat_deg=home_lat, lon_deg=home_lon)
    await wait_until(lambda: mission_state(svc, mid) == "landed", "landed")


async def test_full_cycle_persists_every_transition_and_closes_incident(tmp_path: Path) -> None:
    s = make_settings(tmp_path)
    async with running(s) as (svc, gw):
        seen = collect(svc)
        out = await svc.dispatcher.submit_report(rep(-6.8300, 110.8452))  # next to Polsek Jati
        assert out.status == IncidentStatus.DISPATCHED and out.mission_id is not None
        mid = out.mission_id
        assert svc.store.mission(mid)["drone_id"] == "jati-1"  # nearest ETA
        await fly_to_scene_and_home(svc, gw, mid)
        assert gw.actions("jati-1")[:3] == ["upload_mission", "arm", "start_mission"]
        states = [(t["from_state"], t["to_state"]) for t in svc.store.transitions(mid)]
        assert states == [(None, "planned"), ("planned", "uploading"), ("uploading", "launching"),
                          ("launching", "en_route"), ("en_route", "on_scene"), ("on_scene", "returning"),
                          ("returning", "landed")]
        inc = svc.store.incident(out.incident_id)
        assert inc["status"] == IncidentStatus.CLOSED
        await wait_until(lambda: any(isinstance(e, IncidentUpdated) and e.status == "closed" for e in seen), "event")
        published = [e.to_state for e in seen if isinstance(e, MissionStateChanged)]
        assert published == [b for _, b in states]
        seqs = [e.seq for e in seen]
        assert seqs == sorted(seqs)
        # The drone is free again.
        assert svc.dispatcher.availability("jati-1") == (True, None)


async def test_nearest_eta_choice(tmp_path: Path) -> None:
    s = make_settings(tmp_path)
    async with running(s) as (svc, _gw):
        north = await svc.dispatcher.submit_report(rep(-6.7800, 110.8417))  # north of the HQ
        assert svc.store.mission(north.mission_id)["drone_id"] in ("kudus-1", "kudus-2")
        south = await svc.dispatcher.submit_report(rep(-6.8400, 110.8452))  # south of Jati
        assert svc.store.mission(south.mission_id)["drone_id"] == "jati-1"
        # With jati-1 busy the next southern incident goes to the remaining HQ drone.
        south2 = await svc.dispatcher.submit_report(rep(-6.8500, 110.8600))
        other = {"kudus-1", "kudus-2"} - {svc.store.mission(north.mission_id)["drone_id"]}
        assert svc.store.mission(south2.mission_id)["drone_id"] in other


async def test_duplicates_merge_within_radius_and_window(tmp_path: Path) -> None:
    s = make_settings(tmp_path)
    async with running(s) as (svc, _gw):
        a = await svc.dispatcher.submit_report(rep(-6.8300, 110.8452, priority=3))
        b = await svc.dispatcher.submit_report(rep(-6.8310, 110.8455, priority=1))  # ~120 m away
        assert b.merged and b.incident_id == a.incident_id
        inc = svc.store.incident(a.incident_id)
        assert inc["report_count"] == 2 and inc["priority"] == 1
        # The more urgent duplicate made the incident automatic: it is dispatched now.
        assert inc["status"] == IncidentStatus.DISPATCHED
        c = await svc.dispatcher.submit_report(rep(-6.8400, 110.8452))  # > 1 km away
        assert not c.merged and c.incident_id != a.incident_id
        # Outside the time window: a new incident even at the same place.
        with svc.store.tx() as db:
            db.execute("UPDATE incidents SET created_us = created_us - 3600000000 WHERE id = ?", (a.incident_id,))
        d = await svc.dispatcher.submit_report(rep(-6.8300, 110.8452))
        assert not d.merged and d.incident_id not in (a.incident_id, c.incident_id)
        assert svc.store.count("reports") == 4


async def test_manual_policy_waits_for_operator(tmp_path: Path) -> None:
    s = make_settings(tmp_path)
    async with running(s) as (svc, gw):
        out = await svc.dispatcher.submit_report(rep(-6.8300, 110.8452, priority=4))
        assert out.status == IncidentStatus.PENDING and out.mission_id is None
        assert gw.calls == []
        mid = await svc.dispatcher.dispatch(out.incident_id, actor="op")
        assert svc.store.incident(out.incident_id)["mission_id"] == mid
        with pytest.raises(DispatchError) as e:
            await svc.dispatcher.dispatch(out.incident_id)
        assert e.value.code == "already_dispatched"


async def test_queue_then_dispatch_when_a_drone_is_free(tmp_path: Path) -> None:
    s = make_settings(tmp_path)
    async with running(s) as (svc, gw):
        outs = [await svc.dispatcher.submit_report(rep(lat, lon)) for lat, lon in
                [(-6.7800, 110.8417), (-6.8400, 110.8452), (-6.7700, 110.8800)]]
        assert all(o.status == IncidentStatus.DISPATCHED for o in outs)
        queued = await svc.dispatcher.submit_report(rep(-6.7900, 110.8000))
        assert queued.status == IncidentStatus.QUEUED and queued.mission_id is None
        inc = svc.store.incident(queued.incident_id)
        assert '"no_drone_available"' in inc["reason"] and "busy" in inc["reason"]
        # Finish the first mission: its drone lands, and the queued incident takes it.
        first = outs[0].mission_id
        await fly_to_scene_and_home(svc, gw, first)
        drone = svc.store.mission(first)["drone_id"]
        await wait_until(lambda: svc.store.incident(queued.incident_id)["status"] == "dispatched", "queue dispatch")
        m = svc.store.mission(svc.store.incident(queued.incident_id)["mission_id"])
        assert m["drone_id"] == drone


async def test_outside_every_service_area_is_recorded_unreachable(tmp_path: Path) -> None:
    s = make_settings(tmp_path)
    async with running(s) as (svc, gw):
        out = await svc.dispatcher.submit_report(rep(-7.3000, 110.8400))  # ~55 km south
        assert out.status == IncidentStatus.UNREACHABLE and out.mission_id is None
        assert '"outside_service_area"' in (out.reason or "")
        assert svc.store.count("reports") == 1 and gw.calls == []
        # Not re-tried by the queue.
        await asyncio.sleep(0.2)
        assert svc.store.incident(out.incident_id)["status"] == IncidentStatus.UNREACHABLE


async def test_battery_reserve_makes_far_incident_unreachable(tmp_path: Path) -> None:
    s = make_settings(tmp_path, on_scene={"crime": {"hover_s": 1200, "alt_m": 40}})
    async with running(s) as (svc, _gw):
        out = await svc.dispatcher.submit_report(rep(-6.7200, 110.8417))  # 9 km out, 20 min hover
        assert out.status == IncidentStatus.UNREACHABLE
        assert '"no_drone_can_reach"' in out.reason and '"battery"' in out.reason


async def test_incident_inside_zone_is_observed_from_outside(tmp_path: Path) -> None:
    s = make_settings(tmp_path)
    async with running(s) as (svc, _gw):
        out = await svc.dispatcher.submit_report(rep(*EVENT_CENTRE))
        plan = svc.dispatcher.running[out.mission_id].plan
        d = distance_m(plan.scene_lat_deg, plan.scene_lon_deg, *EVENT_CENTRE)
        assert 300 + 50 - 1 <= d <= 300 + 60  # radius + margin
        for it in plan.items:
            if it.command in (Cmd.NAV_WAYPOINT, Cmd.NAV_TAKEOFF):
                assert svc.airspace.check(it.lat_deg, it.lon_deg).flyable
                assert it.z <= s.max_alt_m


async def test_abort_returns_to_launch_and_keeps_drone_busy_until_landed(tmp_path: Path) -> None:
    s = make_settings(tmp_path)
    async with running(s) as (svc, gw):
        seen = collect(svc)
        out = await svc.dispatcher.submit_report(rep(-6.8300, 110.8452))
        mid = out.mission_id
        await wait_until(lambda: mission_state(svc, mid) == "en_route", "en_route")
        await svc.dispatcher.abort(out.incident_id, actor="op")
        assert gw.actions("jati-1")[-1] == "return_to_launch"
        assert mission_state(svc, mid) == "aborted"
        inc = svc.store.incident(out.incident_id)
        assert inc["status"] == IncidentStatus.PENDING and '"aborted_by_operator"' in inc["reason"]
        assert svc.dispatcher.availability("jati-1") == (False, "airborne")
        gw.update("jati-1", in_air=False, armed=False)
        await wait_until(lambda: svc.dispatcher.availability("jati-1")[0], "free after landing")
        await wait_until(lambda: any(isinstance(e, MissionStateChanged) and e.to_state == "aborted" for e in seen),
                         "aborted event")
        with pytest.raises(DispatchError) as e:
            await svc.dispatcher.abort(out.incident_id)
        assert e.value.code == "no_active_mission"


async def test_hold_resume_redirect_land(tmp_path: Path) -> None:
    s = make_settings(tmp_path)
    async with running(s) as (svc, gw):
        out = await svc.dispatcher.submit_report(rep(-6.8300, 110.8452))
        mid = out.mission_id
        await wait_until(lambda: mission_state(svc, mid) == "en_route", "en_route")
        await svc.dispatcher.hold(out.incident_id)
        assert gw.actions("jati-1")[-1] == "hold" and svc.store.mission(mid)["held"] == 1
        await svc.dispatcher.resume(out.incident_id)
        assert gw.actions("jati-1")[-1] == "start_mission" and svc.store.mission(mid)["held"] == 0
        gw.update("jati-1", lat_deg=-6.8280, lon_deg=110.8452)
        await svc.dispatcher.redirect(out.incident_id, -6.8350, 110.8500)
        assert gw.actions("jati-1")[-2:] == ["upload_mission", "start_mission"]
        items = gw.missions["jati-1"]
        assert items[0].command == Cmd.NAV_WAYPOINT  # in the air: no take-off item
        assert items[-1].command == Cmd.NAV_RETURN_TO_LAUNCH
        row = svc.store.mission(mid)
        assert (row["target_lat_deg"], row["target_lon_deg"]) == (-6.8350, 110.8500)
        assert row["plan"]["scene_lat_deg"] == pytest.approx(-6.8350)
        await svc.dispatcher.land(out.incident_id)
        assert gw.actions("jati-1")[-1] == "land"
        gw.update("jati-1", in_air=False, armed=False)
        # Down where it was, 200 m from its base: not home, so the mission failed (the drone must
        # be recovered); the operator asked for the landing, so the incident waits for them.
        await wait_until(lambda: mission_state(svc, mid) == "failed", "failed: landed away")
        assert '"landed_away_from_home"' in svc.store.mission(mid)["reason"]
        inc = svc.store.incident(out.incident_id)
        assert inc["status"] == IncidentStatus.PENDING and '"landed_away_from_home"' in inc["reason"]
        assert svc.dispatcher.availability("jati-1") == (False, "away_from_base")


async def test_link_loss_keeps_mission_and_publishes_link_events(tmp_path: Path) -> None:
    s = make_settings(tmp_path)
    async with running(s) as (svc, gw):
        seen = collect(svc)
        out = await svc.dispatcher.submit_report(rep(-6.8300, 110.8452))
        mid = out.mission_id
        await wait_until(lambda: mission_state(svc, mid) == "en_route", "en_route")
        gw.update("jati-1", link=LinkState.LOST, in_air=False, armed=False)  # stale values must not land it
        await wait_until(lambda: any(isinstance(e, LinkChanged) and e.link is LinkState.LOST for e in seen), "lost")
        lost = next(e for e in seen if isinstance(e, LinkChanged) and e.link is LinkState.LOST)
        assert lost.mission_id == mid and lost.incident == out.incident_id
        await asyncio.sleep(0.3)
        assert mission_state(svc, mid) == "en_route"
        assert gw.latest("jati-1").health_ok is False
        assert svc.dispatcher.availability("jati-1") == (False, "busy")
        gw.update("jati-1", link=LinkState.CONNECTED, health_ok=True, in_air=True, armed=True,
                  flight_mode=FlightMode.RETURN_TO_LAUNCH)
        await wait_until(lambda: any(isinstance(e, LinkChanged) and e.link is LinkState.CONNECTED
                                     and e.mission_id == mid for e in seen), "restored")
        # PX4's link-loss failsafe flew it home: the record follows the vehicle.
        await wait_until(lambda: mission_state(svc, mid) == "returning", "returning")
        assert [t["to_state"] for t in svc.store.transitions(mid)][-1] == "returning"


async def test_vehicle_refusal_fails_mission_with_reason(tmp_path: Path) -> None:
    s = make_settings(tmp_path)
    gw = memory_gateway(s)
    gw.fail[("jati-1", "arm")] = CommandRejected("jati-1", "arm", "Arming denied: preflight checks")
    async with running(s, gw) as (svc, _):
        out = await svc.dispatcher.submit_report(rep(-6.8300, 110.8452))
        mid = out.mission_id
        await wait_until(lambda: mission_state(svc, mid) == "failed", "failed")
        row = svc.store.mission(mid)
        assert "Arming denied" in row["reason"]
        inc = svc.store.incident(out.incident_id)
        assert inc["status"] == IncidentStatus.PENDING and "Arming denied" in inc["reason"]
        assert svc.dispatcher.availability("jati-1") == (True, None)


async def test_restart_reloads_missions_and_reattaches(tmp_path: Path) -> None:
    s = make_settings(tmp_path)
    gw = memory_gateway(s)
    async with running(s, gw) as (svc, _):
        out = await svc.dispatcher.submit_report(rep(-6.8300, 110.8452))
        mid = out.mission_id
        await wait_until(lambda: mission_state(svc, mid) == "en_route", "en_route")
        p = svc.dispatcher.running[mid].plan
    # A new controller on the same database and the same (still flying) fleet.
    async with running(s, gw) as (svc2, _):
        run = svc2.dispatcher.mission_of_drone("jati-1")
        assert run is not None and run.id == mid and run.state is S.EN_ROUTE
        assert svc2.dispatcher.availability("jati-1") == (False, "busy")
        gw.update("jati-1", mission_current=p.scene_seq, lat_deg=p.scene_lat_deg, lon_deg=p.scene_lon_deg)
        await wait_until(lambda: mission_state(svc2, mid) == "on_scene", "on_scene after restart")
        gw.update("jati-1", mission_current=p.return_seq)
        gw.update("jati-1", in_air=False, armed=False, lat_deg=gw.homes["jati-1"][0], lon_deg=gw.homes["jati-1"][1])
        await wait_until(lambda: mission_state(svc2, mid) == "landed", "landed after restart")
        assert svc2.store.incident(out.incident_id)["status"] == IncidentStatus.CLOSED


async def test_restart_before_launch_requeues(tmp_path: Path) -> None:
    s = make_settings(tmp_path)
    svc = Service(s, gateway=memory_gateway(s))
    # Write a mission left in "uploading" as if the controller died mid-upload.
    out = await svc.dispatcher.submit_report(rep(-6.8300, 110.8452, priority=4))
    plan = svc.planner.plan(s.drone("jati-1"), (-6.8300, 110.8452), Category.CRIME, battery_pct=100)
    with svc.store.tx() as db:
        mid = svc.store.insert_mission(db, incident_id=out.incident_id, drone_id="jati-1", state="uploading",
                                       target_lat_deg=-6.83, target_lon_deg=110.8452, plan=plan.to_json())
        svc.store.update_incident(out.incident_id, db=db, status="dispatched", mission_id=mid)
    svc.store.close()
    async with running(s) as (svc2, _gw):
        assert mission_state(svc2, mid) == "failed"
        await wait_until(lambda: svc2.store.incident(out.incident_id)["mission_id"] not in (None, mid),
                         "re-dispatched")


async def test_low_battery_event_once_per_mission(tmp_path: Path) -> None:
    from dronectl.events import LowBattery

    s = make_settings(tmp_path)
    async with running(s) as (svc, gw):
        seen = collect(svc)
        out = await svc.dispatcher.submit_report(rep(-6.8300, 110.8452))
        await wait_until(lambda: mission_state(svc, out.mission_id) == "en_route", "en_route")
        gw.update("jati-1", battery_pct=24.0)
        gw.update("jati-1", battery_pct=23.0)
        await wait_until(lambda: any(isinstance(e, LowBattery) for e in seen), "low battery event")
        await asyncio.sleep(0.2)
        lows = [e for e in seen if isinstance(e, LowBattery)]
        assert len(lows) == 1 and lows[0].mission_id == out.mission_id and lows[0].battery_pct in (23.0, 24.0)


async def test_report_survives_a_planning_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = make_settings(tmp_path)
    async with running(s) as (svc, _gw):
        def boom(*a: object, **k: object) -> None:
            raise RuntimeError("planner bug")

        monkeypatch.setattr(svc.planner, "plan", boom)
        out = await svc.dispatcher.submit_report(rep(-6.8300, 110.8452))
        inc = svc.store.incident(out.incident_id)
        assert svc.store.count("reports") == 1
        assert inc["status"] == IncidentStatus.PENDING and "planner bug" in inc["reason"]


async def test_escort_follows_officer_and_refuses_paths_through_zones(tmp_path: Path) -> None:
    s = make_settings(tmp_path)
    async with running(s) as (svc, gw):
        out = await svc.dispatcher.submit_report(rep(-6.8300, 110.8452))
        mid = out.mission_id
        with pytest.raises(DispatchError):
            await svc.dispatcher.escort(out.incident_id, -6.8302, 110.8452)  # not on scene yet
        await wait_until(lambda: mission_state(svc, mid) == "en_route", "en_route")
        p = svc.dispatcher.running[mid].plan
        gw.update("jati-1", mission_current=p.scene_seq, lat_deg=p.scene_lat_deg, lon_deg=p.scene_lon_deg)
        await wait_until(lambda: mission_state(svc, mid) == "on_scene", "on_scene")
        await svc.dispatcher.escort(out.incident_id, -6.8305, 110.8455)
        assert gw.calls[-1] == ("jati-1", "follow_target", (-6.8305, 110.8455, 45.0))
        # The officer across the event zone: following straight would cross it.
        with pytest.raises(DispatchError) as e:
            await svc.dispatcher.escort(out.incident_id, EVENT_CENTRE[0] + 0.005, EVENT_CENTRE[1])
        assert e.value.code == "escort_blocked"
        assert mission_state(svc, mid) == "on_scene"


async def test_low_battery_drone_queues_until_a_charged_one_is_free(tmp_path: Path) -> None:
    s = make_settings(tmp_path, drones=[
        {"id": "jati-1", "name": "Elang 3", "base": "jati", "url": "udpin://0.0.0.0:14542", "system_id": 3,
         "endurance_min": 45}])
    gw = memory_gateway(s, battery_pct=65.0)
    async with running(s, gw) as (svc, _):
        out = await svc.dispatcher.submit_report(rep(-6.7812, 110.8452))  # 5 km north of Jati
        assert out.status == IncidentStatus.QUEUED, out.reason
        assert '"battery"' in out.reason
        gw.update("jati-1", battery_pct=100.0)  # swapped pack
        await wait_until(lambda: svc.store.incident(out.incident_id)["status"] == "dispatched", "dispatched")


async def test_abort_during_launch_stops_the_sequence_before_rtl(tmp_path: Path) -> None:
    s = make_settings(tmp_path)
    gw = memory_gateway(s)
    gate = asyncio.Event()
    real_start = gw.start_mission

    async def slow_start(drone_id: str) -> None:
        gw.calls.append((drone_id, "start_mission(begun)", ()))
        await gate.wait()  # the vehicle has not answered yet
        await real_start(drone_id)

    gw.start_mission = slow_start  # type: ignore[method-assign]
    async with running(s, gw) as (svc, _):
        out = await svc.dispatcher.submit_report(rep(-6.8300, 110.8452))
        await wait_until(lambda: ("jati-1", "start_mission(begun)", ()) in gw.calls, "start in flight")
        assert mission_state(svc, out.mission_id) == "launching"
        await svc.dispatcher.abort(out.incident_id)
        gate.set()
        await asyncio.sleep(0.05)
        assert gw.actions("jati-1")[-1] == "return_to_launch"
        assert "start_mission" not in gw.actions("jati-1")  # the cancelled start never went out
        assert mission_state(svc, out.mission_id) == "aborted"
