"""missions: the pure planning library of dronectl.

Geodesy (pyproj), airspace and routing around no-fly zones (shapely), on-scene and escort
patterns, energy and feasibility, MAVLink mission items and QGroundControl ``.plan`` files.
No I/O beyond the formats it reads and writes; imports nothing from ``dronectl`` or ``sim``.
"""

from __future__ import annotations

from missions.errors import AirspaceError, AltitudeError, MissionsError, NoRouteError
from missions.geodesy import LocalFrame, bearing_deg, destination, distance_m
from missions.airspace import (
    DEFAULT_MAX_ALT_M,
    ZONE_KINDS,
    Airspace,
    FlyablePoint,
    ServiceArea,
    Verdict,
    Zone,
)
from missions.routing import DEFAULT_CRUISE_ALT_M, DEFAULT_MARGIN_M, START_POLICIES, Leg, Route, Waypoint, plan_route

__all__ = [
    # errors
    "MissionsError",
    "AirspaceError",
    "AltitudeError",
    "NoRouteError",
    # geodesy
    "LocalFrame",
    "distance_m",
    "bearing_deg",
    "destination",
    # airspace
    "Airspace",
    "Zone",
    "ServiceArea",
    "Verdict",
    "FlyablePoint",
    "ZONE_KINDS",
    "DEFAULT_MAX_ALT_M",
    # routing
    "plan_route",
    "Route",
    "Waypoint",
    "Leg",
    "DEFAULT_MARGIN_M",
    "DEFAULT_CRUISE_ALT_M",
    "START_POLICIES",
]

# --- mission formats, energy and patterns (appended by the mission-format/energy/patterns work) ---
from missions.energy import (  # noqa: E402
    EnergyProfile,
    Feasibility,
    FlightEstimate,
    LegEstimate,
    Wind,
    assess_feasibility,
    eta_s,
    ground_speed_m_s,
    leg_estimate,
    max_onscene_s,
    mission_estimate,
    path_estimate,
)
from missions.errors import MissionError, PatternError, PlanFormatError  # noqa: E402
from missions.geofence import FenceCircle, FencePolygon, Geofence  # noqa: E402
from missions.geojson import geofence_to_geojson, mission_to_geojson, pattern_to_geojson, route_to_geojson  # noqa: E402
from missions.items import Cmd, Frame, MavlinkItem, MissionType  # noqa: E402
from missions.mission import (  # noqa: E402
    ChangeSpeed,
    Delay,
    HomePosition,
    Land,
    LoiterTime,
    Mission,
    MissionItem,
    NavWaypoint,
    Orbit,
    RallyPoint,
    RawItem,
    ReturnToLaunch,
    SetRoi,
    Takeoff,
)
from missions.patterns import (  # noqa: E402
    Adjustment,
    OfficerFix,
    OfficerMotion,
    Pattern,
    escort_along_route,
    escort_from_fixes,
    expanding_square,
    lawnmower,
    officer_motion,
    onscene_hold,
    orbit_item,
    orbit_waypoints,
)
from missions.qgc import dumps_plan, load_plan, loads_plan, plan_from_dict, plan_to_dict, save_plan  # noqa: E402

__all__ += [
    # errors
    "MissionError",
    "PlanFormatError",
    "PatternError",
    # MAVLink items and the Mission value type
    "MavlinkItem",
    "MissionType",
    "Frame",
    "Cmd",
    "Mission",
    "MissionItem",
    "NavWaypoint",
    "Takeoff",
    "Land",
    "ReturnToLaunch",
    "LoiterTime",
    "Orbit",
    "Delay",
    "ChangeSpeed",
    "SetRoi",
    "RawItem",
    "HomePosition",
    "RallyPoint",
    # geofence
    "Geofence",
    "FencePolygon",
    "FenceCircle",
    # QGroundControl .plan
    "plan_to_dict",
    "plan_from_dict",
    "dumps_plan",
    "loads_plan",
    "save_plan",
    "load_plan",
    # GeoJSON
    "mission_to_geojson",
    "geofence_to_geojson",
    "route_to_geojson",
    "pattern_to_geojson",
    # energy and feasibility
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
    # patterns
    "Pattern",
    "Adjustment",
    "OfficerFix",
    "OfficerMotion",
    "onscene_hold",
    "orbit_waypoints",
    "orbit_item",
    "expanding_square",
    "lawnmower",
    "officer_motion",
    "escort_along_route",
    "escort_from_fixes",
]
