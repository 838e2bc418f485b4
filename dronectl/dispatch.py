"""Dispatch: 110 reports -> incidents -> missions -> drones, and the mission state machine at run time.

* :meth:`Dispatcher.submit_report` commits the report (merging it into an open incident within the
  configured radius and time window) before anything else happens, then, when the auto-dispatch
  policy says so, picks a drone and creates the mission.
* Drone choice: among *available* drones (link connected, health and safety parameters confirmed,
  on the ground and disarmed, no active mission, battery above the launch minimum), the one with the
  lowest ETA whose plan is feasible with the battery reserve. If none is available but one could fly
  it when free, the incident is *queued* with the reason and dispatched as soon as a drone frees up;
  if no drone could ever fly it (outside every service area, no legal route, too far for the
  battery) the incident is *unreachable* with the reason.
* A background task flies each mission's launch sequence (upload, arm, start); after that, mission
  progress follows telemetry (in the air -> en_route, over the scene -> on_scene, on the way home ->
  returning, on the ground and disarmed -> landed). Every transition is persisted and published.
* A drone that comes down farther than :data:`HOME_RADIUS_M` from its base (a failsafe landing on
  a critical battery or a lost GPS, or the operator's "land now") has not come home: the mission
  *fails* with ``landed_away_from_home`` (where, how far, battery) and a :class:`LandedAway`
  event tells the operators where to recover it. The incident is not closed: when the drone came
  down before its time on scene was done, the incident goes back to the queue if it was dispatched
  automatically (another drone takes it) and waits for the operator otherwise; when the time on
  scene was done (it came down on the way home), or the operator asked for the landing, it waits
  for the operator's decision with that reason. Until it is back at its base (within
  :data:`HOME_RADIUS_M`), the drone is not available (``away_from_base``): every plan starts at
  the base.
* A drone that loses its link keeps its mission; link lost/restored events are published and
  progress resumes from the next connected snapshot.
* On start, open missions are reloaded from the store and re-attached to their drones.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dronectl.config import Category, DroneConfig, Settings
from dronectl.events import (
    EventBus,
    IncidentUpdated,
    LandedAway,
    LinkChanged,
    LowBattery,
    MissionStateChanged,
    ReportReceived,
    Subscription,
    TelemetryUpdated,
    now_us,
)
from dronectl.gateway import FlightMode, LinkState, Telemetry, VehicleError, VehicleGateway
from dronectl.metrics import Metrics
from dronectl.planning import ON_SCENE_RADIUS_M, Infeasible, Plan, Planner
from dronectl.states import ACTIVE, TERMINAL, MissionState, transition
from dronectl.store import Store, mask_nik, mask_phone
from missions.geodesy import destination, distance_m

__all__ = ["Dispatcher", "ReportIn", "ReportOutcome", "DispatchError", "IncidentStatus", "reason", "HOME_RADIUS_M"]

log = logging.getLogger(__name__)
S = MissionState

#: A drone on the ground farther than this from its base is not home (PX4's RTL lands within a
#: few metres of home; GPS and the configured base position may differ by a few metres more).
HOME_RADIUS_M = 30.0


class IncidentStatus:
    PENDING = "pending"  # waiting for an operator's dispatch
    QUEUED = "queued"  # feasible, but no drone is free: dispatched automatically when one is
    UNREACHABLE = "unreachable"  # no configured drone can fly it (reason says why)
    DISPATCHED = "dispatched"  # a mission is active
    CLOSED = "closed"  # a drone was on scene and landed back


def reason(code: str, **params: Any) -> str:
    """A stored reason: a catalogue code plus parameters (rendered per language by the API)."""
    return json.dumps({"code": code, "params": params}, sort_keys=True, default=str)


class DispatchError(Exception):
    """An operator action that cannot be done now. ``code``/``params`` render in the catalogue."""

    def __init__(self, code: str, status: int = 409, **params: Any) -> None:
        super().__init__(f"{code}: {params}")
        self.code = code
        self.status = status
        self.params = params


@dataclass(frozen=True, slots=True)
class ReportIn:
    """A validated 110 report, as the API hands it over."""

    category: Category
    priority: int
    lat_deg: float
    lon_deg: float
    channel: str
    address: str | None = None
    description: str | None = None
    caller_phone: str | None = None
    caller_nik: str | None = None
    external_id: str | None = None

    def digest(self) -> str:
        body = json.dumps(
            [self.category.value, self.priority, round(self.lat_deg, 7), round(self.lon_deg, 7), self.channel,
             self.address, self.description, self.caller_phone, self.caller_nik],
        )
        return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ReportOutcome:
    report_id: int
    incident_id: int
    merged: bool
    duplicate: bool  # the same external_id was seen before: this is the earlier answer
    status: str
    mission_id: int | None
    reason: str | None


@dataclass(slots=True)
class _Running:
    """A mission the dispatcher is following."""

    id: int
    incident_id: int
    drone_id: str
    state: MissionState
    plan: Plan
    held: bool = False
    airborne_seen: bool = False
    reached_scene: bool = False
    restored: bool = False
    low_battery_warned: bool = False
    land_requested: bool = False  # the operator asked for "land now"
    landed_away: bool = False
    returning_seen: bool = False  # came down on the way home (its time on scene was done)
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class Dispatcher:
    """Owns every incident's and mission's life cycle. Create, then ``await start()``."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        bus: EventBus,
        gateway: VehicleGateway,
        planner: Planner,
        metrics: Metrics | None = None,
        *,
        queue_poll_s: float = 1.0,
    ) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.gateway = gateway
        self.planner = planner
        self.metrics = metrics
        self.queue_poll_s = queue_poll_s
        self.running: dict[int, _Running] = {}  # mission id -> runtime
        self._by_drone: dict[str, int] = {}  # drone id -> active mission id
        self._link: dict[str, LinkState] = {}
        self._free: dict[str, bool] = {}
        self._sub: Subscription | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()  # serialises drone choice so two incidents never get one drone

    # -- life cycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        self._reload()
        self._warm_up()
        self._sub = self.bus.subscribe("dispatcher", maxsize=100_000,
                                       accept=lambda e: isinstance(e, TelemetryUpdated))
        self._tasks.append(asyncio.create_task(self._follow(), name="dispatcher-follow"))
        self._tasks.append(asyncio.create_task(self._queue_loop(), name="dispatcher-queue"))
        self._wake.set()

    def _warm_up(self) -> None:
        """Plan one throw-away mission per base, so the first real report does not pay the one-off
        set-up of projections, zone geometry and routing caches (~40 ms)."""
        for b in self.settings.bases:
            d = next((d for d in self.settings.drones if d.base == b.id), None)
            if d is None:
                continue
            lat, lon = destination(b.lat_deg, b.lon_deg, 0.0, 500.0)
            try:
                self.planner.plan(d, (float(lat), float(lon)), Category.OTHER, battery_pct=100.0)
            except Exception:  # only a warm-up: a real report reports real problems
                log.debug("warm-up plan from %s failed", b.id, exc_info=True)

    async def stop(self) -> None:
        tasks = self._tasks + [r.task for r in self.running.values() if r.task is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        if self._sub is not None:
            self._sub.close()

    def _reload(self) -> None:
        """Re-attach to missions that were open when the controller stopped."""
        for row in self.store.missions_in_states([s.value for s in ACTIVE]):
            state = MissionState(row["state"])
            plan = Plan.from_json(row["plan"])
            if state in (S.PLANNED, S.UPLOADING):
                # Never launched: nothing is flying. Fail it and let the queue re-dispatch the incident.
                self._persist_transition(row["id"], row["incident_id"], row["drone_id"], state, S.FAILED,
                                         reason("restart_before_launch"))
                self._set_incident(row["incident_id"], IncidentStatus.QUEUED, reason("restart_before_launch"),
                                   mission_id=None)
                continue
            run = _Running(id=row["id"], incident_id=row["incident_id"], drone_id=row["drone_id"], state=state,
                           plan=plan, held=bool(row["held"]), restored=True,
                           airborne_seen=state not in (S.LAUNCHING,),
                           reached_scene=state in (S.ON_SCENE, S.RETURNING))
            self.running[run.id] = run
            self._by_drone[run.drone_id] = run.id
            self.store.audit("mission_reattached", {"mission_id": run.id, "drone_id": run.drone_id,
                                                    "state": state.value})

    # -- queries -------------------------------------------------------------------------------
    def mission_of_drone(self, drone_id: str) -> _Running | None:
        mid = self._by_drone.get(drone_id)
        return None if mid is None else self.running.get(mid)

    def availability(self, drone_id: str) -> tuple[bool, str | None]:
        """Whether a drone can take a new mission now, and if not, why (a reason code)."""
        t = self.gateway.latest(drone_id)
        if drone_id in self._by_drone:
            return False, "busy"
        if t.link is not LinkState.CONNECTED:
            return False, "link_" + t.link.value
        if not t.params_ok:
            return False, "params_unconfirmed"
        if not t.health_ok:
            return False, "health"
        if t.in_air or t.armed:
            return False, "airborne"
        if self._from_base_m(drone_id, t) > HOME_RADIUS_M:
            return False, "away_from_base"  # landed elsewhere: plans start at the base
        if t.battery_pct is None:
            return False, "battery_unknown"
        if t.battery_pct < self.settings.flight.min_launch_battery_pct:
            return False, "battery_low"
        return True, None

    # -- intake --------------------------------------------------------------------------------
    async def submit_report(self, r: ReportIn, *, actor: str | None = None) -> ReportOutcome:
        """Record a report (committed before this returns) and dispatch when the policy says so."""
        t0 = time.perf_counter()
        digest = r.digest()
        if r.external_id is not None:
            prev = self.store.report_by_external_id(r.external_id)
            if prev is not None:
                if prev["payload_sha256"] != digest:
                    raise DispatchError("external_id_conflict", status=409, external_id=r.external_id)
                inc = self.store.incident(prev["incident_id"])
                assert inc is not None
                return ReportOutcome(prev["id"], inc["id"], bool(prev["merged"]), True, inc["status"],
                                     inc["mission_id"], inc["reason"])
        pol = self.settings.dispatch
        auto = pol.is_auto(r.category, r.priority)
        # The one fsync'd commit on the way to a take-off: the report is on disk before anything
        # else happens (and before the API answers). Later writes are crash-safe but not fsync'd.
        with self.store.tx(durable=True) as db:
            since = now_us() - int(pol.merge_window_s * 1e6)
            target = None
            for inc in db.execute(
                "SELECT * FROM incidents WHERE status != 'closed' AND created_us >= ? ORDER BY id", (since,)
            ).fetchall():
                if distance_m(inc["lat_deg"], inc["lon_deg"], r.lat_deg, r.lon_deg) <= pol.merge_radius_m:
                    target = dict(inc)
                    break
            if target is None:
                status = IncidentStatus.QUEUED if auto else IncidentStatus.PENDING
                incident_id = self.store.insert_incident(
                    db, category=r.category.value, priority=r.priority, lat_deg=r.lat_deg, lon_deg=r.lon_deg,
                    address=r.address, description=r.description, status=status,
                    reason=None if auto else reason("awaiting_operator"), auto_dispatch=int(auto),
                )
                merged = False
            else:
                incident_id = target["id"]
                merged = True
                db.execute(
                    "UPDATE incidents SET report_count = report_count + 1, priority = MIN(priority, ?),"
                    " updated_us = ? WHERE id = ?",
                    (r.priority, now_us(), incident_id),
                )
            report_id = self.store.insert_report(
                db, external_id=r.external_id, incident_id=incident_id, category=r.category.value,
                priority=r.priority, lat_deg=r.lat_deg, lon_deg=r.lon_deg, address=r.address,
                description=r.description, caller_phone_masked=mask_phone(r.caller_phone),
                caller_nik_masked=mask_nik(r.caller_nik), channel=r.channel, payload_sha256=digest,
                merged=int(merged),
            )
            self.store.audit("report", {"report_id": report_id, "incident_id": incident_id, "merged": merged},
                             actor=actor, db=db)
        if self.metrics:
            self.metrics.reports.labels(merged=str(merged).lower()).inc()
        self.bus.publish(ReportReceived(report_id=report_id, incident=incident_id, merged=merged))
        inc = self.store.incident(incident_id)
        assert inc is not None
        try:
            if not merged:
                self.bus.publish(IncidentUpdated(incident=incident_id, status=inc["status"], reason=inc["reason"]))
                if auto:
                    await self._try_dispatch(incident_id, quiet=True)
                    if self.metrics:
                        self.metrics.dispatch_s.observe(time.perf_counter() - t0)
            elif inc["status"] == IncidentStatus.PENDING and pol.is_auto(Category(inc["category"]), inc["priority"]):
                # A more urgent duplicate can turn a waiting incident into an automatic one.
                self.store.update_incident(incident_id, auto_dispatch=1)
                await self._try_dispatch(incident_id, quiet=True)
        except Exception as e:
            # The report is on disk whatever happens here; the operator sees why nothing launched.
            log.exception("dispatch of incident %s failed", incident_id)
            self._set_incident(incident_id, IncidentStatus.PENDING, reason("internal_error", detail=repr(e)))
        inc = self.store.incident(incident_id)
        assert inc is not None
        return ReportOutcome(report_id, incident_id, merged, False, inc["status"], inc["mission_id"], inc["reason"])

    # -- drone choice --------------------------------------------------------------------------
    async def dispatch(self, incident_id: int, *, drone_id: str | None = None, actor: str | None = None) -> int:
        """Operator dispatch; returns the mission id or raises :class:`DispatchError`."""
        inc = self.store.incident(incident_id)
        if inc is None:
            raise DispatchError("incident_not_found", status=404, incident_id=incident_id)
        if inc["status"] == IncidentStatus.DISPATCHED:
            raise DispatchError("already_dispatched", incident_id=incident_id, mission_id=inc["mission_id"])
        if drone_id is not None and drone_id not in self.gateway.drone_ids():
            raise DispatchError("drone_not_found", status=404, drone_id=drone_id)
        self.store.audit("dispatch_requested", {"incident_id": incident_id, "drone_id": drone_id}, actor=actor)
        mid = await self._try_dispatch(incident_id, only=drone_id, quiet=False)
        assert mid is not None
        return mid

    async def _try_dispatch(self, incident_id: int, *, only: str | None = None, quiet: bool) -> int | None:
        """Plan for every drone, launch the best. ``quiet``: record the reason instead of raising."""
        async with self._lock:
            inc = self.store.incident(incident_id)
            assert inc is not None
            if inc["status"] == IncidentStatus.DISPATCHED:
                return inc["mission_id"]
            target = (inc["lat_deg"], inc["lon_deg"])
            cat = Category(inc["category"])
            feasible: list[Plan] = []
            could_if_free: list[str] = []
            why: dict[str, dict[str, Any]] = {}
            scene = self.planner.scene_point(*target)
            candidates = [d for d in self.settings.drones if only is None or d.id == only]
            avail = {d.id: self.availability(d.id) for d in candidates}

            def bound(d: DroneConfig) -> float:
                # A route is never shorter than the straight line: a lower bound of the drone's ETA.
                b = self.settings.base(d.base)
                return float(distance_m(b.lat_deg, b.lon_deg, *scene)) / d.cruise_speed_m_s

            def try_plan(d: DroneConfig, battery: float) -> Plan | None:
                try:
                    return self.planner.plan(d, target, cat, battery_pct=battery, scene=scene)
                except Infeasible as e:
                    why[d.id] = {"code": e.code, **e.params}
                    return None

            # Available drones in order of their ETA bound; stop once no later one can beat the best.
            # A twin of a drone already planned feasibly (same base and performance) has the same ETA
            # and cannot beat it either.
            planned_ok: set[tuple[Any, ...]] = set()
            for d in sorted((d for d in candidates if avail[d.id][0]), key=bound):
                if feasible and bound(d) >= min(p.eta_s for p in feasible):
                    break
                twin = (d.base, d.cruise_speed_m_s, d.climb_rate_m_s, d.endurance_min, d.energy)
                if twin in planned_ok:
                    continue
                t = self.gateway.latest(d.id)
                plan = try_plan(d, t.battery_pct if t.battery_pct is not None else 0.0)
                if plan is not None:
                    feasible.append(plan)
                    planned_ok.add(twin)
            if not feasible:
                # Nobody can go now: would a busy drone do when free (queue) or nobody ever (unreachable)?
                for d in candidates:
                    ok_now, busy = avail[d.id]
                    if ok_now and why.get(d.id, {}).get("code") != "battery":
                        continue  # available but cannot fly it even charged: its reason stands
                    low = dict(why[d.id]) if ok_now else None
                    if try_plan(d, 100.0) is not None:
                        could_if_free.append(d.id)
                        why[d.id] = low if low is not None else {"code": busy or "unavailable"}
            if feasible:
                best = min(feasible, key=lambda p: p.eta_s)
                return self._create_mission(incident_id, best)
            if could_if_free:
                status, why_s = IncidentStatus.QUEUED, reason("no_drone_available", drones=why)
            else:
                if not self.planner.in_any_service_area(*target):
                    name, dist, radius = self.planner.nearest_base(*target)
                    why_s = reason("outside_service_area", base=name, dist_km=round(dist / 1000, 1),
                                   radius_km=round(radius / 1000, 1))
                else:
                    why_s = reason("no_drone_can_reach", drones=why)
                status = IncidentStatus.UNREACHABLE
            if only is not None and not quiet:
                # The operator asked for one drone: tell them why not, change nothing.
                raise DispatchError("drone_cannot_fly", drone_id=only, detail=why.get(only, {}))
            if inc["status"] != status or inc["reason"] != why_s:
                self._set_incident(incident_id, status, why_s)
            if not quiet:
                raise DispatchError("no_drone", status=409, reason=json.loads(why_s))
            return None

    def _create_mission(self, incident_id: int, plan: Plan) -> int:
        with self.store.tx() as db:
            mid = self.store.insert_mission(
                db, incident_id=incident_id, drone_id=plan.drone_id, state=S.PLANNED.value,
                target_lat_deg=plan.target_lat_deg, target_lon_deg=plan.target_lon_deg, plan=plan.to_json(),
            )
            self.store.update_incident(incident_id, db=db, status=IncidentStatus.DISPATCHED, reason=None,
                                       mission_id=mid)
        run = _Running(id=mid, incident_id=incident_id, drone_id=plan.drone_id, state=S.PLANNED, plan=plan)
        self.running[mid] = run
        self._by_drone[plan.drone_id] = mid
        self.bus.publish(MissionStateChanged(mission_id=mid, incident=incident_id, drone=plan.drone_id,
                                             from_state=None, to_state=S.PLANNED.value))
        self.bus.publish(IncidentUpdated(incident=incident_id, status=IncidentStatus.DISPATCHED, mission_id=mid))
        if self.metrics:
            self.metrics.transitions.labels(to_state=S.PLANNED.value).inc()
        run.task = asyncio.create_task(self._launch(run), name=f"launch-{mid}")
        return mid

    # -- transitions ---------------------------------------------------------------------------
    def _persist_transition(self, mid: int, incident_id: int, drone_id: str, cur: MissionState,
                            to: MissionState, why: str | None) -> None:
        transition(cur, to)
        self.store.record_transition(mid, cur.value, to.value, why)
        if self.metrics:
            self.metrics.transitions.labels(to_state=to.value).inc()
        self.bus.publish(MissionStateChanged(mission_id=mid, incident=incident_id, drone=drone_id,
                                             from_state=cur.value, to_state=to.value, reason=why))

    def _move(self, run: _Running, to: MissionState, why: str | None = None) -> None:
        """The one way a running mission changes state: checked, persisted, published."""
        self._persist_transition(run.id, run.incident_id, run.drone_id, run.state, to, why)
        run.state = to
        if to is S.ON_SCENE:
            run.reached_scene = True
        if to in TERMINAL:
            self._finish(run, to, why)

    def _finish(self, run: _Running, to: MissionState, why: str | None) -> None:
        self.running.pop(run.id, None)
        if self._by_drone.get(run.drone_id) == run.id:
            del self._by_drone[run.drone_id]
        if to is S.LANDED and run.reached_scene:
            self._set_incident(run.incident_id, IncidentStatus.CLOSED, None)
        elif run.landed_away:
            # Not closed. Came down before its time on scene was done: another drone is needed,
            # dispatched as the incident was (queue if automatic, else the operator decides).
            inc = self.store.incident(run.incident_id)
            served = run.reached_scene and run.returning_seen
            auto = inc is not None and bool(inc["auto_dispatch"])
            again = not served and not run.land_requested and auto
            self._set_incident(run.incident_id, IncidentStatus.QUEUED if again else IncidentStatus.PENDING, why)
        elif to is S.LANDED:
            self._set_incident(run.incident_id, IncidentStatus.PENDING, reason("returned_before_scene"))
        elif to is S.ABORTED:
            self._set_incident(run.incident_id, IncidentStatus.PENDING, why)
        else:
            self._set_incident(run.incident_id, IncidentStatus.PENDING, why)
        self._wake.set()

    def _set_incident(self, incident_id: int, status: str, why: str | None, **extra: Any) -> None:
        self.store.update_incident(incident_id, status=status, reason=why, **extra)
        inc = self.store.incident(incident_id)
        self.bus.publish(IncidentUpdated(incident=incident_id, status=status, reason=why,
                                         mission_id=None if inc is None else inc["mission_id"]))

    # -- launch sequence -----------------------------------------------------------------------
    async def _launch(self, run: _Running) -> None:
        gw = self.gateway
        try:
            self._move(run, S.UPLOADING)
            await gw.upload_mission(run.drone_id, run.plan.items)
            if run.state is not S.UPLOADING:
                return  # aborted meanwhile
            self._move(run, S.LAUNCHING)
            await gw.arm(run.drone_id)
            if run.state is not S.LAUNCHING:
                return
            await gw.start_mission(run.drone_id)
            # en_route is decided by telemetry (in order), not by reading ahead here.
        except VehicleError as e:
            log.warning("mission %s: %s", run.id, e)
            if run.state in ACTIVE:
                self._move(run, S.FAILED, reason("vehicle_error", action=e.action, detail=e.reason))
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a bug must not leave a mission hanging in "uploading"
            log.exception("mission %s launch crashed", run.id)
            if run.state in ACTIVE:
                self._move(run, S.FAILED, reason("internal_error", detail=repr(e)))

    # -- following telemetry -------------------------------------------------------------------
    async def _follow(self) -> None:
        assert self._sub is not None
        async for ev in self._sub:
            assert isinstance(ev, TelemetryUpdated)
            try:
                self.on_telemetry(ev.telemetry)
            except Exception:
                log.exception("dispatcher: telemetry handling failed for %s", ev.telemetry.drone_id)

    def on_telemetry(self, t: Telemetry) -> None:
        """Advance the drone's mission from one snapshot (also publishes link changes)."""
        prev = self._link.get(t.drone_id)
        if prev != t.link:
            self._link[t.drone_id] = t.link
            run = self.mission_of_drone(t.drone_id)
            if prev is not None or t.link is LinkState.CONNECTED:
                self.bus.publish(LinkChanged(drone=t.drone_id, link=t.link,
                                             mission_id=None if run is None else run.id,
                                             incident=None if run is None else run.incident_id))
                self.store.audit("link", {"drone_id": t.drone_id, "link": t.link.value,
                                          "mission_id": None if run is None else run.id})
            if self.metrics:
                self.metrics.link_up.labels(drone=t.drone_id).set(1 if t.link is LinkState.CONNECTED else 0)
            if t.link is LinkState.CONNECTED:
                self._wake.set()
        run = self.mission_of_drone(t.drone_id)
        free = self.availability(t.drone_id)[0]
        if free and not self._free.get(t.drone_id, False):
            self._wake.set()  # a drone just became available: try the queue
        self._free[t.drone_id] = free
        if run is None:
            return
        if t.link is not LinkState.CONNECTED:
            return  # a stale snapshot decides nothing; the record stays as it is
        if (t.battery_pct is not None and t.battery_pct < self.settings.flight.low_battery_pct
                and not run.low_battery_warned):
            run.low_battery_warned = True
            self.bus.publish(LowBattery(drone=t.drone_id, battery_pct=t.battery_pct, mission_id=run.id,
                                        incident=run.incident_id))
        self._advance(run, t)

    def _advance(self, run: _Running, t: Telemetry) -> None:
        p = run.plan
        if run.state is S.LAUNCHING:
            # in_air comes from EXTENDED_SYS_STATE (1 Hz on PX4); the 10 Hz altitude tells it sooner.
            if t.in_air or (t.armed and t.alt_rel_m is not None and t.alt_rel_m > 1.0):
                run.airborne_seen = True
                self._move(run, S.EN_ROUTE)
            elif run.restored and not t.armed:
                self._move(run, S.FAILED, reason("restart_before_takeoff"))
                return
            else:
                return
        if run.state not in (S.EN_ROUTE, S.ON_SCENE, S.RETURNING):
            return
        if t.in_air:
            run.airborne_seen = True
        if run.airborne_seen and not t.in_air and not t.armed:
            away_m = self._from_base_m(run.drone_id, t)
            if away_m > HOME_RADIUS_M:
                self._landed_away(run, t, away_m)
            else:
                self._move(run, S.LANDED)
            return
        if t.flight_mode is FlightMode.RETURN_TO_LAUNCH and run.state is not S.RETURNING:
            # Mission RTL item at the end, or a failsafe / operator RTL before it.
            if run.state is S.EN_ROUTE and t.mission_current >= p.return_seq:
                self._move(run, S.ON_SCENE)
            self._move(run, S.RETURNING, None if run.reached_scene else reason("vehicle_rtl"))
            return
        if t.flight_mode is not FlightMode.MISSION or t.mission_total != len(p.items):
            return
        if run.state is S.EN_ROUTE:
            over_scene = (
                t.mission_current > p.scene_seq
                or (t.mission_current == p.scene_seq and t.lat_deg is not None and t.lon_deg is not None
                    and distance_m(t.lat_deg, t.lon_deg, p.scene_lat_deg, p.scene_lon_deg) <= ON_SCENE_RADIUS_M)
            )
            if over_scene:
                self._move(run, S.ON_SCENE)
        if run.state is S.ON_SCENE and t.mission_current >= p.return_seq:
            self._move(run, S.RETURNING)

    def _from_base_m(self, drone_id: str, t: Telemetry) -> float:
        """Horizontal distance of the drone from its configured base (inf when its position is unknown)."""
        if t.lat_deg is None or t.lon_deg is None:
            return float("inf")
        b = self.settings.base(self.settings.drone(drone_id).base)
        return float(distance_m(b.lat_deg, b.lon_deg, t.lat_deg, t.lon_deg))

    def _landed_away(self, run: _Running, t: Telemetry, away_m: float) -> None:
        """The drone came down, but not at home: fail the mission, tell where it is."""
        known = t.lat_deg is not None and t.lon_deg is not None
        why = reason("landed_away_from_home", dist_m=round(away_m) if known else None,
                     lat_deg=None if t.lat_deg is None else round(t.lat_deg, 6),
                     lon_deg=None if t.lon_deg is None else round(t.lon_deg, 6),
                     battery_pct=None if t.battery_pct is None else round(t.battery_pct, 1))
        run.landed_away = True
        run.returning_seen = run.state is S.RETURNING
        log.warning("mission %s: %s landed %s m from its base", run.id, run.drone_id,
                    round(away_m) if known else "?")
        self.store.audit("landed_away_from_home", {"mission_id": run.id, "drone_id": run.drone_id,
                                                   "lat_deg": t.lat_deg, "lon_deg": t.lon_deg,
                                                   "dist_m": away_m if known else None,
                                                   "battery_pct": t.battery_pct})
        self.bus.publish(LandedAway(drone=run.drone_id, mission_id=run.id, incident=run.incident_id,
                                    lat_deg=t.lat_deg, lon_deg=t.lon_deg,
                                    dist_from_base_m=round(away_m, 1) if known else None,
                                    battery_pct=t.battery_pct, state=run.state.value))
        self._move(run, S.FAILED, why)

    # -- queue ---------------------------------------------------------------------------------
    async def _queue_loop(self) -> None:
        while True:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.queue_poll_s):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.drain_queue()
            except Exception:
                log.exception("dispatcher: queue pass failed")

    async def drain_queue(self) -> None:
        """Try every queued incident, most urgent first."""
        queued = self.store.incidents_with_status(IncidentStatus.QUEUED)
        if self.metrics:
            self.metrics.queued.set(len(queued))
        for inc in queued:
            if not any(self.availability(d)[0] for d in self.gateway.drone_ids()):
                return
            await self._try_dispatch(inc["id"], quiet=True)

    # -- operator actions ----------------------------------------------------------------------
    def _active_run(self, incident_id: int) -> _Running:
        inc = self.store.incident(incident_id)
        if inc is None:
            raise DispatchError("incident_not_found", status=404, incident_id=incident_id)
        mid = inc["mission_id"]
        run = self.running.get(mid) if mid is not None else None
        if run is None:
            raise DispatchError("no_active_mission", incident_id=incident_id)
        return run

    async def _command(self, run: _Running, action: str, coro: Any) -> None:
        try:
            await coro
        except VehicleError as e:
            self.store.audit("command_failed", {"mission_id": run.id, "action": action, "reason": e.reason})
            raise DispatchError("vehicle_refused", status=502, action=action, detail=e.reason) from None

    async def abort(self, incident_id: int, *, actor: str | None = None) -> int:
        """Abort the incident's mission: the drone returns to launch. Returns the mission id."""
        run = self._active_run(incident_id)
        self.store.audit("abort", {"mission_id": run.id}, actor=actor)
        if run.task is not None and not run.task.done():
            # Stop the launch sequence first, so that a start command still in flight cannot land
            # after the RTL below and put the drone back on its mission.
            run.task.cancel()
            await asyncio.gather(run.task, return_exceptions=True)
        t = self.gateway.latest(run.drone_id)
        if t.in_air or t.armed or run.state in (S.LAUNCHING, S.EN_ROUTE, S.ON_SCENE, S.RETURNING):
            await self._command(run, "return_to_launch", self.gateway.return_to_launch(run.drone_id))
        if run.state in ACTIVE:
            self._move(run, S.ABORTED, reason("aborted_by_operator", actor=actor))
        return run.id

    async def hold(self, incident_id: int, *, actor: str | None = None) -> int:
        run = self._active_run(incident_id)
        if run.state not in (S.EN_ROUTE, S.ON_SCENE, S.RETURNING):
            raise DispatchError("not_in_flight", state=run.state.value)
        await self._command(run, "hold", self.gateway.hold(run.drone_id))
        run.held = True
        self.store.update_mission(run.id, held=1)
        self.store.audit("hold", {"mission_id": run.id}, actor=actor)
        return run.id

    async def resume(self, incident_id: int, *, actor: str | None = None) -> int:
        run = self._active_run(incident_id)
        if run.state not in (S.EN_ROUTE, S.ON_SCENE, S.RETURNING):
            raise DispatchError("not_in_flight", state=run.state.value)
        await self._command(run, "start_mission", self.gateway.start_mission(run.drone_id))
        run.held = False
        self.store.update_mission(run.id, held=0)
        self.store.audit("resume", {"mission_id": run.id}, actor=actor)
        return run.id

    async def land(self, incident_id: int, *, actor: str | None = None) -> int:
        run = self._active_run(incident_id)
        if run.state not in (S.LAUNCHING, S.EN_ROUTE, S.ON_SCENE, S.RETURNING):
            raise DispatchError("not_in_flight", state=run.state.value)
        await self._command(run, "land", self.gateway.land(run.drone_id))
        run.land_requested = True
        self.store.audit("land", {"mission_id": run.id}, actor=actor)
        return run.id

    async def redirect(self, incident_id: int, lat_deg: float, lon_deg: float, *, actor: str | None = None) -> int:
        """Send the drone to a new point: re-planned from where it is, around the zones, and home."""
        run = self._active_run(incident_id)
        if run.state not in (S.EN_ROUTE, S.ON_SCENE, S.RETURNING):
            raise DispatchError("not_in_flight", state=run.state.value)
        t = self.gateway.latest(run.drone_id)
        if t.lat_deg is None or t.lon_deg is None or t.link is not LinkState.CONNECTED:
            raise DispatchError("no_position", drone_id=run.drone_id)
        inc = self.store.incident(incident_id)
        assert inc is not None
        try:
            plan = self.planner.plan(self.settings.drone(run.drone_id), (lat_deg, lon_deg), Category(inc["category"]),
                                     battery_pct=t.battery_pct if t.battery_pct is not None else 0.0,
                                     start=(t.lat_deg, t.lon_deg), in_air=True, start_alt_m=t.alt_rel_m)
        except Infeasible as e:
            raise DispatchError("redirect_infeasible", reason={"code": e.code, **e.params}) from None
        await self._command(run, "upload_mission", self.gateway.upload_mission(run.drone_id, plan.items))
        await self._command(run, "start_mission", self.gateway.start_mission(run.drone_id))
        run.plan = plan
        run.held = False
        self.store.update_mission(run.id, plan=plan.to_json(), target_lat_deg=lat_deg, target_lon_deg=lon_deg,
                                  held=0)
        self.store.audit("redirect", {"mission_id": run.id, "lat_deg": lat_deg, "lon_deg": lon_deg}, actor=actor)
        if run.state is not S.EN_ROUTE:
            self._move(run, S.EN_ROUTE, reason("redirected", lat_deg=lat_deg, lon_deg=lon_deg))
        return run.id

    async def escort(self, incident_id: int, lat_deg: float, lon_deg: float, *, actor: str | None = None) -> int:
        """Accompany the patrol officer: follow their latest position (sent again as they move).

        Only once on scene. The point followed is the officer's position, or the nearest flyable
        point when they are inside a zone; it must be reachable in a straight legal line from where
        the drone is (follow-target flies straight), else the request is refused with the reason.
        ``resume`` goes back to the planned on-scene hold.
        """
        run = self._active_run(incident_id)
        if run.state is not S.ON_SCENE:
            raise DispatchError("not_on_scene", state=run.state.value)
        t = self.gateway.latest(run.drone_id)
        if t.lat_deg is None or t.lon_deg is None or t.link is not LinkState.CONNECTED:
            raise DispatchError("no_position", drone_id=run.drone_id)
        lat, lon = self.planner.scene_point(lat_deg, lon_deg)
        if not self.planner.straight_is_legal((t.lat_deg, t.lon_deg), (lat, lon)):
            raise DispatchError("escort_blocked", lat_deg=round(lat_deg, 6), lon_deg=round(lon_deg, 6))
        base = self.settings.base(self.settings.drone(run.drone_id).base)
        await self._command(run, "follow_target",
                            self.gateway.follow_target(run.drone_id, lat, lon, base.alt_amsl_m))
        self.store.audit("escort", {"mission_id": run.id, "lat_deg": lat_deg, "lon_deg": lon_deg}, actor=actor)
        return run.id

    def assign(self, incident_id: int, officer: str | None, *, actor: str | None = None) -> None:
        if self.store.incident(incident_id) is None:
            raise DispatchError("incident_not_found", status=404, incident_id=incident_id)
        self.store.update_incident(incident_id, assigned_officer=officer)
        self.store.audit("assign", {"incident_id": incident_id, "officer": officer}, actor=actor)

    def drones_state(self) -> Iterable[tuple[str, Telemetry, bool, str | None, int | None]]:
        for d in self.gateway.drone_ids():
            ok, why = self.availability(d)
            yield d, self.gateway.latest(d), ok, why, self._by_drone.get(d)

