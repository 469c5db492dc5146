"""Stacks: launch files and `m3po bringup` name only nodes and parameter files that exist."""

from __future__ import annotations

import argparse
import ast
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest
import yaml
from conftest import SHIPPED_REACH as SHIPPED
from ros_harness import BRINGUP, REPO

from m3po_ros.params import check_value
from m3po_ros.stacks import (
    BUILTIN_PARAMS,
    EXECUTABLES,
    LIFECYCLE_EXECUTABLES,
    StackError,
    list_stacks,
    load_stack,
)

STACKS = ["control", "sim", "train"]


def console_scripts() -> dict[str, str]:
    text = (REPO / "setup.py").read_text()
    return dict(re.findall(r'"(\w+) = ([\w.]+:\w+)"', text))


def test_stacks_exist_and_resolve():
    assert set(STACKS) <= set(list_stacks())
    for name in STACKS:
        stack = load_stack(name)
        nodes = stack.resolve()
        assert nodes, name
        assert {"namespace", "use_sim_time"} <= set(stack.defaults()), name
        if name != "train":
            assert {"checkpoint", "task", "rate"} <= set(stack.defaults()), name


@pytest.mark.parametrize("name", STACKS)
def test_every_named_node_and_parameter_file_exists(name):
    scripts = console_scripts()
    stack = load_stack(name)
    for node in stack.resolve({"namespace": "ns"}):
        assert node.namespace.startswith("/ns"), node
        module, cls, params_cls = EXECUTABLES[node.executable]
        # The executable is installed by setup.py and its module has main() and the class.
        assert scripts.get(node.executable) == f"{module}:main", node.executable
        mod = __import__(module, fromlist=["main"])
        assert callable(mod.main) and node.node_class is getattr(mod, cls)
        for f in node.parameter_files:
            assert f.is_file(), f
            data = yaml.safe_load(f.read_text())
            params = data["/**"]["ros__parameters"]
            for key, value in params.items():
                if key in BUILTIN_PARAMS:
                    continue
                check_value(params_cls, key, value)  # declared and in range
        for key, value in node.parameters.items():
            if key not in BUILTIN_PARAMS:
                check_value(params_cls, key, value)


def test_bad_stack_arguments_refused():
    with pytest.raises(StackError, match="unknown arguments"):
        load_stack("sim").resolve({"nope": "1"})
    with pytest.raises(StackError, match="'control_rate_hz'='fast'"):
        load_stack("sim").resolve({"rate": "fast"})


class _Recorder:
    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


def _fake_launch_modules(share: Path) -> dict[str, types.ModuleType]:
    """Just enough of launch / launch_ros / ament_index to run the launch files here."""
    mods = {}
    for name, attrs in {
        "ament_index_python": {},
        "ament_index_python.packages": {"get_package_share_directory": lambda p: str(share)},
        "launch": {"LaunchDescription": lambda actions: list(actions)},
        "launch.actions": {
            "DeclareLaunchArgument": _Recorder,
            "ExecuteProcess": type("ExecuteProcess", (_Recorder,), {}),
        },
        "launch.substitutions": {"LaunchConfiguration": _Recorder, "TextSubstitution": _Recorder},
        "launch_ros": {},
        "launch_ros.actions": {
            "Node": type("Node", (_Recorder,), {}),
            "LifecycleNode": type("LifecycleNode", (_Recorder,), {}),
            "PushRosNamespace": _Recorder,
        },
        "launch_ros.parameter_descriptions": {"ParameterValue": _Recorder},
    }.items():
        mod = types.ModuleType(name)
        mod.__dict__.update(attrs)
        mods[name] = mod
    return mods


