"""Flight time, battery use, ETA and feasibility of a flight.

The model is deliberately simple and conservative, and every number in it is a field of
`EnergyProfile` so that a fleet operator can fit it to their airframe from flight logs:

* **Legs** (straight lines between 3-D points) are flown at the commanded speed, taken as
  *airspeed*; a constant `Wind` adds its along-track component and the drone crabs against
  the cross-track component, so the ground speed is
  ``sqrt(v**2 - w_cross**2) + w_along`` (a leg whose ground speed would be ~0 or less is not
  flyable). Horizontal and vertical motion happen together, so a leg takes
  ``max(distance / ground_speed, climb / climb_rate)``.
* **Battery** is drawn in % of a full pack per minute, one rate per phase: climbing (for the time
  the climb takes), cruising (the rest of a leg), descending, and hovering (hold times, loiter,
  the on-scene hold). Cruise power is taken as independent of speed.
* **Landing** descends at ``descent_rate_m_s`` to ``land_slow_alt_m`` and then at
  ``land_speed_m_s`` (as PX4's ``MPC_Z_V_AUTO_DN`` / ``MPC_LAND_SPEED``).

The default profile is a medium quadrotor: about 25 minutes of hover on a full pack (4 %/min), a
cruise speed of 12 m/s (a drone-as-first-responder setting; PX4's own ``MPC_XY_CRUISE`` default
is 5 m/s: pass yours), PX4's default climb/descent speeds (3 and 1.5 m/s).

Examples
--------
>>> p = EnergyProfile()
>>> round(60 * 100 / p.hover_pct_per_min / 60)          # minutes of hover on a full pack
25
>>> # from Kudus town centre (approx.) to a point 5 km north, at 60 m
>>> est = path_estimate([(-6.8048, 110.8405, 60.0), (-6.7600, 110.8405, 60.0)], p, from_ground=True)
>>> round(est.distance_m), round(est.time_s), round(est.energy_pct, 1)
(4954, 433, 26.8)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .errors import MissionError
from .geodesy import bearing_deg, destination, distance_m
from .items import Frame
from .mission import (
    ChangeSpeed,
    Delay,
    HomePosition,
    Land,
    LoiterTime,
    Mission,
    NavWaypoint,
    Orbit,
    RawItem,
    ReturnToLaunch,
    SetRoi,
    Takeoff,
)

__all__ = [
    "EnergyProfile",
    "Wind",
    "LegEstimate",
    "FlightEstimate",
    "Feasibility",
    "ground_speed_m_s",
    "leg_estimate",
    "path_estimate",
    "mission_estimate",
    "eta_s",
    "assess_feasibility",
    "max_onscene_s",
]

Point3 = tuple[float, float, float]

#: Ground speeds at or below this are treated as "cannot make headway".
MIN_GROUND_SPEED_M_S = 0.5


@dataclass(frozen=True, slots=True)
class EnergyProfile:
    """How a drone flies and drains its battery.

    Parameters
    ----------
    cruise_speed_m_s : float
        Commanded horizontal speed (airspeed) when the mission sets none. Default 12 m/s; the
        service passes its configured value.
    climb_rate_m_s, descent_rate_m_s : float
        Vertical speeds in missions (PX4 ``MPC_Z_V_AUTO_UP`` / ``MPC_Z_V_AUTO_DN``).
    land_speed_m_s, land_slow_alt_m : float
        Final landing speed below ``land_slow_alt_m`` (PX4 ``MPC_LAND_SPEED`` / ``MPC_LAND_ALT2``).
    hover_pct_per_min, cruise_pct_per_min, climb_pct_per_min, descent_pct_per_min : float
        Battery drawn per minute in each phase, in % of a full pack.
    rtl_return_alt_m : float
        Altitude above home at which RTL flies back if the drone is lower (PX4
        ``RTL_RETURN_ALT``; 30 m in SITL).
    """

    cruise_speed_m_s: float = 12.0
    climb_rate_m_s: float = 3.0
    descent_rate_m_s: float = 1.5
    land_speed_m_s: float = 0.7
    land_slow_alt_m: float = 5.0
    hover_pct_per_min: float = 4.0
    cruise_pct_per_min: float = 3.6
    climb_pct_per_min: float = 6.0
    descent_pct_per_min: float = 3.2
    rtl_return_alt_m: float = 30.0

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value)):
                raise MissionError(f"EnergyProfile.{name}: must be a finite number, got {value!r}")
            if name in ("land_slow_alt_m", "rtl_return_alt_m"):
                if value < 0:
                    raise MissionError(f"EnergyProfile.{name}: must be >= 0, got {value}")
            elif value <= 0:
                raise MissionError(f"EnergyProfile.{name}: must be > 0, got {value}")
            object.__setattr__(self, name, float(value))

    @property
    def hover_endurance_s(self) -> float:
        """Seconds of hover on a full pack."""
        return 100.0 / self.hover_pct_per_min * 60.0


@dataclass(frozen=True, slots=True)
class Wind:
    """A constant horizontal wind.

    Parameters
    ----------
    speed_m_s : float
        Wind speed (>= 0).
    from_deg : float
        Direction the wind blows **from**, degrees clockwise from true north (meteorological
        convention: a north wind, ``from_deg=0``, blows toward the south).
    """

    speed_m_s: float
    from_deg: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.speed_m_s) and self.speed_m_s >= 0):
            raise MissionError(f"Wind.speed_m_s: must be a finite number >= 0, got {self.speed_m_s!r}")
        if not math.isfinite(self.from_deg):
            raise MissionError(f"Wind.from_deg: must be finite, got {self.from_deg!r}")
        object.__setattr__(self, "speed_m_s", float(self.speed_m_s))
        object.__setattr__(self, "from_deg", float(self.from_deg) % 360.0)


def ground_speed_m_s(airspeed_m_s: float, course_deg: float, wind: Wind | None) -> float:
    """Ground speed along a course when flying at an airspeed in a wind (crabbing).

    Returns 0.0 when the cross wind is at least the airspeed (no course can be held), and can be
    negative when the head wind is stronger than the airspeed.

    Examples
    --------
    >>> ground_speed_m_s(12.0, 180.0, Wind(10.0, from_deg=0.0))    # tail wind
    22.0
    >>> ground_speed_m_s(12.0, 0.0, Wind(10.0, from_deg=0.0))      # head wind
    2.0
    >>> round(ground_speed_m_s(12.0, 90.0, Wind(10.0, from_deg=0.0)), 3)   # cross wind
    6.633
    """
    if wind is None or wind.speed_m_s == 0.0:
        return airspeed_m_s
    to_rad = math.radians(wind.from_deg + 180.0)
    course = math.radians(course_deg)
    # components of the wind vector along and across the course
    along = wind.speed_m_s * math.cos(to_rad - course)
    cross = wind.speed_m_s * math.sin(to_rad - course)
    if abs(cross) >= airspeed_m_s:
        return 0.0
    return math.sqrt(airspeed_m_s**2 - cross**2) + along


@dataclass(frozen=True, slots=True)
class LegEstimate:
    """One straight leg: from/to ``(lat_deg, lon_deg, alt_rel_m)``; times in s, energy in %."""

    start: Point3
    end: Point3
    distance_m: float
    ground_speed_m_s: float
    climb_s: float
    descent_s: float
    cruise_s: float
    time_s: float
    energy_pct: float
    flyable: bool = True


@dataclass(frozen=True, slots=True)
class FlightEstimate:
    """Time and battery of a flight, split by phase.

    ``time_s`` / ``energy_pct`` are infinite when a leg cannot be flown (see ``notes``).
    """

    time_s: float
    energy_pct: float
    distance_m: float
    climb_s: float
    cruise_s: float
    descent_s: float
    hover_s: float
    legs: tuple[LegEstimate, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def flyable(self) -> bool:
        """False when a leg cannot make headway against the wind."""
        return all(leg.flyable for leg in self.legs)


class _Acc:
    """Accumulates legs and hovers into a FlightEstimate."""

    def __init__(self, profile: EnergyProfile, wind: Wind | None) -> None:
        self.p = profile
        self.wind = wind
        self.legs: list[LegEstimate] = []
        self.hover_s = 0.0
        self.notes: list[str] = []

    def leg(self, a: Point3, b: Point3, speed_m_s: float) -> None:
        self.legs.append(leg_estimate(a, b, self.p, speed_m_s=speed_m_s, wind=self.wind))

    def hover(self, seconds: float) -> None:
        self.hover_s += seconds

    def land(self, at: Point3) -> Point3:
        """Descend from ``at`` to the ground with PX4's landing profile."""
        lat, lon, alt = at
        if alt <= 0.0:
            return (lat, lon, 0.0)
        slow = min(alt, self.p.land_slow_alt_m)
        fast = alt - slow
        t = fast / self.p.descent_rate_m_s + slow / self.p.land_speed_m_s
        self.legs.append(
            LegEstimate(at, (lat, lon, 0.0), 0.0, 0.0, 0.0, t, 0.0, t, t / 60.0 * self.p.descent_pct_per_min)
        )
        return (lat, lon, 0.0)

    def result(self) -> FlightEstimate:
        hover_energy = self.hover_s / 60.0 * self.p.hover_pct_per_min
        return FlightEstimate(
            time_s=sum(leg.time_s for leg in self.legs) + self.hover_s,
            energy_pct=sum(leg.energy_pct for leg in self.legs) + hover_energy,
            distance_m=sum(leg.distance_m for leg in self.legs),
            climb_s=sum(leg.climb_s for leg in self.legs),
            cruise_s=sum(leg.cruise_s for leg in self.legs),
            descent_s=sum(leg.descent_s for leg in self.legs),
            hover_s=self.hover_s,
            legs=tuple(self.legs),
            notes=tuple(self.notes),
        )


