"""The package builds with colcon as on a native ROS 2 install, and the installed copy works."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_colcon_build_installs_a_working_package(tmp_path):
    files = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    pkg = tmp_path / "src" / "m3po_ros"
    for f in files:
        dst = pkg / f
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes((REPO / f).read_bytes())
    colcon = Path(sys.executable).parent / "colcon"
    out = subprocess.run(
        [str(colcon), "build", "--event-handlers", "console_direct-"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    prefix = tmp_path / "install" / "m3po_ros"
    share = prefix / "share" / "m3po_ros"
    for rel in (
        "package.xml",
        "launch/control.launch.py",
        "launch/sim.launch.py",
        "launch/train.launch.py",
        "urdf/arm2.urdf",
        "config/train/m3po.yaml",
        "config/ros/controller.yaml",
        "config/stacks/sim.yaml",
        "config/tasks/default.yaml",
    ):
        assert (share / rel).is_file(), rel
    # registered in the ament index, so `ros2 run` / `ros2 launch` find it
    assert (
        prefix / "share" / "ament_index" / "resource_index" / "packages" / "m3po_ros"
    ).is_file()
    for exe in ("controller_node", "sim_node", "learner_node", "m3po"):
        assert os.access(prefix / "lib" / "m3po_ros" / exe, os.X_OK), exe
    # The installed copy (not this checkout) finds its URDFs and task sets in share/.
    site = next(prefix.glob("lib/python3*/site-packages"))
    code = (
        "from m3po_learning.envs import make_env, load_task_set\n"
        "from m3po_learning.envs.paths import urdf_dir\n"
        "import m3po_learning\n"
        "print(m3po_learning.__file__, urdf_dir(), len(load_task_set('default')))\n"
        "make_env('arm2/reach', seed=0).reset()\n"
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "M3PO_URDF_DIR", "M3PO_CONFIG_DIR")
    }
    run = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=dict(env, PYTHONPATH=str(site)),
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    module, urdf, n = run.stdout.split()
    assert module.startswith(str(site)) and urdf.startswith(str(share)) and int(n) == 14
