"""From "drone X, go to this incident" to a checked flight plan, using :mod:`missions`.

The plan is: take off at the drone's base to cruise altitude, fly the shortest legal route around
the active no-fly zones (``missions.plan_route``), descend to the on-scene altitude over the
incident (or over the nearest flyable point when the incident lies inside a zone), hold or orbit
there for the category's on-scene time, fly the legal route home and return to launch. Every leg,
out and back, comes from the router, so no planned leg crosses a zone (a bare RTL would fly
straight home). A plan that would bring the drone home below the battery reserve is refused
(``missions.energy``: ETA, flight time and battery use per phase, scaled to the drone's endurance).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from dronectl.config import Category, DroneConfig, Settings
from missions import energy
from missions.airspace import Airspace
from missions.errors import NoRouteError
from missions.geodesy import destination, distance_m
from missions.items import MavlinkItem
from missions.mission import HomePosition, Mission, MissionItem, NavWaypoint, ReturnToLaunch, Takeoff
from missions.routing import Route, plan_route

__all__ = ["Plan", "Infeasible", "Planner", "load_airspace"]

# Horizontal distance from the scene point under which the drone counts as on scene.
ON_SCENE_RADIUS_M = 15.0


_ITEM_FIELDS = tuple(f.name for f in fields(MavlinkItem))


class Infeasible(Exception):
    """This drone cannot fly this incident. ``code`` + ``params`` render in the i18n catalogue."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(f"{code}: {params}")
        self.code = code
        self.params = params