def leg_estimate(
    start: Point3,
    end: Point3,
    profile: EnergyProfile,
    *,
    speed_m_s: float | None = None,
    wind: Wind | None = None,
) -> LegEstimate:
    """Time and battery of one straight leg between two ``(lat_deg, lon_deg, alt_rel_m)`` points.

    Parameters
    ----------
    start, end : tuple of float
        ``(lat_deg, lon_deg, alt_rel_m)``.
    profile : EnergyProfile
    speed_m_s : float, optional
        Commanded speed (airspeed); default ``profile.cruise_speed_m_s``.
    wind : Wind, optional

    Returns
    -------
    LegEstimate
        ``flyable`` is False (and time/energy infinite) if the wind stops all headway.

    Examples
    --------
    >>> p = EnergyProfile()
    >>> leg = leg_estimate((0.0, 0.0, 0.0), (0.0, 0.0, 60.0), p)   # a 60 m vertical climb
    >>> leg.time_s, leg.energy_pct                                  # 20 s at 6 %/min
    (20.0, 2.0)
    """
    speed = profile.cruise_speed_m_s if speed_m_s is None else float(speed_m_s)
    d = float(distance_m(start[0], start[1], end[0], end[1]))
    dh = float(end[2]) - float(start[2])
    climb_s = dh / profile.climb_rate_m_s if dh > 0 else 0.0
    descent_s = -dh / profile.descent_rate_m_s if dh < 0 else 0.0
    vertical_s = climb_s + descent_s
    gs = speed
    if d > 0.0:
        gs = ground_speed_m_s(speed, float(bearing_deg(start[0], start[1], end[0], end[1])), wind)
        if gs <= MIN_GROUND_SPEED_M_S:
            inf = math.inf
            return LegEstimate(tuple(start), tuple(end), d, gs, climb_s, descent_s, inf, inf, inf, flyable=False)  # type: ignore[arg-type]
        horizontal_s = d / gs
    else:
        horizontal_s = 0.0
    time_s = max(horizontal_s, vertical_s)
    cruise_s = time_s - vertical_s
    energy = (
        climb_s * profile.climb_pct_per_min
        + descent_s * profile.descent_pct_per_min
        + cruise_s * profile.cruise_pct_per_min
    ) / 60.0
    return LegEstimate(tuple(start), tuple(end), d, gs, climb_s, descent_s, cruise_s, time_s, energy)  # type: ignore[arg-type]


