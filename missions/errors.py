"""Errors raised by ``missions``.

All errors are ordinary Python exceptions with a message meant for an operator: they name the
thing that is wrong (a GeoJSON feature by index and name, a zone, a start or goal point) and why.

Other modules of ``missions`` add their own errors here (additively).
"""

from __future__ import annotations

__all__ = ["MissionsError", "AirspaceError", "NoRouteError", "AltitudeError"]


class MissionsError(Exception):
    """Base class of every error raised on purpose by ``missions``."""


class AirspaceError(MissionsError, ValueError):
    """Airspace data is invalid (bad GeoJSON, self-intersecting polygon, coordinate out of range,
    unknown zone kind, missing radius...). The message names the feature by index and name.

    Attributes
    ----------
    problems : tuple of str
        Every problem found (the message lists them all), one per line.
    """

    def __init__(self, message: str, problems: tuple[str, ...] | list[str] = ()) -> None:
        super().__init__(message)
        self.problems = tuple(problems) if problems else (message,)


class NoRouteError(MissionsError):
    """No legal route exists: start or goal inside a (buffered) zone, or the goal is enclosed.

    Attributes
    ----------
    reason : str
        Machine-readable reason: ``"start_in_zone"``, ``"goal_in_zone"``, ``"unreachable"``.
    zone : str or None
        Name of the zone involved, when one is.
    """

    def __init__(self, message: str, *, reason: str = "unreachable", zone: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.zone = zone


class AltitudeError(MissionsError, ValueError):
    """A requested altitude is above the airspace's maximum altitude or otherwise illegal."""


# --- mission formats, energy and patterns (added by the mission-format/energy/patterns work) ---
__all__ += ["MissionError", "PlanFormatError", "PatternError"]


class MissionError(MissionsError, ValueError):
    """A mission value or MAVLink item is invalid (a field out of range, an unknown mission type,
    an item that cannot be represented). The message names the item index and the field."""


class PlanFormatError(MissionsError, ValueError):
    """A QGroundControl ``.plan`` document is malformed or uses something we cannot read.

    The message gives the JSON path of the offending value (``mission.items[3].params``)."""


class PatternError(MissionsError, ValueError):
    """A flight pattern cannot be built from the given arguments (e.g. a search area that is
    entirely inside no-fly zones, a non-positive track spacing)."""
