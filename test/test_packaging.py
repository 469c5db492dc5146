"""What the code imports is what the package declares (setup.py, package.xml), and it installs.

`pip install .` used to give a package without torch or mujoco, and package.xml listed
trajectory_msgs before anything used it. The static checks here read every import in src/; the
`install` test (marker `install`, run by `make test-install` in CI) builds the wheel and
installs it into a clean venv with its declared dependencies.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
# Import name -> distribution name, where they differ.
DIST = {
    "yaml": "PyYAML",
    "PIL": "pillow",
    "dm_control": "dm-control",
    "imageio_ffmpeg": "imageio-ffmpeg",
    "backports": "backports.zstd",  # only where Python < 3.14 and a zstd bag appears
}
# Imports that are optional at run time (guarded, with a clear error where needed).
# metaworld: its metadata pins mujoco 3.3.0 against dm-control's 3.17.0, so it cannot be a
# declared dependency; the Makefile installs it --no-deps and envs/metaworld.py imports it
# only for mw/ tasks, with an error saying how to install it.
OPTIONAL = {"backports", "compression", "launch", "launch_ros", "metaworld"}
# ROS packages (package.xml exec_depend; ros-* wheels in the `ros` extra).
ROS = {
    "rclpy", "std_msgs", "sensor_msgs", "trajectory_msgs", "geometry_msgs", "diagnostic_msgs",
    "lifecycle_msgs", "std_srvs", "rosgraph_msgs", "builtin_interfaces", "rcl_interfaces",
    "ament_index_python", "launch", "launch_ros", "tf2_msgs",
}  # fmt: skip


def imported_modules() -> set[str]:
    """Top-level names of every module imported anywhere under src/ (parsed, not grepped)."""
    names: set[str] = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"m3po_learning", "m3po_ros", "__future__"}


def setup_lists() -> dict[str, list[str]]:
    """LEARNING and ROS_WHEELS from setup.py, without running it."""
    tree = ast.parse((REPO / "setup.py").read_text())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in ("LEARNING", "ROS_WHEELS"):
                out[node.targets[0].id] = ast.literal_eval(node.value)
    return out


def _dist(requirement: str) -> str:
    return re.split(r"[<>=!~ \[]", requirement, maxsplit=1)[0].lower()


def test_every_third_party_import_is_declared():
    declared = {_dist(r) for r in setup_lists()["LEARNING"]}
    missing = []
    for module in sorted(imported_modules() - ROS):
        dist = DIST.get(module, module).lower().replace("_", "-")
        if dist not in declared and module not in OPTIONAL:
            missing.append(f"{module} (distribution {dist})")
    assert not missing, f"imported but not in setup.py LEARNING: {missing}"


def test_nothing_is_declared_that_the_code_does_not_import():
    imported = {DIST.get(m, m).lower().replace("_", "-") for m in imported_modules()}
    # loaded by name, not imported: torch.utils.tensorboard needs tensorboard; imageio's
    # ffmpeg plugin needs imageio-ffmpeg
    used_indirectly = {"tensorboard", "imageio-ffmpeg"}
    extra = [r for r in setup_lists()["LEARNING"] if _dist(r) not in imported | used_indirectly]
    assert not extra, f"declared in setup.py but never imported: {extra}"


def test_package_xml_lists_the_ros_packages_the_code_imports():
    root = ET.parse(REPO / "package.xml").getroot()
    depends = {e.text for e in root.findall("exec_depend")}
    used = imported_modules() & ROS
    assert used <= depends, f"imported, not in package.xml: {sorted(used - depends)}"
    ros_depends = {d for d in depends if not d.startswith("python3-")}
    assert ros_depends <= ROS and ros_depends <= used, sorted(ros_depends - used)
    wheels = {w.removeprefix("ros-").replace("-", "_") for w in setup_lists()["ROS_WHEELS"]}
    # No PyPI wheel: launch files and /tf (sim_node says so where tf2_msgs is missing).
    runtime = used - {"launch", "launch_ros", "ament_index_python", "rcl_interfaces", "tf2_msgs"}
    assert runtime <= wheels, f"no wheel in the ros extra for {sorted(runtime - wheels)}"


@pytest.mark.install
def test_wheel_installs_into_a_clean_venv_and_imports(tmp_path):
    """Build the wheel, install it with its declared dependencies, import both packages."""
    # From a copy of the tracked files: setuptools writes build/ beside setup.py, and a
    # build/ left in the checkout would feed stale modules into the next wheel.
    files = (
        subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    src = tmp_path / "src"
    for name in filter(None, files):
        if (REPO / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(dist), str(src)],
        check=True,
    )  # fmt: skip
    (wheel,) = dist.glob("m3po_ros-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    pip = [str(py), "-m", "pip", "install", "-q", "-c", str(REPO / "constraints.txt")]
    subprocess.run([*pip, "torch==2.13.0"], check=True)  # the CPU wheel first (README)
    subprocess.run([*pip, f"{wheel}[ros]"], check=True, timeout=1800)
    code = (
        "import m3po_learning, m3po_ros, torch, mujoco, rclpy; "
        "from m3po_learning.envs import make_env; "
        "from m3po_ros.controller_node import ControllerNode; "
        "import m3po_learning.gym; "
        "print(make_env('arm2/reach').spec.obs_dim)"
    )
    done = subprocess.run(
        [str(py), "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().isdigit()