def _as_points(route: Any) -> list[Point3]:
    """Route (``.waypoints``), sequence of waypoint objects, or sequence of tuples -> points."""
    wps = getattr(route, "waypoints", route)
    out: list[Point3] = []
    for i, wp in enumerate(wps):
        if hasattr(wp, "lat_deg"):
            alt = getattr(wp, "alt_m", None)
            if alt is None:
                alt = getattr(wp, "alt_rel_m", 0.0)
            out.append((float(wp.lat_deg), float(wp.lon_deg), float(alt)))
        else:
            try:
                lat, lon, *rest = wp
            except (TypeError, ValueError):
                raise MissionError(f"route point {i}: expected (lat_deg, lon_deg[, alt_m]) or a waypoint") from None
            out.append((float(lat), float(lon), float(rest[0]) if rest else 0.0))
    return out


def path_estimate(
    points: Any,
    profile: EnergyProfile,
    *,
    wind: Wind | None = None,
    speed_m_s: float | None = None,
    from_ground: bool = False,
    to_ground: bool = False,
    hover_at_end_s: float = 0.0,
) -> FlightEstimate:
    """Time and battery to fly along points.

    Parameters
    ----------
    points : Route or sequence
        A `~missions.routing.Route` (its ``.waypoints``, each with ``lat_deg``, ``lon_deg``,
        ``alt_m``), waypoint-like objects, or ``(lat_deg, lon_deg, alt_rel_m)`` tuples.
    profile : EnergyProfile
    wind : Wind, optional
    speed_m_s : float, optional
        Speed for every leg (default the profile's cruise speed).
    from_ground : bool
        Start on the ground under the first point (adds the climb to its altitude).
    to_ground : bool
        Land under the last point (adds the landing descent).
    hover_at_end_s : float
        Hover time at the last point before landing.

    Returns
    -------
    FlightEstimate

    Examples
    --------
    >>> p = EnergyProfile()
    >>> est = path_estimate([(0.0, 0.0, 60.0), (0.0, 0.0, 60.0)], p, from_ground=True, hover_at_end_s=600)
    >>> est.time_s, est.energy_pct            # 20 s climb (2 %) + 10 min hover (40 %)
    (620.0, 42.0)
    """
    pts = _as_points(points)
    acc = _Acc(profile, wind)
    if not pts:
        return acc.result()
    here = pts[0]
    if from_ground and here[2] > 0.0:
        acc.leg((here[0], here[1], 0.0), here, profile.climb_rate_m_s)
    for nxt in pts[1:]:
        acc.leg(here, nxt, speed_m_s if speed_m_s is not None else profile.cruise_speed_m_s)
        here = nxt
    if hover_at_end_s < 0:
        raise MissionError(f"hover_at_end_s: must be >= 0, got {hover_at_end_s}")
    acc.hover(hover_at_end_s)
    if to_ground:
        acc.land(here)
    return acc.result()


