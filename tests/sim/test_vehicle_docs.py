"""The model's docstring examples run, and its public names are pinned."""

from __future__ import annotations

import doctest
import importlib

import pytest

import sim.vehicle

MODULES = ["sim.vehicle", "sim.params", "sim.geo", "sim.dynamics", "sim.steps"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, raise_on_error=False, verbose=False)
    assert result.failed == 0


def test_vehicle_public_api_is_pinned() -> None:
    assert sorted(sim.vehicle.__all__) == sorted([
        "Vehicle", "VehicleState", "CommandOutcome", "MavResult", "LandedState", "MainMode", "AutoSub",
        "Event", "ModeChanged", "ArmedChanged", "ItemReached", "CurrentItemChanged", "StatusText",
        "Home", "POSCTL_ORBIT_SUB", "ESTIMATOR_CONVERGE_S", "GPS_RECOVER_S",
    ])
    for name in sim.vehicle.__all__:
        assert hasattr(sim.vehicle, name)
