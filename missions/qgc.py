"""QGroundControl ``.plan`` files: read and write.

The format is QGroundControl 4.x's (``fileType`` "Plan", ``version`` 1) with its three sections:

``mission`` (version 2)
    ``firmwareType`` 12 (PX4), ``vehicleType`` 2 (quadrotor), ``cruiseSpeed``, ``hoverSpeed``,
    ``globalPlanAltitudeMode`` 1 (relative to home), ``plannedHomePosition``
    ``[lat, lon, alt_amsl]`` and ``items``: one ``SimpleItem`` per MAVLink item, with
    ``command``, ``frame``, ``params`` (7 numbers: param1-4, latitude, longitude, altitude; NaN is
    written as ``null``), ``autoContinue``, ``doJumpId`` (1-based: QGroundControl numbers the
    planned home 0) and, for items with a position, ``Altitude`` / ``AltitudeMode`` /
    ``AMSLAltAboveTerrain``.
``geoFence`` (version 2)
    ``polygons`` (``{"inclusion", "polygon": [[lat, lon], ...], "version": 1}``) and ``circles``
    (``{"circle": {"center": [lat, lon], "radius"}, "inclusion", "version": 1}``).
``rallyPoints`` (version 2)
    ``points``: ``[[lat, lon, alt_rel], ...]``.

Writing then reading is lossless (`Mission.from_qgc_plan(m.to_qgc_plan()) == m`) for missions
with a planned home (without one, the first item's position at altitude 0 is written, because
QGroundControl requires the key).

Reading a plan saved by QGroundControl:

* every ``SimpleItem`` becomes one MAVLink item, read into the typed items of `missions.mission`
  where it matches (otherwise a `~missions.mission.RawItem`);
* a ``ComplexItem`` (survey, corridor scan) is **expanded** into the MAVLink items QGroundControl
  saved with it (``TransectStyleComplexItem.Items``, as MAVSDK's importer does); writing the
  mission back gives those items as ``SimpleItem`` entries, not the survey's editable polygon.
  Complex items without saved items (fixed-wing landing patterns, structure scans from older
  versions) are rejected with a `~missions.errors.PlanFormatError` naming the item;
* ``DO_JUMP`` targets are translated between the file's ``doJumpId`` and 0-based sequence
  numbers;
* positions are kept at MAVLink's 1e-7 degree resolution.

Examples
--------
>>> from missions.mission import Mission, NavWaypoint, HomePosition
>>> m = Mission([NavWaypoint(-6.8048, 110.8405, 60.0)], home=HomePosition(-6.8048, 110.8405, 30.0))
>>> text = dumps_plan(m)
>>> loads_plan(text) == m
True
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from typing import Any

from .errors import MissionError, PlanFormatError
from .geofence import Geofence
from .items import Cmd, Frame, MavlinkItem, MissionType
from .mission import HomePosition, Mission, RallyPoint

__all__ = [
    "plan_to_dict",
    "plan_from_dict",
    "dumps_plan",
    "loads_plan",
    "save_plan",
    "load_plan",
    "FIRMWARE_PX4",
    "VEHICLE_QUADROTOR",
]

FIRMWARE_PX4 = 12  # MAV_AUTOPILOT_PX4
VEHICLE_QUADROTOR = 2  # MAV_TYPE_QUADROTOR
DO_JUMP = 177

# QGroundControlQmlGlobal::AltMode for the frames QGroundControl edits.
_ALT_MODE_BY_FRAME = {
    Frame.GLOBAL_RELATIVE_ALT: 1,  # AltitudeModeRelative
    Frame.GLOBAL: 2,  # AltitudeModeAbsolute
    10: 4,  # MAV_FRAME_GLOBAL_TERRAIN_ALT -> AltitudeModeTerrainFrame
}
# Commands whose param5-7 are a position QGroundControl shows (it then stores Altitude keys).
_POSITION_COMMANDS = frozenset(
    {
        Cmd.NAV_WAYPOINT,
        Cmd.NAV_LOITER_UNLIM,
        18,  # NAV_LOITER_TURNS
        Cmd.NAV_LOITER_TIME,
        Cmd.NAV_LAND,
        Cmd.NAV_TAKEOFF,
        31,  # NAV_LOITER_TO_ALT
        Cmd.DO_ORBIT,
        Cmd.DO_SET_ROI_LOCATION,
        82,  # NAV_SPLINE_WAYPOINT
        84,  # NAV_VTOL_TAKEOFF
        85,  # NAV_VTOL_LAND
    }
)


def _num_or_null(v: float) -> float | None:
    return None if math.isnan(v) else v


def _home_for(mission: Mission) -> HomePosition:
    if mission.home is not None:
        return mission.home
    positions = mission.positions()
    if positions:
        lat, lon, _ = positions[0]
        return HomePosition(lat, lon, 0.0)
    return HomePosition(0.0, 0.0, 0.0)


def _simple_item_json(mi: MavlinkItem, do_jump_id: int) -> dict[str, Any]:
    if mi.frame == Frame.MISSION:
        # MAVSDK's importer reads x/y of MAV_FRAME_MISSION items unscaled; mirror it.
        lat: float = float(mi.x)
        lon: float = float(mi.y)
    else:
        lat, lon = mi.x / 1e7, mi.y / 1e7
    p1 = mi.param1
    if mi.command == DO_JUMP and math.isfinite(p1):
        p1 = p1 + 1.0  # the file refers to the target's doJumpId (planned home is 0)
    params = [_num_or_null(v) for v in (p1, mi.param2, mi.param3, mi.param4)]
    params += [lat, lon, _num_or_null(mi.z)]
    obj: dict[str, Any] = {
        "autoContinue": bool(mi.autocontinue),
        "command": int(mi.command),
        "doJumpId": do_jump_id,
        "frame": int(mi.frame),
        "params": params,
        "type": "SimpleItem",
    }
    if mi.command in _POSITION_COMMANDS and mi.frame in _ALT_MODE_BY_FRAME:
        obj["AMSLAltAboveTerrain"] = None
        obj["Altitude"] = _num_or_null(mi.z)
        obj["AltitudeMode"] = _ALT_MODE_BY_FRAME[mi.frame]
    return obj


def plan_to_dict(mission: Mission) -> dict[str, Any]:
    """A QGroundControl ``.plan`` document for a mission (JSON-ready: no NaN, no tuples).

    Parameters
    ----------
    mission : Mission

    Returns
    -------
    dict
        Keys ``fileType``, ``geoFence``, ``groundStation``, ``mission``, ``rallyPoints``,
        ``version`` as QGroundControl 4.x writes them.

    Examples
    --------
    >>> from missions.mission import Mission, Takeoff
    >>> plan = plan_to_dict(Mission([Takeoff(-6.8048, 110.8405, 30.0)]))
    >>> item = plan["mission"]["items"][0]
    >>> item["command"], item["frame"], item["params"], item["doJumpId"], item["AltitudeMode"]
    (22, 3, [None, None, None, None, -6.8048, 110.8405, 30.0], 1, 1)
    >>> plan["mission"]["plannedHomePosition"]
    [-6.8048, 110.8405, 0.0]
    """
    items = mission.to_mission_items()
    home = _home_for(mission)
    return {
        "fileType": "Plan",
        "geoFence": mission.geofence.to_qgc(),
        "groundStation": "QGroundControl",
        "mission": {
            "cruiseSpeed": mission.cruise_speed_m_s,
            "firmwareType": FIRMWARE_PX4,
            "globalPlanAltitudeMode": 1,
            "hoverSpeed": mission.hover_speed_m_s,
            "items": [_simple_item_json(mi, mi.seq + 1) for mi in items],
            "plannedHomePosition": [home.lat_deg, home.lon_deg, home.alt_amsl_m],
            "vehicleType": VEHICLE_QUADROTOR,
            "version": 2,
        },
        "rallyPoints": {
            "points": [[r.lat_deg, r.lon_deg, r.alt_rel_m] for r in mission.rally_points],
            "version": 2,
        },
        "version": 1,
    }


# ----------------------------------------------------------------------------- reading
def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _number(v: Any, path: str, *, allow_null: bool = False) -> float:
    if v is None and allow_null:
        return math.nan
    if not _is_number(v):
        raise PlanFormatError(f"{path}: must be a number{' or null' if allow_null else ''}, got {v!r}")
    f = float(v)
    if math.isinf(f):
        raise PlanFormatError(f"{path}: must be finite, got {v!r}")
    return f


def _coord_to_int(v: float, frame: int, path: str) -> int:
    if math.isnan(v):
        return 0
    value = v if frame == Frame.MISSION else v * 1e7
    out = int(round(value))
    if not -(2**31) <= out < 2**31:
        raise PlanFormatError(f"{path}: {v} does not fit a MAVLink coordinate")
    return out


def _read_simple_item(obj: Any, path: str) -> tuple[MavlinkItem, int | None]:
    if not isinstance(obj, Mapping):
        raise PlanFormatError(f"{path}: must be an object")
    for key in ("command", "frame", "params", "autoContinue"):
        if key not in obj:
            raise PlanFormatError(f"{path}: missing key {key!r}")
    command = obj["command"]
    frame = obj["frame"]
    if not (_is_number(command) and float(command).is_integer() and 0 <= command <= 65535):
        raise PlanFormatError(f"{path}.command: must be an integer 0-65535, got {command!r}")
    if not (_is_number(frame) and float(frame).is_integer() and 0 <= frame <= 255):
        raise PlanFormatError(f"{path}.frame: must be an integer 0-255, got {frame!r}")
    if not isinstance(obj["autoContinue"], bool):
        raise PlanFormatError(f"{path}.autoContinue: must be true or false")
    params = obj["params"]
    if not isinstance(params, list) or len(params) != 7:
        raise PlanFormatError(f"{path}.params: must be a list of 7 numbers or nulls")
    p = [_number(v, f"{path}.params[{k}]", allow_null=True) for k, v in enumerate(params)]
    do_jump_id = obj.get("doJumpId")
    if do_jump_id is not None and not _is_number(do_jump_id):
        raise PlanFormatError(f"{path}.doJumpId: must be a number")
    frame = int(frame)
    item = MavlinkItem(
        seq=0,
        frame=frame,
        command=int(command),
        param1=p[0],
        param2=p[1],
        param3=p[2],
        param4=p[3],
        x=_coord_to_int(p[4], frame, f"{path}.params[4]"),
        y=_coord_to_int(p[5], frame, f"{path}.params[5]"),
        z=p[6],
        autocontinue=obj["autoContinue"],
        mission_type=MissionType.MISSION,
    )
    return item, (None if do_jump_id is None else int(do_jump_id))


def _read_complex_item(obj: Mapping[str, Any], path: str) -> list[tuple[MavlinkItem, int | None, str]]:
    kind = obj.get("complexItemType")
    transect = obj.get("TransectStyleComplexItem")
    if isinstance(transect, Mapping) and isinstance(transect.get("Items"), list):
        out = []
        for k, sub in enumerate(transect["Items"]):
            sub_path = f"{path}.TransectStyleComplexItem.Items[{k}]"
            item, jump_id = _read_simple_item(sub, sub_path)
            out.append((item, jump_id, sub_path))
        return out
    raise PlanFormatError(
        f"{path}: ComplexItem {kind!r} has no saved mission items (TransectStyleComplexItem.Items); "
        "only survey and corridor-scan items saved by QGroundControl 4.x can be read. "
        "Open the plan in QGroundControl and save it again, or convert the item to simple waypoints."
    )


def plan_from_dict(plan: Mapping[str, Any]) -> Mission:
    """Read a QGroundControl ``.plan`` document (parsed JSON).

    Parameters
    ----------
    plan : Mapping
        The document, as returned by ``json.load``.

    Returns
    -------
    Mission

    Raises
    ------
    PlanFormatError
        If the document is not a plan we can read; the message names the JSON path, e.g.
        ``mission.items[2].params: must be a list of 7 numbers or nulls``.

    Examples
    --------
    >>> doc = {"fileType": "Plan", "version": 1, "groundStation": "QGroundControl",
    ...        "mission": {"version": 2, "firmwareType": 12, "plannedHomePosition": [-6.8, 110.8, 25],
    ...                    "items": [{"type": "SimpleItem", "command": 20, "frame": 2, "doJumpId": 1,
    ...                               "autoContinue": True, "params": [0, 0, 0, 0, 0, 0, 0]}]},
    ...        "geoFence": {"version": 2, "polygons": [], "circles": []},
    ...        "rallyPoints": {"version": 2, "points": []}}
    >>> plan_from_dict(doc).items
    (ReturnToLaunch(),)
    >>> plan_from_dict({"fileType": "Mission", "version": 1})
    Traceback (most recent call last):
    ...
    missions.errors.PlanFormatError: fileType: must be "Plan", got 'Mission'
    """
    if not isinstance(plan, Mapping):
        raise PlanFormatError("plan: the document must be a JSON object")
    if plan.get("fileType") != "Plan":
        raise PlanFormatError(f'fileType: must be "Plan", got {plan.get("fileType")!r}')
    if plan.get("version") != 1:
        raise PlanFormatError(f"version: only version 1 plans are supported, got {plan.get('version')!r}")
    mission_json = plan.get("mission")
    if not isinstance(mission_json, Mapping):
        raise PlanFormatError("mission: missing or not an object")
    if mission_json.get("version") != 2:
        raise PlanFormatError(f"mission.version: only version 2 is supported, got {mission_json.get('version')!r}")
    items_json = mission_json.get("items")
    if not isinstance(items_json, list):
        raise PlanFormatError("mission.items: missing or not a list")

    # Flatten SimpleItems and expanded ComplexItems into MAVLink items.
    flat: list[tuple[MavlinkItem, int | None, str]] = []
    for i, obj in enumerate(items_json):
        path = f"mission.items[{i}]"
        if not isinstance(obj, Mapping):
            raise PlanFormatError(f"{path}: must be an object")
        kind = obj.get("type")
        if kind == "SimpleItem":
            item, jump_id = _read_simple_item(obj, path)
            flat.append((item, jump_id, path))
        elif kind == "ComplexItem":
            flat.extend(_read_complex_item(obj, path))
        else:
            raise PlanFormatError(f"{path}.type: must be \"SimpleItem\" or \"ComplexItem\", got {kind!r}")

    # DO_JUMP: the file names the target by doJumpId; MAVLink by 0-based sequence number.
    seq_by_jump_id = {jid: k for k, (_, jid, _) in enumerate(flat) if jid is not None}
    items: list[MavlinkItem] = []
    for k, (item, _, path) in enumerate(flat):
        if item.command == DO_JUMP and math.isfinite(item.param1):
            target = int(item.param1)
            if target not in seq_by_jump_id:
                raise PlanFormatError(f"{path}.params[0]: DO_JUMP target doJumpId {target} not found")
            item = MavlinkItem(**{**_fields(item), "param1": float(seq_by_jump_id[target])})
        items.append(MavlinkItem(**{**_fields(item), "seq": k, "current": k == 0}))

    home = None
    if "plannedHomePosition" in mission_json:
        hp = mission_json["plannedHomePosition"]
        if not (isinstance(hp, list) and len(hp) == 3):
            raise PlanFormatError("mission.plannedHomePosition: must be [lat, lon, alt]")
        lat, lon, alt = (_number(v, f"mission.plannedHomePosition[{k}]") for k, v in enumerate(hp))
        try:
            home = HomePosition(lat, lon, alt)
        except MissionError as exc:
            raise PlanFormatError(f"mission.plannedHomePosition: {exc}") from exc

    speeds = {}
    for key, attr in (("cruiseSpeed", "cruise_speed_m_s"), ("hoverSpeed", "hover_speed_m_s")):
        if key in mission_json:
            v = _number(mission_json[key], f"mission.{key}")
            if v <= 0:
                raise PlanFormatError(f"mission.{key}: must be > 0, got {v}")
            speeds[attr] = v

    geofence = Geofence.from_qgc(plan["geoFence"]) if "geoFence" in plan else Geofence()

    rally: list[RallyPoint] = []
    if "rallyPoints" in plan:
        rp = plan["rallyPoints"]
        if not isinstance(rp, Mapping):
            raise PlanFormatError("rallyPoints: must be an object")
        if rp.get("version") not in (1, 2):
            raise PlanFormatError(f"rallyPoints.version: only version 2 is supported, got {rp.get('version')!r}")
        points = rp.get("points", [])
        if not isinstance(points, list):
            raise PlanFormatError("rallyPoints.points: must be a list")
        for k, pt in enumerate(points):
            path = f"rallyPoints.points[{k}]"
            if not (isinstance(pt, list) and len(pt) == 3):
                raise PlanFormatError(f"{path}: must be [lat, lon, alt]")
            lat, lon, alt = (_number(v, f"{path}[{j}]") for j, v in enumerate(pt))
            try:
                rally.append(RallyPoint(lat, lon, alt))
            except MissionError as exc:
                raise PlanFormatError(f"{path}: {exc}") from exc

    try:
        base = Mission.from_mission_items(items)
        return Mission(items=base.items, home=home, geofence=geofence, rally_points=tuple(rally), **speeds)
    except MissionError as exc:  # pragma: no cover - items were validated above
        raise PlanFormatError(f"mission: {exc}") from exc


def _fields(item: MavlinkItem) -> dict[str, Any]:
    return {name: getattr(item, name) for name in MavlinkItem.__dataclass_fields__}


# ----------------------------------------------------------------------------- text and files
def dumps_plan(mission: Mission, *, indent: int | None = 4) -> str:
    """Serialize a mission as ``.plan`` JSON text (strict JSON: no NaN; keys sorted as QGC does).

    Examples
    --------
    >>> from missions.mission import Mission, ReturnToLaunch
    >>> '"fileType": "Plan"' in dumps_plan(Mission([ReturnToLaunch()]))
    True
    """
    return json.dumps(plan_to_dict(mission), indent=indent, sort_keys=True, allow_nan=False)


def loads_plan(text: str) -> Mission:
    """Parse ``.plan`` JSON text; invalid JSON raises `PlanFormatError` with the position."""
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise PlanFormatError(f"plan: invalid JSON: {exc}") from exc
    return plan_from_dict(doc)


def _reject_constant(name: str) -> Any:
    raise PlanFormatError(f"plan: {name} is not valid JSON (QGroundControl writes null for NaN)")


def save_plan(mission: Mission, path: str | os.PathLike[str]) -> None:
    """Write a mission to a ``.plan`` file (UTF-8)."""
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(dumps_plan(mission))
        fh.write("\n")


def load_plan(path: str | os.PathLike[str]) -> Mission:
    """Read a ``.plan`` file written by QGroundControl or by `save_plan`."""
    with open(path, encoding="utf-8") as fh:
        return loads_plan(fh.read())
