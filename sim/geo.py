"""Cheap, accurate geodesy for the vehicle model (WGS84 constants taken from pyproj).

The model integrates position directly in geodetic coordinates with the ellipsoid's local radii of
curvature (meridional ``M`` and prime-vertical ``N``) evaluated at the current latitude every step.
That costs one ``sin`` and one ``sqrt`` per step instead of a pyproj call, and keeps the position
within millimetres of pyproj's geodesic over 20 km (see ``tests/sim/test_dynamics.py``).

Offsets between two nearby points (guidance, fences) use the same radii at the mid latitude
(an equirectangular projection about the midpoint): relative error below 1e-5 up to 20 km.
Exact geodesics (``distance_m``) use :class:`pyproj.Geod` for tests and rare computations.
"""

from __future__ import annotations

import math

from pyproj import Geod

__all__ = [
    "GEOD",
    "WGS84_A_M",
    "WGS84_E2",
    "radii_m",
    "ne_offset_m",
    "offset_deg",
    "distance_m",
]

GEOD = Geod(ellps="WGS84")
WGS84_A_M: float = float(GEOD.a)
WGS84_E2: float = float(GEOD.es)
_DEG = math.pi / 180.0


def radii_m(lat_deg: float) -> tuple[float, float]:
    """Metres per radian northward (M) and eastward (N cos(lat)) at ``lat_deg``.

    >>> m, n = radii_m(0.0)
    >>> round(m), round(n)
    (6335439, 6378137)
    """
    s = math.sin(lat_deg * _DEG)
    w2 = 1.0 - WGS84_E2 * s * s
    w = math.sqrt(w2)
    n = WGS84_A_M / w
    m = n * (1.0 - WGS84_E2) / w2
    return m, n * math.cos(lat_deg * _DEG)


def ne_offset_m(lat0_deg: float, lon0_deg: float, lat1_deg: float, lon1_deg: float) -> tuple[float, float]:
    """North and east metres from point 0 to point 1 (mid-latitude local frame, short ranges)."""
    m, n_cos = radii_m(0.5 * (lat0_deg + lat1_deg))
    dlon = lon1_deg - lon0_deg
    if dlon > 180.0:
        dlon -= 360.0
    elif dlon < -180.0:
        dlon += 360.0
    return (lat1_deg - lat0_deg) * _DEG * m, dlon * _DEG * n_cos


def offset_deg(lat_deg: float, lon_deg: float, north_m: float, east_m: float) -> tuple[float, float]:
    """The point ``north_m``/``east_m`` away from (lat, lon) (mid-latitude, two iterations)."""
    m, n_cos = radii_m(lat_deg)
    lat1 = lat_deg + north_m / m / _DEG
    m, n_cos = radii_m(0.5 * (lat_deg + lat1))
    lat1 = lat_deg + north_m / m / _DEG
    lon1 = lon_deg + east_m / n_cos / _DEG
    return lat1, lon1


def distance_m(lat0_deg: float, lon0_deg: float, lat1_deg: float, lon1_deg: float) -> float:
    """Geodesic distance with pyproj (exact; ~10 us per call)."""
    _, _, d = GEOD.inv(lon0_deg, lat0_deg, lon1_deg, lat1_deg)
    return float(d)
