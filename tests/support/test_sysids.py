"""The one MAVLink system-id allocator of the test process: fresh ids only, never wrapping, and
no test starting a vehicle on a fixed id."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support import sysids
from tests.support.sysids import SysidAllocator, SysidsExhausted, next_sysid_base

TESTS = Path(__file__).resolve().parents[1]


def test_blocks_are_consecutive_fresh_and_skip_mavsdk_id() -> None:
    ids = SysidAllocator(first=240, last=250)
    sizes = (2, 3, 2, 2, 1)
    blocks = [ids.next_base(n) for n in sizes]
    # 240-241, 242-244, then 245-246 would hold MAVSDK's id: 246-247, 248-249, 250.
    assert blocks == [240, 242, 246, 248, 250]
    handed = [b + k for b, n in zip(blocks, sizes) for k in range(n)]
    assert 245 not in handed and len(set(handed)) == len(handed) == 10


def test_running_out_is_a_clear_error_not_a_wrap() -> None:
    ids = SysidAllocator(first=248, last=250, skip=0)
    assert ids.next_base(2) == 248
    with pytest.raises(SysidsExhausted, match=r"no 2 fresh MAVLink system id\(s\) left.*248\.\.249 of 248\.\.250"):
        ids.next_base(2)
    assert ids.next_base(1) == 250  # a smaller block still fits
    with pytest.raises(SysidsExhausted, match="never|once"):
        ids.next_base(1)
    with pytest.raises(ValueError, match="n must be >= 1"):
        ids.next_base(0)


def test_process_allocator_range() -> None:
    assert (sysids.FIRST_SYSID, sysids.LAST_SYSID, sysids.MAVSDK_SYSID) == (11, 250, 245)
    a = next_sysid_base(3)
    b = next_sysid_base()
    assert 11 <= a and a + 2 < b <= 250 and not a <= 245 <= a + 2


def test_no_test_starts_a_vehicle_on_a_fixed_system_id() -> None:
    # Every simulated vehicle a test starts takes its ids from tests.support.sysids.
    fixed = re.compile(r"""sysid_base\s*=\s*\d|["']--sysid-base["']\s*,\s*["']\d""")
    offenders = [
        f"{path.relative_to(TESTS)}:{n}: {line.strip()}"
        for path in sorted(TESTS.rglob("*.py")) if path.name != Path(__file__).name
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if fixed.search(line)
    ]
    assert offenders == []