def mission_estimate(
    mission: Mission,
    profile: EnergyProfile,
    *,
    wind: Wind | None = None,
    home: HomePosition | None = None,
) -> FlightEstimate:
    """Time and battery of a whole `~missions.mission.Mission`, starting on the ground at home.

    Items are flown as PX4 flies them: `Takeoff` climbs vertically where the drone is, a
    waypoint's ``hold_s`` and `LoiterTime` / `Delay` hover, `Land` flies there and lands,
    `ReturnToLaunch` climbs to ``profile.rtl_return_alt_m`` if lower, flies home and lands;
    `ChangeSpeed` and ``speed_m_s`` change the speed of the following legs. A `Orbit` counts its
    ``orbits`` turns at its velocity (an unlimited orbit adds nothing and is noted).
    `RawItem` navigation commands (MAV_CMD 16-99) with a home-relative position count as
    waypoints; other raw items are ignored (noted).

    Parameters
    ----------
    mission : Mission
    profile : EnergyProfile
    wind : Wind, optional
    home : HomePosition, optional
        Where the flight starts; default ``mission.home``, else under the first position.

    Examples
    --------
    >>> from missions.mission import Mission, Takeoff, NavWaypoint, ReturnToLaunch
    >>> m = Mission([Takeoff(0.0, 0.0, 60.0), NavWaypoint(0.0, 0.0, 60.0, hold_s=300.0), ReturnToLaunch()])
    >>> est = mission_estimate(m, EnergyProfile())
    >>> round(est.time_s, 1), round(est.energy_pct, 2)     # climb 20 s, hold 300 s, land 43.8 s
    (363.8, 24.34)
    """
    home = home or mission.home
    positions = mission.positions()
    if home is not None:
        start = (home.lat_deg, home.lon_deg, 0.0)
    elif positions:
        start = (positions[0][0], positions[0][1], 0.0)
    else:
        return _Acc(profile, wind).result()
    acc = _Acc(profile, wind)
    here: Point3 = start
    speed = profile.cruise_speed_m_s
    for i, item in enumerate(mission.items):
        if isinstance(item, Takeoff):
            acc.leg(here, (here[0], here[1], item.alt_rel_m), speed)
            here = (here[0], here[1], item.alt_rel_m)
        elif isinstance(item, (NavWaypoint, LoiterTime)):
            target = (item.lat_deg, item.lon_deg, item.alt_rel_m)
            acc.leg(here, target, speed)
            here = target
            acc.hover(item.hold_s if isinstance(item, NavWaypoint) else item.time_s)
        elif isinstance(item, Land):
            target = (item.lat_deg, item.lon_deg, here[2])
            acc.leg(here, target, speed)
            here = acc.land(target)
        elif isinstance(item, ReturnToLaunch):
            alt = max(here[2], profile.rtl_return_alt_m)
            if alt > here[2]:
                acc.leg(here, (here[0], here[1], alt), speed)
            acc.leg((here[0], here[1], alt), (start[0], start[1], alt), speed)
            here = acc.land((start[0], start[1], alt))
        elif isinstance(item, Orbit):
            centre = (item.lat_deg, item.lon_deg, item.alt_rel_m)
            d = float(distance_m(here[0], here[1], centre[0], centre[1]))
            if abs(d - item.radius_m) > 0.01:
                # fly to the nearest point of the circle (radially out from the centre: north)
                b = float(bearing_deg(centre[0], centre[1], here[0], here[1])) if d > 0.01 else 0.0
                lat, lon = destination(centre[0], centre[1], b, item.radius_m)
                entry = (float(lat), float(lon), item.alt_rel_m)
                acc.leg(here, entry, speed)
                here = entry
            if item.orbits is None:
                acc.notes.append(f"item {i}: orbit without a number of turns; its duration is not counted")
            else:
                v = item.velocity_m_s or speed
                t = 2.0 * math.pi * item.radius_m * item.orbits / v
                acc.legs.append(
                    LegEstimate(here, here, 2.0 * math.pi * item.radius_m * item.orbits, v, 0.0, 0.0, t, t,
                                t / 60.0 * profile.cruise_pct_per_min)
                )
        elif isinstance(item, Delay):
            acc.hover(item.delay_s)
        elif isinstance(item, ChangeSpeed):
            speed = item.speed_m_s
        elif isinstance(item, SetRoi):
            pass
        elif isinstance(item, RawItem):
            if 16 <= item.command < 100 and item.frame in (Frame.GLOBAL_RELATIVE_ALT, Frame.GLOBAL_RELATIVE_ALT_INT) and item.has_position:
                target = (item.x / 1e7, item.y / 1e7, item.z)
                acc.leg(here, target, speed)
                here = target
            else:
                acc.notes.append(f"item {i}: command {item.command} not modelled (no time or energy counted)")
        new_speed = getattr(item, "speed_m_s", None)
        if new_speed is not None and not isinstance(item, ChangeSpeed):
            speed = new_speed
    return acc.result()


