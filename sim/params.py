"""PX4-like parameter store. CONTRACT: signatures below are pinned; the model's owner fills them in.

Names, types and defaults follow PX4's parameter definitions (``*_params.c`` / ``module.yaml`` in
PX4-Autopilot, v1.14-v1.17) for the SITL SIH quadrotor (airframe 10040). Read from PX4's sources:
FLW_TGT_* (follow_target_params.c, the six MAVSDK's FollowMe plugin reads), GF_ACTION=2,
RTL_LAND_DELAY=0, MIS_DIST_1WP=10000; the SITL values measured in the shared wire notes:
COM_RC_IN_MODE=1 (SITL start-up override), NAV_DLL_ACT=0, COM_DL_LOSS_T=10, COM_DISARM_PRFLT=10,
COM_DISARM_LAND=2, MIS_TAKEOFF_ALT=2.5, RTL_RETURN_ALT=30. The rest are PX4's documented defaults
as known to the author (MPC_*, NAV_*, BAT_*); ranges are PX4's @min/@max where known.

Deliberate deviation (documented so nobody is surprised): ``COM_LOW_BAT_ACT`` defaults to 3 here
(PX4: 0 = warning only) and value 3 means "Return at low, land at critical" in this simulator, because
the project's issue asks that low battery -> RTL and critical -> land out of the box.
``BAT1_CAPACITY`` is 5000 mAh (PX4: -1, unknown) so that the current estimate has a pack to refer to.

Example
-------
>>> p = Params.px4_defaults()
>>> p.get("MIS_TAKEOFF_ALT")
2.5
>>> p.set("NAV_DLL_ACT", 2.4)
2.0
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

__all__ = ["Params", "ParamType", "ParamSpec", "PX4_PARAM_SPECS"]


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


_I = ParamType.INT32
_F = ParamType.REAL32

#: The table, in PARAM_VALUE index order. Defaults are PX4's (see module docstring for exceptions).
PX4_PARAM_SPECS: tuple[ParamSpec, ...] = (
    # -- system ---------------------------------------------------------------------------------
    ParamSpec("MAV_SYS_ID", _I, 1, 1, 250),
    ParamSpec("MAV_COMP_ID", _I, 1, 1, 250),
    ParamSpec("MAV_TYPE", _I, 2, 0, 22),  # MAV_TYPE_QUADROTOR
    ParamSpec("SYS_AUTOSTART", _I, 10040, 0, 9999999),  # sihsim_quadx
    # -- commander ------------------------------------------------------------------------------
    ParamSpec("COM_RC_IN_MODE", _I, 1, 0, 4),  # PX4 default 3; SITL rcS sets 1 (arm without RC)
    ParamSpec("COM_DL_LOSS_T", _I, 10, 5, 300),
    ParamSpec("COM_DISARM_LAND", _F, 2.0, -1.0, 20.0),
    ParamSpec("COM_DISARM_PRFLT", _F, 10.0, -1.0, 20.0),
    ParamSpec("COM_LOW_BAT_ACT", _I, 3, 0, 3),  # see module docstring (PX4 default 0)
    ParamSpec("COM_ARM_WO_GPS", _I, 1, 0, 2),
    ParamSpec("COM_OF_LOSS_T", _F, 1.0, 0.0, 60.0),
    ParamSpec("COM_OBL_RC_ACT", _I, 0, 0, 7),  # offboard loss: 0 Position (no RC: Hold) .. 7 Disarm
    ParamSpec("COM_POS_FS_DELAY", _I, 1, 1, 100),
    ParamSpec("NAV_DLL_ACT", _I, 0, 0, 6),
    ParamSpec("NAV_RCL_ACT", _I, 2, 0, 6),
    # -- navigator / mission --------------------------------------------------------------------
    ParamSpec("NAV_ACC_RAD", _F, 10.0, 0.05, 200.0),
    ParamSpec("NAV_MC_ALT_RAD", _F, 0.8, 0.05, 200.0),
    ParamSpec("NAV_LOITER_RAD", _F, 80.0, 25.0, 1000.0),
    ParamSpec("MIS_TAKEOFF_ALT", _F, 2.5, 0.0, None),
    ParamSpec("MIS_DIST_1WP", _F, 10000.0, -1.0, 100000.0),
    ParamSpec("MIS_YAW_TMT", _F, -1.0, -1.0, 20.0),
    # -- return ---------------------------------------------------------------------------------
    ParamSpec("RTL_RETURN_ALT", _F, 30.0, 0.0, 150.0),
    ParamSpec("RTL_DESCEND_ALT", _F, 10.0, 0.0, 100.0),
    ParamSpec("RTL_LAND_DELAY", _F, 0.0, -1.0, 300.0),
    ParamSpec("RTL_MIN_DIST", _F, 10.0, 0.5, 100.0),
    ParamSpec("RTL_TYPE", _I, 0, 0, 3),
    # -- multicopter position control -----------------------------------------------------------
    ParamSpec("MPC_XY_CRUISE", _F, 5.0, 3.0, 20.0),
    ParamSpec("MPC_XY_VEL_MAX", _F, 12.0, 0.0, 20.0),
    ParamSpec("MPC_Z_VEL_MAX_UP", _F, 3.0, 0.5, 8.0),
    ParamSpec("MPC_Z_VEL_MAX_DN", _F, 1.5, 0.5, 4.0),
    ParamSpec("MPC_Z_V_AUTO_UP", _F, 3.0, 0.5, 8.0),
    ParamSpec("MPC_Z_V_AUTO_DN", _F, 1.5, 0.5, 4.0),
    ParamSpec("MPC_TKO_SPEED", _F, 1.5, 1.0, 5.0),
    ParamSpec("MPC_LAND_SPEED", _F, 0.7, 0.6, 4.0),
    ParamSpec("MPC_LAND_ALT1", _F, 10.0, 0.0, 122.0),
    ParamSpec("MPC_LAND_ALT2", _F, 5.0, 0.0, 122.0),
    ParamSpec("MPC_ACC_HOR", _F, 3.0, 2.0, 15.0),
    ParamSpec("MPC_ACC_HOR_MAX", _F, 5.0, 2.0, 15.0),
    ParamSpec("MPC_ACC_UP_MAX", _F, 4.0, 1.0, 15.0),
    ParamSpec("MPC_ACC_DOWN_MAX", _F, 3.0, 1.0, 15.0),
    ParamSpec("MPC_YAWRAUTO_MAX", _F, 45.0, 0.0, 360.0),
    ParamSpec("MPC_TILTMAX_AIR", _F, 45.0, 20.0, 89.0),
    # -- battery --------------------------------------------------------------------------------
    ParamSpec("BAT_LOW_THR", _F, 0.15, 0.12, 0.5),
    ParamSpec("BAT_CRIT_THR", _F, 0.07, 0.05, 0.5),
    ParamSpec("BAT_EMERGEN_THR", _F, 0.05, 0.03, 0.5),
    ParamSpec("BAT1_N_CELLS", _I, 4, 1, 16),
    ParamSpec("BAT1_V_CHARGED", _F, 4.05, 0.0, 5.0),
    ParamSpec("BAT1_V_EMPTY", _F, 3.6, 0.0, 5.0),
    ParamSpec("BAT1_CAPACITY", _F, 5000.0, -1.0, 100000.0),  # PX4: -1 (unknown); sim pack 5 Ah
    # -- geofence -------------------------------------------------------------------------------
    ParamSpec("GF_ACTION", _I, 2, 0, 5),
    ParamSpec("GF_MAX_HOR_DIST", _F, 0.0, 0.0, 10000.0),
    ParamSpec("GF_MAX_VER_DIST", _F, 0.0, 0.0, 10000.0),
    ParamSpec("GF_PREDICT", _I, 0, 0, 1),
    # -- follow target (what MAVSDK's FollowMe plugin reads and writes) --------------------------
    ParamSpec("FLW_TGT_HT", _F, 8.0, 8.0, None),
    ParamSpec("FLW_TGT_DST", _F, 8.0, 1.0, None),
    ParamSpec("FLW_TGT_FA", _F, 180.0, -180.0, 180.0),
    ParamSpec("FLW_TGT_RS", _F, 0.1, 0.0, 1.0),
    ParamSpec("FLW_TGT_ALT_M", _I, 0, 0, 2),
    ParamSpec("FLW_TGT_MAX_VEL", _F, 5.0, 0.0, 20.0),
)


class Params:
    """Ordered name -> value table with PX4 defaults (see PX4's parameter definitions)."""

    def __init__(self, specs: tuple[ParamSpec, ...] | list[ParamSpec] = PX4_PARAM_SPECS) -> None:
        self._specs: dict[str, ParamSpec] = {}
        self._values: dict[str, float] = {}
        self._index: dict[str, int] = {}
        for i, s in enumerate(specs):
            if len(s.name) > 16:
                raise ValueError(f"parameter name longer than 16 characters: {s.name}")
            if s.name in self._specs:
                raise ValueError(f"duplicate parameter {s.name}")
            self._specs[s.name] = s
            self._values[s.name] = float(s.default)
            self._index[s.name] = i
        self._names = [s.name for s in specs]
        #: bumped on every successful set, so a cache can tell when to re-read
        self.version = 0

    @classmethod
    def px4_defaults(cls) -> Params:
        return cls(PX4_PARAM_SPECS)

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def names(self) -> list[str]:
        """In index order (PARAM_VALUE.param_index)."""
        return list(self._names)

    def spec(self, name: str) -> ParamSpec:
        """KeyError for an unknown name."""
        return self._specs[name]

    def get(self, name: str) -> float:
        return self._values[name]

    def set(self, name: str, value: float) -> float:
        """Store (INT32 values rounded); returns the stored value; ValueError when out of range."""
        spec = self._specs[name]
        v = float(value)
        if not math.isfinite(v):
            raise ValueError(f"{name}: value must be finite, got {value!r}")
        if spec.type == ParamType.INT32:
            v = float(round(v))
        if spec.min is not None and v < spec.min:
            raise ValueError(f"{name}: {v} below minimum {spec.min}")
        if spec.max is not None and v > spec.max:
            raise ValueError(f"{name}: {v} above maximum {spec.max}")
        self._values[name] = v
        self.version += 1
        return v

    def index(self, name: str) -> int:
        return self._index[name]

    def reset(self) -> None:
        """All values back to their defaults."""
        for name, s in self._specs.items():
            self._values[name] = float(s.default)
        self.version += 1
