"""From "drone X, go to this incident" to a checked flight plan, using :mod:`missions`.

The plan is: take off at the drone's base to cruise altitude, fly the shortest legal route around
the active no-fly zones (``missions.plan_route``), descend to the on-scene altitude over the
incident (or over the nearest flyable point when the incident lies inside a zone), hold or orbit
there for the category's on-scene time, climb back to cruise altitude where the drone leaves the
scene (the last orbit point for an orbit), fly the legal route from there to over home and return
to launch, which then only descends and lands. Every leg, out, on scene and back, is either from
the router or checked against the zones (the orbit's legs; an orbit that would come near a zone
falls back to a hold), so no planned leg comes within the margin of a zone (a bare RTL would fly
straight home, and at PX4's slow ``MPC_XY_CRUISE``).

A plan that would bring the drone home below the battery reserve is refused. The estimate
(``missions.energy``: ETA, flight time and battery use per phase) walks the very waypoints that
are uploaded, with the drone's configured energy model (:class:`dronectl.config.DroneEnergy`).
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

# An orbit is flown as 8 waypoints 45 degrees apart; PX4 slows down for every turn, so its legs
# are estimated at this fraction of the cruise speed (measured on sim's PX4-like quad: 343 s
# for 311 s of chords at 12 m/s, 0.91). Slower means longer at the cruise rate: pessimistic.
ORBIT_SPEED_FACTOR = 0.9


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
        """The drone's energy model: its configured rates (``drones.energy``), the unset ones
        derived pessimistically from its hover endurance (see :class:`~dronectl.config.DroneEnergy`)."""
        e = drone.energy
        hover, cruise, climb, descent = e.rates(drone.endurance_min)
        return energy.EnergyProfile(
            cruise_speed_m_s=drone.cruise_speed_m_s, climb_rate_m_s=drone.climb_rate_m_s,
            descent_rate_m_s=e.descent_rate_m_s, land_speed_m_s=e.land_speed_m_s,
            land_slow_alt_m=e.land_slow_alt_m,
            hover_pct_per_min=hover, cruise_pct_per_min=cruise, climb_pct_per_min=climb,
            descent_pct_per_min=descent, rtl_return_alt_m=self.settings.flight.rtl_return_alt_m,
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
    def _route(self, start: tuple[float, float], goal: tuple[float, float], end_alt_m: float, *,
               start_alt_m: float | None = None) -> Route:
        """Legal route; ``start_alt_m`` set means the drone is already flying there.

        An airborne drone may have drifted into a zone's safety margin (GPS drift near an edge):
        it then leaves the margin by the shortest way first (``start_policy="escape"``) instead of
        being refused; a drone inside a zone itself is still refused (a violation already happened
        and needs the operator, not an automatic plan).
        """
        f = self.settings.flight
        try:
            if start_alt_m is not None:
                return plan_route(start, goal, self.airspace, margin_m=f.margin_m, cruise_alt_m=f.cruise_alt_m,
                                  onscene_alt_m=end_alt_m, start_alt_m=max(0.0, start_alt_m),
                                  start_policy="escape")
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
        start_alt_m: float | None = None,
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
        out = self._route(start, scene, onscene.alt_m,
                          start_alt_m=(start_alt_m if start_alt_m is not None else f.cruise_alt_m) if in_air else None)

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
        orbit = self._orbit(scene, onscene.orbit_radius_m, onscene.alt_m) \
            if onscene.pattern == "orbit" and hover_s > 0 else None
        if orbit is not None:
            seq.append(NavWaypoint(scene[0], scene[1], onscene.alt_m, acceptance_radius_m=2.0,
                                   speed_m_s=None if seq else speed))
            n = len(orbit)
            lap_s = 2 * math.pi * onscene.orbit_radius_m / drone.cruise_speed_m_s
            laps = max(1, math.ceil(hover_s / lap_s))
            for k in range(laps * n + 1):
                lat, lon = orbit[k % n]
                seq.append(NavWaypoint(lat, lon, onscene.alt_m, acceptance_radius_m=3.0))
            hover_s = laps * lap_s
            orbit_points = laps * n + 1
            leave = orbit[(laps * n) % n]
        else:
            seq.append(NavWaypoint(scene[0], scene[1], onscene.alt_m, hold_s=hover_s, acceptance_radius_m=2.0,
                                   speed_m_s=None if seq else speed))
            leave = scene
            orbit_points = 0
        return_at = len(seq)
        # Home from where the drone really leaves the scene (for an orbit, its last point, which
        # may be closer to a zone than the scene itself): the router's legal way.
        back = self._route(leave, home, f.cruise_alt_m)
        if abs(onscene.alt_m - f.cruise_alt_m) > 0.5:
            # Back to cruise altitude before leaving, vertically: the route home is planned (and
            # its energy estimated) at cruise altitude.
            seq.append(NavWaypoint(leave[0], leave[1], f.cruise_alt_m, acceptance_radius_m=3.0))
        for w in back.waypoints[1:]:
            seq.append(NavWaypoint(w.lat_deg, w.lon_deg, w.alt_m, acceptance_radius_m=3.0))
        # The last waypoint is over home: RTL only descends and lands. (Left to RTL, the way home
        # would be a straight line, possibly through a zone, flown at PX4's MPC_XY_CRUISE.)
        seq.append(ReturnToLaunch())
        items = Mission(tuple(seq)).to_mission_items()
        # Progress is reported in MAVLink item indices (mission_raw): map our item positions to them.
        scene_seq = len(Mission(tuple(seq[:scene_at])).to_mission_items())
        return_seq = len(Mission(tuple(seq[:return_at])).to_mission_items())
        # (A DO_CHANGE_SPEED may follow the scene waypoint: redirected to where the drone already is.)
        if items[scene_seq].command != 16 or not any(i.command == 16 for i in items[scene_seq:return_seq]):
            raise AssertionError("scene/return indices do not point at waypoints")

        # Energy and time of exactly what is uploaded: out to the scene (from the ground, or from
        # where the drone is), the hold or the orbit, then the climb, the way home and the landing.
        # flown[i + 1] is seq[i]; from the ground, flown[0] and the take-off point coincide (a zero
        # leg). In the air, flown[0] is where the drone is (its climb is counted, pessimistically).
        profile = self.profile(drone)
        flown = [(start[0], start[1], f.cruise_alt_m)]
        for it in seq:
            if isinstance(it, (Takeoff, NavWaypoint)):
                flown.append((it.lat_deg, it.lon_deg, it.alt_rel_m))
        k = scene_at + 1  # the scene
        path_out, path_orbit, path_home = flown[: k + 1], flown[k: k + orbit_points + 1], flown[k + orbit_points:]
        battery = min(100.0, max(0.0, battery_pct))
        est_out = energy.path_estimate(path_out, profile, from_ground=True)
        est_orbit = energy.path_estimate(path_orbit, profile, speed_m_s=ORBIT_SPEED_FACTOR * speed)
        est_home = energy.path_estimate(path_home, profile, to_ground=True)
        hold_s = 0.0 if orbit is not None else hover_s
        onscene_pct = est_orbit.energy_pct + hold_s / 60.0 * profile.hover_pct_per_min
        left = battery - est_out.energy_pct - onscene_pct - est_home.energy_pct
        if left < f.reserve_pct - 1e-9:
            # The longest time on scene that keeps the reserve, at the pattern's rate.
            spare = battery - f.reserve_pct - est_out.energy_pct - est_home.energy_pct
            rate_pct_s = (est_orbit.energy_pct / est_orbit.time_s if orbit is not None and est_orbit.time_s > 0
                          else profile.hover_pct_per_min / 60.0)
            detail = (f"would land with {left:.1f} % left, below the {f.reserve_pct:.1f} % reserve"
                      if battery > f.reserve_pct else
                      f"battery {battery:.1f} % is not above the {f.reserve_pct:.1f} % reserve")
            raise Infeasible("battery", drone=drone.id, detail=detail, left_pct=round(left, 1),
                             have_pct=round(battery_pct, 1), reserve_pct=f.reserve_pct,
                             max_onscene_s=round(max(0.0, spare / rate_pct_s)))
        eta_s = energy.eta_s(path_out, profile, from_ground=not in_air)
        flight_time_s = est_out.time_s + hold_s + est_orbit.time_s + est_home.time_s
        use_pct = battery - left
        return Plan(
            drone_id=drone.id, target_lat_deg=target[0], target_lon_deg=target[1],
            scene_lat_deg=scene[0], scene_lon_deg=scene[1], scene_alt_m=onscene.alt_m,
            scene_seq=scene_seq, return_seq=return_seq, items=tuple(items),
            out_m=float(out.length_m), back_m=float(back.length_m), eta_s=eta_s, flight_time_s=flight_time_s,
            battery_use_pct=use_pct, battery_left_pct=left, hover_s=hover_s,
            route_out=tuple((w.lat_deg, w.lon_deg, w.alt_m) for w in out.waypoints),
            route_back=tuple((w.lat_deg, w.lon_deg, w.alt_m) for w in back.waypoints),
        )

    def _orbit(self, scene: tuple[float, float], radius_m: float, alt_m: float,
               n: int = 8) -> list[tuple[float, float]] | None:
        """The orbit's ``n`` points (clockwise from north), or None when it is not flyable.

        Every leg flown on scene must keep the margin from every zone: the way out from the
        scene to the first point (north) and each chord to the next point. The way home is
        routed separately from the last point.
        """
        pts = [tuple(map(float, destination(scene[0], scene[1], k * 360.0 / n, radius_m))) for k in range(n)]
        legs = [(scene, pts[0])] + [(pts[k], pts[(k + 1) % n]) for k in range(n)]
        for a, b in legs:
            try:
                r = plan_route(a, b, self.airspace, margin_m=self.settings.flight.margin_m, cruise_alt_m=alt_m)
            except NoRouteError:
                return None
            if len(r.waypoints) > 2:  # had to bend around something
                return None
        return pts  # type: ignore[return-value]


def plan_to_qgc(plan: Plan, home: tuple[float, float, float]) -> dict[str, Any]:
    """A QGroundControl ``.plan`` document of a plan (via ``missions.Mission``)."""
    mission = Mission.from_mission_items(list(plan.items), home=HomePosition(*home))
    return mission.to_qgc_plan()
