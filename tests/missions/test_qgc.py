"""QGroundControl .plan read/write."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings

from missions.errors import PlanFormatError
from missions.geofence import FenceCircle, FencePolygon, Geofence
from missions.mission import (
    HomePosition,
    Mission,
    NavWaypoint,
    RallyPoint,
    RawItem,
    ReturnToLaunch,
    SetRoi,
    Takeoff,
)
from missions.qgc import dumps_plan, load_plan, loads_plan, plan_from_dict, plan_to_dict, save_plan
from tests.missions.strategies import item_key, missions_

DATA = Path(__file__).parent / "data"
TYPICAL = DATA / "qgc_typical_px4.plan"


# ----------------------------------------------------------------------------- QGC's own checks
def _is_double(v: Any) -> bool:
    # QGC's JsonHelper accepts null where a double is expected (it stands for NaN)
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


def _require(obj: dict, key: str, check, path: str) -> None:
    assert key in obj, f"{path}: QGroundControl requires key {key!r}"
    assert check(obj[key]), f"{path}.{key}: wrong type {obj[key]!r}"


def assert_qgroundcontrol_loads(plan: dict) -> None:
    """The checks QGroundControl 4.x makes when it opens a .plan (PlanMasterController::load,
    MissionController::_loadJsonMissionFileV2, SimpleMissionItem/MissionItem::load,
    GeoFenceController::load, QGCMapCircle/QGCFencePolygon, RallyPointController::load)."""
    assert plan["fileType"] == "Plan" and plan["version"] == 1
    assert isinstance(plan["groundStation"], str)
    mission = plan["mission"]
    assert mission["version"] == 2
    _require(mission, "plannedHomePosition", lambda v: isinstance(v, list) and len(v) == 3 and all(map(_is_double, v)), "mission")
    _require(mission, "items", lambda v: isinstance(v, list), "mission")
    _require(mission, "firmwareType", _is_double, "mission")
    for key in ("vehicleType", "cruiseSpeed", "hoverSpeed", "globalPlanAltitudeMode"):
        if key in mission:
            assert _is_double(mission[key]), key
    for i, item in enumerate(mission["items"]):
        path = f"mission.items[{i}]"
        assert item["type"] == "SimpleItem", path
        _require(item, "frame", lambda v: isinstance(v, int), path)
        _require(item, "command", lambda v: isinstance(v, int), path)
        _require(item, "autoContinue", lambda v: isinstance(v, bool), path)
        _require(item, "params", lambda v: isinstance(v, list) and len(v) == 7 and all(map(_is_double, v)), path)
        if "doJumpId" in item:
            assert isinstance(item["doJumpId"], int) and item["doJumpId"] >= 1, path
        alt_keys = {"AltitudeMode", "Altitude", "AMSLAltAboveTerrain"}
        present = alt_keys & item.keys()
        assert present in (set(), alt_keys), f"{path}: altitude keys come all together or not at all"
        if present:
            assert all(_is_double(item[k]) for k in alt_keys), path
            assert item["AltitudeMode"] in (1, 2, 3, 4), path
    fence = plan["geoFence"]
    assert fence["version"] == 2
    _require(fence, "circles", lambda v: isinstance(v, list), "geoFence")
    _require(fence, "polygons", lambda v: isinstance(v, list), "geoFence")
    for c in fence["circles"]:
        assert isinstance(c["inclusion"], bool)
        assert isinstance(c["circle"]["center"], list) and len(c["circle"]["center"]) == 2
        assert _is_double(c["circle"]["radius"])
    for p in fence["polygons"]:
        assert isinstance(p["inclusion"], bool)
        assert len(p["polygon"]) >= 3 and all(len(v) == 2 for v in p["polygon"])
    rally = plan["rallyPoints"]
    assert rally["version"] == 2
    assert all(isinstance(p, list) and len(p) == 3 for p in rally["points"])
    # and it is strict JSON (QGroundControl's parser rejects NaN/Infinity)
    json.loads(json.dumps(plan, allow_nan=False))


# ----------------------------------------------------------------------------- typical QGC plan
def test_a_typical_qgroundcontrol_plan_loads() -> None:
    m = load_plan(TYPICAL)
    assert m.home == HomePosition(-6.8048, 110.8405, 45.0)
    assert (m.cruise_speed_m_s, m.hover_speed_m_s) == (15.0, 5.0)
    # takeoff + its speed section, waypoint, ROI, hold waypoint, ROI none, survey (6), RTL
    assert m.items[0] == Takeoff(-6.8048, 110.8405, 40.0, speed_m_s=10.0)
    assert m.items[1] == NavWaypoint(-6.7990123, 110.8480123, 60.0, acceptance_radius_m=0.0)
    assert m.items[2] == SetRoi(-6.7962, 110.853, 0.0)
    assert m.items[3] == NavWaypoint(-6.7962, 110.8512, 60.0, hold_s=30.0, acceptance_radius_m=0.0)
    assert m.items[4] == RawItem(197, 2, 0.0, 0.0, 0.0, 0.0, 0, 0, 0.0)  # DO_SET_ROI_NONE
    survey = m.items[5:11]
    assert [type(i).__name__ for i in survey] == ["NavWaypoint", "RawItem", "NavWaypoint", "NavWaypoint", "NavWaypoint", "RawItem"]
    assert survey[1] == RawItem(206, 2, 25.0, 0.0, 1.0, 0.0, 0, 0, 0.0)  # DO_SET_CAM_TRIGG_DIST
    assert m.items[11] == ReturnToLaunch()
    assert m.geofence == Geofence(
        polygons=(
            FencePolygon(((-6.77015, 110.81236), (-6.77015, 110.88571), (-6.83472, 110.88571), (-6.83472, 110.81236)), True),
        ),
        circles=(FenceCircle(-6.80355, 110.84552, 150.0, inclusion=False),),
    )
    assert m.rally_points == (RallyPoint(-6.80105, 110.83812, 30.0),)


def _mavsdk_import(plan: dict) -> list[tuple]:
    """An independent reading of the plan's mission items, after MAVSDK's mission_import.cpp:
    SimpleItems one to one, survey ComplexItems expanded from TransectStyleComplexItem.Items,
    null -> NaN, x/y = round(deg * 1e7) except in MAV_FRAME_MISSION."""

    def simple(j: dict) -> tuple:
        p = [math.nan if v is None else float(v) for v in j["params"]]
        scale = 1.0 if j["frame"] == 2 else 1e7
        x = 0 if math.isnan(p[4]) else round(p[4] * scale)
        y = 0 if math.isnan(p[5]) else round(p[5] * scale)
        return (j["command"], j["frame"], *p[:4], x, y, p[6], j["autoContinue"])

    out = []
    for j in plan["mission"]["items"]:
        if j["type"] == "SimpleItem":
            out.append(simple(j))
        else:
            out.extend(simple(s) for s in j["TransectStyleComplexItem"]["Items"])
    return out


def test_typical_plan_items_match_mavsdks_importer() -> None:
    plan = json.loads(TYPICAL.read_text())
    expected = _mavsdk_import(plan)
    ours = load_plan(TYPICAL).to_mission_items()
    assert len(ours) == len(expected)
    unset = {"nan", 0.0}
    for k, (mi, exp) in enumerate(zip(ours, expected, strict=True)):
        assert (mi.seq, mi.current) == (k, k == 0)
        assert (mi.command, mi.frame, mi.x, mi.y, mi.autocontinue) == (exp[0], exp[1], exp[6], exp[7], exp[9])
        got = ["nan" if math.isnan(v) else v for v in (mi.param1, mi.param2, mi.param3, mi.param4, mi.z)]
        want = ["nan" if math.isnan(v) else v for v in (*exp[2:6], exp[8])]
        for g, w in zip(got, want, strict=True):
            # only parameters PX4 ignores may read as NaN where QGroundControl wrote 0
            assert g == w or (g in unset and w in unset), (k, got, want)


def test_typical_plan_written_back_opens_in_qgroundcontrol_and_reads_the_same() -> None:
    m = load_plan(TYPICAL)
    plan = m.to_qgc_plan()
    assert_qgroundcontrol_loads(plan)
    assert Mission.from_qgc_plan(plan) == m
    assert [item_key(i) for i in Mission.from_qgc_plan(plan).to_mission_items()] == [
        item_key(i) for i in m.to_mission_items()
    ]


def test_fixture_itself_passes_qgroundcontrols_checks_after_expansion() -> None:
    plan = json.loads(TYPICAL.read_text())
    # QGC's loader accepts ComplexItems; our checker covers SimpleItems, so check the others
    simple_only = {**plan, "mission": {**plan["mission"], "items": [i for i in plan["mission"]["items"] if i["type"] == "SimpleItem"]}}
    assert_qgroundcontrol_loads(simple_only)


# ----------------------------------------------------------------------------- writing
def test_written_plan_has_qgroundcontrols_layout() -> None:
    m = Mission(
        [Takeoff(-6.8048, 110.8405, 40.0), NavWaypoint(-6.79, 110.85, 60.0, speed_m_s=12.0), ReturnToLaunch()],
        home=HomePosition(-6.8048, 110.8405, 45.0),
        geofence=Geofence(circles=(FenceCircle(-6.80355, 110.84552, 150.0, inclusion=False),)),
        rally_points=(RallyPoint(-6.801, 110.838, 30.0),),
    )
    plan = plan_to_dict(m)
    assert list(plan) == ["fileType", "geoFence", "groundStation", "mission", "rallyPoints", "version"]
    mission = plan["mission"]
    assert (mission["firmwareType"], mission["vehicleType"], mission["globalPlanAltitudeMode"], mission["version"]) == (12, 2, 1, 2)
    assert mission["plannedHomePosition"] == [-6.8048, 110.8405, 45.0]
    takeoff, wp, speed, rtl = mission["items"]
    assert takeoff == {
        "AMSLAltAboveTerrain": None,
        "Altitude": 40.0,
        "AltitudeMode": 1,
        "autoContinue": True,
        "command": 22,
        "doJumpId": 1,
        "frame": 3,
        "params": [None, None, None, None, -6.8048, 110.8405, 40.0],
        "type": "SimpleItem",
    }
    assert wp["params"] == [0.0, 1.0, 0.0, None, -6.79, 110.85, 60.0] and wp["doJumpId"] == 2
    assert speed == {
        "autoContinue": True,
        "command": 178,
        "doJumpId": 3,
        "frame": 2,
        "params": [1.0, 12.0, -1.0, 0.0, 0.0, 0.0, None],
        "type": "SimpleItem",
    }
    assert rtl["command"] == 20 and "Altitude" not in rtl
    assert plan["geoFence"]["circles"] == [
        {"circle": {"center": [-6.80355, 110.84552], "radius": 150.0}, "inclusion": False, "version": 1}
    ]
    assert plan["rallyPoints"] == {"points": [[-6.801, 110.838, 30.0]], "version": 2}
    assert_qgroundcontrol_loads(plan)


def test_plan_without_home_uses_the_first_position() -> None:
    plan = Mission([NavWaypoint(-6.79, 110.85, 60.0)]).to_qgc_plan()
    assert plan["mission"]["plannedHomePosition"] == [-6.79, 110.85, 0.0]


@settings(deadline=None)
@given(missions_)
def test_plan_round_trip_is_lossless(mission: Mission) -> None:
    plan = mission.to_qgc_plan()
    assert_qgroundcontrol_loads(plan)
    text = json.dumps(plan, allow_nan=False)  # strict JSON
    back = Mission.from_qgc_plan(json.loads(text))
    expected_home = mission.home if mission.home is not None else back.home
    assert back == Mission(
        items=mission.items,
        home=expected_home,
        geofence=mission.geofence,
        rally_points=mission.rally_points,
        cruise_speed_m_s=mission.cruise_speed_m_s,
        hover_speed_m_s=mission.hover_speed_m_s,
    )


def test_do_jump_targets_map_between_doJumpId_and_sequence() -> None:
    jump = RawItem(177, 2, 1.0, 3.0, 0.0, 0.0)  # jump to seq 1, repeat 3 times
    m = Mission([NavWaypoint(-6.79, 110.85, 60.0), NavWaypoint(-6.78, 110.86, 60.0), jump], home=HomePosition(-6.8, 110.84))
    plan = m.to_qgc_plan()
    assert plan["mission"]["items"][2]["params"][0] == 2.0  # doJumpId of the second waypoint
    assert plan["mission"]["items"][1]["doJumpId"] == 2
    assert Mission.from_qgc_plan(plan) == m


def test_text_and_file_helpers(tmp_path: Path) -> None:
    m = Mission([NavWaypoint(-6.79, 110.85, 60.0, hold_s=10.0)], home=HomePosition(-6.8, 110.84, 30.0))
    text = dumps_plan(m)
    assert "NaN" not in text and json.loads(text)["fileType"] == "Plan"
    assert loads_plan(text) == m
    path = tmp_path / "incident.plan"
    save_plan(m, path)
    assert load_plan(path) == m


# ----------------------------------------------------------------------------- errors
def _typical() -> dict:
    return json.loads(TYPICAL.read_text())


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: p.update(fileType="Mission"), "fileType: must be \"Plan\""),
        (lambda p: p.update(version=2), "version: only version 1 plans are supported"),
        (lambda p: p.pop("mission"), "mission: missing or not an object"),
        (lambda p: p["mission"].update(version=1), "mission.version: only version 2 is supported"),
        (lambda p: p["mission"]["items"][2]["params"].pop(), "mission.items[2].params: must be a list of 7 numbers or nulls"),
        (lambda p: p["mission"]["items"][2]["params"].__setitem__(6, "high"), "mission.items[2].params[6]: must be a number or null"),
        (lambda p: p["mission"]["items"][0].pop("command"), "mission.items[0]: missing key 'command'"),
        (lambda p: p["mission"]["items"][0].update(autoContinue=1), "mission.items[0].autoContinue: must be true or false"),
        (lambda p: p["mission"]["items"][1].update(type="Waypoint"), "mission.items[1].type: must be \"SimpleItem\" or \"ComplexItem\""),
        (
            lambda p: p["mission"]["items"][6].pop("TransectStyleComplexItem"),
            "mission.items[6]: ComplexItem 'survey' has no saved mission items",
        ),
        (
            lambda p: p["mission"]["items"][6]["TransectStyleComplexItem"]["Items"][0]["params"].pop(),
            "mission.items[6].TransectStyleComplexItem.Items[0].params: must be a list of 7",
        ),
        (lambda p: p["mission"].update(plannedHomePosition=[-6.8, 110.8]), "mission.plannedHomePosition: must be [lat, lon, alt]"),
        (lambda p: p["mission"].update(plannedHomePosition=[96.8, 110.8, 0]), "mission.plannedHomePosition: HomePosition.lat_deg"),
        (lambda p: p["geoFence"]["polygons"][0]["polygon"].__delitem__(slice(1, 3)), "geoFence.polygons[0]: fence polygon: needs at least 3"),
        (lambda p: p["geoFence"]["circles"][0]["circle"].update(radius=-5), "geoFence.circles[0]: fence circle: radius_m must be a positive"),
        (lambda p: p["geoFence"].update(version=3), "geoFence.version: only version 2 is supported"),
        (lambda p: p["rallyPoints"]["points"].append([1, 2]), "rallyPoints.points[1]: must be [lat, lon, alt]"),
    ],
)
def test_bad_plans_are_rejected_with_the_json_path(mutate, message: str) -> None:
    plan = _typical()
    mutate(plan)
    with pytest.raises(PlanFormatError) as exc:
        plan_from_dict(plan)
    assert message in str(exc.value)


def test_complex_item_without_saved_items_names_its_type() -> None:
    plan = _typical()
    plan["mission"]["items"].append({"type": "ComplexItem", "complexItemType": "fwLandingPattern", "version": 2})
    with pytest.raises(PlanFormatError, match=r"mission\.items\[8\]: ComplexItem 'fwLandingPattern'"):
        plan_from_dict(plan)


def test_dangling_do_jump_is_rejected() -> None:
    plan = _typical()
    plan["mission"]["items"].append(
        {"type": "SimpleItem", "command": 177, "frame": 2, "autoContinue": True, "doJumpId": 14, "params": [99, 1, 0, 0, 0, 0, 0]}
    )
    with pytest.raises(PlanFormatError, match="DO_JUMP target doJumpId 99 not found"):
        plan_from_dict(plan)


def test_invalid_json_text_is_rejected() -> None:
    with pytest.raises(PlanFormatError, match="invalid JSON"):
        loads_plan("{not json")
    with pytest.raises(PlanFormatError, match="NaN is not valid JSON"):
        loads_plan('{"fileType": "Plan", "x": NaN}')


def test_old_geofence_version_reads_as_no_fence() -> None:
    plan = _typical()
    plan["geoFence"] = {"version": 1, "polygon": [[0, 0], [0, 1], [1, 1]]}
    assert not Mission.from_qgc_plan(plan).geofence
