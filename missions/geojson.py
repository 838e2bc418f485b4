"""Missions, routes, geofences and patterns as GeoJSON (RFC 7946) for display on a map.

Positions are ``[lon, lat]`` or ``[lon, lat, alt_rel_m]``; every feature carries a ``role``
property (``"path"``, ``"item"``, ``"home"``, ``"fence_inclusion"``, ``"fence_exclusion"``,
``"rally"``, ``"route"``, ``"waypoint"``) so that a map can style it. Fence circles are drawn as
64-gons whose vertices lie on the circle (geodesic radius).

Examples
--------
>>> from missions.mission import Mission, Takeoff, NavWaypoint, ReturnToLaunch
>>> fc = mission_to_geojson(Mission([Takeoff(-6.8048, 110.8405, 40.0), NavWaypoint(-6.79, 110.85, 60.0), ReturnToLaunch()]))
>>> [f["properties"]["role"] for f in fc["features"]]
['path', 'item', 'item', 'item']
>>> fc["features"][0]["geometry"]["coordinates"]
[[110.8405, -6.8048, 40.0], [110.85, -6.79, 60.0]]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .geodesy import destination
from .geofence import Geofence
from .mission import (
    ChangeSpeed,
    Delay,
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

__all__ = ["mission_to_geojson", "geofence_to_geojson", "route_to_geojson", "pattern_to_geojson", "circle_ring"]

CIRCLE_VERTICES = 64


def circle_ring(lat_deg: float, lon_deg: float, radius_m: float, n: int = CIRCLE_VERTICES) -> list[list[float]]:
    """A closed ``[lon, lat]`` ring of ``n`` points on a geodesic circle.

    Examples
    --------
    >>> ring = circle_ring(-6.8, 110.8, 100.0, n=4)
    >>> len(ring), ring[0] == ring[-1]
    (5, True)
    """
    az = np.linspace(0.0, 360.0, n, endpoint=False)
    lats, lons = destination(np.full(n, float(lat_deg)), np.full(n, float(lon_deg)), az, float(radius_m))
    ring = [[float(lo), float(la)] for la, lo in zip(lats, lons, strict=True)]
    return ring + [ring[0]]


def _feature(geometry: dict[str, Any], **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": props}


def _point(lat: float, lon: float, alt: float | None = None) -> dict[str, Any]:
    coords = [lon, lat] if alt is None else [lon, lat, alt]
    return {"type": "Point", "coordinates": coords}


def _item_props(index: int, item: Any) -> dict[str, Any]:
    props: dict[str, Any] = {"role": "item", "index": index, "kind": type(item).__name__}
    for name in item.__dataclass_fields__:
        if name not in ("lat_deg", "lon_deg"):
            value = getattr(item, name)
            props[name] = None if isinstance(value, float) and value != value else value
    return props


def geofence_to_geojson(fence: Geofence) -> list[dict[str, Any]]:
    """Fence polygons and circles as Polygon features (``role`` fence_inclusion/exclusion).

    Examples
    --------
    >>> from missions.geofence import FenceCircle
    >>> [f["properties"] for f in geofence_to_geojson(Geofence(circles=(FenceCircle(-6.8, 110.8, 150.0, False),)))]
    [{'role': 'fence_exclusion', 'shape': 'circle', 'radius_m': 150.0}]
    """
    feats = []
    for p in fence.polygons:
        ring = [[lon, lat] for lat, lon in p.vertices]
        ring.append(ring[0])
        role = "fence_inclusion" if p.inclusion else "fence_exclusion"
        feats.append(_feature({"type": "Polygon", "coordinates": [ring]}, role=role, shape="polygon"))
    for c in fence.circles:
        role = "fence_inclusion" if c.inclusion else "fence_exclusion"
        feats.append(
            _feature({"type": "Polygon", "coordinates": [circle_ring(c.lat_deg, c.lon_deg, c.radius_m)]},
                     role=role, shape="circle", radius_m=c.radius_m)
        )
    return feats


def mission_to_geojson(mission: Mission) -> dict[str, Any]:
    """A mission as a FeatureCollection: the flight path (LineString through every position,
    with altitudes), one Point per item that has a position (``kind`` and its fields as
    properties; an `Orbit` also gets its circle), the home, the fence and the rally points.
    """
    feats: list[dict[str, Any]] = []
    positions = mission.positions()
    if len(positions) >= 2:
        feats.append(
            _feature({"type": "LineString", "coordinates": [[lon, lat, alt] for lat, lon, alt in positions]},
                     role="path")
        )
    for i, item in enumerate(mission.items):
        if isinstance(item, (NavWaypoint, Takeoff, LoiterTime, Land, SetRoi, Orbit)):
            feats.append(_feature(_point(item.lat_deg, item.lon_deg, item.alt_rel_m), **_item_props(i, item)))
            if isinstance(item, Orbit):
                feats.append(
                    _feature({"type": "LineString", "coordinates": circle_ring(item.lat_deg, item.lon_deg, item.radius_m)},
                             role="orbit", index=i, radius_m=item.radius_m)
                )
        elif isinstance(item, RawItem) and item.has_position:
            feats.append(_feature(_point(item.x / 1e7, item.y / 1e7, item.z), **_item_props(i, item)))
        elif isinstance(item, (ReturnToLaunch, Delay, ChangeSpeed, RawItem)):
            feats.append(_feature(_point(*_last_position(mission, i)), **_item_props(i, item)))
    if mission.home is not None:
        feats.append(_feature(_point(mission.home.lat_deg, mission.home.lon_deg), role="home",
                              alt_amsl_m=mission.home.alt_amsl_m))
    feats.extend(geofence_to_geojson(mission.geofence))
    for r in mission.rally_points:
        feats.append(_feature(_point(r.lat_deg, r.lon_deg, r.alt_rel_m), role="rally"))
    return {"type": "FeatureCollection", "features": feats}


def _last_position(mission: Mission, index: int) -> tuple[float, float]:
    """Where an item without a position happens: the last position before it (or home)."""
    for item in reversed(mission.items[:index]):
        if isinstance(item, (NavWaypoint, Takeoff, LoiterTime, Land, Orbit)):
            return item.lat_deg, item.lon_deg
        if isinstance(item, RawItem) and item.has_position:
            return item.x / 1e7, item.y / 1e7
    if mission.home is not None:
        return mission.home.lat_deg, mission.home.lon_deg
    pos = mission.positions()
    return (pos[0][0], pos[0][1]) if pos else (0.0, 0.0)


def route_to_geojson(route: Any) -> dict[str, Any]:
    """A route (anything with ``.waypoints`` of ``lat_deg``/``lon_deg``/``alt_m``) as a
    FeatureCollection: the LineString (``role`` route) and one Point per waypoint.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> r = NS(waypoints=[NS(lat_deg=-6.8, lon_deg=110.8, alt_m=60.0), NS(lat_deg=-6.7, lon_deg=110.9, alt_m=60.0)])
    >>> len(route_to_geojson(r)["features"])
    3
    """
    wps = list(route.waypoints)
    coords = [[w.lon_deg, w.lat_deg, w.alt_m] for w in wps]
    feats = [_feature({"type": "LineString", "coordinates": coords if len(coords) > 1 else coords * 2}, role="route",
                      length_m=getattr(route, "length_m", None))]
    feats += [_feature(_point(w.lat_deg, w.lon_deg, w.alt_m), role="waypoint", index=i) for i, w in enumerate(wps)]
    return {"type": "FeatureCollection", "features": feats}


def pattern_to_geojson(pattern: Any) -> dict[str, Any]:
    """A `~missions.patterns.Pattern`: its path, waypoints and the adjustments (``role``
    ``"adjustment"`` at the original point, with ``action`` and ``reason``)."""
    wps = list(pattern.waypoints)
    coords = [[w.lon_deg, w.lat_deg, w.alt_rel_m] for w in wps]
    feats: list[dict[str, Any]] = []
    if len(coords) >= 2:
        feats.append(_feature({"type": "LineString", "coordinates": coords}, role="path"))
    feats += [_feature(_point(w.lat_deg, w.lon_deg, w.alt_rel_m), role="waypoint", index=i, hold_s=w.hold_s)
              for i, w in enumerate(wps)]
    for a in pattern.adjustments:
        feats.append(_feature(_point(a.lat_deg, a.lon_deg), role="adjustment", index=a.index, action=a.action,
                              code=a.code, reason=a.reason, zone=a.zone))
    return {"type": "FeatureCollection", "features": feats}
