"""Where robot descriptions and YAML configs live (re-exported from `m3po_learning.paths`).

Kept for the env modules and for user code that imports it from the env package.
"""

from m3po_learning.paths import PACKAGE_SHARE, config_dir, urdf_dir, urdf_path

__all__ = ["PACKAGE_SHARE", "config_dir", "urdf_dir", "urdf_path"]
