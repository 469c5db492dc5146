"""m3po_learning must import and work with no ROS: it never imports rclpy or *_msgs."""

import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def test_m3po_learning_never_imports_ros():
    modules = sorted(
        "m3po_learning." + ".".join(p.relative_to(SRC / "m3po_learning").with_suffix("").parts)
        for p in (SRC / "m3po_learning").rglob("*.py")
        if p.name not in ("__init__.py", "__main__.py")
    )
    assert len(modules) > 10
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        "from m3po_learning.cli import build_parser\n"
        "build_parser()\n"
        "bad = sorted(k for k in sys.modules if k.split('.')[0] in ('rclpy', 'rosidl_runtime_py')"
        " or k.split('.')[0].endswith('_msgs'))\n"
        "print('ROS_MODULES', bad)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "ROS_MODULES []" in out.stdout, out.stdout
