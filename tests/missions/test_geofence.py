"""Geofence values -> MAVLink fence items (mission_type 1) and the .plan geoFence section."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from missions.errors import MissionError
from missions.geofence import FenceCircle, FencePolygon, Geofence
from missions.items import MavlinkItem, MissionType
from tests.missions.strategies import geofences

SQUARE = ((-6.77, 110.81), (-6.77, 110.88), (-6.83, 110.88), (-6.83, 110.81))


def test_fence_items_are_encoded_as_px4_expects() -> None:
    fence = Geofence(
        polygons=(FencePolygon(SQUARE, inclusion=True), FencePolygon(((-6.80, 110.84), (-6.80, 110.85), (-6.81, 110.85)), inclusion=False)),
        circles=(FenceCircle(-6.80355, 110.84552, 150.0, inclusion=False), FenceCircle(-6.8, 110.84, 9000.0)),
    )
    items = fence.to_mission_items()
    assert [i.command for i in items] == [5001] * 4 + [5002] * 3 + [5004, 5003]
    assert [i.param1 for i in items] == [4.0] * 4 + [3.0] * 3 + [150.0, 9000.0]
    assert all(i.mission_type == MissionType.FENCE and i.frame == 0 and i.autocontinue for i in items)
    assert [i.seq for i in items] == list(range(9))
    assert [i.current for i in items] == [True] + [False] * 8
    assert (items[0].x, items[0].y) == (-67700000, 1108100000)
    assert (items[7].x, items[7].y) == (-68035500, 1108455200)


def test_empty_fence() -> None:
    assert not Geofence()
    assert Geofence().to_mission_items() == []
    assert Geofence.from_mission_items([]) == Geofence()


@settings(deadline=None)
@given(geofences())
def test_fence_items_round_trip(fence: Geofence) -> None:
    assert Geofence.from_mission_items(fence.to_mission_items()) == fence
    assert Geofence.from_qgc(fence.to_qgc()) == fence


def test_closing_vertex_is_dropped() -> None:
    assert FencePolygon((*SQUARE, SQUARE[0])).vertices == SQUARE


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: FencePolygon(SQUARE[:2]), "needs at least 3 distinct vertices"),
        (lambda: FencePolygon(((-6.8, 110.8), (-6.8, 190.0), (-6.7, 110.8))), "fence polygon vertex 1: longitude 190.0"),
        (lambda: FenceCircle(-6.8, 110.8, 0.0), "radius_m must be a positive number"),
        (lambda: FenceCircle(-96.8, 110.8, 10.0), "fence circle centre: latitude -96.8"),
        (lambda: Geofence(polygons=(SQUARE,)), "geofence polygons[0]: expected FencePolygon"),
    ],
)
def test_invalid_fences_are_rejected(make, message: str) -> None:
    with pytest.raises(MissionError, match=message.replace("(", r"\(").replace("[", r"\[")):
        make()


def test_bad_fence_items_are_rejected() -> None:
    vertex = MavlinkItem(0, 0, 5001, 4.0, x=1, y=2, mission_type=MissionType.FENCE)
    with pytest.raises(MissionError, match="polygon of 4 vertices is truncated"):
        Geofence.from_mission_items([vertex, vertex])
    with pytest.raises(MissionError, match="mission_type must be 1"):
        Geofence.from_mission_items([MavlinkItem(0, 0, 5003, 10.0)])
    with pytest.raises(MissionError, match="command 16 is not a fence command"):
        Geofence.from_mission_items([MavlinkItem(0, 3, 16, mission_type=MissionType.FENCE)])
