"""PX4-like parameter store. CONTRACT: signatures below are pinned; the model's owner fills them in."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Params", "ParamType", "ParamSpec"]


class ParamType(enum.IntEnum):
    """MAV_PARAM_TYPE values PX4 uses."""

    INT32 = 6
    REAL32 = 9


@dataclass(frozen=True, slots=True)
class ParamSpec:
    name: str  # <= 16 characters
    type: ParamType
    default: float
    min: float | None = None
    max: float | None = None


class Params:
    """Ordered name -> value table with PX4 defaults (see PX4's parameter definitions)."""

    @classmethod
    def px4_defaults(cls) -> Params:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def names(self) -> list[str]:
        """In index order (PARAM_VALUE.param_index)."""
        raise NotImplementedError

    def spec(self, name: str) -> ParamSpec:
        """KeyError for an unknown name."""
        raise NotImplementedError

    def get(self, name: str) -> float:
        raise NotImplementedError

    def set(self, name: str, value: float) -> float:
        """Store (INT32 values rounded); returns the stored value; ValueError when out of range."""
        raise NotImplementedError

    def index(self, name: str) -> int:
        raise NotImplementedError
