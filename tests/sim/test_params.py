"""The PX4-like parameter table: names, types, PX4 defaults, set semantics."""

from __future__ import annotations

import pytest

from sim.params import PX4_PARAM_SPECS, Params, ParamType

# (name, type, PX4 default) — the ones the issue and MAVSDK rely on.
EXPECTED = [
    ("MIS_TAKEOFF_ALT", ParamType.REAL32, 2.5),
    ("MPC_XY_CRUISE", ParamType.REAL32, 5.0),
    ("MPC_XY_VEL_MAX", ParamType.REAL32, 12.0),
    ("MPC_Z_VEL_MAX_UP", ParamType.REAL32, 3.0),
    ("MPC_Z_VEL_MAX_DN", ParamType.REAL32, 1.5),
    ("MPC_LAND_SPEED", ParamType.REAL32, 0.7),
    ("MPC_ACC_HOR", ParamType.REAL32, 3.0),
    ("MPC_TKO_SPEED", ParamType.REAL32, 1.5),
    ("RTL_RETURN_ALT", ParamType.REAL32, 30.0),
    ("RTL_DESCEND_ALT", ParamType.REAL32, 10.0),
    ("RTL_LAND_DELAY", ParamType.REAL32, 0.0),
    ("NAV_DLL_ACT", ParamType.INT32, 0),
    ("COM_DL_LOSS_T", ParamType.INT32, 10),
    ("COM_DISARM_LAND", ParamType.REAL32, 2.0),
    ("COM_DISARM_PRFLT", ParamType.REAL32, 10.0),
    ("COM_RC_IN_MODE", ParamType.INT32, 1),
    ("COM_OF_LOSS_T", ParamType.REAL32, 1.0),
    ("COM_OBL_RC_ACT", ParamType.INT32, 0),
    ("BAT_LOW_THR", ParamType.REAL32, 0.15),
    ("BAT_CRIT_THR", ParamType.REAL32, 0.07),
    ("BAT_EMERGEN_THR", ParamType.REAL32, 0.05),
    ("COM_LOW_BAT_ACT", ParamType.INT32, 3),
    ("GF_ACTION", ParamType.INT32, 2),
    ("GF_MAX_HOR_DIST", ParamType.REAL32, 0.0),
    ("GF_MAX_VER_DIST", ParamType.REAL32, 0.0),
    ("NAV_ACC_RAD", ParamType.REAL32, 10.0),
    ("NAV_MC_ALT_RAD", ParamType.REAL32, 0.8),
    ("MIS_DIST_1WP", ParamType.REAL32, 10000.0),
    ("FLW_TGT_HT", ParamType.REAL32, 8.0),
    ("FLW_TGT_DST", ParamType.REAL32, 8.0),
    ("FLW_TGT_FA", ParamType.REAL32, 180.0),
    ("FLW_TGT_RS", ParamType.REAL32, 0.1),
    ("FLW_TGT_ALT_M", ParamType.INT32, 0),
    ("FLW_TGT_MAX_VEL", ParamType.REAL32, 5.0),
    ("SYS_AUTOSTART", ParamType.INT32, 10040),
    ("MAV_SYS_ID", ParamType.INT32, 1),
]


@pytest.mark.parametrize(("name", "ptype", "default"), EXPECTED)
def test_px4_defaults_and_types(name: str, ptype: ParamType, default: float) -> None:
    p = Params.px4_defaults()
    assert p.spec(name).type == ptype
    assert p.get(name) == default


def test_names_are_unique_short_and_indexed_in_order() -> None:
    p = Params.px4_defaults()
    names = p.names()
    assert len(names) == len(set(names)) == len(p) == len(PX4_PARAM_SPECS)
    assert all(len(n) <= 16 for n in names)
    assert [p.index(n) for n in names] == list(range(len(p)))


def test_set_rounds_int32_and_returns_stored_value() -> None:
    p = Params.px4_defaults()
    assert p.set("NAV_DLL_ACT", 2.4) == 2.0
    assert p.get("NAV_DLL_ACT") == 2.0
    assert p.set("MIS_TAKEOFF_ALT", 12.25) == 12.25


def test_set_bumps_version_so_caches_reload() -> None:
    p = Params.px4_defaults()
    v0 = p.version
    p.set("MPC_XY_CRUISE", 8.0)
    assert p.version == v0 + 1


@pytest.mark.parametrize(("name", "value"), [("GF_ACTION", 9), ("NAV_DLL_ACT", -1),
                                              ("BAT_LOW_THR", 0.9), ("MPC_XY_CRUISE", float("nan"))])
def test_out_of_range_raises_value_error_and_keeps_old_value(name: str, value: float) -> None:
    p = Params.px4_defaults()
    old = p.get(name)
    with pytest.raises(ValueError, match=name):
        p.set(name, value)
    assert p.get(name) == old


def test_unknown_name_is_key_error() -> None:
    p = Params.px4_defaults()
    with pytest.raises(KeyError):
        p.spec("NOPE_PARAM")
    with pytest.raises(KeyError):
        p.set("NOPE_PARAM", 1)


def test_instances_are_independent_and_reset_restores_defaults() -> None:
    a, b = Params.px4_defaults(), Params.px4_defaults()
    a.set("RTL_RETURN_ALT", 60)
    assert b.get("RTL_RETURN_ALT") == 30.0
    a.reset()
    assert a.get("RTL_RETURN_ALT") == 30.0
