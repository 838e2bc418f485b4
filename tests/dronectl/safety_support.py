"""Helpers for the safety-invariant tests: what an uploaded mission really flies, how close it
comes to each zone, and what sim's battery model says it costs.

* :func:`mission_path` turns a plan's MAVLink items into the 3-D polyline PX4 flies: from the
  ground at the start, the take-off climb, every waypoint in order, then RTL (climb to
  ``RTL_RETURN_ALT`` if lower, fly to home, land).
* :func:`leg_clearances` measures, in a local metric frame independent of the router's, every leg
  against every active zone that forbids an altitude the leg flies at.
* :func:`fly_in_sim_model` flies a plan's items in ``sim``'s pure vehicle model (no sockets, no
  MAVLink: the same model the simulator runs) and reports what the battery really lost.
* :func:`near_limit_target` searches for an incident whose plan lands just above the reserve.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import LineString, Point

from dronectl.config import Category, Settings
from dronectl.planning import Infeasible, Plan, Planner
from missions.airspace import Airspace
from missions.geodesy import LocalFrame, destination, distance_m
from missions.items import Cmd
from sim.items import MISSION, Item
from sim.params import Params
from sim.vehicle import Home, Vehicle

__all__ = ["Leg", "mission_path", "leg_clearances", "SimFlight", "fly_in_sim_model", "near_limit_target"]

Point3 = tuple[float, float, float]

#: Commands a dispatcher plan may contain (anything else would need its own path model here).
KNOWN = {Cmd.NAV_TAKEOFF, Cmd.NAV_WAYPOINT, Cmd.DO_CHANGE_SPEED, Cmd.NAV_RETURN_TO_LAUNCH}


@dataclass(frozen=True)
class Leg:
    """One straight leg of the flown path and its clearance from the nearest relevant zone."""

    index: int
    start: Point3
    end: Point3
    clearance_m: float
    zone: str | None


def mission_path(plan: Plan, settings: Settings, *, start: Point3 | None = None) -> list[Point3]:
    """The 3-D polyline (lat, lon, alt above home) PX4 flies for ``plan``'s items.

    ``start`` is where the drone is (default: on the ground at its base).
    """
    base = settings.base(settings.drone(plan.drone_id).base)
    home = (base.lat_deg, base.lon_deg)
    here: Point3 = start if start is not None else (home[0], home[1], 0.0)
    pts: list[Point3] = [here]
    for it in plan.items:
        assert it.command in KNOWN, f"item {it.seq}: command {it.command} not modelled"
        if it.command == Cmd.NAV_TAKEOFF:
            # PX4 climbs vertically where it stands: the item's position must be that place.
            assert distance_m(here[0], here[1], it.x / 1e7, it.y / 1e7) < 1.0, "take-off away from the start"
            pts.append((here[0], here[1], float(it.z)))
        elif it.command == Cmd.NAV_WAYPOINT:
            pts.append((it.x / 1e7, it.y / 1e7, float(it.z)))
        elif it.command == Cmd.NAV_RETURN_TO_LAUNCH:
            last = pts[-1]
            alt = max(last[2], settings.flight.rtl_return_alt_m)
            pts += [(last[0], last[1], alt), (home[0], home[1], alt), (home[0], home[1], 0.0)]
    assert plan.items[-1].command == Cmd.NAV_RETURN_TO_LAUNCH, "a plan ends with RTL"
    return pts


def leg_clearances(path: Sequence[Point3], airspace: Airspace) -> list[Leg]:
    """Every leg of ``path`` with its horizontal distance (m) to the nearest active zone that
    forbids an altitude between the leg's end altitudes (inf when no zone applies)."""
    zones = airspace.active_zones()
    frame = LocalFrame.for_points([p[0] for p in path], [p[1] for p in path])

    def to_xy(coords: np.ndarray) -> np.ndarray:
        x, y = frame.to_xy(coords[:, 1], coords[:, 0])  # geometry is (lon, lat)
        return np.column_stack([x, y])

    projected = [(z, shapely.transform(z.geometry, to_xy)) for z in zones]
    legs = []
    for i, (a, b) in enumerate(zip(path, path[1:], strict=False)):
        ax, ay = frame.to_xy(a[0], a[1])
        bx, by = frame.to_xy(b[0], b[1])
        geom = Point(ax, ay) if math.hypot(bx - ax, by - ay) < 1e-6 else LineString([(ax, ay), (bx, by)])
        best, name = math.inf, None
        for z, zg in projected:
            if not z.applies_between(min(a[2], b[2]), max(a[2], b[2])):
                continue
            d = float(geom.distance(zg))
            if d < best:
                best, name = d, z.name
        legs.append(Leg(i, a, b, best, name))
    return legs


