"""Point-mass multicopter dynamics and the small guidance laws that drive it.

:class:`PointMass` holds the true kinematic state (geodetic position, NED velocity, yaw, tilt) and
follows a velocity setpoint with acceleration limits, a yaw setpoint with a yaw-rate limit, and tilts
with the acceleration it produces (as a multicopter must). Position is integrated in geodetic
coordinates with the local ellipsoid radii (see :mod:`sim.geo`), re-evaluated whenever the latitude
has moved by more than ~1 m, so no pyproj call is made per step and 20 km flights stay within
centimetres of pyproj's geodesic.

Guidance (:func:`velocity_toward`) turns "fly to this point and arrive at this speed" into a
velocity setpoint that brakes in time (``v = sqrt(v_end^2 + 2 a d)``) and never exceeds the cruise
speed: the shape of PX4's trajectory generator, without jerk limits.
"""

from __future__ import annotations

import math

from sim.geo import radii_m

__all__ = ["PointMass", "velocity_toward", "GRAVITY_M_S2", "wrap_deg"]

GRAVITY_M_S2 = 9.80665
_DEG = math.pi / 180.0
_RAD = 180.0 / math.pi
_RADII_REFRESH_DEG = 1e-5  # ~1 m of latitude


def wrap_deg(a: float) -> float:
    """Wrap an angle to [-180, 180)."""
    return (a + 180.0) % 360.0 - 180.0


class PointMass:
    """Kinematic state of the vehicle. Altitudes AMSL in metres; velocities NED in m/s."""

    __slots__ = (
        "lat_deg", "lon_deg", "alt_amsl_m", "vn_m_s", "ve_m_s", "vd_m_s", "yaw_deg", "roll_rad",
        "pitch_rad", "_m_per_rad", "_e_per_rad", "_radii_lat_deg",
    )

    def __init__(self, lat_deg: float, lon_deg: float, alt_amsl_m: float, yaw_deg: float = 0.0) -> None:
        self.lat_deg = lat_deg
        self.lon_deg = lon_deg
        self.alt_amsl_m = alt_amsl_m
        self.vn_m_s = 0.0
        self.ve_m_s = 0.0
        self.vd_m_s = 0.0
        self.yaw_deg = yaw_deg % 360.0
        self.roll_rad = 0.0
        self.pitch_rad = 0.0
        self._radii_lat_deg = lat_deg
        self._m_per_rad, self._e_per_rad = radii_m(lat_deg)

    def reset(self, lat_deg: float, lon_deg: float, alt_amsl_m: float) -> None:
        """Put the vehicle at rest at a point."""
        self.__init__(lat_deg, lon_deg, alt_amsl_m, self.yaw_deg)  # type: ignore[misc]

    @property
    def ground_speed_m_s(self) -> float:
        return math.hypot(self.vn_m_s, self.ve_m_s)

    def step(
        self,
        dt_s: float,
        vn_sp: float,
        ve_sp: float,
        vd_sp: float,
        yaw_sp_deg: float | None,
        acc_hor_m_s2: float,
        acc_up_m_s2: float,
        acc_down_m_s2: float,
        yaw_rate_deg_s: float,
    ) -> None:
        """Follow the velocity setpoint for ``dt_s`` seconds under the acceleration limits."""
        # Horizontal: change velocity toward the setpoint by at most acc*dt (vector limit).
        dvn = vn_sp - self.vn_m_s
        dve = ve_sp - self.ve_m_s
        dv = math.hypot(dvn, dve)
        max_dv = acc_hor_m_s2 * dt_s
        if dv > max_dv:
            k = max_dv / dv
            dvn *= k
            dve *= k
        # Vertical (NED: negative vd is climbing); "up" acceleration limit when speeding upward.
        dvd = vd_sp - self.vd_m_s
        lim = (acc_up_m_s2 if dvd < 0.0 else acc_down_m_s2) * dt_s
        if dvd > lim:
            dvd = lim
        elif dvd < -lim:
            dvd = -lim
        vn0, ve0, vd0 = self.vn_m_s, self.ve_m_s, self.vd_m_s
        vn1, ve1, vd1 = vn0 + dvn, ve0 + dve, vd0 + dvd
        self.vn_m_s, self.ve_m_s, self.vd_m_s = vn1, ve1, vd1

        # Position: trapezoidal integration in geodetic coordinates with cached local radii.
        lat = self.lat_deg
        if abs(lat - self._radii_lat_deg) > _RADII_REFRESH_DEG:
            self._radii_lat_deg = lat
            self._m_per_rad, self._e_per_rad = radii_m(lat)
        half = 0.5 * dt_s
        self.lat_deg = lat + (vn0 + vn1) * half / self._m_per_rad * _RAD
        lon = self.lon_deg + (ve0 + ve1) * half / self._e_per_rad * _RAD
        if lon >= 180.0:
            lon -= 360.0
        elif lon < -180.0:
            lon += 360.0
        self.lon_deg = lon
        self.alt_amsl_m -= (vd0 + vd1) * half

        # Yaw toward the setpoint at a limited rate.
        if yaw_sp_deg is not None:
            err = wrap_deg(yaw_sp_deg - self.yaw_deg)
            max_dyaw = yaw_rate_deg_s * dt_s
            if err > max_dyaw:
                err = max_dyaw
            elif err < -max_dyaw:
                err = -max_dyaw
            self.yaw_deg = (self.yaw_deg + err) % 360.0

        # Tilt: a multicopter leans into its horizontal acceleration (plus a little for drag).
        if dt_s > 0.0:
            an = dvn / dt_s + 0.05 * vn1
            ae = dve / dt_s + 0.05 * ve1
            cy = math.cos(self.yaw_deg * _DEG)
            sy = math.sin(self.yaw_deg * _DEG)
            a_fwd = an * cy + ae * sy
            a_right = -an * sy + ae * cy
            self.pitch_rad = -math.atan(a_fwd / GRAVITY_M_S2)
            self.roll_rad = math.atan(a_right / GRAVITY_M_S2)

    def offset_to(self, lat_deg: float, lon_deg: float) -> tuple[float, float]:
        """North/east metres from the vehicle to a point (cached radii; fine within a few km)."""
        return (
            (lat_deg - self.lat_deg) * _DEG * self._m_per_rad,
            wrap_deg(lon_deg - self.lon_deg) * _DEG * self._e_per_rad,
        )


def velocity_toward(
    dn_m: float, de_m: float, v_max_m_s: float, acc_m_s2: float, v_end_m_s: float = 0.0
) -> tuple[float, float, float]:
    """Horizontal velocity setpoint toward an offset, braking to ``v_end_m_s`` on arrival.

    Returns ``(vn, ve, distance_m)``. The speed is ``min(v_max, sqrt(v_end^2 + 2 a d), v_end + d)``:
    the last term is a proportional approach that settles without overshoot at the 50 Hz step.

    >>> vn, ve, d = velocity_toward(100.0, 0.0, 5.0, 3.0)
    >>> (round(vn, 3), ve, d)
    (5.0, 0.0, 100.0)
    """
    d = math.hypot(dn_m, de_m)
    if d < 1e-6:
        return 0.0, 0.0, d
    # 0.8 * a leaves margin so the point mass, which only approximates the braking curve step by
    # step, does not overshoot.
    v = min(v_max_m_s, math.sqrt(v_end_m_s * v_end_m_s + 1.6 * acc_m_s2 * d), v_end_m_s + d)
    k = v / d
    return dn_m * k, de_m * k, d
