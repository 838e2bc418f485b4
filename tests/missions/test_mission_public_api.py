"""Pins the public names of the mission-format, energy and pattern modules in ``missions``."""

from __future__ import annotations

import missions

NAMES = {
    "MissionError", "PlanFormatError", "PatternError",
    "MavlinkItem", "MissionType", "Frame", "Cmd",
    "Mission", "MissionItem", "NavWaypoint", "Takeoff", "Land", "ReturnToLaunch", "LoiterTime", "Orbit",
    "Delay", "ChangeSpeed", "SetRoi", "RawItem", "HomePosition", "RallyPoint",
    "Geofence", "FencePolygon", "FenceCircle",
    "plan_to_dict", "plan_from_dict", "dumps_plan", "loads_plan", "save_plan", "load_plan",
    "mission_to_geojson", "geofence_to_geojson", "route_to_geojson", "pattern_to_geojson",
    "EnergyProfile", "Wind", "LegEstimate", "FlightEstimate", "Feasibility", "ground_speed_m_s",
    "leg_estimate", "path_estimate", "mission_estimate", "eta_s", "assess_feasibility", "max_onscene_s",
    "Pattern", "Adjustment", "OfficerFix", "OfficerMotion", "onscene_hold", "orbit_waypoints", "orbit_item",
    "expanding_square", "lawnmower", "officer_motion", "escort_along_route", "escort_from_fixes",
}  # fmt: skip


def test_names_are_exported() -> None:
    assert NAMES <= set(missions.__all__)
    for name in NAMES:
        assert getattr(missions, name) is not None


def test_issue_entry_points_keep_their_names() -> None:
    m = missions.Mission([missions.NavWaypoint(-6.8048, 110.8405, 60.0)], home=missions.HomePosition(-6.8048, 110.8405))
    assert missions.Mission.from_qgc_plan(m.to_qgc_plan()) == m
    assert [i.command for i in m.to_mission_items()] == [16]


def test_public_functions_have_numpy_style_docstrings() -> None:
    for name in NAMES:
        obj = getattr(missions, name)
        if callable(obj) and not isinstance(obj, type(missions.MissionItem)):
            doc = obj.__doc__ or ""
            assert len(doc.strip()) > 20, name
