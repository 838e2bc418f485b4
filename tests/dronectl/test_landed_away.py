"""Landing away from home: the policy's branches, fast, with the in-memory gateway.

(The flight evidence over MAVLink, a critical-battery landing in sim, is in test_e2e_safety.py.)
"""

from __future__ import annotations

from pathlib import Path

from dronectl.dispatch import HOME_RADIUS_M, IncidentStatus
from dronectl.events import LandedAway
from dronectl.gateway import FlightMode
from missions.geodesy import destination
from tests.dronectl.test_dispatch import collect, mission_state, rep, running, wait_until
from tests.dronectl.conftest import make_settings


async def test_landing_within_the_home_radius_is_home(tmp_path: Path) -> None:
    s = make_settings(tmp_path)
    async with running(s) as (svc, gw):
        out = await svc.dispatcher.submit_report(rep(-6.8300, 110.8452))
        mid = out.mission_id
        p = svc.dispatcher.running[mid].plan
        await wait_until(lambda: mission_state(svc, mid) == "en_route", "en_route")
        gw.update("jati-1", mission_current=p.scene_seq, lat_deg=p.scene_lat_deg, lon_deg=p.scene_lon_deg)
        await wait_until(lambda: mission_state(svc, mid) == "on_scene", "on_scene")
        gw.update("jati-1", mission_current=p.return_seq, flight_mode=FlightMode.RETURN_TO_LAUNCH)
        await wait_until(lambda: mission_state(svc, mid) == "returning", "returning")
        lat, lon, _ = gw.homes["jati-1"]
        near = destination(lat, lon, 45.0, HOME_RADIUS_M - 5.0)  # GPS and surveyed base differ a bit
        gw.update("jati-1", in_air=False, armed=False, lat_deg=float(near[0]), lon_deg=float(near[1]))
        await wait_until(lambda: mission_state(svc, mid) == "landed", "landed")
        assert svc.store.incident(out.incident_id)["status"] == IncidentStatus.CLOSED
        assert svc.dispatcher.availability("jati-1") == (True, None)


async def test_manual_incident_waits_for_the_operator_after_a_landing_away(tmp_path: Path) -> None:
    s = make_settings(tmp_path)
    async with running(s) as (svc, gw):
        seen = collect(svc)
        out = await svc.dispatcher.submit_report(rep(-6.8300, 110.8452, priority=4))  # not automatic
        mid = await svc.dispatcher.dispatch(out.incident_id, actor="op")
        await wait_until(lambda: mission_state(svc, mid) == "en_route", "en_route")
        # GPS lost and PX4 came down: no position known at all is not "home" either.
        gw.update("jati-1", in_air=False, armed=False, flight_mode=FlightMode.LAND, lat_deg=None, lon_deg=None)
        await wait_until(lambda: mission_state(svc, mid) == "failed", "failed")
        row = svc.store.mission(mid)
        assert '"landed_away_from_home"' in row["reason"]
        inc = svc.store.incident(out.incident_id)
        assert inc["status"] == IncidentStatus.PENDING and '"landed_away_from_home"' in inc["reason"]
        await wait_until(lambda: any(isinstance(e, LandedAway) for e in seen), "event")
        ev = next(e for e in seen if isinstance(e, LandedAway))
        assert (ev.mission_id, ev.incident, ev.drone, ev.state) == (mid, out.incident_id, "jati-1", "en_route")
        assert ev.lat_deg is None and ev.dist_from_base_m is None
        assert ev.to_json()["type"] == "landed_away"


async def test_auto_incident_goes_back_to_the_queue_and_another_drone_takes_it(tmp_path: Path) -> None:
    s = make_settings(tmp_path)
    async with running(s) as (svc, gw):
        out = await svc.dispatcher.submit_report(rep(-6.8300, 110.8452))
        mid = out.mission_id
        await wait_until(lambda: mission_state(svc, mid) == "en_route", "en_route")
        gw.update("jati-1", in_air=False, armed=False, lat_deg=-6.8285, lon_deg=110.8452)  # 250 m out
        await wait_until(lambda: mission_state(svc, mid) == "failed", "failed")
        await wait_until(lambda: svc.store.incident(out.incident_id)["mission_id"] not in (None, mid), "again")
        again = svc.store.mission(svc.store.incident(out.incident_id)["mission_id"])
        assert again["drone_id"] in ("kudus-1", "kudus-2")  # not the stranded one
        assert svc.dispatcher.availability("jati-1") == (False, "away_from_base")
        # Brought back to its base (by hand), it is available again.
        lat, lon, _ = gw.homes["jati-1"]
        gw.update("jati-1", lat_deg=lat, lon_deg=lon)
        assert svc.dispatcher.availability("jati-1") == (True, None)


def test_watch_prints_where_a_drone_came_down() -> None:
    from dronectl.cli import _event_line

    ev = LandedAway(drone="kudus-1", mission_id=7, incident=3, lat_deg=-6.8070123, lon_deg=110.85,
                    dist_from_base_m=912.4, battery_pct=6.0, state="en_route")
    line = _event_line(ev.to_json())
    assert line is not None and "kudus-1" in line and "-6.807012, 110.850000" in line and "912 m" in line
    unknown = LandedAway(drone="jati-1", mission_id=8, incident=4, lat_deg=None, lon_deg=None, dist_from_base_m=None,
                         battery_pct=None, state="on_scene")
    assert "position unknown" in (_event_line(unknown.to_json()) or "")
