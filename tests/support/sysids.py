"""The one allocator of MAVLink system ids for the simulated vehicles of a test process.

The process's one MAVSDK core remembers every system it has seen, and a vehicle that reuses an id
would be taken for the old one (its stale state, its old connection). So every fleet a test starts
gets ids never handed out before in this process, from this module only.

* 1..10 stay free: real PX4 SITL instance i has system id i + 1.
* 245 is skipped: it is MAVSDK's own id as a ground station.
* 251..255 are not used (GCS ids; MAVLink's vehicle ids are 1..250 here).

Running out is an error, never a wrap-around.

Example
-------
>>> from tests.support.sysids import next_sysid_base
>>> base = next_sysid_base(3)        # doctest: +SKIP
>>> # vehicles base, base + 1, base + 2: Fleet(homes, sysid_base=base, ...)
>>> ids = SysidAllocator(first=240, last=250)   # a private one, as the allocator's own tests use
>>> ids.next_base(3), ids.next_base(3), ids.next_base(2)
(240, 246, 249)
"""

from __future__ import annotations

import threading

__all__ = [
    "ALLOCATOR", "FIRST_SYSID", "LAST_SYSID", "MAVSDK_SYSID", "SysidAllocator", "SysidsExhausted", "next_sysid_base",
]

#: First id handed out (1..10 are left to real PX4 SITL instances).
FIRST_SYSID = 11
#: Last id handed out.
LAST_SYSID = 250
#: MAVSDK's own system id as a ground station: never given to a vehicle.
MAVSDK_SYSID = 245


class SysidsExhausted(RuntimeError):
    """Every system id of the allocator's range was handed out in this process."""


class SysidAllocator:
    """Hands out blocks of consecutive ids from ``first..last``, each once, never ``skip``.

    The process has one (:data:`ALLOCATOR`, behind :func:`next_sysid_base`); tests of the
    allocator itself make their own so as not to use up the process's ids.
    """

    def __init__(self, first: int = FIRST_SYSID, last: int = LAST_SYSID, skip: int = MAVSDK_SYSID) -> None:
        if not 1 <= first <= last <= 255:
            raise ValueError(f"need 1 <= first <= last <= 255, got {first}..{last}")
        self.first, self.last, self.skip = first, last, skip
        self._next = first
        self._lock = threading.Lock()

    def next_base(self, n: int = 1) -> int:
        """See :func:`next_sysid_base`."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        with self._lock:
            base = self._next
            if base <= self.skip <= base + n - 1:
                base = self.skip + 1
            if base + n - 1 > self.last:
                raise SysidsExhausted(
                    f"no {n} fresh MAVLink system id(s) left in this test process: ids "
                    f"{self.first}..{self._next - 1} of {self.first}..{self.last} are taken (each is "
                    "handed out once, because the process's one MAVSDK core remembers every system "
                    "it has seen). Start fewer vehicles per process (share a fleet between tests) or "
                    "split the run."
                )
            self._next = base + n
            return base


#: The process's allocator: every fleet a test starts takes its ids here.
ALLOCATOR = SysidAllocator()


def next_sysid_base(n: int = 1) -> int:
    """The first of ``n`` consecutive MAVLink system ids never handed out before in this process.

    Parameters
    ----------
    n:
        How many vehicles the fleet has (vehicle i gets ``base + i``).

    Returns
    -------
    int
        ``base``, with ``base .. base + n - 1`` within 11..250 and none of them 245.

    Raises
    ------
    ValueError
        ``n`` is below 1.
    SysidsExhausted
        Fewer than ``n`` consecutive fresh ids are left (ids are never reused, never wrap).
    """
    return ALLOCATOR.next_base(n)
