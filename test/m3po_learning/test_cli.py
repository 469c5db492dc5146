"""The real `m3po` CLI: train a few hundred steps, leave a loadable checkpoint, resume, eval."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from m3po_learning.checkpoint import load_agent

SRC = Path(__file__).resolve().parents[2] / "src"
FAST = [
    "model.preset=tiny",
    "planner.num_samples=64",
    "planner.num_elites=16",
    "planner.iterations=2",
    "planner.num_pi_trajs=8",
    "optim.batch_size=32",
    "train.seed_steps=100",
    "train.pretrain_updates=10",
    "train.segment_steps=32",
    "train.eval_episodes=1",
    "train.tensorboard=false",
    "train.utd=0.5",
]


def m3po(*args, timeout=600):
    env = dict(os.environ, PYTHONPATH=str(SRC))
    return subprocess.run(
        [sys.executable, "-m", "m3po_learning.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def test_help_documents_options():
    out = m3po("train", "--help")
    assert out.returncode == 0
    for opt in ("--config", "--out", "--resume", "--tasks", "KEY=VALUE"):
        assert opt in out.stdout
    out = m3po("--help")
    for cmd in ("train", "eval", "demo", "plot"):
        assert cmd in out.stdout


def test_train_leaves_loadable_checkpoint_then_resume_and_eval(tmp_path):
    run = tmp_path / "run"
    args = [
        "train",
        "--out",
        str(run),
        "--no-progress",
        "--tasks",
        "pendulum/swingup",
        "train.steps=192",
        "train.checkpoint_every=64",
        "train.eval_every=0",
        *FAST,
    ]
    out = m3po(*args)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "final evaluation" in out.stdout and "pendulum/swingup" in out.stdout
    agent = load_agent(run, device="cpu")
    assert agent.tasks == ["pendulum/swingup"]
    assert agent.checkpoint_meta["step"] == 192
    assert (run / "metrics.csv").read_text().count("wm/total") > 0
    assert "pendulum/swingup" in (run / "eval.csv").read_text()

    # resume: continues from step 192 instead of starting over
    out = m3po(*[a if a != "train.steps=192" else "train.steps=256" for a in args], "--resume")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "resumed from" in out.stderr
    assert load_agent(run, device="cpu").checkpoint_meta["step"] == 256
    steps = [
        int(line.split(",")[0]) for line in (run / "metrics.csv").read_text().splitlines()[1:]
    ]
    assert min(s for s in steps if s > 192) > 192 and max(steps) == 256

    res = tmp_path / "ret.json"
    out = m3po(
        "eval",
        "--checkpoint",
        str(run),
        "--episodes",
        "1",
        "--json",
        str(res),
        "--baseline",
        "zero",
        "planner.iterations=1",
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(res.read_text())
    assert set(result) == {"pendulum/swingup", "baseline"}
    assert result["baseline"]["kind"] == "zero"
    from m3po_learning.evaluation import baseline_returns

    # the same seed and episodes as the agent's evaluation: the all-zero action's return
    assert result["baseline"]["returns"] == baseline_returns(
        ["pendulum/swingup"], "zero", episodes=1, seed=10_000
    )
    header = next(ln for ln in out.stdout.splitlines() if ln.startswith("task"))
    assert header.split() == ["task", "return", "zero"]

    vids = tmp_path / "videos"
    out = m3po(
        "eval",
        "--checkpoint",
        str(run),
        "--episodes",
        "1",
        "--policy-only",
        "--video",
        str(vids),
        "--video-format",
        "gif",
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert (vids / "pendulum_swingup.gif").stat().st_size > 10_000
    assert (vids / "contact_sheet.png").stat().st_size > 1_000


URDF = """<?xml version="1.0"?>
<robot name="my_arm">
  <link name="base"><inertial><mass value="1"/><inertia ixx="0.01" iyy="0.01" izz="0.01"
    ixy="0" ixz="0" iyz="0"/></inertial></link>
  <link name="upper"><inertial><origin xyz="0.15 0 0"/><mass value="0.5"/>
    <inertia ixx="0.001" iyy="0.004" izz="0.004" ixy="0" ixz="0" iyz="0"/></inertial>
    <visual><origin xyz="0.15 0 0" rpy="0 1.5708 0"/><geometry><cylinder radius="0.02"
    length="0.3"/></geometry></visual></link>
  <link name="fore"><inertial><origin xyz="0.12 0 0"/><mass value="0.3"/>
    <inertia ixx="0.001" iyy="0.002" izz="0.002" ixy="0" ixz="0" iyz="0"/></inertial>
    <visual><origin xyz="0.12 0 0" rpy="0 1.5708 0"/><geometry><cylinder radius="0.015"
    length="0.24"/></geometry></visual></link>
  <joint name="shoulder" type="revolute"><parent link="base"/><child link="upper"/>
    <axis xyz="0 0 1"/><limit lower="-2.5" upper="2.5" velocity="6" effort="4"/></joint>
  <joint name="elbow" type="revolute"><parent link="upper"/><child link="fore"/>
    <origin xyz="0.3 0 0"/><axis xyz="0 0 1"/>
    <limit lower="-2.5" upper="2.5" velocity="8" effort="2"/></joint>