@dataclass(frozen=True)
class SimFlight:
    used_pct: float
    landed_pct: float
    time_s: float
    from_home_m: float
    max_alt_rel_m: float


def _sim_items(plan: Plan) -> list[Item]:
    return [
        Item(seq=i.seq, frame=int(i.frame), command=int(i.command), param1=i.param1, param2=i.param2,
             param3=i.param3, param4=i.param4, x=i.x, y=i.y, z=i.z, autocontinue=int(i.autocontinue))
        for i in plan.items
    ]


def fly_in_sim_model(plan: Plan, settings: Settings, *, battery_pct: float = 100.0, dt_s: float = 0.05,
                     max_s: float = 4 * 3600.0) -> SimFlight:
    """Fly ``plan`` from the ground at its base in sim's vehicle model until it lands and disarms.

    The vehicle has PX4's defaults plus what the controller sets on every connection that matters
    here (``RTL_RETURN_ALT``).
    """
    base = settings.base(settings.drone(plan.drone_id).base)
    params = Params.px4_defaults()
    params.set("RTL_RETURN_ALT", settings.flight.rtl_return_alt_m)
    v = Vehicle(Home(base.lat_deg, base.lon_deg, base.alt_amsl_m), params=params)
    for _ in range(int(12.0 / dt_s)):  # estimator convergence
        v.step(dt_s)
    v.set_battery_pct(battery_pct)
    assert v.set_items(MISSION, _sim_items(plan)).name == "ACCEPTED"
    assert v.arm().ok, v.drain_events()
    assert v.start_mission().ok, v.drain_events()
    start = v.state.battery_pct
    t, flew, top = 0.0, False, 0.0
    while True:
        v.step(dt_s)
        t += dt_s
        st = v.state
        top = max(top, st.alt_rel_m)
        flew = flew or st.alt_rel_m > 1.0
        if flew and not st.armed:
            break
        assert t < max_s, "never landed"
    st = v.state
    return SimFlight(start - st.battery_pct, st.battery_pct, t,
                     float(distance_m(st.lat_deg, st.lon_deg, base.lat_deg, base.lon_deg)), top)


def near_limit_target(
    planner: Planner,
    drone_id: str,
    category: Category,
    *,
    battery_pct: float,
    bearing_deg: float,
    left_above_reserve_pct: float,
    lo_m: float = 100.0,
    hi_m: float = 15_000.0,
) -> tuple[tuple[float, float], Plan | None]:
    """The point along ``bearing_deg`` from the drone's base whose plan lands with about
    ``reserve + left_above_reserve_pct`` (negative: that much below the reserve), by bisection on
    the distance. Returns the point and its plan (None when the plan is infeasible)."""
    s = planner.settings
    d = s.drone(drone_id)
    b = s.base(d.base)
    goal = s.flight.reserve_pct + left_above_reserve_pct

    def point(dist: float) -> tuple[float, float]:
        lat, lon = destination(b.lat_deg, b.lon_deg, bearing_deg, dist)
        return float(lat), float(lon)

    def left(dist: float) -> float:
        try:
            return planner.plan(d, point(dist), category, battery_pct=battery_pct).battery_left_pct
        except Infeasible as e:
            if e.code != "battery":
                raise
            return float(e.params["left_pct"])

    for _ in range(40):
        mid = 0.5 * (lo_m + hi_m)
        if left(mid) > goal:
            lo_m = mid
        else:
            hi_m = mid
        if hi_m - lo_m < 2.0:
            break
    target = point(lo_m)
    try:
        return target, planner.plan(d, target, category, battery_pct=battery_pct)
    except Infeasible:
        return target, None
