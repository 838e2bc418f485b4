"""Missions through MAVSDK: 3 and 200 items uploaded, downloaded equal, started, progressed item
by item to the end, then RTL lands within 2 m of home; also at speed-up 10."""

from __future__ import annotations

import math

import pytest
from mavsdk.plugins.mission import MissionItem, MissionPlan
from mavsdk.plugins.telemetry import FlightMode

from tests.support.flight import Flight, connect, distance_m

pytestmark = pytest.mark.flight


def _item(lat: float, lon: float, alt: float, speed: float | None, fly_through: bool) -> MissionItem:
    return MissionItem(latitude_deg=lat, longitude_deg=lon, relative_altitude_m=alt,
                       speed_m_s=speed if speed is not None else math.nan, is_fly_through=fly_through,
                       acceptance_radius_m=2.0 if fly_through else 1.0)


def _same_items(a: list[MissionItem], b: list[MissionItem]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.latitude_deg == pytest.approx(y.latitude_deg, abs=1e-7)
        assert x.longitude_deg == pytest.approx(y.longitude_deg, abs=1e-7)
        assert x.relative_altitude_m == pytest.approx(y.relative_altitude_m, abs=1e-3)
        assert x.is_fly_through == y.is_fly_through
        if math.isnan(x.speed_m_s):
            assert math.isnan(y.speed_m_s) or y.speed_m_s > 0
        else:
            assert y.speed_m_s == pytest.approx(x.speed_m_s)


async def _fly_mission(f: Flight, plan: MissionPlan, timeout_s: float) -> list[int]:
    """Upload, download (equal), start, and record MAVSDK's progress until the mission ends."""
    await f.mission.set_return_to_launch_after_mission(True)
    await f.upload(plan)
    downloaded = await f.mission.download_mission()
    _same_items(plan.mission_items, downloaded.mission_items)

    progress = await f.fly_mission(timeout_s)
    assert {total for _, total in progress} == {len(plan.mission_items)}, progress
    return [current for current, _ in progress]


def _assert_item_by_item(seen: list[int], n: int) -> None:
    assert seen == sorted(seen), f"progress went backwards: {seen}"
    assert set(range(1, n + 1)) <= set(seen), f"progress skipped items: {seen}"
    assert seen[-1] == n


@pytest.mark.parametrize("speedup", [5, 10])
async def test_mission_of_3_items_then_rtl_lands_at_home(make_fleet, speedup: float) -> None:
    fleet = make_fleet(speedup=speedup)
    async with connect(fleet, speedup=speedup) as (f,):
        await f.wait_until_ready()
        await f.action.set_return_to_launch_altitude(20.0)
        home = await f.tel.home()
        lat0, lon0 = home.latitude_deg, home.longitude_deg
        plan = MissionPlan([
            _item(lat0 + 0.0003, lon0, 12.0, 6.0, False),
            _item(lat0 + 0.0003, lon0 + 0.0003, 15.0, None, True),
            _item(lat0, lon0 + 0.0003, 12.0, 4.0, False),
        ])
        seen = await _fly_mission(f, plan, timeout_s=240)
        _assert_item_by_item(seen, 3)
        # MAVSDK added DO_CHANGE_SPEED items: the vehicle holds more raw items than waypoints.
        assert fleet.state(0).mission_count > 3
        await f.wait_flight_mode(FlightMode.RETURN_TO_LAUNCH, 30)
        max_alt = 0.0

        async def landed() -> bool:
            nonlocal max_alt
            max_alt = max(max_alt, fleet.state(0).alt_rel_m)
            return fleet.state(0).landed_state == 1 and not await f.tel.armed()
        await f.wait_until(landed, 240, "landed after RTL")
        st = fleet.state(0)
        assert distance_m(st.lat_deg, st.lon_deg, lat0, lon0) < 2.0
        assert max_alt == pytest.approx(20.0, abs=1.0)  # returned at RTL_RETURN_ALT


async def test_mission_of_200_items(make_fleet) -> None:
    fleet = make_fleet(speedup=20)
    async with connect(fleet, speedup=20) as (f,):
        await f.wait_until_ready()
        await f.action.set_return_to_launch_altitude(15.0)
        home = await f.tel.home()
        lat0, lon0 = home.latitude_deg, home.longitude_deg
        # 200 fly-through waypoints ~4 m apart on a 50 m x 50 m square spiral-free zig-zag.
        items = []
        for i in range(200):
            row, col = divmod(i, 20)
            col = col if row % 2 == 0 else 19 - col
            items.append(_item(lat0 + 0.00002 + row * 0.00004, lon0 + col * 0.00004, 10.0, None, True))
        seen = await _fly_mission(f, MissionPlan(items), timeout_s=900)
        _assert_item_by_item(seen, 200)
        await f.wait_until_landed(240)
        st = fleet.state(0)
        assert distance_m(st.lat_deg, st.lon_deg, lat0, lon0) < 2.0