def eta_s(
    route: Any,
    profile: EnergyProfile,
    *,
    wind: Wind | None = None,
    to_index: int | None = None,
    from_ground: bool = True,
) -> float:
    """Seconds from launch at the route's first point until its point ``to_index`` is reached.

    Parameters
    ----------
    route : Route or sequence
        As for `path_estimate`; the first point is the base.
    profile : EnergyProfile
    wind : Wind, optional
    to_index : int, optional
        Index of the point to reach (default: the last).
    from_ground : bool
        Include the climb from the ground at the base.

    Returns
    -------
    float
        Seconds; ``inf`` if the wind prevents the flight.

    Examples
    --------
    >>> p = EnergyProfile(cruise_speed_m_s=10.0)
    >>> route = [(0.0, 0.0, 0.0), (0.0, 0.0, 30.0), (0.0, 0.01, 30.0)]     # climb, then ~1113 m east
    >>> round(eta_s(route, p), 1)
    121.3
    """
    pts = _as_points(route)
    if to_index is not None:
        n = len(pts)
        if not -n <= to_index < n:
            raise MissionError(f"to_index: {to_index} is outside the route's {n} points")
        pts = pts[: (to_index % n) + 1]
    return path_estimate(pts, profile, wind=wind, from_ground=from_ground).time_s