@pytest.mark.parametrize("name", STACKS)
def test_launch_files_start_the_stack_nodes(name, monkeypatch):
    path = REPO / "launch" / f"{name}.launch.py"
    tree = ast.parse(path.read_text())
    doc = ast.get_docstring(tree)
    stack = load_stack(name)
    for arg in stack.arguments:  # every argument is documented in the launch file
        assert arg.name in doc, (name, arg.name)
    for mod_name, mod in _fake_launch_modules(REPO).items():
        monkeypatch.setitem(sys.modules, mod_name, mod)
    spec = {}
    exec(compile(path.read_text(), str(path), "exec"), spec)  # noqa: S102 - our launch file
    actions = spec["generate_launch_description"]()
    declared = {a.args[0] for a in actions if type(a).__name__ == "_Recorder" and a.args}
    assert {a.name for a in stack.arguments} <= declared
    nodes = [a for a in actions if type(a).__name__ in ("Node", "LifecycleNode")]
    assert [(n.kwargs["executable"], n.kwargs["name"]) for n in nodes] == [
        (e.executable, e.name) for e in stack.nodes
    ]
    for node, entry in zip(nodes, stack.nodes, strict=True):
        files = [p for p in node.kwargs["parameters"] if isinstance(p, str)]
        assert files == [str(REPO / "config" / f) for f in entry.parameters]
        assert all(Path(f).is_file() for f in files)
        assert [src for src, _ in node.kwargs["remappings"]] == [s for s, _ in entry.remap]
        overrides = node.kwargs["parameters"][-1]
        params_cls = EXECUTABLES[entry.executable][2]
        for key, value in overrides.items():
            kind = BUILTIN_PARAMS.get(key) or type(params_cls.__dataclass_fields__[key].default)
            assert value.kwargs["value_type"] is kind
    # Lifecycle nodes are driven from the launch side: one autostart helper per node.
    drivers = [a for a in actions if type(a).__name__ == "ExecuteProcess"]
    lifecycle = [e for e in stack.nodes if e.executable in LIFECYCLE_EXECUTABLES]
    assert lifecycle and len(drivers) == len(lifecycle)
    for driver, entry in zip(drivers, lifecycle, strict=True):
        cmd = driver.kwargs["cmd"]
        assert cmd[0] == sys.executable and cmd[1:3] == ["-m", "m3po_ros.autostart"]
        assert cmd[-1] == f"--node={entry.namespace}/{entry.name}"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    return env


def test_bringup_parser_does_not_import_rclpy():
    code = (
        "import argparse, sys; from m3po_ros import cli_bringup; "
        "cli_bringup.add_parser(argparse.ArgumentParser().add_subparsers()); "
        "print('rclpy' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=_env(), capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False"]


