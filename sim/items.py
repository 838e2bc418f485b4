"""Mission items as the simulated vehicle stores them (MISSION_ITEM_INT, field for field)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Item", "MISSION", "FENCE", "RALLY"]

MISSION = 0
FENCE = 1
RALLY = 2


@dataclass(frozen=True, slots=True)
class Item:
    seq: int
    frame: int
    command: int
    param1: float = 0.0
    param2: float = 0.0
    param3: float = 0.0
    param4: float = 0.0
    x: int = 0  # latitude * 1e7 (or local x for non-global frames)
    y: int = 0  # longitude * 1e7
    z: float = 0.0
    current: int = 0
    autocontinue: int = 1
    mission_type: int = MISSION