@dataclass(frozen=True, slots=True)
class Feasibility:
    """Verdict on whether a drone can fly out, stay, and come back with its reserve.

    Attributes
    ----------
    feasible : bool
    code : str
        ``"ok"``, ``"reserve"`` (would land with less than the reserve), ``"wind"`` (a leg cannot
        make headway) or ``"battery_low"`` (the battery is already at or below the reserve).
    reason : str
        One sentence in English saying why (the service localises using ``code`` and the numbers).
    outbound, onscene_s, inbound :
        Estimates of the three phases (outbound from the ground, hover on scene, return and land).
    battery_pct, reserve_pct, remaining_pct : float
        Battery at launch, the reserve required, and what would be left on landing.
    max_onscene_s : float
        Longest on-scene hover that keeps the reserve (0 when none).
    """

    feasible: bool
    code: str
    reason: str
    outbound: FlightEstimate
    onscene_s: float
    inbound: FlightEstimate
    battery_pct: float
    reserve_pct: float
    remaining_pct: float
    max_onscene_s: float
    total_s: float = field(default=0.0)


def _phases(
    route: Any, profile: EnergyProfile, wind: Wind | None, route_back: Any | None
) -> tuple[FlightEstimate, FlightEstimate]:
    pts = _as_points(route)
    if not pts:
        raise MissionError("route: needs at least one point")
    outbound = path_estimate(pts, profile, wind=wind, from_ground=True)
    back = _as_points(route_back) if route_back is not None else list(reversed(pts))
    if back and back[0][:2] != pts[-1][:2]:
        back = [pts[-1], *back]
    inbound = path_estimate(back, profile, wind=wind, to_ground=True)
    return outbound, inbound


