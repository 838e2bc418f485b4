"""Fixtures for flying sim with MAVSDK: fleets on free ports with fresh system ids."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from sim import Fleet, Home, free_udp_port
from tests.support.sysids import next_sysid_base

JAKARTA = Home(-6.2088, 106.8456, 10.0)


@pytest.fixture
async def big_executor() -> AsyncIterator[None]:
    """Every MAVSDK call runs in the loop's default executor; blocking calls (2 s command timeouts)
    must not queue behind each other when several vehicles fly at once."""
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(max_workers=24, thread_name_prefix="mavsdk")
    loop.set_default_executor(pool)
    yield


@pytest.fixture
def make_fleet(big_executor: None) -> Iterator[Callable[..., Fleet]]:
    """``make_fleet(n=1, speedup=5, homes=None, **kw)`` -> a started in-process Fleet whose API links
    send to free ports and whose vehicles have system ids never used before in this process."""
    fleets: list[Fleet] = []

    def make(n: int = 1, *, speedup: float = 5.0, homes: Sequence[Home] | None = None, **kw: object) -> Fleet:
        if homes is None:
            homes = [Home(JAKARTA.lat_deg, JAKARTA.lon_deg + 0.0002 * i, JAKARTA.alt_amsl_m) for i in range(n)]
        fleet = Fleet(list(homes), speedup=speedup, sysid_base=next_sysid_base(len(homes)),
                      api_ports=[free_udp_port() for _ in homes], gcs=False, **kw)  # type: ignore[arg-type]
        fleets.append(fleet.start())
        return fleet

    yield make
    for f in fleets:
        f.stop()
