"""Where robot descriptions and YAML configs live, in a source checkout and when installed.

A top-level module with no heavy imports: `m3po` builds its parser (stack names) and
resolves `--config` names without importing MuJoCo, which reads MUJOCO_GL once, on import.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PACKAGE_SHARE = "m3po_ros"
# src/m3po_learning/paths.py -> repository root
_REPO_ROOT = Path(__file__).resolve().parents[2]


def _resolve_dir(env_var: str, sub: str) -> Path:
    """`$env_var`, else the checkout this module was imported from, else `<prefix>/share/...`.

    A source checkout wins over the installed share directory so that editing `urdf/` in a
    checkout with an editable install is never shadowed by the stale copy `pip` made.
    """
    override = os.environ.get(env_var)
    if override:
        path = Path(override).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"{env_var}={override!r} is not a directory")
        return path
    # <prefix>/lib/pythonX.Y/site-packages/m3po_learning/paths.py -> <prefix>: where
    # colcon (and pip) put share/m3po_ros; AMENT_PREFIX_PATH lists the sourced workspaces.
    install_prefix = Path(__file__).resolve().parents[4]
    ament = [Path(p) for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    candidates = [
        _REPO_ROOT / sub,
        install_prefix / "share" / PACKAGE_SHARE / sub,
        *(prefix / "share" / PACKAGE_SHARE / sub for prefix in ament),
        Path(sys.prefix) / "share" / PACKAGE_SHARE / sub,
    ]
    for path in candidates:
        if path.is_dir():
            return path
    raise FileNotFoundError(
        f"no {sub!r} directory found; set {env_var} or install the package "
        f"(looked in {[str(c) for c in candidates]})"
    )


def urdf_dir() -> Path:
    """Directory holding the built-in robots' URDF files (`M3PO_URDF_DIR` overrides)."""
    return _resolve_dir("M3PO_URDF_DIR", "urdf")


def config_dir() -> Path:
    """Directory holding `tasks/` and `randomization/` YAML files (`M3PO_CONFIG_DIR` overrides)."""
    return _resolve_dir("M3PO_CONFIG_DIR", "config")


def urdf_path(filename: str) -> Path:
    """Full path of a built-in URDF file such as `arm2.urdf`."""
    path = urdf_dir() / filename
    if not path.is_file():
        raise FileNotFoundError(f"URDF {filename!r} not found in {urdf_dir()}")
    return path
