r"""Bring-your-own robots learned as the docs describe, against random and zero actions.

A 3-DoF spatial arm's reach and an under-powered pendulum's swing-up, URDFs written here.

Per robot: `m3po train --robot URDF --task KIND` (in-process, the same path), then over
`--episodes` evaluation episodes: the return, and the task's own measure at the episode's
end: the reach's distance from the goal (m), the swing-up's fraction of episodes ending
upright (tip above 90% of its reach). Each result is written as soon as it exists.

    PYTHONPATH=src python bench/byo_robots.py --steps 3000 --seed 1
Writes bench/results/byo_robots.json (--out).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_io import cpu_name, save_result  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

ARM3 = """<?xml version="1.0"?>
<robot name="arm3">
  <link name="base"><inertial><mass value="2"/><inertia ixx="0.01" iyy="0.01" izz="0.01"
    ixy="0" ixz="0" iyz="0"/></inertial></link>
  <link name="l1"><inertial><origin xyz="0 0 0.05"/><mass value="0.5"/><inertia ixx="0.002"
    iyy="0.002" izz="0.001" ixy="0" ixz="0" iyz="0"/></inertial></link>
  <link name="l2"><inertial><origin xyz="0.12 0 0"/><mass value="0.4"/><inertia ixx="0.0005"
    iyy="0.002" izz="0.002" ixy="0" ixz="0" iyz="0"/></inertial></link>
  <link name="l3"><inertial><origin xyz="0.1 0 0"/><mass value="0.3"/><inertia ixx="0.0003"
    iyy="0.001" izz="0.001" ixy="0" ixz="0" iyz="0"/></inertial></link>
  <link name="tool"/>
  <joint name="yaw" type="revolute"><parent link="base"/><child link="l1"/>
    <origin xyz="0 0 0.1"/><axis xyz="0 0 1"/>
    <limit lower="-2.5" upper="2.5" effort="6" velocity="2.5"/></joint>
  <joint name="shoulder" type="revolute"><parent link="l1"/><child link="l2"/>
    <origin xyz="0 0 0.1"/><axis xyz="0 -1 0"/>
    <limit lower="-1.5" upper="1.5" effort="6" velocity="2.0"/></joint>
  <joint name="elbow" type="revolute"><parent link="l2"/><child link="l3"/>
    <origin xyz="0.25 0 0"/><axis xyz="0 -1 0"/>
    <limit lower="-2.0" upper="2.0" effort="3" velocity="2.5"/></joint>
  <joint name="tool_fixed" type="fixed"><parent link="l3"/><child link="tool"/>
    <origin xyz="0.2 0 0"/></joint>
</robot>
"""

PENDULUM = """<?xml version="1.0"?>
<robot name="weak_pendulum">
  <link name="base"><inertial><mass value="2"/><inertia ixx="0.01" iyy="0.01" izz="0.01"
    ixy="0" ixz="0" iyz="0"/></inertial></link>
  <link name="pole"><inertial><origin xyz="0 0 -0.5"/><mass value="1"/>
    <inertia ixx="0.02" iyy="0.02" izz="0.001" ixy="0" ixz="0" iyz="0"/></inertial></link>
  <link name="tip"/>
  <joint name="pivot" type="continuous"><parent link="base"/><child link="pole"/>
    <origin xyz="0 0 1.5"/><axis xyz="0 1 0"/><limit effort="2.0" velocity="12"/>
    <dynamics damping="0.01"/></joint>
  <joint name="tip_fixed" type="fixed"><parent link="pole"/><child link="tip"/>
    <origin xyz="0 0 -1.0"/></joint>
</robot>
"""  # holding torque at horizontal: 1 kg x 9.81 x 0.5 m = 4.9 N m > the 2 N m limit

ROBOTS = {"arm3/reach": (ARM3, "reach"), "weak_pendulum/swingup": (PENDULUM, "swingup")}


def measure(env, act, episodes: int, seed: int) -> dict:
    """Return and the task's end-of-episode measure over `episodes` episodes."""
    returns, ends = [], []
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        total, done = 0.0, False
        while not done:
            obs, r, term, trunc, _ = env.step(act(obs))
            total += r
            done = term or trunc
        returns.append(total)
        if hasattr(env.task, "upright"):
            ends.append(float(env.task.upright(env.robot) > 0.9))
        else:
            tip = env.robot.data.xpos[env.robot.frame_body_ids[env.task.frame]]
            ends.append(float(np.linalg.norm(tip - env.task_inputs()["goal"])))
    key = "upright_at_end" if hasattr(env.task, "upright") else "final_distance_m"
    return {"return": float(np.mean(returns)), key: float(np.mean(ends))}


def run_robot(task: str, urdf: Path, kind: str, args) -> dict:
    """Train one robot's task; the agent, random and zero actions measured alike."""
    from m3po_learning.config import load_config
    from m3po_learning.envs import make_env
    from m3po_learning.envs.registry import robot_entry
    from m3po_learning.training.online import build_trainer

    cfg = load_config(
        ROOT / "config" / "train" / f"{args.config}.yaml",
        [
            "train.tasks=[]",
            f"train.robots=[{robot_entry(urdf, kind)}]",
            f"train.steps={args.steps}",
            f"train.seed_steps={args.seed_steps}",
            f"train.seed={args.seed}",
            "train.eval_every=0",
            "train.final_eval=false",
            f"train.checkpoint_every={args.steps}",
            "train.tensorboard=false",
            f"train.num_threads={args.threads}",
            *args.overrides,
        ],
    )
    t0 = time.time()
    trainer = build_trainer(cfg, Path(args.runs) / task.replace("/", "_"), progress=False)
    trainer.train()
    wall = time.time() - t0
    agent = trainer.agent
    env = make_env(task, seed=10_000)
    rng = np.random.default_rng(0)
    dim = env.spec.action_dim

    def policy(obs):
        out = agent.act(agent.pad_obs(obs, task)[None], [task], explore=False)
        return out.action[0, :dim]

    return {
        "train_wall_s": round(wall, 1),
        "agent": measure(env, policy, args.episodes, 10_000),
        "random": measure(env, lambda o: rng.uniform(-1, 1, dim), args.episodes, 10_000),
        "zero": measure(env, lambda o: np.zeros(dim), args.episodes, 10_000),
    }


def main(argv: list[str] | None = None) -> int:
    """Train and measure every robot; print and save the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--robots", default=",".join(ROBOTS))
    ap.add_argument("--config", default="demo", help="config/train/<name>.yaml")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--seed-steps", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", default="runs/byo_robots")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "byo_robots.json"))
    ap.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides")
    args = ap.parse_args(argv)
    result: dict = {"machine": cpu_name(), "steps": args.steps, "seed": args.seed,
                    "overrides": args.overrides, "robots": {}}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for task in args.robots.split(","):
            text, kind = ROBOTS[task]
            urdf = Path(tmp) / f"{task.split('/')[0]}.urdf"
            urdf.write_text(text)
            result["robots"][task] = run_robot(task, urdf, kind, args)
            save_result(result, args.out, "byo_robots.py", argv, echo=False)
    save_result(result, args.out, "byo_robots.py", argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
