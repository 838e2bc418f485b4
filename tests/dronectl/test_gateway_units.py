"""MavsdkGateway pieces that need no vehicle: item conversion, validation, state before start."""

from __future__ import annotations

import pytest

from dronectl.gateway import (
    DroneLink,
    FlightMode,
    LinkState,
    NotConnected,
    SafetyParams,
    VehicleGateway,
)
from dronectl.vehicles.mavsdk_gateway import MavsdkGateway, to_mavsdk_item
from missions.items import Cmd, Frame, MavlinkItem, MissionType
from tests.support.mavsdk_core import core


def test_item_conversion_is_one_to_one() -> None:
    item = MavlinkItem(
        seq=7,
        frame=Frame.GLOBAL_RELATIVE_ALT_INT,
        command=Cmd.NAV_WAYPOINT,
        param1=2.5,
        param2=3.0,
        param3=-1.0,
        param4=float("nan"),
        x=-68048123,
        y=1108405456,
        z=61.5,
        current=True,
        autocontinue=False,
        mission_type=MissionType.MISSION,
    )
    out = to_mavsdk_item(item)
    assert (out.seq, out.frame, out.command) == (7, 6, 16)
    assert (out.param1, out.param2, out.param3) == (2.5, 3.0, -1.0)
    assert out.param4 != out.param4  # NaN kept: PX4 reads NaN yaw as "unchanged"
    assert (out.x, out.y, out.z) == (-68048123, 1108405456, 61.5)
    assert (out.current, out.autocontinue, out.mission_type) == (1, 0, 0)
    assert to_mavsdk_item(item, mission_type=MissionType.FENCE).mission_type == 1


def test_rejects_duplicate_ids_and_bad_rate() -> None:
    a = DroneLink("a", "udpin://0.0.0.0:1", 1)
    with pytest.raises(ValueError, match="duplicate drone ids"):
        MavsdkGateway([a, DroneLink("a", "udpin://0.0.0.0:2", 2)], safety=SafetyParams(), core=core())
    with pytest.raises(ValueError, match="system ids"):
        MavsdkGateway([a, DroneLink("b", "udpin://0.0.0.0:2", 1)], safety=SafetyParams(), core=core())
    with pytest.raises(ValueError, match="telemetry_rate_hz"):
        MavsdkGateway([a], safety=SafetyParams(), core=core(), telemetry_rate_hz=25.0)


async def test_before_start_reports_connecting_and_refuses_commands() -> None:
    gw = MavsdkGateway([DroneLink("a", "udpin://0.0.0.0:1", 201)], safety=SafetyParams(), core=core())
    assert isinstance(gw, VehicleGateway)
    assert list(gw.drone_ids()) == ["a"]
    snap = gw.latest("a")
    assert snap.link is LinkState.CONNECTING
    assert snap.flight_mode is FlightMode.UNKNOWN
    assert not snap.health_ok and not snap.params_ok
    with pytest.raises(NotConnected):
        await gw.arm("a")
    with pytest.raises(KeyError, match="unknown drone"):
        gw.latest("zz")
    await gw.close()
    await gw.close()  # idempotent


async def test_bad_url_is_refused_at_start() -> None:
    gw = MavsdkGateway([DroneLink("a", "udpin://:14540", 202)], safety=SafetyParams(), core=core())
    with pytest.raises(NotConnected, match="udpin://:14540"):
        await gw.start()
