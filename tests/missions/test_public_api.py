"""Pins ``missions.__all__``: the geodesy, airspace and routing names (here) plus the
mission-format/energy/pattern names (pinned in test_mission_public_api.py); nothing else."""

from __future__ import annotations

import ast
import doctest
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import missions
from tests.missions.test_mission_public_api import NAMES as MISSION_NAMES

NAMES = {
    "MissionsError", "AirspaceError", "AltitudeError", "NoRouteError",
    "LocalFrame", "distance_m", "bearing_deg", "destination",
    "Airspace", "Zone", "ServiceArea", "Verdict", "FlyablePoint", "ZONE_KINDS", "DEFAULT_MAX_ALT_M",
    "plan_route", "Route", "Waypoint", "Leg", "DEFAULT_MARGIN_M", "DEFAULT_CRUISE_ALT_M", "START_POLICIES",
}  # fmt: skip

MODULES = ["missions.geodesy", "missions.airspace", "missions.routing", "missions.errors"]


def test_all_is_exactly_the_pinned_names() -> None:
    assert len(missions.__all__) == len(set(missions.__all__)), "duplicate names in missions.__all__"
    assert set(missions.__all__) == NAMES | MISSION_NAMES
    for name in missions.__all__:
        assert hasattr(missions, name), name


def test_entry_point_signatures_keep_their_names() -> None:
    sig = inspect.signature(missions.plan_route)
    params = sig.parameters
    assert list(params)[:3] == ["start", "goal", "airspace"]
    for kw in ("margin_m", "cruise_alt_m", "onscene_alt_m", "at", "frame", "start_alt_m", "start_policy"):
        assert params[kw].kind is inspect.Parameter.KEYWORD_ONLY, kw
    assert params["margin_m"].default == 50.0
    assert params["start_policy"].default == "strict" and params["start_alt_m"].default is None
    fg = inspect.signature(missions.Airspace.from_geojson).parameters
    assert list(fg)[:2] == ["obj_or_path", "max_alt_m"]  # the names issue 3 gives
    # None = "what the file says, else 120 m"
    assert fg["max_alt_m"].default is None and missions.DEFAULT_MAX_ALT_M == 120.0
    empty = {"type": "FeatureCollection", "features": []}
    assert missions.Airspace.from_geojson(obj_or_path=empty).max_alt_m == 120.0
    assert missions.Airspace.from_geojson({**empty, "max_alt_m": 90}).max_alt_m == 90.0
    assert missions.Airspace.from_geojson({**empty, "max_alt_m": 90}, max_alt_m=120.0).max_alt_m == 120.0
    assert issubclass(missions.AirspaceError, ValueError)
    assert issubclass(missions.NoRouteError, missions.MissionsError)


def test_issue_entry_points_work_end_to_end() -> None:
    a = missions.Airspace.from_geojson({"type": "FeatureCollection", "features": []}, max_alt_m=100.0)
    r = missions.plan_route((-6.8048, 110.8405), (-6.7550, 111.0380), a, margin_m=50.0, cruise_alt_m=60.0)
    assert r.waypoints[0].alt_m == 60.0 and r.length_m > 22_000
    assert {"lat_deg", "lon_deg", "alt_m"} <= set(vars(r.waypoints[0]))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    if name != "missions.errors":
        assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0


@pytest.mark.parametrize("name", sorted(NAMES))
def test_public_names_have_numpy_style_docstrings(name: str) -> None:
    obj = getattr(missions, name)
    if not callable(obj):
        return
    doc = inspect.getdoc(obj) or ""
    assert len(doc) > 20, name
    if inspect.isfunction(obj):
        assert "Examples" in doc, f"{name} has no Examples section"


FORBIDDEN = {"dronectl", "sim", "asyncio", "mavsdk", "pymavlink", "socket", "fastapi", "sqlalchemy", "httpx", "urllib"}


def test_missions_imports_nothing_of_dronectl_or_sim_and_no_io_libraries() -> None:
    """Issue 3: `missions` imports nothing from dronectl or sim, and does no I/O (no asyncio,
    no network); only numpy, shapely, pyproj and the standard library's pure parts."""
    root = Path(missions.__file__).parent
    for path in sorted(root.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"
    # and importing it (in a fresh interpreter) loads none of ours
    code = "import sys, missions; print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    loaded = set(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                                cwd=root.parent).stdout.split())
    assert "missions" in loaded
    assert not loaded & {"dronectl", "sim", "mavsdk", "pymavlink", "asyncio", "fastapi"}, loaded