def assess_feasibility(
    route: Any,
    profile: EnergyProfile,
    *,
    onscene_s: float = 0.0,
    battery_pct: float = 100.0,
    reserve_pct: float = 20.0,
    wind: Wind | None = None,
    route_back: Any | None = None,
) -> Feasibility:
    """Can the drone fly ``route`` from its base, hover ``onscene_s`` at the end, fly back and
    land with at least ``reserve_pct`` left?

    Parameters
    ----------
    route : Route or sequence
        Outbound path; its first point is the base, its last the on-scene point.
    profile : EnergyProfile
    onscene_s : float
        Hover time wanted on scene.
    battery_pct : float
        Battery at launch, % of a full pack.
    reserve_pct : float
        Battery that must remain on landing (default 20 %).
    wind : Wind, optional
    route_back : Route or sequence, optional
        Return path (default: the outbound path reversed, which is legal by construction).

    Returns
    -------
    Feasibility

    Examples
    --------
    >>> route = [(-6.8048, 110.8405, 0.0), (-6.8048, 110.8405, 60.0), (-6.7600, 110.8405, 60.0)]
    >>> v = assess_feasibility(route, EnergyProfile(cruise_speed_m_s=15.0), onscene_s=300)
    >>> v.feasible, v.code, round(v.remaining_pct, 1)
    (True, 'ok', 36.2)
    >>> v = assess_feasibility(route, EnergyProfile(cruise_speed_m_s=15.0), onscene_s=600)
    >>> v.feasible, v.code
    (False, 'reserve')
    >>> v.reason
    'would land with 16.2 % left, below the 20.0 % reserve (longest affordable on-scene time 543 s)'
    """
    if not (math.isfinite(onscene_s) and onscene_s >= 0):
        raise MissionError(f"onscene_s: must be a finite number >= 0, got {onscene_s!r}")
    if not (0.0 <= battery_pct <= 100.0):
        raise MissionError(f"battery_pct: must be within [0, 100], got {battery_pct!r}")
    if not (0.0 <= reserve_pct < 100.0):
        raise MissionError(f"reserve_pct: must be within [0, 100), got {reserve_pct!r}")
    outbound, inbound = _phases(route, profile, wind, route_back)
    hover_energy = onscene_s / 60.0 * profile.hover_pct_per_min
    used = outbound.energy_pct + hover_energy + inbound.energy_pct
    remaining = battery_pct - used
    spare = battery_pct - reserve_pct - outbound.energy_pct - inbound.energy_pct
    best = max(0.0, spare / profile.hover_pct_per_min * 60.0) if math.isfinite(spare) else 0.0
    total = outbound.time_s + onscene_s + inbound.time_s

    def verdict(ok: bool, code: str, reason: str) -> Feasibility:
        return Feasibility(ok, code, reason, outbound, float(onscene_s), inbound, float(battery_pct),
                           float(reserve_pct), remaining, best, total)

    if battery_pct <= reserve_pct:
        return verdict(False, "battery_low", f"battery {battery_pct:.1f} % is not above the {reserve_pct:.1f} % reserve")
    if not (outbound.flyable and inbound.flyable):
        leg = next(leg for leg in (*outbound.legs, *inbound.legs) if not leg.flyable)
        return verdict(
            False,
            "wind",
            f"the wind stops headway on the leg from {leg.start[0]:.5f}, {leg.start[1]:.5f} "
            f"to {leg.end[0]:.5f}, {leg.end[1]:.5f}",
        )
    # 1e-9 % of tolerance so that staying exactly `max_onscene_s` is feasible despite rounding
    if remaining < reserve_pct - 1e-9:
        return verdict(
            False,
            "reserve",
            f"would land with {remaining:.1f} % left, below the {reserve_pct:.1f} % reserve "
            f"(longest affordable on-scene time {best:.0f} s)",
        )
    return verdict(True, "ok", f"lands with {remaining:.1f} % left (reserve {reserve_pct:.1f} %)")


def max_onscene_s(
    route: Any,
    profile: EnergyProfile,
    *,
    battery_pct: float = 100.0,
    reserve_pct: float = 20.0,
    wind: Wind | None = None,
    route_back: Any | None = None,
) -> float:
    """Longest on-scene hover (seconds) the drone can afford on ``route`` and still land at its
    base with ``reserve_pct`` left; 0.0 when even a zero-length stay breaks the reserve.

    Examples
    --------
    >>> route = [(-6.8048, 110.8405, 60.0), (-6.7600, 110.8405, 60.0)]
    >>> round(max_onscene_s(route, EnergyProfile(cruise_speed_m_s=15.0)))
    540
    """
    return assess_feasibility(
        route, profile, onscene_s=0.0, battery_pct=battery_pct, reserve_pct=reserve_pct, wind=wind,
        route_back=route_back,
    ).max_onscene_s
