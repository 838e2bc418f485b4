"""dronectl: the drone-as-first-responder controller service.

Public entry points::

    from dronectl import Settings, load_settings, create_app
    app = create_app(load_settings("examples/muria/config.toml"))   # MAVSDK gateway built lazily

Only :mod:`dronectl.vehicles.mavsdk_gateway` imports mavsdk; this package never imports ``sim``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dronectl.config import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from dronectl.api.app import create_app

__all__ = ["Settings", "load_settings", "ConfigError", "create_app"]


def __getattr__(name: str) -> Any:
    # The web stack is imported on first use, so `dronectl token create` stays light.
    if name == "create_app":
        from dronectl.api.app import create_app

        return create_app
    raise AttributeError(name)
