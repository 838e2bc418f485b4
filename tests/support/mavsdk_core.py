"""The test process's one MAVSDK core.

The native MAVSDK library must be instantiated once per process: several instances in one process
crash at interpreter exit (measured, see shared notes). Every test that talks MAVSDK gets its
instance from :func:`core`; the dronectl gateway accepts it by injection.
"""

from __future__ import annotations

import atexit

from mavsdk.asyncio import ComponentType, Configuration, Mavsdk

__all__ = ["core"]

_CORE: Mavsdk | None = None


def core() -> Mavsdk:
    """The process-wide ``Mavsdk`` (ground station), created on first use."""
    global _CORE
    if _CORE is None:
        _CORE = Mavsdk(Configuration.create_with_component_type(ComponentType.GROUND_STATION))
        atexit.register(_CORE.destroy)
    return _CORE
