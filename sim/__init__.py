"""``sim``: a PX4-compatible MAVLink vehicle simulator that MAVSDK flies like PX4 SITL.

Run it as ``python -m sim --vehicles 3`` (ports as PX4 SITL instances 0-2), or from Python::

    from sim import Fleet, Home
    with Fleet([Home(-6.2, 106.8, 10.0)], speedup=5) as fleet:
        ...  # MAVSDK: add_any_connection(fleet.api_url(0))
"""

from sim.control import ControlClient, ControlError
from sim.fleet import Fleet, FleetError, free_udp_port
from sim.link import PortInUseError, VehiclePorts
from sim.vehicle import Home, Vehicle, VehicleState

__all__ = [
    "ControlClient",
    "ControlError",
    "Fleet",
    "FleetError",
    "Home",
    "PortInUseError",
    "Vehicle",
    "VehiclePorts",
    "VehicleState",
    "free_udp_port",
]
