"""The runnable examples in the docstrings of the mission-format, energy and pattern modules."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["missions.items", "missions.mission", "missions.geofence", "missions.qgc", "missions.geojson", "missions.energy", "missions.patterns"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