</robot>
"""


def test_bring_your_own_robot_cli(tmp_path):
    urdf = tmp_path / "my_arm.urdf"
    urdf.write_text(URDF)
    run = tmp_path / "byo"
    out = m3po(
        "train",
        "--robot",
        str(urdf),
        "--task",
        "reach",
        "--end-effector",
        "upper",
        "--gravity-compensation",
        "off",
        "--out",
        str(run),
        "--no-progress",
        "train.steps=128",
        "train.eval_every=0",
        "train.checkpoint_every=0",
        *FAST,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    agent = load_agent(run, device="cpu")  # re-registers the URDF task from the config
    assert agent.tasks == ["my_arm/reach"]
    assert agent.specs[0].joint_names == ("shoulder", "elbow")
    assert agent.checkpoint_meta["robots"][0]["entry"].endswith(
        "my_arm.urdf:reach,end_effector=upper,gravity_compensation=off"
    )
    obs = np.random.default_rng(0).normal(size=(4, agent.obs_dim)).astype(np.float32)
    before = agent.act(obs, ["my_arm/reach"] * 4, explore=False, use_planner=False).action

    # The checkpoint carries its URDF: moved to another machine (here: another directory,
    # the original URDF gone) it loads, builds the same robot and acts identically.
    moved = tmp_path / "robot_computer" / "byo"
    moved.parent.mkdir()
    os.rename(run, moved)
    urdf.unlink()
    agent = load_agent(moved, device="cpu")
    after = agent.act(obs, ["my_arm/reach"] * 4, explore=False, use_planner=False).action
    np.testing.assert_array_equal(before, after)
    from m3po_learning.envs import make_env

    env = make_env("my_arm/reach")
    assert env.observation_spec.frame_names == ("upper",)
    assert not env.model.body_gravcomp.any()  # trained with gravity acting: so simulated
    bad = tmp_path / "bad.urdf"
    bad.write_text("<robot name='x'><link name='a'/></robot>")
    out = m3po("train", "--robot", str(bad), "--out", str(tmp_path / "bad"), *FAST)
    assert out.returncode == 2 and "actuated" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--tasks", "nope/task", "train.steps=10"], "nope/task"),
        (["train", "--tasks", "dmc/hopper-jump", "train.steps=10"], "dmc/hopper-stand"),
        (["train", "--tasks", "dmc/notadomain-run", "train.steps=10"], "dmc/quadruped-walk"),
        (["train", "planner.num_samples=-3"], "planner.num_samples=-3"),
        (["train", "bogus.key=1"], "unknown config key 'bogus'"),
        (["eval", "--checkpoint", "/nonexistent/ckpt"], "does not exist"),
    ],
)
def test_bad_input_exits_with_clear_error(args, message):
    out = m3po(*args)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr


def train_briefly(run: Path, task: str, steps: int, *args: str, extra: tuple = ()):
    """`m3po train` on one task for `steps` steps with the FAST settings, no mid-run evals.

    `extra` overrides come after FAST (and win).
    """
    return m3po(
        "train",
        *args,
        "--tasks",
        task,
        "--out",
        str(run),
        "--no-progress",
        f"train.steps={steps}",
        "train.eval_every=0",
        "train.checkpoint_every=0",
        *FAST,
        *extra,
    )


def test_any_dm_control_suite_task_trains_and_evaluates(tmp_path):
    """Not only the reference tasks: any suite task by its dmc/<domain>-<task> name."""
    run = tmp_path / "acro"
    out = train_briefly(run, "dmc/acrobot-swingup", 112)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "dmc/acrobot-swingup" in out.stdout
    assert load_agent(run, device="cpu").tasks == ["dmc/acrobot-swingup"]


def test_metaworld_and_dm_control_train_together_and_eval_reports_success(tmp_path):
    """One agent on a MetaWorld and a DMC task; eval prints success and normalised scores."""
    run = tmp_path / "mw"
    out = train_briefly(run, "mw/reach-v3,dmc/cartpole-balance", 128)
    assert out.returncode == 0, out.stderr[-3000:]
    assert load_agent(run, device="cpu").tasks == ["mw/reach-v3", "dmc/cartpole-balance"]
    assert "normalised score: mw " in out.stdout  # the final evaluation's table
    names = {ln.split(",")[2] for ln in (run / "metrics.csv").read_text().splitlines()[1:]}
    assert {"eval_success/mw/reach-v3", "eval/normalised_score"} <= names
    res = tmp_path / "ret.json"
    out = m3po(
        "eval", "--checkpoint", str(run), "--episodes", "1", "--json", str(res),
        "--policy-only",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(res.read_text())
    assert set(result["success"]) == {"mw/reach-v3"}  # only MetaWorld has a success metric
    assert result["success"]["mw/reach-v3"] in (0.0, 1.0)
    header = next(ln for ln in out.stdout.splitlines() if ln.startswith("task"))
    assert header.split() == ["task", "return", "success"]
    score = next(ln for ln in out.stdout.splitlines() if ln.startswith("normalised score"))
    dmc = result["dmc/cartpole-balance"] / 1000
    mw = result["success"]["mw/reach-v3"]
    assert f"dmc {dmc:.3f} (1 tasks)" in score and f"mw {mw:.3f} (1 tasks)" in score
    assert score.endswith(f"mean {(dmc + mw) / 2:.3f}")


CONFIGS = sorted(
    p.stem for p in (Path(__file__).resolve().parents[2] / "config" / "train").glob("*.yaml")
)


@pytest.mark.parametrize("name", CONFIGS)
def test_every_training_config_trains_and_evaluates(tmp_path, name):
    """Each ablation (and the default and demo configs) runs through the real CLI."""
    cfg = Path(__file__).resolve().parents[2] / "config" / "train" / f"{name}.yaml"
    run = tmp_path / name
    out = train_briefly(
        run, "pendulum/swingup", 128, "--config", str(cfg), extra=("train.seed_steps=64",)
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "final evaluation at step 128" in out.stdout
    metrics = (run / "metrics.csv").read_text()
    actor = "pi/kl" if name not in ("ppo_baseline",) else "pi/entropy"
    assert actor in metrics
    # The checkpoint of every config loads and acts (the eval CLI itself: the test above).
    agent = load_agent(run, device="cpu")
    obs = np.zeros((1, agent.obs_dim), np.float32)
    for use_planner in (False, True):
        out = agent.act(obs, ["pendulum/swingup"], explore=False, use_planner=use_planner)
        assert out.action.shape == (1, agent.action_dim) and np.isfinite(out.action).all()
