"""Geofence as PX4 stores it: inclusion/exclusion polygons and circles (MAV_CMD 5001-5004).

Validation follows PX4's ``Geofence``/mission feasibility rules: polygon vertices come in runs of
exactly ``param1`` consecutive items of the same command (at least 3), circles need a positive radius,
all items in a global frame. A point breaches the fence when there are inclusion areas and it is in
none of them, or when it is inside any exclusion area (PX4 semantics). Geometry is evaluated in a
local north/east frame around a reference point (the home position), which keeps a check to a few
microseconds per vertex.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from sim.geo import ne_offset_m
from sim.items import Item

__all__ = [
    "Fence",
    "FenceError",
    "NAV_FENCE_RETURN_POINT",
    "NAV_FENCE_POLYGON_VERTEX_INCLUSION",
    "NAV_FENCE_POLYGON_VERTEX_EXCLUSION",
    "NAV_FENCE_CIRCLE_INCLUSION",
    "NAV_FENCE_CIRCLE_EXCLUSION",
]

NAV_FENCE_RETURN_POINT = 5000
NAV_FENCE_POLYGON_VERTEX_INCLUSION = 5001
NAV_FENCE_POLYGON_VERTEX_EXCLUSION = 5002
NAV_FENCE_CIRCLE_INCLUSION = 5003
NAV_FENCE_CIRCLE_EXCLUSION = 5004
_GLOBAL_FRAMES = frozenset({0, 3, 5, 6, 10, 11})


class FenceError(ValueError):
    """The uploaded fence items do not describe valid areas."""


@dataclass(frozen=True, slots=True)
class _Polygon:
    inclusion: bool
    vertices_deg: tuple[tuple[float, float], ...]  # (lat, lon)


@dataclass(frozen=True, slots=True)
class _Circle:
    inclusion: bool
    lat_deg: float
    lon_deg: float
    radius_m: float


class Fence:
    """Parsed fence areas. Build with :meth:`from_items` (raises :class:`FenceError`)."""

    def __init__(self, polygons: Sequence[_Polygon] = (), circles: Sequence[_Circle] = ()) -> None:
        self.polygons = tuple(polygons)
        self.circles = tuple(circles)
        self._ref: tuple[float, float] | None = None
        self._local_polys: list[tuple[bool, list[tuple[float, float]]]] = []
        self._local_circles: list[tuple[bool, float, float, float]] = []

    @property
    def empty(self) -> bool:
        return not self.polygons and not self.circles

    @classmethod
    def from_items(cls, items: Sequence[Item]) -> Fence:
        polygons: list[_Polygon] = []
        circles: list[_Circle] = []
        i = 0
        n = len(items)
        while i < n:
            it = items[i]
            if it.command in (NAV_FENCE_POLYGON_VERTEX_INCLUSION, NAV_FENCE_POLYGON_VERTEX_EXCLUSION):
                count = int(round(it.param1))
                if count < 3:
                    raise FenceError(f"fence item {it.seq}: polygon needs >= 3 vertices, param1={it.param1}")
                run = items[i:i + count]
                if len(run) < count or any(
                    r.command != it.command or int(round(r.param1)) != count for r in run
                ):
                    raise FenceError(f"fence item {it.seq}: polygon of {count} vertices is incomplete")
                for r in run:
                    _check_global(r)
                polygons.append(_Polygon(
                    it.command == NAV_FENCE_POLYGON_VERTEX_INCLUSION,
                    tuple((r.x * 1e-7, r.y * 1e-7) for r in run),
                ))
                i += count
            elif it.command in (NAV_FENCE_CIRCLE_INCLUSION, NAV_FENCE_CIRCLE_EXCLUSION):
                _check_global(it)
                if not (it.param1 > 0.0) or not math.isfinite(it.param1):
                    raise FenceError(f"fence item {it.seq}: circle radius must be > 0, got {it.param1}")
                circles.append(_Circle(it.command == NAV_FENCE_CIRCLE_INCLUSION, it.x * 1e-7,
                                       it.y * 1e-7, float(it.param1)))
                i += 1
            elif it.command == NAV_FENCE_RETURN_POINT:
                _check_global(it)
                i += 1
            else:
                raise FenceError(f"fence item {it.seq}: command {it.command} is not a fence item")
        return cls(polygons, circles)

    def _localise(self, ref_lat: float, ref_lon: float) -> None:
        self._ref = (ref_lat, ref_lon)
        self._local_polys = [
            (p.inclusion, [ne_offset_m(ref_lat, ref_lon, la, lo) for la, lo in p.vertices_deg])
            for p in self.polygons
        ]
        self._local_circles = [
            (c.inclusion, *ne_offset_m(ref_lat, ref_lon, c.lat_deg, c.lon_deg), c.radius_m)
            for c in self.circles
        ]

    def breached(self, lat_deg: float, lon_deg: float, ref_lat: float, ref_lon: float) -> bool:
        """True when the point is outside all inclusion areas (if any) or inside an exclusion."""
        if self.empty:
            return False
        if self._ref != (ref_lat, ref_lon):
            self._localise(ref_lat, ref_lon)
        n, e = ne_offset_m(ref_lat, ref_lon, lat_deg, lon_deg)
        has_incl = False
        in_incl = False
        for inclusion, verts in self._local_polys:
            inside = _point_in_polygon(n, e, verts)
            if inclusion:
                has_incl = True
                in_incl = in_incl or inside
            elif inside:
                return True
        for inclusion, cn, ce, r in self._local_circles:
            inside = (n - cn) ** 2 + (e - ce) ** 2 <= r * r
            if inclusion:
                has_incl = True
                in_incl = in_incl or inside
            elif inside:
                return True
        return has_incl and not in_incl


def _check_global(it: Item) -> None:
    if it.frame not in _GLOBAL_FRAMES:
        raise FenceError(f"fence item {it.seq}: frame {it.frame} is not a global frame")
    if not (-90.0 <= it.x * 1e-7 <= 90.0 and -180.0 <= it.y * 1e-7 <= 180.0):
        raise FenceError(f"fence item {it.seq}: coordinates out of range")


def _point_in_polygon(n: float, e: float, verts: list[tuple[float, float]]) -> bool:
    """Even-odd ray casting in the local plane."""
    inside = False
    j = len(verts) - 1
    for i in range(len(verts)):
        ni, ei = verts[i]
        nj, ej = verts[j]
        if (ei > e) != (ej > e):
            n_cross = ni + (e - ei) * (nj - ni) / (ej - ei)
            if n < n_cross:
                inside = not inside
        j = i
    return inside
