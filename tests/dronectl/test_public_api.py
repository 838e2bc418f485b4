"""The public names of dronectl are pinned; dronectl never imports sim, and only one module imports mavsdk."""

from __future__ import annotations

import ast
from pathlib import Path

import dronectl
import dronectl.api

PKG = Path(dronectl.__file__).resolve().parent


def test_public_api_pinned() -> None:
    assert dronectl.__all__ == ["Settings", "load_settings", "ConfigError", "create_app"]
    assert dronectl.create_app is dronectl.api.create_app
    assert dronectl.api.__all__ == ["create_app"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_dependency_direction() -> None:
    mavsdk_importers = []
    for f in PKG.rglob("*.py"):
        imps = _imports(f)
        assert "sim" not in imps, f"{f} imports sim"
        if "mavsdk" in imps:
            mavsdk_importers.append(f.relative_to(PKG).as_posix())
    assert mavsdk_importers == ["vehicles/mavsdk_gateway.py"]