def run_bringup(args: list[str], timeout: float) -> str:
    """`m3po bringup ARGS` in a subprocess; its output, after checking it exited 0."""
    out = subprocess.run(
        [sys.executable, "-c", BRINGUP, "bringup", *args],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    return text


def test_bringup_sim_runs_closed_loop_with_the_stack_files(random_checkpoint):
    args = [
        "sim",
        "--checkpoint",
        str(random_checkpoint),
        "--duration",
        "8.0",  # start-up (~1 s) plus one 3 s arm2/reach episode, with margin for a busy CPU
        "--arg",
        "randomize=false",
        "--namespace",
        "robot",
    ]
    text = run_bringup(args, timeout=90)
    assert "2 nodes (/robot/sim, /robot/controller)" in text
    assert "configured: checkpoint" in text and "50.0 Hz" in text  # from the parameter file
    m = re.search(r"/robot/sim arm2/reach: (\d+) episodes over ROS", text)
    assert m and int(m.group(1)) >= 1, text
    # why over-ROS and in-process returns differ: the controller's timing, the same budget
    m = re.search(r"controller: (\d+) ticks, (\d+) missed .* planner ([\d.]+) iterations", text)
    assert m and int(m.group(1)) > 100, text
    m = re.search(r"same checkpoint in-process .* (\d+) episodes: (-?[\d.]+); over ROS", text)
    assert m and int(m.group(1)) >= 1, text
    assert "never retrieved" not in text and "Traceback" not in text, text  # clean shutdown
    assert "tick thread runs SCHED_FIFO priority 50" in text or "not permitted" in text


def test_bringup_train_stops_cleanly_mid_training_and_keeps_a_checkpoint(tmp_path):
    """The learner is still training when the stack stops: it stops within seconds and saves.

    The process exits 0 (a daemon thread left inside torch aborted it once).
    """
    train = (
        "model.preset=tiny train.steps=100000 train.seed_steps=100 train.eval_every=0 "
        "train.segment_steps=32 train.checkpoint_every=100000 train.buffer_size=5000 "
        "optim.batch_size=32 planner.num_samples=32 planner.num_pi_trajs=8 "
        "planner.num_elites=8"
    )
    args = ["train", "--duration", "12", "--arg", f"overrides={train}"]
    args += ["--arg", f"out_dir={tmp_path / 'run'}"]
    # A learner that ignored the stop would run to run_bringup's timeout and fail it; the
    # stop itself is reported by the learner ("did not stop" when it missed its deadline).
    text = run_bringup(args, timeout=120)
    assert "terminate called" not in text and "did not stop" not in text, text
    saved = sorted((tmp_path / "run" / "checkpoints").glob("step_*"))
    assert saved and int(saved[-1].name.split("_")[1]) >= 100, text


def test_bringup_argparse_refuses_unknown_stack_argument():
    from m3po_ros import cli_bringup

    p = argparse.ArgumentParser()
    cli_bringup.add_parser(p.add_subparsers())
    a = p.parse_args(["bringup", "train", "--checkpoint", "x"])
    with pytest.raises(ValueError, match="no 'checkpoint' argument"):
        cli_bringup.stack_arguments(a, set(load_stack("train").defaults()))


def test_bringup_exits_non_zero_when_the_controller_cannot_configure(tmp_path):
    """No checkpoint, or a task the checkpoint lacks: exit 2 naming the node, not exit 0."""
    for args, reason in (
        (["control", "--duration", "5"], "parameter 'checkpoint' is empty"),
        (
            ["control", "--checkpoint", str(SHIPPED), "--task", "arm7/reach", "--duration", "5"],
            "arm7/reach",
        ),
    ):
        out = subprocess.run(
            [sys.executable, "-c", BRINGUP, "bringup", *args],
            env=_env(),
            capture_output=True,
            text=True,
            timeout=90,
        )
        text = out.stdout + out.stderr
        assert out.returncode == 2, text
        assert "/controller failed to configure or activate" in text, text
        assert reason in text, text


BYO_ARM = """<?xml version="1.0"?>
<robot name="byo_arm">
  <link name="base"><inertial><mass value="1"/><inertia ixx="0.01" iyy="0.01" izz="0.01"
    ixy="0" ixz="0" iyz="0"/></inertial></link>
  <link name="upper"><inertial><origin xyz="0.15 0 0"/><mass value="0.5"/>
    <inertia ixx="0.001" iyy="0.004" izz="0.004" ixy="0" ixz="0" iyz="0"/></inertial></link>
  <link name="fore"><inertial><origin xyz="0.12 0 0"/><mass value="0.3"/>
    <inertia ixx="0.001" iyy="0.002" izz="0.002" ixy="0" ixz="0" iyz="0"/></inertial></link>
  <joint name="shoulder" type="revolute"><parent link="base"/><child link="upper"/>
    <axis xyz="0 1 0"/><limit lower="-2.5" upper="2.5" velocity="3" effort="6"/></joint>
  <joint name="elbow" type="revolute"><parent link="upper"/><child link="fore"/>
    <origin xyz="0.3 0 0"/><axis xyz="0 1 0"/>
    <limit lower="-2.5" upper="2.5" velocity="3" effort="3"/></joint>
</robot>
"""


def test_bringup_sim_of_a_users_robot_from_the_checkpoint_alone(tmp_path):
    """A checkpoint of `m3po train --robot` without its URDF runs over ROS.

    The sim registers the robot from the checkpoint's copy; the controller adds gravity
    torques (trained compensated) to a sim robot whose driver does not.
    """
    import torch

    from m3po_learning.agent import M3POAgent
    from m3po_learning.checkpoint import save_checkpoint
    from m3po_learning.config import load_config
    from m3po_learning.envs import make_env
    from m3po_learning.envs.registry import register_robots, robot_entry

    urdf = tmp_path / "byo_arm.urdf"
    urdf.write_text(BYO_ARM)
    entry = robot_entry(urdf, "reach")
    (task,) = register_robots([entry])
    cfg = load_config(None, ["model.preset=tiny", "train.tasks=[]", f"train.robots=[{entry}]",
                             "planner.num_samples=32", "planner.num_elites=8"])  # fmt: skip
    torch.manual_seed(0)
    ck = save_checkpoint(
        tmp_path / "ck", M3POAgent(cfg, [make_env(task).spec]), include_optimizer=False
    )
    urdf.unlink()
    text = run_bringup(
        ["sim", "--checkpoint", str(ck), "--task", task, "--duration", "8",
         "--arg", "randomize=false", "--no-compare"],
        timeout=90,
    )  # fmt: skip
    assert f"robots of {ck}: byo_arm/reach" in text, text
    assert "gravity compensation: added by this node" in text, text
    m = re.search(r"/sim byo_arm/reach: (\d+) episodes over ROS", text)
    assert m and int(m.group(1)) >= 1, text
    assert "Traceback" not in text, text