@dataclass(frozen=True, slots=True)
class Plan:
    """A checked plan for one drone and one incident. Altitudes are relative to home."""

    drone_id: str
    target_lat_deg: float
    target_lon_deg: float
    scene_lat_deg: float  # where the drone holds (moved out of a zone if the incident is inside one)
    scene_lon_deg: float
    scene_alt_m: float
    scene_seq: int  # mission item that arrives over the scene
    return_seq: int  # first item of the way home
    items: tuple[MavlinkItem, ...]
    out_m: float
    back_m: float
    eta_s: float
    flight_time_s: float
    battery_use_pct: float
    battery_left_pct: float
    hover_s: float
    route_out: tuple[tuple[float, float, float], ...] = field(default=())
    route_back: tuple[tuple[float, float, float], ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["items"] = [{f: getattr(i, f) for f in _ITEM_FIELDS} for i in self.items]
        d["route_out"] = [list(p) for p in self.route_out]
        d["route_back"] = [list(p) for p in self.route_back]
        return d

    @staticmethod
    def from_json(d: dict[str, Any]) -> Plan:
        d = dict(d)
        d["items"] = tuple(MavlinkItem(**i) for i in d["items"])
        d["route_out"] = tuple(tuple(p) for p in d.get("route_out", ()))
        d["route_back"] = tuple(tuple(p) for p in d.get("route_back", ()))
        return Plan(**d)


def load_airspace(settings: Settings) -> Airspace:
    """The configured airspace (an empty one when no file is configured)."""
    src: Any = settings.airspace_file
    if src is None:
        src = {"type": "FeatureCollection", "features": []}
    return Airspace.from_geojson(src, max_alt_m=settings.max_alt_m)


class Planner:
    """Plans missions for the configured fleet over one airspace."""

    def __init__(self, settings: Settings, airspace: Airspace) -> None:
        self.settings = settings
        self.airspace = airspace

    def profile(self, drone: DroneConfig) -> energy.EnergyProfile:
        """The drone's energy model: ``missions``' default quadrotor scaled to its endurance."""
        hover = 100.0 / drone.endurance_min  # % of a full pack per minute of hover
        return energy.EnergyProfile(
            cruise_speed_m_s=drone.cruise_speed_m_s, climb_rate_m_s=drone.climb_rate_m_s,
            hover_pct_per_min=hover, cruise_pct_per_min=0.9 * hover, climb_pct_per_min=1.5 * hover,
            descent_pct_per_min=0.8 * hover, rtl_return_alt_m=self.settings.flight.rtl_return_alt_m,
        )

    # -- scene -----------------------------------------------------------------------------------
    def scene_point(self, lat_deg: float, lon_deg: float) -> tuple[float, float]:
        """Where to observe an incident from: itself, or the nearest flyable point if it is in a zone."""
        p = self.airspace.nearest_flyable(lat_deg, lon_deg, margin_m=self.settings.flight.margin_m)
        return float(p.lat_deg), float(p.lon_deg)

    def straight_is_legal(self, a: tuple[float, float], b: tuple[float, float]) -> bool:
        """Whether the straight line a -> b keeps the margin from every active zone."""
        try:
            r = plan_route(a, b, self.airspace, margin_m=self.settings.flight.margin_m,
                           cruise_alt_m=self.settings.flight.cruise_alt_m)
        except NoRouteError:
            return False
        return len(r.waypoints) <= 2

    # -- service areas ---------------------------------------------------------------------------
    def serves(self, base_id: str, lat_deg: float, lon_deg: float) -> tuple[bool, float, float]:
        """(inside, distance m, radius m): the airspace's service area for the base when it has one,
        else the base's configured radius."""
        b = self.settings.base(base_id)
        dist = float(distance_m(b.lat_deg, b.lon_deg, lat_deg, lon_deg))
        if any(a.base == base_id for a in self.airspace.service_areas):
            return self.airspace.in_service_area(lat_deg, lon_deg, base_id), dist, b.service_radius_m
        return dist <= b.service_radius_m, dist, b.service_radius_m

    def nearest_base(self, lat_deg: float, lon_deg: float) -> tuple[str, float, float]:
        """(base name, distance m, service radius m) of the base nearest to a point."""
        best = min(self.settings.bases, key=lambda b: distance_m(b.lat_deg, b.lon_deg, lat_deg, lon_deg))
        return best.name, float(distance_m(best.lat_deg, best.lon_deg, lat_deg, lon_deg)), best.service_radius_m

    def in_any_service_area(self, lat_deg: float, lon_deg: float) -> bool:
        return any(self.serves(b.id, lat_deg, lon_deg)[0] for b in self.settings.bases)

    # -- planning --------------------------------------------------------------------------------
    def _route(self, start: tuple[float, float], goal: tuple[float, float], end_alt_m: float) -> Route:
        f = self.settings.flight
        try:
            return plan_route(start, goal, self.airspace, margin_m=f.margin_m, cruise_alt_m=f.cruise_alt_m,
                              onscene_alt_m=end_alt_m)
        except NoRouteError as e:
            raise Infeasible("no_route", detail=str(e)) from None

    def plan(
        self,
        drone: DroneConfig,
        target: tuple[float, float],
        category: Category,
        *,
        battery_pct: float,
        start: tuple[float, float] | None = None,
        in_air: bool = False,
        scene: tuple[float, float] | None = None,
    ) -> Plan:
        """Plan ``drone`` from ``start`` (default: its base) to ``target`` and home.

        Raises
        ------
        Infeasible
            ``outside_service_area``, ``no_route`` or ``battery`` (with the numbers).
        """
        s = self.settings
        f = s.flight
        base = s.base(drone.base)
        home = (base.lat_deg, base.lon_deg)
        start = start or home
        inside, d_base, radius = self.serves(base.id, *target)
        if not inside:
            raise Infeasible("outside_service_area", base=base.name, dist_km=round(d_base / 1000, 1),
                             radius_km=round(radius / 1000, 1))
        onscene = s.on_scene[category]
        scene = scene if scene is not None else self.scene_point(*target)
        out = self._route(start, scene, onscene.alt_m)
        back = self._route(scene, home, f.cruise_alt_m)

        # The drone's cruise speed is commanded in the mission (a DO_CHANGE_SPEED after the first
        # item): PX4's own default (MPC_XY_CRUISE, 5 m/s) would make every ETA wrong.
        speed = drone.cruise_speed_m_s
        seq: list[MissionItem] = []
        if not in_air:
            seq.append(Takeoff(start[0], start[1], f.cruise_alt_m, speed_m_s=speed))
        for w in out.waypoints[:-1]:
            if distance_m(start[0], start[1], w.lat_deg, w.lon_deg) <= 1.0:
                continue  # the take-off point (or where the drone already is)
            seq.append(NavWaypoint(w.lat_deg, w.lon_deg, w.alt_m, acceptance_radius_m=3.0,
                                   speed_m_s=None if seq else speed))
        hover_s = onscene.hover_s
        scene_at = len(seq)
        if onscene.pattern == "orbit" and hover_s > 0 and self._orbit_flyable(scene, onscene.orbit_radius_m):
            seq.append(NavWaypoint(scene[0], scene[1], onscene.alt_m, acceptance_radius_m=2.0,
                                   speed_m_s=None if seq else speed))
            n = 8
            lap_s = 2 * math.pi * onscene.orbit_radius_m / drone.cruise_speed_m_s
            laps = max(1, math.ceil(hover_s / lap_s))
            for k in range(laps * n + 1):
                lat, lon = destination(scene[0], scene[1], (k % n) * 360.0 / n, onscene.orbit_radius_m)
                seq.append(NavWaypoint(float(lat), float(lon), onscene.alt_m, acceptance_radius_m=3.0))
            hover_s = laps * lap_s
        else:
            seq.append(NavWaypoint(scene[0], scene[1], onscene.alt_m, hold_s=hover_s, acceptance_radius_m=2.0,
                                   speed_m_s=None if seq else speed))
        return_at = len(seq)
        for w in back.waypoints[1:-1]:
            seq.append(NavWaypoint(w.lat_deg, w.lon_deg, w.alt_m, acceptance_radius_m=3.0))
        # Over home by now (the way back came from the router): RTL only descends and lands.
        seq.append(ReturnToLaunch())
        items = Mission(tuple(seq)).to_mission_items()
        # Progress is reported in MAVLink item indices (mission_raw): map our item positions to them.
        scene_seq = len(Mission(tuple(seq[:scene_at])).to_mission_items())
        return_seq = len(Mission(tuple(seq[:return_at])).to_mission_items())
        if items[scene_seq].command != 16 or items[return_seq - 1].command not in (16,):
            raise AssertionError("scene/return indices do not point at waypoints")

        profile = self.profile(drone)
        eta = energy.eta_s(out, profile, from_ground=not in_air)
        v = energy.assess_feasibility(out, profile, onscene_s=hover_s, battery_pct=min(100.0, max(0.0, battery_pct)),
                                      reserve_pct=f.reserve_pct, route_back=back)
        if not v.feasible:
            raise Infeasible("battery" if v.code != "wind" else "wind", drone=drone.id, detail=v.reason,
                             left_pct=round(v.remaining_pct, 1), have_pct=round(battery_pct, 1),
                             reserve_pct=f.reserve_pct, max_onscene_s=round(v.max_onscene_s))
        eta_s, flight_time_s = eta, v.total_s
        use_pct, left = battery_pct - v.remaining_pct, v.remaining_pct
        return Plan(
            drone_id=drone.id, target_lat_deg=target[0], target_lon_deg=target[1],
            scene_lat_deg=scene[0], scene_lon_deg=scene[1], scene_alt_m=onscene.alt_m,
            scene_seq=scene_seq, return_seq=return_seq, items=tuple(items),
            out_m=float(out.length_m), back_m=float(back.length_m), eta_s=eta_s, flight_time_s=flight_time_s,
            battery_use_pct=use_pct, battery_left_pct=left, hover_s=hover_s,
            route_out=tuple((w.lat_deg, w.lon_deg, w.alt_m) for w in out.waypoints),
            route_back=tuple((w.lat_deg, w.lon_deg, w.alt_m) for w in back.waypoints),
        )

    def _orbit_flyable(self, scene: tuple[float, float], radius_m: float) -> bool:
        """Every orbit point, and the chord to the next, must keep the margin from every zone."""
        for k in range(8):
            lat, lon = destination(scene[0], scene[1], k * 45.0, radius_m)
            lat2, lon2 = destination(scene[0], scene[1], (k + 1) * 45.0, radius_m)
            try:
                r = plan_route((float(lat), float(lon)), (float(lat2), float(lon2)), self.airspace,
                               margin_m=self.settings.flight.margin_m, cruise_alt_m=self.settings.flight.cruise_alt_m)
            except NoRouteError:
                return False
            if len(r.waypoints) > 2:  # had to bend around something
                return False
        return True


def plan_to_qgc(plan: Plan, home: tuple[float, float, float]) -> dict[str, Any]:
    """A QGroundControl ``.plan`` document of a plan (via ``missions.Mission``)."""
    mission = Mission.from_mission_items(list(plan.items), home=HomePosition(*home))
    return mission.to_qgc_plan()
