"""missions: the pure planning library of dronectl.

Geodesy (pyproj), airspace and routing around no-fly zones (shapely), on-scene and escort
patterns, energy and feasibility, MAVLink mission items and QGroundControl ``.plan`` files.
No I/O beyond the formats it reads and writes; imports nothing from ``dronectl`` or ``sim``.
"""

from __future__ import annotations

from missions.errors import AirspaceError, AltitudeError, MissionsError, NoRouteError
from missions.geodesy import LocalFrame, bearing_deg, destination, distance_m

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
]
