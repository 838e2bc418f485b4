"""Geofences as values: inclusion/exclusion polygons and circles.

A `Geofence` is what PX4 stores as its fence "mission" (``mission_type`` 1): polygons given
vertex by vertex (``MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION`` 5001 /
``..._EXCLUSION`` 5002, ``param1`` = vertex count) and circles
(``MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION`` 5003 / ``..._EXCLUSION`` 5004, ``param1`` = radius in
metres). The same value converts to QGroundControl's ``.plan`` ``geoFence`` section and to
GeoJSON (see `missions.geojson`).

Item encoding follows MAVSDK's QGroundControl importer (``mission_raw``): frame
``MAV_FRAME_GLOBAL`` (0), x/y as degrees * 1e7, z 0, polygons first then circles, sequence
numbers from 0 with ``current`` set on the first item.

Positions are stored at MAVLink's resolution (1e-7 degree, about 1 cm), so that converting to
items and back is exact.

Examples
--------
>>> fence = Geofence(
...     polygons=(FencePolygon(((-6.80, 110.83), (-6.80, 110.85), (-6.81, 110.85)), inclusion=True),),
...     circles=(FenceCircle(-6.805, 110.84, radius_m=150.0, inclusion=False),),
... )
>>> [(i.seq, i.command, i.param1) for i in fence.to_mission_items()]
[(0, 5001, 3.0), (1, 5001, 3.0), (2, 5001, 3.0), (3, 5004, 150.0)]
>>> Geofence.from_mission_items(fence.to_mission_items()) == fence
True
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import MissionError, PlanFormatError
from .items import Cmd, Frame, MavlinkItem, MissionType

__all__ = ["FencePolygon", "FenceCircle", "Geofence", "quantize_deg"]


def quantize_deg(value_deg: float) -> float:
    """Round an angle in degrees to MAVLink's 1e-7 degree grid (what ``x``/``y`` can carry).

    Examples
    --------
    >>> quantize_deg(-6.804812345678)
    -6.8048123
    """
    return int(round(float(value_deg) * 1e7)) / 1e7


def _to_e7(value_deg: float) -> int:
    return int(round(float(value_deg) * 1e7))


def _check_latlon(lat_deg: float, lon_deg: float, what: str) -> None:
    lat = float(lat_deg)
    lon = float(lon_deg)
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise MissionError(f"{what}: coordinates must be finite numbers, got ({lat}, {lon})")
    if not -90.0 <= lat <= 90.0:
        raise MissionError(f"{what}: latitude {lat} is out of range [-90, 90]")
    if not -180.0 <= lon <= 180.0:
        raise MissionError(f"{what}: longitude {lon} is out of range [-180, 180]")


@dataclass(frozen=True, slots=True)
class FencePolygon:
    """A fence polygon.

    Parameters
    ----------
    vertices : tuple of (lat_deg, lon_deg)
        At least 3 vertices, not closed (the first vertex is not repeated at the end; a repeated
        closing vertex is removed).
    inclusion : bool
        True: the vehicle must stay inside. False: the vehicle must stay outside.
    """

    vertices: tuple[tuple[float, float], ...]
    inclusion: bool = True

    def __post_init__(self) -> None:
        raw = list(self.vertices)
        for i, vertex in enumerate(raw):
            if len(vertex) != 2:
                raise MissionError(f"fence polygon vertex {i}: must be a (lat_deg, lon_deg) pair")
            _check_latlon(vertex[0], vertex[1], f"fence polygon vertex {i}")
        verts = [(quantize_deg(lat), quantize_deg(lon)) for lat, lon in raw]
        if len(verts) >= 2 and verts[0] == verts[-1]:
            verts.pop()
        if len(verts) < 3:
            raise MissionError(f"fence polygon: needs at least 3 distinct vertices, got {len(verts)}")
        object.__setattr__(self, "vertices", tuple(verts))
        object.__setattr__(self, "inclusion", bool(self.inclusion))


@dataclass(frozen=True, slots=True)
class FenceCircle:
    """A fence circle centred at ``(lat_deg, lon_deg)`` with ``radius_m`` (> 0)."""

    lat_deg: float
    lon_deg: float
    radius_m: float
    inclusion: bool = True

    def __post_init__(self) -> None:
        _check_latlon(self.lat_deg, self.lon_deg, "fence circle centre")
        radius = float(self.radius_m)
        if not (math.isfinite(radius) and radius > 0.0):
            raise MissionError(f"fence circle: radius_m must be a positive number, got {self.radius_m!r}")
        object.__setattr__(self, "lat_deg", quantize_deg(self.lat_deg))
        object.__setattr__(self, "lon_deg", quantize_deg(self.lon_deg))
        object.__setattr__(self, "radius_m", radius)
        object.__setattr__(self, "inclusion", bool(self.inclusion))


@dataclass(frozen=True, slots=True)
class Geofence:
    """Inclusion/exclusion polygons and circles, in upload order (polygons, then circles).

    An empty `Geofence` (the default) means "no fence".
    """

    polygons: tuple[FencePolygon, ...] = ()
    circles: tuple[FenceCircle, ...] = ()

    def __post_init__(self) -> None:
        polygons = tuple(self.polygons)
        circles = tuple(self.circles)
        for i, p in enumerate(polygons):
            if not isinstance(p, FencePolygon):
                raise MissionError(f"geofence polygons[{i}]: expected FencePolygon, got {type(p).__name__}")
        for i, c in enumerate(circles):
            if not isinstance(c, FenceCircle):
                raise MissionError(f"geofence circles[{i}]: expected FenceCircle, got {type(c).__name__}")
        object.__setattr__(self, "polygons", polygons)
        object.__setattr__(self, "circles", circles)

    def __bool__(self) -> bool:
        return bool(self.polygons or self.circles)

    # ------------------------------------------------------------------ MAVLink items
    def to_mission_items(self) -> list[MavlinkItem]:
        """Fence items (``mission_type`` 1) as MAVSDK's ``mission_raw`` uploads them.

        Returns
        -------
        list of MavlinkItem
            Polygon vertices (5001/5002, ``param1`` = vertex count), then circles (5003/5004,
            ``param1`` = radius). Empty when the fence is empty.

        Examples
        --------
        >>> Geofence(circles=(FenceCircle(-6.8, 110.8, 500.0),)).to_mission_items()[0].command
        5003
        """
        out: list[MavlinkItem] = []

        def add(command: int, param1: float, lat: float, lon: float) -> None:
            out.append(
                MavlinkItem(
                    seq=len(out),
                    frame=Frame.GLOBAL,
                    command=command,
                    param1=param1,
                    x=_to_e7(lat),
                    y=_to_e7(lon),
                    z=0.0,
                    current=not out,
                    autocontinue=True,
                    mission_type=MissionType.FENCE,
                )
            )

        for poly in self.polygons:
            cmd = (
                Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION
                if poly.inclusion
                else Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION
            )
            for lat, lon in poly.vertices:
                add(cmd, float(len(poly.vertices)), lat, lon)
        for circle in self.circles:
            cmd = Cmd.NAV_FENCE_CIRCLE_INCLUSION if circle.inclusion else Cmd.NAV_FENCE_CIRCLE_EXCLUSION
            add(cmd, circle.radius_m, circle.lat_deg, circle.lon_deg)
        return out

    @classmethod
    def from_mission_items(cls, items: Iterable[MavlinkItem]) -> Geofence:
        """Rebuild a fence from fence items (as downloaded from a vehicle).

        Polygons are read as runs of ``param1`` consecutive vertices of the same command; polygons
        and circles may be interleaved (the order within each kind is kept).

        Raises
        ------
        MissionError
            For a non-fence item, a mission type other than 1, or a truncated polygon.
        """
        items = list(items)
        polygons: list[FencePolygon] = []
        circles: list[FenceCircle] = []
        i = 0
        while i < len(items):
            item = items[i]
            if item.mission_type != MissionType.FENCE:
                raise MissionError(f"fence item {i}: mission_type must be 1 (fence), got {item.mission_type}")
            if item.command in (Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION):
                count = item.param1
                if not (math.isfinite(count) and count >= 3 and count == int(count)):
                    raise MissionError(f"fence item {i}: polygon vertex count (param1) must be an integer >= 3, got {count}")
                n = int(count)
                run = items[i : i + n]
                if len(run) < n or any(r.command != item.command or r.param1 != count for r in run):
                    raise MissionError(f"fence item {i}: polygon of {n} vertices is truncated or mixed")
                polygons.append(
                    FencePolygon(
                        tuple((r.x / 1e7, r.y / 1e7) for r in run),
                        inclusion=item.command == Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION,
                    )
                )
                i += n
            elif item.command in (Cmd.NAV_FENCE_CIRCLE_INCLUSION, Cmd.NAV_FENCE_CIRCLE_EXCLUSION):
                circles.append(
                    FenceCircle(
                        item.x / 1e7,
                        item.y / 1e7,
                        item.param1,
                        inclusion=item.command == Cmd.NAV_FENCE_CIRCLE_INCLUSION,
                    )
                )
                i += 1
            else:
                raise MissionError(f"fence item {i}: command {item.command} is not a fence command (5001-5004)")
        return cls(tuple(polygons), tuple(circles))

    # ------------------------------------------------------------------ QGroundControl .plan
    def to_qgc(self) -> dict[str, Any]:
        """The ``geoFence`` section of a QGroundControl ``.plan`` (version 2).

        Examples
        --------
        >>> Geofence(circles=(FenceCircle(-6.8, 110.8, 500.0, inclusion=False),)).to_qgc()
        {'circles': [{'circle': {'center': [-6.8, 110.8], 'radius': 500.0}, 'inclusion': False, 'version': 1}], 'polygons': [], 'version': 2}
        """
        return {
            "circles": [
                {
                    "circle": {"center": [c.lat_deg, c.lon_deg], "radius": c.radius_m},
                    "inclusion": c.inclusion,
                    "version": 1,
                }
                for c in self.circles
            ],
            "polygons": [
                {
                    "inclusion": p.inclusion,
                    "polygon": [[lat, lon] for lat, lon in p.vertices],
                    "version": 1,
                }
                for p in self.polygons
            ],
            "version": 2,
        }

    @classmethod
    def from_qgc(cls, obj: Mapping[str, Any], path: str = "geoFence") -> Geofence:
        """Read the ``geoFence`` section of a ``.plan``.

        Version 1 sections (QGC before 3.4) carry no usable fence and read as an empty fence, as
        QGroundControl itself does. A ``breachReturn`` point (ArduPilot only) is ignored.

        Raises
        ------
        PlanFormatError
            Naming the JSON path of the offending value.
        """
        if not isinstance(obj, Mapping):
            raise PlanFormatError(f"{path}: must be an object")
        version = obj.get("version")
        if version is None or version == 1:
            return cls()
        if version != 2:
            raise PlanFormatError(f"{path}.version: only version 2 is supported, got {version!r}")
        polygons_json = obj.get("polygons", [])
        circles_json = obj.get("circles", [])
        if not isinstance(polygons_json, list):
            raise PlanFormatError(f"{path}.polygons: must be a list")
        if not isinstance(circles_json, list):
            raise PlanFormatError(f"{path}.circles: must be a list")
        polygons = []
        for i, pj in enumerate(polygons_json):
            p = f"{path}.polygons[{i}]"
            if not isinstance(pj, Mapping):
                raise PlanFormatError(f"{p}: must be an object")
            inclusion = pj.get("inclusion", True)
            if not isinstance(inclusion, bool):
                raise PlanFormatError(f"{p}.inclusion: must be true or false")
            verts = pj.get("polygon")
            if not isinstance(verts, list):
                raise PlanFormatError(f"{p}.polygon: must be a list of [lat, lon] pairs")
            coords = [_latlon_pair(v, f"{p}.polygon[{k}]") for k, v in enumerate(verts)]
            try:
                polygons.append(FencePolygon(tuple(coords), inclusion=inclusion))
            except MissionError as exc:
                raise PlanFormatError(f"{p}: {exc}") from exc
        circles = []
        for i, cj in enumerate(circles_json):
            p = f"{path}.circles[{i}]"
            if not isinstance(cj, Mapping):
                raise PlanFormatError(f"{p}: must be an object")
            inclusion = cj.get("inclusion", True)
            if not isinstance(inclusion, bool):
                raise PlanFormatError(f"{p}.inclusion: must be true or false")
            circle = cj.get("circle")
            if not isinstance(circle, Mapping):
                raise PlanFormatError(f"{p}.circle: must be an object with center and radius")
            lat, lon = _latlon_pair(circle.get("center"), f"{p}.circle.center")
            radius = circle.get("radius")
            if not _is_number(radius):
                raise PlanFormatError(f"{p}.circle.radius: must be a number")
            try:
                circles.append(FenceCircle(lat, lon, float(radius), inclusion=inclusion))
            except MissionError as exc:
                raise PlanFormatError(f"{p}: {exc}") from exc
        return cls(tuple(polygons), tuple(circles))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _latlon_pair(value: Any, path: str) -> tuple[float, float]:
    if not (isinstance(value, Sequence) and not isinstance(value, str) and len(value) >= 2):
        raise PlanFormatError(f"{path}: must be [lat, lon]")
    lat, lon = value[0], value[1]
    if not (_is_number(lat) and _is_number(lon)):
        raise PlanFormatError(f"{path}: latitude and longitude must be numbers")
    return float(lat), float(lon)
