"""HTTP routes. Thin: validate, authorise, call the service, shape the answer."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from dronectl.api.auth import OPERATE, READ_ALL, REPORT, require
from dronectl.api.errors import ApiError, lang_of
from dronectl.api.i18n import render_reason, t
from dronectl.api.schemas import AssignBody, DispatchBody, RedirectBody, ReportBody
from dronectl.config import Role
from dronectl.dispatch import ReportIn
from dronectl.gateway import LinkState, Telemetry
from dronectl.planning import Plan, plan_to_qgc
from dronectl.service import Principal, Service

__all__ = ["api", "probes", "telemetry_json"]

api = APIRouter(prefix="/api")
probes = APIRouter()

ANY_ROLE = tuple(Role)
INCIDENT_READERS = (*READ_ALL, Role.OFFICER)


def _svc(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


def _iso(us: int | None) -> str | None:
    return None if us is None else datetime.fromtimestamp(us / 1e6, tz=UTC).isoformat()


def _num(v: float | None) -> float | None:
    return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else v


def telemetry_json(tm: Telemetry) -> dict[str, Any]:
    return {
        "drone_id": tm.drone_id, "time_us": tm.time_us, "link": tm.link.value,
        "lat_deg": _num(tm.lat_deg), "lon_deg": _num(tm.lon_deg), "alt_amsl_m": _num(tm.alt_amsl_m),
        "alt_rel_m": _num(tm.alt_rel_m), "heading_deg": _num(tm.heading_deg),
        "ground_speed_m_s": _num(tm.ground_speed_m_s), "battery_pct": _num(tm.battery_pct),
        "flight_mode": tm.flight_mode.value, "armed": tm.armed, "in_air": tm.in_air,
        "mission_current": tm.mission_current, "mission_total": tm.mission_total,
        # Never a stale "ok": health is false whenever the link is not connected.
        "health_ok": tm.health_ok and tm.link is LinkState.CONNECTED, "params_ok": tm.params_ok,
    }


def _incident_json(row: dict[str, Any], lang: str, *, detail: bool = False, svc: Service | None = None) -> dict[str, Any]:
    msg, code = render_reason(row["reason"], lang)
    out: dict[str, Any] = {
        "id": row["id"], "category": row["category"], "priority": row["priority"],
        "location": {"lat": row["lat_deg"], "lon": row["lon_deg"]}, "address": row["address"],
        "description": row["description"], "status": row["status"], "reason": msg, "reason_code": code,
        "auto_dispatch": bool(row["auto_dispatch"]), "assigned_officer": row["assigned_officer"],
        "mission_id": row["mission_id"], "report_count": row["report_count"],
        "created_at": _iso(row["created_us"]), "updated_at": _iso(row["updated_us"]),
    }
    if detail and svc is not None:
        out["reports"] = [
            {"id": r["id"], "external_id": r["external_id"], "category": r["category"], "priority": r["priority"],
             "location": {"lat": r["lat_deg"], "lon": r["lon_deg"]}, "channel": r["channel"],
             "caller_phone": r["caller_phone_masked"], "caller_nik": r["caller_nik_masked"],
             "merged": bool(r["merged"]), "received_at": _iso(r["received_us"])}
            for r in svc.store.reports_of(row["id"])
        ]
    return out


def _visible_incident(svc: Service, who: Principal, incident_id: int) -> dict[str, Any]:
    row = svc.store.incident(incident_id)
    if who.role is Role.OFFICER:
        # Same answer for "missing" and "not yours": an officer learns nothing about others' incidents.
        if row is None or row["assigned_officer"] is None or row["assigned_officer"] != who.subject:
            raise ApiError(403, "incident_not_assigned", incident_id=incident_id)
    if row is None:
        raise ApiError(404, "incident_not_found", incident_id=incident_id)
    return row


# -- reports -------------------------------------------------------------------------------------
@api.post("/reports", status_code=201, tags=["reports"], summary="Post a 110 report")
async def post_report(body: ReportBody, request: Request,
                      who: Annotated[Principal, Depends(require(*REPORT))]) -> JSONResponse:
    svc = _svc(request)
    r = ReportIn(category=body.category, priority=body.priority, lat_deg=body.location.lat,
                 lon_deg=body.location.lon, channel=body.channel.value, address=body.address,
                 description=body.description, caller_phone=body.caller_phone, caller_nik=body.caller_nik,
                 external_id=body.external_id)
    out = await svc.dispatcher.submit_report(r, actor=who.name)
    lang = lang_of(request)
    msg, code = render_reason(out.reason, lang)
    inc = svc.store.incident(out.incident_id)
    assert inc is not None
    return JSONResponse(
        {"report_id": out.report_id, "incident_id": out.incident_id, "status": out.status,
         "mission_id": out.mission_id, "merged": out.merged, "reason": msg, "reason_code": code,
         "incident": _incident_json(inc, lang)},
        status_code=201, headers={"Idempotent-Replay": "true"} if out.duplicate else None,
    )


# -- incidents -----------------------------------------------------------------------------------
@api.get("/incidents", tags=["incidents"])
async def list_incidents(request: Request, who: Annotated[Principal, Depends(require(*INCIDENT_READERS))],
                         status: str | None = None) -> dict[str, Any]:
    svc = _svc(request)
    officer = None
    if who.role is Role.OFFICER:
        officer = who.subject or "\x00nobody"
    rows = svc.store.incidents(officer=officer, status=status)
    lang = lang_of(request)
    return {"incidents": [_incident_json(r, lang) for r in rows]}


@api.get("/incidents/{incident_id}", tags=["incidents"])
async def get_incident(incident_id: int, request: Request,
                       who: Annotated[Principal, Depends(require(*INCIDENT_READERS))]) -> dict[str, Any]:
    svc = _svc(request)
    row = _visible_incident(svc, who, incident_id)
    return _incident_json(row, lang_of(request), detail=True, svc=svc)


async def _after_action(request: Request, incident_id: int, mission_id: int | None) -> dict[str, Any]:
    svc = _svc(request)
    row = svc.store.incident(incident_id)
    assert row is not None
    return {"incident": _incident_json(row, lang_of(request)), "mission_id": mission_id}


@api.post("/incidents/{incident_id}/dispatch", tags=["operations"])
async def dispatch_incident(incident_id: int, request: Request,
                            who: Annotated[Principal, Depends(require(*OPERATE))],
                            body: DispatchBody | None = None) -> dict[str, Any]:
    mid = await _svc(request).dispatcher.dispatch(incident_id, drone_id=body.drone_id if body else None,
                                                  actor=who.name)
    return await _after_action(request, incident_id, mid)


@api.post("/incidents/{incident_id}/abort", tags=["operations"])
async def abort_incident(incident_id: int, request: Request,
                         who: Annotated[Principal, Depends(require(*OPERATE))]) -> dict[str, Any]:
    mid = await _svc(request).dispatcher.abort(incident_id, actor=who.name)
    return await _after_action(request, incident_id, mid)


@api.post("/incidents/{incident_id}/hold", tags=["operations"])
async def hold_incident(incident_id: int, request: Request,
                        who: Annotated[Principal, Depends(require(*OPERATE))]) -> dict[str, Any]:
    mid = await _svc(request).dispatcher.hold(incident_id, actor=who.name)
    return await _after_action(request, incident_id, mid)


@api.post("/incidents/{incident_id}/resume", tags=["operations"])
async def resume_incident(incident_id: int, request: Request,
                          who: Annotated[Principal, Depends(require(*OPERATE))]) -> dict[str, Any]:
    mid = await _svc(request).dispatcher.resume(incident_id, actor=who.name)
    return await _after_action(request, incident_id, mid)


@api.post("/incidents/{incident_id}/redirect", tags=["operations"])
async def redirect_incident(incident_id: int, body: RedirectBody, request: Request,
                            who: Annotated[Principal, Depends(require(*OPERATE))]) -> dict[str, Any]:
    mid = await _svc(request).dispatcher.redirect(incident_id, body.location.lat, body.location.lon,
                                                  actor=who.name)
    return await _after_action(request, incident_id, mid)


@api.post("/incidents/{incident_id}/escort", tags=["operations"],
          summary="Accompany the patrol officer: post their position as they move (officer's phone or dispatcher)")
async def escort_incident(incident_id: int, body: RedirectBody, request: Request,
                          who: Annotated[Principal, Depends(require(*INCIDENT_READERS))]) -> dict[str, Any]:
    svc = _svc(request)
    _visible_incident(svc, who, incident_id)
    mid = await svc.dispatcher.escort(incident_id, body.location.lat, body.location.lon, actor=who.name)
    return await _after_action(request, incident_id, mid)


@api.post("/incidents/{incident_id}/land", tags=["operations"], summary="Land now, where the drone is")
async def land_incident(incident_id: int, request: Request,
                        who: Annotated[Principal, Depends(require(*OPERATE))]) -> dict[str, Any]:
    mid = await _svc(request).dispatcher.land(incident_id, actor=who.name)
    return await _after_action(request, incident_id, mid)


@api.post("/incidents/{incident_id}/assign", tags=["operations"], summary="Assign a field officer")
async def assign_incident(incident_id: int, body: AssignBody, request: Request,
                          who: Annotated[Principal, Depends(require(*OPERATE))]) -> dict[str, Any]:
    _svc(request).dispatcher.assign(incident_id, body.officer, actor=who.name)
    return await _after_action(request, incident_id, None)


# -- drones --------------------------------------------------------------------------------------
def _drone_json(svc: Service, drone_id: str, lang: str) -> dict[str, Any]:
    cfg = svc.settings.drone(drone_id)
    ok, why = svc.dispatcher.availability(drone_id)
    run = svc.dispatcher.mission_of_drone(drone_id)
    return {
        "id": drone_id, "name": cfg.name, "base": cfg.base, "system_id": cfg.system_id,
        "available": ok, "unavailable_reason": None if why is None else t(why, lang), "unavailable_code": why,
        "mission_id": None if run is None else run.id, "incident_id": None if run is None else run.incident_id,
        "telemetry": telemetry_json(svc.gateway.latest(drone_id)),
    }


@api.get("/drones", tags=["drones"])
async def list_drones(request: Request, who: Annotated[Principal, Depends(require(*READ_ALL))]) -> dict[str, Any]:
    svc = _svc(request)
    lang = lang_of(request)
    return {"drones": [_drone_json(svc, d, lang) for d in svc.gateway.drone_ids()]}


@api.get("/drones/{drone_id}", tags=["drones"])
async def get_drone(drone_id: str, request: Request,
                    who: Annotated[Principal, Depends(require(*READ_ALL))]) -> dict[str, Any]:
    svc = _svc(request)
    if drone_id not in svc.gateway.drone_ids():
        raise ApiError(404, "drone_not_found", drone_id=drone_id)
    return _drone_json(svc, drone_id, lang_of(request))


# -- missions ------------------------------------------------------------------------------------
def _visible_mission(request: Request, who: Principal, mission_id: int) -> dict[str, Any]:
    svc = _svc(request)
    row = svc.store.mission(mission_id)
    if who.role is Role.OFFICER:
        inc = None if row is None else svc.store.incident(row["incident_id"])
        if inc is None or inc["assigned_officer"] is None or inc["assigned_officer"] != who.subject:
            raise ApiError(403, "incident_not_assigned",
                           incident_id="?" if row is None else row["incident_id"])
    if row is None:
        raise ApiError(404, "mission_not_found", mission_id=mission_id)
    return row


@api.get("/missions/{mission_id}", tags=["missions"])
async def get_mission(mission_id: int, request: Request,
                      who: Annotated[Principal, Depends(require(*INCIDENT_READERS))]) -> dict[str, Any]:
    svc = _svc(request)
    row = _visible_mission(request, who, mission_id)
    lang = lang_of(request)
    plan = row["plan"]
    msg, code = render_reason(row["reason"], lang)
    transitions = []
    for tr in svc.store.transitions(mission_id):
        m, c = render_reason(tr["reason"], lang)
        transitions.append({"from": tr["from_state"], "to": tr["to_state"], "reason": m, "reason_code": c,
                            "at": _iso(tr["at_us"])})
    return {
        "id": row["id"], "incident_id": row["incident_id"], "drone_id": row["drone_id"], "state": row["state"],
        "reason": msg, "reason_code": code, "held": bool(row["held"]),
        "target": {"lat": row["target_lat_deg"], "lon": row["target_lon_deg"]},
        "scene": {"lat": plan["scene_lat_deg"], "lon": plan["scene_lon_deg"], "alt_rel_m": plan["scene_alt_m"]},
        "eta_s": plan["eta_s"], "flight_time_s": plan["flight_time_s"], "battery_use_pct": plan["battery_use_pct"],
        "out_m": plan["out_m"], "back_m": plan["back_m"], "item_count": len(plan["items"]),
        "scene_seq": plan["scene_seq"], "return_seq": plan["return_seq"],
        "route_out": plan["route_out"], "route_back": plan["route_back"],
        "transitions": transitions, "created_at": _iso(row["created_us"]), "updated_at": _iso(row["updated_us"]),
    }


@api.get("/missions/{mission_id}/plan", tags=["missions"], summary="QGroundControl .plan of the mission")
async def get_mission_plan(mission_id: int, request: Request,
                           who: Annotated[Principal, Depends(require(*INCIDENT_READERS))]) -> JSONResponse:
    svc = _svc(request)
    row = _visible_mission(request, who, mission_id)
    base = svc.settings.base(svc.settings.drone(row["drone_id"]).base)
    doc = plan_to_qgc(Plan.from_json(row["plan"]), (base.lat_deg, base.lon_deg, base.alt_amsl_m))
    return JSONResponse(doc, headers={"Content-Disposition": f'attachment; filename="mission-{mission_id}.plan"'})


@api.get("/missions/{mission_id}/track", tags=["missions"], summary="GeoJSON of the flown track (1 Hz)")
async def get_mission_track(mission_id: int, request: Request,
                            who: Annotated[Principal, Depends(require(*INCIDENT_READERS))]) -> dict[str, Any]:
    svc = _svc(request)
    row = _visible_mission(request, who, mission_id)
    svc.recorder.flush()  # include the newest second
    pts = svc.store.track(mission_id)
    coords = [[p["lon_deg"], p["lat_deg"], p["alt_rel_m"] if p["alt_rel_m"] is not None else 0.0] for p in pts]
    return {
        "type": "FeatureCollection",
        "features": [{
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": coords},
            "properties": {"mission_id": mission_id, "drone_id": row["drone_id"], "points": len(coords),
                           "times_us": [p["time_us"] for p in pts],
                           "battery_pct": [p["battery_pct"] for p in pts],
                           "link": [p["link"] for p in pts]},
        }],
    }


# -- airspace ------------------------------------------------------------------------------------
@api.get("/airspace", tags=["airspace"])
async def get_airspace(request: Request, who: Annotated[Principal, Depends(require(*ANY_ROLE))]) -> dict[str, Any]:
    return _svc(request).airspace.to_geojson()  # type: ignore[no-any-return]


# -- probes --------------------------------------------------------------------------------------
def _health(request: Request) -> dict[str, Any]:
    return {"status": "ok"}


def _ready(request: Request) -> JSONResponse:
    svc = _svc(request)
    lang = lang_of(request)
    if not svc.started:
        return JSONResponse({"status": "starting", "message": t("not_ready", lang, detail="starting")}, 503)
    drones = {d: svc.gateway.latest(d).link.value for d in svc.gateway.drone_ids()}
    connected = sum(1 for v in drones.values() if v == LinkState.CONNECTED.value)
    try:
        svc.store.schema_version()
    except Exception as e:  # the database is what readiness is about
        return JSONResponse({"status": "error", "message": t("not_ready", lang, detail=str(e))}, 503)
    return JSONResponse({"status": "ready", "drones": drones, "connected": connected})


@probes.get("/healthz", tags=["probes"])
async def healthz(request: Request) -> dict[str, Any]:
    return _health(request)


@probes.get("/readyz", tags=["probes"])
async def readyz(request: Request) -> JSONResponse:
    return _ready(request)


@api.get("/healthz", tags=["probes"], include_in_schema=False)
async def api_healthz(request: Request) -> dict[str, Any]:
    return _health(request)


@api.get("/readyz", tags=["probes"], include_in_schema=False)
async def api_readyz(request: Request) -> JSONResponse:
    return _ready(request)


@probes.get("/metrics", tags=["probes"])
async def metrics(request: Request) -> Response:
    svc = _svc(request)
    return Response(generate_latest(svc.metrics.registry), media_type=CONTENT_TYPE_LATEST)
