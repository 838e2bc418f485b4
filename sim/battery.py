"""Battery model: a pack that drains with time and effort.

Power drawn is hover power scaled by effort (climbing and fast flight cost more, descending a bit
less); a full pack lasts :data:`HOVER_ENDURANCE_S` (25 minutes) of hover. Voltage falls linearly from
``n_cells * v_charged`` to ``n_cells * v_empty`` with remaining charge, minus a small sag under load
(internal resistance); current is power over voltage.
"""

from __future__ import annotations

__all__ = ["Battery", "HOVER_ENDURANCE_S"]

HOVER_ENDURANCE_S = 25.0 * 60.0
_INTERNAL_RESISTANCE_OHM = 0.02
_IDLE_FRACTION = 0.01  # disarmed avionics draw, relative to hover power


class Battery:
    """State of charge in [0, 1] and an electrical estimate for BATTERY_STATUS."""

    __slots__ = ("remaining", "n_cells", "v_charged_cell", "v_empty_cell", "capacity_mah",
                 "current_a", "voltage_v", "_hover_power_w")

    def __init__(self, n_cells: int = 4, v_charged_cell: float = 4.05, v_empty_cell: float = 3.6,
                 capacity_mah: float = 5000.0) -> None:
        self.remaining = 1.0
        self.n_cells = n_cells
        self.v_charged_cell = v_charged_cell
        self.v_empty_cell = v_empty_cell
        self.capacity_mah = capacity_mah
        # Energy of the pack at the mean voltage, spent in HOVER_ENDURANCE_S of hover.
        mean_v = n_cells * 0.5 * (v_charged_cell + v_empty_cell)
        self._hover_power_w = capacity_mah / 1000.0 * mean_v * 3600.0 / HOVER_ENDURANCE_S
        self.current_a = 0.0
        self.voltage_v = self._ocv()

    def _ocv(self) -> float:
        r = min(1.0, max(0.0, self.remaining))
        return self.n_cells * (self.v_empty_cell + (self.v_charged_cell - self.v_empty_cell) * r)

    @staticmethod
    def effort(armed: bool, in_air: bool, speed_h_m_s: float, climb_m_s: float) -> float:
        """Power relative to hover: 1.0 hovering, more when climbing or fast, idle when disarmed."""
        if not armed:
            return _IDLE_FRACTION
        if not in_air:
            return 0.15  # spinning on the ground
        e = 1.0 + 0.004 * speed_h_m_s * speed_h_m_s  # +58 % at 12 m/s (drag)
        if climb_m_s > 0.0:
            e += 0.15 * climb_m_s  # +45 % at 3 m/s up
        else:
            e += 0.05 * climb_m_s  # a little less descending
        return e

    def step(self, dt_s: float, effort: float) -> None:
        power_w = self._hover_power_w * effort
        self.remaining = max(0.0, self.remaining - effort * dt_s / HOVER_ENDURANCE_S)
        ocv = self._ocv()
        # I = P / V with sag V = OCV - I R, solved once (fixed point, close enough at these loads).
        i = power_w / ocv
        v = ocv - i * _INTERNAL_RESISTANCE_OHM
        self.current_a = power_w / v
        self.voltage_v = v

    def set_remaining(self, fraction: float) -> None:
        self.remaining = min(1.0, max(0.0, fraction))
        self.voltage_v = self._ocv() - self.current_a * _INTERNAL_RESISTANCE_OHM
