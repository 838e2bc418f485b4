"""Helpers that drive a :class:`sim.vehicle.Vehicle` in simulated time (tests, benchmarks, scripts).

Everything here advances the model by fixed steps; nothing reads the wall clock.

Example
-------
>>> from sim.vehicle import Home, Vehicle
>>> v = Vehicle(Home(-6.2, 106.8, 10.0))
>>> wait_until_ready(v) <= 10.0
True
"""

from __future__ import annotations

from collections.abc import Callable

from sim.vehicle import Event, Vehicle

__all__ = ["run_for", "run_until", "wait_until_ready", "TimeoutInSimError", "DT_S"]

#: Default model step (the runtime steps at up to 50 Hz simulated).
DT_S = 0.05


class TimeoutInSimError(AssertionError):
    """A condition did not become true within the allowed simulated time."""


def run_for(vehicle: Vehicle, seconds: float, *, dt_s: float = DT_S,
            events: list[Event] | None = None, gcs: bool = False) -> None:
    """Step ``vehicle`` for ``seconds`` of simulated time.

    ``events`` collects drained events; ``gcs=True`` sends a GCS heartbeat every simulated second
    (as a connected ground station would), so link-loss failsafes stay quiet.
    """
    n = int(round(seconds / dt_s))
    next_hb = 0.0
    for _ in range(n):
        if gcs and vehicle.time_us * 1e-6 >= next_hb:
            vehicle.gcs_heartbeat()
            next_hb = vehicle.time_us * 1e-6 + 1.0
        vehicle.step(dt_s)
        if events is not None:
            events.extend(vehicle.drain_events())


def run_until(vehicle: Vehicle, cond: Callable[[Vehicle], bool], timeout_s: float, *,
              dt_s: float = DT_S, events: list[Event] | None = None, gcs: bool = False) -> float:
    """Step until ``cond(vehicle)`` is true; returns the simulated seconds it took.

    Raises :class:`TimeoutInSimError` after ``timeout_s`` simulated seconds.
    """
    t0 = vehicle.time_us
    limit_us = int(timeout_s * 1e6)
    next_hb = vehicle.time_us * 1e-6
    while not cond(vehicle):
        if vehicle.time_us - t0 > limit_us:
            raise TimeoutInSimError(f"condition not met within {timeout_s} s of simulated time")
        if gcs and vehicle.time_us * 1e-6 >= next_hb:
            vehicle.gcs_heartbeat()
            next_hb = vehicle.time_us * 1e-6 + 1.0
        vehicle.step(dt_s)
        if events is not None:
            events.extend(vehicle.drain_events())
    return (vehicle.time_us - t0) * 1e-6


def wait_until_ready(vehicle: Vehicle, timeout_s: float = 30.0) -> float:
    """Step until the estimator reports a valid global position (arming allowed)."""
    return run_until(vehicle, lambda v: v.position_ok, timeout_s)
