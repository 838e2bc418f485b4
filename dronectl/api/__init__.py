"""The HTTP/WebSocket API of the controller: :func:`create_app` is the one entry point."""

from dronectl.api.app import create_app

__all__ = ["create_app"]
